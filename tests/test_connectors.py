"""one_to_one and fixed_out_degree: exact structure, statistics, bad input, and a run on two backends."""

import numpy as np
import pytest

import neurosim as ns


def pops(n_pre=50, n_post=40, seed=0):
    net = ns.Network(dt=0.1, seed=seed)
    return net, net.population("a", ns.LIF(n_pre)), net.population("b", ns.LIF(n_post))


# ---- one_to_one ---------------------------------------------------------------------------------
def test_one_to_one_connects_i_to_i():
    net, a, _ = pops(30, 30)
    b = net.population("c", ns.LIF(30))
    proj = net.connect(a, b, ns.connect.one_to_one(), weight=1.0)
    np.testing.assert_array_equal(proj.sources(), np.arange(30))
    np.testing.assert_array_equal(proj.target, np.arange(30))
    np.testing.assert_array_equal(proj.indptr, np.arange(31))


def test_one_to_one_onto_itself_needs_allow_self():
    net, a, _ = pops(30, 30)
    proj = net.connect(a, a, ns.connect.one_to_one(), weight=1.0, allow_self=True)
    np.testing.assert_array_equal(proj.to_dense(), np.eye(30))
    with pytest.raises(ValueError, match="allow_self=True"):
        net.connect(a, a, ns.connect.one_to_one(), weight=1.0)


def test_one_to_one_refuses_different_sizes_naming_both():
    net, a, b = pops(50, 40)
    with pytest.raises(ValueError, match="50 sources and 40 targets"):
        net.connect(a, b, ns.connect.one_to_one(), weight=1.0)


def test_one_to_one_weight_array_follows_source_order():
    net, a, _ = pops(20, 20)
    b = net.population("c", ns.LIF(20))
    w = np.arange(1.0, 21.0)
    proj = net.connect(a, b, ns.connect.one_to_one(), weight=w)
    np.testing.assert_array_equal(proj.to_dense(), np.diag(w))


# ---- fixed_out_degree ---------------------------------------------------------------------------
def test_fixed_out_degree_every_source_has_k_distinct_targets():
    net, a, b = pops(50, 40)
    proj = net.connect(a, b, ns.connect.fixed_out_degree(7), weight=1.0)
    np.testing.assert_array_equal(np.diff(proj.indptr), 7)
    assert proj.n_synapses == 50 * 7
    for i in range(50):
        row = proj.target[proj.indptr[i] : proj.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)  # distinct (and sorted) targets
        assert row.min() >= 0 and row.max() < 40


def test_fixed_out_degree_all_targets_and_too_many():
    net, a, b = pops(50, 40)
    proj = net.connect(a, b, ns.connect.fixed_out_degree(40), weight=1.0)
    np.testing.assert_array_equal(proj.to_dense(), np.ones((50, 40)))
    with pytest.raises(ValueError, match="k=41 exceeds the 40 available targets per source"):
        net.connect(a, b, ns.connect.fixed_out_degree(41), weight=1.0)


def test_fixed_out_degree_excludes_self_unless_asked():
    net, a, _ = pops(30, 30)
    proj = net.connect(a, a, ns.connect.fixed_out_degree(29), weight=1.0)
    assert not np.any(proj.sources() == proj.target)
    np.testing.assert_array_equal(proj.to_dense(), 1.0 - np.eye(30))  # all of the others
    with pytest.raises(ValueError, match=r"k=30 exceeds the 29 .*self-connections excluded"):
        net.connect(a, a, ns.connect.fixed_out_degree(30), weight=1.0)
    full = net.connect(a, a, ns.connect.fixed_out_degree(30), weight=1.0, allow_self=True)
    np.testing.assert_array_equal(full.to_dense(), np.ones((30, 30)))
    some = net.connect(a, a, ns.connect.fixed_out_degree(5), weight=1.0)
    assert not np.any(some.sources() == some.target)
    np.testing.assert_array_equal(np.diff(some.indptr), 5)


def test_fixed_out_degree_zero():
    net, a, b = pops(50, 40)
    proj = net.connect(a, b, ns.connect.fixed_out_degree(0), weight=1.0)
    assert proj.n_synapses == 0
    np.testing.assert_array_equal(proj.indptr, np.zeros(51))


def test_fixed_out_degree_deterministic_for_a_seed():
    def build(seed):
        net, a, b = pops(50, 40, seed=seed)
        proj = net.connect(a, b, ns.connect.fixed_out_degree(6), weight=ns.Uniform(0.0, 1.0))
        return proj.target, proj.weight

    t1, w1 = build(5)
    t2, w2 = build(5)
    t3, _ = build(6)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(t1, t3)


