"""NIR export: ``neurosim.nn`` layers (in a ``torch.nn.Sequential``) or a ``NIRNetwork`` -> a
``nir.NIRGraph``. The conventions (Euler step, ``beta = 1 - dt / tau``, gains) are in
:mod:`neurosim.nn.nir`."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from neurosim.validation import check_flag

from .cuba_lif import CubaLIF
from .delays import DelayedLinear
from .layers import LI, LIF, RecurrentLIF
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

__all__ = ["export_nir"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _layer_beta(layer, n: int) -> np.ndarray:
    beta = layer.beta.detach().double()
    if isinstance(layer.beta, nn.Parameter):
        beta = beta.clamp(1e-6, 1.0)
    return _np(beta.expand(n)).astype(np.float64)


def _tau(where: str, beta: np.ndarray, dt: float, what: str = "beta") -> np.ndarray:
    if np.any(beta >= 1.0):
        raise NIRConversionError(
            f"{where}: {what} = 1 (no leak) has no finite NIR time constant tau = dt / (1 - {what}); "
            f"use {what} < 1")
    return dt / (1.0 - beta)


def _export_linear(name: str, module: nn.Linear):
    nir = _nir()
    w = _np(module.weight)
    if module.bias is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=_np(module.bias))


def _check_zero_reset(where: str, layer: LIF, strict: bool, node: str) -> None:
    """NIR's LIF and IF reset the membrane to v_reset: a layer with another reset is refused
    (``strict``) or exported as reset-to-zero with a warning."""
    if layer.reset == "zero":
        return
    msg = (f"{where}: NIR's {node} resets the membrane to v_reset (neurosim reset='zero'); this layer has "
           f"reset={layer.reset!r}, which NIR cannot express")
    if strict:
        raise NIRConversionError(msg + ". Train with reset='zero', or pass strict=False to export it as a "
                                       f"reset-to-zero {node} (its spikes will then differ)")
    warnings.warn(msg + "; exported as reset-to-zero", stacklevel=4)


def _export_lif(where: str, layer: LIF, dt: float, strict: bool, unit_resistance: bool, gain=None, offset=None):
    nir = _nir()
    n = layer.n
    _check_zero_reset(where, layer, strict, "LIF")
    beta = _layer_beta(layer, n)
    tau = _tau(where, beta, dt)
    thr = _np(layer.threshold.detach().double().expand(n)).astype(np.float64)
    g = np.ones(n) if gain is None else _np(gain.double()).astype(np.float64)
    off = np.zeros(n) if offset is None else _np(offset.double()).astype(np.float64)
    if unit_resistance:
        # Same spikes with r = 1: the NIR membrane is neurosim's times k = (dt / tau) / gain.
        k = (dt / tau) / g
        r, v_thr, v_leak = np.ones(n), thr * k, off / g
    else:
        r, v_thr, v_leak = g * tau / dt, thr, off * tau / dt
    return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=v_thr, v_reset=np.zeros(n))


def _export_li(where: str, layer: LI, dt: float, gain=None, offset=None):
    nir = _nir()
    n = layer.n
    tau = _tau(where, _layer_beta(layer, n), dt)
    g = np.ones(n) if gain is None else _np(gain.double()).astype(np.float64)
    off = np.zeros(n) if offset is None else _np(offset.double()).astype(np.float64)
    return nir.LI(tau=tau, r=g * tau / dt, v_leak=off * tau / dt)


def _export_if(where: str, layer: LIF, dt: float, strict: bool, gain=None):
    """A LIF without leak (beta = 1) as NIR's IF: ``v += r dt x``, reset to 0."""
    nir = _nir()
    n = layer.n
    _check_zero_reset(where, layer, strict, "IF")
    g = np.ones(n) if gain is None else _np(gain.double()).astype(np.float64)
    thr = _np(layer.threshold.detach().double().expand(n)).astype(np.float64)
    return nir.IF(r=g / dt, v_threshold=thr, v_reset=np.zeros(n))


def _pairs(values) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=np.int64))


