"""Large networks: the connectors that draw CSR rows directly, the one-copy synapse pool, float32
weights, the memory they take, and the multi-threaded engine (same spikes for any number of
threads)."""

import numpy as np
import pytest

import neurosim as ns
import neurosim.network as network_module


# ---- connectors --------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n_pre", [(5, 40), (15, 20)])  # the redraw path and the ranked-keys path (2k > pool)
def test_fixed_in_degree_draws_uniform_distinct_sources(k, n_pre):
    net = ns.Network(seed=1)
    a = net.population("a", ns.LIF(n_pre))
    b = net.population("b", ns.LIF(6000))
    proj = net.connect(a, b, ns.connect.fixed_in_degree(k), weight=1.0)
    dense = proj.to_dense() != 0
    np.testing.assert_array_equal(dense.sum(axis=0), k)  # every target: exactly k distinct sources
    assert proj.n_synapses == 6000 * k
    # each source is picked by a target with probability k / n_pre: counts within 5 sigma
    p = k / n_pre
    counts = dense.sum(axis=1)
    assert np.all(np.abs(counts - 6000 * p) < 5 * np.sqrt(6000 * p * (1 - p)))
    # and pairs of sources together with probability k (k-1) / (n_pre (n_pre-1)): uniform subsets
    both = (dense[0] & dense[1]).sum()
    q = k * (k - 1) / (n_pre * (n_pre - 1))
    assert abs(both - 6000 * q) < 5 * np.sqrt(6000 * q * (1 - q))
    for i in range(n_pre):  # rows by source, targets ascending
        assert np.all(np.diff(proj.target[proj.indptr[i] : proj.indptr[i + 1]]) > 0)


@pytest.mark.parametrize("k", [3, 18])
def test_fixed_in_degree_onto_itself_never_picks_the_neuron_itself(k):
    net = ns.Network(seed=2)
    a = net.population("a", ns.LIF(20))
    proj = net.connect(a, a, ns.connect.fixed_in_degree(k), weight=1.0)
    dense = proj.to_dense() != 0
    assert not dense.diagonal().any()
    np.testing.assert_array_equal(dense.sum(axis=0), k)
    with pytest.raises(ValueError, match="k=20 exceeds the 19 available sources per target"):
        net.connect(a, a, ns.connect.fixed_in_degree(20), weight=1.0)


def test_random_rule_keeps_its_probability_in_bounded_batches(monkeypatch):
    import neurosim.connect as connect

    monkeypatch.setattr(connect, "_BLOCK_ENTRIES", 1000)  # many batches: their seams must not show
    net = ns.Network(seed=3)
    a, b = net.population("a", ns.LIF(300)), net.population("b", ns.LIF(400))
    proj = net.connect(a, b, ns.connect.random(0.2), weight=1.0)
    n = 300 * 400
    assert abs(proj.n_synapses - 0.2 * n) < 5 * np.sqrt(n * 0.2 * 0.8)
    dense = proj.to_dense() != 0
    assert dense.sum() == proj.n_synapses  # no pair twice
    assert proj.target.dtype == np.int32


# ---- the synapse pool and float32 weights --------------------------------------------------------
def _cuba(n=400, precision="float64", seed=4, delay=None):
    net = ns.Network(dt=0.1, seed=seed, precision=precision)
    exc = net.population("exc", ns.LIF.cuba(int(0.8 * n)))
    inh = net.population("inh", ns.LIF.cuba(n - int(0.8 * n)))
    net.connect(exc, [exc, inh], ns.connect.fixed_in_degree(40), weight=ns.Uniform(0.8, 2.4), delay=delay)
    net.connect(inh, [exc, inh], ns.connect.fixed_in_degree(10), weight=-9.0, delay=1.0)
    return net


def test_static_synapses_are_held_once_by_the_engine():
    net = _cuba(delay=ns.Uniform(0.1, 2.0))
    before = [p.weight.copy() for p in net.projections]
    net.run(5.0, progress=False)
    pool = net._sim.static
    for p, w in zip(net.projections, before):
        assert np.shares_memory(p.weight, pool.weight) and np.shares_memory(p.target, pool.target)
        np.testing.assert_array_equal(p.weight, w)
    assert pool.target.dtype == np.int32 and pool.weight.dtype == np.float64
    # varying delays cost 2 bytes a synapse, one delay for all costs nothing
    assert pool.delay.dtype == np.uint16 and pool.delay.size == sum(p.n_synapses for p in net.projections[:2])
    assert net.projections[2].fixed_delay == 10 and net.projections[2].delay.strides == (0,)


