"""Any neuron model definition as a trainable spiking layer (surrogate gradients, BPTT).

    import neurosim as ns, neurosim.nn as snn
    layer = snn.from_model(ns.AdEx(64), dt=0.1, learn=("tau_w", "b"))
    spikes, state = layer(x)          # x: [T, batch, 64] external current (the model's units)

The layer runs the model's definition (:class:`neurosim.NeuronModel`) step by step with torch:
the same statements as the engine's numpy reference, so on the same input the forward pass
gives the engine's spikes (float64; float32 rounds differently). The spike is the engine's
threshold condition in the forward pass and a surrogate derivative of ``lhs - rhs`` of the
threshold comparison in the backward pass; the reset is applied as ``z * reset + (1 - z) * x``
so that gradients flow through spikes. Parameters named in ``learn`` become ``nn.Parameter``s
(per neuron) and derived values are recomputed from them every forward pass. Built-in models
keep their fused kernels (``snn.LIF``, ``snn.Izhikevich``); this layer is autograd through a
Python loop over time steps -- fine for user models and small experiments, memory grows with T.
"""

from __future__ import annotations

import ast

import numpy as np
import torch
from torch import nn

from neurosim.kernels.codegen.interpret import evaluate, run_statements
from neurosim.validation import check_number

from . import surrogate as surrogates
from .functional import check_input
from .surrogate import check_surrogate


def _threshold_difference(definition):
    """(lhs, rhs, strict) of a threshold ``lhs > rhs`` / ``lhs >= rhs`` (``<`` flipped)."""
    t = definition.threshold
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], (ast.Gt, ast.GtE, ast.Lt, ast.LtE))):
        raise ValueError(f"model {definition.name!r}: a surrogate-gradient layer needs the threshold as one comparison "
                         f"(e.g. 'v > v_th'), got {definition.threshold_text!r}")
    lhs, rhs = t.left, t.comparators[0]
    if isinstance(t.ops[0], (ast.Lt, ast.LtE)):
        lhs, rhs = rhs, lhs
    return lhs, rhs


