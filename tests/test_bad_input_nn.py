"""Bad input to neurosim.nn (reliability issue, points 1f, 7, 8): every constructor and call
either works and gives a finite result, or refuses with a ValueError/TypeError (or a neurosim
error) that names the argument; never a crash, a hang or a silent wrong result.

The listed examples are regression tests; the generated tests (hypothesis) try whole classes:
odd types (bool, str, None, lists, complex, objects), NaN/inf, zero/negative/huge sizes,
wrong shapes, dtypes and devices, states without the batch axis, NaN in a state passed in.
Tensors stay small; the torch backend keeps the generated cases free of kernel compilation.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim.nn as snn
from neurosim.errors import DamagedFileError, InsufficientMemoryError
from neurosim.nn.functional import lif_sequence
from neurosim.nn.izhikevich_function import izhikevich_sequence
from neurosim.nn.nir import NIRConversionError, export_nir, import_nir

T, B, N = 4, 2, 3

#: values a careless or hostile caller passes where a number, array or tensor is expected
ODD = [True, False, None, "0.9", b"1", "", [0.5, "a"], [[0.5, 0.5, 0.5]], [], {}, object(), 1 + 2j,
       float("nan"), float("inf"), -float("inf"), 0, -1, 0.0, -0.0, 1e-300, 1e300, 10**12, 2**70, -(2**70),
       np.bool_(True), np.int64(3), np.float32(0.5), np.array(["a"]), np.array([0.5, 0.5, 0.5]),
       np.array([True, False, True]), torch.tensor(True), torch.tensor(0.5), torch.tensor([0.5, float("nan"), 0.5]),
       torch.zeros(N, dtype=torch.complex64), torch.tensor([0.5, 0.5, 0.5])]
values = st.one_of(st.sampled_from(ODD), st.floats(), st.integers(-(10**20), 10**20),
                   st.lists(st.floats(-2, 2), max_size=4))


@pytest.fixture(autouse=True)
def small_memory(monkeypatch):
    """1 GiB "available": what the memory checks refuse does not depend on the machine."""
    monkeypatch.setenv("NEUROSIM_MEMORY_BYTES", str(2**30))


def _x(dtype=torch.float32, n=N, seed=0):
    return torch.rand(T, B, n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _runs_finite(layer, n_in=N):
    out, state = layer(_x(n=n_in))
    assert out.shape == (T, B, layer.n) and all(bool(torch.isfinite(t).all()) for t in state)
    return out


# ---- the examples ---------------------------------------------------------------------

def test_izhikevich_state_without_the_batch_axis_is_refused_like_lif(refuses):
    """1f: a [n] state was broadcast over the batch by Izhikevich (LIF refused it)."""
    x = _x()
    for layer, state in ((snn.Izhikevich(N, backend="torch"), snn.IzhikevichState(torch.full((N,), -65.0),
                                                                                   torch.zeros(N))),
                         (snn.LIF(N, backend="torch"), snn.LIFState(torch.zeros(N)))):
        with refuses("state.v", "batch axis is missing", f"[batch, n] = [{B}, {N}]"):
            layer(x, state)


def test_recurrent_lif_with_a_million_neurons_is_refused_up_front(within):
    """7: nn.RecurrentLIF(4, 10**6) tried to allocate 4 TB of recurrent weights."""
    with within(2.0), pytest.raises(InsufficientMemoryError, match=r"RecurrentLIF\(4, 1000000\).*needs about "
                                                                   r"3\.6 TiB.*1\.0 GiB is available"):
        snn.RecurrentLIF(4, 10**6)


@pytest.mark.parametrize("kw, words", [(dict(beta="0.9"), ("beta", "str")), (dict(beta=True), ("beta", "bool")),
                                       (dict(threshold=False), ("threshold", "bool"))])
def test_strings_and_booleans_are_not_parameters(refuses, kw, words):
    """8 and the general point: LIF(4, beta='0.9') failed naming nothing, beta=True was 1.0."""
    with refuses(*words):
        snn.LIF(4, **kw)


@pytest.mark.parametrize("make, state", [
    (lambda: snn.LIF(N, backend="torch"), lambda: snn.LIFState(torch.full((B, N), float("nan")))),
    (lambda: snn.LI(N, backend="torch"), lambda: snn.LIFState(torch.full((B, N), float("inf")))),
    (lambda: snn.RecurrentLIF(N, N, backend="torch"),
     lambda: snn.RecurrentLIFState(torch.zeros(B, N), torch.full((B, N), float("nan")))),
    (lambda: snn.Izhikevich(N, backend="torch"),
     lambda: snn.IzhikevichState(torch.full((B, N), -65.0), torch.full((B, N), float("nan")))),
])
def test_nan_in_a_state_passed_in_names_the_state_not_the_weights(refuses, make, state):
    """8: the message blamed the weights."""
    with refuses("state.", "the state passed in", "nan or inf") as info:
        make()(_x(), state())
    assert "weights" not in str(info.value)


def test_state_on_another_device_or_of_another_kind_is_refused(refuses):
    layer = snn.LIF(N, backend="torch")
    with refuses("state.v", "is on meta"):
        layer(_x(), snn.LIFState(torch.zeros(B, N, device="meta")))
    with refuses("state.v", "floating-point"):
        layer(_x(), snn.LIFState(torch.zeros(B, N, dtype=torch.int64)))
    with refuses("state", "LIFState(v)"):
        layer(_x(), torch.zeros(B, N))  # the tensor, not the state
    out64, _ = layer(_x(), snn.LIFState(torch.zeros(B, N, dtype=torch.float64)))  # cast, as the parameters are
    assert out64.dtype == torch.float32


def test_stateful_layer_refuses_a_carried_state_of_another_batch_size(refuses):
    layer = snn.LIF(N, stateful=True, backend="torch")
    layer(_x())
    with refuses("state.v", f"[batch, n] = [3, {N}]"):
        layer(torch.rand(T, 3, N))
    layer.reset_state()
    layer(torch.rand(T, 3, N))


# ---- generated: constructors ------------------------------------------------------------------

LAYERS = {
    "LIF": (lambda **kw: snn.LIF(kw.pop("n", N), backend="torch", **kw), ("beta", "threshold")),
    "LI": (lambda **kw: snn.LI(kw.pop("n", N), backend="torch", **kw), ("beta",)),
    "RecurrentLIF": (lambda **kw: snn.RecurrentLIF(kw.pop("n_in", N), kw.pop("n", N), backend="torch", **kw),
                     ("beta", "threshold", "n_in")),
    "Izhikevich": (lambda **kw: snn.Izhikevich(kw.pop("n", N), backend="torch", **kw),
                   ("a", "b", "c", "d", "v_peak", "v_init", "dt", "substeps")),
}


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=120)
@given(data=st.data())
def test_generated_layer_parameters(outcome, name, data):
    make, params = LAYERS[name]
    param = data.draw(st.sampled_from(("n",) + params), label="param")
    value = data.draw(values, label="value")
    words = ("n (number of neurons)",) if param == "n" else (param,)
    ok, layer = outcome(lambda: make(**{param: value}), *words)
    if not ok:
        return
    # accepted: it must have been a valid value, and the layer must run to a finite result
    if param in ("n", "n_in"):
        assert isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value >= 1
        if value > 64:
            return
    if param == "beta":
        assert bool(((layer.beta > 0) & (layer.beta <= 1)).all())
    if param == "threshold":
        assert bool((layer.threshold > 0).all())
    if param == "substeps" and value > 64:
        return  # valid, only slow
    if name == "Izhikevich" and param in ("a", "b", "c", "d", "v_peak", "v_init", "dt"):
        return  # any finite values are valid parameters; the membrane may legitimately diverge
    _runs_finite(layer, n_in=layer.n_in if name == "RecurrentLIF" else layer.n)


@settings(max_examples=60)
@given(name=st.sampled_from(["tau_mem", "dt", "method", "reset"]),
       value=st.one_of(values, st.sampled_from(["exact", "euler", "zero", "soft", ["zero"]])))
def test_generated_time_constants_and_resets(outcome, name, value):
    kw = {"tau_mem": 10.0, "dt": 1.0, "method": "exact", "reset": "subtract", name: value}
    ok, layer = outcome(lambda: snn.LIF.from_time_constant(N, backend="torch", **kw), name, "beta")
    if ok:
        assert bool(((layer.beta > 0) & (layer.beta <= 1)).all()) and layer.reset == kw["reset"]
        _runs_finite(layer)


@settings(max_examples=60)
@given(value=values, name=st.sampled_from(["fast_sigmoid", "arctan", "triangle", "sigmoid"]))
def test_generated_surrogate_parameters(outcome, value, name):
    ok, surrogate = outcome(lambda: getattr(snn.surrogate, name)(value), "slope", "alpha")
    if ok:
        assert math.isfinite(surrogate.param) and surrogate.param > 0


@settings(max_examples=30)
@given(value=st.sampled_from([v for v in ODD if v is not None]))  # None: the default surrogate
def test_generated_surrogate_objects(outcome, value):
    ok, _ = outcome(lambda: snn.LIF(N, surrogate=value), "surrogate")
    assert not ok


@settings(max_examples=40)
@given(learn=st.one_of(st.sampled_from(ODD), st.text(max_size=3), st.lists(st.sampled_from("abcdv"), max_size=3)))
def test_generated_izhikevich_learn(outcome, learn):
    ok, layer = outcome(lambda: snn.Izhikevich(N, learn=learn, backend="torch"), "learn")
    if ok:
        names = {learn} if isinstance(learn, str) else set(learn)
        assert {k for k, _ in layer.named_parameters()} == names


# ---- generated: inputs and states -------------------------------------------------------------

DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool, torch.complex64]


@st.composite
def tensors(draw, shape, other_device=True):
    """A tensor of ``shape`` or a neighbour of it (axis dropped, added, resized), of some dtype,
    possibly with a NaN/inf, on the CPU or (``other_device``) the meta device; or a non-tensor.
    (A whole input on the meta device is torch's shape inference, not a mistake to refuse.)"""
    kinds = ["good", "good", "shape", "dtype", "value", "odd"] + (["device"] if other_device else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "odd":
        return draw(st.sampled_from(ODD[:12]))
    shape = list(shape)
    if kind == "shape":
        how = draw(st.sampled_from(["drop", "add", "resize"]))
        if how == "drop":
            del shape[draw(st.integers(0, len(shape) - 1))]
        elif how == "add":
            shape.insert(draw(st.integers(0, len(shape))), draw(st.integers(0, 3)))
        else:
            i = draw(st.integers(0, len(shape) - 1))
            shape[i] = draw(st.sampled_from([0, 1, shape[i] + 1, shape[i] + 5]))
    dtype = draw(st.sampled_from(DTYPES)) if kind == "dtype" else torch.float32
    t = torch.rand(shape).to(dtype)
    if kind == "value" and t.numel():
        t.view(-1)[draw(st.integers(0, t.numel() - 1))] = draw(st.sampled_from([float("nan"), float("inf"),
                                                                                  -float("inf")]))
    if kind == "device":
        t = t.to("meta")
    return t


STATEFUL = {
    "LIF": (lambda: snn.LIF(N, backend="torch"), snn.LIFState),
    "LI": (lambda: snn.LI(N, backend="torch"), snn.LIFState),
    "RecurrentLIF": (lambda: snn.RecurrentLIF(N, N, backend="torch"), snn.RecurrentLIFState),
    "Izhikevich": (lambda: snn.Izhikevich(N, backend="torch"), snn.IzhikevichState),
}


@pytest.mark.parametrize("name", STATEFUL)
@settings(max_examples=100)
@given(data=st.data())
def test_generated_states(outcome, name, data):
    make, kind = STATEFUL[name]
    fields = [data.draw(tensors((B, N)), label=f) for f in kind._fields]
    container = data.draw(st.sampled_from([kind, tuple, list]), label="container")
    state = kind(*fields) if container is kind else container(fields)
    if name == "Izhikevich" and all(isinstance(f, torch.Tensor) for f in fields):
        for f in fields:
            if f.is_floating_point() and f.device.type == "cpu":
                f.sub_(65.0)  # a membrane near rest, so that valid states run to finite results
    ok, result = outcome(lambda: make()(_x(), state), "state")
    if not ok:
        return
    out, new_state = result
    # accepted: every field was a finite floating [B, N] CPU tensor in a tuple of the right length
    assert container is not list
    for f in fields:
        assert isinstance(f, torch.Tensor) and f.is_floating_point() and tuple(f.shape) == (B, N)
        assert f.device.type == "cpu" and bool(torch.isfinite(f).all())
    assert out.shape == (T, B, N) and all(bool(torch.isfinite(t).all()) for t in new_state)


@pytest.mark.parametrize("name", STATEFUL)
@settings(max_examples=60)
@given(data=st.data())
def test_generated_inputs(outcome, name, data):
    make, _ = STATEFUL[name]
    x = data.draw(tensors((T, B, N), other_device=False), label="x")
    ok, result = outcome(lambda: make()(x), "input")
    if not ok:
        if isinstance(x, torch.Tensor) and x.dim() == 3 and x.dtype == torch.float32 and x.device.type == "cpu" \
                and x.shape[0] and x.shape[-1] == N and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0, 0])
            assert f"time step {bad}" in str(result)  # NaN/inf named by its first step
        return
    out, _ = result
    assert x.dtype in (torch.float32, torch.float64) and x.dim() == 3 and x.shape[-1] == N and x.shape[0] >= 1
    assert bool(torch.isfinite(out).all())