def test_float32_weights_run_the_same_on_both_cpu_backends_and_set_between_runs():
    results = {}
    for backend in ("numpy", "numba"):
        net = _cuba(precision="float32", delay=ns.Uniform(0.1, 2.0))
        net.add_current(net.populations["exc"], ns.ConstantCurrent(5.0))
        assert all(p.weight.dtype == np.float32 for p in net.projections)
        first = net.run(50.0, backend=backend, progress=False)
        net.projections[0].weights = 3.0  # between runs: rounded to float32, into the pool
        assert net.projections[0].weight.dtype == np.float32 and np.all(net.projections[0].weights == 3.0)
        second = net.run(50.0, backend=backend, progress=False)
        results[backend] = (first.spikes["exc"].times, second.spikes["exc"].times, second.spikes["inh"].indices)
    assert results["numba"][1].size > 0
    for a, b in zip(results["numpy"], results["numba"]):
        np.testing.assert_array_equal(a, b)


def test_float32_is_float64_with_weights_rounded_once():
    # float32 weights add exactly into the float64 state: the same as float64 weights that were
    # rounded to float32 when connected
    w = np.random.default_rng(0).uniform(0.5, 3.0, 320 * 40)
    spikes = []
    for precision, weight in (("float32", w), ("float64", w.astype(np.float32).astype(np.float64))):
        net = ns.Network(dt=0.1, seed=5, precision=precision)
        exc = net.population("exc", ns.LIF.cuba(320))
        net.connect(exc, exc, ns.connect.fixed_in_degree(40), weight=weight)
        net.add_current(exc, ns.ConstantCurrent(6.0))
        spikes.append(net.run(40.0, progress=False).spikes["exc"].times)
    np.testing.assert_array_equal(*spikes)
    with pytest.raises(ValueError, match="precision must be 'float64' or 'float32'"):
        ns.Network(precision="float16")
    net = ns.Network(precision="float32")
    a = net.population("a", ns.LIF(10))
    with pytest.raises(ValueError, match="within float32's range"):
        net.connect(a, a, ns.connect.random(0.5), weight=1e39)
    proj = net.connect(a, a, ns.connect.random(0.5), weight=ns.Uniform(0.0, 1.0))
    with pytest.raises(ValueError, match="weights must be within float32's range"):
        proj.weights = 1e300
    net.run(1.0, progress=False)
    with pytest.raises(ValueError, match="weights must be within float32's range"):
        proj.weights = -1e300


_MEMORY_SCRIPT = """
import os, threading, time
import numpy as np, psutil, neurosim as ns

process = psutil.Process()
exact = os.path.exists("/proc/self/clear_refs")  # Linux: the kernel's own peak (VmHWM)
peak = [0]

def status(key):
    if exact:
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return process.memory_info().rss if key == "VmRSS" else max(peak[0], process.memory_info().rss)

def sample(stop):  # elsewhere: the resident set sampled every millisecond
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.001)

def build(n, k_exc, k_inh, seed):
    net = ns.Network(dt=0.1, seed=seed, precision="float32")
    exc = net.population("exc", ns.LIF.cuba(int(0.8 * n)))
    inh = net.population("inh", ns.LIF.cuba(n - int(0.8 * n)))
    net.connect(exc, [exc, inh], ns.connect.fixed_in_degree(k_exc), weight=ns.Uniform(0.1, 0.3))
    net.connect(inh, [exc, inh], ns.connect.fixed_in_degree(k_inh), weight=-1.0)
    return net

build(100, 16, 4, 1).run(0.1, progress=False, threads=1)  # compiled (or loaded) before measuring
stop = threading.Event()
if exact:
    open("/proc/self/clear_refs", "w").write("5")  # resets the peak resident set (VmHWM)
else:
    threading.Thread(target=sample, args=(stop,), daemon=True).start()
before = status("VmRSS")
net = build(80000, 240, 60, 6)
net.run(0.1, progress=False, threads=1)
stop.set()
n = sum(p.n_synapses for p in net.projections)
print((status("VmHWM") - before) / n, (status("VmRSS") - before) / n)
"""


