"""NIR import: a ``nir.NIRGraph`` (or a ``.nir`` file) -> a ``NIRNetwork`` of ``neurosim.nn``
layers. The conventions (Euler step, ``beta = 1 - dt / tau``, gains) are in
:mod:`neurosim.nn.nir`."""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict

import numpy as np
import torch
from torch import nn

from neurosim.errors import DamagedFileError
from neurosim.validation import as_real_array

from . import surrogate as surrogates
from .cuba_lif import CubaLIF, _host
from .layers import FLOAT32_MAX, LI, LIF, RecurrentLIF, check_parameter_memory
from .nir_layers import (
    CubaLI,
    Delay,
    MultiSpikeIF,
    NIRConversionError,
    NIRNetwork,
    PerStep,
    Scale,
    ScaledInput,
    Shaped,
    Threshold,
    _check_dt,
    _nir,
)

__all__ = ["import_nir"]

# An input gain r dt / tau this close to 1 is taken as exactly 1: exporters write r = tau / dt
# in float32 (snnTorch's r = 9.99999762 for tau / dt = 10), which is rounding, not a gain.
_UNIT_GAIN_RTOL = 1e-6

_SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "LI", "LIF", "CubaLIF", "CubaLI", "IF", "Threshold",
              "Delay", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "NIRGraph")
# A delay within this fraction of a whole number of steps is that number (float32 rounding).
_WHOLE_STEP_RTOL = 1e-6


def _flatten_graph(graph, prefix: str = ""):
    """Inline nested NIRGraph nodes: returns ``(nodes, edges)`` with dotted names; a subgraph's
    own Input/Output nodes become pass-through nodes (``None``) removed afterwards."""
    nir = _nir()
    nodes, edges = {}, []
    entry, exit_ = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten_graph(node, full + ".")
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRConversionError(f"NIR subgraph {full!r} must have exactly one Input and one Output "
                                         f"node, has {len(ins)} and {len(outs)}")
            sub_nodes[f"{full}.{ins[0]}"] = None
            sub_nodes[f"{full}.{outs[0]}"] = None
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            entry[name], exit_[name] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
        else:
            nodes[full] = node
            entry[name] = exit_[name] = full
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise NIRConversionError(f"NIR edge ({src!r}, {dst!r}) names a node {prefix + end!r} that the "
                                         "graph does not have")
        edges.append((exit_[src], entry[dst]))
    return nodes, edges


def _remove_passthrough(nodes: dict, edges: list):
    for name in [k for k, v in nodes.items() if v is None]:
        preds = [s for s, d in edges if d == name and s != name]
        succs = [d for s, d in edges if s == name and d != name]
        edges = [e for e in edges if name not in e] + [(p, q) for p in preds for q in succs]
        del nodes[name]
    return nodes, edges


def _node_values(where: str, node, field: str) -> np.ndarray:
    """A node's ``field`` as a float64 array (a tensor or array-like of real numbers) within
    float32's range: the layers it becomes compute in float32 (or float64), where a larger value
    would be inf."""
    value = getattr(node, field)
    try:
        arr = as_real_array(field, _host(value))
    except TypeError as err:
        raise NIRConversionError(f"{where}: {err}") from None
    if not np.all(np.isfinite(arr)):
        raise NIRConversionError(f"{where}: {field} must be finite, got {int(np.sum(~np.isfinite(arr)))} NaN/inf value(s)")
    if arr.size and np.abs(arr).max() > FLOAT32_MAX:
        raise NIRConversionError(f"{where}: {field} must lie within float32's range (|value| <= {FLOAT32_MAX:g}), "
                                 f"got {np.abs(arr).max():g}")
    return arr


def _array(where: str, node, field: str, n: int | None) -> np.ndarray:
    arr = _node_values(where, node, field)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    # one value per neuron: [n], a [1, n]-like shape, or the node's own shape (C, H, W) in C order
    arr = arr.reshape(-1) if arr.ndim > 1 and (arr.size == max(arr.shape) or arr.size == n) else arr
    if arr.ndim != 1 or arr.size == 0 or (n is not None and arr.shape[0] != n):
        raise NIRConversionError(f"{where}: {field} must have shape [{n if n is not None else 'n'}], "
                                 f"got {arr.shape}")
    return arr


