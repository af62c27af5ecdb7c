"""Triton kernels of the delay layer's windowed convolution (CUDA; CPU under TRITON_INTERPRET=1).

The same three kernels, with the same arguments and layouts, as ``delays_numba.py``: a causal
convolution over time in which synapse (i -> j) has taps only in its window ``lo[j, i] :
hi[j, i]``, so the work is ``T * B * synapses * window``. Tensors are feature-major ``[features,
T * B]`` (time, then batch, contiguous): a delay of k steps is a shift by ``k * B`` columns, and
every load of a program is a contiguous, coalesced slice of a row. Each program writes its own
outputs (no atomics), and sums are accumulated in the tensors' dtype (float32 or float64).

- ``forward``: one program per (output j, block of ``BLOCK`` columns); it loops over the inputs
  i and the taps of each window, adding ``kernel[j, i, k] * x[i, cols - k*B]`` into registers,
  and stores the block once.
- ``grad_input`` (the transpose): one program per (input i, block of columns), looping over the
  outputs j and the taps, adding ``kernel[j, i, k] * grad_y[j, cols + k*B]``.
- ``grad_kernel``: one program per (synapse (j, i), block of ``TAPS`` taps of its window); it
  walks the columns in blocks of ``BLOCK``, loading ``x[i]`` once per block and the ``TAPS``
  shifted slices of ``grad_y[j]`` as one ``[TAPS, BLOCK]`` tile, accumulates the products in a
  ``[TAPS, BLOCK]`` tile and reduces it once at the end. Taps outside the window are not
  written (the caller passes a zeroed ``grad_k``); programs past a window's end do nothing.

No ``[T, B, n_in, n_out]`` tensor is formed. Window bounds are read by each program (the loops
run over data-dependent ranges), so one compiled kernel serves every window shape.

Verification status: checked against torch's conv1d in Triton's interpreter (CPU tensors,
``tests/test_delays_triton.py``), and the three kernels (float32 and float64, 1 and 16 taps a
``grad_kernel`` program) compiled ahead of time to sm_90 cubins with ``triton.compile(ASTSource(...),
target=GPUTarget("cuda", 90, 32))``; not yet run or timed on a GPU.
"""

from __future__ import annotations

import torch

from .common.triton import check_device, tl, triton

__all__ = ["check_device", "forward", "grad_input", "grad_kernel"]

MAX_BLOCK = 256  # columns (time x batch) per program in forward / grad_input
MAX_BLOCK_SUM = 128  # columns per step of grad_kernel's reduction
MAX_TAPS = 16  # taps per grad_kernel program
# FMA contraction allowed (said explicitly: Triton 3.9 warns when it is left to its default);
# the sums are compared with conv1d's within a tolerance, not bit for bit.
_LAUNCH = {"enable_fp_fusion": True}


if triton is not None:

    @triton.jit
    def _forward_kernel(x_ptr, k_ptr, lo_ptr, hi_ptr, y_ptr, n_in, size, batch, n_taps, BLOCK: tl.constexpr):
        j = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        inside = cols < size
        acc = tl.zeros([BLOCK], dtype=y_ptr.dtype.element_ty)
        for i in range(n_in):
            syn = j * n_in + i
            lo = tl.load(lo_ptr + syn)
            hi = tl.load(hi_ptr + syn)
            for k in range(lo, hi):
                w = tl.load(k_ptr + syn * n_taps + k)
                src = cols - k * batch
                acc += w * tl.load(x_ptr + i * size + src, mask=inside & (src >= 0), other=0.0)
        tl.store(y_ptr + j * size + cols, acc, mask=inside)

    @triton.jit
    def _grad_input_kernel(gy_ptr, k_ptr, lo_ptr, hi_ptr, gx_ptr, n_in, n_out, size, batch, n_taps,
                           BLOCK: tl.constexpr):
        i = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        inside = cols < size
        acc = tl.zeros([BLOCK], dtype=gx_ptr.dtype.element_ty)
        for j in range(n_out):
            syn = j * n_in + i
            lo = tl.load(lo_ptr + syn)
            hi = tl.load(hi_ptr + syn)
            for k in range(lo, hi):
                w = tl.load(k_ptr + syn * n_taps + k)
                src = cols + k * batch
                acc += w * tl.load(gy_ptr + j * size + src, mask=src < size, other=0.0)
        tl.store(gx_ptr + i * size + cols, acc, mask=inside)

    @triton.jit
    def _grad_kernel_kernel(gy_ptr, x_ptr, lo_ptr, hi_ptr, gk_ptr, n_in, size, batch, n_taps,
                            TAPS: tl.constexpr, BLOCK: tl.constexpr):
        syn = tl.program_id(0).to(tl.int64)
        j = syn // n_in
        i = syn % n_in
        lo = tl.load(lo_ptr + syn)
        hi = tl.load(hi_ptr + syn)
        first = lo + tl.program_id(1) * TAPS
        if first < hi:
            taps = first + tl.arange(0, TAPS)
            tap_in = taps < hi
            shift = taps * batch  # [TAPS] column shift of each tap
            acc = tl.zeros([TAPS, BLOCK], dtype=gk_ptr.dtype.element_ty)
            # columns s with s + first * B < size: the first (shortest-delay) tap reads furthest
            for start in range(0, size - first * batch, BLOCK):
                cols = start + tl.arange(0, BLOCK)
                xv = tl.load(x_ptr + i * size + cols, mask=cols < size, other=0.0)
                src = cols[None, :] + shift[:, None]
                gy = tl.load(gy_ptr + j * size + src, mask=tap_in[:, None] & (src < size), other=0.0)
                acc += gy * xv[None, :]
            tl.store(gk_ptr + syn * n_taps + taps, tl.sum(acc, axis=1), mask=tap_in)


