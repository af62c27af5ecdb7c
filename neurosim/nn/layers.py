"""Spiking layers for training by backpropagation through time.

Every layer takes a whole sequence, time-major ``[T, batch, n]``, and returns
``(output, state)``. Stateless use: call ``layer(x)`` and the state starts at rest.
Stateful use: pass the returned state into the next call (``layer(x2, state)``), or build
the layer with ``stateful=True`` and it keeps its state between calls (``reset_state()``
clears it, ``detach_state()`` cuts the graph for truncated BPTT). dtype and device follow
the input; parameters are cast to it.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
from torch import nn

from neurosim.memory import check_memory
from neurosim.validation import check_flag, check_int, check_number

from . import surrogate as surrogates
from .functional import as_real_tensor, check_input, check_reset, check_tensor, lif_sequence, resolve_backend
from .izhikevich_function import izhikevich_sequence


#: Parameters are cast to the input's dtype in the forward pass: a value beyond float32's range
#: would become inf in a float32 run (and NaN membranes), so it is refused up front.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


class LIFState(NamedTuple):
    """Membrane after the last step's reset, ``[B, N]``."""

    v: torch.Tensor


class RecurrentLIFState(NamedTuple):
    """Membrane after the reset and the last step's spikes, both ``[B, N]``."""

    v: torch.Tensor
    s: torch.Tensor


class IzhikevichState(NamedTuple):
    """Membrane ``v`` (mV) and recovery ``u`` after the last step, ``[B, N]``."""

    v: torch.Tensor
    u: torch.Tensor


def check_sequence(name: str, x, n: int) -> None:
    """``x`` must be a float32/float64 ``[T, batch, n]`` tensor with ``T >= 1``."""
    check_input(f"{name} input", x, n)


def check_finite_result(name: str, x: torch.Tensor, last: torch.Tensor, given=None, *, input_name: str = "input",
                        what: str = "membrane") -> None:
    """NaN/inf in the input or in the state passed in (``given``: a tensor, a state NamedTuple or None)
    propagates to the final state, so checking ``last`` and ``given`` (``[B, ...]`` each) costs
    one combined test, not a pass over ``x``; only on failure are the state, then ``x``, scanned
    for the culprit, so the message names the state or the first bad step, not the weights."""
    ok = torch.isfinite(last).all()
    for _, t in [] if given is None else _state_items(given):
        ok = ok & torch.isfinite(t).all()
    if bool(ok):
        return
    if given is not None:
        check_finite_state(name, given)
    bad = ~torch.isfinite(x.detach()).flatten(1).all(1)
    if bool(bad.any()):
        step = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name} {input_name} contains NaN or inf (first at time step {step})")
    raise FloatingPointError(f"{name}: the {what} became NaN or inf (check weights and parameters)")


def check_finite_state(name: str, state) -> None:
    """Refuse a state passed in (a tensor or a NamedTuple of them) that holds NaN or inf, naming
    the field."""
    for label, t in _state_items(state):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: {label} (the state passed in) contains NaN or inf")


def _state_items(state) -> list:
    """``(label, tensor)`` of a state: a tensor (``"state"``) or a NamedTuple (``"state.v"``, ...)."""
    if isinstance(state, torch.Tensor):
        return [("state", state)]
    return [(f"state.{field}", t) for field, t in zip(state._fields, state)]


def check_state(name: str, state, kind: type, x: torch.Tensor, n: int) -> tuple:
    """``state`` (a ``kind`` NamedTuple, or a plain tuple of its fields) checked field by field
    against the input ``x``: tensors ``[batch, n]`` on ``x``'s device, cast to its dtype."""
    fields = kind._fields
    if not (isinstance(state, kind) or (type(state) is tuple and len(state) == len(fields))):
        raise TypeError(f"{name} state must be a {kind.__name__}({', '.join(fields)}) or None, "
                        f"got {type(state).__name__}")
    return kind(*(check_tensor(f"{name} state.{f}", t, (x.shape[1], n), x, axes=("batch", "n"), cast=True)
                  for f, t in zip(fields, state)))