def _decay(where: str, tau: np.ndarray, dt: float, field: str) -> np.ndarray:
    if np.any(tau <= 0):
        raise NIRConversionError(f"{where}: {field} must be > 0, got minimum {tau.min():g}")
    ratio = dt / tau
    if np.any(ratio >= 1.0):
        raise NIRConversionError(
            f"{where}: the Euler step needs dt < {field} (decay 1 - dt/{field} in (0, 1)), got dt={dt:g} and "
            f"{field} down to {tau.min():g}; pass the dt the graph was written with (snnTorch writes with "
            "dt=1e-4)")
    return 1.0 - ratio


def _snap_gain(gain: np.ndarray) -> np.ndarray:
    return np.where(np.abs(gain - 1.0) <= _UNIT_GAIN_RTOL, 1.0, gain)


def _neuron_params(where: str, node, n: int | None, dt: float):
    """``(n, beta, threshold, gain, offset)`` of a NIR LIF/LI node (float64 ``[n]``)."""
    nir = _nir()
    tau = _array(where, node, "tau", n)
    n = tau.shape[0]
    beta = _decay(where, tau, dt, "tau")
    r = _array(where, node, "r", n)
    v_leak = _array(where, node, "v_leak", n)
    gain, offset = _snap_gain(r * dt / tau), v_leak * dt / tau
    thr = _threshold(where, node, n) if isinstance(node, nir.LIF) else None
    return n, beta, thr, gain, offset


def _threshold(where: str, node, n: int) -> np.ndarray:
    """``v_threshold`` (> 0, float64 ``[n]``) of a spiking node whose ``v_reset`` is 0 (or None),
    the only reset neurosim's layers have."""
    thr = _array(where, node, "v_threshold", n)
    v_reset = _array(where, node, "v_reset", n) if node.v_reset is not None else np.zeros(n)
    if np.any(v_reset != 0):
        raise NIRConversionError(f"{where}: neurosim's LIF resets to 0, the node has v_reset = "
                                 f"{np.unique(v_reset)[:5]}")
    if np.any(thr <= 0):
        raise NIRConversionError(f"{where}: v_threshold must be > 0, got minimum {thr.min():g}")
    return thr


def _recurrent_weights(where: str, nodes, w_names, n: int):
    """``(W_rec [n, n], b_rec [n], any_bias)``: the sum of the recurrent Affine/Linear nodes
    ``w_names`` of neuron node ``where``."""
    check_parameter_memory(f"{where}: recurrent weights [{n}, {n}]", float(n) * n, torch.float64)
    w_rec, b_rec, any_bias = np.zeros((n, n)), np.zeros(n), False
    for w_name in w_names:
        w, b = _weight_bias(f"NIR node {w_name!r}", nodes[w_name])
        if w.shape != (n, n):
            raise NIRConversionError(f"NIR node {w_name!r}: recurrent weights of {where} must be [{n}, {n}], "
                                     f"got {list(w.shape)}")
        w_rec += w
        if b is not None:
            b_rec, any_bias = b_rec + b, True
    return w_rec, b_rec, any_bias


def _torch_linear(where: str, node, bias: bool) -> nn.Linear:
    w = _node_values(where, node, "weight")
    if w.ndim != 2 or 0 in w.shape:
        raise NIRConversionError(f"{where}: weight must be 2-D [out, in] with out, in >= 1, got shape {w.shape}")
    check_parameter_memory(f"{where}: weights", w.size)
    m = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(w))
        if bias:
            b = _node_values(where, node, "bias")
            if b.size not in (1, w.shape[0]):
                raise NIRConversionError(f"{where}: bias must have shape [{w.shape[0]}] (one per output), "
                                         f"got shape {b.shape}")
            m.bias.copy_(torch.as_tensor(np.broadcast_to(b.reshape(-1), (w.shape[0],)).copy()))
    return m