# ---- generated: the functional API ------------------------------------------------------------

@settings(max_examples=100)
@given(data=st.data())
def test_generated_lif_sequence_arguments(outcome, data):
    args = {"x": _x(), "v0": torch.zeros(B, N), "beta": torch.full((N,), 0.9), "threshold": torch.ones(N)}
    shapes = {"x": (T, B, N), "v0": (B, N), "beta": (N,), "threshold": (N,), "w_rec": (N, N), "s0": (B, N)}
    name = data.draw(st.sampled_from(sorted(shapes)), label="argument")
    args[name] = data.draw(tensors(shapes[name], other_device=name != "x"), label=name)
    # a changed x may leave v0 the wrong size for it: then v0 is named
    ok, _ = outcome(lambda: lif_sequence(surrogate=snn.surrogate.fast_sigmoid(), backend="torch", **args),
                    *((name, "v0") if name == "x" else (name,)))
    if ok:  # any number of steps T >= 1 is valid, the other sizes are fixed by the other arguments
        t = args[name]
        assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.device.type == "cpu"
        assert t.shape[1:] == (B, N) and t.shape[0] >= 1 if name == "x" else tuple(t.shape) == shapes[name]


@settings(max_examples=100)
@given(data=st.data())
def test_generated_izhikevich_sequence_arguments(outcome, data):
    args = {"current": _x() * 10, "v0": torch.full((B, N), -65.0), "u0": torch.full((B, N), -13.0), "a": 0.02,
            "b": 0.2, "c": -65.0, "d": 8.0, "v_peak": 30.0}
    name = data.draw(st.sampled_from(sorted(args)), label="argument")
    shape = {"current": (T, B, N), "v0": (B, N), "u0": (B, N)}.get(name, (N,))
    args[name] = data.draw(st.one_of(tensors(shape, other_device=name != "current"), values), label=name)
    dt = data.draw(st.one_of(st.just(1.0), values), label="dt")
    substeps = data.draw(st.one_of(st.just(2), st.integers(-3, 3), st.sampled_from(ODD)), label="substeps")
    ok, result = outcome(lambda: izhikevich_sequence(surrogate=snn.surrogate.fast_sigmoid(0.5), dt=dt,
                                                     substeps=substeps, backend="torch", **args),
                         name, "dt", "substeps", "current")
    if ok:
        assert isinstance(dt, (int, float, np.floating, np.integer)) and not isinstance(dt, (bool, np.bool_))
        assert math.isfinite(dt) and dt > 0
        assert isinstance(substeps, (int, np.integer)) and not isinstance(substeps, (bool, np.bool_)) and substeps >= 1
        assert result[0].shape == (T, B, N)


