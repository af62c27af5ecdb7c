"""Online and offline readouts (neurosim.plasticity) and the synaptic filter they read.

FORCE against its recursion written out with the full matrix P, and what that recursion
converges to; ThreeFactorHebbian against its update rule by hand and LMS convergence;
Ridge against the closed form and scikit-learn; SynapticFilter against a step-by-step loop
and the closed-form kernel.
"""

import math

import numpy as np
import pytest

from neurosim.circuits.synaptic_filter import SynapticFilter
from neurosim.plasticity import FORCE, RLSDivergedError, Ridge, ThreeFactorHebbian


def regression_stream(n_samples, n_inputs, n_outputs, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_inputs)) + rng.uniform(-0.5, 0.5, n_inputs)  # correlated through the mean
    W_true = rng.normal(size=(n_outputs, n_inputs))
    Y = X @ W_true.T + noise * rng.normal(size=(n_samples, n_outputs))
    return X, Y, W_true


# ---- FORCE ----------------------------------------------------------------------------

def force_by_hand(X, Y, lam):
    """The recursion of the FORCE docstring with the full matrix P (no symmetry tricks).
    Also returns s_k = x^T P_{k-1} x and the a-priori errors e_k."""
    n_out, n_in = Y.shape[1], X.shape[1]
    W, P = np.zeros((n_out, n_in)), np.eye(n_in) / lam
    s, errors = [], []
    for x, y in zip(X, Y):
        e = W @ x - y
        c = P @ x
        W = W - np.outer(e, c)
        P = P - np.outer(c, c) / (1.0 + x @ c)
        s.append(x @ c)
        errors.append(e)
    return W, P, np.array(s), np.array(errors)