def _weight_bias(where: str, node):
    """``(W [out, in] float64, b [out] float64 or None)`` of an Affine/Linear node."""
    nir = _nir()
    m = _torch_linear(where, node, isinstance(node, nir.Affine))
    return m.weight.detach().double().numpy(), None if m.bias is None else m.bias.detach().double().numpy()


IF_MODES = ("nir", "sinabs")


def import_nir(graph, dt: float = 1.0, *, surrogate=None, detach_reset: bool = False,
               backend: str = "auto", if_mode: str = "nir") -> NIRNetwork:
    """A ``NIRNetwork`` (torch module over ``[T, B, n]`` sequences) from a NIR graph.

    Parameters
    ----------
    graph : a ``nir.NIRGraph`` or the path of a ``.nir`` file (a file that is not a NIR graph
        raises :class:`neurosim.errors.DamagedFileError` naming it). Nested subgraphs are inlined.
        Nodes: ``Input``, ``Output``, ``Affine``/``Linear`` (-> ``torch.nn.Linear``), ``Scale``,
        ``LI`` (-> neurosim ``LI``), ``LIF`` (-> neurosim ``LIF(reset="zero")``), ``CubaLIF``
        (-> ``CubaLIF``: neurosim ``LI`` for the current, ``LIF`` for the membrane). An input gain
        ``r dt / tau != 1`` or a ``v_leak != 0`` wraps the layer in ``ScaledInput``. A cycle
        ``neuron -> Affine/Linear -> same neuron`` is recurrence: with a LIF it becomes a neurosim
        ``RecurrentLIF`` (folding a single Affine/Linear that feeds only this LIF in as its input
        weights; the gain is folded into the weights), with a CubaLIF a recurrent ``CubaLIF``.
    dt : the time step the graph's time constants are meant for (their unit): ``beta = 1 -
        dt / tau``. snnTorch's graphs need ``dt=1e-4``. A graph from ``export_nir`` records its
        ``dt`` in ``graph.metadata``; importing with another one warns.
    surrogate, detach_reset, backend : given to every spiking layer (NIR does not store them);
        the surrogate defaults to neurosim's ``fast_sigmoid()``.
    if_mode : how ``IF`` nodes run. ``"nir"`` (default): as NIR defines the node, a neurosim
        ``LIF`` without leak (``v += r dt x``, one spike where ``v > v_threshold``, then
        ``v = v_reset``, which must be 0). ``"sinabs"``: as Sinabs runs the IF nodes it imports
        (:class:`MultiSpikeIF`: several spikes per step, subtractive reset, the membrane bounded
        below at ``-v_threshold``; ``r`` and ``v_reset`` are not used), to reproduce a graph
        exported from Sinabs as Sinabs runs it.

    Convolutional graphs: ``Conv1d``, ``Conv2d``, ``SumPool2d``, ``AvgPool2d`` and ``Flatten``
    nodes become torch modules applied to every time step (``PerStep``), neuron nodes on
    ``[C, H, W]`` inputs keep that shape (``Shaped``; per-neuron parameters in C order), and the
    network takes ``[T, B, *shape]`` sequences (its ``in_shape``).

    Raises ``NIRConversionError`` (a ``ValueError``) naming the node for unsupported node types
    (``Delay``, ``Threshold``, ...), other cycles, ``v_reset != 0``, ``dt >= tau``, and naming the
    edge where the graph's shapes do not chain.
    """
    nir = _nir()
    dt = _check_dt(dt)
    if isinstance(graph, (str, os.PathLike)):
        graph = _read_graph(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph or a path, got {type(graph).__name__}")
    written = graph.metadata.get("dt") if isinstance(graph.metadata, dict) else None
    if isinstance(written, (int, float, np.number)) and not math.isclose(float(written), dt, rel_tol=1e-9):
        warnings.warn(f"the graph's metadata says it was written with dt={float(written):g}, importing with "
                      f"dt={dt:g} changes every decay (beta = 1 - dt / tau)", stacklevel=2)
    if surrogate is not None:
        surrogates.check_surrogate(surrogate)
    if if_mode not in IF_MODES:
        raise ValueError(f"if_mode must be one of {IF_MODES}, got {if_mode!r}")
    opts = dict(surrogate=surrogate, detach_reset=detach_reset, backend=backend)

    # Reject unsupported nodes first, naming them (also inside subgraphs).
    def check_types(g, prefix=""):
        for name, node in g.nodes.items():
            if type(node).__name__ not in _SUPPORTED or not isinstance(node, nir.NIRNode):
                raise NIRConversionError(
                    f"NIR node {prefix + name!r} has type {type(node).__name__}, which neurosim cannot import; "
                    f"supported node types: {', '.join(_SUPPORTED)}")
            if isinstance(node, nir.NIRGraph):
                check_types(node, prefix + name + ".")

    check_types(graph)
    nodes, edges = _remove_passthrough(*_flatten_graph(graph))
    edges = list(dict.fromkeys(edges))  # duplicate edges carry nothing more
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRConversionError(f"the graph must have exactly one Input and one Output node, has Input "
                                 f"{inputs} and Output {outputs}")
    input_node, output_node = inputs[0], outputs[0]
    preds, succs = defaultdict(list), defaultdict(list)
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    neuron_types = (nir.LIF, nir.CubaLIF)
    dense_types = (nir.Affine, nir.Linear)

    # Recurrence: W with exactly one input and one output, both the same LIF/CubaLIF.
    recurrent = defaultdict(list)  # neuron -> [W names]
    for name, node in nodes.items():
        if isinstance(node, dense_types) and len(preds[name]) == 1 and preds[name] == succs[name] \
                and isinstance(nodes[preds[name][0]], neuron_types):
            recurrent[preds[name][0]].append(name)
    removed = {w for ws in recurrent.values() for w in ws}
    folded = {}  # LIF -> the Affine/Linear folded in as its input weights
    for neuron, ws in recurrent.items():
        if isinstance(nodes[neuron], nir.LIF):
            ff = [p for p in preds[neuron] if p not in ws]
            if len(ff) == 1 and isinstance(nodes[ff[0]], dense_types) and succs[ff[0]] == [neuron]:
                folded[neuron] = ff[0]
                removed.add(ff[0])

    def sources(name):  # the feed-forward inputs of a node after the recurrence is taken out
        out = []
        for p in preds[name]:
            if p in recurrent.get(name, ()):
                continue
            out.extend(preds[p] if folded.get(name) == p else [p])
        return out

    live = [k for k in nodes if k not in removed and k != input_node]
    graph_inputs = {k: sources(k) for k in live}
    for k in live:
        if not graph_inputs[k]:
            raise NIRConversionError(f"NIR node {k!r} ({type(nodes[k]).__name__}) has no incoming edge")
        for p in graph_inputs[k]:
            if p in removed:
                raise NIRConversionError(f"NIR node {p!r} is used as recurrent weights and also feeds {k!r}; "
                                         "neurosim cannot import that")
    # Topological order (Kahn); whatever is left is a cycle neurosim does not understand.
    order, ready = [], [input_node]
    indegree = {k: len(graph_inputs[k]) for k in live}
    consumers = defaultdict(list)
    for k in live:
        for p in graph_inputs[k]:
            consumers[p].append(k)
    while ready:
        k = ready.pop(0)
        if k != input_node:
            order.append(k)
        for c in consumers[k]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    stuck = [k for k in live if indegree[k] > 0]
    if stuck:
        raise NIRConversionError(
            f"the graph has a cycle through {stuck} that is not recurrence of the form neuron -> "
            "Affine/Linear -> same neuron (LIF or CubaLIF); neurosim cannot import it")

    # Shapes (per time step) and modules, in order.
    size = {input_node: _input_shape(input_node, nodes[input_node])}
    modules, names = {}, {}
    keys = {}

    reserved = set(dir(nn.ModuleDict()))

    def key_of(name):  # a ModuleDict key: no dots, not empty, no clash with a module attribute
        if name not in keys:
            k = name.replace(".", "_") or "_"
            while k in names or k in reserved:
                k += "_"
            keys[name], names[k] = k, name
        return keys[name]

    key_of(input_node)
    for name in order:
        node = nodes[name]
        where = f"NIR node {name!r} ({type(node).__name__})"
        in_shapes = {size[p] for p in graph_inputs[name]}
        if len(in_shapes) != 1:
            raise NIRConversionError(f"{where}: its inputs have different shapes "
                                     f"{ {p: list(size[p]) for p in graph_inputs[name]} }")
        in_shape = in_shapes.pop()
        edge = f"edge ({graph_inputs[name][0]!r}, {name!r})"
        if name not in folded:  # (a folded node's inputs reach it through its input weights)
            _check_declared_input(where, node, in_shape, edge)
        if isinstance(node, nir.Output):
            size[name] = in_shape
            continue
        if isinstance(node, (nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Flatten)):
            modules[key_of(name)] = module = _per_step(where, node, in_shape, edge)
            size[name] = module.out_shape
            continue
        if len(in_shape) > 1 and isinstance(node, (*dense_types, nir.Scale)):
            raise NIRConversionError(f"{where}: takes [n] inputs, gets shape {list(in_shape)} along the {edge}; "
                                     "a Flatten node must come first")
        n_in = math.prod(in_shape)
        if isinstance(node, (nir.Threshold, nir.Delay)):  # elementwise, any shape
            if isinstance(node, nir.Threshold):
                modules[key_of(name)] = Threshold(_array(where, node, "threshold", n_in), surrogate)
            else:
                modules[key_of(name)] = Delay(_delay_steps(where, _array(where, node, "delay", n_in), dt))
            size[name] = in_shape
            continue
        if isinstance(node, nir.CubaLI):
            module = _cuba_li(where, node, n_in, dt, backend)
            modules[key_of(name)] = module if len(in_shape) == 1 else Shaped(module, in_shape)
            size[name] = in_shape
            continue
        if isinstance(node, nir.IF) and if_mode == "sinabs":
            thr = _array(where, node, "v_threshold", n_in)
            if np.any(thr <= 0):
                raise NIRConversionError(f"{where}: v_threshold must be > 0, got minimum {thr.min():g}")
            module = MultiSpikeIF(n_in, thr, surrogate)
            modules[key_of(name)] = module if len(in_shape) == 1 else Shaped(module, in_shape)
            size[name] = in_shape
            continue
        if isinstance(node, nir.IF):
            n, thr = n_in, _threshold(where, node, n_in)
            gain = _snap_gain(_array(where, node, "r", n) * dt)  # v += r dt x: Euler of dv/dt = R I
            layer = LIF(n, 1.0, thr.astype(np.float32), reset="zero", **opts)
            module = layer if np.all(gain == 1) else ScaledInput(layer, gain, np.zeros(n))
            modules[key_of(name)] = module if len(in_shape) == 1 else Shaped(module, in_shape)
            size[name] = in_shape
            continue
        if isinstance(node, dense_types):
            module = _torch_linear(where, node, isinstance(node, nir.Affine))
            if module.in_features != n_in:
                raise NIRConversionError(f"{where}: weight takes {module.in_features} inputs, gets {n_in}")
            n_out = module.out_features
        elif isinstance(node, nir.Scale):
            scale = _array(where, node, "scale", n_in)
            module, n_out = Scale(scale), n_in
        elif isinstance(node, nir.LI):
            n, beta, _, gain, offset = _neuron_params(where, node, n_in, dt)
            layer = LI(n, beta.astype(np.float32), backend=backend)
            module = layer if np.all(gain == 1) and np.all(offset == 0) else ScaledInput(layer, gain, offset)
            n_out = n
        elif isinstance(node, nir.LIF):
            n_hint = _weight_bias(where, nodes[folded[name]])[0].shape[0] if name in folded else n_in
            n, beta, thr, gain, offset = _neuron_params(where, node, n_hint, dt)
            if name in recurrent:
                module, n_in = _recurrent_lif(where, nodes, name, folded.get(name), recurrent[name], n, n_in, beta,
                                              thr, gain, offset, opts)
            else:
                layer = LIF(n, beta.astype(np.float32), thr.astype(np.float32), reset="zero", **opts)
                module = layer if np.all(gain == 1) and np.all(offset == 0) else ScaledInput(layer, gain, offset)
            n_out = n
        else:  # CubaLIF
            module, n_out = _cuba_lif(where, nodes, node, recurrent.get(name, []), n_in, dt, opts)
        if not isinstance(module, nn.Linear) and not isinstance(module, RecurrentLIF) and n_in != n_out:
            raise NIRConversionError(f"{where}: has {n_out} neurons, gets {n_in} inputs")
        if isinstance(module, RecurrentLIF) and module.n_in != n_in:
            raise NIRConversionError(f"{where}: input weights take {module.n_in} inputs, get {n_in}")
        if len(in_shape) > 1:  # a neuron node on [C, H, W]: same shape out
            module, n_out = Shaped(module, in_shape), in_shape
        modules[key_of(name)] = module
        size[name] = n_out if isinstance(n_out, tuple) else (n_out,)
    order = [k for k in order if k != output_node]
    return NIRNetwork(
        modules={key_of(k): modules[key_of(k)] for k in order},
        inputs={key_of(k): [key_of(p) for p in graph_inputs[k]] for k in order},
        order=[key_of(k) for k in order],
        input_node=key_of(input_node),
        output_inputs=[key_of(p) for p in graph_inputs[output_node]],
        n_in=size[input_node], n_out=size[output_node], nir_names=names)


def _read_graph(path):
    """``nir.read(path)``; a file that is there but is no NIR graph is refused naming it."""
    nir = _nir()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{os.fspath(path)}: no such NIR file")
    try:
        return nir.read(path)
    except Exception as err:  # h5py and nir raise whatever the damage makes them (OSError, KeyError, ...)
        raise DamagedFileError(f"{os.fspath(path)}: not a readable NIR graph ({type(err).__name__}: {err})",
                               path=os.fspath(path)) from None


def _declared_shape(types):
    """The shape a node's ``input_type``/``output_type`` declares (a tuple), or None."""
    value = next(iter(types.values())) if isinstance(types, dict) and types else types
    if value is None:
        return None
    shape = np.asarray(value).reshape(-1)
    return tuple(int(s) for s in shape) if shape.size else None


def _input_shape(name: str, node) -> tuple:
    """The per-step shape of an Input node: ``(n,)`` or e.g. ``(C, H, W)``; leading 1s (a batch
    dimension that Norse's exporter writes, ``[1, n]``) are dropped."""
    shape = list(_declared_shape(node.input_type) or ())
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    if not shape or min(shape) < 1:
        raise NIRConversionError(f"Input node {name!r}: its input_type must be a shape with sizes >= 1 (per time "
                                 f"step: [n] or e.g. [channels, height, width]), got {tuple(shape)}")
    return tuple(shape)


def _check_declared_input(where: str, node, in_shape: tuple, edge: str) -> None:
    """A node that declares its input shape must get that shape: the graph's shapes chain."""
    declared = _declared_shape(getattr(node, "input_type", None))
    if declared is not None and isinstance(node, (_nir().Delay, _nir().Threshold)) and \
            math.prod(declared) == math.prod(in_shape):
        return  # elementwise: a flat [n] of parameters fits any shape of n elements (C order)
    if declared is not None and math.prod(declared) == math.prod(in_shape) and len(declared) != len(in_shape):
        declared = in_shape if declared[0] == 1 or in_shape[0] == 1 else declared  # [1, n] against [n]
    if declared is not None and declared != in_shape:
        raise NIRConversionError(f"{where}: declares input shape {list(declared)} but gets {list(in_shape)} along "
                                 f"the {edge}; the graph's shapes do not chain")


def _pair(where: str, node, field: str, dims: int) -> tuple:
    value = getattr(node, field)
    if isinstance(value, str):
        return value
    arr = np.atleast_1d(np.asarray(_host(value))).astype(np.int64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, dims)
    if arr.size != dims:
        raise NIRConversionError(f"{where}: {field} must have {dims} value(s), got {arr.tolist()}")
    return tuple(int(v) for v in arr)


def _per_step(where: str, node, in_shape: tuple, edge: str) -> PerStep:
    """A Conv1d/Conv2d/SumPool2d/AvgPool2d/Flatten node as a ``PerStep`` torch module."""
    nir = _nir()
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)
        rank = len(in_shape)
        start, end = start + rank if start < 0 else start, end + rank if end < 0 else end
        if not 0 <= start <= end < rank:
            raise NIRConversionError(f"{where}: start_dim {node.start_dim} / end_dim {node.end_dim} do not fit its "
                                     f"input shape {list(in_shape)} (the {edge})")
        out = in_shape[:start] + (math.prod(in_shape[start:end + 1]),) + in_shape[end + 1:]
        return PerStep(nn.Flatten(start + 1, end + 1), in_shape, out)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        dims = 1 if isinstance(node, nir.Conv1d) else 2
        w = _node_values(where, node, "weight")
        if w.ndim != dims + 2:
            raise NIRConversionError(f"{where}: weight must be [out, in / groups, {'k' if dims == 1 else 'kh, kw'}], "
                                     f"got shape {w.shape}")
        groups = int(np.asarray(_host(node.groups)).reshape(-1)[0]) if np.size(_host(node.groups)) else 1
        if len(in_shape) != dims + 1 or in_shape[0] != w.shape[1] * groups:
            raise NIRConversionError(f"{where}: takes [{w.shape[1] * groups}, {'L' if dims == 1 else 'H, W'}] inputs "
                                     f"({w.shape[1]} channels x {groups} groups), gets shape {list(in_shape)} along "
                                     f"the {edge}; the graph's shapes do not chain")
        check_parameter_memory(f"{where}: weights", w.size)
        cls = nn.Conv1d if dims == 1 else nn.Conv2d
        b = _node_values(where, node, "bias")
        module = cls(w.shape[1] * groups, w.shape[0], w.shape[2:], stride=_pair(where, node, "stride", dims),
                     padding=_pair(where, node, "padding", dims), dilation=_pair(where, node, "dilation", dims),
                     groups=groups, bias=bool(np.any(b != 0)))
        with torch.no_grad():
            module.weight.copy_(torch.as_tensor(w))
            if module.bias is not None:
                module.bias.copy_(torch.as_tensor(np.broadcast_to(b.reshape(-1), (w.shape[0],)).copy()))
    else:  # SumPool2d (a sum: an average pool without the division) or AvgPool2d
        if len(in_shape) != 3:
            raise NIRConversionError(f"{where}: takes [C, H, W] inputs, gets shape {list(in_shape)} along the {edge}")
        k, s, p = (_pair(where, node, f, 2) for f in ("kernel_size", "stride", "padding"))
        divisor = 1 if isinstance(node, nir.SumPool2d) else None
        module = nn.AvgPool2d(k, s, p, divisor_override=divisor)
    with torch.no_grad():
        out = tuple(int(v) for v in module(torch.zeros(1, *in_shape)).shape[1:])
    if min(out) < 1:
        raise NIRConversionError(f"{where}: gives an empty output {list(out)} for input shape {list(in_shape)}")
    return PerStep(module, in_shape, out)


