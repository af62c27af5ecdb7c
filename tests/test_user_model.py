"""A neuron model defined outside neurosim's tree runs on every backend.

The model -- a quadratic integrate-and-fire neuron with an adaptation current and conductance
synapses -- is written here once, in the user's own terms (``ns.NeuronModel``), and runs on
the numpy, Numba and Triton-interpreter engines with identical spikes, exports to Brian2 with
the same spikes, and trains as a ``neurosim.nn`` layer (gradient check). docs/how-to/own-model.md shows it.
"""

import warnings

import numpy as np
import pytest

import neurosim as ns

QIF = ns.NeuronModel(
    "QIF",
    parameters={
        "c_m": ns.Parameter(100.0, "pF", positive=True),
        "k": ns.Parameter(0.7, "nS/mV", positive=True),
        "v_rest": ns.Parameter(-60.0, "mV"),
        "v_crit": ns.Parameter(-40.0, "mV"),
        "v_peak": ns.Parameter(35.0, "mV"),
        "v_reset": ns.Parameter(-50.0, "mV"),
        "a": ns.Parameter(0.03, "1/ms"),
        "b": ns.Parameter(-2.0, "nS"),
        "d": ns.Parameter(100.0, "pA"),
        "e_exc": ns.Parameter(0.0, "mV"),
        "e_inh": ns.Parameter(-80.0, "mV"),
        "tau_exc": ns.Parameter(5.0, "ms", positive=True),
        "tau_inh": ns.Parameter(10.0, "ms", positive=True),
        "t_ref": ns.Parameter(1.0, "ms", nonnegative=True),
    },
    state={"v": ns.State("v_rest", "mV"), "w": ns.State(0.0, "pA"), "g_exc": ns.State(0.0, "nS"),
           "g_inh": ns.State(0.0, "nS")},
    derived={"decay_exc": "exp(-dt / tau_exc)", "decay_inh": "exp(-dt / tau_inh)"},
    update="""
        i_syn = g_exc * (e_exc - v) + g_inh * (e_inh - v)
        dv = (k * (v - v_rest) * (v - v_crit) - w + i_syn + i_ext) / c_m
        dw = a * (b * (v - v_rest) - w)
        v = v + dt * dv
        w = w + dt * dw
        g_exc = g_exc * decay_exc
        g_inh = g_inh * decay_inh
    """,
    threshold="v >= v_peak",
    reset="v = v_reset; w = w + d",
    refractory="t_ref",
    inputs={"exc": "g_exc", "inh": "g_inh"},
    current_unit="pA",
)


def qif_network(seed=3, dt=0.1):
    net = ns.Network(dt=dt, seed=seed)
    exc = net.population("exc", QIF(40, v_rest=ns.Uniform(-62.0, -58.0)))
    inh = net.population("inh", QIF(10, a=0.1, d=20.0))
    drive = net.population("drive", ns.SpikeTimes(8, indices=np.arange(8).repeat(6),
                                                    times=np.tile(np.arange(6) * 9.0, 8) + np.arange(8).repeat(6) * 0.7))
    net.connect(drive, [exc, inh], ns.connect.random(0.5), weight=ns.Uniform(1.0, 4.0), delay=ns.Uniform(0.1, 2.0))
    net.connect(exc, [exc, inh], ns.connect.random(0.2), weight=0.6, delay=ns.Uniform(0.1, 3.0))
    net.connect(inh, [exc, inh], ns.connect.random(0.4), weight=1.5, receptor="inh", delay=0.5)
    net.add_current(exc, ns.ConstantCurrent(np.linspace(50.0, 120.0, 40)))
    net.add_current(inh, ns.ConstantCurrent(60.0))
    net.monitor_state(exc, ["v", "w", "g_exc"], indices=[0, 39])
    return net


def spike_lists(result):
    return {name: list(zip(np.rint(s.times / result.dt).astype(int).tolist(), s.indices.tolist()))
            for name, s in result.spikes.items() if name != "drive"}


@pytest.fixture(scope="module")
def numba_run():
    return qif_network().run(60.0, backend="numba", progress=False)