def test_force_equals_the_recursion_with_the_full_matrix():
    X, Y, _ = regression_stream(60, 7, 2, noise=0.3, seed=1)
    X *= 0.3  # keep 1 + x^T P x moderate so the comparison is well conditioned
    force = FORCE(7, 2, regularization=0.8, update="nicola-clopath")
    for x, y in zip(X, Y):
        force.partial_fit(x, y)
    W, P, _, _ = force_by_hand(X, Y, 0.8)
    assert force.n_updates == 60
    np.testing.assert_allclose(force.weights, W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(force.P, P, rtol=1e-9, atol=1e-14)
    assert np.array_equal(force.P, force.P.T)
    np.testing.assert_allclose(force.predict(X), X @ W.T, rtol=1e-9, atol=1e-12)
    # fit replays the samples through partial_fit
    replay = FORCE(7, 2, regularization=0.8, update="nicola-clopath").fit(X, Y)
    np.testing.assert_array_equal(replay.weights, force.weights)


def test_force_P_is_the_regularised_inverse_correlation_and_weights_approach_ridge():
    """P after k samples is exactly (lam I + X^T X)^-1 (Sherman-Morrison). Ridge with alpha=lam
    is W_r = Y^T X P. Exact RLS (gain P_k x = c / (1 + x^T c)) would give W = W_r exactly; this
    FORCE uses Nicola & Clopath's un-normalised gain c = P_{k-1} x, for which multiplying the
    recursion by P_k^-1 = P_{k-1}^-1 + x x^T gives the exact relation
        W_k = sum_i (y_i - s_i e_i) x_i^T P_k,   s_i = x_i^T P_{i-1} x_i, e_i = W_{i-1} x_i - y_i,
    i.e. ridge on targets corrected by s_i e_i; s_i = O(n / i), so W -> ridge as samples accrue."""
    lam = 0.5
    X, Y, W_true = regression_stream(8000, 5, 2, noise=0.2, seed=2)
    X *= 0.3  # states of the size of filtered rates; s_1 = |x|^2 / lam ~ 1
    _, _, s, errors = force_by_hand(X, Y, lam)
    deviation = []
    for k in (500, 2000, 8000):
        force = FORCE(5, 2, regularization=lam, update="nicola-clopath").fit(X[:k], Y[:k])
        np.testing.assert_allclose(force.P, np.linalg.inv(lam * np.eye(5) + X[:k].T @ X[:k]), rtol=1e-8)
        corrected = (Y[:k] - s[:k, None] * errors[:k]).T @ X[:k] @ force.P
        np.testing.assert_allclose(force.weights, corrected, rtol=1e-7, atol=1e-10)
        ridge = Ridge(5, 2, alpha=lam).fit(X[:k], Y[:k]).weights
        deviation.append(np.max(np.abs(force.weights - ridge)) / np.max(np.abs(ridge)))
    assert deviation[0] > 1e-3, "the un-normalised gain is visible early (else the check below is empty)"
    assert deviation[1] < deviation[0] / 2 and deviation[2] < deviation[1] / 2, deviation  # ~ 1 / k
    assert deviation[2] < 2e-3
    assert np.max(np.abs(ridge - W_true)) > 0.01  # noisy data: ridge is not the true map, closeness to it means something


def test_force_reset_restores_P_and_keeps_weights():
    X, Y, _ = regression_stream(50, 4, 1, noise=0.1, seed=4)
    force = FORCE(4, 1, regularization=2.0).fit(X, Y)
    W = force.weights.copy()
    assert not np.allclose(force.P, np.eye(4) / 2.0)
    force.reset()
    np.testing.assert_array_equal(force.P, np.eye(4) / 2.0)
    np.testing.assert_array_equal(force.weights, W)
    # the next update is that of a fresh FORCE with these weights
    fresh = FORCE(4, 1, regularization=2.0)
    fresh.weights[:] = W
    x, y = np.array([0.3, -1.0, 0.5, 2.0]), np.array([0.7])
    np.testing.assert_allclose(force.partial_fit(x, y).weights, fresh.partial_fit(x, y).weights, rtol=1e-14)


def test_force_detects_an_indefinite_P():
    force = FORCE(4, 1, regularization=1.0)
    force.partial_fit(np.ones(4), [1.0])
    W, n = force.weights.copy(), force.n_updates
    force._P = np.asfortranarray(-np.eye(4))
    with pytest.raises(RLSDivergedError, match="positive definite"):
        force.partial_fit(np.array([1.0, 0.5, -0.5, 0.2]), [0.0])  # 1 + x^T P x = 1 - 1.54 < 0
    np.testing.assert_array_equal(force.weights, W)
    assert force.n_updates == n
    assert issubclass(RLSDivergedError, FloatingPointError)
    # a negative diagonal that the update's x does not see is caught by the periodic check
    checked = FORCE(3, 1, regularization=1.0, check_every=1)
    checked._P = np.asfortranarray(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(RLSDivergedError, match="diagonal"):
        checked.partial_fit(np.array([0.5, 0.5, 0.0]), [1.0])
    unchecked = FORCE(3, 1, regularization=1.0, check_every=0)
    unchecked._P = np.asfortranarray(np.diag([1.0, 1.0, -1.0]))
    unchecked.partial_fit(np.array([0.5, 0.5, 0.0]), [1.0])  # no periodic check: no error


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(regularization=0.0), ValueError, "regularization"),
    (dict(regularization=-1.0), ValueError, "regularization"),
    (dict(regularization=float("nan")), ValueError, "regularization"),
    (dict(regularization=float("inf")), ValueError, "regularization"),
    (dict(check_every=-1), ValueError, "check_every"),
    (dict(check_every=2.5), TypeError, "check_every"),
    (dict(n_inputs=0), ValueError, "n_inputs"),
    (dict(n_outputs=0), ValueError, "n_outputs"),
])
def test_force_constructor_validation(kwargs, exc, match):
    args = {"n_inputs": 3, "n_outputs": 2, **kwargs}
    with pytest.raises(exc, match=match):
        FORCE(**args)


@pytest.mark.parametrize("readout", [
    lambda: FORCE(3, 2), lambda: ThreeFactorHebbian(3, 2), lambda: Ridge(3, 2)])