def check_size(name: str, value) -> int:
    """A positive int (a number of neurons or features); numpy ints accepted, bools refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r:.40}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_parameter_memory(what: str, count: float, dtype: torch.dtype = None) -> None:
    """Refuse up front (InsufficientMemoryError) ``count`` parameters the machine cannot hold."""
    itemsize = (dtype or torch.get_default_dtype()).itemsize
    check_memory(f"{what} ({count:.3g} numbers)", count * itemsize, "use fewer neurons or features")


def _per_neuron(name: str, value, n: int, *, low: float, high: float, low_open: bool,
                dtype=torch.float32) -> torch.Tensor:
    """A scalar or ``[n]`` parameter as a tensor (float32 unless told), checked against its range."""
    t = as_real_tensor(name, value).detach().to(dtype).clone()
    if t.dim() > 1 or (t.dim() == 1 and t.shape[0] != n):
        raise ValueError(f"{name} must be a scalar or have shape [{n}], got shape {tuple(t.shape)}")
    bad_low = (t <= low) if low_open else (t < low)
    if not bool(torch.isfinite(t).all()) or bool(bad_low.any()) or bool((t > high).any()):
        lo = "(" if low_open else "["
        got = f"{t.item()!r}" if t.dim() == 0 else _describe(t)
        raise ValueError(f"{name} must lie in {lo}{low:g}, {high:g}], got {got}")
    return t


def _describe(t: torch.Tensor) -> str:
    """A short account of a parameter tensor's values for a message (it may be long)."""
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        return f"{int((~finite).sum())} NaN/inf value(s)"
    return f"values from {t.min().item():g} to {t.max().item():g}"


def _storage_dtype(learn: bool) -> torch.dtype:
    """Fixed parameters are kept in float64 (cast to the input's dtype in the forward pass, so
    float64 runs see the exact values); trainable ones in torch's default dtype, as usual."""
    return torch.get_default_dtype() if learn else torch.float64


