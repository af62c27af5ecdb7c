"""NIR (Neuromorphic Intermediate Representation) export and import for ``neurosim.nn``.

    graph = export_nir(torch.nn.Sequential(torch.nn.Linear(20, 64), snn.LIF(64, reset="zero"),
                                           torch.nn.Linear(64, 10), snn.LI(10)), dt=1e-4)
    nir.write("net.nir", graph)
    net = import_nir(nir.read("net.nir"), dt=1e-4)     # a NIRNetwork
    out, state = net(x)                                 # x: [T, batch, 20] -> out: [T, batch, 10]

NIR describes each neuron by an ODE in continuous time:

    LI       tau dv/dt = (v_leak - v) + r I
    LIF      tau dv/dt = (v_leak - v) + r I;   z = H(v - v_threshold);   v -> v_reset where z = 1
    CubaLIF  tau_syn dI/dt = -I + w_in S;   tau_mem dv/dt = (v_leak - v) + r I;   spike/reset as LIF

neurosim steps them by forward Euler with step ``dt``, the discretisation snnTorch
(``snntorch.export_nir`` / ``import_nir``) and Norse (``LIFBoxCell``, ``LIBoxCell``, its
CubaLIF import) use:

    v[t] = v[t-1] + dt/tau (v_leak - v[t-1] + r I[t])
         = beta v[t-1] + (r dt/tau) I[t] + (dt/tau) v_leak,        beta = 1 - dt/tau

so **beta = 1 - dt/tau** (not ``exp(-dt/tau)``; ``tau = dt / (1 - beta)``) and the input is
multiplied by the gain ``r dt/tau``. The exporter writes ``r = tau/dt`` (gain 1, as snnTorch
does), so the NIR membrane is neurosim's membrane. For CubaLIF, with ``alpha = 1 - dt/tau_syn``:

    i[t] = alpha i[t-1] + (w_in dt/tau_syn) S[t]
    u[t] = beta v[t-1] + (r dt/tau_mem) i[t] + (dt/tau_mem) v_leak

(the membrane takes the current of the same step, as snnTorch's ``Synaptic`` and Norse do).
Spikes are strict (``v > v_threshold``) and the membrane is set to ``v_reset`` in the step of
the spike: neurosim's ``LIF(reset="zero")``. neurosim's initial state is 0 for every variable.

Recurrence is written as graph edges: ``lif -> w_rec -> lif`` with ``w_rec`` an ``Affine`` or
``Linear``; the recurrent input at step t is ``w_rec`` applied to the spikes of step t-1 (the
spikes before step 0 are 0, so a bias of ``w_rec`` acts from step 0 on, as in snnTorch's
``RLeaky``/``RSynaptic``). The exporter writes a ``RecurrentLIF`` as the nodes
``<i>.w_in -> <i>.lif``, ``<i>.lif -> <i>.w_rec -> <i>.lif`` (the flat, dotted form of the
NIR paper's graphs and of snnTorch's export).

Units: ``dt`` is in the unit of the graph's time constants. snnTorch always exports and imports
with ``dt = 1e-4`` (its ``tau = 1e-4 / (1 - beta)``); Norse's ``to_nir`` writes
``tau = dt / tau_mem_inv`` (``dt * tau_mem``), which is the time constant only for ``dt = 1``.
Pass the ``dt`` the graph was written with: a wrong ``dt`` changes every ``beta``.

Not in NIR, so not exported: the surrogate, ``detach_reset`` and the backend (``import_nir``
takes them as arguments). NIR's LIF only resets to a value, so a layer with
``reset="subtract"`` or ``"none"`` is refused unless ``strict=False``.

With the peers (``tests/test_nn_nir.py`` checks each of these; snnTorch 1.0, Norse 1.1,
nirtorch 2.6):

- ``snntorch.import_from_nir`` reads ``export_nir(net, dt=1e-4)`` of feed-forward networks
  exactly (it assumes dt = 1e-4 and needs one threshold per layer). It mis-wires recurrent
  graphs: its subgraph routes the layer's input through ``w_rec``.
- ``norse.torch.from_nir(graph, dt=dt)`` ignores ``r`` of LIF nodes (it always applies the gain
  ``dt / tau``): export with ``unit_resistance=True`` for Norse; feed-forward and recurrent
  LIF graphs then give the same spikes. Norse reads no LI nodes.
- Graphs from snnTorch (``Leaky``, ``RLeaky``, ``Synaptic`` with ``reset_mechanism="zero",
  reset_delay=False``; import with ``dt=1e-4``) and from Norse (``LIFBoxCell``, ``LIBoxCell``
  written with ``dt=1``) import into the same outputs. nirtorch-run graphs (both peers'
  importers) feed 0 from a recurrent node before its first output, so there a recurrent bias
  acts from step 1 on.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurosim.errors import DamagedFileError
from neurosim.validation import as_real_array, check_flag

from . import surrogate as surrogates
from .layers import (FLOAT32_MAX, LI, LIF, LIFState, RecurrentLIF, check_finite_result, check_finite_state,
                     check_parameter_memory, check_sequence, check_size, check_state)

__all__ = ["export_nir", "import_nir", "NIRNetwork", "CubaLIF", "CubaLIFState", "ScaledInput", "Scale",
           "NIRConversionError"]

# An input gain r dt / tau this close to 1 is taken as exactly 1: exporters write r = tau / dt
# in float32 (snnTorch's r = 9.99999762 for tau / dt = 10), which is rounding, not a gain.
_UNIT_GAIN_RTOL = 1e-6


class NIRConversionError(ValueError):
    """A graph or module that cannot be converted; the message names the node or layer."""


def _nir():
    try:
        import nir
    except ImportError as err:  # pragma: no cover - nir is part of the torch extra
        raise ImportError("neurosim.nn.nir needs the 'nir' package (pip install nir)") from err
    return nir


def _check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating, np.integer)):
        raise TypeError(f"dt must be a number (the time step, in the unit of the graph's tau), got {dt!r}")
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt}")
    return dt


# ---------------------------------------------------------------------------------------------
# Torch modules the importer builds (and the exporter understands)
# ---------------------------------------------------------------------------------------------


def _host(value):
    """A tensor as a numpy array (other values as they are), for the numpy-side checks."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def _vector(name: str, value, n: int) -> torch.Tensor:
    """A finite scalar or ``[n]`` value as a float32 ``[n]`` tensor (NaN fails ``<=`` too)."""
    arr = as_real_array(name, _host(value))
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n) or not np.all(np.abs(arr) <= FLOAT32_MAX):
        raise ValueError(f"{name} must be a finite scalar or have shape [{n}], within float32's range, "
                         f"got {value!r:.80}")
    return torch.as_tensor(np.broadcast_to(arr, (n,)).copy()).float()


