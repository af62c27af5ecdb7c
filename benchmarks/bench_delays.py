"""The delay layer's kernels against the dense conv1d formulation, and the memory of delay and
ELM layers over long sequences.

1. Speed: ``neurosim.nn.DelayedLinear`` forward + backward with ``backend="numba"`` (fused
   kernels visiting only each synapse's Gaussian window) against ``backend="conv1d"`` (torch's
   dense conv1d over every tap: DCLS's formulation), same layer and input, interleaved repeats,
   for several widths ``sigma`` (window = taps within 4 sigma of the delay). With ``--device
   cuda``: ``backend="triton"`` (the same kernels in Triton) against conv1d, on CUDA tensors.
   The peer, when installed: the DCLS authors' ``Dcls1d`` (package ``dcls``, version "gauss",
   one kernel element per synapse, as their SNN-delays code uses it), same weights, delays and
   width (its width has a floor of 0.27 steps: sigma below it runs at 0.27).
2. Memory: peak resident memory (Linux VmHWM, a fresh process per case, its peak reset after
   start-up) of forward + backward over T steps, divided by T x batch x neurons, for the delay
   layer (both backends) and ``neurosim.nn.ELM`` (CPU only: skipped with ``--device cuda``).

    python benchmarks/bench_delays.py
    python benchmarks/bench_delays.py --t 500 --batch 16 --n 128 --max-delay 25
    python benchmarks/bench_delays.py --device cuda --skip-memory

A measurement script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

import neurosim.nn as snn
from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs

_MEMORY = """
import json, sys, torch, neurosim.nn as snn
kind, backend, T, B, n = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
torch.manual_seed(0)
layer = snn.DelayedLinear(n, n, 25, sigma=0.5, backend=backend) if kind == "delay" else snn.ELM(n, n, n_memory=n)
small = torch.rand(30, 2, n, requires_grad=True)
layer(small)[0].sum().backward()  # kernels compiled or loaded before measuring
x = torch.rand(T, B, n, requires_grad=True)
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
out = layer(x)
(out if kind == "delay" else out[0]).sum().backward()
print(json.dumps({"peak": status("VmHWM") - before}))
"""


def speed(args) -> None:
    device = torch.device(args.device)
    fused = "numba" if device.type == "cpu" else "triton"
    where = "" if device.type == "cpu" else f" on {torch.cuda.get_device_name(device)}"
    print(f"\n1. forward + backward{where}, T = {args.t}, batch {args.batch}, {args.n} -> {args.n}, max_delay "
          f"{args.max_delay}, float32, {args.repeats} interleaved repeats (s, min / median)")
    peer = dcls_layer_class()
    print(f"{'sigma':>6} {'window':>7} {fused:>17} {'conv1d':>17} {'conv1d / ' + fused:>16}"
          + (f" {'DCLS':>17} {'DCLS / ' + fused:>14}" if peer else "  (DCLS not installed)"))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for sigma in args.sigmas:
        times = {fused: [], "conv1d": []}
        torch.manual_seed(0)
        layers = {b: snn.DelayedLinear(args.n, args.n, args.max_delay, sigma=sigma, backend=b) for b in times}
        layers["conv1d"].load_state_dict(layers[fused].state_dict())
        if peer:
            layers["dcls"] = dcls_twin(peer, layers[fused])
            times["dcls"] = []
        layers = {b: layer.to(device) for b, layer in layers.items()}
        x = torch.randn(args.t, args.batch, args.n, device=device, requires_grad=True)
        for layer in layers.values():
            layer(x).sum().backward()  # compile / warm up
        for _ in range(args.repeats):
            for backend, layer in layers.items():
                sync()
                t0 = time.perf_counter()
                layer(x).sum().backward()
                sync()
                times[backend].append(time.perf_counter() - t0)
        lo, hi = layers[fused].windows()
        window = float((hi - lo).float().mean())
        cell = {b: f"{min(v):.4f} / {statistics.median(v):.4f}" for b, v in times.items()}
        print(f"{sigma:6g} {window:7.1f} {cell[fused]:>17} {cell['conv1d']:>17} "
              f"{min(times['conv1d']) / min(times[fused]):15.2f}x"
              + (f" {cell['dcls']:>17} {min(times['dcls']) / min(times[fused]):13.2f}x" if peer else ""), flush=True)


def dcls_layer_class():
    """The DCLS package's ``Dcls1d``, or None where it is not installed."""
    try:
        from DCLS.construct.modules import Dcls1d
    except ImportError:
        return None
    return Dcls1d


class _DclsTimeMajor(torch.nn.Module):
    """``Dcls1d`` on ``[T, B, n]`` as their SNN-delays code runs it: pad max_delay steps on the
    left of ``[B, n, T]``, convolve, back to time-major."""

    def __init__(self, conv, taps):
        super().__init__()
        self.conv, self.taps = conv, taps

    def forward(self, x):
        padded = torch.nn.functional.pad(x.permute(1, 2, 0), (self.taps - 1, 0))
        return self.conv(padded).permute(2, 0, 1)


def dcls_twin(Dcls1d, layer):
    """A DCLS layer with ``layer``'s weights, delays and width (tests/test_delays_nn.py checks
    that the two compute the same)."""
    taps = layer.max_delay + 1
    conv = Dcls1d(layer.n_in, layer.n_out, kernel_count=1, dilated_kernel_size=taps, bias=False, version="gauss")
    with torch.no_grad():
        conv.weight.copy_(layer.weight[..., None])
        conv.P.copy_(((taps - 1 - layer.delay) - taps // 2)[None, ..., None])  # centred; conv1d correlates
        conv.SIG.fill_(max(layer.sigma - 0.27, 0.0))                           # its width: |SIG| + 0.27
    return _DclsTimeMajor(conv, taps)


def memory(args) -> None:
    print(f"\n2. peak memory of forward + backward per neuron-step (batch {args.batch}, {args.n} neurons; "
          f"delay layer sigma 0.5, max_delay 25)")
    print(f"{'layer':>16} {'T':>7} {'peak MB':>9} {'bytes / neuron-step':>20}")
    for kind, backend in (("delay", "numba"), ("delay", "conv1d"), ("elm", "-")):
        for steps in args.memory_t:
            out = subprocess.run([sys.executable, "-c", _MEMORY, kind, backend, str(steps), str(args.batch),
                                  str(args.n)], capture_output=True, text=True, timeout=1800)
            if out.returncode:
                print(f"{kind:>8} {backend:>7} {steps:>7} FAILED: {out.stderr.strip().splitlines()[-1]}")
                continue
            peak = json.loads(out.stdout.strip().splitlines()[-1])["peak"]
            per = peak / (steps * args.batch * args.n)
            print(f"{kind + ' ' + backend:>16} {steps:>7} {peak / 2**20:9.1f} {per:20.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--t", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--max-delay", type=int, default=25)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[4.0, 2.0, 1.0, 0.5, 0.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-t", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--device", default="cpu",
                        help="cpu (numba vs conv1d; default) or cuda (triton vs conv1d; the memory part is skipped)")
    args = parser.parse_args()
    if torch.device(args.device).type not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda, got {args.device!r}")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU (torch.cuda.is_available() is False)")
    print(f"machine: {platform.node()}, CPU {cpu_name()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d %H:%M')}; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    speed(args)
    if not args.skip_memory and torch.device(args.device).type == "cpu":
        memory(args)


if __name__ == "__main__":
    main()
