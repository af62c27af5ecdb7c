"""Plastic synapses in the event-driven engine: synapse models defined once (ns.SynapseModel),
their timing semantics, numpy/numba identity, weights read and written between runs, the
synapse monitor, checkpoints, and the errors users get."""

import numpy as np
import pytest

import neurosim as ns
from neurosim import network
from neurosim.plasticity import STDP, IzhikevichSTDP, TsodyksMarkram
from neurosim.plasticity.synapses import izhikevich_stdp_model

# A neuron that spikes at the step after it receives a pulse > 0.5: post spikes can be placed
# exactly, so a rule's timing can be checked against an independent event-by-event model.
RELAY = ns.NeuronModel(
    "Relay", parameters={}, state={"v": 0.0, "i_exc": 0.0},
    update="v = i_exc\ni_exc = 0.0", threshold="v > 0.5", reset="v = 0.0", inputs={"exc": "i_exc"})

HEBB = ns.SynapseModel(
    "hebb_voltage", parameters={"eta": 0.01, "tau": ns.Parameter(10.0, "ms", positive=True)},
    state={"w": None, "trace": 0.0},
    on_pre="release = w\ntrace = trace * exp(-elapsed / tau) + 1\nw = w + eta * (v_post + 60.0) * 0.001",
    on_post="trace = trace * exp(-elapsed / tau)\nw = clip(w + eta * trace, 0, 2)")

# The Izhikevich (2006) rule with a period of 5 ms, so that short runs see its updates.
IZHIKEVICH_FAST = izhikevich_stdp_model(5.0)


def plastic_network(seed=1, delays=True, repeats=True):
    """Every plastic kind at once: STDP (two variants) with drawn delays, Tsodyks-Markram, the
    Izhikevich rule with a short period, a user rule reading v_post; a spike source that fires
    several times in a step."""
    net = ns.Network(dt=0.1, seed=seed)
    poisson = net.population("poisson", ns.PoissonSource(60, rate=30.0))
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 200, 150))
    idx = rng.integers(0, 5, times.size)
    if repeats:
        times, idx = np.concatenate([times, times[:20]]), np.concatenate([idx, idx[:20]])
    burst = net.population("burst", ns.SpikeTimes(5, indices=idx, times=times))
    lif = net.population("lif", ns.LIF(8, v_init=ns.Uniform(-65.0, -52.0)))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(6))
    delay = ns.Uniform(0.1, 3.0) if delays else None
    net.connect(poisson, lif, ns.connect.all_to_all(), weight=ns.Uniform(0.5, 3.0), delay=delay,
                synapse=STDP(w_max=3.0, a_pre=0.1, a_post=-0.105))
    net.connect(burst, lif, ns.connect.all_to_all(), weight=1.0, delay=delay,
                synapse=STDP(w_max=3.0, a_pre=0.05, a_post=-0.06, weight_dependence="multiplicative", pairing="nearest"))
    net.connect(poisson, izh, ns.connect.random(0.5), weight=ns.Uniform(2.0, 8.0), delay=delay,
                synapse=IZHIKEVICH_FAST())
    net.connect(lif, lif, ns.connect.random(0.5), weight=2.0, synapse=TsodyksMarkram(U=0.4, tau_rec=100.0, tau_facil=50.0))
    net.connect(poisson, izh, ns.connect.random(0.3), weight=1.0, synapse=HEBB(eta=0.02), name="hebb")
    net.connect(lif, izh, ns.connect.random(0.3), weight=3.0, delay=1.0)  # static, beside the plastic ones
    net.add_current(izh, ns.NoiseCurrent(std=2.0, mean=5.0))
    return net


def run_all(net, backend, duration=200.0):
    result = net.run(duration, backend=backend, progress=False)
    return result, [p.weights for p in net.projections], [p.synapse_variable(v) for p in net.projections if p.plastic
                                                          for v in p.synapse.definition.state]


