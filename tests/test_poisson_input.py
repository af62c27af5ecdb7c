"""Poisson input (``Network.add_poisson_input``, ``ns.PoissonCounts``) as Brian2's ``PoissonInput``.

* Statistics: the input counts per step and target have the mean ``N p`` and variance
  ``N p (1 - p)`` of Brian2's ``PoissonInput`` (``p = rate * dt``), checked against the
  binomial values and against Brian2 itself, with tolerances of 5 standard errors of the
  sample estimates (from the sample's own size and fourth moment), which are also shown to be
  tight enough to tell a binomial count from a Poisson count of the same mean.
* Every count is delivered: ``count * weight`` reaches the receptor at the next step.
* Same seed, same spikes on every backend (numpy, numba, triton); chunking, continued runs
  and a checkpoint resume change nothing.
* Bad input is refused naming the argument; the Brian2 export maps it to ``PoissonInput``.
* CUBA with Poisson input (``benchmarks/validate_poisson_input.py``): Brian2 and neurosim
  rates within 5 % for 5 seeds.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns
from neurosim import network

Z = 5.0  # standard errors: a correct implementation fails with probability < 1e-6


# ---- helpers --------------------------------------------------------------------------

def neurosim_counts(n: int, n_inputs: int, rate: float, dt: float, steps: int, seed: int) -> np.ndarray:
    """Input counts [steps, n] of neurosim's Poisson input onto ``n`` targets (the source's
    events, recorded as its spikes)."""
    net = ns.Network(dt=dt, seed=seed)
    target = net.population("t", ns.LIF(n, v_threshold=1e9))
    source = net.add_poisson_input(target, n_inputs, rate, weight=1.0)
    net.record_spikes(source)
    spikes = net.run(steps * dt, backend="numba", progress=False).spikes["t_poisson"]
    step = np.rint(spikes.times / dt).astype(np.int64)
    return np.bincount(step * n + spikes.indices, minlength=steps * n).reshape(steps, n)


def brian2_counts(n: int, n_inputs: int, rate: float, dt: float, steps: int, seed: int) -> np.ndarray:
    """Input counts [steps, n] of Brian2's ``PoissonInput(g, "x", N, rate, weight=1)``: the
    per-step increments of a variable that only accumulates them (numpy target)."""
    b2 = pytest.importorskip("brian2")
    saved = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        b2.start_scope()
        b2.seed(seed)
        b2.defaultclock.dt = dt * b2.ms
        g = b2.NeuronGroup(n, "x : 1")
        drive = b2.PoissonInput(g, "x", N=n_inputs, rate=rate * b2.Hz, weight="1.0")
        mon = b2.StateMonitor(g, "x", record=True, when="end")
        b2.Network(g, drive, mon).run(steps * dt * b2.ms)
    finally:
        b2.prefs.codegen.target = saved
    x = np.asarray(mon.x).T  # [steps, n], cumulative
    return np.diff(x, axis=0, prepend=0.0)


def moments(counts: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, variance, standard error of the mean, standard error of the variance) of iid
    samples: se(var) = sqrt((m4 - var^2) / M) with m4 the sample's fourth central moment."""
    x = counts.ravel().astype(np.float64)
    m = x.size
    mean = x.mean()
    d = x - mean
    var = np.mean(d**2)
    m4 = np.mean(d**4)
    return mean, var, np.sqrt(var / m), np.sqrt((m4 - var**2) / m)


# ---- (1) statistics, against the binomial values and Brian2 -----------------------------