def _export_per_step(where: str, module: PerStep):
    """A ``PerStep`` torch module (Conv1d, Conv2d, AvgPool2d, Flatten) as its NIR node."""
    nir = _nir()
    m, in_shape = module.module, module.in_shape
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if not isinstance(m.padding, tuple) or m.padding_mode != "zeros":
            raise NIRConversionError(f"{where}: NIR convolutions have numeric zero padding, this one has padding="
                                     f"{m.padding!r}, padding_mode={m.padding_mode!r}")
        cls = nir.Conv1d if isinstance(m, nn.Conv1d) else nir.Conv2d
        bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=_np(m.weight).dtype)
        spatial = in_shape[1] if isinstance(m, nn.Conv1d) else np.array(in_shape[1:])
        return cls(input_shape=spatial, weight=_np(m.weight), stride=_pairs(m.stride), padding=_pairs(m.padding),
                   dilation=_pairs(m.dilation), groups=m.groups, bias=bias)
    if isinstance(m, nn.AvgPool2d):
        if m.divisor_override not in (None, 1) or m.ceil_mode or (m.divisor_override is None and not m.count_include_pad):
            raise NIRConversionError(f"{where}: NIR has sum pooling (divisor_override=1) and average pooling "
                                     "(counting the padding, floor mode) only")
        cls = nir.SumPool2d if m.divisor_override == 1 else nir.AvgPool2d
        k = _pairs(m.kernel_size)
        return cls(kernel_size=np.resize(k, 2), stride=np.resize(_pairs(m.stride), 2),
                   padding=np.resize(_pairs(m.padding), 2))
    if isinstance(m, nn.Flatten):  # torch counts the batch (time x batch) dimension, NIR does not
        end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
        return nir.Flatten(input_type=np.array(in_shape), start_dim=m.start_dim - 1, end_dim=end)
    raise NIRConversionError(f"{where}: cannot export {type(m).__name__} applied per step; supported: Conv1d, "
                             "Conv2d, AvgPool2d (sum or average) and Flatten")


def _export_delayed_linear(name: str, where: str, layer: DelayedLinear, dt: float):
    """A ``DelayedLinear`` with integer delays (``sigma = 0``) as NIR nodes: ``<name>.fan`` (a 0/1
    Linear copying input i to synapse (j, i)), ``<name>.delay`` (a Delay per synapse) and
    ``<name>.weight`` (the weights, summing each output's synapses; Affine with the bias)."""
    nir = _nir()
    if layer.sigma != 0:
        raise NIRConversionError(f"{where}: NIR's Delay node delays by a fixed time; this layer spreads each weight "
                                 f"over time with sigma = {layer.sigma:g}. Anneal sigma to 0 (integer delays) first")
    n_in, n_out = layer.n_in, layer.n_out
    synapses = n_in * n_out  # synapse (j, i) is element j * n_in + i
    w = _np(layer.weight)
    fan = np.zeros((synapses, n_in), dtype=w.dtype)
    fan[np.arange(synapses), np.tile(np.arange(n_in), n_out)] = 1
    spread = np.zeros((n_out, synapses), dtype=w.dtype)
    spread[np.repeat(np.arange(n_out), n_in), np.arange(synapses)] = w.reshape(-1)
    delays = _np(layer.integer_delays()).astype(np.float64).reshape(-1) * dt
    out = nir.Linear(weight=spread) if layer.bias is None else nir.Affine(weight=spread, bias=_np(layer.bias))
    nodes = {f"{name}.fan": nir.Linear(weight=fan), f"{name}.delay": nir.Delay(delay=delays), f"{name}.weight": out}
    return nodes, f"{name}.fan", f"{name}.weight", [(f"{name}.fan", f"{name}.delay"), (f"{name}.delay", f"{name}.weight")]


def _reshaped(node, shape: tuple):
    """A neuron node's per-neuron parameters laid out in ``shape`` (C order), as the graph's
    other nodes see the neurons."""
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset", "tau_syn", "tau_mem", "w_in"):
        value = getattr(node, field, None)
        if isinstance(value, np.ndarray) and value.size == int(np.prod(shape)):
            setattr(node, field, value.reshape(shape))
    node.input_type = {"input": np.array(shape)}
    node.output_type = {"output": np.array(shape)}
    return node


