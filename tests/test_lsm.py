"""The liquid builder (Maass et al. 2002): grid, cell types, distance-dependent wiring."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.circuits.lsm import MAASS_C, MAASS_DELAY, build_liquid


def pair_distances(liquid, a, b):
    pos = {"E": liquid.positions_exc, "I": liquid.positions_inh}
    proj = liquid.projections[(a, b)]
    connected = np.linalg.norm(pos[a][proj.sources()] - pos[b][proj.target], axis=1)
    every = np.linalg.norm(pos[a][:, None] - pos[b][None], axis=-1)
    if a == b:
        every = every[~np.eye(len(pos[a]), dtype=bool)]  # no self-loops
    return connected, every.ravel()


def test_built_liquid_follows_the_connection_probability_curve():
    """Pool 20 seeded 15x3x3 liquids; per pair type and distance shell the connected fraction
    must match C exp(-(D/lambda)^2) within binomial error."""
    connected = {k: [] for k in MAASS_C}
    every = {k: [] for k in MAASS_C}
    for seed in range(20):
        liquid = build_liquid(ns.Network(dt=0.1, seed=seed))
        assert (len(liquid.exc), len(liquid.inh)) == (108, 27)
        for k in MAASS_C:
            c, e = pair_distances(liquid, *k)
            connected[k].append(c)
            every[k].append(e)
    for (a, b), C in MAASS_C.items():
        c = np.round(np.concatenate(connected[(a, b)]), 6)
        e = np.round(np.concatenate(every[(a, b)]), 6)
        for d in np.unique(e)[:6]:  # the near shells hold nearly all synapses
            n_pairs = int(np.sum(e == d))
            p = C * np.exp(-((d / 2.0) ** 2))
            got = int(np.sum(c == d))
            assert abs(got - n_pairs * p) < 4 * np.sqrt(n_pairs * p * (1 - p)) + 2, ((a, b), d, got, n_pairs * p)


def test_liquid_weights_delays_and_seeding():
    net = ns.Network(dt=0.1, seed=4)
    liquid = build_liquid(net)
    ee, ie = liquid.projections[("E", "E")], liquid.projections[("I", "E")]
    assert np.all(ee.weight > 0) and np.all(ie.weight < 0) and ie.receptor == 1
    # gamma amplitudes with SD = mean: coefficient of variation about 1
    assert abs(ee.weight.mean() - 30.0) < 4.0 and abs(ee.weight.std() / ee.weight.mean() - 1) < 0.2
    assert np.all(ee.delay == round(MAASS_DELAY[("E", "E")] / 0.1))
    undelayed = build_liquid(ns.Network(dt=0.1, seed=4), delays=False)
    assert all(np.all(p.delay == 1) for p in undelayed.projections.values())  # one step
    again = build_liquid(ns.Network(dt=0.1, seed=4))
    np.testing.assert_array_equal(again.positions_inh, liquid.positions_inh)
    np.testing.assert_array_equal(again.projections[("E", "E")].target, ee.target)
    other = build_liquid(ns.Network(dt=0.1, seed=5))
    assert not np.array_equal(other.positions_inh, liquid.positions_inh)
    big = build_liquid(ns.Network(dt=0.1, seed=0), shape=(4, 5, 6), lam=3.0)
    assert big.n == 120 and big.lam == 3.0


def test_liquid_runs_and_bad_arguments_are_named():
    silent = ns.Network(dt=0.1, seed=2)
    liquid = build_liquid(silent)
    # the background alone holds v at 13.5 mV, below the 15 mV threshold: no input, no spikes
    assert len(silent.run(100.0, backend="numpy", progress=False).spikes[liquid.exc.name]) == 0
    driven = ns.Network(dt=0.1, seed=2)
    liquid = build_liquid(driven)
    driven.add_current(liquid.exc, ns.ConstantCurrent(ns.Uniform(0.0, 3.0)))
    result = driven.run(100.0, backend="numpy", progress=False)
    assert len(result.spikes[liquid.exc.name]) > 0 and len(result.spikes[liquid.inh.name]) > 0
    for kwargs, match in (({"lam": -1.0}, "lam"), ({"inhibitory_fraction": 1.5}, "inhibitory_fraction"),
                          ({"C": {("E", "E"): 0.3}}, "C needs exactly")):
        with pytest.raises(ValueError, match=match):
            build_liquid(ns.Network(dt=0.1, seed=0), **kwargs)


def test_liquid_state_is_the_filtered_spike_train():
    from neurosim.circuits.lsm import liquid_state
    from neurosim.result import Spikes

    spikes = Spikes(times=np.array([1.0, 5.0, 10.0, 40.0]), indices=np.array([0, 2, 0, 1]))
    state = liquid_state(spikes, 3, [0.0, 10.0, 40.0], tau=30.0)
    np.testing.assert_allclose(state[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(state[1], [np.exp(-9 / 30) + 1.0, 0.0, np.exp(-5 / 30)])
    np.testing.assert_allclose(state[2], [np.exp(-39 / 30) + np.exp(-30 / 30), 1.0, np.exp(-35 / 30)])
    with pytest.raises(ValueError, match="tau"):
        liquid_state(spikes, 3, [1.0], tau=0.0)
    with pytest.raises(ValueError, match=r"\[0, n = 2\)"):
        liquid_state(spikes, 2, [1.0])


def test_input_reaches_a_fraction_of_the_liquid_and_drives_it():
    from neurosim.circuits.lsm import connect_input, liquid_state

    net = ns.Network(dt=0.1, seed=7)
    liquid = build_liquid(net)
    channel = np.tile(np.arange(4), 100)  # 4 channels, each spiking every 1 ms
    source = net.population("input", ns.SpikeTimes(4, indices=channel, times=np.repeat(np.arange(100.0), 4)))
    to_e, to_i = connect_input(net, source, liquid)
    reached = np.unique(to_e.target)
    assert 0.3 * 108 * 0.5 < reached.size < 108  # 4 channels x 30 %: most E neurons, not all
    assert abs(to_e.n_synapses / (4 * 108) - 0.3) < 0.1 and np.all(to_i.weight > 0)
    result = net.run(120.0, backend="numpy", progress=False)
    state = liquid_state(result.spikes[liquid.exc.name], len(liquid.exc), [50.0, 100.0])
    assert state.shape == (2, 108) and state.sum() > 0
    with pytest.raises(ValueError, match="fraction"):
        connect_input(net, source, liquid, fraction=2.0)


def test_liquid_state_machine_gives_each_sample_the_same_liquid():
    from neurosim.circuits.lsm import LiquidStateMachine
    from neurosim.events import EventStream

    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 80_000, 300))
    stream = EventStream.from_arrays(rng.integers(0, 8, 300), rng.integers(0, 8, 300), t, rng.integers(0, 2, 300),
                                     (8, 8))
    lsm = LiquidStateMachine(stream.channels(4)[1], shape=(5, 3, 3), seed=3, input_scale=0.3)
    quiet = (np.array([0]), np.array([10.0]))
    states = lsm.states([stream, quiet, stream], [40.0, 90.0], pool=4, progress=False)
    assert states.shape == (3, 2, 45) and states.dtype == np.float32
    np.testing.assert_array_equal(states[0], states[2])          # same input, same liquid: same state
    assert states[0].sum() > 0 and states[0].sum() > states[1].sum()  # more input, more activity
    # the state is the liquid_state of the run's spikes, E then I
    from neurosim.circuits.lsm import liquid_state
    result, liquid = lsm.run(stream, 90.0, pool=4)
    n_exc = len(liquid.exc)
    np.testing.assert_allclose(states[0, :, :n_exc],
                               liquid_state(result.spikes[liquid.exc.name], n_exc, [40.0, 90.0]), rtol=1e-6)
    other = LiquidStateMachine(stream.channels(4)[1], shape=(5, 3, 3), seed=4, input_scale=0.3)
    assert not np.array_equal(other.states([stream], [90.0], pool=4, progress=False)[0, 0], states[0, 1])


def test_liquid_state_machine_bad_input_is_named():
    from neurosim.circuits.lsm import LiquidStateMachine

    lsm = LiquidStateMachine(4, shape=(3, 3, 3))
    with pytest.raises(ValueError, match=r"input indices must lie in \[0, n_inputs = 4\)"):
        lsm.states([(np.array([4]), np.array([1.0]))], [10.0])
    with pytest.raises(TypeError, match="EventStream or an"):
        lsm.states([np.zeros(3)], [10.0])
    with pytest.raises(ValueError, match="sample_times"):
        lsm.states([(np.array([0]), np.array([1.0]))], [-1.0])
    for kwargs, match in (({"dt": 0.0}, "dt"), ({"input_scale": -1.0}, "input_scale"),
                          ({"input_fraction": 2.0}, "fraction"), ({"lam": -1.0}, "lam")):
        with pytest.raises(ValueError, match=match):
            LiquidStateMachine(4, **kwargs)
    with pytest.raises(ValueError, match="n_inputs"):
        LiquidStateMachine(0)


def test_probes_separate_separable_states_and_name_bad_input():
    from neurosim.circuits.lsm import linear_probe, probe_accuracy

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    centres = rng.normal(size=(4, 3, 20)) * 3
    states = centres[labels] + rng.normal(size=(120, 3, 20))     # [samples, times, neurons]
    for kind in ("ridge", "logistic"):
        mean, sd = probe_accuracy(states, labels, kind=kind)
        assert mean > 0.95 and sd >= 0
    shuffled = probe_accuracy(states, rng.permutation(labels))[0]
    assert shuffled < 0.5                                       # chance is 0.25
    with pytest.raises(ValueError, match="kind"):
        linear_probe("svm")
    with pytest.raises(ValueError, match="one row per sample"):
        probe_accuracy(states, labels[:-1])
