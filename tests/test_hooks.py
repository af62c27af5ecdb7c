"""Run hooks (``Network.run(..., hooks=...)``) and the general Izhikevich model.

Hooks: reading spikes changes nothing; ``ctx.spikes`` gives each hook exactly the spikes of
the steps since its own previous call, whatever the chunking and the other hooks; the
result reports only what the user asked to record; ``ctx.set_current`` equals a constant
current, holds between calls, acts from the next step on and ends with the run; a hook's
exception ends the run with what was recorded.

Izhikevich: the capacitance form (Izhikevich 2007; Nicola & Clopath 2017) against a plain
numpy loop of its update; the 2003 form bit-identical to the 2003 update written with its
literal constants; the relation between the two forms; validation; the Brian2 export.
"""

import numpy as np
import pytest

import neurosim as ns

BACKENDS = ["numba", "numpy"]


# ---- helpers --------------------------------------------------------------------------

def small_network(seed=3, dt=0.1):
    """LIF and Izhikevich populations, a Poisson source, noise and delays: a hook that only
    reads must leave all of it untouched (noise and Poisson draws included)."""
    net = ns.Network(dt=dt, seed=seed)
    lif = net.population("lif", ns.LIF(40, tau_m=ns.Uniform(10.0, 25.0), v_init=ns.Uniform(-65.0, -50.0)))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(20, heterogeneity=1.0, tau_exc=2.0, tau_inh=4.0))
    src = net.population("src", ns.PoissonSource(20, rate=50.0))
    net.connect(src, [lif, izh], ns.connect.random(0.3), weight=ns.Uniform(2.0, 8.0), delay=ns.Uniform(0.1, 2.0))
    net.connect(lif, [lif, izh], ns.connect.random(0.1), weight=ns.Uniform(0.0, 3.0), delay=ns.Uniform(0.1, 3.0))
    net.connect(izh, lif, ns.connect.random(0.2), weight=-3.0, delay=0.5)
    net.add_current(lif, ns.NoiseCurrent(std=3.0, mean=17.0))
    net.add_current(izh, ns.ConstantCurrent(ns.Uniform(2.0, 8.0)))
    return net


def steps_ids(result, name):
    s = result.spikes[name]
    return np.rint(s.times / result.dt).astype(np.int64), s.indices


def assert_same_spikes(a, b, names):
    for name in names:
        sa, ia = steps_ids(a, name)
        sb, ib = steps_ids(b, name)
        np.testing.assert_array_equal(sa, sb, err_msg=name)
        np.testing.assert_array_equal(ia, ib, err_msg=name)


class Reader(ns.Hook):
    """Reads the spikes of its populations at every call and remembers the call windows."""

    def __init__(self, every, populations):
        super().__init__(every=every, populations=populations)
        self.calls, self.spikes = [], {p.name: [] for p in populations}
        self.started = self.finished = None

    def start(self, ctx):
        self.started = (ctx.first_step, ctx.step, {p.name: ctx.spikes(p) for p in self.populations})

    def __call__(self, ctx):
        self.calls.append((ctx.first_step, ctx.step, ctx.n_steps, ctx.t))
        for p in self.populations:
            self.spikes[p.name].append(ctx.spikes(p))

    def finish(self, ctx):
        self.finished = (ctx.first_step, ctx.step)
        for p in self.populations:
            self.spikes[p.name].append(ctx.spikes(p))

    def all_spikes(self, name):
        got = self.spikes[name]
        return np.concatenate([s for s, _ in got]), np.concatenate([i for _, i in got])


class SetCurrent(ns.Hook):
    """Sets ``value`` into ``pop`` in ``start`` (or at its ``at_call``-th call), then leaves it."""

    def __init__(self, pop, value, every=10, at_call=None, every_call=False):
        super().__init__(every=every)
        self.pop, self.value, self.at_call, self.every_call, self.n = pop, value, at_call, every_call, 0
        self.set_at = None

    def start(self, ctx):
        if self.at_call is None:
            ctx.set_current(self.pop, self.value)

    def __call__(self, ctx):
        self.n += 1
        if self.n == self.at_call or (self.every_call and self.n > self.at_call):
            ctx.set_current(self.pop, self.value)
            if self.set_at is None:
                self.set_at = ctx.step


# ---- 1. reading spikes changes nothing ---------------------------------------------------

