"""The liquid builder (Maass et al. 2002): grid, cell types, distance-dependent wiring, dynamic synapses."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.circuits.lsm import MAASS_C, MAASS_DELAY, MAASS_UDF, MAASS_UDF_SD, build_liquid


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


def truncated_normal_moments(mean, sd, upper):
    """Mean and SD of a Gaussian (``mean``, ``sd``) conditioned on (0, ``upper``]."""
    from math import erf, exp, inf, pi, sqrt

    a, b = -mean / sd, (upper - mean) / sd
    pdf = [exp(-z * z / 2) / sqrt(2 * pi) if z != inf else 0.0 for z in (a, b)]
    mass = (erf(b / sqrt(2)) if b != inf else 1.0) / 2 - erf(a / sqrt(2)) / 2
    shift = (pdf[0] - pdf[1]) / mass
    var = 1 + (a * pdf[0] - (b * pdf[1] if b != inf else 0.0)) / mass - shift ** 2
    return mean + sd * shift, sd * sqrt(var)


def udf_draws(projections, pair_of):
    """Per pair type: the pooled per-synapse U, D and F of ``projections`` (name -> pair type)."""
    pooled = {}
    for proj in projections:
        values = pooled.setdefault(pair_of(proj), {"U": [], "tau_rec": [], "tau_facil": []})
        for k in values:
            values[k].append(proj.synapse_parameters[k])
    return {pair: {k: np.concatenate(v) for k, v in values.items()} for pair, values in pooled.items()}


def test_liquid_synapses_are_maass_dynamic_synapses():
    """Recurrent and input synapses are Tsodyks-Markram with Maass's U, D, F per pair type: the
    pooled means and SDs of 8 liquids must match the Gaussian's (redrawn outside (0, upper])
    within 4 standard errors of the sample size (II, the smallest, has about 70 synapses)."""
    from neurosim.circuits.lsm import connect_input
    from neurosim.plasticity.synapses import TSODYKS_MARKRAM_MODEL

    # Appendix B's means, U and D, F in seconds, SD 50 % of the mean
    paper = {("E", "E"): (0.5, 1.1, 0.05), ("E", "I"): (0.05, 0.125, 1.2), ("I", "E"): (0.25, 0.7, 0.02),
             ("I", "I"): (0.32, 0.144, 0.06)}
    assert set(MAASS_UDF) == set(paper)
    for pair, (U, D, F) in MAASS_UDF.items():
        np.testing.assert_allclose((U, D / 1000, F / 1000), paper[pair], err_msg=str(pair))  # ms here
    assert MAASS_UDF_SD == 0.5

    recurrent, inputs = [], []
    for seed in range(8):
        net = ns.Network(dt=0.1, seed=seed)
        liquid = build_liquid(net)
        assert liquid.dynamic_synapses
        for (a, b), proj in liquid.projections.items():
            proj.pair = (a, b)
            recurrent.append(proj)
        source = net.population("input", ns.SpikeTimes(20, indices=[0], times=[1.0]))
        to_e, to_i = connect_input(net, source, liquid)
        to_e.pair, to_i.pair = ("E", "E"), ("E", "I")  # input channels are excitatory
        inputs += [to_e, to_i]
    for proj in recurrent + inputs:
        assert proj.plastic and proj.synapse.definition is TSODYKS_MARKRAM_MODEL, proj.name
        assert np.all(proj.synapse_state["u"] == 0.0) and np.all(proj.synapse_state["x"] == 1.0)
    for projections, pairs in ((recurrent, set(MAASS_UDF)), (inputs, {("E", "E"), ("E", "I")})):
        draws = udf_draws(projections, lambda p: p.pair)
        assert set(draws) == pairs
        for pair in pairs:
            U, D, F = MAASS_UDF[pair]
            for key, mean, upper in (("U", U, 1.0), ("tau_rec", D, np.inf), ("tau_facil", F, np.inf)):
                v = draws[pair][key]
                sd = MAASS_UDF_SD * mean
                assert v.size > 40 and np.all(v > 0) and np.all(v <= upper), (pair, key)
                law_mean, law_sd = truncated_normal_moments(mean, sd, upper)
                assert abs(v.mean() - law_mean) < 4 * law_sd / np.sqrt(v.size), (pair, key, v.mean(), law_mean)
                # standard error of a sample SD, relative: about 1 / sqrt(2 n)
                assert abs(v.std() / law_sd - 1) < 4 / np.sqrt(2 * v.size), (pair, key, v.std(), law_sd)
    # the draws are the synapses' own: U of EE and of EI differ by a factor of 10
    draws = udf_draws(recurrent, lambda p: p.pair)
    assert draws[("E", "E")]["U"].mean() > 5 * draws[("E", "I")]["U"].mean()


def test_static_liquid_is_the_liquid_before_dynamic_synapses():
    """dynamic_synapses=False draws and runs the liquid neurosim had before short-term plasticity:
    the same states and spike counts as that code gave (values recorded from commit 69eb624)."""
    from neurosim.circuits.lsm import LiquidStateMachine

    rng = np.random.default_rng(0)
    sample = (rng.integers(0, 6, 400), np.sort(rng.uniform(0, 80.0, 400)))
    static = LiquidStateMachine(6, shape=(5, 3, 3), seed=3, input_scale=0.3, dynamic_synapses=False,
                                backend="numpy")
    states = static.states([sample], [40.0, 90.0], progress=False)
    assert states.shape == (1, 2, 45)
    np.testing.assert_allclose(float(states.astype(np.float64).sum()), 529.5406991094351, rtol=1e-6)
    np.testing.assert_allclose(states[0, 1, :6], [0.0, 2.3659306, 8.327109, 8.432609, 7.1242332, 0.5841292],
                               rtol=1e-6)
    result, liquid = static.run(sample, 90.0)
    assert not liquid.dynamic_synapses and not any(p.plastic for p in liquid.projections.values())
    assert (len(result.spikes[liquid.exc.name]), len(result.spikes[liquid.inh.name])) == (732, 215)
    # the dynamic liquid: same shape of state, different (depressing, mostly weaker) synapses
    dynamic = LiquidStateMachine(6, shape=(5, 3, 3), seed=3, input_scale=0.3, backend="numpy")
    dyn_states = dynamic.states([sample], [40.0, 90.0], progress=False)
    assert dyn_states.shape == (1, 2, 45) and dyn_states.dtype == np.float32
    assert 0 < dyn_states.sum() < states.sum()
    with pytest.raises(TypeError, match="dynamic_synapses"):
        LiquidStateMachine(6, dynamic_synapses="yes")
