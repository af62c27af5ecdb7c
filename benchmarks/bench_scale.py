"""neurosim (numba) against Brian2 cpp_standalone as the network grows: build, run, compile, memory.

Network: the one of ``bench_gpu.py`` -- CUBA-style LIF (Brette et al. 2007; ``examples/cuba.py``),
N neurons, 80 % excitatory, every neuron receiving ``--in-degree`` synapses (80 % from excitatory,
20 % from inhibitory sources, drawn without repeats, self-connections allowed), CUBA's weights
scaled by 80 / in-degree so the firing stays that of CUBA; dt = 0.1 ms, ``--duration`` ms (1 s).
Brian2 gets the same model as ``bench_engine.brian_cuba`` (exact integration, 5 ms refractory,
v uniform in [V_r, V_t)) with the same fixed in-degree, drawn by Brian2 itself:
``connect(i='k for k in sample(first, last, size=K)')`` (for every target, K distinct sources).

Every measurement runs in a fresh process (this script calling itself with ``--one``), for every
size in ``--sizes``; the ``--repeats`` rounds are interleaved (neurosim, Brian2, neurosim, ...)
and min / median are printed. Columns:

    build s     network construction up to the start of the simulation loop.
                neurosim: ``ns.Network`` + ``connect`` (Python side), plus the part of the
                first ``net.run()`` before its loop (``result.info["build_s"]``: flattening
                into CSR arrays); the split is printed under the table.
                Brian2: measured inside the generated binary (timestamps inserted with
                ``device.insert_code``): from the start of ``main`` (before ``brian_start``:
                array allocation) through synapse creation and initial values to the start of
                the run, plus the part of ``Network::run`` outside its simulation loop (spike
                queue preparation). C++ compilation and the Python-side description of the
                network are NOT included (printed under the table).
    run s       the simulation loop. neurosim: ``result.info["simulate_s"]``; Brian2: the
                binary's own measurement (``results/last_run_info.txt`` ->
                ``device._last_run_time``).
    compile s   neurosim: ``result.info["compile_s"]`` of a warm-up run on a small network of
                the same kind in the same process (loads Numba's on-disk cache, or compiles).
                Brian2: ``device.build(compile=True, run=False)``: code generation + ``make``
                (a new project folder per measurement: never cached).
    peak RSS    peak resident memory of the simulating process (Linux VmHWM). neurosim: the
                Python process, its mark reset (``/proc/self/clear_refs``) after imports and
                the warm-up, so it is the peak of build + run; Brian2: the standalone binary
                (a child of the measuring process), read by the binary itself from
                ``/proc/self/status`` at its end (compiler processes are not counted).
    B/syn       (peak RSS - RSS of the same process just before building) / synapses.
    events/s    synaptic events (spikes x out-degree of the spiking neuron, counted the same
                way on both sides) per second of run s.
    spikes, Hz  spike count and mean rate: both must be alike (the rates are compared, 5 %).

Then the ratios Brian2 / neurosim for build, run and memory (peak RSS, bytes per synapse).

Options for the engine's work in progress (``--precision``, ``--threads``) are passed to
neurosim only when given (``ns.Network(precision=...)``, ``net.run(threads=...)``). Brian2 runs
one thread (no OpenMP) unless ``--brian2-threads N``.

    python benchmarks/bench_scale.py                                   # 1e4 1e5 1e6, 3 rounds
    python benchmarks/bench_scale.py --sizes 2e3 1e4 --repeats 1       # smoke test

This is a measurement script, not a test: nothing here asserts on time. At 1e6 (10^8 synapses)
each side needs several GB and Brian2 writes its synapse arrays (about 1 GB) into the project
folder in the temp directory at the end of the binary.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RESULT_TAG = "BENCH_SCALE_RESULT "
RATE_TOLERANCE = 0.05  # relative: the two mean rates should agree this well
WARMUP_N = 500  # neurons of neurosim's warm-up network (loads / compiles the kernels); small, so that
# the memory it leaves with the allocator is not mistaken for the measured network's


# ---- memory of this process (Linux) -------------------------------------------------------
def status_kib(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ---- neurosim -----------------------------------------------------------------------------
def build_neurosim(n: int, in_degree: int, seed: int, network_options: dict):
    """``bench_gpu.build`` with optional ``ns.Network`` options (precision)."""
    from bench_gpu import build

    return build(n, in_degree, seed, **network_options)


def one_neurosim(args) -> dict:
    network_options = {} if args.precision is None else {"precision": args.precision}
    run_options = {} if args.threads is None else {"threads": args.threads}
    warm_net = build_neurosim(min(args.n, WARMUP_N), args.in_degree, args.seed, network_options)
    # the warm-up loads (or compiles) the kernel variant the measured run will use: one thread
    # below the engine's threshold, all of Numba's threads above it, unless --threads says
    import numba
    from neurosim.network import PARALLEL_MIN_NEURONS

    warm_threads = args.threads or (numba.config.NUMBA_NUM_THREADS if args.n >= PARALLEL_MIN_NEURONS else 1)
    warm = warm_net.run(1.0, backend="numba", progress=False, threads=warm_threads)
    del warm_net
    gc.collect()
    hwm_reset = reset_peak_rss()
    rss0 = status_kib("VmRSS")
    t0 = time.perf_counter()
    net = build_neurosim(args.n, args.in_degree, args.seed, network_options)
    construct_s = time.perf_counter() - t0
    peak_built = status_kib("VmHWM") if hwm_reset else None
    t1 = time.perf_counter()
    result = net.run(args.duration, backend="numba", progress=False, **run_options)
    call_s = time.perf_counter() - t1
    peak = status_kib("VmHWM") if hwm_reset else None
    info = result.info
    return {"construct_s": construct_s, "prepare_s": info.get("build_s", 0.0), "run_s": info["simulate_s"],
            "compile_s": warm.info.get("compile_s"), "run_call_s": call_s,
            "rss0_kib": rss0, "peak_built_kib": peak_built, "rss_end_kib": status_kib("VmRSS"),
            "peak_kib": peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "peak_source": "VmHWM reset after warm-up" if peak is not None else "ru_maxrss (whole process)",
            "synapses": int(info["n_synapses"]), "spikes": int(result.spike_count()),
            "events": int(info["synaptic_events"])}


# ---- Brian2 cpp_standalone ----------------------------------------------------------------
# C++ inserted into the generated main(): timestamps (CLOCK_MONOTONIC) and the binary's own memory.
_CPP_START = r"""
auto _bs_now = []() { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; };
auto _bs_status_kib = [](const std::string &key) {
    std::ifstream f("/proc/self/status"); std::string line;
    while (std::getline(f, line))
        if (line.compare(0, key.size() + 1, key + ":") == 0) return std::stol(line.substr(key.size() + 1));
    return -1L; };