@pytest.fixture(scope="module")
def plain_runs():
    return {b: small_network().run(60.0, backend=b, progress=False) for b in BACKENDS}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("every", [1, 7, 20])
def test_reading_hook_does_not_change_the_simulation(plain_runs, backend, every):
    plain = plain_runs[backend]
    assert plain.spike_count("lif") > 50 and plain.spike_count("izh") > 20 and plain.spike_count("src") > 30
    net = small_network()
    reader = Reader(every, [net.populations["lif"], net.populations["izh"]])
    hooked = net.run(60.0, backend=backend, progress=False, hooks=[reader])
    assert_same_spikes(plain, hooked, ("lif", "izh", "src"))
    np.testing.assert_array_equal(plain.counts, hooked.counts)
    assert len(reader.calls) == 600 // every


def test_backends_agree_with_hooks(plain_runs):
    assert_same_spikes(plain_runs["numba"], plain_runs["numpy"], ("lif", "izh", "src"))


# ---- 2. ctx.spikes: exactly the steps since the hook's previous call --------------------

@pytest.mark.parametrize("chunk_ms", [None, 0.3])
def test_spikes_windows_partition_the_run(chunk_ms):
    """Two hooks with different ``every`` and (with chunk_ms=0.3) kernel chunks shorter than
    both: each hook's windows tile the run, each window holds exactly the run's spikes of
    those steps, indices are local to the population, and finish() gets the tail."""
    net = small_network()
    lif, izh = net.populations["lif"], net.populations["izh"]
    net.run(3.0, progress=False)  # start at step 30: step numbers are absolute
    h7, h20 = Reader(7, [lif]), Reader(20, [izh, lif])
    result = net.run(60.0, progress=False, hooks=[h7, h20], chunk_ms=chunk_ms)
    first, last = 30, 630
    for h, every in ((h7, 7), (h20, 20)):
        assert h.started[:2] == (first, first)
        assert all(s.size == 0 for s, _ in h.started[2].values())
        bounds = [first] + [c[1] for c in h.calls]
        assert [c[0] for c in h.calls] == bounds[:-1], "each window starts where the previous one ended"
        assert all(c[2] == every and c[1] - c[0] == every for c in h.calls)
        assert all(c[3] == pytest.approx(c[1] * net.dt) for c in h.calls)
        assert h.finished == (bounds[-1], last)
        for pop in h.populations:
            steps, ids = steps_ids(result, pop.name)
            windows = h.spikes[pop.name]
            for (lo, hi), (s, i) in zip(zip(bounds + [bounds[-1]], bounds[1:] + [last]), windows):
                assert s.dtype == np.int64
                assert np.all((s >= lo) & (s < hi)), f"{pop.name}: spikes outside steps [{lo}, {hi})"
                in_window = (steps >= lo) & (steps < hi)
                np.testing.assert_array_equal(s, steps[in_window])
                np.testing.assert_array_equal(i, ids[in_window])
            all_s, all_i = h.all_spikes(pop.name)
            np.testing.assert_array_equal(all_s, steps)
            np.testing.assert_array_equal(all_i, ids)
            assert all_i.max() < len(pop) and all_s.size > 20


def test_window_longer_than_a_chunk():
    """every = 1500 steps with the default 1000-step chunks: one window, two kernel calls."""
    net = small_network()
    lif = net.populations["lif"]
    h = Reader(1500, [lif])
    result = net.run(200.0, progress=False, hooks=[h])
    steps, ids = steps_ids(result, "lif")
    s, i = h.spikes["lif"][0]
    assert h.calls[0][:3] == (0, 1500, 1500)
    np.testing.assert_array_equal(s, steps[steps < 1500])
    np.testing.assert_array_equal(i, ids[steps < 1500])
    assert s.min() < 1000 <= s.max()