def test_readouts_validate_x_and_target(readout):
    r = readout()
    good_x, good_y = np.ones(3), np.ones(2)
    r.partial_fit(good_x, good_y)
    W = r.weights.copy()
    for x, match in ((np.ones(4), "x must have shape"), (np.ones(2), "x must have shape"),
                     (np.ones((1, 3)), "x must have shape"), (np.array([1.0, np.nan, 0.0]), "x must be finite"),
                     (np.array([np.inf, 0.0, 0.0]), "x must be finite")):
        with pytest.raises(ValueError, match=match):
            r.partial_fit(x, good_y)
    for y, match in ((np.ones(3), "target must have shape"), (np.ones(1), "target must have shape"),
                     (np.array([0.0, np.nan]), "target must be finite"), (None, "target")):
        with pytest.raises(ValueError, match=match):
            r.partial_fit(good_x, y)
    np.testing.assert_array_equal(r.weights, W)  # rejected input changed nothing
    with pytest.raises(ValueError, match="x must have shape"):
        r.predict(np.ones((5, 4)))
    assert r.predict(np.ones((5, 3))).shape == (5, 2) and r.predict(np.ones(3)).shape == (2,)


# ---- ThreeFactorHebbian -----------------------------------------------------------------

def test_three_factor_one_update_by_hand():
    rng = np.random.default_rng(5)
    W0 = rng.normal(size=(3, 4))
    x, y = rng.normal(size=4), rng.normal(size=3)
    gate, lr, dt = np.array([1.0, 0.5, 0.0]), 0.02, 0.7
    cases = {"none": lambda z: np.ones(3), "output": lambda z: z, np.tanh: np.tanh}
    for post, g in cases.items():
        r = ThreeFactorHebbian(4, 3, learning_rate=lr, post=post)
        r.weights[:] = W0
        r.partial_fit(x, y, gate=gate, dt=dt)
        z = W0 @ x
        M = y - z
        expected = W0 + lr * dt * (M * gate)[:, None] * np.outer(g(z), x)
        np.testing.assert_allclose(r.weights, expected, rtol=1e-13, err_msg=str(post))
        assert np.array_equal(r.weights[2], W0[2]), "gate 0: that output does not learn"
        assert r.n_updates == 1


def test_three_factor_eligibility_trace_decays_exactly():
    rng = np.random.default_rng(6)
    lr, tau = 0.05, 15.0
    for post in ("none", "output"):
        r = ThreeFactorHebbian(5, 2, learning_rate=lr, tau_eligibility=tau, post=post)
        W = rng.normal(size=(2, 5))
        r.weights[:] = W
        e = np.zeros((2, 5))
        for dt in (1.0, 0.25, 3.0, 0.5):
            x, y = rng.normal(size=5), rng.normal(size=2)
            z = W @ x
            hebb = np.outer(np.ones(2) if post == "none" else z, x)
            keep = math.exp(-dt / tau)
            e = keep * e + (1.0 - keep) * hebb  # tau de/dt = -e + hebb, hebb held over dt
            W = W + lr * dt * (y - z)[:, None] * e
            r.partial_fit(x, y, dt=dt)
            np.testing.assert_allclose(r.weights, W, rtol=1e-12)
            np.testing.assert_allclose(np.broadcast_to(r.eligibility, e.shape), e, rtol=1e-12)
    r.reset_eligibility()
    assert not r.eligibility.any()


def test_three_factor_gate_and_error_override():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=4), rng.normal(size=2)
    r = ThreeFactorHebbian(4, 2, learning_rate=0.1)
    r.weights[:] = rng.normal(size=(2, 4))
    W = r.weights.copy()
    r.partial_fit(x, y, gate=0.0)
    np.testing.assert_array_equal(r.weights, W)
    M = np.array([0.5, -2.0])
    r.partial_fit(x, target=y, error=M, dt=2.0)  # error= wins over target
    np.testing.assert_allclose(r.weights, W + 0.1 * 2.0 * np.outer(M, x), rtol=1e-13)
    r2 = ThreeFactorHebbian(4, 2, learning_rate=0.1)
    r2.weights[:] = W
    r2.partial_fit(x, error=M, dt=2.0)  # no target needed
    np.testing.assert_array_equal(r2.weights, r.weights)