def test_numpy_and_numba_give_identical_spikes_weights_and_synapse_state(assert_same_run):
    a, wa, sa = run_all(plastic_network(), "numpy")
    b, wb, sb = run_all(plastic_network(), "numba")
    assert a.spike_count("lif") > 20 and a.spike_count("izh") > 5
    assert_same_run(a, b)
    for x, y in zip(wa + sa, wb + sb):
        np.testing.assert_array_equal(x, y)
    # every rule did act: STDP, the periodic rule and the user rule moved weights; u of TM rose
    start = plastic_network()
    for k in (0, 1, 2, 4):
        assert not np.array_equal(start.projections[k].weights, wb[k]), start.projections[k].name
    net = plastic_network()
    net.run(200.0, progress=False)
    assert np.any(net.projections[3].synapse_variable("u") > 0)


def _brian_stdp(pre_arrivals, post_steps, w0, dt, tau_pre, tau_post, a_pre, a_post, w_max):
    """An independent event-by-event model of Brian2's STDP.py rule: events sorted by step,
    arrivals before postsynaptic spikes within a step, traces decayed since the last event."""
    events = sorted([(s, 0) for s in pre_arrivals] + [(s, 1) for s in post_steps])
    w, apre, apost, last = w0, 0.0, 0.0, 0
    for step, kind in events:
        apre *= np.exp(-(step - last) * dt / tau_pre)
        apost *= np.exp(-(step - last) * dt / tau_post)
        last = step
        if kind == 0:
            apre += a_pre
            w = min(max(w + apost, 0.0), w_max)
        else:
            apost += a_post
            w = min(max(w + apre, 0.0), w_max)
    return w


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("delay_steps", [1, 4])
def test_stdp_timing_follows_arrivals_and_post_spikes(backend, delay_steps):
    """A pre spike at step t through a delay of d steps is handled at step t + d - 1 (Brian2's
    on_pre with delay (d - 1) dt); a post spike after the step's arrivals."""
    dt = 0.5
    net = ns.Network(dt=dt, seed=0)
    pre_steps = np.array([3, 10, 20, 21, 40, 60])
    drive_steps = np.array([8, 20, 25, 43, 61])  # the relay spikes one step later
    pre = net.population("pre", ns.SpikeTimes(1, indices=np.zeros(pre_steps.size, int), times=pre_steps * dt))
    kick = net.population("kick", ns.SpikeTimes(1, indices=np.zeros(drive_steps.size, int), times=drive_steps * dt))
    post = net.population("post", RELAY(1))
    rule = dict(tau_pre=7.0, tau_post=11.0, a_pre=0.05, a_post=-0.04, w_max=0.5)
    proj = net.connect(pre, post, ns.connect.all_to_all(), weight=0.2, delay=delay_steps * dt, synapse=STDP(**rule))
    net.connect(kick, post, ns.connect.all_to_all(), weight=1.0)
    result = net.run(40.0, backend=backend, progress=False)
    post_steps = np.rint(result.spikes["post"].times / dt).astype(int)
    np.testing.assert_array_equal(post_steps, drive_steps + 1)
    expected = _brian_stdp(pre_steps + delay_steps - 1, post_steps, 0.2, dt, **rule)
    assert proj.weights[0] == pytest.approx(expected, rel=1e-13)
    # pairs in the same step: arrival first (depression with the old post trace), then potentiation
    assert expected != _brian_stdp(pre_steps + delay_steps - 1, post_steps + 1, 0.2, dt, **rule)