def test_hook_sees_spikes_the_result_does_not_record():
    net = small_network()
    lif, izh = net.populations["lif"], net.populations["izh"]
    full = small_network().run(50.0, progress=False)
    net.record_spikes(lif, False)
    mask = np.array([0, 3, 4, 11, 19])
    net.record_spikes(izh, mask)
    h = Reader(10, [lif, izh])
    result = net.run(50.0, progress=False, hooks=[h])
    assert "lif" not in result.spikes  # as without the hook
    for name in ("lif", "izh"):  # the hook still sees every spike of both
        s, i = h.all_spikes(name)
        np.testing.assert_array_equal(s, steps_ids(full, name)[0])
        np.testing.assert_array_equal(i, steps_ids(full, name)[1])
    steps, ids = steps_ids(full, "izh")
    keep = np.isin(ids, mask)
    assert keep.sum() > 5 and (~keep).sum() > 5
    np.testing.assert_array_equal(steps_ids(result, "izh")[0], steps[keep])
    np.testing.assert_array_equal(steps_ids(result, "izh")[1], ids[keep])
    assert result.spike_count("src") == full.spike_count("src")


def test_spikes_of_an_unrecorded_population_not_declared_by_a_hook_is_an_error():
    net = small_network()
    lif, izh = net.populations["lif"], net.populations["izh"]
    net.record_spikes(izh, False)

    class ReadsIzh(ns.Hook):
        def __call__(self, ctx):
            ctx.spikes(izh)

    with pytest.raises(ValueError, match="izh"):
        net.run(5.0, progress=False, hooks=[ReadsIzh(every=10, populations=[lif])])


# ---- 3. set_current -------------------------------------------------------------------

def current_network(kind, backend_current=None, seed=2):
    net = ns.Network(dt=0.1, seed=seed)
    if kind == "lif":  # no add_current: the hook is the population's only external input
        pop = net.population("p", ns.LIF(10, tau_m=ns.Uniform(10.0, 30.0), v_init=ns.Uniform(-65.0, -55.0)))
    else:
        pop = net.population("p", ns.Izhikevich.regular_spiking(10, heterogeneity=1.0))
    other = net.population("q", ns.LIF(5))
    net.connect(pop, other, ns.connect.all_to_all(), weight=2.0, delay=0.3)
    if backend_current is not None:
        net.add_current(pop, ns.ConstantCurrent(backend_current))
    net.monitor_state(pop, "v")
    return net, pop


CURRENTS = {"lif": np.linspace(14.0, 30.0, 10), "izhikevich": np.linspace(3.0, 12.0, 10)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["lif", "izhikevich"])
def test_set_current_from_start_equals_constant_current(kind, backend):
    current = CURRENTS[kind]
    ref = current_network(kind, current)[0].run(100.0, backend=backend, progress=False)
    assert ref.spike_count("p") > 20
    net, pop = current_network(kind)
    hooked = net.run(100.0, backend=backend, progress=False, hooks=[SetCurrent(pop, current, every=13)])
    assert_same_spikes(ref, hooked, ("p", "q"))
    np.testing.assert_array_equal(ref.states["p.v"].values, hooked.states["p.v"].values)
    # a scalar goes to every neuron
    ref = current_network(kind, float(current[-1]))[0].run(50.0, backend=backend, progress=False)
    net, pop = current_network(kind)
    hooked = net.run(50.0, backend=backend, progress=False, hooks=SetCurrent(pop, float(current[-1])))
    assert_same_spikes(ref, hooked, ("p",))


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_current_holds_between_calls_and_acts_from_the_next_step(backend):
    current = CURRENTS["lif"]
    net, pop = current_network("lif")
    once = SetCurrent(pop, current, every=10, at_call=12)  # set at step 120 only
    r_once = net.run(80.0, backend=backend, progress=False, hooks=[once])
    net, pop = current_network("lif")
    r_every = net.run(80.0, backend=backend, progress=False, hooks=[SetCurrent(pop, current, every=10, every_call=True,
                                                                               at_call=12)])
    assert once.set_at == 120
    first = steps_ids(r_once, "p")[0]
    assert first.size > 10 and first.min() > 120  # nothing drives the LIF neurons before
    assert_same_spikes(r_once, r_every, ("p", "q"))
    # v (sampled at the start of each step) is untouched up to step 120, changed from step 121
    silent = current_network("lif")[0].run(80.0, backend=backend, progress=False)
    v, v0 = r_once.states["p.v"].values, silent.states["p.v"].values
    np.testing.assert_array_equal(v[:121], v0[:121])
    assert np.all(v[121] != v0[121])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["start", "finish"])