def _check(name, tensors, batch, out) -> None:
    check_device(out.device)
    if out.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"backend 'triton' takes float32 or float64 tensors, got {out.dtype}")
    for t in (*tensors, out):
        if t.device != out.device or not t.is_contiguous():
            raise ValueError(f"{name}: every tensor must be contiguous and on {out.device}")
    if batch < 1:
        raise ValueError(f"{name}: batch must be >= 1, got {batch}")


def _block(size: int, cap: int, block: int | None) -> int:
    return block if block is not None else min(cap, max(16, triton.next_power_of_2(size)))


def forward(x, kernel, lo, hi, batch: int, y, *, block: int | None = None) -> None:
    """``y[j, t*B + b] = sum_i sum_k kernel[j, i, k] x[i, (t - k)*B + b]`` over each window
    (``y`` is overwritten; shapes as ``delays_numba.forward``). ``block`` overrides the columns
    a program takes (a power of two; tests use it to span several blocks)."""
    _check("forward", (x, kernel, lo, hi), batch, y)
    n_out, n_in, n_taps = kernel.shape
    size = x.shape[1]
    if y.numel() == 0:
        return
    bl = _block(size, MAX_BLOCK, block)
    _forward_kernel[(n_out, triton.cdiv(size, bl))](x, kernel, lo, hi, y, n_in, size, batch, n_taps, BLOCK=bl,
                                                      **_LAUNCH)


def grad_input(grad_y, kernel, lo, hi, batch: int, grad_x, *, block: int | None = None) -> None:
    """The transpose of ``forward``: ``grad_x[i, s] = sum_j sum_k kernel[j, i, k] grad_y[j, s + k*B]``."""
    _check("grad_input", (grad_y, kernel, lo, hi), batch, grad_x)
    n_out, n_in, n_taps = kernel.shape
    size = grad_y.shape[1]
    if grad_x.numel() == 0:
        return
    bl = _block(size, MAX_BLOCK, block)
    _grad_input_kernel[(n_in, triton.cdiv(size, bl))](grad_y, kernel, lo, hi, grad_x, n_in, n_out, size, batch,
                                                      n_taps, BLOCK=bl, **_LAUNCH)


def grad_kernel(grad_y, x, lo, hi, batch: int, grad_k, *, block: int | None = None,
                max_width: int | None = None) -> None:
    """``grad_k[j, i, k] = sum_s grad_y[j, s + k*B] x[i, s]`` inside each window; taps outside
    are left as they are (pass zeros). ``max_width``: the widest window (``(hi - lo).max()``,
    computed here if not given: one device-to-host copy)."""
    _check("grad_kernel", (grad_y, x, lo, hi), batch, grad_k)
    n_out, n_in, n_taps = grad_k.shape
    size = x.shape[1]
    if grad_k.numel() == 0 or size == 0:
        return
    if max_width is None:
        max_width = int((hi - lo).max())
    if max_width <= 0:
        return
    taps = min(MAX_TAPS, triton.next_power_of_2(max_width))
    bl = _block(size, MAX_BLOCK_SUM, block)
    _grad_kernel_kernel[(n_out * n_in, triton.cdiv(max_width, taps))](
        grad_y, x, lo, hi, grad_k, n_in, size, batch, n_taps, TAPS=taps, BLOCK=bl, **_LAUNCH)