def test_released_amount_reaches_the_target_the_next_step():
    """Tsodyks-Markram: the target gets w * u * x, in Maass et al.'s closed form."""
    dt = 1.0
    net = ns.Network(dt=dt, seed=0)
    spikes = np.array([5, 25, 30, 80, 81, 200])
    pre = net.population("pre", ns.SpikeTimes(1, indices=np.zeros(spikes.size, int), times=spikes * dt))
    sink = ns.NeuronModel("Sink", parameters={}, state={"v": 0.0, "g": 0.0}, update="v = g\ng = 0.0",
                          threshold="v > 1e9", reset="", inputs={"exc": "g"})
    post = net.population("post", sink(1))
    U, D, F, w = 0.3, 80.0, 150.0, 2.0
    net.connect(pre, post, ns.connect.all_to_all(), weight=w, synapse=TsodyksMarkram(U=U, tau_rec=D, tau_facil=F))
    net.monitor_state(post, "v")
    v = net.run(210.0, progress=False).states["post.v"].values[:, 0]
    u, R, last, expected = U, 1.0, None, []
    for s in spikes:
        if last is not None:
            delta = (s - last) * dt
            u_next = U + u * (1 - U) * np.exp(-delta / F)
            R = 1 + (R - u * R - 1) * np.exp(-delta / D)
            u = u_next
        expected.append(w * u * R)
        last = s
    # released after the arrival step's update, into g; the next step's update copies it into v,
    # which the monitor samples at the start of the step after
    np.testing.assert_allclose(v[spikes + 2], expected, rtol=1e-12)
    assert np.count_nonzero(v) == spikes.size


def test_weights_read_and_written_between_runs_static_and_plastic():
    net = plastic_network(delays=True)
    static = net.projections[-1]
    before = [p.weights for p in net.projections]
    np.testing.assert_array_equal(before[-1], static.weight)
    net.run(20.0, progress=False)
    np.testing.assert_array_equal(static.weights, before[-1])  # static weights do not move
    static.weights = 0.0
    plastic = net.projections[0]
    plastic.weights = np.full(plastic.n_synapses, 1.5)
    np.testing.assert_array_equal(plastic.weights, 1.5)
    with pytest.raises(ValueError, match="one value per synapse"):
        plastic.weights = np.ones(3)
    with pytest.raises(ValueError, match="finite"):
        plastic.weights = np.full(plastic.n_synapses, np.nan)
    with pytest.raises(ValueError, match="state variables"):
        plastic.synapse_variable("nope")
    # the written weights are what the next run starts from: a network written the same way
    # before its first run goes on identically
    twin = plastic_network(delays=True)
    twin.run(20.0, progress=False)
    twin.projections[-1].weights = 0.0
    twin.projections[0].weights = np.full(plastic.n_synapses, 1.5)
    a, b = net.run(30.0, progress=False), twin.run(30.0, progress=False)
    np.testing.assert_array_equal(a.spikes["izh"].times, b.spikes["izh"].times)
    np.testing.assert_array_equal(net.projections[0].weights, twin.projections[0].weights)
    # and the writes mattered: without them the runs differ
    plain = plastic_network(delays=True)
    plain.run(20.0, progress=False)
    assert not np.array_equal(plain.run(30.0, progress=False).spikes["lif"].times, a.spikes["lif"].times)


def test_synapse_monitor_samples_what_projection_weights_reads_between_runs():
    net = plastic_network()
    proj = net.projections[0]
    net.monitor_synapses(proj, ["w", "apre"], indices=[0, 3, 17], every=2.0)
    result = net.run(30.0, progress=False)
    trace = result.states[f"{proj.name}.w"]
    np.testing.assert_allclose(trace.times, np.arange(0.0, 30.0, 2.0))
    assert trace.values.shape == (15, 3)
    # the same network run in 2 ms pieces, read between them
    twin = plastic_network()
    samples = []
    for _ in range(15):
        samples.append(twin.projections[0].weights[[0, 3, 17]])
        twin.run(2.0, progress=False)
    np.testing.assert_array_equal(trace.values, np.array(samples))
    np.testing.assert_array_equal(result.weights[proj.name], proj.weights)
    assert set(result.weights) == {p.name for p in net.projections if p.plastic}


