"""Plastic synapses on the Triton engine against the numba backend (Triton's interpreter on CPU
tensors, as CI runs it; the same kernels compile for a CUDA GPU: ``compile_engine_sm90.py``).

In the interpreter programs and atomics run in order, so every operation of the reference
happens in its order. What differs is ``exp``: the reference and the Numba engine take the C
library's, the interpreter's ``tl.exp`` is numpy's, which differs in the last bit for a few
percent of arguments. Rules with ``exp`` (the built-ins) therefore give identical spikes and
synapse state within a few ulp (checked: ``EXP_ATOL``); rules without it (``RATIONAL``) are
held to bit-identity.
"""

import os

import numpy as np
import pytest

import neurosim as ns
from neurosim.kernels.engine import triton as engine_triton
from neurosim.kernels.layout import SpikeHistory
from neurosim.network import SimulationError
from neurosim.plasticity import STDP, TsodyksMarkram
from neurosim.plasticity.synapses import izhikevich_stdp_model

# Largest difference allowed in a synapse variable where a rule calls exp. The traces' and
# weights' values are O(1); one last-bit difference of exp is 2.2e-16 relative, and it enters a
# weight through the traces at each pairing: a few hundred events stay far below 1e-13.
# The figures measured in these tests are ~1e-16 (see the module docstring of the engine).
EXP_ATOL = 1e-13

# An exp-free trace rule: every operation is an IEEE-rounded +, -, /, so it must be bit-identical.
# release = 0: the targets spike on their own current, the rule only learns (see the chain test).
RATIONAL = ns.SynapseModel(
    "rational_stdp",
    parameters={"tau": ns.Parameter(10.0, "ms", positive=True), "a": 0.1, "w_max": 5.0},
    state={"w": None, "tr": 0.0, "tp": 0.0},
    on_pre="""
        release = 0.0
        tr = tr / (1 + elapsed / tau) + a
        tp = tp / (1 + elapsed / tau)
        w = clip(w - tp, 0, w_max)
    """,
    on_post="""
        tp = tp / (1 + elapsed / tau) + a
        tr = tr / (1 + elapsed / tau)
        w = clip(w + tr, 0, w_max)
    """)

# Reads the target's membrane potential at each arrival (a voltage-dependent rule).
VOLTAGE_RULE = ns.SynapseModel(
    "voltage_rule",
    parameters={"theta": -55.0, "eta": 0.02, "tau": ns.Parameter(10.0, "ms", positive=True)},
    state={"w": None, "tr": 0.0},
    on_pre="""
        release = w
        tr = tr * exp(-elapsed / tau) + 1
        w = clip(w + eta * (v_post - theta) * 0.1, 0, 6)
    """,
    on_post="w = clip(w + eta * tr, 0, 6)")

# Izhikevich (2006) STDP with its once-a-second update every 5 ms, to run it in a short test.
IZHIKEVICH_FAST = izhikevich_stdp_model(5.0)


def repeating_source(net, n=3):
    """Spike times in which a neuron spikes several times in one step (0 at 2 ms three times,
    1 at 4 ms twice): the same synapses get several arrivals in one step, in order."""
    return net.population("times", ns.SpikeTimes(n, indices=[0, 0, 1, 0, 1, 1, 2, 0],
                                                 times=[2.0, 2.0, 2.0, 2.0, 4.0, 4.0, 6.0, 9.0]))


def stdp_network(pairing="all-to-all", seed=1):
    """LIF targets of Poisson inputs (delays 1..4 steps) and of a repeating spike source."""
    net = ns.Network(dt=0.5, seed=seed)
    lif = net.population("lif", ns.LIF(8, tau_m=8.0, v_init=ns.Uniform(-65.0, -51.0)))
    src = net.population("src", ns.PoissonSource(6, rate=200.0))
    times = repeating_source(net)
    net.connect(src, lif, ns.connect.random(0.6), weight=ns.Uniform(1.0, 4.0), delay=ns.Uniform(0.5, 2.0),
                synapse=STDP(w_max=5.0, a_pre=0.3, a_post=-0.3, pairing=pairing), name="poisson")
    net.connect(times, lif, ns.connect.all_to_all(), weight=2.0, delay=ns.Uniform(0.5, 1.5),
                synapse=STDP(w_max=5.0, a_pre=0.2, a_post=-0.25, tau_pre=10.0, pairing=pairing), name="repeats")
    net.add_current(lif, ns.ConstantCurrent(22.0))
    return net