class Scale(nn.Module):
    """Elementwise scale ``y = x * scale`` (NIR ``Scale``); ``scale`` is ``[n]``."""

    def __init__(self, scale):
        super().__init__()
        scale = as_real_array("scale", _host(scale))
        if scale.ndim != 1 or scale.size == 0:
            raise ValueError(f"scale must be a 1-D array [n] with n >= 1, got shape {scale.shape}")
        self.register_buffer("scale", _vector("scale", scale, scale.size))

    def forward(self, x):
        return x * self.scale.to(x)


class ScaledInput(nn.Module):
    """A neurosim ``LIF`` or ``LI`` whose input is ``gain * x + offset`` (both ``[n]``).

    This is how the importer carries a NIR node's input gain ``r dt / tau`` and leak drive
    ``(dt / tau) v_leak`` when they are not 1 and 0. ``forward(x [T, B, n], state)`` returns the
    layer's ``(output, state)``.
    """

    def __init__(self, layer: nn.Module, gain, offset):
        super().__init__()
        if not isinstance(layer, (LIF, LI)) or isinstance(layer, RecurrentLIF):
            raise TypeError(f"ScaledInput wraps a neurosim LIF or LI, got {type(layer).__name__}")
        self.layer = layer
        self.register_buffer("gain", _vector("gain", gain, layer.n))
        self.register_buffer("offset", _vector("offset", offset, layer.n))

    @property
    def n(self) -> int:
        return self.layer.n

    def forward(self, x, state=None):
        check_sequence(type(self.layer).__name__, x, self.layer.n)
        return self.layer(x * self.gain.to(x) + self.offset.to(x), state)