def test_three_factor_normalize_divides_by_the_squared_norm_of_the_input():
    x, y = np.array([3.0, -1.0, 2.0]), np.array([1.0])
    plain = ThreeFactorHebbian(3, 1, learning_rate=0.01).partial_fit(x, y)
    norm = ThreeFactorHebbian(3, 1, learning_rate=0.01, normalize=True).partial_fit(x, y)
    np.testing.assert_allclose(norm.weights, plain.weights / (x @ x + 3e-12), rtol=1e-12)
    # lr * dt = 1 removes the error on that state, whatever its scale
    for scale in (1e-3, 1.0, 1e3):
        one = ThreeFactorHebbian(3, 1, learning_rate=1.0, normalize=True).partial_fit(scale * x, y)
        np.testing.assert_allclose(one.predict(scale * x), y, rtol=1e-6)


def test_three_factor_converges_to_least_squares():
    """tau_e = 0, g = 1 is LMS: w += lr dt (y - w x) x. Noise-free it finds the map; with
    noise and a small rate it ends near the least-squares solution."""
    X, Y, W_true = regression_stream(6000, 4, 2, noise=0.0, seed=8)
    r = ThreeFactorHebbian(4, 2, learning_rate=0.02)
    r.fit(X, Y)
    np.testing.assert_allclose(r.weights, W_true, atol=1e-6)
    X, Y, _ = regression_stream(20000, 4, 2, noise=0.3, seed=9)
    r = ThreeFactorHebbian(4, 2, learning_rate=0.002)
    r.fit(X, Y)
    W_ls = np.linalg.lstsq(X, Y, rcond=None)[0].T
    assert np.max(np.abs(r.weights - W_ls)) < 0.03
    assert np.max(np.abs(ThreeFactorHebbian(4, 2, learning_rate=0.002).fit(X[:50], Y[:50]).weights - W_ls)) > 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(learning_rate=-0.1), "learning_rate"),
    (dict(learning_rate=float("inf")), "learning_rate"),
    (dict(tau_eligibility=-1.0), "tau_eligibility"),
    (dict(post="pre"), "post"),
])
def test_three_factor_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThreeFactorHebbian(3, 2, **kwargs)


def test_three_factor_update_validation():
    r = ThreeFactorHebbian(3, 2)
    x = np.ones(3)
    with pytest.raises(ValueError, match="target or error"):
        r.partial_fit(x)
    with pytest.raises(ValueError, match="error must have shape"):
        r.partial_fit(x, error=np.ones(3))
    with pytest.raises(ValueError, match="gate"):
        r.partial_fit(x, np.ones(2), gate=np.ones(3))
    with pytest.raises(ValueError, match="gate"):
        r.partial_fit(x, np.ones(2), gate=np.nan)
    for dt in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="dt"):
            r.partial_fit(x, np.ones(2), dt=dt)
    assert r.n_updates == 0 and not r.weights.any()


def test_three_factor_blow_up_raises_and_keeps_the_last_finite_weights():
    r = ThreeFactorHebbian(2, 1, learning_rate=1e300)
    r.partial_fit(np.array([1e-300, 0.0]), [1.0])
    W = r.weights.copy()
    assert np.all(np.isfinite(W))
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match="NaN/inf"):
            r.partial_fit(np.array([1e10, 1e10]), [1.0])
    np.testing.assert_array_equal(r.weights, W)
    assert r.n_updates == 1


# ---- Ridge ------------------------------------------------------------------------------