def _export_module(name: str, module: nn.Module, dt: float, strict: bool, unit_resistance: bool):
    """NIR nodes for one module: ``(nodes, entry, exit, edges)``."""
    nir = _nir()
    where = f"layer {name!r} ({type(module).__name__})"
    if isinstance(module, PerStep):
        return {name: _export_per_step(where, module)}, name, name, []
    if isinstance(module, Shaped):
        if isinstance(module.layer, RecurrentLIF) or (isinstance(module.layer, CubaLIF) and module.layer.recurrent
                                                      is not None):
            raise NIRConversionError(f"{where}: recurrent layers on shaped inputs cannot be exported")
        nodes, entry, exit_, edges = _export_module(name, module.layer, dt, strict, unit_resistance)
        return {k: _reshaped(v, module.shape) for k, v in nodes.items()}, entry, exit_, edges
    if isinstance(module, DelayedLinear):
        return _export_delayed_linear(name, where, module, dt)
    if isinstance(module, Threshold):
        return {name: nir.Threshold(threshold=_np(module.threshold.double()).astype(np.float64))}, name, name, []
    if isinstance(module, Delay):
        return {name: nir.Delay(delay=_np(module.steps).astype(np.float64) * dt)}, name, name, []
    if isinstance(module, CubaLI):
        n = module.n
        tau_syn = _tau(where, _layer_beta(module.synapse.layer, n), dt, "alpha")
        tau_mem = _tau(where, _layer_beta(module.membrane.layer, n), dt)
        return {name: nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem,
                                 r=_np(module.membrane.gain.double()) * tau_mem / dt,
                                 v_leak=_np(module.membrane.offset.double()) * tau_mem / dt,
                                 w_in=_np(module.synapse.gain.double()) * tau_syn / dt)}, name, name, []
    if isinstance(module, MultiSpikeIF):
        # Sinabs's reading of an IF node; import with if_mode="sinabs" to run it this way again
        thr = _np(module.threshold.double()).astype(np.float64)
        return {name: nir.IF(r=np.ones(module.n), v_threshold=thr, v_reset=np.zeros(module.n))}, name, name, []
    if isinstance(module, LIF) and not isinstance(module, RecurrentLIF) and np.all(_layer_beta(module, module.n) >= 1.0):
        return {name: _export_if(where, module, dt, strict)}, name, name, []
    if isinstance(module, ScaledInput) and isinstance(module.layer, LIF) and \
            np.all(_layer_beta(module.layer, module.layer.n) >= 1.0) and not torch.any(module.offset != 0):
        return {name: _export_if(where, module.layer, dt, strict, module.gain)}, name, name, []
    if isinstance(module, nn.Linear):
        return {name: _export_linear(name, module)}, name, name, []
    if isinstance(module, Scale):
        return {name: nir.Scale(scale=_np(module.scale).astype(np.float64))}, name, name, []
    base = name[:-4] if name.endswith(".lif") else name  # re-exporting an imported recurrent node
    if isinstance(module, RecurrentLIF):
        w_in, lif, w_rec = f"{base}.w_in", f"{base}.lif", f"{base}.w_rec"
        nodes = {w_in: _export_linear(w_in, module.input),
                 lif: _export_lif(where, module, dt, strict, unit_resistance),
                 w_rec: nir.Linear(weight=_np(module.recurrent.weight))}
        return nodes, w_in, lif, [(w_in, lif), (lif, w_rec), (w_rec, lif)]
    if isinstance(module, LIF):
        return {name: _export_lif(where, module, dt, strict, unit_resistance)}, name, name, []
    if isinstance(module, LI):
        return {name: _export_li(where, module, dt)}, name, name, []
    if isinstance(module, ScaledInput):
        layer = module.layer
        if isinstance(layer, LIF):
            node = _export_lif(where, layer, dt, strict, unit_resistance, module.gain, module.offset)
        else:
            node = _export_li(where, layer, dt, module.gain, module.offset)
        return {name: node}, name, name, []
    if isinstance(module, CubaLIF):
        n = module.n
        alpha = _layer_beta(module.synapse, n)
        beta = _layer_beta(module.neuron, n)
        tau_syn = _tau(where, alpha, dt, "alpha")
        tau_mem = _tau(where, beta, dt)
        node = nir.CubaLIF(
            tau_syn=tau_syn, tau_mem=tau_mem,
            r=_np(module.mem_gain.double()) * tau_mem / dt,
            v_leak=_np(module.mem_offset.double()) * tau_mem / dt,
            v_threshold=_np(module.neuron.threshold.detach().double().expand(n)).astype(np.float64),
            v_reset=np.zeros(n),
            w_in=_np(module.syn_gain.double()) * tau_syn / dt)
        if module.recurrent is None:
            return {name: node}, name, name, []
        lif, w_rec = f"{base}.lif", f"{base}.w_rec"
        return ({lif: node, w_rec: _export_linear(w_rec, module.recurrent)}, lif, lif,
                [(lif, w_rec), (w_rec, lif)])
    raise NIRConversionError(
        f"{where}: cannot export this module to NIR; supported: torch.nn.Linear, neurosim.nn.LIF, LI, "
        "RecurrentLIF, CubaLIF and the importer's ScaledInput and Scale (in a torch.nn.Sequential)")


