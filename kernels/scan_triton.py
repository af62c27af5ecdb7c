"""Triton kernels of the linear-recurrence scan (contract: ``scan_reference.py``).

CUDA tensors; CPU tensors under ``TRITON_INTERPRET=1`` (how CI tests them; set it before
triton is imported). Same arguments, shapes and return values as the reference.

Chunked parallel associative scan: the grid is ``cdiv(C, BLOCK_C)`` programs over the
channels. A program walks time in chunks of ``CHUNK`` (at most 64) steps; each chunk is loaded as one
``[CHUNK, BLOCK_C]`` tile (rows are steps, a row is a contiguous, coalesced slice of channels)
and scanned along time with ``tl.associative_scan`` under the combine

    (a1, b1) . (a2, b2) = (a1 a2, b1 a2 + b2)

(composition of the affine maps ``h -> a h + b``), which gives each step's cumulative
``(A[t], B[t])`` from the chunk start; the chunk's states are then ``A[t] * carry + B[t]`` with
``carry`` the state before the chunk, and the chunk's last state becomes the next carry. So
the work is parallel within a chunk (log-depth on the GPU) and sequential only across
``T / CHUNK`` chunks. Steps past the end of the sequence are loaded as the identity map
``(1, 0)``, so the carry is always the state at row ``CHUNK - 1``.

The backward pass is the same kernel run in reverse order: positions map to
``t = T-1-j``, the coefficient at step t is ``conj(a[t+1])`` (zero past the end), the values
are the incoming gradients, and the scanned adjoint ``lam[t]`` is written as ``grad_b``;
``grad_a[t] = lam[t] conj(h[t-1])`` is formed in the same pass from ``h`` (``h0`` at t = 0).

A time-invariant ``a [C]`` (``SHARED``) is loaded as the same row at every step, and its
gradient is summed over time in registers and written once at the end.

Complex tensors are passed as their real views (``torch.view_as_real``: re, im interleaved)
and multiplied out in the kernel (Triton has no complex type).

Verification status: checked against the reference in Triton's interpreter (CPU tensors,
``tests/test_scan.py``), and all eight variants (float32/float64, real/complex, forward/backward)
compiled ahead of time to sm_90 cubins with ``triton.compile(ASTSource(...),
target=GPUTarget("cuda", 90, 32))``; not yet run on a GPU.
"""

from __future__ import annotations

import torch

from . import scan_reference
from .common.triton import check_device, triton, tl

__all__ = ["scan_forward", "scan_backward", "check_device"]

MAX_CHUNK = 64  # time steps per tile
MAX_BLOCK_C = 128  # channels per program