@pytest.mark.slow
def test_building_takes_at_most_16_bytes_a_synapse_at_its_peak():
    # 24 million synapses (arrays beyond glibc's mmap threshold, as in any large network):
    # connect and the first run's flattening, float32 weights: int32 targets (4) + weights (4),
    # plus, while projections are copied into the pool, the second largest one; peak resident
    # memory of a fresh process (Linux: /proc/self/status, its peak reset after start-up;
    # elsewhere the resident set sampled every millisecond)
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    peak, resident = map(float, out.stdout.split())
    assert peak <= 16.0, f"peak {peak:.1f} bytes a synapse"
    assert resident <= 10.0, f"resident {resident:.1f} bytes a synapse"


# ---- threads ------------------------------------------------------------------------------------
def _mixed_network(seed=7):
    net = ns.Network(dt=0.1, seed=seed)
    src = net.population("src", ns.PoissonSource(60, rate=40.0))
    a = net.population("a", ns.LIF.cuba(500))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(130))
    b = net.population("b", ns.LIF.cuba(170))
    net.connect(src, [a, izh], ns.connect.random(0.3), weight=ns.Uniform(4.0, 12.0), delay=ns.Uniform(0.1, 1.5))
    net.connect(a, [a, b, izh], ns.connect.fixed_in_degree(30), weight=ns.Uniform(0.5, 2.0), delay=ns.Uniform(0.1, 4.0))
    net.connect(b, [a, izh], ns.connect.fixed_in_degree(15), weight=-4.0, delay=0.8)
    net.connect(izh, b, ns.connect.random(0.1), weight=3.0)
    net.add_current(a, ns.NoiseCurrent(std=4.0, mean=6.0))
    net.add_current(izh, ns.ConstantCurrent(6.0))
    net.monitor_state(a, ["v", "i_exc"], indices=[0, 249, 499])
    net.monitor_state(izh, ["u"], indices=[3, 120])
    return net


def _outcome(result):
    return ([result.spikes[p].times for p in ("a", "izh", "b")] + [result.spikes[p].indices for p in ("a", "b")]
            + [result.states[k].values for k in sorted(result.states)] + [result.info["synaptic_events"]])


@pytest.mark.parametrize("blocks", [2, 3, 7])
def test_any_number_of_threads_gives_the_same_run(monkeypatch, blocks):
    serial = _outcome(_mixed_network().run(120.0, progress=False, threads=1, chunk_ms=35.0))
    # more target blocks than this machine's cores: the partition, not the cores, is what could
    # change a sum, so run the parallel kernel with that many blocks on the threads there are
    monkeypatch.setattr(network_module, "_check_threads", lambda threads, backend, sim: blocks)
    monkeypatch.setattr(network_module, "_use_threads", lambda threads: (lambda: None))
    parallel = _outcome(_mixed_network().run(120.0, progress=False, chunk_ms=35.0))
    assert serial[0].size > 100 and serial[1].size > 0 and serial[2].size > 0
    for x, y in zip(serial, parallel):
        np.testing.assert_array_equal(x, y)


def test_threads_run_grows_the_spike_buffer_and_reports_blow_ups_alike(monkeypatch):
    monkeypatch.setattr(network_module, "SPIKE_BUFFER_START", 16)
    serial = _outcome(_mixed_network().run(60.0, progress=False, threads=1))
    parallel = _outcome(_mixed_network().run(60.0, progress=False, threads=2))
    for x, y in zip(serial, parallel):
        np.testing.assert_array_equal(x, y)
    errors = []
    for threads in (1, 2):
        net = _mixed_network()
        net.connect(net.populations["a"], net.populations["b"], ns.connect.random(0.5), weight=1e308)
        with pytest.raises(ns.SimulationError) as info:
            net.run(60.0, progress=False, threads=threads)
        errors.append((str(info.value), info.value.result.spikes["a"].times))
    assert errors[0][0] == errors[1][0] and "population 'b'" in errors[0][0]
    np.testing.assert_array_equal(errors[0][1], errors[1][1])


def test_threads_argument_is_checked():
    net = _mixed_network()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be a positive int or None"):
            net.run(1.0, progress=False, threads=bad)
    with pytest.raises(ValueError, match="only backend 'numba'"):
        net.run(1.0, progress=False, backend="numpy", threads=2)
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        net.run(1.0, progress=False, threads=10_000)
    plastic = ns.Network(seed=1)
    a = plastic.population("a", ns.LIF(10))
    from neurosim.plasticity import STDP

    plastic.connect(a, a, ns.connect.random(0.5), weight=0.5, synapse=STDP(w_max=1.0))
    with pytest.raises(ValueError, match="plastic synapses runs on one thread"):
        plastic.run(1.0, progress=False, threads=2)
