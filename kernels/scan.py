"""``linear_scan``: the differentiable linear-recurrence scan ``h[t] = a[t] * h[t-1] + b[t]``.

One kernel call forward and one backward whatever T is, on the chosen backend:

- ``"numba"``: Numba CPU kernels (``scan_numba.py``; the default for CPU tensors),
- ``"triton"``: chunked parallel associative scan (``scan_triton.py``; the default for CUDA
  tensors; CPU tensors under ``TRITON_INTERPRET=1``),
- ``"reference"``: the torch loop of ``scan_reference.py`` differentiated by autograd (the
  specification; slow for long T),
- ``"torch"``: the reference forward and its explicit backward (tests of the plumbing).

The fused backends save ``a``, ``h`` and ``h0`` and nothing else for the backward pass; a
time-invariant ``a`` (no time axis, or a time axis of length 1) is passed to the kernels as one
row, so it is neither copied out over T nor given a ``[T, ...]`` gradient.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from . import scan_reference

BACKENDS = ("auto", "numba", "triton", "reference", "torch")
DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _kernels(backend: str, device: torch.device):
    if backend == "torch":
        return scan_reference
    if backend == "numba":
        if device.type != "cpu":
            raise ValueError(f"backend 'numba' runs on CPU tensors, got a tensor on {device}")
        return importlib.import_module("neurosim.kernels.scan_numba")
    module = importlib.import_module("neurosim.kernels.scan_triton")
    module.check_device(device)
    return module


@dataclass(frozen=True)
class _Config:
    kernels: object


class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0, config: _Config):
        h = config.kernels.scan_forward(a, b, h0)
        ctx.config = config
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        grad_a, grad_b, grad_h0 = ctx.config.kernels.scan_backward(grad_h.contiguous(), a, h, h0)
        return (grad_a if ctx.needs_input_grad[0] else None, grad_b if ctx.needs_input_grad[1] else None,
                grad_h0 if ctx.needs_input_grad[2] else None, None)


def check_scan_inputs(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> None:
    """Raise a clear error unless ``a``, ``b``, ``h0`` are valid :func:`linear_scan` inputs."""
    for name, t in (("a", a), ("b", b), ("h0", h0)):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in DTYPES:
            raise TypeError(f"{name} must be float32, float64, complex64 or complex128, got {t.dtype}")
    if b.dim() < 1:
        raise ValueError(f"b must be time-major [T, ...] with at least one axis, got shape {tuple(b.shape)}")
    if a.dtype != b.dtype or a.device != b.device:
        raise TypeError(f"a must have b's dtype and device ({b.dtype}, {b.device}), got {a.dtype} on {a.device}")
    try:
        torch.broadcast_shapes(a.shape, b.shape)
        ok = torch.broadcast_shapes(a.shape, b.shape) == b.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"a must have b's shape {tuple(b.shape)} or broadcast to it (e.g. [{b.shape[-1]}] for "
                         f"a time-invariant diagonal), got shape {tuple(a.shape)}")
    if h0 is not None:
        if h0.dtype != b.dtype or h0.device != b.device:
            raise TypeError(f"h0 must have b's dtype and device ({b.dtype}, {b.device}), "
                            f"got {h0.dtype} on {h0.device}")
        if tuple(h0.shape) != tuple(b.shape[1:]):
            raise ValueError(f"h0 must have shape {tuple(b.shape[1:])} (b's shape without time), "
                             f"got {tuple(h0.shape)}")


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, *,
                backend: str = "auto") -> torch.Tensor:
    """All states of the diagonal linear recurrence ``h[t] = a[t] * h[t-1] + b[t]``.

    Parameters
    ----------
    a : decay / transition per step, ``[T, *shape]`` like ``b`` or any shape that broadcasts to
        it (``[D]`` for a time-invariant diagonal, ``[T, 1, D]`` shared over a batch axis).
        Real or complex. No stability check here (the layers promise and check it).
    b : input per step, ``[T, *shape]`` (time-major), float32/float64/complex64/complex128.
    h0 : state before the first step, ``[*shape]``; zeros when omitted.
    backend : ``"auto"`` (Triton on CUDA, Numba on CPU), ``"numba"``, ``"triton"``,
        ``"reference"`` or ``"torch"`` (see the module docstring).

    Returns
    -------
    h : ``[T, *shape]``, ``b``'s dtype and device; differentiable in ``a``, ``b`` and ``h0``.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(4, 1, 2)
    >>> linear_scan(torch.tensor([0.5, 1.0]), x)[:, 0]
    tensor([[1.0000, 1.0000],
            [1.5000, 2.0000],
            [1.7500, 3.0000],
            [1.8750, 4.0000]])
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    check_scan_inputs(a, b, h0)
    if h0 is None:
        h0 = b.new_zeros(b.shape[1:])
    if backend == "auto":
        backend = "triton" if b.device.type == "cuda" else "numba"
    if backend == "reference":
        return scan_reference.scan_forward(a.expand_as(b), b, h0)
    shape = b.shape
    n_steps = shape[0]
    flat = (n_steps, shape[1:].numel())
    if a.dim() < b.dim() or a.shape[0] == 1:
        # the same coefficients at every step: the kernels take one row [C], so neither a nor
        # its gradient is ever copied out over time (autograd sums the batch broadcast, if any)
        per_step = a.reshape(a.shape[1:]) if a.dim() == b.dim() else a
        a_flat = per_step.expand(shape[1:]).contiguous().reshape(-1)
    else:
        a_flat = a.expand(shape).contiguous().reshape(flat)
    h = _Scan.apply(a_flat, b.contiguous().reshape(flat), h0.contiguous().reshape(-1),
                    _Config(_kernels(backend, b.device)))
    return h.reshape(shape)