def test_the_user_model_fires_and_adapts(numba_run):
    assert numba_run.spike_count("exc") > 40 and numba_run.spike_count("inh") > 5
    w = numba_run.states["exc.w"].values
    assert w.max() > 50.0  # each spike adds d = 100 pA, which then decays


def test_numpy_and_numba_give_identical_spikes(numba_run, assert_same_run):
    assert_same_run(numba_run, qif_network().run(60.0, backend="numpy", progress=False))


@pytest.mark.slow
def test_triton_gives_the_same_spikes(assert_same_run):
    # Triton's interpreter is slow: a shorter stretch, with spikes and resets in it
    numba = qif_network().run(25.0, backend="numba", progress=False)
    assert numba.spike_count() > 10
    assert_same_run(numba, qif_network().run(25.0, backend="triton", progress=False))


@pytest.mark.slow
def test_the_brian2_export_gives_the_same_spikes(numba_run):
    b2 = pytest.importorskip("brian2")
    from neurosim.brian2_export import to_brian2

    saved = {k: b2.prefs[k] for k in ("codegen.target", "codegen.loop_invariant_optimisations")}
    try:
        b2.prefs["codegen.target"] = "numpy"
        b2.prefs["codegen.loop_invariant_optimisations"] = False
        b2.start_scope()
        network, monitors = to_brian2(qif_network())
        network.run(60.0 * b2.ms)
    finally:
        for k, v in saved.items():
            b2.prefs[k] = v
    for name in ("exc", "inh"):
        theirs = sorted(zip(np.rint(np.asarray(monitors[name].t / b2.ms) / 0.1).astype(int).tolist(),
                            np.asarray(monitors[name].i, dtype=int).tolist()))
        assert theirs == sorted(spike_lists(numba_run)[name]), name


def test_the_nn_layer_gives_the_engines_spikes_for_the_same_current():
    torch = pytest.importorskip("torch")
    import neurosim.nn as snn

    current = np.linspace(150.0, 400.0, 6)
    net = ns.Network(dt=0.1, seed=0)
    pop = net.population("p", QIF(6))
    net.add_current(pop, ns.ConstantCurrent(current))
    engine = net.run(50.0, backend="numpy", progress=False)
    layer = snn.from_model(QIF(6), dt=0.1)
    x = torch.tensor(current).expand(500, 1, 6).contiguous()
    spikes, _ = layer(x)
    steps, neurons = np.nonzero(spikes[:, 0].detach().numpy())
    assert sorted(zip(steps.tolist(), neurons.tolist())) == sorted(
        zip(np.rint(engine.spikes["p"].times / 0.1).astype(int).tolist(), engine.spikes["p"].indices.tolist()))
    assert steps.size > 5