def _recurrent_lif(where, nodes, name, ff_name, w_names, n, n_in, beta, thr, gain, offset, opts):
    """A neurosim RecurrentLIF for LIF ``name`` with recurrent weights ``w_names`` (summed) and
    the optional feed-forward Affine/Linear ``ff_name`` as its input weights."""
    w_rec, b_rec, _ = _recurrent_weights(where, nodes, w_names, n)
    if ff_name is not None:
        w_in, b_in = _weight_bias(f"NIR node {ff_name!r}", nodes[ff_name])
        if w_in.shape[0] != n:
            raise NIRConversionError(f"NIR node {ff_name!r} gives {w_in.shape[0]} outputs to {where} with {n} neurons")
        n_in = w_in.shape[1]
    else:
        if n_in != n:
            raise NIRConversionError(f"{where}: has {n} neurons, gets {n_in} inputs")
        w_in, b_in = np.eye(n), None
    # u = beta v + gain (W_in x + b_in + W_rec s + b_rec) + offset
    bias = gain * ((b_in if b_in is not None else 0.0) + b_rec) + offset
    has_bias = b_in is not None or np.any(bias != 0)
    layer = RecurrentLIF(n_in, n, beta.astype(np.float32), thr.astype(np.float32), bias=bool(has_bias),
                         reset="zero", **opts)
    with torch.no_grad():
        layer.input.weight.copy_(torch.as_tensor(gain[:, None] * w_in))
        if has_bias:
            layer.input.bias.copy_(torch.as_tensor(bias))
        layer.recurrent.weight.copy_(torch.as_tensor(gain[:, None] * w_rec))
    return layer, n_in


