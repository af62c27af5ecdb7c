"""Linear-recurrence scan, the specification: ``h[t] = a[t] * h[t-1] + b[t]``.

This is the object both a leaky spiking membrane (``v[t] = beta * v[t-1] + x[t]``, between
resets) and a diagonal state-space model compute. The Numba (``scan_numba.py``) and Triton
(``scan_triton.py``) kernels implement the same two functions with the same arguments, shapes
and return values; ``neurosim.kernels.scan.linear_scan`` is the differentiable entry point.

Layout: time-major and flattened, ``b, h: [T, C]`` (C = every non-time axis of the caller's
tensors, flattened), ``h0: [C]``; ``a`` is ``[T, C]``, or ``[C]`` when it is the same at every
step (a time-invariant diagonal: then ``dL/da`` is summed over time, ``[C]``, and no ``[T, C]``
copy of ``a`` or of its gradient is ever made). Real (float32/float64) or complex
(complex64/complex128), all of one dtype.

Gradients follow torch's convention for complex numbers (the gradient of a real loss with
respect to ``z`` is ``dL/d(conj z)``, so ``d(a * h)/dh`` passes ``grad * conj(a)`` back).
With the adjoint ``lam[t] = dL/dh[t]`` (including what flows back through later steps)::

    lam[T-1] = g[T-1]
    lam[t]   = g[t] + conj(a[t+1]) * lam[t+1]      (a reverse scan of the same kind)
    dL/db[t] = lam[t]
    dL/da[t] = lam[t] * conj(h[t-1])                (h[-1] = h0)
    dL/dh0   = conj(a[0]) * lam[0]

For real tensors ``conj`` is the identity.
"""

from __future__ import annotations

import torch


def scan_forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """``h [T, C]`` with ``h[t] = a[t] * h[t-1] + b[t]`` and ``h[-1] = h0 [C]``.

    A plain torch loop over t; differentiable by autograd (this is what ``gradcheck`` runs on).
    """
    shared = a.dim() == b.dim() - 1  # no time axis: the same coefficients at every step
    h = h0
    out = []
    for t in range(b.shape[0]):
        h = (a if shared else a[t]) * h + b[t]
        out.append(h)
    if not out:
        return b.new_empty(b.shape)
    return torch.stack(out)


def scan_backward(grad_h: torch.Tensor, a: torch.Tensor, h: torch.Tensor, h0: torch.Tensor):
    """``(grad_a, grad_b, grad_h0)`` of :func:`scan_forward` given ``grad_h = dL/dh [T, C]``
    and the forward output ``h`` (see the module docstring for the equations)."""
    n_steps = grad_h.shape[0]
    grad_b = torch.empty_like(grad_h)
    lam = torch.zeros_like(h0)
    shared = a.dim() == grad_h.dim() - 1
    for t in range(n_steps - 1, -1, -1):
        if t + 1 < n_steps:
            lam = grad_h[t] + (a if shared else a[t + 1]).conj() * lam
        else:
            lam = grad_h[t].clone()
        grad_b[t] = lam
    h_prev = torch.cat([h0.unsqueeze(0), h[:-1]]) if n_steps else h
    grad_a = grad_b * h_prev.conj()
    if shared:
        grad_a = grad_a.sum(0)
    grad_h0 = (a if shared else a[0]).conj() * grad_b[0] if n_steps else torch.zeros_like(h0)
    return grad_a, grad_b, grad_h0


def gradient_buffers(grad_h: torch.Tensor, a: torch.Tensor):
    """``(grad_a, grad_b)`` for a fused backward kernel to fill: ``grad_a`` zeroed when ``a`` is a
    time-invariant row ``[C]`` (the kernel sums into it), uninitialised ``[T, C]`` otherwise."""
    shared = a.dim() == grad_h.dim() - 1
    return (torch.zeros_like(a) if shared else torch.empty_like(a)), torch.empty_like(grad_h)


def h0_gradient(a: torch.Tensor, grad_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """``dL/dh0 = conj(a[0]) dL/dh[0]`` (``grad_b[0]`` is the adjoint of ``h[0]``); zeros for T = 0."""
    if not grad_b.shape[0]:
        return torch.zeros_like(h0)
    shared = a.dim() == grad_b.dim() - 1
    return (a if shared else a[0]).conj() * grad_b[0]