class CubaLIFState(NamedTuple):
    """Synaptic current ``i``, membrane after the reset ``v`` and the last spikes ``s``, ``[B, n]``."""

    i: torch.Tensor
    v: torch.Tensor
    s: torch.Tensor


class CubaLIF(nn.Module):
    """Current-based LIF neurons (NIR ``CubaLIF``), discrete time, optionally recurrent.

    Per step (all ``[B, n]``; ``rec = s[t-1] @ W_rec.T + b_rec`` when ``recurrent`` is given,
    else 0; ``s[-1] = 0``)::

        i[t] = alpha i[t-1] + syn_gain (x[t] + rec)          synaptic current
        u[t] = beta v[t-1] + mem_gain i[t] + mem_offset       membrane before the reset
        s[t] = H(u[t] - threshold);   v[t] = u[t] (1 - s[t])  (reset to zero)

    Parameters
    ----------
    n : number of neurons.
    alpha, beta : current and membrane decay per step in (0, 1], scalars or ``[n]``
        (``1 - dt / tau_syn``, ``1 - dt / tau_mem``).
    threshold : firing threshold (> 0), scalar or ``[n]``.
    syn_gain, mem_gain, mem_offset : scalars or ``[n]`` (NIR: ``w_in dt / tau_syn``,
        ``r dt / tau_mem``, ``(dt / tau_mem) v_leak``).
    recurrent : ``torch.nn.Linear(n, n)`` from the spikes back into the current, or None.
    surrogate, detach_reset, backend : as ``neurosim.nn.LIF``. The feed-forward layer runs as a
        neurosim ``LI`` (the current) followed by a ``LIF`` over the whole sequence; the
        recurrent one loops over time steps in torch (``backend`` is not used there).

    ``forward(x [T, B, n], state=None)`` returns ``(spikes [T, B, n], CubaLIFState)``.
    """

    def __init__(self, n: int, alpha, beta, threshold, *, syn_gain=1.0, mem_gain=1.0, mem_offset=0.0,
                 recurrent: nn.Linear | None = None, surrogate=None, detach_reset: bool = False,
                 backend: str = "auto"):
        super().__init__()
        n = check_size("n (number of neurons)", n)
        self.synapse = LI(n, alpha, backend=backend)
        self.neuron = LIF(n, beta, threshold, reset="zero", surrogate=surrogate, detach_reset=detach_reset,
                          backend=backend)
        self.n = n
        for name, value in (("syn_gain", syn_gain), ("mem_gain", mem_gain), ("mem_offset", mem_offset)):
            self.register_buffer(name, _vector(name, value, n))
        if recurrent is not None and (not isinstance(recurrent, nn.Linear)
                                      or recurrent.in_features != n or recurrent.out_features != n):
            raise ValueError(f"recurrent must be a torch.nn.Linear({n}, {n}), got {recurrent!r}")
        self.recurrent = recurrent

    def forward(self, x: torch.Tensor, state: CubaLIFState | None = None):
        check_sequence(type(self).__name__, x, self.n)
        if state is None:
            zeros = torch.zeros(x.shape[1], self.n, dtype=x.dtype, device=x.device)
            state = CubaLIFState(zeros, zeros, zeros)
        else:  # checked here, [B, n], so that a message names CubaLIF's field, not an inner layer's
            state = check_state(type(self).__name__, state, CubaLIFState, x, self.n)
            check_finite_state(type(self).__name__, state)
        i0, v0, s0 = state
        syn_gain, mem_gain, mem_offset = (b.to(x) for b in (self.syn_gain, self.mem_gain, self.mem_offset))
        if self.recurrent is None:
            i, si = self.synapse(x * syn_gain, LIFState(i0))
            s, sv = self.neuron(i * mem_gain + mem_offset, LIFState(v0))
            return s, CubaLIFState(si.v, sv.v, s[-1])
        # Recurrent: the spikes feed the current of the next step, so step through time.
        alpha = self.synapse._vector(self.synapse.beta, x)
        beta, threshold = self.neuron._params(x)
        if isinstance(self.synapse.beta, nn.Parameter):
            alpha = alpha.clamp(1e-6, 1.0)
        w = self.recurrent.weight.to(x)
        b = None if self.recurrent.bias is None else self.recurrent.bias.to(x)
        i, v, s = i0, v0, s0
        spikes = []
        for t in range(x.shape[0]):
            i = alpha * i + syn_gain * (x[t] + F.linear(s, w, b))
            u = beta * v + mem_gain * i + mem_offset
            s = self.neuron.surrogate(u - threshold)
            v = u * (1.0 - (s.detach() if self.neuron.detach_reset else s))
            spikes.append(s)
        check_finite_result(type(self).__name__, x, v)
        return torch.stack(spikes), CubaLIFState(i, v, s)

    def extra_repr(self) -> str:
        return f"{self.n}, recurrent={self.recurrent is not None}"