@pytest.mark.brian2
@pytest.mark.parametrize("n_inputs, rate, steps", [
    (5, 1000.0, 20_000),   # p = 0.1, N p = 0.5: Brian2 draws binomial numbers
    (400, 250.0, 5_000),   # p = 0.025, N p = 10: Brian2 draws normal numbers of the same mean and variance
])
def test_counts_have_the_mean_and_variance_of_brian2s_poisson_input(n_inputs, rate, steps):
    n, dt = 100, 0.1
    p = rate * dt * 1e-3
    mean_expected, var_expected = n_inputs * p, n_inputs * p * (1 - p)
    ours = moments(neurosim_counts(n, n_inputs, rate, dt, steps, seed=1))
    theirs = moments(brian2_counts(n, n_inputs, rate, dt, steps, seed=1))
    for who, (mean, var, se_mean, se_var) in (("neurosim", ours), ("Brian2", theirs)):
        assert abs(mean - mean_expected) < Z * se_mean, f"{who}: mean {mean:.5f}, N p = {mean_expected:.5f}"
        assert abs(var - var_expected) < Z * se_var, f"{who}: variance {var:.5f}, N p (1 - p) = {var_expected:.5f}"
    assert abs(ours[0] - theirs[0]) < Z * np.hypot(ours[2], theirs[2]), f"means {ours[0]:.5f} vs Brian2 {theirs[0]:.5f}"
    assert abs(ours[1] - theirs[1]) < Z * np.hypot(ours[3], theirs[3]), f"variances {ours[1]:.5f} vs Brian2 {theirs[1]:.5f}"
    # teeth: Poisson counts of the same mean (variance N p) would fail the variance check
    assert Z * ours[3] < mean_expected - var_expected


def test_counts_are_binomial_per_target_and_independent():
    """Quick tier: mean and variance per step (pooled), and no correlation between targets or
    between consecutive steps (each within 5 standard errors of 0)."""
    n, n_inputs, rate, dt, steps = 40, 8, 500.0, 0.1, 5_000
    counts = neurosim_counts(n, n_inputs, rate, dt, steps, seed=3)
    assert counts.dtype.kind == "i" and counts.min() >= 0 and counts.max() <= n_inputs
    p = rate * dt * 1e-3
    mean, var, se_mean, se_var = moments(counts)
    assert abs(mean - n_inputs * p) < Z * se_mean
    assert abs(var - n_inputs * p * (1 - p)) < Z * se_var
    z = (counts - counts.mean()) / counts.std()
    se_corr = 1 / np.sqrt(z.size)
    assert abs(np.mean(z[:, :-1] * z[:, 1:])) < Z * se_corr  # neighbouring targets
    assert abs(np.mean(z[:-1] * z[1:])) < Z * se_corr  # consecutive steps


@pytest.mark.parametrize("receptor, model, var", [("exc", ns.LIF, "i_exc"), ("inh", ns.LIF, "i_inh"),
                                                  ("exc", ns.CondLIF, "g_exc")])
def test_every_event_delivers_the_weight_at_the_next_step(receptor, model, var):
    """The receptor variable jumps by count * weight one step after the counts (weight a power
    of two: the jumps are exact up to the slow decay, which rounding to whole weights removes)."""
    dt, n, steps, w = 0.1, 6, 400, 0.5
    net = ns.Network(dt=dt, seed=4)
    target = net.population("t", model(n, v_threshold=1e9, tau_exc=1e9, tau_inh=1e9))
    source = net.add_poisson_input(target, 20, 800.0, w, receptor=receptor)
    net.record_spikes(source)
    net.monitor_state(target, var)
    result = net.run(steps * dt, backend="numpy", progress=False)
    trace = result.states[f"t.{var}"].values  # [step, target], sampled at the start of each step
    spikes = result.spikes["t_poisson"]
    counts = np.bincount(np.rint(spikes.times / dt).astype(np.int64) * n + spikes.indices,
                         minlength=steps * n).reshape(steps, n)
    assert counts.max() >= 2  # several events of one neuron in a step occur
    np.testing.assert_array_equal(np.rint(np.diff(trace, axis=0) / w), counts[:-1])
    assert result.info["synaptic_events"] == counts.sum()


# ---- (2) backends, (3) chunking and checkpoints -----------------------------------------

