"""Sweeps on Dask: scaling from 1 to 2 workers, and the per-run overhead of the Dask path.

1. Scaling: 16 CUBA runs (N = ``--n`` neurons, ``--duration`` ms, we from 1.0 to 2.5 mV: about
   5 s each on one core) swept on a LocalCluster of 1 worker, then of 2 workers (each worker
   one process, one thread). The cluster is started and each worker warmed up (one untimed run: imports, Numba's
   cache) first; the time is the sweep's own (``Sweep.run`` with that client: submission,
   runs, results stored). Also printed: cluster start-up and warm-up. Speed-up = t1 / t2.
2. Overhead: ``--tiny`` CUBA runs of 100 neurons for 10 ms (a few ms of work each), run once as
   a plain loop in this process (``run_point`` + the same atomic store write per run) and once
   through Dask with 1 warmed worker; overhead per run = (t_dask - t_loop) / runs.

    python benchmarks/bench_sweep.py                 # ~2 min on a 2-core machine

This is a measurement script, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs
from neurosim.sweeps import Sweep, SweepSpec, SweepStore, connect, linspace, run_point


def warmed_client(workers: int):
    t0 = time.perf_counter()
    client, cluster = connect(workers=workers)
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    # one small run per worker: imports, Numba's on-disk cache
    client.run(lambda: run_point("cuba", {"n": 100, "duration": 10.0}, 1, "warm-up", 1))
    return client, cluster, started, time.perf_counter() - t0


def timed_sweep(spec: SweepSpec, client) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        Sweep(spec, os.path.join(tmp, "s")).run(client=client, progress=False)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--tiny", type=int, default=100, help="runs of the overhead measurement")
    args = parser.parse_args()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores")

    heavy = SweepSpec.make("cuba", grid={"we": linspace(1.0, 2.5, 8)}, seeds=2,
                           fixed={"n": args.n, "duration": args.duration})
    times = {}
    for workers in (1, 2):
        client, cluster, started, warm = warmed_client(workers)
        try:
            times[workers] = timed_sweep(heavy, client)
        finally:
            client.close()
            cluster.close()
        print(f"16 runs (CUBA N={args.n}, {args.duration:g} ms) on {workers} worker(s): {times[workers]:.2f} s "
              f"(cluster start {started:.2f} s, warm-up {warm:.2f} s, not included)", flush=True)
    print(f"speed-up 1 -> 2 workers: {times[1] / times[2]:.2f}x")

    tiny = SweepSpec.make("cuba", grid={"we": linspace(1.0, 2.0, args.tiny)}, fixed={"n": 100, "duration": 10.0})
    with tempfile.TemporaryDirectory() as tmp:
        store = SweepStore(os.path.join(tmp, "loop"), tiny)
        store.create()
        t0 = time.perf_counter()
        for key, params, seed in tiny.tasks():
            store.write(run_point("cuba", params, seed, key, 1))
        t_loop = time.perf_counter() - t0
    client, cluster, _, _ = warmed_client(1)
    try:
        t_dask = timed_sweep(tiny, client)
    finally:
        client.close()
        cluster.close()
    print(f"{args.tiny} tiny runs: plain loop {t_loop:.3f} s ({1e3 * t_loop / args.tiny:.1f} ms/run), Dask with 1 "
          f"worker {t_dask:.3f} s; Dask overhead {1e3 * (t_dask - t_loop) / args.tiny:.1f} ms per run")


if __name__ == "__main__":
    main()
