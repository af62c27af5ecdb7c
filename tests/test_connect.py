"""Connectivity builders: CSR projections with weights and delays."""

import numpy as np
import pytest
import scipy.sparse as sp

import neurosim as ns


def two_pops(n_pre=200, n_post=150, seed=0, dt=0.1):
    net = ns.Network(dt=dt, seed=seed)
    return net, net.population("a", ns.LIF(n_pre)), net.population("b", ns.LIF(n_post))


def test_random_connection_probability_and_csr():
    net, a, b = two_pops()
    proj = net.connect(a, b, ns.connect.random(0.1), weight=1.0)
    n = proj.n_synapses
    assert abs(n - 0.1 * 200 * 150) < 5 * np.sqrt(200 * 150 * 0.1 * 0.9)
    assert proj.indptr[0] == 0 and proj.indptr[-1] == n and np.all(np.diff(proj.indptr) >= 0)
    pairs = set(zip(proj.sources(), proj.target))
    assert len(pairs) == n  # no duplicate pairs
    for i in range(200):  # targets sorted within each row
        row = proj.target[proj.indptr[i] : proj.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)


def test_random_excludes_self_connections_unless_asked():
    net, a, _ = two_pops()
    proj = net.connect(a, a, ns.connect.random(0.5), weight=1.0)
    assert not np.any(proj.sources() == proj.target)
    proj2 = net.connect(a, a, ns.connect.random(0.5), weight=1.0, allow_self=True)
    assert np.any(proj2.sources() == proj2.target)


def test_fixed_in_degree_is_exact():
    net, a, b = two_pops()
    proj = net.connect(a, b, ns.connect.fixed_in_degree(17), weight=1.0)
    np.testing.assert_array_equal(np.bincount(proj.target, minlength=150), 17)
    self_proj = net.connect(a, a, ns.connect.fixed_in_degree(199), weight=1.0)
    assert not np.any(self_proj.sources() == self_proj.target)
    np.testing.assert_array_equal(np.bincount(self_proj.target, minlength=200), 199)
    with pytest.raises(ValueError, match="k=200 exceeds"):
        net.connect(a, a, ns.connect.fixed_in_degree(200), weight=1.0)


def test_all_to_all():
    net, a, b = two_pops(20, 30)
    assert net.connect(a, b, ns.connect.all_to_all(), weight=1.0).n_synapses == 600
    assert net.connect(a, a, ns.connect.all_to_all(), weight=1.0).n_synapses == 380
    assert net.connect(a, a, ns.connect.all_to_all(), weight=1.0, allow_self=True).n_synapses == 400


@pytest.mark.parametrize("kind", ["dense", "csr", "coo"])
def test_from_matrix_roundtrip(kind):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(20, 30)) * (rng.random((20, 30)) < 0.3)
    m = {"dense": w, "csr": sp.csr_matrix(w), "coo": sp.coo_matrix(w)}[kind]
    net, a, b = two_pops(20, 30)
    proj = net.connect(a, b, ns.connect.from_matrix(m))
    np.testing.assert_allclose(proj.to_dense(), w)
    with pytest.raises(ValueError, match="does not match"):
        net.connect(b, a, ns.connect.from_matrix(m))


def test_weights_and_delays_scalar_array_distribution():
    net, a, b = two_pops(10, 10, dt=0.5)
    proj = net.connect(a, b, ns.connect.all_to_all(), weight=np.arange(100.0), delay=np.full(100, 2.0))
    assert np.all(proj.delay == 4)
    np.testing.assert_array_equal(np.sort(proj.weight), np.arange(100.0))
    proj = net.connect(a, b, ns.connect.all_to_all(), weight=ns.Uniform(1.0, 2.0), delay=ns.Uniform(0.5, 5.0))
    assert 1.0 <= proj.weight.min() and proj.weight.max() < 2.0
    assert proj.delay.min() >= 1 and proj.delay.max() <= 10 and len(np.unique(proj.delay)) > 5


def test_receptor_inferred_from_sign():
    net, a, b = two_pops(10, 10)
    assert net.connect(a, b, ns.connect.all_to_all(), weight=-1.0).receptor == 1
    assert net.connect(a, b, ns.connect.all_to_all(), weight=1.0).receptor == 0
    assert net.connect(a, b, ns.connect.all_to_all(), weight=-1.0, receptor="exc").receptor == 0


