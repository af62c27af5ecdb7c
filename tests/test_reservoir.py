"""IzhikevichReservoir and FORCE on the event-driven engine: Nicola & Clopath's demos at reduced
scale, the synapse construction, in-run learning, failures that keep what was sampled, bad input."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.circuits import IzhikevichReservoir, SynapticFilter
from neurosim.examples.force_sine import TASKS, nrmse
from neurosim.plasticity import FORCE, Ridge, RLSDivergedError, ThreeFactorHebbian


def _force_task(task, n, seed, settle=500.0, train=2000.0, test=1000.0, every=5, feedback=True):
    f, G, Q = TASKS[task]
    res = IzhikevichReservoir.nicola_clopath(n, G=G, Q=Q, seed=seed)
    force = FORCE(res.n, 1, regularization=0.5, update="nicola-clopath")  # their code's step
    phases = {}
    for name, length, learn in (("settle", settle, False), ("train", train, True), ("test", test, False)):
        start = res.network.step * res.dt
        phases[name] = res.run(length, readout=force, target=lambda t, s=start: [f(s + t)], learn=learn,
                               feedback=feedback, every=every, learn_every=20)
    return res, force, phases


@pytest.mark.slow  # over 4 s
@pytest.mark.parametrize("task, seed, train", [("sine", 1, 3000.0), ("product", 0, 4000.0)])
def test_force_learns_and_keeps_producing_the_target_with_learning_off(task, seed, train):
    # Nicola & Clopath's demos (IZFORCESINE.m, IZFORCEPRODSINE.m parameters) at 1000 neurons and
    # 3-4 s of training instead of 2000 neurons and 5 s (the example runs the full scale: test
    # NRMSE 0.08 and 0.11). At this reduced scale the test error is mostly phase drift and
    # varies with the seed: seeds 0-4 gave 0.09 0.04 0.08 0.06 0.28 (sine), 0.11 0.20 0.22
    # (product, seeds 0-2).
    res, force, phases = _force_task(task, n=1000, seed=seed, train=train, every=4)
    test = phases["test"]
    assert test.times[-1] - test.times[0] >= 999.0
    assert nrmse(test.outputs[:, 0], test.targets[:, 0]) < 0.2
    # learning off during the test: the weights did not move
    assert force.n_updates == int(round(train / res.dt)) // 20
    # before training the readout is silent (phi = 0), so the error is the target's size
    settle = phases["settle"]
    assert np.all(settle.outputs == 0)


def test_feedback_switch():
    # feedback=False: the readout learns but never acts on the network, whose spikes equal a
    # run without any readout; feedback=True: the output enters as current and changes them.
    def spikes(**kw):
        res = IzhikevichReservoir.nicola_clopath(200, seed=5)
        force = FORCE(res.n, 1, regularization=0.5)
        target = np.ones((2500, 1))
        run = res.run(100.0, **({"readout": force, "target": target, "learn": True, "learn_every": 20} | kw))
        return run.result.spikes["reservoir"], force

    plain = IzhikevichReservoir.nicola_clopath(200, seed=5).run(100.0).result.spikes["reservoir"]
    open_loop, f_open = spikes(feedback=False)
    closed_loop, f_closed = spikes(feedback=True)
    np.testing.assert_array_equal(open_loop.indices, plain.indices)
    np.testing.assert_array_equal(open_loop.times, plain.times)
    assert f_open.n_updates == f_closed.n_updates == 125 and np.abs(f_open.weights).sum() > 0
    assert not (closed_loop.times.size == plain.times.size and np.array_equal(closed_loop.indices, plain.indices))


def test_updates_happen_inside_one_run_not_by_resimulating():
    res = IzhikevichReservoir.nicola_clopath(200, seed=0)
    force = FORCE(res.n, 1, regularization=1.0)
    seen = []

    class Spy(ns.Hook):  # a second hook sees the weights change between calls of the same run
        def __call__(self, ctx):
            seen.append(float(np.abs(force.weights).sum()))

    hook = Spy(every=100)
    run = res.run(40.0, readout=force, target=np.ones((1000, 1)), learn=True, every=10, learn_every=20)
    assert res.network.step == 1000  # 40 ms at 0.04 ms, simulated once
    assert force.n_updates == 50
    assert run.times.size == 100 and run.outputs.shape == (100, 1) and run.targets.shape == (100, 1)
    np.testing.assert_allclose(np.diff(run.times), 0.4)
    res.run(8.0, readout=force, target=np.ones((200, 1)), learn=True, every=10, learn_every=20)
    res.network.run(8.0, hooks=hook)
    assert len(seen) == 2 and force.n_updates == 60


def test_double_exponential_synapses_equal_the_readout_filter():
    # The recurrent current of the Nicola-Clopath network is W^T r / C with r the readout's
    # filtered spike trains: the two-exponential construction equals the SynapticFilter.
    n, steps = 60, 1500
    res = IzhikevichReservoir.nicola_clopath(n, seed=4)
    net = res.network
    pop = res.populations[0]
    net.monitor_state(pop, ("i_exc", "i_inh"))
    result = net.run(steps * net.dt)
    w = net.projections[0].to_dense() * (20.0 - 2.0)  # [source, target]: omega^T / C
    filt = SynapticFilter(n, net.dt, 2.0, 20.0)
    sp = result.spikes["reservoir"]
    step_of = np.rint(sp.times / net.dt).astype(int)
    current = result.states["reservoir.i_exc"].values + result.states["reservoir.i_inh"].values
    for t in range(1, steps):  # the current sampled at the start of step t holds spikes <= t-1
        mine = step_of == t - 1
        r = filt.advance(1, step_of[mine], sp.indices[mine], t - 1)
        np.testing.assert_allclose(current[t], r @ w, rtol=1e-7, atol=1e-8)
    assert sp.indices.size > 60


def test_dale_reservoir_structure_and_seed():
    a = IzhikevichReservoir(300, seed=7, n_inputs=2, n_feedback=1)
    b = IzhikevichReservoir(300, seed=7, n_inputs=2, n_feedback=1)
    exc, inh = a.populations
    assert (len(exc), len(inh)) == (240, 60) and a.n == 300
    for proj in a.network.projections:
        assert (proj.weight >= 0).all() if proj.source is exc else (proj.weight <= 0).all()
    np.testing.assert_array_equal(a.input_encoders, b.input_encoders)
    assert (a.input_encoders[240:] == 0).all() and (a.input_encoders[:240] > 0).sum(axis=0).tolist() == [48, 48]
    ra, rb = a.run(200.0, record_states=True), b.run(200.0, record_states=True)
    np.testing.assert_array_equal(ra.states, rb.states)
    assert ra.states.shape == (200, 300) and ra.states.max() > 0


def test_inputs_drive_the_encoded_neurons():
    res = IzhikevichReservoir(200, seed=1, n_inputs=1, noise_std=0.0, input_weight=20.0)
    quiet = res.run(100.0, inputs=np.zeros((100, 1))).result.spike_count()
    driven = res.run(100.0, inputs=np.ones((100, 1))).result
    target = np.flatnonzero(res.input_encoders[:, 0] > 0)
    fired = np.unique(driven.spikes["exc"].indices)
    assert driven.spike_count() > quiet + 50
    assert np.isin(target, fired).mean() > 0.9


def test_three_factor_and_ridge_readouts_learn_the_input_in_the_loop():
    # The reservoir encodes a (non-negative) input current; the three-factor rule learns online
    # to read it back, and so does ridge offline on the recorded states; both then work with
    # learning off, far better than predicting the mean.
    res = IzhikevichReservoir(200, seed=2, n_inputs=1, input_weight=20.0)
    inputs = (1 + np.sin(np.arange(2000) / 20.0))[:, None] / 2
    hebb = ThreeFactorHebbian(res.n, 1, learning_rate=0.01, normalize=True)
    train = res.run(1500.0, readout=hebb, inputs=inputs, target=inputs, learn=True, gate=1.0, record_states=True)
    assert hebb.n_updates == 1500
    test = res.run(500.0, readout=hebb, inputs=inputs[1500:], target=inputs[1500:], record_states=True)
    assert hebb.n_updates == 1500
    mean_predictor = np.abs(test.targets - test.targets.mean()).mean()
    assert np.abs(test.outputs - test.targets).mean() < 0.6 * mean_predictor
    ridge = Ridge(res.n, 1, alpha=1e-4).fit(train.states.astype(float), inputs[:1500])
    assert np.abs(ridge.predict(test.states.astype(float)) - test.targets).mean() < 0.6 * mean_predictor


def test_a_failing_readout_keeps_what_was_sampled():
    res = IzhikevichReservoir.nicola_clopath(100, seed=0)
    force = FORCE(res.n, 1, regularization=1.0)
    res.run(20.0, readout=force)
    force._P[:] = -1e3 * np.eye(res.n)  # an indefinite P: the next update must refuse
    with pytest.raises(RLSDivergedError, match="positive definiteness") as err:
        res.run(20.0, readout=force, target=np.ones((500, 1)), learn=True, every=10, learn_every=100)
    partial = err.value.reservoir_run
    assert partial.times.size == 10 and partial.result is res.network.last_result
    assert partial.result.n_steps == 100


@pytest.mark.parametrize("kwargs, match", [
    (dict(readout=FORCE(99, 1)), "n_inputs"),
    (dict(readout=FORCE(100, 1), target=np.ones((10, 1))), "shorter than the run"),
    (dict(readout=FORCE(100, 1), target=np.ones((250, 2))), r"shape \[n_steps, 1\]"),
    (dict(readout=FORCE(100, 1), every=3, learn_every=20), "multiple of every"),
    (dict(feedback=True), "needs a readout"),
    (dict(readout=FORCE(100, 2), feedback=True), "feedback encoders"),
    (dict(readout=FORCE(100, 1), target=np.ones((250, 1)), gate=1.0), "gate"),
    (dict(readout=FORCE(100, 1), learn=True), "needs a target"),
    (dict(readout=FORCE(100, 1), learn=np.ones(3, bool), target=np.ones((250, 1))), "learn is shorter"),
    (dict(inputs=np.ones((250, 1))), r"shape \[n_steps, 0\]"),
])
def test_bad_run_arguments_are_refused(kwargs, match):
    res = IzhikevichReservoir.nicola_clopath(100, seed=0)
    with pytest.raises((ValueError, TypeError), match=match):
        res.run(10.0, **kwargs)
    assert res.network.step == 0  # refused before simulating


def test_bad_reservoir_arguments_are_refused():
    with pytest.raises(ValueError, match="exc_fraction"):
        IzhikevichReservoir(100, exc_fraction=1.0)
    with pytest.raises(ValueError, match="connectivity"):
        IzhikevichReservoir(100, connectivity=1.5)
    with pytest.raises(ValueError, match="tau_rise"):
        IzhikevichReservoir.nicola_clopath(100, tau_rise=30.0)
    with pytest.raises(ValueError, match="n must be"):
        IzhikevichReservoir(1)


def test_non_finite_feedback_names_population_and_step_and_keeps_the_samples():
    res = IzhikevichReservoir.nicola_clopath(100, seed=0)
    force = FORCE(res.n, 1)
    res.run(8.0, readout=force, feedback=True, every=5)
    force.weights[:] = np.nan  # a broken readout: its output cannot be fed back
    with pytest.raises(ValueError, match=r"'reservoir' must be finite at step 205") as err:
        res.run(20.0, readout=force, feedback=True, every=5)
    assert err.value.reservoir_run.times.size == 1
    assert res.network.last_result.n_steps == 5