def test_hook_current_ends_with_the_run(backend, where):
    """The second run (no hooks) equals a twin whose second run explicitly sets the current to 0."""
    current = CURRENTS["lif"]

    class SetInFinish(ns.Hook):
        def __init__(self, pop):
            super().__init__(every=10)
            self.pop = pop

        def __call__(self, ctx):
            pass

        def finish(self, ctx):
            ctx.set_current(self.pop, current)

    def first_hook(pop_):
        return SetCurrent(pop_, current) if where == "start" else SetInFinish(pop_)

    net, pop = current_network("lif")
    net.run(40.0, backend=backend, progress=False, hooks=[first_hook(pop)])
    second = net.run(40.0, backend=backend, progress=False)
    twin, pop = current_network("lif")
    twin.run(40.0, backend=backend, progress=False, hooks=[first_hook(pop)])
    expected = twin.run(40.0, backend=backend, progress=False, hooks=[SetCurrent(pop, 0.0)])
    assert_same_spikes(expected, second, ("p", "q"))
    np.testing.assert_array_equal(expected.states["p.v"].values, second.states["p.v"].values)
    # and the current did act while it was on (so the comparison has teeth)
    driven = current_network("lif")[0]
    driven_pop = driven.populations["p"]
    driven.run(40.0, backend=backend, progress=False, hooks=[first_hook(driven_pop)])
    assert not np.array_equal(driven.run(40.0, backend=backend, progress=False, hooks=[SetCurrent(driven_pop, current)])
                              .states["p.v"].values, second.states["p.v"].values)


def _run_with_start_action(net, action, **kw):
    class Act(ns.Hook):
        def start(self, ctx):
            action(ctx)

        def __call__(self, ctx):
            pass

    return net.run(2.0, progress=False, hooks=[Act(**kw)])


@pytest.mark.parametrize("value, match", [
    (np.ones(11), "one value per neuron"),
    (np.ones(9), "one value per neuron"),
    (np.ones((10, 1)), "one value per neuron"),
    (np.r_[np.ones(9), np.nan], "finite"),
    (np.inf, "finite"),
])
def test_set_current_rejects_bad_values(value, match):
    net, pop = current_network("lif")
    with pytest.raises(ValueError, match=match):
        _run_with_start_action(net, lambda ctx: ctx.set_current(pop, value))
    assert not net._sim.hook_current.any()


def test_set_current_rejects_foreign_and_source_populations():
    net, pop = current_network("lif")
    src = net.population("src", ns.PoissonSource(3, rate=10.0))
    other, other_pop = current_network("lif")
    with pytest.raises(ValueError, match="spike source"):
        _run_with_start_action(net, lambda ctx: ctx.set_current(src, 1.0))
    with pytest.raises(ValueError, match="belong to the network"):
        _run_with_start_action(net, lambda ctx: ctx.set_current(other_pop, 1.0))
    with pytest.raises(ValueError, match="belong to the network"):
        _run_with_start_action(net, lambda ctx: ctx.spikes(other_pop))


def test_hooks_argument_is_validated():
    net, pop = current_network("lif")
    other, other_pop = current_network("lif")
    with pytest.raises(TypeError, match="Hook"):
        net.run(1.0, progress=False, hooks=[lambda ctx: None])
    with pytest.raises(TypeError, match="Hook"):
        net.run(1.0, progress=False, hooks=[SetCurrent(pop, 1.0), "not a hook"])
    with pytest.raises(ValueError, match="another network"):
        net.run(1.0, progress=False, hooks=[Reader(1, [other_pop])])
    with pytest.raises(ValueError, match="every"):
        Reader(0, [pop])
    with pytest.raises(TypeError, match="every"):
        Reader(2.5, [pop])
    assert net.step == 0  # nothing ran


# ---- 4. a hook's exception ends the run -------------------------------------------------

class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("backend", BACKENDS)
def test_hook_exception_keeps_what_was_recorded(backend):
    full = small_network().run(30.0, backend=backend, progress=False)
    net = small_network()
    lif = net.populations["lif"]

    class Fails(Reader):
        def __call__(self, ctx):
            super().__call__(ctx)
            if ctx.step >= 170:
                raise Boom("at step %d" % ctx.step)

    h = Fails(17, [lif])
    with pytest.raises(Boom, match="at step 170"):
        net.run(30.0, backend=backend, progress=False, hooks=[h])
    assert h.finished == (170, 170), "finish() was called, at the step the run stopped"
    assert net.step == 170
    partial = net.last_result
    assert partial.info["status"] == "failed" and partial.n_steps == 170
    for name in ("lif", "izh", "src"):
        steps, ids = steps_ids(full, name)
        np.testing.assert_array_equal(steps_ids(partial, name)[0], steps[steps < 170])
        np.testing.assert_array_equal(steps_ids(partial, name)[1], ids[steps < 170])
    assert partial.spike_count("lif") > 5 and partial.spike_count("izh") > 5
    assert not net._sim.hook_current.any()