# ---- NIR ---------------------------------------------------------------------------------------

@settings(max_examples=40)
@given(blob=st.binary(max_size=300))
def test_random_bytes_are_not_a_nir_graph(outcome, tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("nir") / "graph.nir"
    path.write_bytes(blob)
    ok, err = outcome(lambda: import_nir(path), str(path))
    assert not ok and isinstance(err, DamagedFileError) and err.path == str(path)


def _lif_graph(**override):
    """input -> Affine -> LIF -> output, with LIF fields replaced after construction (as a graph
    read from a file may hold anything: nir's own constructor would refuse some values first)."""
    import nir

    lif = nir.LIF(tau=np.full(N, 10.0), r=np.full(N, 10.0), v_leak=np.zeros(N), v_threshold=np.ones(N),
                  v_reset=np.zeros(N))
    for field, value in override.items():
        setattr(lif, field, value)
    nodes = {"input": nir.Input(input_type=np.array([N])), "w": nir.Affine(weight=np.eye(N), bias=np.zeros(N)),
             "lif": lif, "output": nir.Output(output_type=np.array([N]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "lif"), ("lif", "output")])


@settings(max_examples=80)
@given(field=st.sampled_from(["tau", "r", "v_leak", "v_threshold", "v_reset"]),
       value=st.one_of(values, st.lists(st.floats(), min_size=N, max_size=N).map(np.array)))
def test_generated_nir_lif_fields(outcome, field, value):
    ok, result = outcome(lambda: import_nir(_lif_graph(**{field: value}), dt=1.0), field, "'lif'")
    if not ok:
        assert isinstance(result, (NIRConversionError, InsufficientMemoryError))
        return
    out, _ = result(_x())
    assert out.shape == (T, B, N)


@settings(max_examples=40)
@given(dt=values)
def test_generated_nir_dt(outcome, dt):
    ok, _ = outcome(lambda: export_nir(torch.nn.Sequential(torch.nn.Linear(N, N), snn.LIF(N, reset="zero")), dt=dt),
                    "dt")
    if ok:
        assert not isinstance(dt, (bool, np.bool_)) and math.isfinite(float(dt)) and float(dt) > 0


def test_nir_weights_with_nan_are_refused_naming_the_node(refuses):
    import nir

    graph = _lif_graph()
    graph.nodes["w"] = nir.Affine(weight=np.full((N, N), np.nan), bias=np.zeros(N))
    with refuses("NIR node 'w'", "weight must be finite"):
        import_nir(graph)


def test_imported_cuba_lif_names_its_state(refuses):
    from neurosim.nn import CubaLIF, CubaLIFState

    layer = CubaLIF(N, 0.8, 0.9, 1.0, backend="torch")
    state = CubaLIFState(torch.zeros(B, N), torch.full((B, N), float("nan")), torch.zeros(B, N))
    with refuses("CubaLIF", "state.v", "the state passed in"):
        layer(_x(), state)
    with refuses("CubaLIF state.i", "batch axis is missing"):
        layer(_x(), CubaLIFState(torch.zeros(N), torch.zeros(B, N), torch.zeros(B, N)))
