"""Neuron models, presets and inputs behave as their equations say."""

import math

import numpy as np
import pytest

import neurosim as ns


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lif_constant_current_firing_period(backend):
    """Driven LIF: v(t) = v_inf + (v_reset - v_inf) e^{-t/tau}; the inter-spike interval is
    set by the refractory period and the first step at which v exceeds threshold."""
    dt, tau, t_ref, drive = 0.1, 20.0, 2.0, 30.0
    net = ns.Network(dt=dt, seed=0)
    pop = net.population("p", ns.LIF(1, tau_m=tau, v_rest=-70.0, v_threshold=-50.0, v_reset=-70.0, t_ref=t_ref,
                                     v_init=-70.0))
    net.add_current(pop, ns.ConstantCurrent(drive))
    times = net.run(500.0, backend=backend, progress=False).spikes["p"].times
    v_inf = -70.0 + drive
    t_cross = tau * math.log((-70.0 - v_inf) / (-50.0 - v_inf))
    # v sits at v_reset for t_ref (samples s+1 .. s+R), is integrated from step s+R on and
    # spikes at the first update that takes it past threshold (as in Brian2).
    expected_isi = t_ref - dt + math.ceil(t_cross / dt - 1e-9) * dt
    isi = np.diff(times)
    assert len(times) > 10
    np.testing.assert_allclose(isi, expected_isi, atol=1e-9)
    assert times[0] == pytest.approx((math.ceil(t_cross / dt - 1e-9) - 1) * dt)


def test_lif_synaptic_current_decays_exponentially():
    dt, tau_exc = 0.1, 4.0
    net = ns.Network(dt=dt, seed=0)
    src = net.population("s", ns.SpikeTimes(1, [0], [0.0]))
    tgt = net.population("t", ns.LIF(1, tau_exc=tau_exc, v_threshold=1e9))
    net.connect(src, tgt, ns.connect.all_to_all(), weight=2.0)
    net.monitor_state(tgt, "i_exc")
    values = net.run(10.0, progress=False).states["t.i_exc"].values[:, 0]
    start = np.flatnonzero(values)[0]
    expected = 2.0 * np.exp(-dt / tau_exc) ** np.arange(0, 19)
    np.testing.assert_allclose(values[start : start + 19], expected, rtol=1e-12)


def test_lif_voltage_matches_exact_solution_with_current_pulse():
    """An excitatory current kick: v follows the closed-form double-exponential response."""
    dt, tau_m, tau_s, w = 0.1, 10.0, 3.0, 5.0
    net = ns.Network(dt=dt, seed=0)
    src = net.population("s", ns.SpikeTimes(1, [0], [0.0]))
    tgt = net.population("t", ns.LIF(1, tau_m=tau_m, tau_exc=tau_s, v_rest=0.0, v_init=0.0, v_threshold=1e9))
    net.connect(src, tgt, ns.connect.all_to_all(), weight=w)
    net.monitor_state(tgt, "v")
    values = net.run(30.0, progress=False).states["t.v"].values[:, 0]
    # current arrives at the start of step 1; v sampled at step k has seen (k - 1) steps of it
    t = (np.arange(values.size) - 1) * dt
    expected = np.where(t > 0, w * tau_s / (tau_s - tau_m) * (np.exp(-t / tau_s) - np.exp(-t / tau_m)), 0.0)
    np.testing.assert_allclose(values, expected, atol=1e-10)


def test_izhikevich_single_neuron_matches_hand_written_2003_update():
    """Regular spiking neuron, I = 10, dt = 1 ms, two 0.5 ms half steps for v (the paper's code)."""
    net = ns.Network(dt=1.0, seed=0)
    pop = net.population("p", ns.Izhikevich.regular_spiking(1))
    net.add_current(pop, ns.ConstantCurrent(10.0))
    net.monitor_state(pop, ["v", "u"])
    result = net.run(300.0, progress=False)
    v, u, fired = -65.0, 0.2 * -65.0, []
    vs = []
    for t in range(300):
        vs.append(v)
        for _ in range(2):
            v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + 10.0)
        u = u + 0.02 * (0.2 * v - u)
        if v >= 30:
            fired.append(t)
            v, u = -65.0, u + 8.0
    np.testing.assert_array_equal(result.spikes["p"].times, np.array(fired, dtype=float))
    np.testing.assert_array_equal(result.states["p.v"].values[:, 0], vs)
    assert len(fired) > 5