def test_exception_in_start_or_finish():
    net = small_network()

    class FailsInStart(Reader):
        def start(self, ctx):
            raise Boom("start")

    h = FailsInStart(5, [net.populations["lif"]])
    with pytest.raises(Boom, match="start"):
        net.run(10.0, progress=False, hooks=[h])
    assert h.finished == (0, 0) and net.step == 0 and net.last_result.n_steps == 0

    class FailsInFinish(Reader):
        def finish(self, ctx):
            super().finish(ctx)
            raise Boom("finish")

    net = small_network()
    with pytest.raises(Boom, match="finish"):
        net.run(10.0, progress=False, hooks=[FailsInFinish(5, [net.populations["lif"]])])
    assert net.step == 100 and net.last_result.n_steps == 100 and net.last_result.spike_count("lif") > 0


# ---- 5. the general Izhikevich model ----------------------------------------------------

def nicola_clopath_loop(n_steps, dt, C, k, v_r, v_t, a, b, c, d, v_peak, v0, u0, I):
    """Nicola & Clopath's neuron in its own units (pA, pF), forward Euler, u with the new v."""
    v, u = v0.astype(float).copy(), u0.astype(float).copy()
    vs, us, spikes = [], [], []
    for step in range(n_steps):
        vs.append(v.copy())
        us.append(u.copy())
        v_new = v + dt * (k * (v - v_r) * (v - v_t) - u + I) / C
        u = u + dt * a * (b * (v_new - v_r) - u)
        fired = v_new >= v_peak
        spikes += [(step, i) for i in np.flatnonzero(fired)]
        v = np.where(fired, c, v_new)
        u = np.where(fired, u + d, u)
    return np.array(vs), np.array(us), spikes


@pytest.mark.parametrize("backend", BACKENDS)
def test_capacitance_form_equals_nicola_clopath_loop(backend):
    n, dt, n_steps = 6, 0.04, 2000
    p = dict(C=250.0, k=2.5, v_r=-60.0, v_t=-19.2, a=0.01, b=-2.0, c=-65.0, d=200.0, v_peak=30.0)
    v0 = np.linspace(-60.0, 20.0, n)
    u0 = np.linspace(0.0, 50.0, n)  # pA
    I = np.linspace(1500.0, 6000.0, n)  # pA
    net = ns.Network(dt=dt, seed=0)
    pop = net.population("p", ns.Izhikevich.from_capacitance(n, v_init=v0, u_init=u0, **p))
    net.add_current(pop, ns.ConstantCurrent(I / p["C"]))
    net.monitor_state(pop, ("v", "u"))
    result = net.run(n_steps * dt, backend=backend, progress=False)
    vs, us, spikes = nicola_clopath_loop(n_steps, dt, v0=v0, u0=u0, I=I, **p)
    ours = sorted(zip(*[x.tolist() for x in steps_ids(result, "p")]))
    assert len(spikes) > 30 and len({i for _, i in spikes}) == n
    assert ours == sorted(spikes)
    np.testing.assert_allclose(result.states["p.v"].values, vs, rtol=0, atol=1e-7)
    np.testing.assert_allclose(result.states["p.u"].values * p["C"], us, rtol=0, atol=1e-7)


