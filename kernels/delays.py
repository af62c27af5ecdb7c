"""``windowed_delay_conv``: the causal convolution over time of a delay layer, differentiable.

``y[t, b, j] = sum_i sum_{k in lo[j,i]:hi[j,i]} kernel[j, i, k] * x[t - k, b, i]`` (x is 0 before
the sequence). Backends:

- ``"numba"``: the fused CPU kernels of ``delays_numba.py`` (taps only inside each synapse's
  window: work grows with the window, not with max_delay);
- ``"triton"``: the same three kernels in Triton (``delays_triton.py``), on CUDA tensors (CPU
  tensors only under ``TRITON_INTERPRET=1``, Triton's interpreter, as the tests run them);
- ``"conv1d"``: torch's dense ``conv1d`` with the kernel zeroed outside the windows (the
  reference; any device; GEMM-fast per tap, but it visits every tap);
- ``"auto"``: when the windows average at most a fifth of the taps, Numba on CPU tensors and
  Triton on CUDA tensors (float32 / float64, triton installed); else conv1d. Measured (2-core
  AMD EPYC, T = 500, B = 16, 128 -> 128, max_delay 25, forward + backward, float32): windows of
  1 tap (sigma = 0) 0.017 s against conv1d's 0.069 s (4.0x), 3.9 taps (sigma = 0.5) 1.6x, 13.8
  taps (sigma = 2) 0.58x. The Triton kernels take the CPU's rule unmeasured: they have been
  checked only in the interpreter and compiled for sm_90, not yet timed on a GPU
  (``benchmarks/bench_delays.py`` times them when CUDA is available).

None forms a ``[T, B, n_in, n_out]`` tensor. The fused backward (Numba, Triton) saves ``x`` and
the kernel only.
"""

from __future__ import annotations

import importlib

import torch
from torch.nn import functional as F

BACKENDS = ("auto", "numba", "triton", "conv1d")


def _dense(kernel: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    taps = torch.arange(kernel.shape[-1], device=kernel.device)
    inside = (taps >= lo[..., None]) & (taps < hi[..., None])
    return kernel * inside


def conv1d_reference(x: torch.Tensor, kernel: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The convolution by torch's conv1d (autograd differentiates it)."""
    n_taps = kernel.shape[-1]
    inputs = F.pad(x.permute(1, 2, 0), (n_taps - 1, 0))  # [B, n_in, T + taps - 1]
    # conv1d correlates: the flipped kernel's tap k reads x[t - (taps - 1 - k)]
    return F.conv1d(inputs, _dense(kernel, lo, hi).flip(-1)).permute(2, 0, 1)


def _feature_major(x: torch.Tensor) -> torch.Tensor:
    """[T, B, n] -> [n, T * B] (contiguous), as the kernels take it."""
    return x.permute(2, 0, 1).contiguous().reshape(x.shape[2], -1)


def _launch(backend: str, name: str, *tensors: torch.Tensor, batch: int, out: torch.Tensor) -> None:
    """``delays_<backend>.<name>(*tensors, batch, out)``: Numba's kernels take numpy views of the
    (CPU) tensors, Triton's the tensors."""
    kernels = importlib.import_module(f"neurosim.kernels.delays_{backend}")
    if backend == "numba":
        tensors, out = tuple(t.numpy() for t in tensors), out.numpy()
    getattr(kernels, name)(*tensors, batch, out)


class _WindowedConv(torch.autograd.Function):
    """The fused kernels of ``backend`` ("numba" or "triton"), forward and backward."""

    @staticmethod
    def forward(ctx, x, kernel, lo, hi, backend):
        steps, batch = x.shape[0], x.shape[1]
        xf = _feature_major(x.detach())
        k = kernel.detach().contiguous()
        y = x.new_zeros(kernel.shape[0], steps * batch)
        _launch(backend, "forward", xf, k, lo, hi, batch=batch, out=y)
        ctx.save_for_backward(xf, k, lo, hi)
        ctx.shape = (steps, batch)
        ctx.backend = backend
        return y.reshape(-1, steps, batch).permute(1, 2, 0)

    @staticmethod
    def backward(ctx, grad_y):
        xf, k, lo, hi = ctx.saved_tensors
        steps, batch = ctx.shape
        gy = _feature_major(grad_y)
        grad_x = grad_k = None
        if ctx.needs_input_grad[0]:
            gx = torch.zeros_like(xf)
            _launch(ctx.backend, "grad_input", gy, k, lo, hi, batch=batch, out=gx)
            grad_x = gx.reshape(-1, steps, batch).permute(1, 2, 0)
        if ctx.needs_input_grad[1]:
            grad_k = torch.zeros_like(k)
            _launch(ctx.backend, "grad_kernel", gy, xf, lo, hi, batch=batch, out=grad_k)
        return grad_x, grad_k, None, None, None


def _triton_runs(x: torch.Tensor) -> bool:
    """Whether "auto" may take the Triton kernels for ``x``: a CUDA tensor of float32 / float64
    with triton installed."""
    if x.device.type != "cuda" or x.dtype not in (torch.float32, torch.float64):
        return False
    return importlib.import_module("neurosim.kernels.common.triton").triton is not None


def windowed_delay_conv(x: torch.Tensor, kernel: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, *,
                        backend: str = "auto") -> torch.Tensor:
    """``y [T, B, n_out]`` from ``x [T, B, n_in]``, ``kernel [n_out, n_in, taps]`` and the windows
    ``lo``, ``hi`` (int64 ``[n_out, n_in]``, ``0 <= lo <= hi <= taps``); see the module doc."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        narrow = float((hi - lo).float().mean()) * 5 <= kernel.shape[-1] if lo.numel() else True
        if narrow and x.device.type == "cpu":
            backend = "numba"
        elif narrow and _triton_runs(x):
            backend = "triton"
        else:
            backend = "conv1d"
    if backend == "numba":
        if x.device.type != "cpu":
            raise ValueError(f"backend 'numba' runs on CPU tensors, got a tensor on {x.device}")
        return _WindowedConv.apply(x, kernel, lo.contiguous(), hi.contiguous(), "numba")
    if backend == "triton":
        from .common.triton import check_device

        check_device(x.device)
        if x.dtype not in (torch.float32, torch.float64) or kernel.dtype != x.dtype:
            raise ValueError(f"backend 'triton' takes float32 or float64 tensors of one dtype, got x {x.dtype} "
                             f"and kernel {kernel.dtype}")
        lo, hi = (t.to(device=x.device, dtype=torch.int64).contiguous() for t in (lo, hi))
        return _WindowedConv.apply(x, kernel, lo, hi, "triton")
    return conv1d_reference(x, kernel, lo, hi)