def test_inhibitory_receptor_feeds_inhibitory_current():
    net = ns.Network(dt=0.1, seed=0)
    src = net.population("s", ns.SpikeTimes(1, [0], [0.0]))
    tgt = net.population("t", ns.LIF(1, v_threshold=1e9))
    net.connect(src, tgt, ns.connect.all_to_all(), weight=-4.0)
    net.monitor_state(tgt, ["i_exc", "i_inh"])
    states = net.run(1.0, progress=False).states
    assert np.all(states["t.i_exc"].values == 0) and states["t.i_inh"].values.min() < -3.0


def test_connect_lists_of_populations():
    net, a, b = two_pops(10, 10)
    projs = net.connect([a, b], [a, b], ns.connect.all_to_all(), weight=1.0)
    assert len(projs) == 2 and all(len(p) == 2 for p in projs)


def test_distance_rule_follows_the_gaussian_profile():
    """Connection frequency per distance over a 3-D grid matches C exp(-(D/lam)^2) (binomial
    tolerance per distance shell), no self-connections, and lam = 0 connects nothing off-site."""
    pos = ns.connect.grid_positions((12, 6, 6))
    rule = ns.connect.distance(pos, pos, C=0.3, lam=2.0)
    pre, post = rule.pairs(len(pos), len(pos), np.random.default_rng(0), allow_self=False)
    assert np.all(pre != post) and np.all(np.diff(pre) >= 0)
    d_all = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    np.fill_diagonal(d_all, np.nan)
    d_conn = np.round(np.sqrt(((pos[pre] - pos[post]) ** 2).sum(-1)), 6)
    shells = np.unique(np.round(d_all[~np.isnan(d_all)], 6))
    checked = 0
    for d in shells[:12]:  # the near shells, where connections are common
        n_pairs = int(np.sum(np.isclose(d_all, d)))
        p = 0.3 * np.exp(-((d / 2.0) ** 2))
        got = int(np.sum(np.isclose(d_conn, d)))
        sd = np.sqrt(n_pairs * p * (1 - p))
        assert abs(got - n_pairs * p) < 5 * sd + 1, (d, got, n_pairs * p)
        checked += 1
    assert checked == 12
    assert np.max(d_conn) < 8.0  # exp(-16) * 0.3 * pairs: none expected that far
    none = ns.connect.distance(pos, pos, C=1.0, lam=0.0).pairs(len(pos), len(pos), np.random.default_rng(1), False)
    assert none[0].size == 0


def test_distance_rule_refuses_bad_input():
    pos = ns.connect.grid_positions((3, 3))
    with pytest.raises(ValueError, match="C must be a probability"):
        ns.connect.distance(pos, pos, C=1.5, lam=2.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        ns.connect.distance(pos, pos, C=0.3, lam=-1.0)
    with pytest.raises(ValueError, match="same dimension"):
        ns.connect.distance(pos, np.zeros((4, 3)), C=0.3, lam=2.0)
    with pytest.raises(ValueError, match="pre_positions has 9 rows for a population of 10"):
        ns.connect.distance(pos, pos, C=0.3, lam=2.0).pairs(10, 9, np.random.default_rng(0), False)
    with pytest.raises(ValueError, match=r"shape\[1\]"):
        ns.connect.grid_positions((3, 0))
    np.testing.assert_array_equal(ns.connect.grid_positions((2, 3))[:4], [[0, 0], [0, 1], [0, 2], [1, 0]])


def test_distance_rule_in_a_network():
    net = ns.Network(seed=3)
    pos = ns.connect.grid_positions((15, 3, 3))
    col = net.population("column", ns.LIF(len(pos)))
    proj = net.connect(col, col, ns.connect.distance(pos, pos, C=0.3, lam=2.0), weight=1.0)
    # Maass's column: about 0.3 * sum over other sites of exp(-(D/2)^2) per neuron
    d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    expected = 0.3 * (np.exp(-((d / 2.0) ** 2)).sum() - len(pos))
    assert abs(proj.n_synapses - expected) < 5 * np.sqrt(expected)
