"""SpikeTimes: several spikes of one neuron in a step are several events (delivered and
recorded each, on every backend), bad input is refused by name, millions of spikes build."""

import numpy as np
import pytest

import neurosim as ns

DT = 0.5


def doubled_spikes_network():
    """Source neuron 0 spikes twice in step 2 (a repeated time and a time within the step) and
    once in step 6; neuron 1 spikes three times in step 4. Weight 3 onto a target that holds
    its current (tau 1e6 ms) and never fires, so the current counts the delivered weight."""
    net = ns.Network(dt=DT, seed=0)
    src = net.population("src", ns.SpikeTimes(2, indices=[1, 0, 0, 1, 0, 1], times=[2.0, 1.0, 1.1, 2.0, 3.0, 1.9]))
    tgt = net.population("tgt", ns.LIF(2, tau_exc=1e6, v_threshold=1e9))
    net.connect(src, tgt, ns.connect.one_to_one(), weight=3.0, delay=DT)
    net.monitor_state(tgt, "i_exc")
    return net


def run(backend):
    return doubled_spikes_network().run(5.0, backend=backend, progress=False)


def test_steps_keep_every_spike_sorted_by_step_then_given_order():
    st = ns.SpikeTimes(2, indices=[1, 0, 0, 1, 0, 1], times=[2.0, 1.0, 1.1, 2.0, 3.0, 1.9])
    steps, idx = st.steps(DT)
    np.testing.assert_array_equal(steps, [2, 2, 4, 4, 4, 6])
    np.testing.assert_array_equal(idx, [0, 0, 1, 1, 1, 0])


def test_unsorted_input_gives_the_stable_order():
    """The packed-key sort equals a stable argsort by step (ties in the given order)."""
    rng = np.random.default_rng(1)
    indices, times = rng.integers(0, 7, 5000), rng.uniform(0.0, 30.0, 5000)
    steps, idx = ns.SpikeTimes(7, indices=indices, times=times).steps(0.1)
    expected_steps = np.rint(times / 0.1).astype(np.int64)
    order = np.argsort(expected_steps, kind="stable")
    np.testing.assert_array_equal(steps, expected_steps[order])
    np.testing.assert_array_equal(idx, indices[order])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_several_spikes_in_a_step_deliver_and_record_each(backend):
    result = run(backend)
    current = result.states["tgt.i_exc"].values  # [step, target]; input of step s arrives at s + 1
    # neuron 0: 2 x 3.0 at step 3, +3.0 at step 7; neuron 1: 3 x 3.0 at step 5
    np.testing.assert_allclose(current[:, 0], [0, 0, 0, 6, 6, 6, 6, 9, 9, 9], rtol=1e-5)  # (a slight decay)
    np.testing.assert_allclose(current[:, 1], [0, 0, 0, 0, 0, 9, 9, 9, 9, 9], rtol=1e-5)
    jumps = np.diff(current, axis=0)
    assert jumps[2, 0] == 6.0 and jumps[4, 1] == 9.0  # 2 x and 3 x the weight, exactly
    spikes = result.spikes["src"]
    np.testing.assert_array_equal(spikes.indices, [0, 0, 1, 1, 1, 0])
    np.testing.assert_allclose(spikes.times, np.array([2, 2, 4, 4, 4, 6]) * DT)
    assert result.spike_count("src") == 6
    assert result.info["synaptic_events"] == 6


def test_numpy_numba_and_triton_agree(assert_same_run):
    pytest.importorskip("triton")
    pytest.importorskip("torch")
    ref = run("numpy")
    assert_same_run(ref, run("numba"))
    assert_same_run(ref, run("triton"))