def _delay_steps(where: str, delay: np.ndarray, dt: float) -> np.ndarray:
    """Delays (in the graph's time unit) as whole steps of ``dt``; other values are refused."""
    steps = delay / dt
    whole = np.rint(steps)
    if np.any(delay < 0) or np.any(np.abs(steps - whole) > _WHOLE_STEP_RTOL * np.maximum(1.0, whole)):
        bad = delay[(delay < 0) | (np.abs(steps - whole) > _WHOLE_STEP_RTOL * np.maximum(1.0, whole))][0]
        raise NIRConversionError(f"{where}: delays must be whole multiples of dt = {dt:g} and >= 0 (neurosim runs "
                                 f"in steps of dt), got {bad:g}; pass the dt the graph was written with")
    return whole.astype(np.int64)


def _cuba_li(where, node, n_in, dt, backend):
    tau_syn = _array(where, node, "tau_syn", n_in)
    tau_mem = _array(where, node, "tau_mem", n_in)
    r, v_leak, w_in = (_array(where, node, f, n_in) for f in ("r", "v_leak", "w_in"))
    alpha, beta = _decay(where, tau_syn, dt, "tau_syn"), _decay(where, tau_mem, dt, "tau_mem")
    return CubaLI(n_in, alpha.astype(np.float32), beta.astype(np.float32), _snap_gain(w_in * dt / tau_syn),
                  _snap_gain(r * dt / tau_mem), v_leak * dt / tau_mem, backend=backend)


def _cuba_lif(where, nodes, node, w_names, n_in, dt, opts):
    tau_syn = _array(where, node, "tau_syn", n_in)
    n = tau_syn.shape[0]
    alpha = _decay(where, tau_syn, dt, "tau_syn")
    tau_mem = _array(where, node, "tau_mem", n)
    beta = _decay(where, tau_mem, dt, "tau_mem")
    r, v_leak = _array(where, node, "r", n), _array(where, node, "v_leak", n)
    w_in = _array(where, node, "w_in", n)
    thr = _threshold(where, node, n)
    rec = None
    if w_names:
        w_rec, b_rec, any_bias = _recurrent_weights(where, nodes, w_names, n)
        rec = nn.Linear(n, n, bias=any_bias)
        with torch.no_grad():
            rec.weight.copy_(torch.as_tensor(w_rec))
            if any_bias:
                rec.bias.copy_(torch.as_tensor(b_rec))
    module = CubaLIF(n, alpha.astype(np.float32), beta.astype(np.float32), thr.astype(np.float32),
                     syn_gain=_snap_gain(w_in * dt / tau_syn), mem_gain=_snap_gain(r * dt / tau_mem),
                     mem_offset=v_leak * dt / tau_mem, recurrent=rec, **opts)
    return module, n
