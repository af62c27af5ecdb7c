"""Reliability of the engine's public API under bad input: every case is a clean refusal naming
the argument (ValueError / TypeError, or a neurosim error class that subclasses them), or a
correct result -- never a hang, a crash or a silent acceptance.

Each class of the reliability issue has a regression test for its reported example and a
property-based test (hypothesis) over generated inputs of the class; every generated case runs
under a timeout (``within``).
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim as ns
from neurosim.network import MAX_DELAY_STEPS, MAX_RUN_STEPS

# Values a hostile or careless user passes where a number is expected.
WEIRD_SCALARS = st.one_of(
    st.booleans(), st.none(), st.text(max_size=5), st.just("0.9"), st.complex_numbers(max_magnitude=10),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e308, -1e308, 2.0**63, float("nan"), float("inf")]),
)
WEIRD_VALUES = st.one_of(
    WEIRD_SCALARS,
    st.lists(st.one_of(st.floats(-1e3, 1e3), st.booleans()), max_size=6),
    st.lists(st.lists(st.floats(-10, 10), max_size=3), max_size=3),
    st.builds(lambda n, v: np.full(n, v), st.integers(0, 6), st.floats(allow_nan=True)),
)


def _as_expected_float_array(value, n):
    """What a correct model makes of ``value`` (None if it must be refused)."""
    if isinstance(value, (bool, str, np.bool_, complex)) or value is None:
        return None
    if isinstance(value, list) and any(isinstance(v, bool) or isinstance(v, list) for v in value):
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        return None
    return arr


# ---- 1c: booleans and strings are not numbers; state variables belong to the model ----------

def test_booleans_are_refused_where_numbers_are_expected(refuses):
    net = ns.Network(dt=0.1, seed=0)
    with refuses("LIF.tau_m", "bool"):
        net.population("a", ns.LIF(4, tau_m=True))
    a = net.population("b", ns.LIF(4))
    with refuses("weight"):
        net.connect(a, a, ns.connect.all_to_all(), weight=True)
    with refuses("delay"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=True)
    with refuses("allow_self"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0, allow_self="no")
    with refuses("from_matrix", "booleans"):
        net.connect(a, a, ns.connect.from_matrix(np.eye(4, dtype=bool)))
    with refuses("variables of a LIF population", "'u'"):
        net.monitor_state(a, "u")


@pytest.mark.parametrize("model, name", [(ns.LIF, n) for n in ns.LIF.float_params]
                         + [(ns.Izhikevich, n) for n in ns.Izhikevich.float_params] + [(ns.PoissonSource, "rate")])
@settings(max_examples=25)
@given(value=WEIRD_VALUES)
def test_every_model_parameter_is_refused_naming_it_or_taken_exactly(model, name, value, within, refuses):
    n = 4
    expected = _as_expected_float_array(value, n)
    checks = model.float_params[name]
    if expected is not None and ((checks.get("positive") and np.any(expected <= 0))
                                 or (checks.get("nonnegative") and np.any(expected < 0))):
        expected = None
    if expected is not None and model is ns.Izhikevich and name in ("b", "v_init", "v_u"):
        # u starts at b (v_init - v_u): a finite parameter may still make it overflow
        given = {"b": 0.2, "v_init": -65.0, "v_u": 0.0, name: expected}
        with np.errstate(over="ignore", invalid="ignore"):
            if not np.all(np.isfinite(given["b"] * (given["v_init"] - given["v_u"]))):
                expected = None
    with within(5):
        net = ns.Network(dt=0.1, seed=0)
        if expected is None:
            with refuses(f"{model.__name__}.{name}"):
                net.population("p", model(n, **{name: value}))
        else:
            pop = net.population("p", model(n, **{name: value}))
            np.testing.assert_array_equal(getattr(pop.model, name), expected)


@settings(max_examples=60)
@given(variable=st.sampled_from(["v", "u", "i_exc", "i_inh", "w", "", "V"]),
       kind=st.sampled_from(["lif", "izh", "source"]))
def test_monitor_state_takes_only_the_model_own_variables(variable, kind, refuses):
    net = ns.Network(dt=0.1, seed=0)
    model = {"lif": ns.LIF(3), "izh": ns.Izhikevich(3), "source": ns.PoissonSource(3)}[kind]
    pop = net.population("p", model)
    allowed = {"lif": ("v", "i_exc", "i_inh"), "izh": ("v", "u", "i_exc", "i_inh"), "source": ()}[kind]
    if variable in allowed:
        net.monitor_state(pop, variable)
        assert net.run(1.0, progress=False).states[f"p.{variable}"].values.shape == (10, 3)
    else:
        with refuses("spike source" if kind == "source" else "variables"):
            net.monitor_state(pop, variable)


@settings(max_examples=40)
@given(args=st.tuples(WEIRD_SCALARS, WEIRD_SCALARS), kind=st.sampled_from([ns.Uniform, ns.Normal, ns.Gamma]))
def test_distributions_refuse_what_is_not_a_number_naming_the_field(args, kind, refuses):
    try:
        values = [float(a) for a in args]
        plain = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    except (TypeError, ValueError):
        values, plain = None, False
    ok = plain and all(math.isfinite(v) for v in values)
    if ok and kind is ns.Uniform:
        ok = values[0] <= values[1]
    if ok and kind is ns.Normal:
        ok = values[1] >= 0
    if ok and kind is ns.Gamma:
        ok = values[0] > 0 and values[1] > 0
    if ok:
        kind(*args)
    else:
        with refuses(kind.__name__):
            kind(*args)


def test_reported_examples_of_unnamed_errors(refuses):
    with refuses("seed", ">= 0"):
        ns.Network(seed=-1)
    with refuses("Uniform.low"):
        ns.Uniform("a", 1)


# ---- 1a: per-synapse arrays follow the user's order ------------------------------------------

def _projection_delays(proj):
    return {(int(i), int(j)): int(d) for i, j, d in zip(proj.sources(), proj.target, proj.delay)}


def test_from_matrix_delays_follow_the_entries_of_an_unsorted_sparse_matrix():
    rows, cols = np.array([2, 0, 1, 0]), np.array([0, 2, 1, 1])
    W = sp.coo_matrix((np.array([1.0, 2.0, 3.0, 4.0]), (rows, cols)), shape=(3, 3))
    delays = np.array([0.5, 1.0, 1.5, 2.0])  # entry k's delay, in the matrix's own order
    net = ns.Network(dt=0.5, seed=0)
    a, b = net.population("a", ns.LIF(3)), net.population("b", ns.LIF(3))
    proj = net.connect(a, b, ns.connect.from_matrix(W), delay=delays)
    assert _projection_delays(proj) == {(2, 0): 1, (0, 2): 2, (1, 1): 3, (0, 1): 4}
    assert dict(zip(zip(proj.sources().tolist(), proj.target.tolist()), proj.weight)) == {
        (2, 0): 1.0, (0, 2): 2.0, (1, 1): 3.0, (0, 1): 4.0}
    # a delay matrix of the weight matrix's shape is read at the entries
    D = np.zeros((3, 3))
    D[rows, cols] = delays
    assert _projection_delays(net.connect(a, b, ns.connect.from_matrix(W), delay=D)) == _projection_delays(proj)
    assert _projection_delays(net.connect(a, b, ns.connect.from_matrix(W), delay=sp.csr_matrix(D))) == \
        _projection_delays(proj)


def test_from_matrix_per_entry_arrays_count_the_dropped_diagonal(refuses):
    W = np.array([[1.0, 2.0], [3.0, 4.0]])  # entries (0,0) (0,1) (1,0) (1,1), diagonal dropped
    net = ns.Network(dt=1.0, seed=0)
    a = net.population("a", ns.LIF(2))
    proj = net.connect(a, a, ns.connect.from_matrix(W), delay=[1.0, 2.0, 3.0, 4.0])
    assert _projection_delays(proj) == {(0, 1): 2, (1, 0): 3}
    with refuses("delay", "4 values", "diagonal"):
        net.connect(a, a, ns.connect.from_matrix(W), delay=[2.0, 3.0])
    with refuses("delay", "shape"):
        net.connect(a, a, ns.connect.from_matrix(W), delay=np.ones((3, 2)))


@settings(max_examples=60)
@given(data=st.data(), n_pre=st.integers(1, 7), n_post=st.integers(1, 7), fmt=st.sampled_from(["coo", "csr", "dense"]))
def test_from_matrix_keeps_every_synapse_with_its_own_weight_and_delay(data, n_pre, n_post, fmt):
    cells = data.draw(st.lists(st.tuples(st.integers(0, n_pre - 1), st.integers(0, n_post - 1)), unique=True,
                               max_size=n_pre * n_post))
    weights = data.draw(st.lists(st.floats(0.5, 5.0), min_size=len(cells), max_size=len(cells)))
    steps = data.draw(st.lists(st.integers(1, 40), min_size=len(cells), max_size=len(cells)))
    rows = np.array([c[0] for c in cells], dtype=np.int64)
    cols = np.array([c[1] for c in cells], dtype=np.int64)
    if fmt == "dense":  # a dense matrix's entries come in row-major order: give the delays that way
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        weights, steps = np.asarray(weights)[order], np.asarray(steps)[order]
        W = np.zeros((n_pre, n_post))
        W[rows, cols] = weights
    else:
        W = sp.coo_matrix((np.asarray(weights, float), (rows, cols)), shape=(n_pre, n_post))
        W = W if fmt == "coo" else sp.csr_matrix(W)
        if fmt == "csr":  # the CSR's stored order is its own: read the entries back from it
            coo = W.tocoo()
            index = {(r, c): k for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist()))}
            perm = [index[(r, c)] for r, c in zip(coo.row.tolist(), coo.col.tolist())]
            rows, cols, weights, steps = rows[perm], cols[perm], np.asarray(weights)[perm], np.asarray(steps)[perm]
    net = ns.Network(dt=0.25, seed=0)
    a, b = net.population("a", ns.LIF(n_pre)), net.population("b", ns.LIF(n_post))
    proj = net.connect(a, b, ns.connect.from_matrix(W), delay=np.asarray(steps) * 0.25)
    got = {(int(i), int(j)): (w, int(d)) for i, j, w, d in zip(proj.sources(), proj.target, proj.weight, proj.delay)}
    assert got == {(int(r), int(c)): (float(w), int(d)) for r, c, w, d in zip(rows, cols, weights, steps)}
    assert np.all(np.diff(proj.sources() * n_post + proj.target) > 0)  # stored sorted by (source, target)


@settings(max_examples=30)
@given(n=st.integers(1, 6), k=st.integers(0, 5), data=st.data())
def test_other_rules_take_per_synapse_arrays_in_source_target_order(n, k, data):
    k = min(k, n)
    net = ns.Network(dt=1.0, seed=data.draw(st.integers(0, 100)))
    a, b = net.population("a", ns.LIF(n)), net.population("b", ns.LIF(n))
    weights = np.arange(1, k * n + 1, dtype=float)
    proj = net.connect(a, b, ns.connect.fixed_in_degree(k), weight=weights, allow_self=True)
    np.testing.assert_array_equal(proj.weight, weights)  # the i-th value is the i-th synapse in (source, target) order
    assert np.all(np.diff(proj.sources() * n + proj.target) >= 0)


# ---- 1b, 9: delays ---------------------------------------------------------------------------

def test_a_delay_beyond_int64_steps_is_refused_not_wrapped(refuses):
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(2))
    with refuses("delay", "at most"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=0.1 * 2.0**63)


@settings(max_examples=200)
@given(delay=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.05, 0.1, 2.0**63])),
       dt=st.sampled_from([0.1, 0.25, 1.0]), convention=st.sampled_from(["neurosim", "brian2"]))
def test_delays_become_the_right_whole_steps_or_are_refused(delay, dt, convention, within, refuses):
    net = ns.Network(dt=dt, seed=0)
    a = net.population("a", ns.LIF(2))
    extra = 1 if convention == "brian2" else 0
    ok = math.isfinite(delay) and delay >= (0.0 if extra else dt) - dt * 1e-9
    ok = ok and np.rint(delay / dt) + extra <= MAX_DELAY_STEPS
    with within(5):
        if ok:
            proj = net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=delay, delay_convention=convention)
            assert np.all(proj.delay == np.rint(delay / dt) + extra) and np.all(proj.delay >= 1)
        else:
            with refuses("delay"):
                net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=delay, delay_convention=convention)


def test_brian2_delay_convention_is_offered_and_named_in_the_message(refuses):
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(2))
    with refuses("at least one time step", "delay_convention='brian2'"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=0.05)
    proj = net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=1.0, delay_convention="brian2")
    assert np.all(proj.delay == 11)  # Brian2's 1 ms is ten steps after the step of transmission
    net2 = ns.Network(dt=0.1, seed=0, delay_convention="brian2")
    b = net2.population("b", ns.LIF(2))
    assert np.all(net2.connect(b, b, ns.connect.all_to_all(), weight=1.0, delay=0.0).delay == 1)
    with refuses("delay_convention"):
        ns.Network(delay_convention="nest")


@pytest.mark.brian2
@pytest.mark.slow
def test_brian2_delays_ported_as_written_arrive_when_brian2_delivers_them():
    """An input spike at 2 ms, through synapses with Brian2 delays 0, 1 and 2.5 ms: the step at
    which each target's synaptic current jumps is the same in neurosim (delay_convention='brian2')
    as in Brian2 itself."""
    import brian2 as b2
    from brian2 import mV, ms

    delays = np.array([0.0, 1.0, 2.5])
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.1 * ms
    source = b2.SpikeGeneratorGroup(1, [0], [2.0] * ms)
    target = b2.NeuronGroup(3, "dv/dt = (-65*mV - v + i_exc) / (20*ms) : volt\ndi_exc/dt = -i_exc / (5*ms) : volt",
                            threshold="v > 0*mV", reset="v = -65*mV", method="exact")
    target.v = -65 * mV
    syn = b2.Synapses(source, target, on_pre="i_exc += 1*mV")
    syn.connect(i=[0, 0, 0], j=[0, 1, 2])
    syn.delay = delays * ms
    mon = b2.StateMonitor(target, "i_exc", record=True)
    b2.run(6 * ms)
    brian_jump = np.argmax(np.asarray(mon.i_exc / mV) > 0, axis=1)

    net = ns.Network(dt=0.1, seed=0, delay_convention="brian2")
    src = net.population("src", ns.SpikeTimes(1, [0], [2.0]))
    tgt = net.population("tgt", ns.LIF(3, v_rest=-65.0, v_threshold=0.0, v_reset=-65.0, v_init=-65.0))
    net.connect(src, tgt, ns.connect.from_matrix(np.ones((1, 3))), delay=delays)
    net.monitor_state(tgt, "i_exc")
    ours = net.run(6.0, progress=False).states["tgt.i_exc"].values
    np.testing.assert_array_equal(np.argmax(ours > 0, axis=0), brian_jump)
    assert list(brian_jump) == [21, 31, 46]  # the comparison means something: the three delays differ


# ---- 1g: whole-run totals count neurons, not inputs; wall time includes building -------------

def test_whole_run_totals_leave_the_input_sources_out():
    net = ns.Network(dt=0.1, seed=1)
    src = net.population("src", ns.PoissonSource(200, rate=50.0))
    lif = net.population("lif", ns.LIF(20, v_init=ns.Uniform(-65.0, -50.0)))
    net.connect(src, lif, ns.connect.random(0.2), weight=3.0)
    result = net.run(200.0, progress=False)
    fired = result.spike_count("lif")
    assert 0 < fired < result.spike_count("src")
    assert result.spike_count() == fired == result.summary()["spike_count"] == result.info["spike_count"]
    assert result.cv_isi() == result.cv_isi("lif") and result.neuron_populations == ["lif"]
    assert result.mean_rate() == result.mean_rate("lif") == fired / (20 * 0.2)
    info = result.info
    assert info["build_s"] > 0 and info["wall_time_s"] == pytest.approx(info["build_s"] + info["simulate_s"])


def test_a_spike_time_source_of_millions_of_spikes_builds_in_seconds():
    n, steps = 1000, 6400  # 6.4 M spikes, one per neuron and step
    times = np.repeat(np.arange(steps, dtype=float), n)
    src = ns.SpikeTimes(n, np.tile(np.arange(n), steps), times)
    net = ns.Network(dt=1.0, seed=0)
    net.population("src", src)
    result = net.run(10.0, progress=False)
    assert result.spike_count("src") == 10 * n


# ---- 2: nothing hangs ------------------------------------------------------------------------

def test_reported_hangs_return_at_once(within, refuses):
    net = ns.Network(dt=1.0, seed=0)
    a = net.population("a", ns.LIF(100))
    with within(5):
        assert net.connect(a, a, ns.connect.random(1e-300), weight=1.0).n_synapses == 0
        assert net.connect(a, a, ns.connect.random(1e-18), weight=1.0).n_synapses == 0
    for dt, duration in ((1e-300, 1.0), (1.0, 1e300)):
        tiny = ns.Network(dt=dt, seed=0)
        tiny.population("a", ns.LIF(1))
        with within(5), refuses("duration", "time steps"):
            tiny.run(duration, progress=False)


@settings(max_examples=100)
@given(p=st.one_of(st.floats(0.0, 1.0), st.sampled_from([5e-324, 1e-300, 1e-18, 1e-9, 1 - 1e-16])),
       n_pre=st.integers(1, 300), n_post=st.integers(1, 300))
def test_random_connectivity_returns_for_any_probability(p, n_pre, n_post, within):
    net = ns.Network(dt=1.0, seed=0)
    a, b = net.population("a", ns.LIF(n_pre)), net.population("b", ns.LIF(n_post))
    with within(5):
        proj = net.connect(a, b, ns.connect.random(p), weight=1.0)
    n = n_pre * n_post
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    assert abs(proj.n_synapses - mean) <= 6 * sd + 1  # and Bernoulli(p) on average
    pairs = proj.sources() * n_post + proj.target
    assert np.all(np.diff(pairs) > 0)  # no pair twice


@settings(max_examples=150)
@given(dt=st.one_of(st.floats(1e-300, 1e3), st.sampled_from([5e-324, 1e-300, 1e-9, 1e3, 1e300])),
       duration=st.one_of(st.floats(0.0, 1e300), st.sampled_from([0.0, 1e-300, 1e300, 2.0**70])))
def test_run_length_is_bounded_up_front(dt, duration, within, refuses):
    net = ns.Network(dt=dt, seed=0)
    steps = duration / dt
    with within(5):
        if steps > MAX_RUN_STEPS:
            with refuses("duration", "time steps"):
                net._steps_of(duration)
        else:
            assert net._steps_of(duration) == round(steps)


def test_absurd_runs_are_refused_before_anything_runs(within, refuses):
    for duration, dt in ((1e300, 0.1), (1.0, 1e-300), (1e12, 1e-3)):
        net = ns.Network(dt=dt, seed=0)
        net.population("a", ns.LIF(2))
        with within(5), refuses("duration"):
            net.run(duration, progress=False)
    net = ns.Network(dt=1e300, seed=0)  # a huge dt: the run is zero steps, done at once
    net.population("a", ns.LIF(2))
    assert net.run(1.0, progress=False).n_steps == 0


# ---- 7: huge allocations are refused up front ------------------------------------------------

def test_reported_huge_allocations_are_refused_up_front(within):
    with within(10):
        net = ns.Network(dt=0.1, seed=0)
        with pytest.raises(ns.InsufficientMemoryError, match=r"population 'big' .* needs about .* available"):
            net.population("big", ns.LIF(10**9))
        a = net.population("a", ns.PoissonSource(10**6))
        b = net.population("b", ns.LIF(10**6))
        for rule in (ns.connect.all_to_all(), ns.connect.random(0.5)):
            with pytest.raises(ns.InsufficientMemoryError, match=r"connect 'a' -> 'b' .* synapses\) needs about .*TiB"):
                net.connect(a, b, rule, weight=1.0)
        with pytest.raises(ValueError):  # it is also a ValueError: what was asked must change
            net.connect(a, b, ns.connect.fixed_in_degree(10**6), weight=1.0)


@settings(max_examples=60)
@given(n=st.integers(1, 10**13), cap_mib=st.integers(1, 64))
def test_population_size_is_checked_against_the_memory_available(n, cap_mib, monkeypatch, within):
    monkeypatch.setenv("NEUROSIM_MEMORY_BYTES", str(cap_mib << 20))
    net = ns.Network(dt=0.1, seed=0)
    model = ns.LIF(n)
    with within(10):
        if n * model.bytes_per_neuron() > cap_mib << 20:
            with pytest.raises(ns.InsufficientMemoryError, match="population 'p'"):
                net.population("p", model)
        else:
            assert len(net.population("p", model)) == n


def test_the_delay_ring_and_the_recording_are_checked_before_they_are_allocated(monkeypatch, refuses):
    monkeypatch.setenv("NEUROSIM_MEMORY_BYTES", str(64 << 20))
    net = ns.Network(dt=0.1, seed=0, max_delay=1e9)
    a = net.population("a", ns.LIF(100))
    net.connect(a, a, ns.connect.random(0.1), weight=1.0, delay=1e6)  # 10^7 ring slots of 100 neurons
    with refuses("delay buffer", "needs about"):
        net.run(1.0, progress=False)
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(1000))
    net.monitor_state(a, ["v", "i_exc"])  # 2000 samples per step
    with refuses("run of", "state samples", "needs about"):
        net.run(10_000.0, progress=False)


def test_a_grid_of_positions_is_checked_against_memory(refuses):
    with refuses("grid_positions", "needs about"):
        ns.connect.grid_positions((10**6, 10**6, 3))


def test_distance_rule_stops_drawing_once_the_synapses_cannot_fit(monkeypatch, refuses):
    monkeypatch.setenv("NEUROSIM_MEMORY_BYTES", str(8 << 20))
    pos = ns.connect.grid_positions((40, 40, 3))
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(len(pos)))
    with refuses("connect.distance", "needs about"):
        net.connect(a, a, ns.connect.distance(pos, pos, C=1.0, lam=50.0), weight=1.0)


# ---- 5: resume writes checkpoints where the checkpoint is now --------------------------------

def _checkpointed_run(path, interrupt_at_chunk, monkeypatch):
    from neurosim import network

    net = ns.Network(dt=0.1, seed=4)
    a = net.population("a", ns.LIF(30, v_init=ns.Uniform(-65.0, -50.0)))
    net.add_current(a, ns.NoiseCurrent(std=3.0, mean=16.0))
    real_drive, calls = network._Flattened.drive, []

    def drive(self, first_step, k):
        if k > 0:
            calls.append(k)
            if len(calls) == interrupt_at_chunk:
                raise KeyboardInterrupt
        return real_drive(self, first_step, k)

    monkeypatch.setattr(network._Flattened, "drive", drive)
    with pytest.raises(ns.SimulationInterrupted):
        net.run(50.0, progress=False, chunk_ms=5.0, checkpoint_every=10.0, checkpoint_path=path)
    monkeypatch.undo()


def test_resume_writes_checkpoints_where_the_checkpoint_is_now(tmp_path, monkeypatch):
    first, moved = tmp_path / "full-disk" / "run.ckpt", tmp_path / "elsewhere" / "run.ckpt"
    _checkpointed_run(first, 5, monkeypatch)  # checkpoints at 10 and 20 ms, stopped in the 5th chunk
    moved.parent.mkdir()
    os.replace(first, moved)
    net, result = ns.Network.resume(moved, progress=False)
    assert result.n_steps == 500 and not first.exists()  # nothing written to the old place
    from neurosim.checkpoint import read_checkpoint

    assert read_checkpoint(moved)[2].done == 500  # the last checkpoint (at the end) went to the new place
    redirected = tmp_path / "third.ckpt"
    _checkpointed_run(first, 3, monkeypatch)
    ns.Network.resume(first, progress=False, checkpoint_path=redirected)
    assert read_checkpoint(redirected)[2].done == 500 and read_checkpoint(first)[2].done == 100


@settings(max_examples=40)
@given(path=st.one_of(st.none(), st.integers(), st.booleans(), st.just(""), st.just("a\0b"), st.binary(max_size=4)))
def test_path_arguments_are_checked(path, tmp_path, refuses):
    net = ns.Network(dt=0.1, seed=0)
    net.population("a", ns.LIF(2))
    if isinstance(path, bytes) and path and b"\0" not in path:
        path = tmp_path / os.fsdecode(path).replace("/", "_")  # a valid name: fine
        net.run(1.0, progress=False, checkpoint_every=1.0, checkpoint_path=path)
        return
    with refuses("checkpoint_path"):
        net.run(1.0, progress=False, checkpoint_every=1.0, checkpoint_path=path)


# ---- 8: streamed spikes on a full disk ---------------------------------------------------------

def test_streamed_spikes_on_a_full_disk_name_the_file_and_stay_paired(tmp_path):
    """The file-size limit (RLIMIT_FSIZE) makes writes fail as on a full disk, in a child process
    (it would also stop pytest's own files). The child compiles the kernel (or loads it from
    Numba's cache) before the limit is set, so that only the spike files meet it."""
    script = textwrap.dedent(f"""
        import os, resource, signal, sys
        import neurosim as ns
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        net = ns.Network(dt=0.1, seed=0)
        net.population("src", ns.PoissonSource(200, rate=500.0))
        net.run(0.0, progress=False)  # compiles the kernel and writes Numba's cache
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
        try:
            net.run(100.0, progress=False, chunk_ms=1.0, stream_spikes_to={str(tmp_path / "spikes")!r})
        except OSError as err:
            print("OSError:", err)
            sys.exit(0)
        sys.exit("no error")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "stream_spikes_to" in out.stdout and str(tmp_path / "spikes" / "src") in out.stdout
    from neurosim.spike_stream import load_spikes

    spikes = load_spikes(tmp_path / "spikes", "src")  # the pair is consistent: loads
    assert 0 < len(spikes) and spikes.times.size * 8 <= 20_000
    assert np.all(np.diff(spikes.times) >= 0) and np.all(spikes.indices < 200)