def test_weights_and_synapse_traces_survive_save_and_load(tmp_path):
    net = plastic_network()
    net.monitor_synapses(net.projections[3], "x", every=1.0)
    result = net.run(20.0, progress=False)
    loaded = ns.RunResult.load(result.save(tmp_path / "r"))
    assert loaded.weights.keys() == result.weights.keys()
    for name in result.weights:
        np.testing.assert_array_equal(loaded.weights[name], result.weights[name])
    key = f"{net.projections[3].name}.x"
    np.testing.assert_array_equal(loaded.states[key].values, result.states[key].values)


@pytest.mark.slow
def test_interrupted_plastic_run_resumes_identically(tmp_path, monkeypatch, assert_same_run):
    whole_net = plastic_network()
    whole_net.monitor_synapses(whole_net.projections[0], every=10.0)
    whole = whole_net.run(100.0, progress=False)
    net = plastic_network()
    net.monitor_synapses(net.projections[0], every=10.0)
    path = tmp_path / "run.ckpt"
    real_drive, calls = network._Flattened.drive, []

    def drive(self, first_step, k):  # Ctrl-C at the start of the 6th chunk (the warm-up call not counted)
        if k > 0:
            calls.append(k)
            if len(calls) == 6:
                raise KeyboardInterrupt
        return real_drive(self, first_step, k)

    monkeypatch.setattr(network._Flattened, "drive", drive)
    with pytest.raises(ns.SimulationInterrupted):
        net.run(100.0, progress=False, chunk_ms=10.0, checkpoint_every=20.0, checkpoint_path=path)
    monkeypatch.undo()
    resumed_net, resumed = ns.Network.resume(path, backend="numpy", progress=False)
    assert_same_run(resumed, whole)
    for a, b in zip(resumed_net.projections, whole_net.projections):
        np.testing.assert_array_equal(a.weights, b.weights)


def test_hooks_and_streamed_spikes_work_with_plastic_synapses(tmp_path):
    seen = []
    net = plastic_network()

    class Watch(ns.Hook):  # a hook reads the weights as the run goes (CPU backends)
        def __init__(self):
            super().__init__(every=50)

        def __call__(self, ctx):
            seen.append(net.projections[0].weights.sum())

    a = net.run(50.0, progress=False, hooks=[Watch()])
    assert len(seen) == 10 and len(set(seen)) > 1
    b = plastic_network().run(50.0, progress=False, stream_spikes_to=tmp_path / "spikes")
    np.testing.assert_array_equal(a.spikes["lif"].times, b.spikes["lif"].times)
    np.testing.assert_array_equal(a.weights[plastic_network().projections[0].name], b.weights["poisson->lif"])


# ---- bad input -----------------------------------------------------------------------------

def _two_populations():
    net = ns.Network(dt=0.1, seed=0)
    return net, net.population("a", ns.PoissonSource(5, rate=10.0)), net.population("b", ns.LIF(3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(w_min=1.0, w_max=0.5), "w_min must be < w_max"),
    (dict(w_min=0.0, w_max=np.inf), "finite"),
    (dict(w_max=np.nan), "finite"),
])
def test_weight_bounds_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STDP(**kwargs)
    with pytest.raises(ValueError, match=match):
        IzhikevichSTDP(**kwargs)


def test_bad_synapse_parameters_name_the_argument():
    net, a, b = _two_populations()
    with pytest.raises(ValueError, match="tau_pre"):
        net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=STDP(tau_pre=-1.0))
    with pytest.raises(ValueError, match="U must be in"):
        TsodyksMarkram(U=1.5)
    with pytest.raises(ValueError, match="U must be in"):
        TsodyksMarkram(U=0.0)
    with pytest.raises(ValueError, match=r"\.U must be .*1"):
        net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=TsodyksMarkram(U=np.array([0.5] * 14 + [1.2])))
    with pytest.raises(ValueError, match="pairing"):
        STDP(pairing="closest")
    with pytest.raises(TypeError, match="SynapseModel is a definition"):
        net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=HEBB)
    with pytest.raises(TypeError, match="unknown parameter"):
        HEBB(eta=1.0, tau_x=3.0)