const double _bs_t0 = _bs_now();
const long _bs_rss0_kib = _bs_status_kib("VmRSS");
double _bs_t_pre_run = 0.0, _bs_t_post_run = 0.0, _bs_t_end = 0.0;
long _bs_peak_built_kib = -1, _bs_rss_end_kib = -1;
"""
_CPP_AFTER_END = r"""
{
    std::ofstream _bs_f(brian::results_dir + "bench_scale.txt");
    _bs_f.precision(9);
    _bs_f << "to_run_s " << _bs_t_pre_run - _bs_t0 << "\nrun_call_s " << _bs_t_post_run - _bs_t_pre_run
          << "\nafter_run_s " << _bs_t_end - _bs_t_post_run << "\nbrian_end_s " << _bs_now() - _bs_t_end
          << "\nrss0_kib " << _bs_rss0_kib << "\npeak_built_kib " << _bs_peak_built_kib
          << "\nrss_end_kib " << _bs_rss_end_kib << "\npeak_kib " << _bs_status_kib("VmHWM") << "\n";
}
"""


def one_brian2(args) -> dict:
    import brian2 as b2
    import numpy as np
    from neurosim.examples.cuba import W_EXC, W_INH

    b2.prefs.logging.console_log_level = "WARNING"
    directory = tempfile.mkdtemp(prefix="neurosim-bench-scale-")
    try:
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = args.brian2_threads if args.brian2_threads > 1 else 0
        device = b2.get_device()
        device.insert_code("before_start", _CPP_START)
        t0 = time.perf_counter()
        b2.seed(args.seed)
        ms, mV = b2.ms, b2.mV
        b2.defaultclock.dt = 0.1 * ms
        n, k = args.n, args.in_degree
        n_exc = int(round(0.8 * n))
        k_exc, k_inh = int(round(0.8 * k)), k - int(round(0.8 * k))
        scale = 80.0 / k
        namespace = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV,
                         we=W_EXC * scale * mV, wi=W_INH * scale * mV)
        eqs = """
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """
        P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact",
                           namespace=namespace)
        P.v = "Vr + rand() * (Vt - Vr)"
        P.ge = 0 * mV
        P.gi = 0 * mV
        Ce = b2.Synapses(P, P, on_pre="ge += we", namespace=namespace)
        Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace=namespace)
        # For every target j, k_exc distinct excitatory and k_inh distinct inhibitory sources.
        Ce.connect(i=f"s for s in sample(0, {n_exc}, size={k_exc})")
        Ci.connect(i=f"s for s in sample({n_exc}, {n}, size={k_inh})")
        mon = b2.SpikeMonitor(P)
        net = b2.Network(P, Ce, Ci, mon)
        device.insert_code("main", '_bs_t_pre_run = _bs_now(); _bs_peak_built_kib = _bs_status_kib("VmHWM");')
        net.run(args.duration * ms)
        device.insert_code("main", "_bs_t_post_run = _bs_now();")
        device.insert_code("before_end", '_bs_t_end = _bs_now(); _bs_rss_end_kib = _bs_status_kib("VmRSS");')
        device.insert_code("after_end", _CPP_AFTER_END)
        describe_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        device.build(directory=directory, compile=True, run=False, with_output=False)
        compile_s = time.perf_counter() - t1
        make_s = device.timers["compile"]["make"]
        driver_kib = status_kib("VmRSS")  # this Python process, which waits for the binary
        device.run(directory=directory, with_output=False)
        binary_s = device.timers["run_binary"]
        loop_s = device._last_run_time
        with open(os.path.join(device.results_dir, "bench_scale.txt")) as fh:
            inner = {key: float(value) for key, value in (line.split() for line in fh if line.strip())}
        counts = np.asarray(mon.count[:], dtype=np.int64)
        out_degree = (np.bincount(np.asarray(Ce.i[:], dtype=np.int64), minlength=n)
                      + np.bincount(np.asarray(Ci.i[:], dtype=np.int64), minlength=n))
        return {"construct_s": inner["to_run_s"], "prepare_s": inner["run_call_s"] - loop_s, "run_s": loop_s,
                "compile_s": compile_s, "make_s": make_s, "describe_s": describe_s, "binary_s": binary_s,
                "after_run_s": inner["after_run_s"] + inner["brian_end_s"],
                "rss0_kib": int(inner["rss0_kib"]), "peak_built_kib": int(inner["peak_built_kib"]),
                "rss_end_kib": int(inner["rss_end_kib"]), "peak_kib": int(inner["peak_kib"]),
                "peak_source": "VmHWM of the binary, read by itself at its end", "driver_rss_kib": driver_kib,
                "synapses": int(len(Ce) + len(Ci)), "spikes": int(counts.sum()),
                "events": int((counts * out_degree).sum())}
    finally:
        if args.keep:
            print(f"kept the project folder {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


# ---- driver -------------------------------------------------------------------------------
SIMULATORS = {"neurosim": "neurosim numba", "brian2": "brian2 standalone"}


def measure(sim: str, n: int, args, timeout: float) -> dict:
    """One measurement in a fresh process; returns its figures, or {"error": text}."""
    cmd = [sys.executable, os.path.abspath(__file__), "--one", sim, "--n", str(n), "--in-degree", str(args.in_degree),
           "--duration", str(args.duration), "--seed", str(args.seed), "--brian2-threads", str(args.brian2_threads)]
    if args.precision is not None:
        cmd += ["--precision", args.precision]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    if args.keep:
        cmd.append("--keep")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            r = json.loads(line[len(RESULT_TAG):])
            r["process_s"] = time.perf_counter() - t0
            return r
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    return {"error": f"exit status {proc.returncode}, no result line; last output:\n{tail}"}


def fmt_pair(values, spec: str = ".3f") -> str:
    return f"{min(values):{spec}} / {statistics.median(values):{spec}}"


def per_synapse(runs: list[dict], key: str) -> str:
    """Median of (runs[key] - RSS before building) / synapses, in bytes, as text."""
    values = [(r[key] - r["rss0_kib"]) * 1024 / max(r["synapses"], 1) for r in runs if r.get(key) not in (None, -1)]
    return f"{statistics.median(values):.1f}" if values else "n/a"


def report_size(n: int, in_degree: int, duration_ms: float, rows: dict[str, list[dict]]) -> None:
    print(f"\n== N = {n:,} ({n * in_degree:.3g} synapses), {duration_ms:g} ms; times in s as min / median")
    head = (f"{'simulator':18s} {'build s':>17s} {'run s':>17s} {'compile s':>15s} {'peak RSS MB':>11s} "
            f"{'B/syn':>6s} {'events/s':>9s} {'spikes':>10s} {'rate Hz':>7s}")
    print(head)
    print("-" * len(head))
    summary = {}
    for sim, runs in rows.items():
        good = [r for r in runs if "error" not in r]
        for r in runs:
            if "error" in r:
                print(f"{SIMULATORS[sim]:18s} FAILED: {r['error']}")
        if not good:
            continue
        build = [r["construct_s"] + r["prepare_s"] for r in good]
        run = [r["run_s"] for r in good]
        comp = [r["compile_s"] for r in good if r["compile_s"] is not None]
        peak = [r["peak_kib"] * 1024 for r in good]
        per_syn = [(r["peak_kib"] - r["rss0_kib"]) * 1024 / max(r["synapses"], 1) for r in good]
        eps = [r["events"] / r["run_s"] for r in good]
        spikes = statistics.median(r["spikes"] for r in good)
        rate = spikes / n / (duration_ms * 1e-3)
        job = [p + r.get("driver_rss_kib", 0) * 1024 for p, r in zip(peak, good)]
        summary[sim] = dict(build=build, run=run, peak=peak, per_syn=per_syn, rate=rate, job=job)
        print(f"{SIMULATORS[sim]:18s} {fmt_pair(build):>17s} {fmt_pair(run):>17s} "
              f"{fmt_pair(comp, '.2f') if comp else 'n/a':>15s} {statistics.median(peak) / 2**20:11.0f} "
              f"{statistics.median(per_syn):6.1f} {max(eps):9.3g} {spikes:10.0f} {rate:7.3f}")
    for sim, runs in rows.items():
        good = [r for r in runs if "error" not in r]
        if not good:
            continue
        def med(key, good=good):
            return statistics.median(r[key] for r in good)

        if sim == "neurosim":
            print(f"  neurosim: build = Network + connect {med('construct_s'):.3f} s + run's preparation "
                  f"{med('prepare_s'):.3f} s (medians); whole net.run() call {med('run_call_s'):.3f} s; "
                  f"RSS before building {med('rss0_kib') / 1024:.0f} MB; peak: {good[0]['peak_source']}")
            print(f"  neurosim: memory per synapse: {per_synapse(good, 'peak_built_kib')} B at the peak of Network + "
                  f"connect, {per_synapse(good, 'rss_end_kib')} B resident after the run (network and result alive)")
        else:
            print(f"  brian2: build = binary start to run {med('construct_s'):.3f} s + Network::run outside its "
                  f"loop {med('prepare_s'):.3f} s; describing the network in Python {med('describe_s'):.2f} s; "
                  f"compile = code generation + make ({med('make_s'):.2f} s); after the run (writing results) "
                  f"{med('after_run_s'):.3f} s; whole binary {med('binary_s'):.3f} s; RSS at binary start "
                  f"{med('rss0_kib') / 1024:.0f} MB; peak: {good[0]['peak_source']}")
            print(f"  brian2: memory per synapse: {per_synapse(good, 'peak_built_kib')} B at the peak up to the start "
                  f"of the run (synapses created), {per_synapse(good, 'rss_end_kib')} B resident after the run")
            if good[0].get("driver_rss_kib"):
                print(f"  brian2: the Python process that built and waits for the binary holds "
                      f"{med('driver_rss_kib') / 1024:.0f} MB meanwhile: the job's peak is about "
                      f"{(med('driver_rss_kib') + med('peak_kib')) / 1024:.0f} MB (driver + binary)")
    if len(summary) == 2:
        a, b = summary["neurosim"], summary["brian2"]
        def ratio(key, f):
            return f(b[key]) / f(a[key])

        agree = abs(a["rate"] - b["rate"]) <= RATE_TOLERANCE * b["rate"]
        print(f"  ratio brian2 / neurosim (min / median): build {ratio('build', min):.2f}x / "
              f"{ratio('build', statistics.median):.2f}x, run {ratio('run', min):.2f}x / "
              f"{ratio('run', statistics.median):.2f}x; memory: peak RSS {ratio('peak', statistics.median):.2f}x "
              f"(job, Brian2's Python driver included: {ratio('job', statistics.median):.2f}x), "
              f"bytes per synapse {ratio('per_syn', statistics.median):.2f}x (medians); rates agree within "
              f"{RATE_TOLERANCE:.0%}: {'yes' if agree else 'NO'} ({a['rate']:.3f} vs {b['rate']:.3f} Hz)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6], help="N (default 1e4 1e5 1e6)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per size (default 3)")
    parser.add_argument("--in-degree", type=int, default=100)
    parser.add_argument("--duration", type=float, default=1000.0, help="biological time, ms (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simulators", nargs="+", choices=sorted(SIMULATORS), default=["neurosim", "brian2"])
    parser.add_argument("--precision", default=None,
                        help="neurosim's ns.Network(precision=...), e.g. float32; not passed when left out")
    parser.add_argument("--threads", type=int, default=None,
                        help="neurosim's net.run(threads=...); not passed when left out (the engine decides)")
    parser.add_argument("--brian2-threads", type=int, default=1,
                        help="Brian2 OpenMP threads (default 1: no OpenMP)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="s per measurement process (default 3600)")
    parser.add_argument("--keep", action="store_true", help="keep Brian2's project folders")
    parser.add_argument("--one", choices=sorted(SIMULATORS), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        result = one_neurosim(args) if args.one == "neurosim" else one_brian2(args)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.in_degree < 2:
        parser.error("--in-degree must be at least 2 (excitatory and inhibitory sources)")

    import numba
    from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs

    versions = [f"python {platform.python_version()}", f"numba {numba.__version__}"]
    try:
        import brian2

        versions.append(f"brian2 {brian2.__version__}")
    except ImportError:
        versions.append("brian2 not installed")
    print(f"machine: {platform.node()}, CPU {cpu_name()} ({os.cpu_count()} cores); {', '.join(versions)}")
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"network: CUBA-style LIF, 80 % exc, fixed in-degree {args.in_degree}, weights x 80/{args.in_degree}, "
          f"dt 0.1 ms, {args.duration:g} ms; seed {args.seed}; {args.repeats} interleaved round(s), each "
          f"measurement in a fresh process")
    threads = args.threads if args.threads is not None else f"(engine default; numba has {numba.get_num_threads()})"
    print(f"neurosim: numba backend, precision {args.precision or '(engine default)'}, threads {threads}"
          f"; brian2 cpp_standalone: {args.brian2_threads} thread(s)"
          f"{' (no OpenMP)' if args.brian2_threads <= 1 else ' (OpenMP)'}, Brian2's default compiler flags")
    for size in args.sizes:
        n = int(size)
        rows = {sim: [] for sim in args.simulators}
        for k in range(args.repeats):
            order = args.simulators if k % 2 == 0 else args.simulators[::-1]
            for sim in order:
                r = measure(sim, n, args, args.timeout)
                rows[sim].append(r)
                status = "FAILED" if "error" in r else f"run {r['run_s']:.3f} s, {r['process_s']:.1f} s in all"
                print(f"  [N = {n:,}, round {k + 1}/{args.repeats}, {SIMULATORS[sim]}: {status}]", flush=True)
        report_size(n, args.in_degree, args.duration, rows)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