def small_network(seed=5):
    """LIF neurons under excitatory and inhibitory Poisson input (a heterogeneous rate), with
    recurrent synapses and a state monitor."""
    net = ns.Network(dt=0.1, seed=seed)
    exc = net.population("exc", ns.LIF(40, v_init=ns.Uniform(-53.0, -49.0)))
    inh = net.population("inh", ns.LIF(10))
    drive = net.add_poisson_input([exc, inh], 50, ns.Uniform(40.0, 120.0), 1.5)
    net.add_poisson_input(exc, 20, 50.0, -2.0, receptor="inh", name="exc_inhibition")
    net.connect(exc, [exc, inh], ns.connect.random(0.2), weight=1.0, delay=ns.Uniform(0.1, 2.0))
    net.connect(inh, exc, ns.connect.random(0.5), weight=-3.0)
    for source in drive:
        net.record_spikes(source)
    net.monitor_state(exc, ["v", "i_exc", "i_inh"], indices=[0, 5, 39])
    return net


@pytest.mark.parametrize("backend, duration", [("numpy", 30.0), ("triton", 5.0)])  # triton: interpreted on a CPU
def test_backends_give_the_same_spikes(backend, duration, assert_same_run):
    if backend == "triton":
        pytest.importorskip("torch")
        pytest.importorskip("triton")
    reference = small_network().run(duration, backend="numba", progress=False)
    assert reference.spike_count() > 0 and reference.spike_count("exc_poisson") > 30 * duration
    assert_same_run(small_network().run(duration, backend=backend, progress=False), reference)


def test_chunks_and_continued_runs_change_nothing(assert_same_run):
    whole = small_network().run(60.0, progress=False)
    assert_same_run(small_network().run(60.0, progress=False, chunk_ms=3.7), whole)
    net = small_network()
    net.run(25.0, progress=False, chunk_ms=2.0)
    tail = net.run(35.0, progress=False)
    for name in ("exc", "exc_poisson"):
        late = whole.spikes[name].times >= 25.0 - 1e-9
        np.testing.assert_array_equal(tail.spikes[name].times, whole.spikes[name].times[late])
        np.testing.assert_array_equal(tail.spikes[name].indices, whole.spikes[name].indices[late])


def test_the_poisson_stream_is_rewound_after_ctrl_c():
    net = small_network()
    net.run(1.0, progress=False)
    streams = net._sim.random_streams()
    for name in ("exc_poisson", "inh_poisson", "exc_inhibition"):
        assert any(g is net._sim.source_rng[name] for g in streams)


@pytest.mark.parametrize("resume_backend", ["numba", "numpy"])
def test_checkpoint_resume_gives_the_same_run(tmp_path, monkeypatch, resume_backend, assert_same_run):
    whole = small_network().run(40.0, progress=False)
    path = tmp_path / "run.ckpt"
    real_drive, calls = network._Flattened.drive, []

    def drive(self, first_step, k):  # Ctrl-C at the 4th chunk: the last checkpoint is at 20 ms
        if k > 0:
            calls.append(k)
            if len(calls) == 4:
                raise KeyboardInterrupt
        return real_drive(self, first_step, k)

    monkeypatch.setattr(network._Flattened, "drive", drive)
    with pytest.raises(ns.SimulationInterrupted):
        small_network().run(40.0, progress=False, chunk_ms=7.0, checkpoint_every=10.0, checkpoint_path=path)
    monkeypatch.undo()
    _, resumed = ns.Network.resume(path, backend=resume_backend, progress=False)
    assert_same_run(resumed, whole)


# ---- (4) bad input ------------------------------------------------------------------------

