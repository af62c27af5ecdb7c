"""Numba CPU kernels of the linear-recurrence scan (contract: ``scan_reference.py``).

``scan_forward(a, b, h0)`` and ``scan_backward(grad_h, a, h, h0)`` take and return torch CPU
tensors ``[T, C]`` (``h0 [C]``), float32/float64/complex64/complex128, and hand zero-copy numpy
views to compiled code; outputs are allocated once and written in place.

The recurrence is sequential in t and independent across the C channels, so the channels are
cut into contiguous blocks that ``prange`` hands to threads; each block runs all T steps with
its state in a block-sized buffer (no synchronisation between threads). The innermost loop
walks a block's channels at one step, contiguous in memory and branch-free, so LLVM
vectorises it. The backward pass is the reverse scan ``lam[t] = g[t] + conj(a[t+1]) lam[t+1]``
fused with ``grad_a[t] = lam[t] conj(h[t-1])`` in the same sweep, so it reads ``a``, ``h`` and
``g`` once and writes ``grad_a`` and ``grad_b`` once. A time-invariant ``a [C]`` is read as a
``[1, C]`` row at every step and its gradient summed over time in the same sweep.

Compile time: cached on disk (``cache=True``); one variant per dtype, compiled on first use
(about 1-2 s per pass and dtype on this CPU; later processes load the cache).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from . import scan_reference

__all__ = ["scan_forward", "scan_backward"]

_pjit = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")


def _block_size(n_channels: int) -> int:
    """Channels per block: a few blocks per thread for load balance, at least 64 (a block
    shorter than a few SIMD vectors wastes the vector loop), a multiple of 16."""
    per = -(-n_channels // (4 * numba.get_num_threads()))
    return max(64, -(-per // 16) * 16)


@_pjit
def _forward(a, b, h0, h, block):
    """``a`` is ``[T, C]``, or ``[1, C]`` for a time-invariant diagonal (row 0 every step)."""
    n_steps, n_channels = b.shape
    shared = a.shape[0] == 1
    for k in numba.prange((n_channels + block - 1) // block):
        lo = k * block
        hi = min(lo + block, n_channels)
        state = h0[lo:hi].copy()
        for t in range(n_steps):
            at = a[0 if shared else t, lo:hi]
            bt = b[t, lo:hi]
            out = h[t, lo:hi]
            for c in range(hi - lo):
                state[c] = at[c] * state[c] + bt[c]
                out[c] = state[c]


@_pjit
def _backward(g, a, h, h0, grad_a, grad_b, block):
    """``a`` and ``grad_a`` are ``[T, C]``, or ``[1, C]`` for a time-invariant diagonal (then
    ``grad_a`` is summed over time; it must come in zeroed)."""
    n_steps, n_channels = g.shape
    shared = a.shape[0] == 1
    for k in numba.prange((n_channels + block - 1) // block):
        lo = k * block
        hi = min(lo + block, n_channels)
        lam = np.zeros(hi - lo, dtype=g.dtype)
        for t in range(n_steps - 1, -1, -1):
            gt = g[t, lo:hi]
            ga = grad_a[0 if shared else t, lo:hi]
            gb = grad_b[t, lo:hi]
            if t + 1 < n_steps:
                an = a[0 if shared else t + 1, lo:hi]
                for c in range(hi - lo):
                    lam[c] = gt[c] + np.conj(an[c]) * lam[c]
            else:
                for c in range(hi - lo):
                    lam[c] = gt[c]
            hp = h[t - 1, lo:hi] if t > 0 else h0[lo:hi]
            if shared:
                for c in range(hi - lo):
                    gb[c] = lam[c]
                    ga[c] += lam[c] * np.conj(hp[c])
            else:
                for c in range(hi - lo):
                    gb[c] = lam[c]
                    ga[c] = lam[c] * np.conj(hp[c])


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def scan_forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """``h [T, C]``: ``h[t] = a[t] * h[t-1] + b[t]``, ``h[-1] = h0`` (see ``scan_reference``)."""
    h = torch.empty_like(b)
    if b.numel():
        _forward(_np(a.reshape(-1, b.shape[1])), _np(b), _np(h0), _np(h), _block_size(b.shape[1]))
    return h


def scan_backward(grad_h: torch.Tensor, a: torch.Tensor, h: torch.Tensor, h0: torch.Tensor):
    """``(grad_a, grad_b, grad_h0)`` of :func:`scan_forward` (see ``scan_reference``)."""
    grad_a, grad_b = scan_reference.gradient_buffers(grad_h, a)
    if grad_h.numel():
        rows = (-1, grad_h.shape[1])
        _backward(_np(grad_h), _np(a.reshape(rows)), _np(h), _np(h0), _np(grad_a.reshape(rows)), _np(grad_b),
                  _block_size(grad_h.shape[1]))
    return grad_a, grad_b, scan_reference.h0_gradient(a, grad_b, h0)
