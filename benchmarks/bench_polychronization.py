"""Izhikevich (2006) polychronization network with STDP: neurosim against Brian2, same work.

The network and rule of ``neurosim run polychronization`` (``examples/polychronization.py``):
1000 Izhikevich neurons (800 RS, 200 FS), 100 targets each, 80 000 plastic excitatory
synapses with delays 1..20 ms (IzhikevichSTDP: traces, ``sd`` accumulated per pairing, ``w``
and ``sd`` updated once per second), 20 000 static inhibitory ones, one thalamic pulse of 20
per ms, dt = 1 ms.

Simulators (one process, interleaved: every round runs each configuration once)
    neurosim numba      ``Network.run(backend="numba")`` on a freshly built network; time =
                        ``result.info["simulate_s"]`` (the run loop). One warm-up run first
                        (kernel compile or cache load), reported apart.
    brian2 cython       Brian2's runtime with its Cython target; time = the simulation loop as
                        Brian2 measures it (``device._last_run_time``); the whole ``net.run()``
                        call is printed too. A warm-up run first fills Brian2's code cache.
    brian2 standalone   cpp_standalone (one thread, Brian2's default flags), built once (build
                        time printed), the binary run once per round; time = the binary's own
                        measurement of its run loop (``device._last_run_time``); the whole
                        binary is printed too.

The Brian2 network is written here from the model (not exported by neurosim): a NeuronGroup
with ``run_regularly`` update code (two 0.5 ms Euler half-steps of v in neurosim's
floating-point order, then u; the currents ``I_exc``, ``I_inh`` cleared after the update:
one-step pulses), threshold
``v >= 30``, reset ``v = c; u += d``; Synapses with ``on_pre`` / ``on_post`` and
event-driven traces (Brian2 decays them exactly to the event's time, as neurosim's
``elapsed``), ``delay = (d - 1) ms`` for neurosim's ``d`` ms (neurosim's delay counts the
arrival step), and a ``run_regularly`` every second (``when="start"`` of the step at each
whole second, i.e. after the step that ends there; skipping t = 0) for ``w`` and ``sd``;
the thalamic pulses come from a SpikeGeneratorGroup with neurosim's indices. Connectivity,
delays and thalamic input are read from the neurosim network's description, so both
simulate the same network; before timing, one run of each is compared (rates, spikes,
weight statistics after ``--duration``) and printed, so the comparison is fair.

Reported: model seconds per wall second of each configuration (best = from the min time,
and the median), and the ratios neurosim / Brian2.

    python benchmarks/bench_polychronization.py                       # 10 s, 3 rounds (~ a few min)
    python benchmarks/bench_polychronization.py --duration 2000 --repeats 2 --skip-standalone

A measurement script, not a test: nothing asserts on time.
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

import numpy as np

from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs
from neurosim.examples import polychronization as P
from neurosim.plasticity.synapses import IZHIKEVICH_TRACE_TAU

# neurosim's step (model_library.IZHIKEVICH_MODEL) with substeps = 2 at dt = 1 ms, same order
_IZH_UPDATE = """
I = I_exc + I_inh
v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + I)
v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + I)
u = u + 1.0 * (a * (0.2 * v - u))
I_exc = 0
I_inh = 0
"""


def describe(seed: int, duration_ms: float):
    """The neurosim network and the arrays a Brian2 twin needs (global neuron indices)."""
    built = P.build(seed=seed, duration=duration_ms)
    n_exc = len(built.exc)
    arrays = {}
    pre, post, delay, weight = [], [], [], []
    for proj in built.plastic:
        offset = 0 if proj.target_population is built.exc else n_exc
        pre.append(proj.sources())
        post.append(proj.target + offset)
        delay.append(proj.delay)
        weight.append(proj.weight)
    arrays["exc"] = tuple(np.concatenate(x) for x in (pre, post, delay, weight))
    p = built.inhibitory
    arrays["inh"] = (p.sources() + n_exc, p.target, p.delay, p.weight)
    thal = built.net.populations["thalamus"].model
    arrays["thalamus"] = (thal.indices, thal.times)
    return built, arrays


def brian_network(b2, arrays, n_exc: int = P.N_EXC, n_inh: int = P.N_INH):
    """The same network in Brian2 (see the module docstring). Returns (network, spike monitor,
    plastic synapses)."""
    b2.defaultclock.dt = 1 * b2.ms
    n = n_exc + n_inh
    G = b2.NeuronGroup(n, "v : 1\nu : 1\na : 1 (constant)\nd : 1 (constant)\nI : 1\nI_exc : 1\nI_inh : 1",
                       threshold="v >= 30", reset="v = -65.0\nu = u + d")
    G.a = np.r_[np.full(n_exc, 0.02), np.full(n_inh, 0.1)]
    G.d = np.r_[np.full(n_exc, 8.0), np.full(n_inh, 2.0)]
    G.v = -65.0
    G.u = -13.0
    G.run_regularly(_IZH_UPDATE, when="start")  # before the thresholder, as neurosim's step
    ns_ = {"a_plus": 0.1, "a_minus": 0.12, "tau": IZHIKEVICH_TRACE_TAU * b2.ms}
    pre, post, delay, weight = arrays["exc"]
    S = b2.Synapses(G, G, """
        w : 1
        sd : 1
        dpre_trace/dt = -pre_trace / tau : 1 (event-driven)
        dpost_trace/dt = -post_trace / tau : 1 (event-driven)
        """,
        on_pre="I_exc_post += w\nsd = sd - a_minus * post_trace\npre_trace = 1.0",
        on_post="sd = sd + a_plus * pre_trace\npost_trace = 1.0",
        namespace=ns_)
    S.connect(i=pre, j=post)
    S.w = weight
    S.delay = (delay - 1) * b2.ms  # neurosim's delay counts the arrival step
    # After the steps that end at whole seconds: at the start of the step at t = k s, k >= 1.
    S.run_regularly("w = int(t > 0.5*ms) * clip(w + 0.01 + sd, 0.0, 10.0) + int(t < 0.5*ms) * w\n"
                    "sd = (0.9 + int(t < 0.5*ms) * 0.1) * sd", dt=1 * b2.second, when="start", order=-1)
    pre_i, post_i, delay_i, weight_i = arrays["inh"]
    Si = b2.Synapses(G, G, "w : 1 (constant)", on_pre="I_inh_post += w")
    Si.connect(i=pre_i, j=post_i)
    Si.w = weight_i
    Si.delay = (delay_i - 1) * b2.ms
    idx, times = arrays["thalamus"]
    T = b2.SpikeGeneratorGroup(n, idx, times * b2.ms)
    St = b2.Synapses(T, G, on_pre=f"I_exc_post += {P.THALAMIC_I!r}")
    St.connect(j="i")
    mon = b2.SpikeMonitor(G)
    return b2.Network(G, S, Si, T, St, mon), mon, S


def outcome(spike_i, spike_t_ms, weights, n_exc: int, n_inh: int, duration_ms: float) -> dict:
    """Rates (Hz) and weight statistics of one run."""
    i = np.asarray(spike_i, dtype=np.int64)
    sec = duration_ms / 1000.0
    w = np.asarray(weights, dtype=float)
    return {"rate_exc": np.sum(i < n_exc) / (n_exc * sec), "rate_inh": np.sum(i >= n_exc) / (n_inh * sec),
            "spikes": int(i.size), "mean_w": float(w.mean()), "frac_low": float(np.mean(w <= 1.0)),
            "frac_high": float(np.mean(w >= 9.0)),
            "_spikes": set(zip(np.rint(np.asarray(spike_t_ms)).astype(np.int64).tolist(), i.tolist())),
            "_w": w}


def pending_update(S, duration_ms: float) -> np.ndarray:
    """Brian2's weights as neurosim reports them after ``duration_ms``: neurosim's periodic
    update runs after the step that ends at each whole second, the last one included, while
    Brian2's ``run_regularly`` for that second would run at the start of the next step, after
    the run. Applied here (it changes no spike of the run)."""
    w = np.asarray(S.w[:], dtype=float)
    if duration_ms % 1000.0 == 0:
        w = np.clip(w + 0.01 + np.asarray(S.sd[:], dtype=float), 0.0, 10.0)
    return w


# ---- the three configurations ---------------------------------------------------------------
class Neurosim:
    name = "neurosim numba"

    def __init__(self, seed, duration_ms):
        self.seed, self.duration_ms = seed, duration_ms
        t0 = time.perf_counter()
        built = P.build(seed=seed, duration=duration_ms)
        built.net.run(10.0, progress=False)
        self.notes = [f"warm-up (kernel compile or cache load + network flattening): {time.perf_counter() - t0:.2f} s"]
        self.times, self.whole = [], []

    def run(self) -> dict:
        built = P.build(seed=self.seed, duration=self.duration_ms)
        t0 = time.perf_counter()
        r = built.net.run(self.duration_ms, backend="numba", progress=False)
        self.whole.append(time.perf_counter() - t0)
        self.times.append(r.info["simulate_s"])
        n = len(built.exc)
        i = np.concatenate([r.spikes["exc"].indices, r.spikes["inh"].indices + n])
        t = np.concatenate([r.spikes["exc"].times, r.spikes["inh"].times])
        # Brian2 orders synapses as given to connect: exc->exc then exc->inh, the same order
        return outcome(i, t, built.exc_weights(), n, len(built.inh), self.duration_ms)


class BrianCython:
    name = "brian2 cython"

    def __init__(self, b2, arrays, duration_ms):
        self.b2, self.arrays, self.duration_ms = b2, arrays, duration_ms
        b2.prefs.codegen.target = "cython"
        t0 = time.perf_counter()
        self._run()
        self.notes = [f"warm-up (code generation + Cython compile if not cached): {time.perf_counter() - t0:.2f} s"]
        self.times, self.whole = [], []

    def _run(self):
        b2 = self.b2
        b2.start_scope()
        net, mon, S = brian_network(b2, self.arrays)
        t0 = time.perf_counter()
        net.run(self.duration_ms * b2.ms)
        return time.perf_counter() - t0, mon, S

    def run(self) -> dict:
        self.b2.prefs.codegen.target = "cython"
        whole, mon, S = self._run()
        self.whole.append(whole)
        self.times.append(self.b2.device._last_run_time)
        return outcome(mon.i[:], mon.t[:] / self.b2.ms, pending_update(S, self.duration_ms), P.N_EXC, P.N_INH,
                       self.duration_ms)


class BrianStandalone:
    name = "brian2 cpp_standalone"

    def __init__(self, b2, arrays, duration_ms, keep: bool = False):
        self.b2, self.duration_ms, self.keep = b2, duration_ms, keep
        self.directory = tempfile.mkdtemp(prefix="neurosim-bench-poly-standalone-")
        b2.set_device("cpp_standalone", directory=self.directory, build_on_run=False)
        b2.device.reinit()
        b2.device.activate(directory=self.directory, build_on_run=False)
        t0 = time.perf_counter()
        net, self.mon, self.S = brian_network(b2, arrays)
        net.run(duration_ms * b2.ms)  # recorded into the project, not run
        t1 = time.perf_counter()
        b2.device.build(directory=self.directory, compile=True, run=False, with_output=False)
        self.notes = [f"build: {time.perf_counter() - t1:.1f} s (code generation + compilation; describing the "
                      f"network {t1 - t0:.2f} s)"]
        self.times, self.whole = [], []
        # Keep the built device and go back to the runtime device, so that the Brian2 runtime
        # runs can interleave with this binary's; the monitors read their results from this device.
        self.device = b2.get_device()
        b2.set_device("runtime")

    def run(self) -> dict:
        self.device.run(directory=self.directory, with_output=False)
        self.times.append(self.device._last_run_time)
        self.whole.append(self.device.timers["run_binary"])
        return outcome(self.mon.i[:], self.mon.t[:] / self.b2.ms, pending_update(self.S, self.duration_ms), P.N_EXC,
                       P.N_INH, self.duration_ms)

    def close(self):
        self.device.reinit()
        self.b2.set_device("runtime")
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)


def compare(ref: dict, other: dict) -> str:
    """How far ``other`` is from ``ref`` (neurosim): rates, spikes in common, weights."""
    common = len(ref["_spikes"] & other["_spikes"])
    same_w = float(np.mean(np.isclose(ref["_w"], other["_w"], rtol=0, atol=1e-9)))
    return (f"rates exc/inh {other['rate_exc']:.3f} / {other['rate_inh']:.3f} Hz (neurosim {ref['rate_exc']:.3f} / "
            f"{ref['rate_inh']:.3f}); spikes {other['spikes']} (neurosim {ref['spikes']}, {common} identical "
            f"(step, neuron)); mean w {other['mean_w']:.4f} (neurosim {ref['mean_w']:.4f}); w in [0,1] "
            f"{other['frac_low']:.4f} / [9,10] {other['frac_high']:.4f} (neurosim {ref['frac_low']:.4f} / "
            f"{ref['frac_high']:.4f}); synapses with the same final w: {same_w:.4f}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10_000.0, help="model time per run, ms (default 10000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds (each runs every configuration once)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-standalone", action="store_true")
    ap.add_argument("--skip-cython", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the standalone project folder")
    args = ap.parse_args(argv)

    import brian2 as b2

    b2.prefs.logging.console_log_level = "WARNING"
    print(f"# {platform.node()} | {cpu_name()} | {os.cpu_count()} CPUs | Python {sys.version.split()[0]} | "
          f"numpy {np.__version__} | brian2 {b2.__version__} | {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# polychronization network, {args.duration:g} ms per run, {args.repeats} interleaved rounds, "
          f"seed {args.seed}")
    built, arrays = describe(args.seed, args.duration)
    configs = [Neurosim(args.seed, args.duration)]
    if not args.skip_cython:
        configs.append(BrianCython(b2, arrays, args.duration))
    standalone = None
    if not args.skip_standalone:
        standalone = BrianStandalone(b2, arrays, args.duration, args.keep)
        configs.append(standalone)
    try:
        outcomes = {c.name: [] for c in configs}
        for _ in range(args.repeats):
            for c in configs:
                outcomes[c.name].append(c.run())
    finally:
        if standalone is not None:
            standalone.close()

    ref = outcomes["neurosim numba"][0]
    print("\n## Same network, same rule? (first round of each)")
    print(f"neurosim numba: rates exc/inh {ref['rate_exc']:.3f} / {ref['rate_inh']:.3f} Hz, spikes {ref['spikes']}, "
          f"mean w {ref['mean_w']:.4f}, w in [0,1] {ref['frac_low']:.4f}, [9,10] {ref['frac_high']:.4f}")
    for c in configs[1:]:
        print(f"{c.name}: {compare(ref, outcomes[c.name][0])}")

    sec = args.duration / 1000.0
    print("\n## Model seconds per wall second (run loop; best = from the min time)")
    print(f"{'configuration':24s} {'best':>9s} {'median':>9s} {'min time':>10s} {'ratio best':>11s} "
          f"{'ratio median':>13s}")
    ours = configs[0]
    rows = {}
    for c in configs:
        best, med = sec / min(c.times), sec / statistics.median(c.times)
        rows[c.name] = (best, med)
        r_best = (sec / min(ours.times)) / best
        r_med = (sec / statistics.median(ours.times)) / med
        print(f"{c.name:24s} {best:9.2f} {med:9.2f} {min(c.times):9.3f}s {r_best:10.2f}x {r_med:12.2f}x")
        for note in c.notes + [f"whole call: min {min(c.whole):.3f} s, median {statistics.median(c.whole):.3f} s"]:
            print(f"    {note}")
    print("(ratio = neurosim's model s per wall s / the configuration's)")
    return rows


if __name__ == "__main__":
    main()
