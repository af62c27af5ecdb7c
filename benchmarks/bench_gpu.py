"""The Triton (GPU) engine backend against the numba (CPU) backend, on the same networks, in one process.

Network: CUBA-style (Brette et al. 2007; ``examples/cuba.py``) scaled up with a fixed in-degree:
N LIF neurons, 80 % excitatory, every neuron receiving ``--in-degree`` synapses (80 % from
excitatory, 20 % from inhibitory sources, drawn without repeats); the CUBA weights scaled by
80 / in-degree so the mean input, and so the firing, stays that of CUBA (Brian2's example has
80 inputs per neuron). dt = 0.1 ms, synapses act at the next step, ``--duration`` ms (1 s).

For every N (``--sizes``, default 1e4 1e5 1e6) and backend: one short warm-up run (compiles or
loads the kernels; reported as ``compile_s``), then the timed run of a fresh network with the same
seed; time = ``result.info["simulate_s"]`` (the run loop, data copies included; network
construction excluded). Reported: wall time, spikes, synaptic events, events per second of
wall time, the rate, and the ratio numba / triton. Both backends must give the same spike
count within 2 % (their sums differ in rounding only, see ``neurosim.kernels.engine.triton``).

Without a CUDA GPU the triton column reads "not yet measured" (the interpreter would time
Python, not the kernels). Brian2CUDA and GeNN are not installed here, so not compared.

    python benchmarks/bench_gpu.py                       # GPU machine: the table of the issue
    python benchmarks/bench_gpu.py --sizes 1e4 1e5       # this 2-core CPU: numba only

This is a measurement script, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import neurosim as ns
from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs
from neurosim.examples.cuba import W_EXC, W_INH


def build(n: int, in_degree: int, seed: int = 1, **network_options) -> ns.Network:
    """The benchmark network; ``network_options`` go to ``ns.Network`` (e.g. precision)."""
    net = ns.Network(dt=0.1, seed=seed, **network_options)
    n_exc = int(round(0.8 * n))
    exc = net.population("exc", ns.LIF.cuba(n_exc))
    inh = net.population("inh", ns.LIF.cuba(n - n_exc))
    k_exc, k_inh = int(round(0.8 * in_degree)), in_degree - int(round(0.8 * in_degree))
    scale = 80.0 / in_degree
    net.connect(exc, [exc, inh], ns.connect.fixed_in_degree(k_exc), weight=W_EXC * scale, receptor="exc",
                allow_self=True)
    net.connect(inh, [exc, inh], ns.connect.fixed_in_degree(k_inh), weight=W_INH * scale, receptor="inh",
                allow_self=True)
    return net


def measure(n: int, in_degree: int, backend: str, duration: float, seed: int) -> dict:
    t0 = time.perf_counter()
    net = build(n, in_degree, seed)
    build_s = time.perf_counter() - t0
    warm = net.run(1.0, backend=backend, progress=False)  # compile / load caches, copy to the device
    net = build(n, in_degree, seed)
    result = net.run(duration, backend=backend, progress=False)
    wall = result.info["simulate_s"]
    events = result.info["synaptic_events"]
    return {"backend": backend, "n": n, "build_s": build_s, "compile_s": warm.info["compile_s"], "wall_s": wall,
            "spikes": result.spike_count(), "events": events, "events_per_s": events / wall,
            "rate_hz": result.spike_count() / n / (duration * 1e-3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6])
    parser.add_argument("--in-degree", type=int, default=100)
    parser.add_argument("--duration", type=float, default=1000.0, help="biological time, ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-numba-above", type=float, default=float("inf"),
                        help="do not run numba for N above this (it takes minutes at 1e6 on a small CPU)")
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    print(f"machine: {platform.node()}, CPU {cpu_name()} ({os.cpu_count()} cores), GPU {gpu or 'none'}; "
          f"torch {torch.__version__}; in-degree {args.in_degree}, {args.duration:g} ms, dt 0.1 ms")
    print(f"{'N':>9} {'backend':>7} {'wall s':>9} {'compile s':>9} {'spikes':>11} {'events':>13} {'events/s':>10} "
          f"{'rate Hz':>8}")
    for size in args.sizes:
        n = int(size)
        rows = {}
        for backend in ("numba", "triton"):
            if backend == "triton" and gpu is None:
                print(f"{n:>9} {backend:>7}  not yet measured (no CUDA GPU on this machine)")
                continue
            if backend == "numba" and n > args.skip_numba_above:
                print(f"{n:>9} {backend:>7}  skipped (--skip-numba-above)")
                continue
            r = rows[backend] = measure(n, args.in_degree, backend, args.duration, args.seed)
            print(f"{n:>9} {backend:>7} {r['wall_s']:9.3f} {r['compile_s']:9.2f} {r['spikes']:11d} {r['events']:13d} "
                  f"{r['events_per_s']:10.3g} {r['rate_hz']:8.2f}", flush=True)
        if len(rows) == 2:
            a, b = rows["numba"], rows["triton"]
            agree = abs(a["spikes"] - b["spikes"]) <= 0.02 * max(a["spikes"], 1)
            print(f"{n:>9} ratio numba/triton wall time: {a['wall_s'] / b['wall_s']:.1f}x; spike counts agree within "
                  f"2 %: {agree}")
    print("Brian2CUDA / GeNN: not installed here, not compared.")


if __name__ == "__main__":
    main()
