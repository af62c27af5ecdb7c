"""Validation against Brian2 (the reference simulator of the field).

(a) Spike trains. Small LIF and Izhikevich networks, exported with
    ``neurosim.brian2_export.to_brian2`` so that Brian2 gets the very same neurons,
    per-neuron parameters, initial state, synapses, weights and delays, and the same
    deterministic drive (spike-time sources and constant currents). Brian2 integrates LIF
    exactly (``method="exact"``) and runs the Izhikevich update as code with neurosim's
    Euler sub-steps, so both compute the same numbers up to floating-point rounding in the
    last bits (Brian2 derives its exact-update expression symbolically, in another order).
    Tolerance: the spike trains are identical -- same neurons, same time steps -- which the
    tests assert (a rounding difference could in principle move a spike by one step in a
    long chaotic run; these runs are chosen long enough to have hundreds of spikes, and short
    enough that it does not happen).

(b) Population rates. The CUBA benchmark network (Brette et al. 2007) and the Izhikevich
    (2003) network, again with identical connectivity and parameters, run for 1 s and 2 s;
    their mean population rates agree within 5 %. CUBA is deterministic but chaotic, so the
    two runs decorrelate after rounding differences; the Izhikevich network is driven by
    thalamic noise that each simulator draws itself. The rate is a statistic of the network,
    not of one trajectory, which is why 5 % is the tolerance.

Brian2 runs with its numpy code-generation target (no compilation in CI).
"""

import numpy as np
import pytest

import neurosim as ns
from neurosim.brian2_export import to_brian2
from neurosim.examples import cuba, izhikevich_2003

b2 = pytest.importorskip("brian2")
pytestmark = pytest.mark.brian2


@pytest.fixture(autouse=True)
def brian_numpy_target():
    b2.prefs.codegen.target = "numpy"
    b2.prefs.logging.console_log_level = "WARNING"
    b2.start_scope()
    b2.seed(11)
    yield


def run_brian(net, duration_ms):
    b2net, monitors = to_brian2(net)
    b2net.run(duration_ms * b2.ms)
    return {name: (np.round(np.asarray(m.t / b2.ms) / net.dt).astype(np.int64), np.asarray(m.i)) for name, m in monitors.items()}


def assert_same_spikes(result, brian, dt):
    for name, spikes in result.spikes.items():
        ours = sorted(zip(np.round(spikes.times / dt).astype(np.int64).tolist(), spikes.indices.tolist()))
        theirs = sorted(zip(brian[name][0].tolist(), brian[name][1].tolist()))
        assert ours == theirs, f"population {name!r}: {len(ours)} vs {len(theirs)} spikes"


