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

__all__ = ["NIRNetwork", "ScaledInput", "Scale", "NIRConversionError"]


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
