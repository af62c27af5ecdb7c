"""The torch modules a NIR graph becomes (beside neurosim's own layers) and the pieces the NIR
exporter and importer share. See :mod:`neurosim.nn.nir` for the conventions."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurosim.validation import as_real_array

from .cuba_lif import _host, _vector
from .layers import LI, LIF, RecurrentLIF, check_sequence

__all__ = ["CubaLI", "Delay", "MultiSpikeIF", "NIRConversionError", "NIRNetwork", "PerStep", "Scale", "ScaledInput",
           "Shaped", "Threshold"]


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


class PerStep(nn.Module):
    """A torch module of one time step (``Conv1d``, ``Conv2d``, a pooling, ``Flatten``) applied
    to every step of ``x [T, B, *in_shape]``, giving ``[T, B, *out_shape]``: time and batch are
    folded into one batch dimension, so the whole sequence is one call."""

    def __init__(self, module: nn.Module, in_shape, out_shape):
        super().__init__()
        self.module = module
        self.in_shape, self.out_shape = tuple(int(s) for s in in_shape), tuple(int(s) for s in out_shape)

    def forward(self, x):
        t, b = x.shape[:2]
        # in x's dtype, as the dense layers (the weights are cast, not the input)
        params = {k: v.to(x.dtype) for k, v in self.module.named_parameters()}
        y = torch.func.functional_call(self.module, params, (x.reshape(t * b, *self.in_shape),))
        return y.reshape(t, b, *self.out_shape)

    def extra_repr(self) -> str:
        return f"{list(self.in_shape)} -> {list(self.out_shape)}"


class Shaped(nn.Module):
    """A neuron layer over ``[T, B, n]`` (``LIF``, ``LI``, ``ScaledInput``, ``CubaLIF``) run on
    inputs of shape ``[T, B, *shape]`` with ``prod(shape) = n``: the neurons are the elements in
    C order (channel, then row, then column), as NIR lays out a node's per-neuron parameters."""

    def __init__(self, layer: nn.Module, shape):
        super().__init__()
        self.layer, self.shape = layer, tuple(int(s) for s in shape)

    def forward(self, x, state=None):
        t, b = x.shape[:2]
        out, state = self.layer(x.reshape(t, b, -1), state)
        return out.reshape(t, b, *self.shape), state

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


class MultiSpikeIF(nn.Module):
    """Integrate-and-fire as Sinabs runs a NIR ``IF`` node it imports (``IAFSqueeze`` with
    ``MultiSpike`` and ``MembraneSubtract``), for graphs exported from Sinabs.

    Per step, with ``x [T, B, n]``: ``v = v + x``; ``s = trunc(v / threshold)`` where ``v > 0``
    (several spikes in a step when ``v`` is several thresholds high); ``v = v - s threshold``;
    then ``v = max(v, -threshold)``. ``forward(x, state)`` returns ``(s [T, B, n], state)``,
    ``state`` the membrane ``[B, n]``. The gradient of ``s`` is that of one spike at the
    threshold, through ``surrogate`` (a plain torch loop: this layer is for running imported
    graphs, not for speed).
    """

    def __init__(self, n: int, threshold, surrogate=None):
        super().__init__()
        from . import surrogate as surrogates

        self.n = int(n)
        self.register_buffer("threshold", _vector("threshold", threshold, self.n))
        self.surrogate = surrogates.check_surrogate(surrogate if surrogate is not None else surrogates.fast_sigmoid())

    def forward(self, x, state=None):
        check_sequence(type(self).__name__, x, self.n)
        thr = self.threshold.to(x)
        v = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device) if state is None else state.to(x)
        out = []
        for step in range(x.shape[0]):
            v = v + x[step]
            count = torch.where(v > 0, torch.div(v, thr, rounding_mode="trunc"), torch.zeros_like(v))
            one = self.surrogate(v - thr)  # value H(v - thr), gradient the surrogate's
            s = one + (count - one).detach()
            v = torch.maximum(v - s * thr, -thr)
            out.append(s)
        return torch.stack(out), v

    def extra_repr(self) -> str:
        return f"{self.n}, surrogate={self.surrogate!r}"


class Threshold(nn.Module):
    """NIR's ``Threshold``: ``z = H(x - threshold)`` elementwise, no state; the gradient is the
    surrogate's. ``threshold`` is ``[n]`` (the input's elements in C order)."""

    def __init__(self, threshold, surrogate=None):
        super().__init__()
        from . import surrogate as surrogates

        threshold = as_real_array("threshold", _host(threshold)).reshape(-1)
        self.register_buffer("threshold", _vector("threshold", threshold, threshold.size))
        self.surrogate = surrogates.check_surrogate(surrogate if surrogate is not None else surrogates.fast_sigmoid())

    def forward(self, x):
        t, b = x.shape[:2]
        flat = x.reshape(t, b, -1)
        return self.surrogate(flat - self.threshold.to(x)).reshape(x.shape)