def test_izhikevich_2003_recipes():
    rng = np.random.default_rng(0)
    exc = ns.Izhikevich.regular_spiking(5000, heterogeneity=1.0).resolve(rng)
    assert np.all(exc.a == 0.02) and np.all(exc.b == 0.2)
    r2 = (exc.c + 65.0) / 15.0
    np.testing.assert_allclose(exc.d, 8.0 - 6.0 * r2)  # c and d share the same r
    assert 0.0 <= r2.min() and r2.max() <= 1.0 and abs(np.mean(np.sqrt(r2)) - 0.5) < 0.02
    inh = ns.Izhikevich.fast_spiking(5000, heterogeneity=1.0).resolve(rng)
    r = (inh.a - 0.02) / 0.08
    np.testing.assert_allclose(inh.b, 0.25 - 0.05 * r)
    assert np.all(inh.c == -65.0) and np.all(inh.d == 2.0) and abs(r.mean() - 0.5) < 0.02
    pure = ns.Izhikevich.fast_spiking(10).resolve(rng)
    assert np.all(pure.a == 0.1) and np.all(pure.b == 0.2)
    half = ns.Izhikevich.regular_spiking(5000, heterogeneity=0.5).resolve(rng)
    assert ((half.c + 65.0) / 15.0).max() <= 0.25 + 1e-12
    ch = ns.Izhikevich.chattering(10).resolve(rng)
    assert np.all(ch.c == -50.0) and np.all(ch.d == 2.0)


def test_izhikevich_substeps_default():
    model = ns.Izhikevich(1)
    assert model.substeps_for(1.0) == 2 and model.substeps_for(0.5) == 1 and model.substeps_for(0.1) == 1
    assert ns.Izhikevich(1, substeps=4).substeps_for(1.0) == 4


def test_heterogeneous_parameters_reach_the_neurons():
    net = ns.Network(dt=0.1, seed=0)
    thresholds = np.linspace(-55.0, -45.0, 50)
    pop = net.population("p", ns.LIF(50, v_threshold=thresholds, v_rest=-40.0, v_init=-70.0, v_reset=-70.0))
    result = net.run(100.0, progress=False)
    counts = np.bincount(result.spikes["p"].indices, minlength=50)
    assert np.all(np.diff(counts) <= 0) and counts[0] > counts[-1]  # higher threshold, fewer spikes
    assert len(pop) == 50


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_poisson_source_rate(backend):
    net = ns.Network(dt=0.1, seed=1)
    net.population("p", ns.PoissonSource(1000, rate=40.0))
    result = net.run(1000.0, backend=backend, progress=False)
    n = result.spike_count("p")
    expected = 1000 * 40.0 * 1.0
    assert abs(n - expected) < 5 * math.sqrt(expected)


def test_spike_times_source_emits_exactly_its_spikes():
    times = [0.0, 1.25, 1.3, 7.0]
    net = ns.Network(dt=0.1, seed=1)
    net.population("g", ns.SpikeTimes(3, indices=[2, 0, 1, 2], times=times))
    sp = net.run(10.0, progress=False).spikes["g"]
    np.testing.assert_allclose(sp.times, [0.0, 1.2, 1.3, 7.0])  # rounded to steps (1.25 -> step 12, banker's rint)
    np.testing.assert_array_equal(sp.indices, [2, 0, 1, 2])


def test_noise_current_statistics():
    """Free membrane with noise only: the v-variance matches the discrete OU process."""
    dt, tau, std = 0.1, 10.0, 2.0
    net = ns.Network(dt=dt, seed=5)
    pop = net.population("p", ns.LIF(400, tau_m=tau, v_rest=0.0, v_init=0.0, v_threshold=1e9))
    net.add_current(pop, ns.NoiseCurrent(std=std, mean=1.0))
    net.monitor_state(pop, "v", every=5.0)
    values = net.run(500.0, progress=False).states["p.v"].values[20:]
    a = math.exp(-dt / tau)
    expected_var = (std * (1 - a)) ** 2 / (1 - a * a)
    assert values.mean() == pytest.approx(1.0, abs=0.05)
    assert values.var() == pytest.approx(expected_var, rel=0.1)
