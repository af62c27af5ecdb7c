"""neurosim's event-driven engine against Brian2, in one process, on the same work.

Networks
    CUBA (Brette et al. 2007; Brian2's example): 4000 LIF neurons (3200 exc, 800 inh),
        p = 0.02, current-based exponential synapses, dt = 0.1 ms.
    Izhikevich (2003): 1000 neurons (800 exc, 200 inh), all-to-all, thalamic noise
        5 N(0,1) / 2 N(0,1) per step, dt = 1 ms, v in two 0.5 ms Euler half-steps.
    COBA (Stimberg et al. 2018; Brian2's examples/frompapers/Stimberg_et_al_2018/
        example_1_COBA.py with static synapses): 4000 conductance-based LIF neurons (3200 exc,
        800 inh), p = 0.05 (exc) / 0.2 (inh), w = 0.05 / 1.0 nS, 150 pA, forward Euler,
        dt = 0.1 ms.

Simulators
    neurosim numba      ``Network.run(backend="numba")``; time = ``result.info["simulate_s"]``
                        (the run loop; network construction excluded). One short warm-up run
                        per network first (loads the on-disk kernel cache or compiles), timed
                        and reported separately.
    brian2 cython       Brian2's default runtime target. The first run of each network fills
                        Brian2's code cache (Cython compile) and is not counted. Time = the
                        simulation loop as Brian2 measures it (``device._last_run_time``, set
                        after ``before_run``); the whole ``net.run()`` call (code objects
                        prepared again, cached modules loaded) is printed as well.
    brian2 numpy        Brian2's numpy runtime target, timed the same way.
    brian2 standalone   cpp_standalone (single thread, Brian2's default flags). Build
                        (code generation + compilation) is timed separately; the run phase
                        is the binary's own measurement of its simulation loop
                        (``results/last_run_info.txt`` -> ``device._last_run_time``),
                        which excludes the binary's start-up, synapse creation and the
                        writing of results (the whole binary's wall time is printed too).
                        The project is built once, the binary run once per realisation.

All Brian2 configurations run in this one process: the standalone device is used with
``build_on_run=False`` and reset with ``device.reinit()`` / ``device.activate()`` before the
runtime device is selected again.

Every run simulates a freshly built network with another seed (neurosim seed = ``--seed``
+ k, Brian2 ``seed(--seed + k)``; the standalone binary draws its own seed per run). A single
realisation of CUBA's excitatory rate varies by about 4 % (s.d.) from seed to seed, so the
rates compared are means over ``--rate-runs`` realisations (default 20: the ``--repeats``
timed runs plus untimed ones; Brian2's slow numpy target uses only its timed runs).
Reported: best (min) and median wall time of the timed runs, the mean rates of the
excitatory / inhibitory neurons, synaptic events per second of simulation wall time (best;
events = spikes x out-degree of the spiking neuron, counted the same way for Brian2), the
ratios Brian2 / neurosim numba (best / best; medians in the notes), and whether both mean
rates agree within 5 % of Brian2's.

    python benchmarks/bench_engine.py                          # everything (a few minutes)
    python benchmarks/bench_engine.py --repeats 3 --skip-standalone --skip-numpy

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
from neurosim.examples import coba, cuba, izhikevich_2003

RATE_TOLERANCE = 0.05  # relative, against Brian2's mean rate


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass
class Measurement:
    """One simulator configuration on one network."""

    name: str
    times: list = field(default_factory=list)  # s, the timed quantity (run loop / run phase)
    events: list = field(default_factory=list)  # synaptic events of each timed run
    rates: list = field(default_factory=list)  # (exc, inh) Hz of every run (timed or not)
    notes: list = field(default_factory=list)  # extra figures, printed under the row
    whole_call_times: list = field(default_factory=list)  # s, Brian2 runtime: the whole net.run() call

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def mean_rates(self) -> tuple[float, float]:
        r = np.asarray(self.rates, dtype=float)
        return float(r[:, 0].mean()), float(r[:, 1].mean())

    @property
    def events_per_s(self) -> float:
        """Synaptic events per second of wall time (per-repeat events over per-repeat time)."""
        return max(e / t for e, t in zip(self.events, self.times))


def stats(values) -> str:
    return f"min {min(values):.3f} s, median {statistics.median(values):.3f} s"


# ---- neurosim -----------------------------------------------------------------------------
def measure_neurosim(build, duration_ms: float, repeats: int, rate_runs: int, seed: int,
                     backend: str = "numba") -> Measurement:
    m = Measurement(f"neurosim {backend}")
    t0 = time.perf_counter()
    net = build(seed)
    t1 = time.perf_counter()
    warm = net.run(10 * net.dt, backend=backend, progress=False)  # loads the kernel cache or compiles
    t2 = time.perf_counter()
    compile_s = warm.info.get("compile_s")
    m.notes.append(f"warm-up run, first call in this process: {t2 - t1:.2f} s"
                   + (f" (of which kernel compile / cache load {compile_s:.2f} s)" if compile_s is not None else "")
                   + f"; building its network {t1 - t0:.2f} s")
    builds, totals = [], []
    for k in range(max(repeats, rate_runs)):
        t0 = time.perf_counter()
        net = build(seed + k)
        t1 = time.perf_counter()
        result = net.run(duration_ms, backend=backend, progress=False)
        t2 = time.perf_counter()
        m.rates.append((result.mean_rate("exc"), result.mean_rate("inh")))
        if k < repeats:
            builds.append(t1 - t0)
            totals.append(t2 - t1)
            m.times.append(result.info["simulate_s"])
            m.events.append(result.info["synaptic_events"])
    m.notes.append(f"whole net.run() call incl. flattening the network on first run: {stats(totals)}; "
                   f"building the network: {stats(builds)}")
    return m


# ---- Brian2 models ------------------------------------------------------------------------
def brian_cuba(b2, seed: int):
    """Brian2's CUBA example (examples/CUBA.py), with a SpikeMonitor on all neurons.

    Returns (network, spike monitor, synapse objects, (n_exc, n_inh))."""
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = 0.1 * ms
    namespace = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV,
                     we=(60 * 0.27 / 10) * mV, wi=(-20 * 4.5 / 10) * mV)
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = b2.NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact",
                       namespace=namespace)
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace=namespace)
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace=namespace)
    Ce.connect("i<3200", p=0.02)
    Ci.connect("i>=3200", p=0.02)
    mon = b2.SpikeMonitor(P)
    return b2.Network(P, Ce, Ci, mon), mon, (Ce, Ci), (3200, 800)


_IZH_UPDATE = """
I_total = I_syn + sigma * randn()
v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + I_total)
v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + I_total)
u = u + a * (b * v - u)
I_syn = 0
"""


def brian_izhikevich(b2, seed: int):
    """The 2003 network as the paper's MATLAB code: per 1 ms step, I = noise + sum of the
    weights of the neurons that fired, two 0.5 ms Euler half-steps of v, then u; v >= 30 ->
    v = c, u += d. Written as a NeuronGroup with ``run_regularly`` update code (no ODEs);
    ``on_pre`` (Brian2's delay 0) runs after the threshold and is seen by the next update,
    which is the paper's order and neurosim's one-step delay."""
    b2.defaultclock.dt = 1 * b2.ms
    n_exc, n_inh = 800, 200
    G = b2.NeuronGroup(n_exc + n_inh, "v : 1\nu : 1\na : 1\nb : 1\nc : 1\nd : 1\nI_syn : 1\nsigma : 1",
                       threshold="v >= 30", reset="v = c\nu = u + d")
    # One r ~ U(0,1) per neuron sets both c and d (or a and b), as in the paper.
    rng = np.random.default_rng(seed)
    re, ri = rng.random(n_exc), rng.random(n_inh)
    G.a = np.r_[np.full(n_exc, 0.02), 0.02 + 0.08 * ri]
    G.b = np.r_[np.full(n_exc, 0.2), 0.25 - 0.05 * ri]
    G.c = np.r_[-65 + 15 * re**2, np.full(n_inh, -65.0)]
    G.d = np.r_[8 - 6 * re**2, np.full(n_inh, 2.0)]
    G.sigma = np.r_[np.full(n_exc, 5.0), np.full(n_inh, 2.0)]
    G.v = -65.0
    G.u = "b * v"
    G.I_syn = 0.0
    G.run_regularly(_IZH_UPDATE, when="groups")
    S = b2.Synapses(G, G, "w : 1", on_pre="I_syn_post += w")
    S.connect()
    S.w["i < 800"] = "0.5 * rand()"
    S.w["i >= 800"] = "-rand()"
    mon = b2.SpikeMonitor(G)
    return b2.Network(G, S, mon), mon, (S,), (n_exc, n_inh)


def brian_coba(b2, seed: int):
    """Brian2's COBA example (Stimberg et al. 2018) with static synapses -- its STP lines
    removed, a spike adds w_e / w_i (as ``neurosim.examples.coba``) -- and a SpikeMonitor on all
    neurons. The synapses connect the whole group with conditions (``'i<3200'``), as in
    ``brian_cuba``, instead of the example's subgroups: the same random connectivity, and
    ``brian_outcome`` reads the sources as indices of the whole group.

    Returns (network, spike monitor, synapse objects, (n_exc, n_inh))."""
    ms, mV, nS, pA, pF = b2.ms, b2.mV, b2.nS, b2.pA, b2.pF
    b2.defaultclock.dt = 0.1 * ms
    namespace = dict(E_l=-60 * mV, g_l=9.99 * nS, E_e=0 * mV, E_i=-80 * mV, C_m=198 * pF, tau_e=5 * ms,
                     tau_i=10 * ms, tau_r=5 * ms, I_ex=150 * pA, V_th=-50 * mV, V_r=-60 * mV, w_e=0.05 * nS,
                     w_i=1.0 * nS)
    eqs = """
    dv/dt = (g_l*(E_l-v) + g_e*(E_e-v) + g_i*(E_i-v) + I_ex)/C_m : volt (unless refractory)
    dg_e/dt = -g_e/tau_e : siemens
    dg_i/dt = -g_i/tau_i : siemens
    """
    P = b2.NeuronGroup(4000, eqs, threshold="v>V_th", reset="v=V_r", refractory="tau_r", method="euler",
                       namespace=namespace)
    P.v = "E_l + rand()*(V_th-E_l)"
    P.g_e = "rand()*w_e"
    P.g_i = "rand()*w_i"
    Ce = b2.Synapses(P, P, on_pre="g_e_post += w_e", namespace=namespace)
    Ci = b2.Synapses(P, P, on_pre="g_i_post += w_i", namespace=namespace)
    Ce.connect("i<3200", p=0.05)
    Ci.connect("i>=3200", p=0.2)
    mon = b2.SpikeMonitor(P)
    return b2.Network(P, Ce, Ci, mon), mon, (Ce, Ci), (3200, 800)


MODELS = {"cuba": brian_cuba, "izhikevich": brian_izhikevich, "coba": brian_coba}


def brian_outcome(mon, synapses, split, n_neurons: int, duration_ms: float):
    """((exc rate, inh rate), synaptic events) from the monitor and the synapses' sources."""
    i = np.asarray(mon.i[:], dtype=np.int64)
    n_exc, n_inh = split
    sec = duration_ms * 1e-3
    out_degree = sum(np.bincount(np.asarray(s.i[:], dtype=np.int64), minlength=n_neurons) for s in synapses)
    events = int(out_degree[i].sum())
    return (np.sum(i < n_exc) / (n_exc * sec), np.sum(i >= n_exc) / (n_inh * sec)), events


# ---- Brian2 runtime -----------------------------------------------------------------------
def measure_brian_runtime(b2, model, target: str, duration_ms: float, repeats: int, rate_runs: int,
                          seed: int) -> Measurement:
    """Brian2 runtime mode with codegen ``target``; the first run is a warm-up."""
    b2.prefs.codegen.target = target
    m = Measurement(f"brian2 {target}")
    totals, builds = [], []
    for k in range(-1, max(repeats, rate_runs)):  # k = -1: warm-up, fills the code cache (Cython compile)
        b2.start_scope()
        b2.seed(seed + max(k, 0))
        t0 = time.perf_counter()
        net, mon, synapses, split = model(b2, seed + max(k, 0))
        t1 = time.perf_counter()
        net.run(duration_ms * b2.ms)
        t2 = time.perf_counter()
        if k < 0:
            m.notes.append(f"warm-up run (code generation{' + Cython compile if not cached' if target == 'cython' else ''}) "
                           f"{t2 - t0:.2f} s")
            continue
        rates, events = brian_outcome(mon, synapses, split, mon.source.N, duration_ms)
        m.rates.append(rates)
        if k < repeats:
            builds.append(t1 - t0)
            totals.append(t2 - t1)
            m.times.append(b2.device._last_run_time)
            m.events.append(events)
    m.notes.append(f"whole net.run() call (before_run + loop): {stats(totals)}; building the network: {stats(builds)}")
    m.whole_call_times = totals
    return m


# ---- Brian2 cpp_standalone ----------------------------------------------------------------
def measure_brian_standalone(b2, model, duration_ms: float, repeats: int, rate_runs: int, seed: int,
                             keep: bool) -> Measurement:
    """cpp_standalone: build once (timed), then run the binary ``max(repeats, rate_runs)`` times
    (a new seed each run)."""
    m = Measurement("brian2 cpp_standalone")
    directory = tempfile.mkdtemp(prefix="neurosim-bench-standalone-")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    try:
        b2.device.reinit()  # a clean device (a previous network may have used it)
        b2.device.activate(directory=directory, build_on_run=False)
        t0 = time.perf_counter()
        net, mon, synapses, split = model(b2, seed)  # no b2.seed(): each binary run draws its own seed
        net.run(duration_ms * b2.ms)  # recorded into the project, not run
        t1 = time.perf_counter()
        b2.device.build(directory=directory, compile=True, run=False, with_output=False)
        t2 = time.perf_counter()
        binaries = []
        for k in range(max(repeats, rate_runs)):
            b2.device.run(directory=directory, with_output=False)
            rates, events = brian_outcome(mon, synapses, split, mon.source.N, duration_ms)
            m.rates.append(rates)
            if k < repeats:
                m.times.append(b2.device._last_run_time)
                binaries.append(b2.device.timers["run_binary"])
                m.events.append(events)
        m.notes.append(f"build: {t2 - t1:.1f} s (code generation + compilation; describing the network {t1 - t0:.2f} s)")
        m.notes.append(f"whole binary (start-up, synapse creation, run, writing results): {stats(binaries)}")
    finally:
        b2.device.reinit()
        b2.device.activate()
        b2.set_device("runtime")
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    return m


# ---- report -------------------------------------------------------------------------------
def fmt_rates(r) -> str:
    return f"{r[0]:5.2f} / {r[1]:5.2f}"


def report(label: str, ours: Measurement, others: list[Measurement]) -> list[dict]:
    rows = []
    head = (f"{'configuration':24s} {'best s':>9s} {'median s':>9s}  {'rate exc / inh Hz':>17s}  "
            f"{'runs':>4s}  {'syn. events/s':>13s}  {'brian2/neurosim':>15s}  {'rates within 5 %':>16s}")
    print(f"== {label}")
    print(head)
    print("-" * len(head))
    print(f"{ours.name:24s} {ours.best:9.4f} {ours.median:9.4f}  {fmt_rates(ours.mean_rates):>17s}  "
          f"{len(ours.rates):4d}  {ours.events_per_s:13.3g}  {'1.0x':>15s}  {'':>16s}")
    for m in others:
        ratio, ratio_med = m.best / ours.best, m.median / ours.median
        agree = all(abs(a - b) <= RATE_TOLERANCE * b for a, b in zip(ours.mean_rates, m.mean_rates))
        dev = max(abs(a - b) / b for a, b in zip(ours.mean_rates, m.mean_rates))
        print(f"{m.name:24s} {m.best:9.4f} {m.median:9.4f}  {fmt_rates(m.mean_rates):>17s}  "
              f"{len(m.rates):4d}  {m.events_per_s:13.3g}  {ratio:14.1f}x  {('yes' if agree else 'NO') + f' ({dev:.1%})':>16s}")
        rows.append(dict(network=label, config=m.name, best=m.best, median=m.median, ratio=ratio,
                         ratio_median=ratio_med, agree=agree, deviation=dev, measurement=m))
    print()
    for m in [ours, *others]:
        for note in m.notes:
            print(f"  {m.name}: {note}")
        if m is not ours:
            print(f"  {m.name}: ratio of medians {m.median / ours.median:.1f}x"
                  + (f"; whole net.run() call / neurosim run loop: {min(m.whole_call_times) / ours.best:.1f}x (best), "
                     f"{statistics.median(m.whole_call_times) / ours.median:.1f}x (median)" if m.whole_call_times else ""))
    print()
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--duration", type=float, default=1000.0, help="biological time, ms (default 1000)")
    parser.add_argument("--rate-runs", type=int, default=20,
                        help="realisations whose mean rates are compared (default 20; the timed runs count, "
                             "the rest are run untimed; Brian2's numpy target uses its timed runs only)")
    parser.add_argument("--seed", type=int, default=1, help="first seed; run k uses seed + k")
    parser.add_argument("--networks", default="cuba,izhikevich,coba", help="comma-separated: cuba, izhikevich, coba")
    parser.add_argument("--skip-standalone", action="store_true", help="skip Brian2 cpp_standalone")
    parser.add_argument("--skip-numpy", action="store_true", help="skip Brian2's numpy target")
    parser.add_argument("--numpy-repeats", type=int, default=None,
                        help="timed runs of Brian2's (slow) numpy target (default: --repeats)")
    parser.add_argument("--keep-standalone", action="store_true", help="keep the standalone project folders")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    for n in networks:
        if n not in MODELS:
            parser.error(f"unknown network {n!r}; choose from {sorted(MODELS)}")

    import brian2 as b2

    b2.prefs.logging.console_log_level = "WARNING"
    d = args.duration
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, brian2 {b2.__version__}, "
          f"numba {__import__('numba').__version__}, neurosim {ns.__version__}")
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    import numba

    print(f"biological time {d:g} ms; {args.repeats} timed runs per configuration (times in s: best = min, "
          f"and median); mean rates over --rate-runs {args.rate_runs} realisations")
    print(f"threads: numba {numba.get_num_threads()} available (neurosim's kernels use what they use), Brian2 "
          f"cpp_standalone OpenMP threads = {b2.prefs.devices.cpp_standalone.openmp_threads} (0: no OpenMP, one "
          f"thread)\n")

    builders = {"cuba": (lambda s: cuba.build(seed=s)), "izhikevich": (lambda s: izhikevich_2003.build(seed=s)),
                "coba": (lambda s: coba.build(seed=s))}
    labels = {"cuba": "CUBA (N = 4000, p = 0.02, dt = 0.1 ms)",
              "izhikevich": "Izhikevich 2003 (N = 1000, all-to-all, dt = 1 ms)",
              "coba": "COBA, static synapses (N = 4000, p = 0.05 / 0.2, dt = 0.1 ms)"}
    rows = []
    for key in networks:
        ours = measure_neurosim(builders[key], d, args.repeats, args.rate_runs, args.seed)
        others = [measure_brian_runtime(b2, MODELS[key], "cython", d, args.repeats, args.rate_runs, args.seed)]
        if not args.skip_numpy:
            others.append(measure_brian_runtime(b2, MODELS[key], "numpy", d, args.numpy_repeats or args.repeats, 0,
                                                args.seed))
        if not args.skip_standalone:
            try:
                others.append(measure_brian_standalone(b2, MODELS[key], d, args.repeats, args.rate_runs, args.seed,
                                                       args.keep_standalone))
            except Exception as exc:  # no compiler, failed build: report and go on with the rest
                print(f"brian2 cpp_standalone failed for {key}: {type(exc).__name__}: {exc}\n")
        rows += report(f"{labels[key]}, {d:g} ms", ours, others)

    targets = {"brian2 cpp_standalone": 3.0, "brian2 cython": 15.0}
    cuba_rows = [r for r in rows if r["network"].startswith("CUBA") and r["config"] in targets]
    if cuba_rows:
        print("CUBA targets (issue, point 10): neurosim numba >= 3x faster than Brian2 cpp_standalone's run phase, "
              ">= 15x faster than Brian2's default runtime target, rates within 5 %")
        for r in cuba_rows:
            need = targets[r["config"]]
            print(f"  vs {r['config']:22s}: {r['ratio']:5.1f}x best/best, {r['ratio_median']:5.1f}x median/median "
                  f"(target {need:g}x): {'met' if r['ratio'] >= need else 'NOT met'}; "
                  f"rates {'agree' if r['agree'] else 'DIFFER'} ({r['deviation']:.1%})")
    return rows


if __name__ == "__main__":
    main()