def test_fixed_out_degree_weight_array_follows_source_target_order():
    # synapse s of the (source, target) order gets w[s], whatever order the rule drew the pairs in
    n_pre, n_post, k = 12, 9, 4
    net, a, b = pops(n_pre, n_post, seed=11)
    w = np.arange(1.0, n_pre * k + 1.0)
    proj = net.connect(a, b, ns.connect.fixed_out_degree(k), weight=w, delay=w * 0.1)
    np.testing.assert_array_equal(proj.weight, w)
    np.testing.assert_array_equal(proj.delay, np.rint(w))
    dense = proj.to_dense()
    for i in range(n_pre):
        targets = np.flatnonzero(dense[i])
        np.testing.assert_array_equal(dense[i, targets], w[i * k : (i + 1) * k])


def test_fixed_out_degree_targets_roughly_uniform():
    net, a, b = pops(2000, 50, seed=1)
    proj = net.connect(a, b, ns.connect.fixed_out_degree(10), weight=1.0)
    indegree = np.bincount(proj.target, minlength=50)
    expected = 2000 * 10 / 50  # 400 per target
    # each in-degree is hypergeometric-like with variance <= n_pre * p * (1 - p): 5 sigma bounds
    sigma = np.sqrt(2000 * 0.2 * 0.8)
    assert np.all(np.abs(indegree - expected) < 5 * sigma)
    chi2 = np.sum((indegree - expected) ** 2 / expected)
    assert chi2 < 49 + 5 * np.sqrt(2 * 49)  # chi-square with 49 degrees of freedom, generously


def test_fixed_out_degree_self_exclusion_keeps_others_uniform():
    net, a, _ = pops(400, 400, seed=2)
    proj = net.connect(a, a, ns.connect.fixed_out_degree(3), weight=1.0)
    offsets = (proj.target - proj.sources()) % 400  # 1..399, uniform if the shift is unbiased
    assert offsets.min() >= 1
    counts = np.bincount(offsets, minlength=400)[1:]
    assert abs(counts[: 200].sum() - counts[200:].sum()) < 5 * np.sqrt(1200)


# ---- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("k, error, message", [
    (-1, ValueError, "k must be >= 0, got -1"),
    (2.5, TypeError, "k must be an integer, got float"),
    (3.0, TypeError, "k must be an integer"),
    (True, TypeError, "k must be an integer, got bool"),
    ("3", TypeError, "k must be an integer, got str"),
])
def test_fixed_out_degree_bad_k(k, error, message):
    with pytest.raises(error, match=message):
        ns.connect.fixed_out_degree(k)


def test_fixed_out_degree_accepts_numpy_int():
    assert ns.connect.fixed_out_degree(np.int64(3)).k == 3
    assert type(ns.connect.fixed_out_degree(np.int64(3)).k) is int


def test_new_rules_are_rules_with_expected_synapses():
    assert isinstance(ns.connect.one_to_one(), ns.connect.Rule)
    assert ns.connect.one_to_one().expected_synapses(10, 10) == 10
    assert ns.connect.fixed_out_degree(4).expected_synapses(10, 7) == 40
    assert not ns.connect.fixed_out_degree(4).has_weights and not ns.connect.one_to_one().has_weights


def test_fixed_out_degree_too_big_for_memory_is_refused_before_drawing():
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(10**6))
    with pytest.raises(MemoryError):
        net.connect(a, a, ns.connect.fixed_out_degree(10**7), weight=1.0)


# ---- a network using them -----------------------------------------------------------------------
def _network(seed=4):
    net = ns.Network(dt=0.1, seed=seed)
    drive = net.population("drive", ns.PoissonSource(60, rate=ns.Uniform(30.0, 90.0)))
    relay = net.population("relay", ns.LIF(60, v_init=ns.Uniform(-65.0, -55.0)))
    exc = net.population("exc", ns.LIF(80, v_init=ns.Uniform(-65.0, -55.0)))
    net.connect(drive, relay, ns.connect.one_to_one(), weight=ns.Uniform(40.0, 60.0), delay=ns.Uniform(0.1, 2.0))
    net.connect(relay, exc, ns.connect.fixed_out_degree(12), weight=ns.Uniform(5.0, 10.0), delay=ns.Uniform(0.1, 3.0))
    net.connect(exc, exc, ns.connect.fixed_out_degree(8), weight=ns.Normal(1.0, 0.5), delay=ns.Uniform(0.5, 4.0))
    net.connect(exc, exc, ns.connect.one_to_one(), weight=-3.0, receptor="inh", allow_self=True)
    net.add_current(exc, ns.NoiseCurrent(std=2.0, mean=10.0))
    return net


def test_network_with_new_rules_same_spikes_on_numpy_and_numba(assert_same_run):
    reference = _network().run(200.0, backend="numpy", progress=False)
    result = _network().run(200.0, backend="numba", progress=False)
    assert reference.spikes["exc"].times.size > 0 and reference.spikes["relay"].times.size > 0
    assert_same_run(reference, result)