def test_a_rule_reading_what_the_target_lacks_is_refused():
    net, a, b = _two_populations()
    reads_u = ns.SynapseModel("needs_u", parameters={}, state={"w": None}, on_pre="release = w * (u_post > 0)")
    with pytest.raises(ValueError, match=r"reads u_post.*'b' \(LIF\) has no such state variable"):
        net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=reads_u())


@pytest.mark.parametrize("kwargs, match", [
    (dict(on_pre="w = w + 1"), "must assign 'release'"),
    (dict(on_pre="release = w\nv_post = 1"), "read-only"),
    (dict(on_pre="release = w\nw = w + nope"), "undefined symbol 'nope'"),
    (dict(on_pre="release = w", on_post="release = 2 * w"), "on_pre only"),
    (dict(on_pre="release = w", periodic=(0.0, "w = w")), "period must be"),
    (dict(on_pre="release = w", periodic=(10.0, "w = w * exp(-elapsed)")), "undefined symbol 'elapsed'"),
    (dict(on_pre="release = w", weight="g"), "'g' is not a state variable"),
])
def test_bad_synapse_definitions_are_refused(kwargs, match):
    args = dict(parameters={"tau": (5.0, "ms")}, state={"w": None}, **kwargs)
    with pytest.raises(ns.ModelDefinitionError, match=match):
        ns.SynapseModel("bad", **args)


def test_units_of_a_synapse_rule_are_checked():
    with pytest.raises(ns.ModelDefinitionError, match="dimensionless"):
        ns.SynapseModel("bad", parameters={"tau": (5.0, "ms")}, state={"w": None, "x": 0.0},
                        on_pre="release = w\nx = x * exp(-elapsed)")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_weights_becoming_nan_stop_the_run_naming_projection_and_step(backend):
    net = ns.Network(dt=0.1, seed=0)
    pre = net.population("pre", ns.SpikeTimes(1, indices=[0, 0, 0], times=[1.0, 2.0, 3.05]))
    post = net.population("post", ns.LIF(2))
    blow = ns.SynapseModel("blow", parameters={}, state={"w": None}, on_pre="release = w\nw = w * 1e200")
    net.connect(pre, post, ns.connect.all_to_all(), weight=1.0, synapse=blow(), name="exploding")
    with pytest.raises(ns.SimulationError, match=r"NaN/inf in projection 'exploding' \(synapse 0\) at time step 20") as err:
        net.run(5.0, backend=backend, progress=False)
    assert err.value.step == 20 and err.value.population == "exploding"
    assert err.value.result.n_steps == 21  # the failing step's spikes are kept


def test_a_period_shorter_than_dt_is_refused():
    net, a, b = _two_populations()
    fast = ns.SynapseModel("fast", parameters={}, state={"w": None}, on_pre="release = w", periodic=(0.01, "w = w"))
    net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=fast())
    with pytest.raises(ValueError, match="shorter than the time step"):
        net.run(1.0, progress=False)


def test_monitor_synapses_refuses_static_projections_and_unknown_variables():
    net, a, b = _two_populations()
    static = net.connect(a, b, ns.connect.all_to_all(), weight=0.1)
    plastic = net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=STDP())
    with pytest.raises(ValueError, match="static"):
        net.monitor_synapses(static)
    with pytest.raises(ValueError, match="among"):
        net.monitor_synapses(plastic, "u")
    with pytest.raises(ValueError, match="indices"):
        net.monitor_synapses(plastic, indices=[99])
    assert plastic.name == "a->b#2" and static.name == "a->b"
    with pytest.raises(ValueError, match="already used"):
        net.connect(a, b, ns.connect.all_to_all(), weight=0.1, name="a->b")


def test_projection_names_default_and_repr():
    net, a, b = _two_populations()
    p = net.connect(a, b, ns.connect.all_to_all(), weight=0.1, synapse=STDP(), name="learned")
    assert p.name == "learned" and "stdp" in repr(p) and p.plastic
