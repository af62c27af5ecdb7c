"""Plastic synapses: neurosim's event-driven engine against Brian2, in one process, same work.

Issue 21, acceptance 4: the aim is neurosim numba >= 2x faster than Brian2 cpp_standalone.

Networks (``examples/stdp_song.py``; Brian2 runs ``stdp_song.brian2_network``, the example's own
equations, ``on_pre``/``on_post`` and ``(event-driven)`` traces)
    STDP.py         Song, Miller & Abbott (2000) as Brian2's ``examples/synapses/STDP.py``: 1000
                    Poisson inputs at 15 Hz onto 1 conductance-based LIF, all-to-all additive STDP
                    (1000 plastic synapses), dt = 0.1 ms.
    scaled          the same with ``--scaled-neurons`` (default 100) neurons, each receiving all
                    ``--scaled-inputs`` (default 1000) inputs: 100 000 plastic synapses; every
                    input spike runs ``on_pre`` on 100 synapses, every post spike ``on_post`` on
                    1000.
    Each simulator draws its own Poisson inputs (neurosim ``PoissonSource``, Brian2
    ``PoissonGroup``) and initial weights (uniform in [0, g_max]); the work is the same in
    distribution, and the mean post rates printed show it.

Simulators
    neurosim numba      ``Network.run(backend="numba")``; time = ``result.info["simulate_s"]`` (the
                        run loop; building and flattening the network excluded). A short warm-up
                        run per network first (kernel compile or cache load), reported apart.
    brian2 standalone   cpp_standalone, single thread, Brian2's default flags. Built once per
                        network (code generation + compilation timed and printed, not counted);
                        time = the binary's own measurement of its simulation loop
                        (``device._last_run_time``); the whole binary's wall time is printed too.
    brian2 cython       Brian2's default runtime target (``--skip-cython`` leaves it out); a first
                        run fills the code cache and is not counted; time = ``_last_run_time``.

The timed runs are interleaved (repeat k runs neurosim, then the standalone binary, then
Brian2 cython), so a slower or busier stretch of the machine falls on all of them alike.
Reported: min and median of each, and the ratios Brian2 / neurosim (min / min, median / median).

    python benchmarks/bench_plasticity.py                         # both networks, 5 repeats
    python benchmarks/bench_plasticity.py --repeats 2 --duration 2000 --scaled-duration 500

This is a measurement script, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

import neurosim as ns
from bench_engine import cpu_name, stats  # benchmarks/ is on the path when this script runs
from neurosim.examples import stdp_song as example

AIM = 2.0  # acceptance 4: neurosim numba >= 2x faster than Brian2 cpp_standalone


@dataclass
class Measurement:
    name: str
    times: list = field(default_factory=list)  # s, the timed quantity (run loop)
    rates: list = field(default_factory=list)  # mean post rate of each timed run, Hz
    notes: list = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


class NeurosimRunner:
    def __init__(self, n_neurons: int, n_inputs: int, duration: float, seed: int):
        self.n_neurons, self.n_inputs, self.duration, self.seed = n_neurons, n_inputs, duration, seed
        self.m = Measurement("neurosim numba")
        self.builds, self.totals = [], []
        t0 = time.perf_counter()
        net, _ = example.build(seed=seed, n_inputs=n_inputs, n_neurons=n_neurons)
        warm = net.run(10 * net.dt, backend="numba", progress=False)  # kernel compile or cache load
        compile_s = warm.info.get("compile_s")
        self.m.notes.append(f"warm-up (first run in this process): {time.perf_counter() - t0:.2f} s"
                            + (f", of which kernel compile / cache load {compile_s:.2f} s" if compile_s else ""))

    def run(self, k: int) -> None:
        t0 = time.perf_counter()
        net, _ = example.build(seed=self.seed + k, n_inputs=self.n_inputs, n_neurons=self.n_neurons)
        t1 = time.perf_counter()
        result = net.run(self.duration, backend="numba", progress=False)
        self.builds.append(t1 - t0)
        self.totals.append(time.perf_counter() - t1)
        self.m.times.append(result.info["simulate_s"])
        self.m.rates.append(result.mean_rate(example.NEURON))

    def finish(self) -> Measurement:
        self.m.notes.append(f"whole net.run() call (incl. flattening): {stats(self.totals)}; building the network: "
                            f"{stats(self.builds)}")
        return self.m


class StandaloneRunner:
    """Brian2 cpp_standalone: the project is generated and compiled once; each timed run runs the
    binary again (it draws its own random numbers). The device object is kept, so the runtime
    device can be active in between (Brian2 cython's runs)."""

    def __init__(self, b2, n_neurons: int, n_inputs: int, duration: float):
        self.b2, self.n_neurons, self.duration = b2, n_neurons, duration
        self.m = Measurement("brian2 cpp_standalone")
        self.binaries = []
        self.directory = tempfile.mkdtemp(prefix="neurosim-bench-plasticity-")
        b2.set_device("cpp_standalone", directory=self.directory, build_on_run=False)
        try:
            self.device = b2.get_device()
            self.device.reinit()
            self.device.activate(directory=self.directory, build_on_run=False)
            t0 = time.perf_counter()
            net, _, _, self.spikes = example.brian2_network(b2, n_inputs=n_inputs, n_neurons=n_neurons, record=None)
            net.run(duration * b2.ms, namespace={})  # recorded into the project, not run
            t1 = time.perf_counter()
            self.device.build(directory=self.directory, compile=True, run=False, with_output=False)
            t2 = time.perf_counter()
        finally:
            b2.set_device("runtime")
        self.m.notes.append(f"build: {t2 - t1:.1f} s (code generation + compilation; not counted; describing the "
                            f"network {t1 - t0:.2f} s)")

    def run(self, k: int) -> None:
        self.device.run(directory=self.directory, with_output=False)
        self.m.times.append(self.device._last_run_time)
        self.binaries.append(self.device.timers["run_binary"])
        self.m.rates.append(len(self.spikes.t[:]) / (self.n_neurons * self.duration * 1e-3))

    def finish(self, keep: bool = False) -> Measurement:
        self.m.notes.append(f"whole binary (start-up, synapse creation, run, writing results): {stats(self.binaries)}")
        self.device.reinit()
        self.device.activate()
        self.b2.set_device("runtime")
        if not keep:
            shutil.rmtree(self.directory, ignore_errors=True)
        return self.m


class CythonRunner:
    def __init__(self, b2, n_neurons: int, n_inputs: int, duration: float, seed: int):
        self.b2, self.n_neurons, self.n_inputs, self.duration, self.seed = b2, n_neurons, n_inputs, duration, seed
        self.m = Measurement("brian2 cython")
        self.totals = []
        t0 = time.perf_counter()
        self._once(seed, 10 * example.DT)  # fills the code cache (Cython compile if not cached)
        self.m.notes.append(f"warm-up (code generation + Cython compile if not cached): {time.perf_counter() - t0:.1f} s")

    def _once(self, seed: int, duration: float):
        b2 = self.b2
        b2.prefs.codegen.target = "cython"
        b2.seed(seed)
        net, _, _, spikes = example.brian2_network(b2, n_inputs=self.n_inputs, n_neurons=self.n_neurons, record=None)
        t0 = time.perf_counter()
        net.run(duration * b2.ms, namespace={})
        return time.perf_counter() - t0, spikes

    def run(self, k: int) -> None:
        total, spikes = self._once(self.seed + k, self.duration)
        self.totals.append(total)
        self.m.times.append(self.b2.device._last_run_time)
        self.m.rates.append(len(spikes.t[:]) / (self.n_neurons * self.duration * 1e-3))

    def finish(self) -> Measurement:
        self.m.notes.append(f"whole net.run() call (before_run + loop): {stats(self.totals)}")
        return self.m


def report(label: str, ours: Measurement, others: list[Measurement]) -> list[dict]:
    head = (f"{'configuration':22s} {'min s':>8s} {'median s':>9s}  {'post Hz':>8s}  {'runs':>4s}  "
            f"{'brian2/neurosim min':>19s}  {'median':>7s}")
    print(f"== {label}")
    print(head)
    print("-" * len(head))
    print(f"{ours.name:22s} {ours.best:8.4f} {ours.median:9.4f}  {np.mean(ours.rates):8.2f}  {len(ours.times):4d}  "
          f"{'1.0x':>19s}  {'1.0x':>7s}")
    rows = []
    for m in others:
        ratio, ratio_med = m.best / ours.best, m.median / ours.median
        print(f"{m.name:22s} {m.best:8.4f} {m.median:9.4f}  {np.mean(m.rates):8.2f}  {len(m.times):4d}  "
              f"{ratio:18.2f}x  {ratio_med:6.2f}x")
        rows.append(dict(network=label, config=m.name, best=m.best, median=m.median, ratio=ratio,
                         ratio_median=ratio_med))
    print()
    for m in [ours, *others]:
        for note in m.notes:
            print(f"  {m.name}: {note}")
    print()
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--duration", type=float, default=10_000.0, help="model time of STDP.py, ms (default 10 s)")
    parser.add_argument("--scaled-duration", type=float, default=2_000.0,
                        help="model time of the scaled network, ms (default 2 s)")
    parser.add_argument("--scaled-neurons", type=int, default=100, help="neurons of the scaled network (default 100)")
    parser.add_argument("--scaled-inputs", type=int, default=1000, help="inputs of the scaled network (default 1000)")
    parser.add_argument("--networks", default="stdp,scaled", help="comma-separated: stdp, scaled")
    parser.add_argument("--seed", type=int, default=1, help="first seed; run k uses seed + k")
    parser.add_argument("--skip-cython", action="store_true", help="leave out Brian2's cython runtime target")
    parser.add_argument("--skip-standalone", action="store_true", help="leave out Brian2 cpp_standalone")
    parser.add_argument("--keep-standalone", action="store_true", help="keep the standalone project folders")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    sizes = {"stdp": (1, example.N_INPUTS, args.duration),
             "scaled": (args.scaled_neurons, args.scaled_inputs, args.scaled_duration)}
    for n in networks:
        if n not in sizes:
            parser.error(f"unknown network {n!r}; choose from {sorted(sizes)}")

    import brian2 as b2
    import numba

    b2.prefs.logging.console_log_level = "WARNING"
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, brian2 {b2.__version__}, "
          f"numba {numba.__version__}, neurosim {ns.__version__}")
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"{args.repeats} timed runs per configuration, interleaved; times: the simulation loop (min and median); "
          f"numba threads available {numba.get_num_threads()}, Brian2 cpp_standalone OpenMP threads "
          f"{b2.prefs.devices.cpp_standalone.openmp_threads} (0: one thread)\n")
    rows = []
    for key in networks:
        n_neurons, n_inputs, duration = sizes[key]
        label = (f"{'STDP.py' if key == 'stdp' else 'scaled STDP'}: {n_inputs} Poisson inputs (15 Hz) x {n_neurons} "
                 f"neuron{'s' if n_neurons > 1 else ''}, {n_inputs * n_neurons} plastic synapses, {duration:g} ms")
        ours = NeurosimRunner(n_neurons, n_inputs, duration, args.seed)
        peers = []
        if not args.skip_standalone:
            try:
                peers.append(StandaloneRunner(b2, n_neurons, n_inputs, duration))
            except Exception as exc:  # no compiler, failed build: report and go on with the rest
                print(f"brian2 cpp_standalone failed for {key}: {type(exc).__name__}: {exc}\n")
        if not args.skip_cython:
            peers.append(CythonRunner(b2, n_neurons, n_inputs, duration, args.seed))
        for k in range(args.repeats):
            ours.run(k)
            for peer in peers:
                peer.run(k)
        others = [p.finish(args.keep_standalone) if isinstance(p, StandaloneRunner) else p.finish() for p in peers]
        rows += report(label, ours.finish(), others)
    standalone = [r for r in rows if r["config"] == "brian2 cpp_standalone"]
    if standalone:
        print(f"aim (issue 21, point 4): neurosim numba >= {AIM:g}x faster than Brian2 cpp_standalone's run loop")
        for r in standalone:
            print(f"  {r['network'].split(':')[0]:12s}: {r['ratio']:5.2f}x min/min, {r['ratio_median']:5.2f}x "
                  f"median/median: {'met' if r['ratio'] >= AIM else 'NOT met'}")
    return rows


if __name__ == "__main__":
    main()
