"""Time to first spike: ``neurosim run cuba`` as a whole process against a Brian2 script of
the same network, each run as a fresh process (issue 22, point 5).

Configurations (each a subprocess; the time is its wall clock, start to exit)
    neurosim run cuba            ``python -m neurosim run cuba --out DIR`` (the ``neurosim``
                                 command, run from this checkout): builds the CUBA network, runs
                                 1 s with the numba backend, prints the metrics, writes
                                 raster.png, summary.json, result.npz.
    neurosim run cuba --no-plot  the same without the raster (no matplotlib).
    brian2 CUBA script           Brian2's examples/CUBA.py (the model of ``brian_cuba`` in
                                 bench_engine.py) in runtime mode with Brian2's default code
                                 generation target (which one is printed), a SpikeMonitor, 1 s;
                                 prints the rate, writes the spikes (npz) and a JSON summary.
    brian2 CUBA script --plot    the same, plus the example's raster, saved as PNG (matplotlib,
                                 Agg), as neurosim's raster.png.

Every configuration runs once first, untimed (Numba's and Brian2's on-disk caches warm,
Python's bytecode cache written, files in the OS cache), then ``--repeats`` times, interleaved (a, b, c, d, a, b, ...) so a change in
the machine's load hits all alike; reported: min and median, and the ratios Brian2 / neurosim
(min / min, median / median).

Also measured, once each: the first-ever run on a machine -- ``neurosim run cuba --no-plot``
with empty ``NUMBA_CACHE_DIR`` and ``NEUROSIM_CACHE_DIR`` (generated kernel sources and every
Numba function compiled), then again with those caches filled; and Brian2's first run with an
empty Cython cache (``codegen.runtime.cython.cache_dir``).

    python benchmarks/bench_startup.py               # ~2-3 minutes on a 2-core machine
    python benchmarks/bench_startup.py --repeats 3 --skip-first-compile

This is a measurement script, not a test: nothing here asserts on time. Run it on a quiet
machine (``uptime``: load well below 1).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Brian2's examples/CUBA.py (runtime mode, default target), with its outputs written like
#: neurosim's (spikes, a JSON summary; with --plot the example's raster as a PNG).
BRIAN2_CUBA = r'''
import json, sys, time
t_start = time.perf_counter()
from brian2 import *

out, draw = sys.argv[1], "--plot" in sys.argv
if len(sys.argv) > 2 and sys.argv[2].startswith("--cache-dir="):
    prefs.codegen.runtime.cython.cache_dir = sys.argv[2].split("=", 1)[1]
seed(1)
defaultclock.dt = 0.1 * ms
taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
eqs = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""
P = NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact")
P.v = "Vr + rand() * (Vt - Vr)"
P.ge = 0 * mV
P.gi = 0 * mV
we = (60 * 0.27 / 10) * mV  # excitatory synaptic weight (voltage)
wi = (-20 * 4.5 / 10) * mV  # inhibitory synaptic weight
Ce = Synapses(P, P, on_pre="ge += we")
Ci = Synapses(P, P, on_pre="gi += wi")
Ce.connect("i<3200", p=0.02)
Ci.connect("i>=3200", p=0.02)
s_mon = SpikeMonitor(P)
run(1 * second)

import numpy as np
np.savez(out + ".npz", t=np.asarray(s_mon.t / ms), i=np.asarray(s_mon.i))
if draw:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.plot(s_mon.t / ms, s_mon.i, ",k")
    plt.xlabel("Time (ms)")
    plt.ylabel("Neuron index")
    plt.savefig(out + ".png")
target = get_device().code_object_class().class_name
summary = {"spike_count": int(s_mon.num_spikes), "rate_hz": s_mon.num_spikes / 4000.0, "target": target,
           "brian2": __import__("brian2").__version__, "in_process_s": time.perf_counter() - t_start}
with open(out + ".json", "w") as f:
    json.dump(summary, f)
print(json.dumps(summary))
'''


#: The environment of every run: this one, except that Python may write its bytecode cache
#: (__pycache__), as it does for a user; without it (PYTHONDONTWRITEBYTECODE set, as on some
#: CI and sandbox machines) every run compiles neurosim's own sources again (~0.1 s).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall time of the whole process ``cmd`` (s) and its stdout; a failed run stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV if env is None else env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def stats(values) -> str:
    return f"min {min(values):6.3f} s, median {statistics.median(values):6.3f} s"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--skip-first-compile", action="store_true",
                        help="skip the first-ever runs with empty caches (Numba ~10-20 s, Cython ~10-30 s)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    py = sys.executable
    work = tempfile.mkdtemp(prefix="neurosim-bench-startup-")
    script = os.path.join(work, "brian2_cuba.py")
    with open(script, "w") as f:
        f.write(BRIAN2_CUBA)
    configs = {
        "neurosim run cuba": [py, "-m", "neurosim", "run", "cuba", "--out", os.path.join(work, "ns")],
        "neurosim run cuba --no-plot": [py, "-m", "neurosim", "run", "cuba", "--no-plot", "--out",
                                        os.path.join(work, "ns-no-plot")],
        "brian2 CUBA script": [py, script, os.path.join(work, "b2")],
        "brian2 CUBA script --plot": [py, script, os.path.join(work, "b2-plot"), "--plot"],
    }

    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {cpu_name()}; load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python {platform.python_version()}"
          + ("; PYTHONDONTWRITEBYTECODE is set here, not in the runs" if "PYTHONDONTWRITEBYTECODE" in os.environ
             else ""))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    print(f"checkout: {ROOT} at {commit.stdout.strip() or '?'}")
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    for name, cmd in configs.items():
        print(f"  {name:28s} = {' '.join(os.path.basename(c) if c in (py, script) else c for c in cmd)}")

    # Warm-up: one untimed run each (caches filled, files in the OS cache); checks they all work.
    outputs = {name: run_timed(cmd)[1] for name, cmd in configs.items()}
    b2_info = json.loads(outputs["brian2 CUBA script"].strip().splitlines()[-1])
    ns_info = json.loads(outputs["neurosim run cuba --no-plot"])
    print(f"brian2 {b2_info['brian2']}, code generation target {b2_info['target']!r} (runtime mode); "
          f"spikes: brian2 {b2_info['spike_count']}, neurosim {ns_info['spike_count']}")

    times = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name, cmd in configs.items():
            times[name].append(run_timed(cmd)[0])
    print(f"\nwhole process, {args.repeats} interleaved runs each (warm caches):")
    for name, values in times.items():
        print(f"  {name:28s} {stats(values)}")

    def ratio(b2_name, ns_name):
        best = min(times[b2_name]) / min(times[ns_name])
        med = statistics.median(times[b2_name]) / statistics.median(times[ns_name])
        print(f"  {b2_name:26s} / {ns_name:28s} {best:5.2f}x (min/min), {med:5.2f}x (median/median)")
        return best, med

    print("\nratios (Brian2 / neurosim; the issue's target: >= 3x):")
    ratios = {
        "with plot": ratio("brian2 CUBA script --plot", "neurosim run cuba"),
        "no plot": ratio("brian2 CUBA script", "neurosim run cuba --no-plot"),
        "neurosim plot vs brian2 no plot": ratio("brian2 CUBA script", "neurosim run cuba"),
    }

    first = {}
    if not args.skip_first_compile:
        print("\nfirst-ever run on a machine (empty caches), once each:")
        caches = tempfile.mkdtemp(prefix="neurosim-bench-startup-cache-")
        env = dict(ENV, NUMBA_CACHE_DIR=os.path.join(caches, "numba"),
                   NEUROSIM_CACHE_DIR=os.path.join(caches, "neurosim"))
        cmd = configs["neurosim run cuba --no-plot"]
        first["neurosim"], out = run_timed(cmd, env)
        compile_s = json.loads(out).get("compile_s")
        first["neurosim, caches filled"] = run_timed(cmd, env)[0]
        print(f"  neurosim run cuba --no-plot, empty NUMBA_CACHE_DIR/NEUROSIM_CACHE_DIR: {first['neurosim']:6.2f} s "
              f"(of which compile_s {compile_s:.2f} s as the run reports); the next run: "
              f"{first['neurosim, caches filled']:5.2f} s")
        b2_cmd = configs["brian2 CUBA script"] + [f"--cache-dir={os.path.join(caches, 'cython')}"]
        first["brian2"] = run_timed(b2_cmd)[0]
        first["brian2, caches filled"] = run_timed(b2_cmd)[0]
        print(f"  brian2 CUBA script, empty Cython cache: {first['brian2']:6.2f} s; the next run: "
              f"{first['brian2, caches filled']:5.2f} s")
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return {"times": times, "ratios": ratios, "first": first, "brian2_target": b2_info["target"]}


if __name__ == "__main__":
    main()