def _linear(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``module`` applied in ``x``'s dtype (the weights are cast, not the input)."""
    bias = None if module.bias is None else module.bias.to(x.dtype)
    return F.linear(x, module.weight.to(x.dtype), bias)


class NIRNetwork(nn.Module):
    """A NIR graph as a torch module that runs whole sequences.

    ``forward(x [T, B, n_in], state=None)`` returns ``(output [T, B, n_out], state)``, where
    ``state`` is a dict ``{node: its layer state}`` to pass into the next call (the run then
    continues where it stopped). Nodes run in topological order, each over the whole sequence;
    a node with several incoming edges gets their sum. ``nodes`` holds the modules
    (``torch.nn.Linear``, neurosim ``LIF``/``LI``/``RecurrentLIF``, ``CubaLIF``, ``Scale``,
    ``ScaledInput``) under the NIR names with ``.`` replaced by ``_``; ``nir_names`` maps back.
    """

    def __init__(self, modules: dict, inputs: dict, order: list, input_node: str, output_inputs: list,
                 n_in: int, n_out: int, nir_names: dict):
        super().__init__()
        self.nodes = nn.ModuleDict(modules)
        self.inputs = {k: list(v) for k, v in inputs.items()}
        self.order = list(order)
        self.input_node = input_node
        self.output_inputs = list(output_inputs)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.nir_names = dict(nir_names)

    def forward(self, x: torch.Tensor, state: dict | None = None):
        check_sequence(type(self).__name__, x, self.n_in)
        if state is not None and not isinstance(state, dict):
            raise TypeError(f"state must be the dict a previous call returned, got {type(state).__name__}")
        unknown = [] if state is None else sorted(map(str, set(state) - set(self.order)))
        if unknown:
            raise ValueError(f"state has entries for {unknown}, which are not stateful nodes of this network "
                             f"({sorted(k for k in self.order if not isinstance(self.nodes[k], (nn.Linear, Scale)))})")
        values = {self.input_node: x}
        new_state = {}
        for key in self.order:
            srcs = self.inputs[key]
            h = values[srcs[0]]
            for src in srcs[1:]:
                h = h + values[src]
            module = self.nodes[key]
            if isinstance(module, nn.Linear):
                out = _linear(module, h)
            elif isinstance(module, Scale):
                out = module(h)
            else:
                out, new_state[key] = module(h, None if state is None else state.get(key))
            values[key] = out
        out = values[self.output_inputs[0]]
        for src in self.output_inputs[1:]:
            out = out + values[src]
        return out, new_state

    def extra_repr(self) -> str:
        return f"{self.n_in} -> {self.n_out}, order={[self.nir_names[k] for k in self.order]}"


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


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


def _export_lif(where: str, layer: LIF, dt: float, strict: bool, unit_resistance: bool, gain=None, offset=None):
    nir = _nir()
    n = layer.n
    if layer.reset != "zero":
        msg = (f"{where}: NIR's LIF resets the membrane to v_reset (neurosim reset='zero'); this layer has "
               f"reset={layer.reset!r}, which NIR cannot express")
        if strict:
            raise NIRConversionError(msg + ". Train with reset='zero', or pass strict=False to export it as a "
                                           "reset-to-zero LIF (its spikes will then differ)")
        warnings.warn(msg + "; exported as reset-to-zero", stacklevel=3)
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


def _export_module(name: str, module: nn.Module, dt: float, strict: bool, unit_resistance: bool):
    """NIR nodes for one module: ``(nodes, entry, exit, edges)``."""
    nir = _nir()
    where = f"layer {name!r} ({type(module).__name__})"
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
        "RecurrentLIF and the importer's CubaLIF, ScaledInput and Scale (in a torch.nn.Sequential)")