def test_nicola_clopath_preset_parameters():
    """IZFORCESINE.m: C=250, vr=-60, vt=vr+40-b/k, b=-2, k=2.5, a=0.01, d=200, vreset=-65, vpeak=30."""
    m = ns.Izhikevich.nicola_clopath(50)
    C, k, v_r, b = 250.0, 2.5, -60.0, -2.0
    v_t = v_r + 40.0 - b / k
    assert m.k2 == pytest.approx(k / C) and m.k1 == pytest.approx(-k * (v_r + v_t) / C)
    assert m.k0 == pytest.approx(k * v_r * v_t / C) and m.v_u == v_r
    assert m.b == pytest.approx(b / C) and m.d == pytest.approx(200.0 / C) and m.a == 0.01
    assert m.c == -65.0 and m.v_peak == 30.0 and m.u_init == 0.0
    assert not m.is_2003_form and ns.Izhikevich(3).is_2003_form
    assert not ns.Izhikevich(3, k0=141.0).is_2003_form and not ns.Izhikevich(3, v_u=-1.0).is_2003_form
    net = ns.Network(dt=0.1, seed=4)
    pop = net.population("p", m)
    assert np.all((pop.model.v_init >= v_r) & (pop.model.v_init <= 30.0)) and np.ptp(pop.model.v_init) > 10
    np.testing.assert_array_equal(pop.model.u_init, np.zeros(50))


@pytest.mark.parametrize("backend", BACKENDS)
def test_2003_form_is_bit_identical_to_the_2003_update(backend):
    """The general kernel with the default coefficients is the 2003 update written with its
    literal constants, bit for bit (two 0.5 ms half-steps of v at dt = 1 ms, then u)."""
    n, n_steps = 8, 400
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.02, 0.1, n), rng.uniform(0.2, 0.25, n)
    c, d = rng.uniform(-65.0, -50.0, n), rng.uniform(2.0, 8.0, n)
    v0, I = rng.uniform(-70.0, -60.0, n), rng.uniform(3.0, 15.0, n)
    net = ns.Network(dt=1.0, seed=0)
    pop = net.population("p", ns.Izhikevich(n, a=a, b=b, c=c, d=d, v_init=v0))
    net.add_current(pop, ns.ConstantCurrent(I))
    net.monitor_state(pop, ("v", "u"))
    result = net.run(float(n_steps), backend=backend, progress=False)
    v, u = v0.copy(), b * v0
    vs, us = [], []
    for _ in range(n_steps):
        vs.append(v.copy())
        us.append(u.copy())
        v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + I)
        v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + I)
        u = u + 1.0 * (a * (b * v - u))
        fired = v >= 30.0
        v, u = np.where(fired, c, v), np.where(fired, u + d, u)
    assert result.spike_count("p") > 50
    np.testing.assert_array_equal(result.states["p.v"].values, np.array(vs))
    np.testing.assert_array_equal(result.states["p.u"].values, np.array(us))