def tsodyks_network(seed=2):
    net = ns.Network(dt=0.5, seed=seed)
    lif = net.population("lif", ns.LIF(6, tau_m=8.0, v_init=ns.Uniform(-65.0, -51.0)))
    src = net.population("src", ns.PoissonSource(5, rate=150.0))
    times = repeating_source(net)
    net.connect(src, lif, ns.connect.random(0.7), weight=ns.Uniform(4.0, 9.0), delay=ns.Uniform(0.5, 2.0),
                synapse=TsodyksMarkram(U=ns.Uniform(0.1, 0.6), tau_rec=100.0, tau_facil=50.0), name="facilitating")
    net.connect(times, lif, ns.connect.all_to_all(), weight=8.0, delay=1.0,
                synapse=TsodyksMarkram(U=0.4, tau_rec=60.0), name="depressing")
    net.add_current(lif, ns.ConstantCurrent(20.0))
    return net


def izhikevich_network(seed=3):
    """Izhikevich neurons with the 5 ms periodic rule (delays up to 3 ms) and the v_post rule."""
    net = ns.Network(dt=0.5, seed=seed)
    izh = net.population("izh", ns.Izhikevich.regular_spiking(8, tau_exc=2.0))
    lif = net.population("lif", ns.LIF(5, tau_m=8.0, v_init=ns.Uniform(-65.0, -51.0)))
    src = net.population("src", ns.PoissonSource(6, rate=150.0))
    net.connect(src, izh, ns.connect.random(0.6), weight=ns.Uniform(2.0, 6.0), delay=ns.Uniform(0.5, 3.0),
                synapse=IZHIKEVICH_FAST(a_plus=0.5, a_minus=0.6), name="izh_stdp")
    net.connect(izh, izh, ns.connect.random(0.4), weight=3.0, delay=ns.Uniform(0.5, 2.0),
                synapse=IZHIKEVICH_FAST(), name="recurrent")
    net.connect(src, lif, ns.connect.random(0.6), weight=ns.Uniform(1.0, 4.0), delay=1.0,
                synapse=VOLTAGE_RULE(), name="voltage")
    net.add_current(izh, ns.ConstantCurrent(6.0))
    net.add_current(lif, ns.ConstantCurrent(22.0))
    return net


def rational_network(seed=4):
    """The exp-free rule with delays 1..4 steps and repeating sources: bit-identity expected."""
    net = ns.Network(dt=0.5, seed=seed)
    lif = net.population("lif", ns.LIF(6, tau_m=8.0, v_init=ns.Uniform(-65.0, -51.0)))
    src = net.population("src", ns.PoissonSource(5, rate=200.0))
    times = repeating_source(net)
    for pre, name in ((src, "poisson"), (times, "repeats")):
        net.connect(pre, lif, ns.connect.random(0.7), weight=ns.Uniform(1.0, 4.0), delay=ns.Uniform(0.5, 2.0),
                    synapse=RATIONAL(a=0.2), name=name)
    net.add_current(lif, ns.ConstantCurrent(25.0))
    return net


def synapse_state(net) -> dict:
    """Every state variable of every plastic projection, and each kind's step of last event."""
    out = {f"{p.name}.{v}": p.synapse_variable(v) for p in net.projections if p.plastic
           for v in p.synapse.definition.state}
    out.update({f"last[{m}]": kind.values[:, -1].copy() for m, kind in enumerate(net._sim.plastic)})
    return out


def assert_same_spikes(a, b):
    """The same steps, spikes, population counts and state traces, exactly (``assert_same_run``
    without the weights, which ``run_both`` compares within its tolerance)."""
    assert a.n_steps == b.n_steps and a.spikes.keys() == b.spikes.keys()
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name].times, b.spikes[name].times, err_msg=name)
        np.testing.assert_array_equal(a.spikes[name].indices, b.spikes[name].indices, err_msg=name)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.states.keys() == b.states.keys()
    for key in a.states:
        np.testing.assert_array_equal(a.states[key].values, b.states[key].values, err_msg=key)
    assert a.info["synaptic_events"] == b.info["synaptic_events"]


def run_both(build, duration, assert_same_run, atol=0.0):
    """Run on numba and triton: identical spikes and counts (everything, weights too, when
    ``atol`` is 0); synapse state within ``atol`` (steps of last events exactly). Returns the
    largest difference, the numba result and its synapse state."""
    results, states = [], []
    for backend in ("numba", "triton"):
        net = build()
        results.append(net.run(duration, backend=backend, progress=False))
        states.append(synapse_state(net))
    assert_same_spikes(*results)
    if atol == 0.0:
        assert_same_run(*results)
    worst = 0.0
    for key, ref in states[0].items():
        if key.startswith("last"):
            np.testing.assert_array_equal(ref, states[1][key], err_msg=key)
        else:
            np.testing.assert_allclose(states[1][key], ref, rtol=0, atol=atol, err_msg=key)
            worst = max(worst, float(np.max(np.abs(states[1][key] - ref), initial=0.0)))
    return worst, results[0], states[0]