@pytest.mark.slow
def test_the_nn_layer_passes_a_gradient_check_and_trains():
    torch = pytest.importorskip("torch")
    import neurosim.nn as snn

    # With a zero surrogate the layer is piecewise smooth: between spikes (none flips under a
    # 1e-6 nudge) finite differences must match autograd through update, reset, refractoriness
    # and the derived values -- for the input and for trained parameters.
    zero = snn.surrogate.custom(lambda x: torch.zeros_like(x), "zero")
    layer = snn.from_model(QIF(3), dt=0.5, learn=("k", "d", "tau_exc"), surrogate=zero, input_to="i_ext")
    torch.manual_seed(0)
    x = (300.0 + 150.0 * torch.rand(30, 1, 3, dtype=torch.float64)).requires_grad_()
    params = {name: getattr(layer, name).detach().clone().requires_grad_() for name in ("k", "d")}

    def final_state(x, k, d):
        spikes, state = torch.func.functional_call(layer, {"k": k, "d": d}, (x,))
        return state["v"], state["w"]

    spikes, _ = layer(x)
    assert spikes.sum() >= 3  # the checked stretch has spikes and resets in it
    assert torch.autograd.gradcheck(final_state, (x, params["k"], params["d"]), eps=1e-6, atol=1e-5, rtol=1e-4)

    # with a real surrogate the spikes carry gradients: input gains learn a spike-count target
    layer = snn.from_model(QIF(3), dt=0.5, surrogate=snn.surrogate.fast_sigmoid(0.5))
    torch.manual_seed(0)
    x = 250.0 + 150.0 * torch.rand(80, 1, 3, dtype=torch.float64)
    gain = torch.ones(3, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([gain], lr=0.1)
    losses = []
    for _ in range(20):
        spikes, _ = layer(x * gain)
        loss = ((spikes.sum(0).mean(0) - 4.0) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[0] >= 10.0 and min(losses[-5:]) == 0.0, losses


# ---- bad definitions: clear errors naming the model and the item ----

def define(**changes):
    spec = dict(parameters={"tau": ns.Parameter(10.0, "ms", positive=True), "v_th": (-50.0, "mV")},
                state={"v": ns.State(-65.0, "mV")}, update="v = v + dt * (i_ext - v) / tau",
                threshold="v > v_th", reset="v = -65.0", current_unit="mV")
    spec.update(changes)
    return ns.NeuronModel("Leaky", **spec)


@pytest.mark.parametrize("changes, words", [
    ({"update": "v = v + dt * (i_ext - v) / tau_m"}, ["model 'Leaky'", "update line 1", "undefined symbol 'tau_m'", "did you mean 'tau'"]),
    ({"threshold": "v > v_thresh"}, ["model 'Leaky'", "threshold", "undefined symbol 'v_thresh'"]),
    ({"state": {"v": ns.State(None, "mV")}}, ["model 'Leaky'", "state variable 'v'", "no initial value"]),
    ({"update": "v = v + (i_ext - v) / tau"}, ["model 'Leaky'", "update", "inconsistent units", "mV/ms", "mV"]),
    ({"threshold": "v > tau"}, ["model 'Leaky'", "threshold", "inconsistent units", "mV", "ms"]),
    ({"update": "v = v + dt * exp(v) / tau"}, ["model 'Leaky'", "exp", "dimensionless", "mV"]),
    ({"parameters": {"tau": ns.Parameter(float("nan"), "ms"), "v_th": (-50.0, "mV")}}, ["model 'Leaky'", "parameter 'tau'", "not finite"]),
    ({"update": "v = v + dt * i_ext / tau\nimport os"}, ["model 'Leaky'", "update line 2", "only assignments"]),
    ({"update": "v = v + dt * open(i_ext) / tau"}, ["model 'Leaky'", "unknown function 'open'"]),
    ({"update": "tau = 3.0"}, ["model 'Leaky'", "cannot assign to 'tau'", "parameter"]),
    ({"inputs": {"exc": "g"}}, ["model 'Leaky'", "inputs['exc']", "'g' is not a state variable"]),
    ({"refractory": "v_th"}, ["model 'Leaky'", "refractory", "must be in ms"]),
])
def test_bad_definitions_are_refused_naming_the_model_and_the_item(changes, words):
    with pytest.raises(ns.ModelDefinitionError) as err:
        define(**changes)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_a_non_finite_parameter_value_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"Leaky.tau"):
        ns.Network(dt=0.1).population("p", define()(3, tau=float("inf")))
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) tau_m"):
        define()(3, tau_m=5.0)


def test_a_threshold_the_update_never_reaches_warns():
    with pytest.warns(UserWarning, match=r"model 'Leaky'.*threshold 'w > v_th' can never be reached.*never changes w"):
        define(state={"v": ns.State(-65.0, "mV"), "w": ns.State(-65.0, "mV")}, threshold="w > v_th")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        define()  # a reachable threshold: no warning


def test_a_receptor_the_model_lacks_is_refused_at_connect():
    net = ns.Network(dt=0.1)
    p = net.population("p", define(state={"v": ns.State(-65.0, "mV"), "g": ns.State(0.0)}, inputs={"exc": "g"})(4))
    with pytest.raises(ValueError, match=r"receptor 'inh'.*'p' \(Leaky\) takes synaptic input only at 'exc'"):
        net.connect(p, p, ns.connect.all_to_all(), weight=-1.0)