def test_u_init_default():
    net = ns.Network(dt=0.5, seed=1)
    v0 = np.array([-70.0, -65.0, -60.0])
    p1 = net.population("a", ns.Izhikevich(3, b=0.25, v_init=v0))
    p2 = net.population("b", ns.Izhikevich(3, b=ns.Uniform(0.1, 0.3), v_init=v0, v_u=-55.0))
    p3 = net.population("c", ns.Izhikevich(3, v_init=v0, u_init=[1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(p1.model.u_init, 0.25 * v0)
    np.testing.assert_allclose(p2.model.u_init, p2.model.b * (v0 + 55.0))
    assert np.ptp(p2.model.b) > 0
    np.testing.assert_array_equal(p3.model.u_init, [1.0, 2.0, 3.0])
    for p in (p1, p2, p3):
        net.monitor_state(p, "u")
    r = net.run(0.5, progress=False)
    for p in (p1, p2, p3):
        np.testing.assert_array_equal(r.states[f"{p.name}.u"].values[0], p.model.u_init)
    with pytest.raises(ValueError, match="u_init"):
        ns.Network(seed=0).population("x", ns.Izhikevich(3, u_init=[0.0, np.nan, 0.0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_capacitance_form_with_2003_coefficients_matches_the_2003_model(backend):
    """C = 1, k = 0.04 and v_r, v_t the roots of 0.04 v^2 + 5 v + 140 give the 2003 quadratic.
    Its u is measured from v_r: u_cap = u_2003 - b v_r, so the current is I - b v_r and the
    default u_init (b (v_init - v_r)) is the 2003 default b v_init shifted the same way."""
    v_r, v_t = sorted(np.roots([0.04, 5.0, 140.0]).real)
    n, b = 10, 0.2
    I = np.linspace(4.0, 14.0, n)
    v0 = np.linspace(-70.0, -60.0, n)
    runs = []
    for model, current in ((ns.Izhikevich(n, b=b, v_init=v0), I),
                           (ns.Izhikevich.from_capacitance(n, C=1.0, k=0.04, v_r=v_r, v_t=v_t, a=0.02, b=b, c=-65.0,
                                                            d=8.0, v_peak=30.0, v_init=v0, u_init=None), I - b * v_r)):
        net = ns.Network(dt=0.5, seed=0)
        pop = net.population("p", model)
        net.add_current(pop, ns.ConstantCurrent(current))
        net.monitor_state(pop, "v")
        runs.append(net.run(300.0, backend=backend, progress=False))
    assert runs[0].spike_count("p") > 40
    assert_same_spikes(runs[0], runs[1], ("p",))
    np.testing.assert_allclose(runs[0].states["p.v"].values, runs[1].states["p.v"].values, atol=1e-8)


def test_from_capacitance_validation():
    p = dict(C=250.0, k=2.5, v_r=-60.0, v_t=-20.0, a=0.01, b=-2.0, c=-65.0, d=200.0, v_peak=30.0, v_init=-60.0)
    ns.Izhikevich.from_capacitance(3, **p)  # valid
    for name in ("b", "d", "u_init"):
        with pytest.raises(TypeError, match=name):
            ns.Izhikevich.from_capacitance(3, **{**p, name: ns.Uniform(0.0, 1.0)})
    for name, value in (("C", 0.0), ("C", -250.0), ("k", 0.0), ("k", -1.0), ("C", float("nan")), ("v_t", float("inf"))):
        with pytest.raises(ValueError, match=name):
            ns.Izhikevich.from_capacitance(3, **{**p, name: value})
    m = ns.Izhikevich.from_capacitance(3, **{**p, "b": np.array([-2.0, -1.0, 0.0]), "u_init": np.array([0.0, 25.0, 50.0])})
    np.testing.assert_allclose(m.b, [-2.0 / 250, -1.0 / 250, 0.0])
    np.testing.assert_allclose(m.u_init, [0.0, 0.1, 0.2])


def test_nn_layer_refuses_a_non_2003_model():
    pytest.importorskip("torch")
    from neurosim.nn import Izhikevich as IzhikevichLayer

    IzhikevichLayer.from_model(ns.Izhikevich(4))  # the 2003 form is accepted
    for model in (ns.Izhikevich.nicola_clopath(4), ns.Izhikevich(4, k1=4.0), ns.Izhikevich(4, u_init=0.0)):
        with pytest.raises(ValueError, match="2003"):
            IzhikevichLayer.from_model(model)


def test_brian2_export_of_a_capacitance_network():
    b2 = pytest.importorskip("brian2")
    from neurosim.brian2_export import to_brian2

    def build():
        net = ns.Network(dt=0.1, seed=11)
        pop = net.population("p", ns.Izhikevich.nicola_clopath(30))
        inp = net.population("inp", ns.SpikeTimes(4, indices=[0, 1, 2, 3, 0, 2], times=[5.0, 12.0, 20.0, 33.3, 61.0, 80.0]))
        net.add_current(pop, ns.ConstantCurrent(np.linspace(4.0, 8.0, 30)))
        net.connect(pop, pop, ns.connect.random(0.2), weight=ns.Uniform(-0.5, 0.5), delay=ns.Uniform(0.1, 1.0))
        net.connect(inp, pop, ns.connect.all_to_all(), weight=3.0, delay=0.5)
        return net

    result = build().run(120.0, backend="numba", progress=False)
    assert result.spike_count("p") > 40
    saved = {k: b2.prefs[k] for k in ("codegen.target", "codegen.loop_invariant_optimisations")}
    try:
        b2.prefs["codegen.target"] = "numpy"
        b2.prefs["codegen.loop_invariant_optimisations"] = False
        b2.start_scope()
        network, monitors = to_brian2(build())
        network.run(120.0 * b2.ms)
    finally:
        for k, v in saved.items():
            b2.prefs[k] = v
    theirs = sorted(zip(np.rint(np.asarray(monitors["p"].t / b2.ms) / 0.1).astype(np.int64).tolist(),
                        np.asarray(monitors["p"].i, dtype=np.int64).tolist()))
    assert sorted(zip(*[x.tolist() for x in steps_ids(result, "p")])) == theirs