def test_repeat_links_chain_every_repeat_of_a_source_within_its_row():
    rows = np.array([0, 0, 0, 0, 1, 1, 1])
    ids = np.array([5, 7, 5, 5, 7, 8, 7])
    # 5 at 0 -> 2 -> 3; 7 at 1 alone in row 0; 7 at 4 -> 6 in row 1; 8 alone
    np.testing.assert_array_equal(engine_triton.repeat_links(rows, ids), [2, 0, -2, -1, 2, 0, -1])
    keep = np.array([True, False, True])
    event_ptr = np.array([3, 6, 6, 9])  # a sub-chunk: events before index 3 belong to earlier steps
    event_id = np.array([9, 9, 9, 0, 1, 0, 2, 2, 0])
    # step 0: kept events 0, 0 (1 is not kept): offsets among the kept ones; step 2: 2, 2, 0
    np.testing.assert_array_equal(engine_triton.event_links(event_ptr, event_id, keep), [0, 0, 0, 1, 0, -1, 1, -1, 0])
    history = SpikeHistory(np.array([[4, 3, 4, 9], [3, 3, 1, 0]]), np.array([3, 2]), keep)
    np.testing.assert_array_equal(engine_triton.history_links(history), [[2, 0, -1, 0], [1, -1, 0, 0]])


@pytest.mark.slow
@pytest.mark.parametrize("pairing", ["all-to-all", "nearest"])
def test_stdp_same_spikes_and_synapse_state_as_numba(pairing, assert_same_run):
    worst, ref, state = run_both(lambda: stdp_network(pairing), 12.0, assert_same_run, EXP_ATOL)
    assert ref.spike_count("lif") > 5 and ref.spike_count("times") == 8  # arrivals and post spikes happen
    initial = stdp_network(pairing)
    for name in ("poisson", "repeats"):  # the weights did move
        proj = next(p for p in initial.projections if p.name == name)
        assert not np.array_equal(state[f"{name}.w"], proj.weights), name


@pytest.mark.slow
def test_tsodyks_markram_same_spikes_and_state_as_numba(assert_same_run):
    worst, ref, state = run_both(tsodyks_network, 12.0, assert_same_run, EXP_ATOL)
    assert ref.spike_count("lif") > 3
    assert np.all(state["depressing.x"] < 1.0) and np.any(state["facilitating.u"] > 0.0)


@pytest.mark.slow
def test_periodic_rule_and_v_post_rule_same_as_numba(assert_same_run):
    """IzhikevichSTDP's statements with a 5 ms period (two updates in 12 ms) on Izhikevich
    neurons, plastic recurrent synapses, and a rule reading the target's v."""
    worst, ref, state = run_both(izhikevich_network, 12.0, assert_same_run, EXP_ATOL)
    assert ref.spike_count("izh") > 3 and ref.spike_count("lif") > 3
    assert np.any(state["izh_stdp.w"] != izhikevich_network().projections[0].weights)  # periodic moved w
    assert np.any(state["voltage.tr"] > 0)


@pytest.mark.slow
def test_exp_free_rule_is_bit_identical(assert_same_run):
    worst, ref, _ = run_both(rational_network, 12.0, assert_same_run, atol=0.0)
    assert worst == 0.0 and ref.spike_count("lif") > 5


@pytest.mark.slow
@pytest.mark.parametrize("n_programs", [3])
def test_several_programs_run_the_repeats_of_a_source_in_order(n_programs, assert_same_run):
    """Several programs stride over the history, as on a GPU: a source repeated in a step runs
    its arrivals as one chain (first occurrence, then the repeats), never two at once. With
    release = 0 the order of the atomic adds cannot matter: everything stays bit-identical."""
    ref = rational_network()
    ref_result = ref.run(12.0, progress=False)
    net = rational_network()
    net.run(0.0, backend="triton", progress=False)
    net._sim.engine().n_programs = n_programs
    assert_same_run(ref_result, net.run(12.0, backend="triton", progress=False))
    for key, value in synapse_state(ref).items():
        np.testing.assert_array_equal(synapse_state(net)[key], value, err_msg=key)