if triton is not None:

    @triton.jit
    def _combine_real(a1, b1, a2, b2):
        return a1 * a2, b1 * a2 + b2

    @triton.jit
    def _combine_complex(ar1, ai1, br1, bi1, ar2, ai2, br2, bi2):
        # (a1 a2, b1 a2 + b2) with complex products written out
        return (ar1 * ar2 - ai1 * ai2, ar1 * ai2 + ai1 * ar2,
                br1 * ar2 - bi1 * ai2 + br2, br1 * ai2 + bi1 * ar2 + bi2)

    @triton.jit
    def _scan_kernel(a_ptr, v_ptr, h0_ptr, out_ptr, h_ptr, grad_a_ptr, T, C,
                     REVERSE: tl.constexpr, COMPLEX: tl.constexpr, SHARED: tl.constexpr,
                     CHUNK: tl.constexpr, BLOCK_C: tl.constexpr):
        """Forward (REVERSE=False): out = h from a, v = b, h0.
        Backward (REVERSE=True): out = grad_b (the adjoint) from a, v = grad_h; also writes
        grad_a from h and h0. SHARED: ``a`` is one row ``[C]`` for every step (a time-invariant
        diagonal); its gradient is then summed over time in registers and written once."""
        pid = tl.program_id(0)
        chans = pid * BLOCK_C + tl.arange(0, BLOCK_C)
        cmask = chans < C
        rows = tl.arange(0, CHUNK)
        last = (rows == CHUNK - 1)[:, None]
        W: tl.constexpr = 2 if COMPLEX else 1  # scalars per element in memory
        grad_a_r = tl.zeros([BLOCK_C], dtype=v_ptr.dtype.element_ty)  # SHARED: sums over time
        grad_a_i = tl.zeros([BLOCK_C], dtype=v_ptr.dtype.element_ty)
        if REVERSE:
            carry_r = tl.zeros([BLOCK_C], dtype=v_ptr.dtype.element_ty)
            carry_i = tl.zeros([BLOCK_C], dtype=v_ptr.dtype.element_ty)
        else:
            carry_r = tl.load(h0_ptr + chans * W, mask=cmask, other=0.0)
            if COMPLEX:
                carry_i = tl.load(h0_ptr + chans * W + 1, mask=cmask, other=0.0)
            else:
                carry_i = carry_r
        for start in range(0, T, CHUNK):
            j = start + rows
            if REVERSE:
                t = T - 1 - j
                a_t = t + 1  # the coefficient that carries lam[t+1] back to step t
            else:
                t = j
                a_t = t
            inside = (j < T)[:, None] & cmask[None, :]
            a_inside = (a_t < T)[:, None] & inside
            offs = (t[:, None] * C + chans[None, :]) * W
            if SHARED:
                a_offs = (0 * a_t[:, None] + chans[None, :]) * W
            else:
                a_offs = (a_t[:, None] * C + chans[None, :]) * W
            # outside the sequence: the identity map (a, b) = (1, 0); past the end in reverse: a = 0
            ar = tl.load(a_ptr + a_offs, mask=a_inside, other=0.0)
            ar = tl.where(inside, ar, 1.0)
            vr = tl.load(v_ptr + offs, mask=inside, other=0.0)
            if COMPLEX:
                ai = tl.load(a_ptr + a_offs + 1, mask=a_inside, other=0.0)
                if REVERSE:
                    ai = -ai
                vi = tl.load(v_ptr + offs + 1, mask=inside, other=0.0)
                Ar, Ai, Br, Bi = tl.associative_scan((ar, ai, vr, vi), 0, _combine_complex)
                hr = Ar * carry_r[None, :] - Ai * carry_i[None, :] + Br
                hi = Ar * carry_i[None, :] + Ai * carry_r[None, :] + Bi
                tl.store(out_ptr + offs, hr, mask=inside)
                tl.store(out_ptr + offs + 1, hi, mask=inside)
                carry_r = tl.sum(tl.where(last, hr, 0.0), axis=0)
                carry_i = tl.sum(tl.where(last, hi, 0.0), axis=0)
            else:
                A, B = tl.associative_scan((ar, vr), 0, _combine_real)
                hr = A * carry_r[None, :] + B
                tl.store(out_ptr + offs, hr, mask=inside)
                carry_r = tl.sum(tl.where(last, hr, 0.0), axis=0)
                hi = hr
            if REVERSE:
                # grad_a[t] = lam[t] * conj(h[t-1]), h[-1] = h0
                prev_offs = ((t - 1)[:, None] * C + chans[None, :]) * W
                has_prev = (t >= 1)[:, None] & inside
                first = (t == 0)[:, None] & inside
                pr = tl.load(h_ptr + prev_offs, mask=has_prev, other=0.0)
                pr += tl.load(h0_ptr + chans[None, :] * W + 0 * t[:, None], mask=first, other=0.0)
                if COMPLEX:
                    pi = tl.load(h_ptr + prev_offs + 1, mask=has_prev, other=0.0)
                    pi += tl.load(h0_ptr + chans[None, :] * W + 1 + 0 * t[:, None], mask=first, other=0.0)
                    ga_r = tl.where(inside, hr * pr + hi * pi, 0.0)
                    ga_i = tl.where(inside, hi * pr - hr * pi, 0.0)
                else:
                    ga_r = tl.where(inside, hr * pr, 0.0)
                    ga_i = ga_r
                if SHARED:
                    grad_a_r += tl.sum(ga_r, axis=0)
                    if COMPLEX:
                        grad_a_i += tl.sum(ga_i, axis=0)
                else:
                    tl.store(grad_a_ptr + offs, ga_r, mask=inside)
                    if COMPLEX:
                        tl.store(grad_a_ptr + offs + 1, ga_i, mask=inside)
        if REVERSE and SHARED:
            tl.store(grad_a_ptr + chans * W, grad_a_r, mask=cmask)
            if COMPLEX:
                tl.store(grad_a_ptr + chans * W + 1, grad_a_i, mask=cmask)


def _flat(t: torch.Tensor) -> torch.Tensor:
    """The tensor as real scalars: complex ``[..., C]`` -> float ``[..., C, 2]`` (a view)."""
    return torch.view_as_real(t) if t.is_complex() else t


def _launch(a, v, h0, out, h, grad_a, reverse: bool) -> None:
    n_steps, n_channels = v.shape
    # Tiles no larger than the data: a short sequence or a few channels do not pay for padding
    # (which matters most in the interpreter, where the scan is a Python loop per element).
    block_c = min(MAX_BLOCK_C, triton.next_power_of_2(n_channels))
    chunk = min(MAX_CHUNK, triton.next_power_of_2(n_steps))
    grid = (triton.cdiv(n_channels, block_c),)
    dummy = out if h is None else h
    _scan_kernel[grid](
        _flat(a), _flat(v), _flat(h0), _flat(out), _flat(dummy), _flat(out if grad_a is None else grad_a),
        n_steps, n_channels, REVERSE=reverse, COMPLEX=v.is_complex(), SHARED=a.dim() == 1,
        CHUNK=chunk, BLOCK_C=block_c)


def scan_forward(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """``h [T, C]``: ``h[t] = a[t] * h[t-1] + b[t]``, ``h[-1] = h0`` (see ``scan_reference``)."""
    h = torch.empty_like(b)
    if b.numel():
        _launch(a, b, h0, h, None, None, reverse=False)
    return h


def scan_backward(grad_h: torch.Tensor, a: torch.Tensor, h: torch.Tensor, h0: torch.Tensor):
    """``(grad_a, grad_b, grad_h0)`` of :func:`scan_forward` (see ``scan_reference``)."""
    grad_a, grad_b = scan_reference.gradient_buffers(grad_h, a)
    if grad_h.numel():
        _launch(a, grad_h, h0, grad_b, h, grad_a, reverse=True)
    return grad_a, grad_b, scan_reference.h0_gradient(a, grad_b, h0)