def _size_in(module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, RecurrentLIF):
        return module.n_in
    if isinstance(module, Scale):
        return module.scale.numel()
    return module.n


def _size_out(module) -> int:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, Scale):
        return module.scale.numel()
    return module.n


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
        ``neurosim.nn.LIF`` (-> ``nir.LIF``), ``LI`` (-> ``nir.LI``), ``RecurrentLIF`` (->
        ``<i>.w_in`` Affine/Linear, ``<i>.lif`` LIF and ``<i>.w_rec`` Linear with the edges
        ``w_in -> lif -> w_rec -> lif``) and the importer's ``CubaLIF``/``ScaledInput``/``Scale``;
        a single such layer; or a ``NIRNetwork`` from ``import_nir``.
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
    by its position in the flattened sequence (``"0"``, ``"1"``, ...); shapes are per time step, ``[n]``. Weights keep
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
    nodes, edges = {"input": nir.Input(input_type=np.array([_size_in(items[0][1])]))}, []
    previous, n_prev = "input", None
    for name, m in items:
        sub_nodes, entry, exit_, sub_edges = _export_module(name, m, dt, strict, unit_resistance)
        n_in = _size_in(m)
        if n_prev is not None and n_in != n_prev:
            raise NIRConversionError(f"layer {name!r} ({type(m).__name__}) takes {n_in} inputs, "
                                     f"the layer before gives {n_prev}")
        nodes.update(sub_nodes)
        edges.extend(sub_edges)
        edges.append((previous, entry))
        previous, n_prev = exit_, _size_out(m)
    edges.append((previous, "output"))
    nodes["output"] = nir.Output(output_type=np.array([n_prev]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "neurosim", "dt": dt})


def _export_network(net: NIRNetwork, dt: float, strict: bool, unit_resistance: bool):
    nir = _nir()
    input_name, output_name = net.nir_names[net.input_node], "output"
    nodes, edges, entry, exit_ = {input_name: nir.Input(input_type=np.array([net.n_in]))}, [], {}, {}
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
    nodes[output_name] = nir.Output(output_type=np.array([net.n_out]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "neurosim", "dt": dt})


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------

_SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "LI", "LIF", "CubaLIF", "NIRGraph")


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
    arr = arr.reshape(-1) if arr.ndim > 1 and arr.size == max(arr.shape) else arr
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
    thr = None
    if isinstance(node, nir.LIF):
        thr = _array(where, node, "v_threshold", n)
        v_reset = _array(where, node, "v_reset", n) if node.v_reset is not None else np.zeros(n)
        if np.any(v_reset != 0):
            raise NIRConversionError(f"{where}: neurosim's LIF resets to 0, the node has v_reset = "
                                     f"{np.unique(v_reset)[:5]}")
        if np.any(thr <= 0):
            raise NIRConversionError(f"{where}: v_threshold must be > 0, got minimum {thr.min():g}")
    return n, beta, thr, gain, offset


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


def import_nir(graph, dt: float = 1.0, *, surrogate=None, detach_reset: bool = False,
               backend: str = "auto") -> NIRNetwork:
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

    Raises ``NIRConversionError`` (a ``ValueError``) naming the node for unsupported node types
    (``IF``, ``Conv2d``, ``Delay``, ...), other cycles, ``v_reset != 0``, ``dt >= tau`` and shape
    mismatches.
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

    # Sizes and modules, in order.
    size = {input_node: _input_size(input_node, nodes[input_node])}
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
        n_ins = {size[p] for p in graph_inputs[name]}
        if len(n_ins) != 1:
            raise NIRConversionError(f"{where}: its inputs have different sizes "
                                     f"{ {p: size[p] for p in graph_inputs[name]} }")
        n_in = n_ins.pop()
        if isinstance(node, nir.Output):
            size[name] = n_in
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
        modules[key_of(name)] = module
        size[name] = n_out
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