@pytest.mark.slow
def test_runs_continue_across_backends_with_synapse_state_and_spikes_in_flight(assert_same_run):
    """numba -> triton -> numba equals numba throughout: the synapse state, the steps of last
    events and the spike history (arrivals still due, delays up to 4 steps) go to the device
    and back."""
    ref = rational_network(seed=6)
    ref_results = [ref.run(d, progress=False) for d in (5.0, 4.5, 5.0)]
    net = rational_network(seed=6)
    results = [net.run(5.0, backend="numba", progress=False), net.run(4.5, backend="triton", progress=False),
               net.run(5.0, backend="numba", progress=False)]
    for a, b in zip(ref_results, results):
        assert_same_run(a, b)
    for key, value in synapse_state(ref).items():
        np.testing.assert_array_equal(synapse_state(net)[key], value, err_msg=key)
    np.testing.assert_array_equal(ref._sim.history.counts, net._sim.history.counts)
    for slot, count in enumerate(ref._sim.history.counts):
        np.testing.assert_array_equal(ref._sim.history.ids[slot, :count], net._sim.history.ids[slot, :count])


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_nan_synapse_stops_with_the_same_step_and_message_as_numba():
    """A rule multiplying its weight by 1e200 at each arrival: the second arrival at synapse 2
    of "boom" (the spike source's second spike, 3 ms) makes it inf."""
    exploding = ns.SynapseModel("exploding", parameters={}, state={"w": None},
                                on_pre="release = 0.0\nw = w * 1e200")

    def build():
        net = ns.Network(dt=0.5, seed=0)
        lif = net.population("lif", ns.LIF(3))
        src = net.population("src", ns.SpikeTimes(2, indices=[1, 0, 1], times=[1.0, 2.0, 3.0]))
        net.connect(src, lif, ns.connect.all_to_all(), weight=ns.Uniform(0.5, 1.0), delay=1.0,
                    synapse=RATIONAL(), name="calm")
        w = np.zeros((2, 3))
        w[1, 2] = 1.0
        net.connect(src, lif, ns.connect.from_matrix(w), synapse=exploding(), name="boom")
        return net

    errors = []
    for backend in ("numba", "triton"):
        with pytest.raises(SimulationError) as info:
            build().run(10.0, backend=backend, progress=False)
        errors.append(info.value)
    numba_error, triton_error = errors
    assert str(triton_error) == str(numba_error)
    assert "'boom' (synapse 0)" in str(numba_error) and numba_error.step == 6  # 3 ms: the step's arrivals ran
    assert (triton_error.population, triton_error.neuron, triton_error.step) == (
        numba_error.population, numba_error.neuron, numba_error.step)
    assert triton_error.result.n_steps == numba_error.result.n_steps == 7


def test_device_bytes_count_plastic_synapses_and_history():
    net = rational_network()
    net.run(0.0, backend="triton", progress=False)
    sim, engine = net._sim, net._sim.engine()
    need = engine.need
    kinds = [t for kind in engine.plastic for t in (kind.delays, kind.indptr, kind.delay, kind.cell, kind.target,
                                                     kind.post_ptr, kind.post_syn, kind.coefficients, kind.tables,
                                                     kind.table_len, kind.post_rows, kind.values)]
    measured = sum(t.numel() * t.element_size() for t in kinds + [engine.syn_bad])
    assert need["plastic synapses"] == measured
    history = [engine.hist_ids, engine.hist_links, engine.hist_counts, engine.keep]
    assert need["spike history"] == sum(t.numel() * t.element_size() for t in history)
    assert need["spike history"] >= 16 * sim.history.ids.size


def test_plastic_network_that_does_not_fit_is_refused_up_front(monkeypatch):
    """Room for everything but half the plastic synapses: refused before anything is copied."""
    net = rational_network()
    net.run(0.0, backend="numpy", progress=False)  # builds the flattened arrays
    sim = net._sim
    static = engine_triton.device_bytes(sim.n_dynamic, sim.n_total, sim.state.values.shape[0],
                                        sum(k.coefficients.size + k.refractory_steps.size for k in sim.kinds),
                                        sim.static.weight.size, sim.ring.shape[0])
    plastic = engine_triton.plastic_bytes(sim.plastic)["plastic synapses"]
    monkeypatch.setattr(engine_triton, "free_bytes", lambda device: sum(static.values()) + plastic // 2)
    with pytest.raises(MemoryError, match=r"plastic synapses 0.00 GiB"):
        net.run(1.0, backend="triton", progress=False)
    assert net.step == 0


@pytest.mark.slow
def test_plastic_kernels_compile_for_an_h100_without_fma():
    """The compiler path: the built-in synapse models' kernels build sm_90 cubins with float64
    atomic adds for the release; an exp-free rule's kernels hold no fused multiply-add (the
    built-ins' exp is libdevice's, which uses fma inside)."""
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("compile_engine_sm90.py")
    out = subprocess.run([sys.executable, str(script), "--plastic"], env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert {"_remember", "_synapses_end", "arrive_0", "post_0", "periodic_1", "arrive_5", "post_5"} <= set(lines), lines
    for name, (fma, atomics, cubin_bytes) in lines.items():
        assert int(cubin_bytes) > 1000, name
        if name.startswith("periodic_") or name.endswith("_5") or not name.startswith(("arrive_", "post_")):
            assert fma == "no-fma", name
    for m in range(6):
        assert "add.f64" in lines[f"arrive_{m}"][1], m  # the release
    assert "min.s64" in lines["post_0"][1]  # the lowest NaN/inf synapse
