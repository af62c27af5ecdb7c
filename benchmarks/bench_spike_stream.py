"""Resident memory of a long spike recording, in memory against streamed to disk
(``Network.run(..., stream_spikes_to=folder)``).

Work: a Poisson population of ``--n`` neurons at ``--rate`` Hz, dt = 1 ms, 10 ms chunks, run long
enough for ``--spikes`` spikes in total (10^8 by default: 10^5 neurons at 100 Hz for 10 s). A
thread samples the process's resident set size (VmRSS) every 0.1 s; the script prints the RSS
at the start and at each tenth of the run, and the peak. Each configuration runs in a fresh
subprocess so the peaks do not mix.

Run: ``python benchmarks/bench_spike_stream.py [--spikes 1e8] [--mode both|stream|memory]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one(mode: str, n: int, rate: float, spikes: float) -> dict:
    import neurosim as ns

    duration = spikes / (n * rate) * 1e3  # ms
    net = ns.Network(dt=1.0, seed=0)
    net.population("poisson", ns.PoissonSource(n, rate=rate))
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.perf_counter(), rss_mb()))
            time.sleep(0.1)

    net.run(10.0, progress=False)  # warm-up: compile / load the kernel
    thread = threading.Thread(target=sample, daemon=True)
    start_rss, t0 = rss_mb(), time.perf_counter()
    thread.start()
    with tempfile.TemporaryDirectory(dir=os.environ.get("SPIKE_DIR")) as folder:
        kw = {"stream_spikes_to": folder} if mode == "stream" else {}
        result = net.run(duration, progress=False, chunk_ms=10.0, **kw)
        wall = time.perf_counter() - t0
        stop.set()
        thread.join()
        n_spikes = len(result.spikes["poisson"])
        disk = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    tenths = [min(samples, key=lambda s: abs(s[0] - (t0 + wall * k / 10)))[1] for k in range(1, 11)]
    return {"mode": mode, "spikes": n_spikes, "simulated_ms": duration, "wall_s": wall, "rss_start_mb": start_rss,
            "rss_tenths_mb": tenths, "rss_peak_mb": max(s[1] for s in samples), "disk_mb": disk / 2**20}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--spikes", type=float, default=1e8)
    parser.add_argument("--mode", default="both", choices=["both", "stream", "memory"])
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.n, args.rate, args.spikes)))
        return
    modes = ["stream", "memory"] if args.mode == "both" else [args.mode]
    for mode in modes:
        out = subprocess.run([sys.executable, __file__, "--one", mode, "--n", str(args.n), "--rate", str(args.rate),
                              "--spikes", str(args.spikes)], capture_output=True, text=True)
        if out.returncode:
            print(f"{mode}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{mode:>7}: {r['spikes']:.3g} spikes in {r['wall_s']:.1f} s; RSS start {r['rss_start_mb']:.0f} MB, "
              f"at each tenth {[round(x) for x in r['rss_tenths_mb']]} MB, peak {r['rss_peak_mb']:.0f} MB; "
              f"on disk {r['disk_mb']:.0f} MB")


if __name__ == "__main__":
    main()