def _size_in(module) -> tuple:
    """The per-step input shape a module takes."""
    if isinstance(module, PerStep):
        return module.in_shape
    if isinstance(module, Shaped):
        return module.shape
    if isinstance(module, nn.Linear):
        return (module.in_features,)
    if isinstance(module, (RecurrentLIF, DelayedLinear)):
        return (module.n_in,)
    if isinstance(module, Scale):
        return (module.scale.numel(),)
    if isinstance(module, (Threshold, Delay)):  # elementwise: any shape with this many elements
        return ((module.threshold if isinstance(module, Threshold) else module.steps).numel(),)
    return (module.n,)


def _size_out(module) -> tuple:
    if isinstance(module, DelayedLinear):
        return (module.n_out,)
    if isinstance(module, PerStep):
        return module.out_shape
    if isinstance(module, Shaped):
        return module.shape
    if isinstance(module, nn.Linear):
        return (module.out_features,)
    if isinstance(module, Scale):
        return (module.scale.numel(),)
    return (module.n,)


def _flatten_sequential(module: nn.Module) -> list:
    """The layers of nested Sequentials in order, ``nn.Identity`` left out."""
    items = []
    for m in module:
        if isinstance(m, nn.Sequential):
            items.extend(_flatten_sequential(m))
        elif not isinstance(m, nn.Identity):
            items.append(m)
    return items