class ModelLayer(nn.Module):
    """A layer of ``model.n`` neurons of any neuron model, trained by surrogate gradients.

    Parameters
    ----------
    model : an engine model (``ns.LIF(n, ...)``, ``ns.AdEx(n)``, ``MyModel(n, ...)``):
        its definition and parameter values (distributions are drawn with ``seed``).
    dt : time step, ms.
    surrogate : surrogate derivative of the spike (default ``fast_sigmoid(25)``), applied to
        ``lhs - rhs`` of the threshold comparison (in the model's units: scale accordingly).
    learn : names of float parameters to train (per-neuron ``nn.Parameter``s, float64).
    input_to : where the input goes each step: ``"i_ext"`` (the external current, default) or
        a receptor (``"exc"``/``"inh"``): added to that input variable like a spike's weight.
    seed : seed for drawing distribution-valued parameters.

    ``forward(x, state=None)`` takes ``x`` [T, batch, n] and returns ``(spikes [T, batch, n],
    state)``, ``state`` a dict of the state variables [batch, n] (and ``"refractory_until"``,
    in steps from the start of this call, when the model is refractory).
    """

    def __init__(self, model, dt: float, *, surrogate=None, learn=(), input_to: str = "i_ext", seed: int = 0):
        super().__init__()
        d = getattr(model, "definition", None)
        if d is None:
            raise TypeError(f"model must be a neuron model (ns.LIF, ns.AdEx, a NeuronModel's population model), got {type(model).__name__}")
        self.definition, self.n, self.dt = d, model.n, check_number("dt", dt, positive=True)
        self.surrogate = check_surrogate(surrogates.fast_sigmoid(25.0) if surrogate is None else surrogate)
        self.lhs, self.rhs = _threshold_difference(d)
        if input_to != "i_ext" and input_to not in d.inputs:
            raise ValueError(f"input_to must be 'i_ext' or one of the model's receptors {tuple(d.inputs)}, got {input_to!r}")
        self.input_to = input_to if input_to == "i_ext" else d.inputs[input_to]
        learn = (learn,) if isinstance(learn, str) else tuple(learn)
        for name in learn:
            if name not in d.float_parameters:
                raise ValueError(f"learn: {name!r} is not a float parameter of {d.name}; parameters: {', '.join(d.float_parameters)}")
        resolved = model.resolve(seed)
        values = resolved.definition_values(dt)
        self.integers = {k: int(values[k]) for k in d.integer_parameters}
        for name in d.float_parameters:
            tensor = torch.as_tensor(np.broadcast_to(np.asarray(values[name], dtype=np.float64), (self.n,)).copy())
            if name in learn:
                self.register_parameter(name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)
        self.learn = learn

    def parameter_values(self) -> dict:
        """The parameters (tensors [n]) and derived values, recomputed from them (differentiable)."""
        values = {k: getattr(self, k) for k in self.definition.float_parameters}
        values.update(self.integers)
        scope = {**values, "dt": self.dt}
        for k, expr in self.definition.derived.items():
            scope[k] = evaluate(expr, scope, torch) * torch.ones_like(values[self.definition.float_parameters[0]])
        return scope

    def initial_state(self, batch: int) -> dict:
        """The model's initial values, [batch, n] each (float64, on the parameters' device)."""
        scope = self.parameter_values()
        device = getattr(self, self.definition.float_parameters[0]).device
        ones = torch.ones(batch, self.n, dtype=torch.float64, device=device)
        state = {k: evaluate(expr, scope, torch) * ones for k, expr in self.definition.init.items()}
        if self.definition.refractory is not None:
            state["refractory_until"] = torch.full((batch, self.n), -1.0, dtype=torch.float64, device=device)
        return state

    def forward(self, x: torch.Tensor, state: dict | None = None):
        check_input("x", x, self.n)
        d = self.definition
        T, batch = x.shape[0], x.shape[1]
        scope0 = self.parameter_values()
        state = dict(self.initial_state(batch) if state is None else state)
        refractory_steps = None
        if d.refractory is not None:
            ms = evaluate(d.refractory, scope0, torch)
            refractory_steps = torch.floor(torch.as_tensor(ms, dtype=torch.float64) / self.dt + 1e-3)
        spikes = []
        for t in range(T):
            scope = {**scope0, **{k: state[k] for k in d.state}}
            scope["i_ext"] = x[t] if self.input_to == "i_ext" else torch.zeros_like(x[t])
            if self.input_to != "i_ext":
                scope[self.input_to] = scope[self.input_to] + x[t]
            before = {f: scope[f] for f in d.frozen}
            run_statements(d.update, scope, torch, self.integers)
            active = torch.ones_like(x[t], dtype=torch.bool)
            if d.refractory is not None:
                active = t >= state["refractory_until"]
                for f in d.frozen:
                    scope[f] = torch.where(active, scope[f], before[f])
            fire = evaluate(d.threshold, scope, torch) & active
            smooth = self.surrogate(evaluate(self.lhs, scope, torch) - evaluate(self.rhs, scope, torch))
            z = fire.to(x.dtype) + (smooth - smooth.detach())  # the engine's spikes; the surrogate's gradient
            for s in d.reset:
                scope[s.target] = z * evaluate(s.expr, scope, torch) + (1.0 - z) * scope[s.target]
            if d.refractory is not None:
                state["refractory_until"] = torch.where(fire, t + refractory_steps, state["refractory_until"])
            state.update({k: scope[k] for k in d.state})
            spikes.append(z)
        if d.refractory is not None:  # steps counted from the next call's start
            state["refractory_until"] = state["refractory_until"] - T
        return torch.stack(spikes), state

    def extra_repr(self) -> str:
        return f"{self.definition.name}, n={self.n}, dt={self.dt}, learn={self.learn}, surrogate={self.surrogate}"


def from_model(model, dt: float, **kw) -> ModelLayer:
    """A trainable layer running ``model`` (any neuron model; see :class:`ModelLayer`)."""
    return ModelLayer(model, dt, **kw)
