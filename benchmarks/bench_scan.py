"""The linear-recurrence scan ``h[t] = a[t] h[t-1] + b[t]`` (neurosim.kernels.linear_scan) against
the ways it is written in plain torch, forward + backward, in one process on the same work.

Work: ``a, b [T, B, D]`` (requires grad; ``a`` uniform in (0.5, 0.999) for real dtypes, the same
magnitudes with random phases for complex), ``h0 = 0``; one timed run = forward and
``h.backward(g)`` with a fixed random ``g [T, B, D]`` (loss ``Re sum(conj(g) h)``), down to
``dL/da`` and ``dL/db``. Defaults: T = 1024, B = 16, D = 256, float32 (the issue's target size).

Implementations
    neurosim         ``linear_scan(a, b, backend=...)``: Numba on CPU, Triton on CUDA (``auto``).
                     One warm-up run first (compile or cache load), reported apart.
    torch loop       ``for t in range(T): h = a[t] * h + b[t]``, stacked; autograd backward.
                     The loop as it is usually written (and as ``scan_reference.scan_forward``,
                     the specification, writes it). Indexing a tensor that requires grad makes
                     torch's backward O(T^2): every ``SelectBackward`` materialises a zero
                     gradient of the full ``[T, B, D]`` shape (see bench_nn.py).
    torch loop unbind  the same loop over ``zip(a.unbind(0), b.unbind(0))``: torch's best case
                     for a loop (one gradient buffer per step, no O(T^2) term).
    torch cumprod    ``A = cumprod(a)``, ``h = A * cumsum(b / A)``: two cumulative ops, all
                     vectorised, but ``A`` underflows for long sequences (0.5^1024 = 0) and the
                     division then gives inf/NaN; its error against the scan is reported.
    torch log-space  Heinsen's formulation (2023): ``log h = cumsum(log a) +
                     logcumsumexp(log b - cumsum(log a))`` with complex logarithms for negative
                     ``b``; stable, but about 10 transcendental passes over the data.
    mamba_ssm        not compared: its ``selective_scan_fn`` is CUDA only and this script was
                     written and measured on a machine without a GPU; it prints a line saying so.

Second part, the selective scan of a Mamba layer (``neurosim.kernels.selective_scan``:
``h[t] = exp(Δ[t] A) h[t-1] + Δ[t] u[t] B[t]``, ``y[t] = h[t]·C[t]``), forward + backward down
to all five inputs, on ``Δ, u [T, B, E]``, ``B_t, C_t [T, B, N]``, ``A [E, N]`` (defaults T = 1024,
B = 8, E = 128, N = 16; real dtypes only):

    neurosim fused   ``selective_scan``: one Numba kernel, no ``[T, B, E, N]`` tensor.
    materialised     ``exp(Δ A)`` and ``Δ u B`` formed as ``[T, B, E, N]`` tensors, then
                     ``linear_scan`` (neurosim's own scan) and the contraction with ``C``.
    torch loop       the per-step loop with autograd, as mamba_ssm's pure-torch
                     ``selective_scan_ref`` writes it (its CPU path).

Reported: best and median seconds of the timed runs, element-steps per second (``T B D /
best``), the largest error of h and of the gradients against the float64 reference, and
``peer time / neurosim time``.

Memory floor: the scan does one multiply-add per element-step, so on a CPU it is bound by
memory traffic, not arithmetic. Forward reads a, b and writes h; backward reads dL/dh, a, h
and writes dL/da, dL/db: at least 8 values per element-step (32 B in float32). The script
measures a STREAM-like copy bandwidth with torch and prints the time that traffic needs; no
implementation can beat it, and the torch loop over ``unbind`` is already within a few times
of it.

Run: ``python benchmarks/bench_scan.py`` (``--help`` for sizes, dtype, device, repeats).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from neurosim.kernels.scan import linear_scan
from neurosim.kernels.selective import selective_scan, selective_scan_reference


def make_work(T, B, D, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    mag = 0.5 + 0.499 * torch.rand(T, B, D, generator=g, dtype=torch.float64)
    if dtype.is_complex:
        a = torch.polar(mag, 2 * torch.pi * torch.rand(T, B, D, generator=g, dtype=torch.float64))
        b = torch.randn(T, B, D, generator=g, dtype=torch.complex128)
        grad = torch.randn(T, B, D, generator=g, dtype=torch.complex128)
    else:
        a, b = mag, torch.randn(T, B, D, generator=g, dtype=torch.float64)
        grad = torch.randn(T, B, D, generator=g, dtype=torch.float64)
    return [t.to(dtype=dtype, device=device) for t in (a, b, grad)]


def torch_loop(a, b):
    h = torch.zeros_like(b[0])
    out = []
    for t in range(b.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out)


def torch_loop_unbind(a, b):
    h = torch.zeros_like(b[0])
    out = []
    for a_t, b_t in zip(a.unbind(0), b.unbind(0)):
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out)


def torch_cumprod(a, b):
    A = torch.cumprod(a, 0)
    return A * torch.cumsum(b / A, 0)


def torch_log_space(a, b):
    complex_dtype = torch.complex64 if a.dtype in (torch.float32, torch.complex64) else torch.complex128
    log_a = torch.cumsum(torch.log(a.to(complex_dtype)), 0)
    h = torch.exp(log_a + torch.logcumsumexp(torch.log(b.to(complex_dtype)) - log_a, 0))
    return h if a.is_complex() else h.real


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_runs(fn, a, b, grad, repeats, budget):
    """Seconds of ``repeats`` forward+backward runs (stops early past ``budget`` seconds)."""
    times = []
    for _ in range(repeats):
        a.grad = b.grad = None
        synchronize(a.device)
        start = time.perf_counter()
        h = fn(a, b)
        h.backward(grad)
        synchronize(a.device)
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    return times, h.detach()


def errors(h, a, b, want):
    """Largest absolute error of h, dL/da, dL/db against the float64 reference ``want``."""
    return [float((x.to(y.dtype) - y).abs().max()) if torch.isfinite(x).all() else float("nan")
            for x, y in zip((h, a.grad, b.grad), want)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--T", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "complex64", "complex128"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--peer-budget", type=float, default=60.0, help="seconds per peer at most")
    parser.add_argument("--sel-T", type=int, default=1024, help="selective scan: steps")
    parser.add_argument("--sel-batch", type=int, default=8, help="selective scan: batch")
    parser.add_argument("--sel-channels", type=int, default=128, help="selective scan: channels E")
    parser.add_argument("--sel-state", type=int, default=16, help="selective scan: states per channel N")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    T, B, D = args.T, args.batch, args.channels
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}")
    print(f"work: T={T} B={B} D={D} {args.dtype}, forward + backward")

    a0, b0, grad = make_work(T, B, D, dtype, device)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    a64, b64 = (t.to(wide).requires_grad_() for t in (a0, b0))
    h64 = linear_scan(a64, b64, backend="numba" if device.type == "cpu" else "auto")
    h64.backward(grad.to(wide))
    want = (h64.detach(), a64.grad, b64.grad)

    def scan(a, b):
        return linear_scan(a, b, backend=args.backend)

    a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
    start = time.perf_counter()
    time_runs(scan, a, b, grad, 1, float("inf"))
    print(f"neurosim warm-up (compile or cache load + one run): {time.perf_counter() - start:.2f} s")

    rows = []
    for name, fn, repeats in (("neurosim", scan, args.repeats), ("torch loop", torch_loop, max(2, args.repeats // 3)),
                              ("torch loop unbind", torch_loop_unbind, args.repeats),
                              ("torch cumprod", torch_cumprod, args.repeats),
                              ("torch log-space", torch_log_space, args.repeats)):
        a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
        times, h = time_runs(fn, a, b, grad, repeats, args.peer_budget)
        rows.append((name, min(times), statistics.median(times), len(times), errors(h, a, b, want)))
    base = rows[0][1]
    print(f"\n{'implementation':<18}{'best s':>10}{'median s':>10}{'runs':>6}{'Melem-steps/s':>15}"
          f"{'max err h':>12}{'dL/da':>11}{'dL/db':>11}{'x neurosim':>12}")
    for name, best, median, n, err in rows:
        print(f"{name:<18}{best:>10.4f}{median:>10.4f}{n:>6}{T * B * D / best / 1e6:>15.1f}"
              f"{err[0]:>12.2e}{err[1]:>11.2e}{err[2]:>11.2e}{best / base:>12.1f}")
    floor_line(T * B * D * a0.element_size() * 8, device)
    mamba_line(device)
    if not dtype.is_complex:
        selective_section(args.sel_T, args.sel_batch, args.sel_channels, args.sel_state, dtype, device, args)


def selective_loop(delta, A, u, B, C):
    """The selective scan as a per-step torch loop (mamba_ssm's ``selective_scan_ref`` style)."""
    h = delta.new_zeros(delta.shape[1:] + A.shape[1:])
    ys = []
    for d, u_t, b_t, c_t in zip(delta.unbind(0), u.unbind(0), B.unbind(0), C.unbind(0)):
        h = torch.exp(d.unsqueeze(-1) * A) * h + (d * u_t).unsqueeze(-1) * b_t.unsqueeze(1)
        ys.append((h @ c_t.unsqueeze(-1)).squeeze(-1))
    return torch.stack(ys)


def selective_section(T, B, E, N, dtype, device, args):
    g = torch.Generator().manual_seed(1)
    inputs = [torch.rand(T, B, E, generator=g, dtype=torch.float64) * 0.1 + 1e-3,
              -torch.arange(1, N + 1, dtype=torch.float64).repeat(E, 1),
              torch.randn(T, B, E, generator=g, dtype=torch.float64),
              torch.randn(T, B, N, generator=g, dtype=torch.float64),
              torch.randn(T, B, N, generator=g, dtype=torch.float64)]
    grad = torch.randn(T, B, E, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    print(f"\nselective scan: T={T} B={B} E={E} N={N} {dtype}, forward + backward down to Δ, A, u, B, C")
    wide = [t.to(device).clone().requires_grad_() for t in inputs]
    selective_scan(*wide, backend="numba" if device.type == "cpu" else "auto")[0].backward(grad.double())
    want = [t.grad for t in wide]
    impls = (("neurosim fused", lambda *x: selective_scan(*x, backend=args.backend)[0], args.repeats),
             ("materialised", lambda *x: selective_scan_reference(*x, scan_backend=args.backend)[0], args.repeats),
             ("torch loop", selective_loop, max(2, args.repeats // 3)))
    rows = []
    for name, fn, repeats in impls:
        times = []
        for k in range(repeats + (1 if name == "neurosim fused" else 0)):  # the fused kernel: one warm-up
            xs = [t.to(dtype=dtype, device=device).clone().requires_grad_() for t in inputs]
            synchronize(device)
            start = time.perf_counter()
            fn(*xs).backward(grad)
            synchronize(device)
            if name != "neurosim fused" or k:
                times.append(time.perf_counter() - start)
            if sum(times) > args.peer_budget:
                break
        err = max(float((x.grad.double() - w).abs().max() / w.abs().max()) for x, w in zip(xs, want))
        rows.append((name, min(times), statistics.median(times), len(times), err))
    print(f"{'implementation':<18}{'best s':>10}{'median s':>10}{'runs':>6}{'max rel err grads':>19}{'x neurosim':>12}")
    for name, best, median, n, err in rows:
        print(f"{name:<18}{best:>10.4f}{median:>10.4f}{n:>6}{err:>19.2e}{best / rows[0][1]:>12.1f}")


def copy_bandwidth(device, n=2**26, repeats=5):
    """Best bytes/s of ``dst.copy_(src)`` on float32 tensors of ``n`` elements (read + write)."""
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        dst.copy_(src)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * 4 * n / best


def floor_line(traffic_bytes, device):
    bandwidth = copy_bandwidth(device)
    print(f"\nmemory floor: {traffic_bytes / 1e6:.0f} MB moved at the copy bandwidth {bandwidth / 1e9:.1f} GB/s "
          f"= {traffic_bytes / bandwidth:.4f} s per forward + backward")


def mamba_line(device):
    if device.type != "cuda":
        print("\nmamba_ssm: skipped (its selective_scan_fn is CUDA only; no GPU here)")
        return
    try:
        import mamba_ssm  # noqa: F401
    except ImportError:
        print("\nmamba_ssm: skipped (not installed)")
        return
    print("\nmamba_ssm: installed, but not compared (no comparison written: developed without a GPU)")


if __name__ == "__main__":
    main()