class Delay(nn.Module):
    """NIR's ``Delay``, ``y(t) = x(t - delay)``, per element in whole time steps ``[n]`` (the
    input's elements in C order). ``forward(x [T, B, ...], state)`` returns ``(y, state)``; the
    state holds the last ``max(steps)`` inputs, so a run split in two calls gives the same output."""

    def __init__(self, steps):
        super().__init__()
        steps = np.asarray(_host(steps)).reshape(-1)
        if steps.size == 0 or not np.issubdtype(steps.dtype, np.integer) or steps.min() < 0:
            raise ValueError(f"steps must be a non-empty array of whole time steps >= 0, got {steps!r:.80}")
        self.register_buffer("steps", torch.as_tensor(steps.astype(np.int64)))
        self.depth = int(steps.max())

    def forward(self, x, state=None):
        t, b = x.shape[:2]
        flat = x.reshape(t, b, -1)
        n = flat.shape[2]
        if n != self.steps.numel():
            raise ValueError(f"Delay: the input has {n} elements per step, the delays {self.steps.numel()}")
        past = torch.zeros(self.depth, b, n, dtype=x.dtype, device=x.device) if state is None else state.to(x)
        full = torch.cat([past, flat])  # [depth + T, B, n]
        index = torch.arange(t, device=x.device)[:, None] + self.depth - self.steps.to(x.device)[None, :]
        y = torch.gather(full, 0, index[:, None, :].expand(t, b, n))
        return y.reshape(x.shape), full[full.shape[0] - self.depth:]


class CubaLI(nn.Module):
    """NIR's ``CubaLI``: a synaptic current filters the input, the membrane integrates it, no
    spikes (Euler steps as :class:`neurosim.nn.CubaLIF`)::

        i[t] = alpha i[t-1] + syn_gain x[t];   v[t] = beta v[t-1] + mem_gain i[t] + mem_offset

    ``forward(x [T, B, n], state)`` returns ``(v [T, B, n], state)``, ``state`` the pair of the two
    ``LI`` layers' states."""

    def __init__(self, n: int, alpha, beta, syn_gain, mem_gain, mem_offset, backend: str = "auto"):
        super().__init__()
        self.n = int(n)
        self.synapse = ScaledInput(LI(self.n, alpha, backend=backend), syn_gain, np.zeros(self.n))
        self.membrane = ScaledInput(LI(self.n, beta, backend=backend), mem_gain, mem_offset)

    def forward(self, x, state=None):
        i, si = self.synapse(x, None if state is None else state[0])
        v, sv = self.membrane(i, None if state is None else state[1])
        return v, (si, sv)


def _linear(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``module`` applied in ``x``'s dtype (the weights are cast, not the input)."""
    bias = None if module.bias is None else module.bias.to(x.dtype)
    return F.linear(x, module.weight.to(x.dtype), bias)


class NIRNetwork(nn.Module):
    """A NIR graph as a torch module that runs whole sequences.

    ``forward(x [T, B, *in_shape], state=None)`` returns ``(output [T, B, *out_shape], state)``
    (``in_shape`` is ``(n_in,)`` for a dense graph, e.g. ``(2, 34, 34)`` for event frames), where
    ``state`` is a dict ``{node: its layer state}`` to pass into the next call (the run then
    continues where it stopped). Nodes run in topological order, each over the whole sequence;
    a node with several incoming edges gets their sum. ``nodes`` holds the modules
    (``torch.nn.Linear``, neurosim ``LIF``/``LI``/``RecurrentLIF``, ``CubaLIF``, ``Scale``,
    ``ScaledInput``, and ``PerStep``/``Shaped`` for convolutional graphs) under the NIR names with
    ``.`` replaced by ``_``; ``nir_names`` maps back.
    """

    def __init__(self, modules: dict, inputs: dict, order: list, input_node: str, output_inputs: list,
                 n_in, n_out, nir_names: dict):
        super().__init__()
        self.in_shape = tuple(int(s) for s in np.atleast_1d(n_in))
        self.out_shape = tuple(int(s) for s in np.atleast_1d(n_out))
        n_in, n_out = math.prod(self.in_shape), math.prod(self.out_shape)
        self.nodes = nn.ModuleDict(modules)
        self.inputs = {k: list(v) for k, v in inputs.items()}
        self.order = list(order)
        self.input_node = input_node
        self.output_inputs = list(output_inputs)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.nir_names = dict(nir_names)

    def forward(self, x: torch.Tensor, state: dict | None = None):
        if len(self.in_shape) == 1:
            check_sequence(type(self).__name__, x, self.n_in)
        elif not isinstance(x, torch.Tensor) or x.dim() != 2 + len(self.in_shape) or \
                tuple(x.shape[2:]) != self.in_shape or x.shape[0] < 1:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__} input must be a [T, batch, {', '.join(map(str, self.in_shape))}] "
                             f"tensor with T >= 1, got {got}")
        if state is not None and not isinstance(state, dict):
            raise TypeError(f"state must be the dict a previous call returned, got {type(state).__name__}")
        unknown = [] if state is None else sorted(map(str, set(state) - set(self.order)))
        if unknown:
            raise ValueError(f"state has entries for {unknown}, which are not stateful nodes of this network "
                             f"({sorted(k for k in self.order if not isinstance(self.nodes[k], (nn.Linear, Scale, PerStep, Threshold)))})")
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
            elif isinstance(module, (Scale, PerStep, Threshold)):
                out = module(h)
            else:
                out, new_state[key] = module(h, None if state is None else state.get(key))
            values[key] = out
        out = values[self.output_inputs[0]]
        for src in self.output_inputs[1:]:
            out = out + values[src]
        return out, new_state

    def extra_repr(self) -> str:
        shapes = [s[0] if len(s) == 1 else list(s) for s in (self.in_shape, self.out_shape)]
        return f"{shapes[0]} -> {shapes[1]}, order={[self.nir_names[k] for k in self.order]}"
