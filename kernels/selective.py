"""Selective scan: the recurrence of a Mamba layer (Gu & Dao 2023), forward and backward.

With time-major step sizes ``Δ [T, Bt, E]``, inputs ``u [T, Bt, E]``, input-dependent
``B_t, C_t [T, Bt, N]``, a real diagonal ``A [E, N]`` and a state ``h [Bt, E, N]``::

    h[t] = exp(Δ[t] A) ⊙ h[t-1] + (Δ[t] u[t]) B[t]          per sequence b and channel e
    y[t] = h[t] · C[t]                                     (sums over the N states)

returning ``y [T, Bt, E]`` and the final state ``h[T-1]``. It is
:func:`~neurosim.kernels.scan.linear_scan` with ``a = exp(Δ A)`` and ``b = Δ u B``
(``[T, Bt, E, N]`` each) contracted with ``C`` — which is exactly the reference
(:func:`selective_scan_reference`, the specification). The Numba kernels
(``selective_numba.py``) compute the same without ever forming a ``[T, Bt, E, N]``
tensor, forward or backward (the saved tensors are the inputs). On CUDA tensors the
reference runs with the Triton ``linear_scan`` (no fused GPU selective kernel yet).

Backends: ``"auto"`` (Numba on CPU, the reference with Triton's scan on CUDA), ``"numba"``,
``"triton"`` (reference + Triton scan), ``"reference"`` (reference + the torch-loop scan),
``"torch"`` (reference + ``linear_scan``'s explicit torch backward).
"""

from __future__ import annotations

import importlib

import torch

from .scan import BACKENDS, linear_scan

REAL = (torch.float32, torch.float64)


def selective_scan_reference(delta, A, u, B, C, h0=None, *, scan_backend: str = "reference"):
    """The specification: ``(y [T, Bt, E], h_last [Bt, E, N])`` through
    :func:`~neurosim.kernels.scan.linear_scan` on materialised ``[T, Bt, E, N]`` decays and drives;
    differentiable by autograd."""
    decay = torch.exp(delta.unsqueeze(-1) * A)                        # [T, Bt, E, N]
    drive = (delta * u).unsqueeze(-1) * B.unsqueeze(-2)               # [T, Bt, E, N]
    if h0 is None:
        h0 = delta.new_zeros(delta.shape[1:] + A.shape[1:])
    h = linear_scan(decay, drive, h0, backend=scan_backend)
    y = (h @ C.unsqueeze(-1)).squeeze(-1)
    return y, (h[-1] if h.shape[0] else h0)


class _FusedSelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, delta, A, u, B, C, h0, kernels):
        y, h_last = kernels.selective_scan_forward(delta, A, u, B, C, h0)
        ctx.kernels = kernels
        ctx.save_for_backward(delta, A, u, B, C, h0)
        return y, h_last

    @staticmethod
    def backward(ctx, grad_y, grad_h_last):
        delta, A, u, B, C, h0 = ctx.saved_tensors
        grad_y = torch.zeros_like(delta) if grad_y is None else grad_y.contiguous()
        grad_h_last = torch.zeros_like(h0) if grad_h_last is None else grad_h_last.contiguous()
        grads = ctx.kernels.selective_scan_backward(grad_y, grad_h_last, delta, A, u, B, C, h0)
        return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad)) + (None,)


def check_selective_scan_inputs(delta, A, u, B, C, h0) -> None:
    """Raise a clear error unless the arguments are valid :func:`selective_scan` inputs."""
    for name, t in (("delta", delta), ("A", A), ("u", u), ("B", B), ("C", C), ("h0", h0)):
        if t is None and name == "h0":
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in REAL:
            raise TypeError(f"{name} must be float32 or float64, got {t.dtype}")
        if t.dtype != delta.dtype or t.device != delta.device:
            raise TypeError(f"{name} must have delta's dtype and device ({delta.dtype}, {delta.device}), "
                            f"got {t.dtype} on {t.device}")
    if delta.dim() != 3:
        raise ValueError(f"delta must be [T, batch, E], got shape {tuple(delta.shape)}")
    n_steps, batch, channels = delta.shape
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f"A must be [E={channels}, N], got shape {tuple(A.shape)}")
    n_state = A.shape[1]
    expected = {"u": (n_steps, batch, channels), "B": (n_steps, batch, n_state), "C": (n_steps, batch, n_state),
                "h0": (batch, channels, n_state)}
    for name, t in (("u", u), ("B", B), ("C", C), ("h0", h0)):
        if t is not None and tuple(t.shape) != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]}, got {tuple(t.shape)}")


def selective_scan(delta: torch.Tensor, A: torch.Tensor, u: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   h0: torch.Tensor | None = None, *, backend: str = "auto"):
    """The selective scan ``h[t] = exp(Δ[t] A) h[t-1] + Δ[t] u[t] B[t]``, ``y[t] = h[t]·C[t]``.

    Parameters
    ----------
    delta : step sizes ``Δ [T, Bt, E]`` (positive in a Mamba layer; not checked here).
    A : ``[E, N]`` (negative for a decaying state).
    u : inputs ``[T, Bt, E]``.
    B, C : input and output projections per step, ``[T, Bt, N]``.
    h0 : state before the first step, ``[Bt, E, N]``; zeros when omitted.
    backend : see the module docstring.

    All float32 or all float64, on one device. Returns ``(y [T, Bt, E], h_last [Bt, E, N])``,
    differentiable in every input.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    check_selective_scan_inputs(delta, A, u, B, C, h0)
    if backend == "auto":
        backend = "triton" if delta.device.type == "cuda" else "numba"
    if backend != "numba":
        return selective_scan_reference(delta, A, u, B, C, h0, scan_backend=backend)
    if delta.device.type != "cpu":
        raise ValueError(f"backend 'numba' runs on CPU tensors, got a tensor on {delta.device}")
    if h0 is None:
        h0 = delta.new_zeros(delta.shape[1:] + A.shape[1:])
    kernels = importlib.import_module("neurosim.kernels.selective_numba")
    args = (t.contiguous() for t in (delta, A, u, B, C, h0))
    return _FusedSelectiveScan.apply(*args, kernels)
