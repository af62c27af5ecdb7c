"""The event-driven engine: backends agree spike for spike, work follows spikes, delays,
monitors, results, continuation."""

import numpy as np
import pytest

import neurosim as ns


def mixed_network(seed=7, dt=0.1):
    """LIF and Izhikevich populations, Poisson and spike-time sources, noise, drawn delays,
    heterogeneous parameters: every code path of the kernels in one network."""
    net = ns.Network(dt=dt, seed=seed)
    lif = net.population("lif", ns.LIF(120, tau_m=ns.Uniform(10.0, 30.0), v_rest=-65.0, v_threshold=-50.0,
                                        v_reset=-65.0, t_ref=2.0, v_init=ns.Uniform(-65.0, -50.0)))
    lif2 = net.population("lif_uniform", ns.LIF.cuba(80))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(60, heterogeneity=1.0, tau_exc=3.0, tau_inh=6.0))
    poisson = net.population("poisson", ns.PoissonSource(40, rate=ns.Uniform(20.0, 80.0)))
    times = net.population("times", ns.SpikeTimes(5, indices=[0, 1, 2, 3, 4, 0], times=[5.0, 10.0, 10.0, 20.0, 31.3, 50.0]))
    net.connect(poisson, [lif, lif2, izh], ns.connect.random(0.2), weight=ns.Uniform(2.0, 6.0), delay=ns.Uniform(0.1, 3.0))
    net.connect(times, lif, ns.connect.all_to_all(), weight=5.0, delay=1.0)
    net.connect(lif, [lif, izh], ns.connect.fixed_in_degree(10), weight=ns.Normal(1.0, 0.5), delay=ns.Uniform(0.1, 5.0))
    net.connect(lif2, [lif, lif2], ns.connect.random(0.1), weight=-2.0, delay=0.5)
    net.connect(izh, [lif, izh], ns.connect.random(0.1), weight=ns.Uniform(0.0, 3.0))
    net.add_current(lif, ns.NoiseCurrent(std=2.0, mean=12.0))
    net.add_current(lif2, ns.ConstantCurrent(2.0))
    net.add_current(izh, ns.NoiseCurrent(std=3.0, mean=4.0))
    net.monitor_state(lif, ["v", "i_exc", "i_inh"], indices=np.arange(0, 120, 17), every=0.5)
    net.monitor_state(izh, ["v", "u"], indices=[0, 5, 59])
    return net


@pytest.fixture(scope="module")
def both_backends():
    return {b: mixed_network().run(200.0, backend=b, progress=False) for b in ("numpy", "numba")}


def test_backends_give_identical_spikes_and_states(both_backends, assert_same_run):
    ref, fast = both_backends["numpy"], both_backends["numba"]
    assert ref.spike_count() > 500  # the network is active, so the comparison means something
    for name in ref.sizes:
        assert ref.spike_count(name) > 0, name
    assert_same_run(ref, fast)
    assert ref.info["synaptic_events"] == fast.info["synaptic_events"]


def test_work_is_spikes_times_fan_out(both_backends):
    """Every spike touches exactly its own CSR row: delivered events = sum of out-degrees."""
    net = mixed_network()
    result = net.run(200.0, progress=False)
    out_degree = {name: np.zeros(len(p), dtype=np.int64) for name, p in net.populations.items()}
    for proj in net.projections:
        out_degree[proj.source.name] += np.diff(proj.indptr)
    expected = sum(int(out_degree[name][s.indices].sum()) for name, s in result.spikes.items())
    assert result.info["synaptic_events"] == expected
    assert expected < result.spike_count() * max(d.max() for d in out_degree.values())


def test_silent_network_does_no_synaptic_work():
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(500, v_threshold=-50.0, v_rest=-70.0, v_init=-70.0))
    net.connect(a, a, ns.connect.all_to_all(), weight=1.0)  # 250 000 synapses, no spike
    result = net.run(50.0, progress=False)
    assert result.spike_count() == 0 and result.info["synaptic_events"] == 0


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("delay_ms", [0.1, 0.7, 2.5])
def test_delay_is_exact(backend, delay_ms):
    """A source spike at step s reaches the target's current at the start of step s + d."""
    dt = 0.1
    net = ns.Network(dt=dt, seed=0)
    src = net.population("src", ns.SpikeTimes(1, indices=[0], times=[1.0]))
    tgt = net.population("tgt", ns.LIF(1, tau_exc=1e6, v_threshold=1e9))
    net.connect(src, tgt, ns.connect.all_to_all(), weight=3.0, delay=delay_ms)
    net.monitor_state(tgt, "i_exc")
    result = net.run(5.0, backend=backend, progress=False)
    trace = result.states["tgt.i_exc"]
    # Sampled at the start of each step with the input due then: first non-zero at arrival.
    first = np.flatnonzero(trace.values[:, 0] > 0)[0]
    arrival_step = round(1.0 / dt) + round(delay_ms / dt)
    assert first == arrival_step
    assert trace.values[first, 0] == 3.0