def test_doubled_spikes_excite_a_target_as_twice_the_weight():
    """Two spikes in one step push a target as far as one spike of twice the weight."""
    def target_voltage(indices, times, weight):
        net = ns.Network(dt=0.1, seed=0)
        src = net.population("s", ns.SpikeTimes(1, indices=indices, times=times))
        tgt = net.population("t", ns.LIF(1, v_threshold=1e9))
        net.connect(src, tgt, ns.connect.all_to_all(), weight=weight)
        net.monitor_state(tgt, "v")
        return net.run(10.0, progress=False).states["t.v"].values
    np.testing.assert_array_equal(target_voltage([0, 0], [2.0, 2.0], 1.5), target_voltage([0], [2.0], 3.0))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(indices=[0, 1], times=[1.0, -0.5]), ValueError, r"SpikeTimes.times must be finite and >= 0 ms, got -0.5"),
    (dict(indices=[0, 1], times=[1.0, np.nan]), ValueError, r"SpikeTimes.times must be finite and >= 0 ms, got nan"),
    (dict(indices=[0, 1], times=[np.inf, 1.0]), ValueError, r"SpikeTimes.times must be finite"),
    (dict(indices=[0, 3], times=[1.0, 2.0]), ValueError, r"SpikeTimes.indices must be in \[0, 3\)"),
    (dict(indices=[-1, 0], times=[1.0, 2.0]), ValueError, r"SpikeTimes.indices must be in \[0, 3\)"),
    (dict(indices=[0.0, 1.5], times=[1.0, 2.0]), TypeError, r"SpikeTimes.indices must be integers"),
    (dict(indices=[True, False], times=[1.0, 2.0]), TypeError, r"SpikeTimes.indices must be integers"),
    (dict(indices=[0, 1], times=[1.0]), ValueError, r"SpikeTimes.indices and .times must be 1-D of equal length"),
    (dict(indices=[0], times=["1.0"]), TypeError, r"SpikeTimes.times must be"),
])
def test_bad_input_is_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        ns.SpikeTimes(3, **kwargs)


def test_a_time_beyond_any_run_is_refused():
    with pytest.raises(ValueError, match="SpikeTimes.times: a spike at .* beyond any run"):
        ns.SpikeTimes(1, indices=[0], times=[1e300]).steps(0.1)


def test_a_million_spikes_build_and_run():
    """10^6 unsorted spikes (many doubled in a step) over 10^3 neurons; a run delivers those
    of its steps. (Speed is measured by scripts, not asserted here.)"""
    rng = np.random.default_rng(0)
    m, n = 1_000_000, 1_000
    indices, times = rng.integers(0, n, m), rng.uniform(0.0, 1000.0, m)
    st = ns.SpikeTimes(n, indices=indices, times=times)
    steps, idx = st.steps(0.1)
    assert steps.size == m and np.all(np.diff(steps) >= 0)
    net = ns.Network(dt=0.1, seed=0)
    net.population("src", st)
    result = net.run(20.0, progress=False)
    expected = np.count_nonzero(np.rint(times / 0.1) < 200)
    assert result.spike_count("src") == expected


def test_the_brian2_export_refuses_repeated_spikes_in_a_step_plainly():
    pytest.importorskip("brian2")
    from neurosim.brian2_export import to_brian2

    net = ns.Network(dt=0.1)
    source = net.population("s", ns.SpikeTimes(2, indices=[0, 0, 1], times=[1.0, 1.0, 2.0]))
    target = net.population("p", ns.LIF(2))
    net.connect(source, target, ns.connect.one_to_one(), weight=1.0)
    with pytest.raises(ValueError, match=r"population 's'.*more than once in one step.*larger weight"):
        to_brian2(net)


def test_add_spikes_before_and_between_runs():
    """Spikes added to a SpikeTimes source join those scheduled, before the first run or between
    runs, and are delivered as if they had been given at the start; the past is refused."""
    def network():
        net = ns.Network(dt=0.1, seed=0)
        src = net.population("src", ns.SpikeTimes(2, [0], [5.0]))
        net.population("cell", ns.LIF(2))
        return net, src

    whole, src = network()
    whole.add_spikes(src, [1, 0], [12.0, 30.0])
    expected = whole.run(40.0).spikes["src"]
    split, src = network()
    first = split.run(10.0).spikes["src"]
    split.add_spikes(src, [1, 0], [12.0, 30.0])
    second = split.run(30.0).spikes["src"]
    np.testing.assert_allclose(np.concatenate([first.times, second.times]), expected.times)
    np.testing.assert_array_equal(np.concatenate([first.indices, second.indices]), expected.indices)
    np.testing.assert_allclose(expected.times, [5.0, 12.0, 30.0])
    with pytest.raises(ValueError, match="before the current time 40 ms"):
        split.add_spikes(src, [0], [39.0])
    with pytest.raises(TypeError, match="must be a SpikeTimes source"):
        split.add_spikes(split.populations["cell"], [0], [50.0])