class _SequenceLayer(nn.Module):
    """Shared plumbing: parameters as tensors, stateful/stateless use, backend choice."""

    #: the NamedTuple of the layer's state
    state_type: type = LIFState

    def __init__(self, n: int, stateful: bool, backend: str):
        super().__init__()
        n = check_size("n (number of neurons)", n)
        resolve_backend(backend, torch.device("cpu"))  # validates the name
        self.n, self.stateful, self.backend = n, check_flag("stateful", stateful), backend
        self.state = None

    def _register(self, name: str, value: torch.Tensor, learn: bool) -> None:
        if learn:
            self.register_parameter(name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def _vector(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Parameter as ``[n]`` in the input's dtype/device (differentiable)."""
        return p.to(dtype=x.dtype, device=x.device).expand(self.n)

    def _initial(self, state, x):
        """The state to start from, checked against ``x`` (None: at rest)."""
        if state is None and self.stateful:
            state = self.state
        return None if state is None else check_state(type(self).__name__, state, self.state_type, x, self.n)

    def _keep(self, state):
        if self.stateful:
            self.state = state
        return state

    def reset_state(self) -> None:
        """Forget the carried state (stateful layers start at rest again)."""
        self.state = None

    def detach_state(self) -> None:
        """Cut the graph at the carried state (truncated BPTT)."""
        if self.state is not None:
            self.state = type(self.state)(*(t.detach() for t in self.state))

    def _zeros(self, x):
        return torch.zeros(x.shape[1], self.n, dtype=x.dtype, device=x.device)


class LIF(_SequenceLayer):
    """Leaky integrate-and-fire neurons, discrete time.

    Per step: ``u = beta v + x[t]``, spike ``s = H(u - threshold)``, then reset
    (``"subtract"``: ``v = u - threshold s``; ``"zero"``: ``v = u (1 - s)``; ``"none"``).
    The input is the weighted input current per step (put a ``torch.nn.Linear`` in front).

    Parameters
    ----------
    n : number of neurons.
    beta : membrane decay per step in (0, 1]; scalar or ``[n]`` (``exp(-dt / tau_mem)``;
        see ``from_time_constant``).
    threshold : firing threshold (> 0), scalar or ``[n]``.
    reset : ``"subtract"`` (default), ``"zero"`` or ``"none"``.
    surrogate : backward derivative of the spike; default ``fast_sigmoid(slope=25)``.
    detach_reset : no gradient through the spike in the reset (as snnTorch does).
    learn_beta, learn_threshold : make them trainable ``nn.Parameter``s (beta is clamped
        to (0, 1] in the forward pass).
    stateful : keep the state between calls.
    backend : ``"auto"`` (Numba on CPU, Triton on CUDA), ``"numba"``, ``"triton"``, ``"reference"``.

    Returns ``(spikes [T, B, n], LIFState(v [B, n]))``; ``return_membrane=True`` in
    ``forward`` adds the membrane before reset ``u [T, B, n]``.
    """

    def __init__(self, n: int, beta=0.9, threshold=1.0, *, reset: str = "subtract", surrogate=None,
                 detach_reset: bool = False, learn_beta: bool = False, learn_threshold: bool = False,
                 stateful: bool = False, backend: str = "auto"):
        super().__init__(n, stateful, backend)
        self.reset, self.detach_reset = check_reset(reset), check_flag("detach_reset", detach_reset)
        learn_beta, learn_threshold = check_flag("learn_beta", learn_beta), check_flag("learn_threshold", learn_threshold)
        self.surrogate = surrogates.check_surrogate(surrogate if surrogate is not None else surrogates.fast_sigmoid())
        self._register("beta", _per_neuron("beta", beta, n, low=0.0, high=1.0, low_open=True,
                                           dtype=_storage_dtype(learn_beta)), learn_beta)
        self._register("threshold", _per_neuron("threshold", threshold, n, low=0.0, high=FLOAT32_MAX, low_open=True,
                                                dtype=_storage_dtype(learn_threshold)), learn_threshold)

    @classmethod
    def from_time_constant(cls, n: int, tau_mem: float, dt: float, method: str = "exact", **kw) -> "LIF":
        """LIF with ``tau_mem`` and ``dt`` in ms: ``method="exact"`` gives ``beta = exp(-dt / tau_mem)``
        (the exact decay over a step, as the engine integrates); ``"euler"`` gives
        ``beta = 1 - dt / tau_mem`` (forward Euler, what snnTorch, Norse and NIR use)."""
        tau_mem, dt = check_number("tau_mem", tau_mem, positive=True), check_number("dt", dt, positive=True)
        if not isinstance(method, str) or method not in ("exact", "euler"):
            raise ValueError(f"method must be 'exact' or 'euler', got {method!r:.40}")
        if method == "exact":
            return cls(n, beta=math.exp(-dt / tau_mem), **kw)
        if dt >= tau_mem:
            raise ValueError(f"method='euler' needs dt < tau_mem, got dt={dt}, tau_mem={tau_mem}")
        return cls(n, beta=1.0 - dt / tau_mem, **kw)

    def _params(self, x):
        beta = self._vector(self.beta, x)
        if isinstance(self.beta, nn.Parameter):
            beta = beta.clamp(1e-6, 1.0)
        return beta, self._vector(self.threshold, x)

    def forward(self, x: torch.Tensor, state: LIFState | None = None, return_membrane: bool = False):
        check_sequence(type(self).__name__, x, self.n)
        state = self._initial(state, x)
        v0 = self._zeros(x) if state is None else state.v
        beta, threshold = self._params(x)
        spikes, u = lif_sequence(x, v0, beta, threshold, self.surrogate, self.reset, self.detach_reset,
                                 backend=self.backend)
        v = _final_v(u[-1], spikes[-1], threshold, self.reset, self.detach_reset)
        check_finite_result(type(self).__name__, x, v, state)
        new_state = self._keep(LIFState(v))
        return (spikes, new_state, u) if return_membrane else (spikes, new_state)

    def extra_repr(self) -> str:
        return f"{self.n}, reset={self.reset!r}, surrogate={self.surrogate}, backend={self.backend!r}"


def _final_v(u_last, s_last, threshold, reset, detach_reset):
    s = s_last.detach() if detach_reset else s_last
    if reset == "subtract":
        return u_last - threshold * s
    if reset == "zero":
        return u_last * (1.0 - s)
    return u_last


class RecurrentLIF(LIF):
    """LIF layer with input weights and recurrent weights inside the time loop.

    ``u[t] = beta v[t-1] + x[t] @ W_in.T + b + s[t-1] @ W_rec.T``. The input projection runs
    over all steps at once (one matrix product); the recurrent one inside the fused kernel.

    Parameters
    ----------
    n_in, n : input features and neurons. ``bias`` for the input projection.
    Other parameters as ``LIF``. State: ``RecurrentLIFState(v, s)``.
    """

    state_type = RecurrentLIFState

    def __init__(self, n_in: int, n: int, beta=0.9, threshold=1.0, *, bias: bool = True, **kw):
        n_in, n = check_size("n_in", n_in), check_size("n (number of neurons)", n)
        check_parameter_memory(f"RecurrentLIF({n_in}, {n})'s input and recurrent weights", float(n) * (n_in + n + 1))
        super().__init__(n, beta, threshold, **kw)
        self.n_in = n_in
        self.input = nn.Linear(n_in, n, bias=check_flag("bias", bias))
        self.recurrent = nn.Linear(n, n, bias=False)
        # Start the recurrent weights small so the layer does not begin saturated.
        nn.init.normal_(self.recurrent.weight, 0.0, 0.5 / math.sqrt(n))

    def forward(self, x: torch.Tensor, state: RecurrentLIFState | None = None, return_membrane: bool = False):
        check_sequence(type(self).__name__, x, self.n_in)
        state = self._initial(state, x)
        v0, s0 = (self._zeros(x), self._zeros(x)) if state is None else state
        bias = None if self.input.bias is None else self.input.bias.to(x.dtype)
        current = torch.nn.functional.linear(x, self.input.weight.to(x.dtype), bias)
        beta, threshold = self._params(x)
        spikes, u = lif_sequence(current, v0, beta, threshold, self.surrogate, self.reset, self.detach_reset,
                                 w_rec=self.recurrent.weight.to(x.dtype), s0=s0, backend=self.backend)
        v = _final_v(u[-1], spikes[-1], threshold, self.reset, self.detach_reset)
        check_finite_result(type(self).__name__, x, v, state)
        new_state = self._keep(RecurrentLIFState(v, spikes[-1]))
        return (spikes, new_state, u) if return_membrane else (spikes, new_state)

    def extra_repr(self) -> str:
        return f"{self.n_in} -> {self.n}, " + super().extra_repr()


class LI(_SequenceLayer):
    """Leaky integrator readout (no spikes): ``v[t] = beta v[t-1] + x[t]``.

    Returns ``(v [T, B, n], LIFState(v_last))``; typical use is ``v.max(0)`` or ``v.mean(0)``
    as class scores. ``beta`` in (0, 1], scalar or ``[n]``; ``learn_beta`` trains it.
    """

    def __init__(self, n: int, beta=0.9, *, learn_beta: bool = False, stateful: bool = False,
                 backend: str = "auto"):
        super().__init__(n, stateful, backend)
        learn_beta = check_flag("learn_beta", learn_beta)
        self._register("beta", _per_neuron("beta", beta, n, low=0.0, high=1.0, low_open=True,
                                           dtype=_storage_dtype(learn_beta)), learn_beta)
        self.surrogate = surrogates.fast_sigmoid()

    def forward(self, x: torch.Tensor, state: LIFState | None = None):
        check_sequence(type(self).__name__, x, self.n)
        state = self._initial(state, x)
        v0 = self._zeros(x) if state is None else state.v
        beta = self._vector(self.beta, x)
        if isinstance(self.beta, nn.Parameter):
            beta = beta.clamp(1e-6, 1.0)
        # A threshold no membrane reaches never fires: the LIF kernel with reset "none" is the
        # integrator. (Finite on purpose: inf * 0 in the kernels' branch-free reset is NaN.)
        threshold = torch.full((self.n,), torch.finfo(x.dtype).max, dtype=x.dtype, device=x.device)
        _, u = lif_sequence(x, v0, beta, threshold, self.surrogate, "none", backend=self.backend)
        check_finite_result(type(self).__name__, x, u[-1], state)
        return u, self._keep(LIFState(u[-1]))


class Izhikevich(_SequenceLayer):
    """Izhikevich (2003) neurons with the engine's update, trainable by surrogate gradients.

    ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)`` (ms, mV); per step ``v``
    takes ``substeps`` Euler steps of ``dt / substeps``, then ``u`` one step with the new
    ``v``; spike when ``v > v_peak``: ``v = c``, ``u += d``. The input is the current ``I``
    per step ``[T, B, n]``. Build it from an engine model with ``from_model`` so a network
    simulated by ``neurosim.Network`` can be trained with the same neurons.

    Parameters a, b, c, d, v_peak, v_init: scalars or ``[n]``. ``learn`` names the parameters
    to train (subset of ``("a", "b", "c", "d")``). The default surrogate is
    ``fast_sigmoid(slope=0.5)`` per mV (v is in mV, so the bump spans a few mV).
    Fused kernels as for LIF (``backend``); the backward saves ``v`` and ``u`` at the start of
    each step and recomputes the Euler sub-steps. Over long sequences (T ~ 1000 at dt = 1 ms)
    float32 gradients can overflow (the quadratic membrane multiplies them up on every rise):
    use float64, truncated BPTT (``stateful=True`` + ``detach_state()``) or gradient clipping.
    """

    state_type = IzhikevichState

    def __init__(self, n: int, a=0.02, b=0.2, c=-65.0, d=8.0, *, v_peak=30.0, v_init=-65.0, dt: float = 1.0,
                 substeps: int | None = None, surrogate=None, detach_reset: bool = False, learn=(),
                 stateful: bool = False, backend: str = "auto"):
        super().__init__(n, stateful, backend)
        self.dt = check_number("dt", dt, positive=True)
        self.substeps = (max(1, math.ceil(self.dt / 0.5 - 1e-9)) if substeps is None
                         else check_int("substeps", substeps, minimum=1))
        learn = (learn,) if isinstance(learn, str) else learn  # one name
        if not isinstance(learn, (tuple, list, set, frozenset)) or not all(isinstance(k, str) for k in learn):
            raise TypeError(f"learn must be a tuple of parameter names among ('a', 'b', 'c', 'd'), got {learn!r:.60}")
        unknown = set(learn) - {"a", "b", "c", "d"}
        if unknown:
            raise ValueError(f"learn must name parameters among ('a', 'b', 'c', 'd'), got {sorted(unknown)}")
        for name, value in (("a", a), ("b", b), ("c", c), ("d", d), ("v_peak", v_peak), ("v_init", v_init)):
            # float64 like the engine, so a model gives the same spikes in both simulators.
            self._register(name, _per_neuron(name, value, n, low=-FLOAT32_MAX, high=FLOAT32_MAX, low_open=False,
                                             dtype=torch.float64),
                           name in learn)
        self.detach_reset = check_flag("detach_reset", detach_reset)
        self.surrogate = surrogates.check_surrogate(surrogate if surrogate is not None else surrogates.fast_sigmoid(0.5))

    @classmethod
    def from_model(cls, model, dt: float = 1.0, seed=0, **kw) -> "Izhikevich":
        """The layer for an engine ``neurosim.models.Izhikevich`` (distributions drawn with ``seed``)."""
        from neurosim.models import Izhikevich as IzhikevichModel

        if not isinstance(model, IzhikevichModel):
            raise TypeError(f"model must be a neurosim.models.Izhikevich, got {type(model).__name__}")
        if not model.is_2003_form or model.u_init is not None:
            raise ValueError("model must use the 2003 form (k2=0.04, k1=5, k0=140, v_u=0, u_init=None): the layer's "
                             "fused kernels implement that form only")
        m = model.resolve(seed)
        return cls(m.n, m.a, m.b, m.c, m.d, v_peak=m.v_peak, v_init=m.v_init, dt=dt,
                   substeps=model.substeps_for(dt), **kw)

    def forward(self, x: torch.Tensor, state: IzhikevichState | None = None):
        check_sequence(type(self).__name__, x, self.n)
        state = self._initial(state, x)
        p = {k: self._vector(getattr(self, k), x) for k in ("a", "b", "c", "d", "v_peak", "v_init")}
        if state is None:
            v0 = p["v_init"].expand(x.shape[1], self.n)
            u0 = p["b"] * v0
        else:
            v0, u0 = state
        spikes, (v, u) = izhikevich_sequence(
            x, v0, u0, p["a"], p["b"], p["c"], p["d"], p["v_peak"], self.surrogate, self.dt, self.substeps,
            self.detach_reset, backend=self.backend)
        check_finite_result(type(self).__name__, x, v, state)
        return spikes, self._keep(IzhikevichState(v, u))