def test_heterogeneous_delays_are_used():
    """Per-synapse delays: each target's current jumps at its own delay."""
    dt = 0.5
    net = ns.Network(dt=dt, seed=0)
    src = net.population("src", ns.SpikeTimes(1, indices=[0], times=[0.0]))
    tgt = net.population("tgt", ns.LIF(4, tau_exc=1e6, v_threshold=1e9))
    delays = np.array([0.5, 1.0, 3.0, 10.0])
    net.connect(src, tgt, ns.connect.from_matrix(np.ones((1, 4))), delay=delays)
    net.monitor_state(tgt, "i_exc")
    trace = net.run(15.0, progress=False).states["tgt.i_exc"].values
    first = [np.flatnonzero(trace[:, k] > 0)[0] for k in range(4)]
    assert first == [round(d / dt) for d in delays]


def test_continuing_a_run_equals_one_long_run():
    one = mixed_network().run(150.0, progress=False)
    net = mixed_network()
    a, b = net.run(70.0, progress=False), net.run(80.0, progress=False)
    assert b.t_start == pytest.approx(70.0)
    for name in one.spikes:
        joined = np.concatenate([a.spikes[name].times, b.spikes[name].times])
        np.testing.assert_array_equal(one.spikes[name].times, joined)


def test_chunk_size_does_not_change_results():
    a = mixed_network().run(100.0, progress=False, chunk_ms=3.3)
    b = mixed_network().run(100.0, progress=False)
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name].times, b.spikes[name].times)


def test_same_seed_same_spikes_other_seed_differs():
    a = mixed_network(seed=3).run(100.0, progress=False)
    b = mixed_network(seed=3).run(100.0, progress=False)
    c = mixed_network(seed=4).run(100.0, progress=False)
    np.testing.assert_array_equal(a.spikes["lif"].times, b.spikes["lif"].times)
    assert not np.array_equal(a.spikes["lif"].times, c.spikes["lif"].times)


def test_spike_buffer_grows_without_losing_spikes():
    """More spikes than the initial recorder capacity (65 536): all are kept, in order."""
    net = ns.Network(dt=0.1, seed=0)
    pop = net.population("p", ns.LIF(2000, t_ref=0.0, v_rest=0.0, v_threshold=-50.0, v_reset=-60.0))
    result = net.run(200.0, progress=False)
    assert result.spike_count() > 70_000
    assert len(result.spikes["p"]) == result.spike_count()
    assert np.all(np.diff(result.spikes["p"].times) >= 0)
    assert len(pop) == 2000


def test_fast_chunks_grow_and_change_nothing(monkeypatch):
    """Without chunk_ms a chunk that runs in under FAST_CHUNK_S doubles (up to CHUNK_GROWTH x
    1000 steps): fewer kernel calls, the same spikes as fixed 1000-step chunks."""
    from neurosim import network

    def small():
        net = ns.Network(dt=0.1, seed=5)
        src = net.population("src", ns.PoissonSource(50, rate=20.0))
        lif = net.population("lif", ns.LIF(20))
        net.connect(src, lif, ns.connect.random(0.3), weight=4.0, delay=ns.Uniform(0.1, 2.0))
        net.add_current(lif, ns.NoiseCurrent(std=2.0, mean=10.0))
        return net

    sizes, run_chunk = [], network._Recording.run_chunk

    def counting(self, kernel, first_step, k):
        sizes.append(k)
        return run_chunk(self, kernel, first_step, k)

    monkeypatch.setattr(network._Recording, "run_chunk", counting)
    grown = small().run(3000.0, progress=False)
    calls = [k for k in sizes if k > 0]
    assert max(calls) > 1000 and len(calls) < 30, calls
    sizes.clear()
    fixed = small().run(3000.0, progress=False, chunk_ms=100.0)
    assert max(k for k in sizes if k > 0) == 1000
    np.testing.assert_array_equal(grown.spikes["lif"].times, fixed.spikes["lif"].times)
    np.testing.assert_array_equal(grown.spikes["lif"].indices, fixed.spikes["lif"].indices)
