"""The numba engine on 1 thread against N threads, on the same networks, in one process.

Network: that of ``bench_gpu.py`` (CUBA-style LIF, 80 % excitatory, fixed in-degree, weights
scaled by 80 / in-degree) at each ``--sizes`` N. For every size, ``--repeats`` rounds
alternate a run on one thread and a run on ``--threads`` threads (default: all of Numba's),
each of a freshly built network with the same seed, so both do the same work; the time is the
run loop (``result.info["simulate_s"]``). Prints min and median per setting, the ratio
(one thread / N threads), and checks that both gave the same spikes (they must: the delivery is
split by target neuron, see ``Network.run``).

    python benchmarks/bench_threads.py                       # 1e5 and 1e6 neurons, 200 ms
    python benchmarks/bench_threads.py --sizes 2e4 1e5 --duration 1000

A measurement script, not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numba
import numpy as np

from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs
from bench_gpu import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--in-degree", type=int, default=100)
    parser.add_argument("--duration", type=float, default=200.0, help="biological time, ms")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, CPU {cpu_name()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d %H:%M')}; "
          f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads); in-degree {args.in_degree}, "
          f"{args.duration:g} ms, dt 0.1 ms, {args.repeats} alternating rounds")
    print(f"{'N':>9} {'threads':>7} {'min s':>8} {'median s':>8} {'ratio 1/T (min, median)':>24} {'same spikes':>11}")
    for size in args.sizes:
        n = int(size)
        build(min(n, 2000), args.in_degree, args.seed).run(1.0, progress=False, threads=1)  # load the kernels
        build(min(n, 2000), args.in_degree, args.seed).run(1.0, progress=False, threads=args.threads)
        times = {1: [], args.threads: []}
        spikes = {}
        for _ in range(args.repeats):
            for threads in (1, args.threads):
                result = build(n, args.in_degree, args.seed).run(args.duration, progress=False, threads=threads)
                times[threads].append(result.info["simulate_s"])
                trains = (result.spikes["exc"].times, result.spikes["exc"].indices, result.spikes["inh"].indices)
                same = all(np.array_equal(a, b) for a, b in zip(trains, spikes.setdefault(threads, trains)))
                spikes["same"] = spikes.get("same", True) and same
        agree = spikes["same"] and all(np.array_equal(a, b) for a, b in zip(spikes[1], spikes[args.threads]))
        one, many = times[1], times[args.threads]
        for threads, t in times.items():
            ratio = (f"{min(one) / min(many):.2f}x, {statistics.median(one) / statistics.median(many):.2f}x"
                     if threads != 1 else "")
            print(f"{n:>9} {threads:>7} {min(t):8.3f} {statistics.median(t):8.3f} {ratio:>24} "
                  f"{('yes' if agree else 'NO') if threads != 1 else '':>11}", flush=True)


if __name__ == "__main__":
    main()