def target_network():
    net = ns.Network(dt=0.1, seed=0)
    return net, net.population("t", ns.LIF(4))


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n_inputs": 0}, ValueError, "n_inputs must be >= 1, got 0"),
    ({"n_inputs": 2.5}, TypeError, "n_inputs must be an integer"),
    ({"n_inputs": True}, TypeError, "n_inputs must be an integer"),
    ({"rate": -1.0}, ValueError, "rate must be >= 0"),
    ({"rate": float("nan")}, ValueError, "rate must be finite"),
    ({"rate": float("inf")}, ValueError, "rate must be finite"),
    ({"rate": 20_000.0}, ValueError, r"rate must be at most 1000 / dt = 10000 Hz at dt = 0.1 ms.*got 20000 Hz"),
    ({"rate": "fast"}, TypeError, "rate must be a real number"),
    ({"rate": [10.0, 20.0]}, ValueError, "PoissonCounts.rate"),
    ({"rate": [10.0, 20.0, 30.0, 2e4]}, ValueError, r"population 't_poisson': PoissonCounts.rate must be at most"),
    ({"rate": [10.0, -1.0, 3.0, 4.0]}, ValueError, "PoissonCounts.rate"),
    ({"weight": float("nan")}, ValueError, "weight must be finite"),
    ({"weight": None}, TypeError, "weight must be a real number"),
    ({"weight": [1.0, np.nan, 1.0, 1.0]}, ValueError, "weight"),
    ({"receptor": "ampa"}, ValueError, "receptor must be 'exc' or 'inh', got 'ampa'"),
])
def test_bad_arguments_are_refused_by_name_and_leave_the_network_unchanged(kwargs, error, words):
    net, target = target_network()
    args = {"n_inputs": 10, "rate": 20.0, "weight": 1.0}
    args.update(kwargs)
    with pytest.raises(error, match=words):
        net.add_poisson_input(target, **args)
    assert list(net.populations) == ["t"] and net.projections == []
    net.add_poisson_input(target, 10, 20.0, 1.0)  # the name is still free


def test_bad_targets_names_and_receptors():
    net, target = target_network()
    src = net.add_poisson_input(target, 10, 20.0, 1.0)
    assert src.name == "t_poisson" and isinstance(src.model, ns.PoissonCounts) and len(src) == 4
    assert src.record_spikes is False and net.projections[-1].source is src
    with pytest.raises(ValueError, match="name 't_poisson' is already used.*pass another name"):
        net.add_poisson_input(target, 10, 20.0, 1.0)
    net.add_poisson_input(target, 10, 20.0, 1.0, name="more")
    with pytest.raises(ValueError, match="name must be None when target is a list"):
        net.add_poisson_input([target], 10, 20.0, 1.0, name="x")
    with pytest.raises(ValueError, match="target 't_poisson' is a spike source"):
        net.add_poisson_input(src, 10, 20.0, 1.0)
    _, foreign = target_network()
    with pytest.raises(ValueError, match="target population 't' belongs to another network"):
        net.add_poisson_input(foreign, 10, 20.0, 1.0)
    with pytest.raises(TypeError, match="target must be a Population"):
        net.add_poisson_input("t", 10, 20.0, 1.0)
    leaky = ns.NeuronModel("Leaky", parameters={"tau": ns.Parameter(10.0, "ms", positive=True)},
                           state={"v": ns.State(-65.0, "mV"), "g": ns.State(0.0, "mV")},
                           update="v = v + dt * (i_ext + g - v) / tau\ng = g * 0.5", threshold="v > 0.0",
                           reset="v = -65.0", current_unit="mV", inputs={"exc": "g"})
    only_exc = net.population("leaky", leaky(3))
    with pytest.raises(ValueError, match=r"receptor 'inh'.*'leaky' \(Leaky\) takes synaptic input only at 'exc'"):
        net.add_poisson_input(only_exc, 10, 20.0, -1.0, receptor="inh")
    ran, target = target_network()
    ran.run(1.0, progress=False)
    with pytest.raises(RuntimeError, match="cannot add a Poisson input after the network has run"):
        ran.add_poisson_input(target, 10, 20.0, 1.0)


