"""Numba CPU kernels of the fused selective scan (see ``selective.py`` for the math).

Why fused: written with :func:`~neurosim.kernels.scan.linear_scan`, a Mamba layer forms the
decays ``exp(Δ A)``, the drives ``Δ u B`` and the states ``h``, each ``[T, B, E, N]``, plus as
many tensors again in autograd's backward; at ``T = 506, B = 64, E = 46, N = 16`` that is
about 0.1 GB per tensor and 2 s per layer and batch on this CPU, almost all of it memory
traffic. Here one thread keeps a channel's ``N`` states in registers, forms decay and drive
on the fly and writes only ``y [T, B, E]`` and the final state.

Backward: one thread per sequence ``b`` (the gradients of the shared ``B_t, C_t [T, B, N]``
sum over the ``E`` channels of that sequence, so no two threads write the same element).
For each channel it recomputes the ``T + 1`` states and ``T`` decays into thread-local
``[T + 1, N]`` buffers (``2 T N`` numbers, well inside the cache for T ~ 10^3, not ``[T, B, E, N]``) and runs the
adjoint recurrence backwards. ``dL/dA`` is accumulated per sequence and summed afterwards.

Compile time: cached on disk (``cache=True``); one variant per dtype.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

__all__ = ["selective_scan_forward", "selective_scan_backward"]

_pjit = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")


@_pjit
def _forward(delta, A, u, B, C, h0, y, h_last):
    n_steps, batch, channels = delta.shape
    n_state = A.shape[1]
    for p in numba.prange(batch * channels):
        b = p // channels
        e = p % channels
        h = h0[b, e].copy()
        a_row = A[e]
        for t in range(n_steps):
            d = delta[t, b, e]
            du = d * u[t, b, e]
            bt = B[t, b]
            ct = C[t, b]
            acc = 0.0
            for n in range(n_state):
                h[n] = math.exp(d * a_row[n]) * h[n] + du * bt[n]
                acc += h[n] * ct[n]
            y[t, b, e] = acc
        h_last[b, e] = h


@_pjit
def _backward(grad_y, grad_h_last, delta, A, u, B, C, h0, grad_delta, grad_A_per_seq, grad_u, grad_B, grad_C,
              grad_h0):
    """``grad_B``, ``grad_C`` and ``grad_A_per_seq [batch, E, N]`` must come in zeroed."""
    n_steps, batch, channels = delta.shape
    n_state = A.shape[1]
    for b in numba.prange(batch):
        hs = np.empty((n_steps + 1, n_state), dtype=delta.dtype)  # this channel's states, h[-1] first
        decays = np.empty((n_steps, n_state), dtype=delta.dtype)  # and its exp(Δ[t] A)
        for e in range(channels):
            a_row = A[e]
            hs[0] = h0[b, e]
            for t in range(n_steps):
                d = delta[t, b, e]
                du = d * u[t, b, e]
                for n in range(n_state):
                    decays[t, n] = math.exp(d * a_row[n])
                    hs[t + 1, n] = decays[t, n] * hs[t, n] + du * B[t, b, n]
            lam = grad_h_last[b, e].copy()  # dL/dh[t], built up from the future
            ga_seq = grad_A_per_seq[b, e]
            for t in range(n_steps - 1, -1, -1):
                d = delta[t, b, e]
                ut = u[t, b, e]
                g = grad_y[t, b, e]
                bt = B[t, b]
                ct = C[t, b]
                gbt = grad_B[t, b]
                gct = grad_C[t, b]
                gd = 0.0
                gu = 0.0
                for n in range(n_state):
                    lam[n] += g * ct[n]
                    gct[n] += g * hs[t + 1, n]
                    decay = decays[t, n]
                    g_decay = lam[n] * hs[t, n] * decay  # dL/d(Δ A) through exp
                    gd += g_decay * a_row[n] + lam[n] * ut * bt[n]
                    gu += lam[n] * d * bt[n]
                    gbt[n] += lam[n] * d * ut
                    ga_seq[n] += g_decay * d
                    lam[n] *= decay  # now dL/dh[t-1] from this step
                grad_delta[t, b, e] = gd
                grad_u[t, b, e] = gu
            grad_h0[b, e] = lam


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def selective_scan_forward(delta, A, u, B, C, h0):
    """``(y [T, Bt, E], h_last [Bt, E, N])``; contiguous CPU tensors of one real dtype."""
    y = torch.empty_like(delta)
    h_last = h0.clone()
    if delta.numel():
        _forward(_np(delta), _np(A), _np(u), _np(B), _np(C), _np(h0), _np(y), _np(h_last))
    return y, h_last


def selective_scan_backward(grad_y, grad_h_last, delta, A, u, B, C, h0):
    """``(grad_delta, grad_A, grad_u, grad_B, grad_C, grad_h0)`` of :func:`selective_scan_forward`."""
    n_steps, batch, channels = delta.shape
    grad_delta, grad_u = torch.empty_like(delta), torch.empty_like(u)  # every element written
    grad_B, grad_C = torch.zeros_like(B), torch.zeros_like(C)
    grad_A_per_seq = delta.new_zeros((batch,) + tuple(A.shape))
    grad_h0 = grad_h_last.clone()
    if delta.numel():
        _backward(_np(grad_y), _np(grad_h_last), _np(delta), _np(A), _np(u), _np(B), _np(C), _np(h0),
                  _np(grad_delta), _np(grad_A_per_seq), _np(grad_u), _np(grad_B), _np(grad_C), _np(grad_h0))
    return grad_delta, grad_A_per_seq.sum(0), grad_u, grad_B, grad_C, grad_h0