def test_ridge_fit_equals_closed_form_and_sklearn():
    X, Y, _ = regression_stream(200, 6, 3, noise=0.5, seed=10)
    alpha = 3.0
    r = Ridge(6, 3, alpha=alpha).fit(X, Y)
    closed = np.linalg.solve(X.T @ X + alpha * np.eye(6), X.T @ Y).T
    np.testing.assert_allclose(r.weights, closed, rtol=1e-10)
    np.testing.assert_allclose(r.predict(X), X @ closed.T, rtol=1e-9, atol=1e-12)
    assert r.weights.shape == (3, 6) and r.n_updates == 200
    sklearn = pytest.importorskip("sklearn.linear_model")
    ref = sklearn.Ridge(alpha=alpha, fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(r.weights, ref.coef_, rtol=1e-8)
    # one output, Y given as a vector
    r1 = Ridge(6, 1, alpha=alpha).fit(X, Y[:, 0])
    np.testing.assert_allclose(r1.weights, closed[:1], rtol=1e-10)


def test_ridge_partial_fit_equals_fit_and_fit_replaces():
    X, Y, _ = regression_stream(80, 5, 2, noise=0.5, seed=11)
    online = Ridge(5, 2, alpha=0.7)
    for i, (x, y) in enumerate(zip(X, Y)):
        online.partial_fit(x, y)
        if i == 39:  # reading the weights mid-way does not disturb the statistics
            np.testing.assert_allclose(online.weights, Ridge(5, 2, alpha=0.7).fit(X[:40], Y[:40]).weights, rtol=1e-10)
    batch = Ridge(5, 2, alpha=0.7).fit(X, Y)
    np.testing.assert_allclose(online.weights, batch.weights, rtol=1e-10)
    assert online.n_updates == 80
    refit = Ridge(5, 2, alpha=0.7).fit(X[:10] * 5, Y[:10]).fit(X, Y)
    np.testing.assert_allclose(refit.weights, batch.weights, rtol=1e-10)


def test_ridge_validation():
    for alpha in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            Ridge(3, 2, alpha=alpha)
    r = Ridge(3, 2)
    X = np.ones((10, 3))
    for Y in (np.ones((10, 3)), np.ones((9, 2)), np.ones(10), np.ones((10, 2, 1))):
        with pytest.raises(ValueError, match="Y must have shape"):
            r.fit(X, Y)
    with pytest.raises(ValueError, match="X must have shape"):
        r.fit(np.ones((10, 4)), np.ones((10, 2)))
    with pytest.raises(ValueError, match="Y must be finite"):
        r.fit(X, np.full((10, 2), np.nan))


# ---- SynapticFilter ---------------------------------------------------------------------

def filter_loop(spikes, n, n_steps, dt, tau_rise, tau_decay):
    """Step by step: both exponentials decay, then each spike of the step adds 1/(tau_d - tau_r)."""
    h = 1.0 / (tau_decay - tau_rise)
    slow, fast = np.zeros(n), np.zeros(n)
    out = []
    for step in range(n_steps):
        slow *= math.exp(-dt / tau_decay)
        fast *= math.exp(-dt / tau_rise) if tau_rise > 0 else 0.0
        for i in spikes[step]:
            slow[i] += h
            if tau_rise > 0:
                fast[i] += h
        out.append(slow - fast)
    return np.array(out)


@pytest.mark.parametrize("tau_rise", [0.0, 2.0])
def test_filter_equals_the_step_loop_in_any_chunking(tau_rise):
    rng = np.random.default_rng(12)
    n, n_steps, dt, tau_decay = 7, 600, 0.1, 20.0
    fire = rng.random((n_steps, n)) < 0.05
    spikes = [np.flatnonzero(row) for row in fire]
    expected = filter_loop(spikes, n, n_steps, dt, tau_rise, tau_decay)
    assert np.ptp(expected) > 0.1
    one = SynapticFilter(n, dt, tau_rise, tau_decay)
    for step in range(n_steps):
        value = one.advance(1, np.full(spikes[step].size, step), spikes[step], step)
        np.testing.assert_allclose(value, expected[step], rtol=1e-11, atol=1e-14)
    steps_all, ids_all = np.nonzero(fire)
    for seed in range(3):
        chunked = SynapticFilter(n, dt, tau_rise, tau_decay)
        cuts = np.unique(np.r_[0, np.random.default_rng(seed).integers(1, n_steps, 40), n_steps])
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            mine = (steps_all >= lo) & (steps_all < hi)
            value = chunked.advance(int(hi - lo), steps_all[mine], ids_all[mine], int(hi - 1))
            np.testing.assert_allclose(value, expected[hi - 1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dt, tau_rise, tau_decay", [(0.05, 2.0, 20.0), (0.1, 0.0, 10.0), (0.5, 1.0, 3.0)])
def test_filter_kernel_is_the_closed_form_with_unit_area(dt, tau_rise, tau_decay):
    f = SynapticFilter(1, dt, tau_rise, tau_decay)
    n_steps = int(round(30 * tau_decay / dt))
    trace = [f.advance(1, [0] if s == 0 else [], [0] if s == 0 else [], s)[0] for s in range(n_steps)]
    t = np.arange(n_steps) * dt
    if tau_rise > 0:
        kernel = (np.exp(-t / tau_decay) - np.exp(-t / tau_rise)) / (tau_decay - tau_rise)
        t_peak = tau_rise * tau_decay / (tau_decay - tau_rise) * math.log(tau_decay / tau_rise)
        assert abs(t[np.argmax(trace)] - t_peak) <= dt
    else:
        kernel = np.exp(-t / tau_decay) / tau_decay
    np.testing.assert_allclose(trace, kernel, rtol=1e-9, atol=1e-15)
    area = np.sum(trace) * dt
    # sum_s dt e^{-s dt / tau} = tau + dt / 2 + dt^2 / (12 tau) + O(dt^4): the sampled sum is the
    # unit area up to these terms (the dt / 2 cancel between the two exponentials)
    if tau_rise > 0:
        correction = dt**2 * (1 / tau_decay - 1 / tau_rise) / (12 * (tau_decay - tau_rise))
    else:
        correction = dt / (2 * tau_decay) + dt**2 / (12 * tau_decay**2)
    assert abs(area - 1.0 - correction) < 1e-4
    if dt <= 0.1:
        assert abs(area - 1.0) < 6e-3


def test_filter_reset_and_validation():
    f = SynapticFilter(2, 0.1, 1.0, 5.0)
    f.advance(3, [0, 1], [1, 1], 2)
    assert f.value[1] > 0 and f.value[0] == 0
    f.reset()
    assert not f.value.any()
    for kwargs, match in ((dict(tau_rise=5.0), "tau_rise"), (dict(tau_rise=6.0), "tau_rise"),
                          (dict(tau_rise=-1.0), "tau_rise"), (dict(tau_decay=0.0), "tau_decay"),
                          (dict(dt=0.0), "dt"), (dict(n=0), "n")):
        with pytest.raises(ValueError, match=match):
            SynapticFilter(**{"n": 2, "dt": 0.1, "tau_rise": 1.0, "tau_decay": 5.0, **kwargs})


def test_exact_rls_is_ridge_after_every_sample():
    """The default update (gain P_k x = c / (1 + x^T c)) is exact recursive least squares:
    after k samples the weights are ridge regression on those k samples with alpha = lambda,
    at any scale of the states (where Nicola & Clopath's step overshoots)."""
    lam = 0.5
    X, Y, _ = regression_stream(300, 6, 2, noise=0.2, seed=5)
    for scale in (0.3, 30.0):
        force = FORCE(6, 2, regularization=lam)
        for k, (x, y) in enumerate(zip(scale * X, Y), start=1):
            force.partial_fit(x, y)
            if k in (1, 10, 300):
                ridge = Ridge(6, 2, alpha=lam).fit(scale * X[:k], Y[:k])
                np.testing.assert_allclose(force.weights, ridge.weights, rtol=1e-7, atol=1e-10)
    with pytest.raises(ValueError, match="update"):
        FORCE(6, 1, update="sussillo")


def test_ridge_with_an_alpha_below_rounding_gives_the_least_squares_limit():
    # one sample, three inputs: X^T X has rank 1, and alpha = 1e-162 does not lift it above
    # rounding (found by the generated bad-input test); the limit alpha -> 0 is the min-norm fit
    x = np.linspace(-1.0, 1.0, 3)
    readout = Ridge(3, 2, alpha=1.3e-162).partial_fit(x, np.array([1.0, -2.0]))
    np.testing.assert_allclose(readout.predict(x), [1.0, -2.0], rtol=1e-12)
    np.testing.assert_allclose(readout.weights, np.outer([1.0, -2.0], x) / (x @ x), rtol=1e-12)