def _input_size(name: str, node) -> int:
    """``n`` of an Input node's ``[n]`` type; leading 1s (a batch dimension that Norse's
    exporter writes, ``[1, n]``) are dropped."""
    in_type = node.input_type
    shape = np.asarray(next(iter(in_type.values())) if isinstance(in_type, dict) else in_type).reshape(-1)
    shape = [int(s) for s in shape]
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 1 or shape[0] < 1:
        raise NIRConversionError(f"Input node {name!r}: neurosim imports inputs of shape [n] per time step, "
                                 f"got shape {tuple(shape)}")
    return shape[0]


def _recurrent_lif(where, nodes, name, ff_name, w_names, n, n_in, beta, thr, gain, offset, opts):
    """A neurosim RecurrentLIF for LIF ``name`` with recurrent weights ``w_names`` (summed) and
    the optional feed-forward Affine/Linear ``ff_name`` as its input weights."""
    check_parameter_memory(f"{where}: recurrent weights [{n}, {n}]", float(n) * n, torch.float64)
    w_rec, b_rec = np.zeros((n, n)), np.zeros(n)
    for w_name in w_names:
        w, b = _weight_bias(f"NIR node {w_name!r}", nodes[w_name])
        if w.shape != (n, n):
            raise NIRConversionError(f"NIR node {w_name!r}: recurrent weights of {where} must be [{n}, {n}], "
                                     f"got {list(w.shape)}")
        w_rec += w
        if b is not None:
            b_rec += b
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


def _cuba_lif(where, nodes, node, w_names, n_in, dt, opts):
    tau_syn = _array(where, node, "tau_syn", n_in)
    n = tau_syn.shape[0]
    alpha = _decay(where, tau_syn, dt, "tau_syn")
    tau_mem = _array(where, node, "tau_mem", n)
    beta = _decay(where, tau_mem, dt, "tau_mem")
    r, v_leak = _array(where, node, "r", n), _array(where, node, "v_leak", n)
    w_in = _array(where, node, "w_in", n)
    thr = _array(where, node, "v_threshold", n)
    v_reset = _array(where, node, "v_reset", n) if node.v_reset is not None else np.zeros(n)
    if np.any(v_reset != 0):
        raise NIRConversionError(f"{where}: neurosim's LIF resets to 0, the node has v_reset = "
                                 f"{np.unique(v_reset)[:5]}")
    if np.any(thr <= 0):
        raise NIRConversionError(f"{where}: v_threshold must be > 0, got minimum {thr.min():g}")
    rec = None
    if w_names:
        check_parameter_memory(f"{where}: recurrent weights [{n}, {n}]", float(n) * n, torch.float64)
        w_rec, b_rec, any_bias = np.zeros((n, n)), np.zeros(n), False
        for w_name in w_names:
            w, b = _weight_bias(f"NIR node {w_name!r}", nodes[w_name])
            if w.shape != (n, n):
                raise NIRConversionError(f"NIR node {w_name!r}: recurrent weights of {where} must be "
                                         f"[{n}, {n}], got {list(w.shape)}")
            w_rec += w
            if b is not None:
                b_rec, any_bias = b_rec + b, True
        rec = nn.Linear(n, n, bias=any_bias)
        with torch.no_grad():
            rec.weight.copy_(torch.as_tensor(w_rec))
            if any_bias:
                rec.bias.copy_(torch.as_tensor(b_rec))
    module = CubaLIF(n, alpha.astype(np.float32), beta.astype(np.float32), thr.astype(np.float32),
                     syn_gain=_snap_gain(w_in * dt / tau_syn), mem_gain=_snap_gain(r * dt / tau_mem),
                     mem_offset=v_leak * dt / tau_mem, recurrent=rec, **opts)
    return module, n