def drive(net, n, duration_ms, rate_hz, seed):
    """A deterministic spike-time source: Poisson-like times drawn once, on the time grid."""
    rng = np.random.default_rng(seed)
    count = rng.poisson(n * rate_hz * duration_ms * 1e-3)
    steps = rng.integers(0, int(duration_ms / net.dt), count)
    idx = rng.integers(0, n, count)
    pairs = np.unique(steps * n + idx)
    return net.population("input", ns.SpikeTimes(n, indices=pairs % n, times=(pairs // n) * net.dt))


def small_lif_network():
    net = ns.Network(dt=0.1, seed=5)
    exc = net.population("exc", ns.LIF(80, tau_m=ns.Uniform(15.0, 25.0), v_rest=-65.0, v_threshold=-50.0,
                                       v_reset=ns.Uniform(-70.0, -60.0), t_ref=ns.Uniform(1.0, 4.0), tau_exc=5.0,
                                       tau_inh=10.0, v_init=ns.Uniform(-65.0, -50.0)))
    inh = net.population("inh", ns.LIF(20, tau_m=10.0, v_rest=-65.0, v_threshold=-52.0, v_reset=-65.0, t_ref=1.0,
                                       tau_exc=3.0, tau_inh=6.0, v_init=ns.Uniform(-65.0, -52.0)))
    src = drive(net, 40, 300.0, 30.0, seed=1)
    net.connect(src, [exc, inh], ns.connect.random(0.3), weight=ns.Uniform(3.0, 8.0), delay=ns.Uniform(0.1, 2.0))
    net.connect(exc, [exc, inh], ns.connect.random(0.1), weight=ns.Uniform(0.5, 3.0), delay=ns.Uniform(0.1, 3.0))
    net.connect(inh, [exc, inh], ns.connect.random(0.2), weight=ns.Uniform(-6.0, -2.0), delay=0.1)
    net.add_current(exc, ns.ConstantCurrent(ns.Uniform(5.0, 12.0)))
    net.add_current(inh, ns.ConstantCurrent(ns.Uniform(8.0, 16.0)))
    return net


def small_izhikevich_network():
    net = ns.Network(dt=0.5, seed=6)
    exc = net.population("exc", ns.Izhikevich.regular_spiking(60, heterogeneity=1.0))
    inh = net.population("inh", ns.Izhikevich.fast_spiking(15, heterogeneity=1.0, tau_exc=2.0, tau_inh=4.0))
    src = drive(net, 30, 300.0, 40.0, seed=2)
    net.connect(src, [exc, inh], ns.connect.random(0.3), weight=ns.Uniform(5.0, 15.0), delay=ns.Uniform(0.5, 2.0))
    net.connect(exc, [exc, inh], ns.connect.random(0.2), weight=ns.Uniform(0.0, 4.0), delay=ns.Uniform(0.5, 4.0))
    net.connect(inh, [exc, inh], ns.connect.random(0.3), weight=ns.Uniform(-5.0, 0.0))
    net.add_current(exc, ns.ConstantCurrent(ns.Uniform(0.0, 4.0)))
    return net


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_small_lif_network_spikes_identical_to_brian2(backend):
    net = small_lif_network()
    brian = run_brian(net, 300.0)
    result = net.run(300.0, backend=backend, progress=False)
    assert result.spike_count("exc") > 200 and result.spike_count("inh") > 50
    assert_same_spikes(result, brian, net.dt)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_small_izhikevich_network_spikes_identical_to_brian2(backend):
    net = small_izhikevich_network()
    brian = run_brian(net, 300.0)
    result = net.run(300.0, backend=backend, progress=False)
    assert result.spike_count("exc") > 200 and result.spike_count("inh") > 50
    assert_same_spikes(result, brian, net.dt)


def test_a_changed_parameter_is_detected():
    """The comparison has teeth: one altered weight in the exported twin changes the spikes."""
    net = small_lif_network()
    result = small_lif_network().run(300.0, progress=False)
    net.projections[1].weight[:] *= 1.5
    brian = run_brian(net, 300.0)
    with pytest.raises(AssertionError):
        assert_same_spikes(result, brian, net.dt)


def mean_rates(result):
    return np.array([result.mean_rate("exc"), result.mean_rate("inh")])


def brian_rates(brian, net, duration_ms):
    sizes = np.array([len(net.populations["exc"]), len(net.populations["inh"])])
    counts = np.array([brian["exc"][0].size, brian["inh"][0].size])
    return counts / (sizes * duration_ms * 1e-3)


def test_cuba_rates_match_brian2():
    net = cuba.build(seed=3)
    brian = brian_rates(run_brian(net, 1000.0), net, 1000.0)
    ours = mean_rates(net.run(1000.0, progress=False))
    assert np.all(ours > 1.0)
    np.testing.assert_allclose(ours, brian, rtol=0.05)


def test_izhikevich_2003_rates_match_brian2():
    net = izhikevich_2003.build(seed=4)
    brian = brian_rates(run_brian(net, 2000.0), net, 2000.0)
    ours = mean_rates(net.run(2000.0, progress=False))
    assert np.all(ours > 3.0)
    np.testing.assert_allclose(ours, brian, rtol=0.05)