def export_nir(module: nn.Module, dt: float = 1.0, *, strict: bool = True, unit_resistance: bool = False):
    """The NIR graph of a trained network.

    Parameters
    ----------
    module : a ``torch.nn.Sequential`` (nested ones are flattened, ``nn.Identity`` left out) of
        ``torch.nn.Linear`` (-> ``nir.Affine``, or ``nir.Linear`` without bias),
        ``neurosim.nn.LIF`` (-> ``nir.LIF``; with ``beta = 1``, no leak, ``nir.IF``), ``LI``
        (-> ``nir.LI``), ``PerStep`` around ``torch.nn.Conv1d``/``Conv2d`` (-> ``nir.Conv1d``/
        ``Conv2d``), ``AvgPool2d`` (-> ``nir.SumPool2d`` with ``divisor_override=1``, else
        ``nir.AvgPool2d``) or ``Flatten`` (-> ``nir.Flatten``), ``Shaped`` around a neuron layer
        (its node's parameters laid out in the layer's shape), ``MultiSpikeIF`` (-> ``nir.IF``,
        which ``import_nir(..., if_mode="sinabs")`` runs as it), ``RecurrentLIF`` (->
        ``<i>.w_in`` Affine/Linear, ``<i>.lif`` LIF and ``<i>.w_rec`` Linear with the edges
        ``w_in -> lif -> w_rec -> lif``), ``CubaLIF`` (-> ``nir.CubaLIF``) and the importer's
        ``ScaledInput``/``Scale``; a single such layer; or a ``NIRNetwork`` from ``import_nir``.
    dt : the time step, in the unit the graph's time constants should have (> 0). Each layer's
        ``beta`` becomes ``tau = dt / (1 - beta)`` and ``r = tau / dt`` (input gain 1). Use
        ``dt=1e-4`` for a graph that ``snntorch.import_from_nir`` should read (it assumes it).
    strict : refuse LIF layers with ``reset="subtract"``/``"none"`` (NIR's LIF resets to
        ``v_reset``); ``False`` exports them as reset-to-zero with a warning.
    unit_resistance : write LIF nodes with ``r = 1`` and ``v_threshold`` (and ``v_leak``) scaled
        by ``dt / tau`` instead: the same spikes, the NIR membrane scaled by ``dt / tau``. This is
        the form Norse writes and the only one it reads (``norse.torch.from_nir`` ignores ``r``
        of LIF nodes). LI and CubaLIF nodes keep ``r = tau / dt``.

    Returns a ``nir.NIRGraph`` with nodes ``"input"``, ``"output"`` and one node per layer named
    by its position in the flattened sequence (``"0"``, ``"1"``, ...); shapes are per time step (``[n]``,
    or e.g. ``[C, H, W]``). Weights keep
    their dtype; time constants, ``r``, thresholds are float64 ``[n]`` arrays. The surrogate and
    ``detach_reset`` are training choices NIR does not store.
    """
    nir = _nir()
    dt = _check_dt(dt)
    strict, unit_resistance = check_flag("strict", strict), check_flag("unit_resistance", unit_resistance)
    if isinstance(module, NIRNetwork):
        return _export_network(module, dt, strict, unit_resistance)
    if isinstance(module, nn.Sequential):
        items = [(str(i), m) for i, m in enumerate(_flatten_sequential(module))]
        if not items:
            raise NIRConversionError("cannot export an empty torch.nn.Sequential")
    elif isinstance(module, nn.Module):
        items = [("0", module)]
    else:
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    # "input" first, "output" last: nirtorch (snnTorch's importer) walks the nodes in this order
    # and fails on a recurrent subgraph met before its input is defined.
    nodes, edges = {"input": nir.Input(input_type=np.array(_size_in(items[0][1])))}, []
    previous, n_prev = "input", None
    for name, m in items:
        sub_nodes, entry, exit_, sub_edges = _export_module(name, m, dt, strict, unit_resistance)
        n_in = _size_in(m)
        if isinstance(m, (Threshold, Delay)) and n_prev is not None and math.prod(n_prev) == n_in[0]:
            n_in = n_prev  # elementwise layers keep the shape they get
        if n_prev is not None and n_in != n_prev:
            raise NIRConversionError(f"layer {name!r} ({type(m).__name__}) takes inputs of shape {list(n_in)}, "
                                     f"the layer before gives {list(n_prev)}")
        nodes.update(sub_nodes)
        edges.extend(sub_edges)
        edges.append((previous, entry))
        previous, n_prev = exit_, (n_in if isinstance(m, (Threshold, Delay)) else _size_out(m))
    edges.append((previous, "output"))
    nodes["output"] = nir.Output(output_type=np.array(n_prev))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "neurosim", "dt": dt}, type_check=False)


def _export_network(net: NIRNetwork, dt: float, strict: bool, unit_resistance: bool):
    nir = _nir()
    input_name, output_name = net.nir_names[net.input_node], "output"
    nodes, edges, entry, exit_ = {input_name: nir.Input(input_type=np.array(net.in_shape))}, [], {}, {}
    for key in net.order:
        name = net.nir_names[key]
        sub_nodes, entry[key], exit_[key], sub_edges = _export_module(name, net.nodes[key], dt, strict,
                                                                      unit_resistance)
        nodes.update(sub_nodes)
        edges.extend(sub_edges)
    entry[net.input_node] = exit_[net.input_node] = input_name
    while output_name in nodes or output_name == input_name:
        output_name += "_"
    for key in net.order:
        edges.extend((exit_[src], entry[key]) for src in net.inputs[key])
    edges.extend((exit_[src], output_name) for src in net.output_inputs)
    nodes[output_name] = nir.Output(output_type=np.array(net.out_shape))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "neurosim", "dt": dt}, type_check=False)