def test_poisson_counts_model_checks():
    with pytest.raises(ValueError, match="PoissonCounts.n_inputs must be >= 1"):
        ns.PoissonCounts(3, n_inputs=0)
    with pytest.raises(ValueError, match="PoissonCounts.n must be >= 1"):
        ns.PoissonCounts(0, n_inputs=2)
    net = ns.Network(dt=1.0)
    with pytest.raises(ValueError, match=r"population 'p': PoissonCounts.rate must be at most 1000 / dt = 1000 Hz"):
        net.population("p", ns.PoissonCounts(3, n_inputs=2, rate=1500.0))
    assert list(net.populations) == []
    # as a population of its own, connected by any rule: one count goes to all of a neuron's targets
    src = net.population("p", ns.PoissonCounts(2, n_inputs=3, rate=ns.Uniform(100.0, 200.0)))
    assert src.model.rate.shape == (2,) and np.all((src.model.rate >= 100.0) & (src.model.rate < 200.0))


# ---- Brian2 export ------------------------------------------------------------------------

@pytest.mark.brian2
def test_brian2_export_makes_a_poisson_input():
    b2 = pytest.importorskip("brian2")
    from neurosim.brian2_export import to_brian2

    net, target = target_network()
    net.add_poisson_input(target, 12, 30.0, 0.75, receptor="inh")
    b2net, monitors = to_brian2(net)
    (drive,) = [obj for obj in b2net.objects if isinstance(obj, b2.PoissonInput)]
    assert drive.N == 12 and float(drive.rate / b2.Hz) == 30.0 and drive.target_var == "i_inh"
    assert float(drive.weight) == 0.75 and "t_poisson" not in monitors
    saved = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:  # the twin runs, and its input arrives in whole weights
        state = b2.StateMonitor(b2net["ns_t"], "i_inh", record=True)
        b2net.add(state)
        b2net.run(2.0 * b2.ms)
    finally:
        b2.prefs.codegen.target = saved
    jumps = np.diff(np.asarray(state.i_inh), axis=1) / 0.75
    assert np.all(jumps > -0.5) and np.any(jumps > 0.5)
    # a PoissonCounts that Brian2's PoissonInput cannot express is refused plainly
    net = ns.Network(dt=0.1)
    src = net.population("p", ns.PoissonCounts(3, n_inputs=2, rate=10.0))
    net.connect(src, net.population("t", ns.LIF(3)), ns.connect.all_to_all(), weight=1.0)
    with pytest.raises(ValueError, match="population 'p' \\(PoissonCounts\\) cannot be exported.*not one-to-one"):
        to_brian2(net)


# ---- CUBA with Poisson input against Brian2 -------------------------------------------------

def _load_validation():
    name = "neurosim_benchmarks_validate_poisson_input"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "benchmarks" / "validate_poisson_input.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.slow
@pytest.mark.brian2
def test_cuba_with_poisson_input_rates_match_brian2():
    """Brian2's CUBA with its constant drive replaced by PoissonInput, and its neurosim port:
    mean rates within 5 % for each of 5 seeds (1 s, 4000 neurons; each simulator draws its own
    input, so the rates differ by the sampling noise of the input, about 1 %)."""
    b2 = pytest.importorskip("brian2")
    validation = _load_validation()
    saved = {k: b2.prefs[k] for k in ("codegen.target", "logging.console_log_level")}
    b2.prefs.codegen.target, b2.prefs.logging.console_log_level = "numpy", "WARNING"
    try:
        rows = validation.compare(seeds=[1, 2, 3, 4, 5], duration=1000.0)
    finally:
        for k, v in saved.items():
            b2.prefs[k] = v
    for seed, ours, theirs in rows:
        assert ours > 2.0, f"seed {seed}: the network should fire at a few Hz, got {ours:.2f} Hz"
        assert abs(ours / theirs - 1) < 0.05, f"seed {seed}: neurosim {ours:.3f} Hz vs Brian2 {theirs:.3f} Hz"
