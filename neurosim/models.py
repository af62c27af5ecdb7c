"""Neuron models and spike sources: small frozen dataclasses of parameters.

A parameter is a scalar (homogeneous), an array with one value per neuron (heterogeneous)
or a :mod:`neurosim.random` distribution drawn when the population is created. Each neuron
model carries its definition (``Model.definition``, a :class:`neurosim.NeuronModel`: what a
neuron *is*); every backend runs that definition. ``LIF``, ``Izhikevich``, ``AdEx`` and
``CondLIF`` are friendly constructors of the built-in definitions (``model_library``); a
user's ``NeuronModel`` called with ``n`` makes a :class:`CustomModel`.

Units: ms for times, mV for potentials. LIF currents are expressed as the voltage they
would produce at steady state (``R * I``, mV), as in Brian2's CUBA example; Izhikevich
currents are in the dimensionless units of Izhikevich (2003); AdEx and CondLIF use pA, nS, pF.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Union

import numpy as np

from .model_library import ADEX_MODEL, COND_LIF_MODEL, IZHIKEVICH_MODEL, LIF_MODEL
from .random import Distribution, Uniform, draw
from .validation import as_real_array, check_int, check_number, host_values

Param = Union[float, np.ndarray, Distribution]


#: Memory per neuron the engine adds to a model's own parameters (state, synaptic currents,
#: inputs, delay-ring slot, row pointers, recording masks), bytes; an estimate for up-front checks.
ENGINE_BYTES_PER_NEURON = 256
#: Most Euler sub-steps of v per time step (sub-steps of dt / 10^4 and finer only cost time).
MAX_SUBSTEPS = 10_000


class Model:
    """Common behaviour of neuron models and sources: a size ``n`` and resolvable parameters."""

    #: names of the per-neuron parameters, with the checks ``draw`` applies to each
    float_params: ClassVar[dict[str, dict]] = {}
    #: state variables a run can record (``Network.monitor_state``)
    state_variables: ClassVar[tuple[str, ...]] = ()

    #: the neuron model's definition (None for spike sources): what every backend runs
    definition: ClassVar = None

    def _check_n(self):
        check_int(f"{type(self).__name__}.n", self.n, minimum=1)

    def definition_values(self, dt: float) -> dict:
        """Values of the definition's parameters for a resolved model at time step ``dt`` (ms):
        float64 arrays of length ``n``, and ints for integer parameters."""
        return {k: getattr(self, k) for k in self.definition.parameters}

    def definition_numbers(self, dt: float) -> dict:
        """``definition_values`` as the engine and the exporters evaluate them: float64 arrays,
        and Python ints for integer parameters."""
        ints = self.definition.integer_parameters
        return {k: int(v) if k in ints else np.asarray(v, dtype=np.float64) for k, v in self.definition_values(dt).items()}

    def bytes_per_neuron(self) -> int:
        """About how much memory one neuron takes once its population is built and run: its
        parameters, plus the engine's state, inputs and bookkeeping (for up-front checks)."""
        return 8 * len(self.float_params) + ENGINE_BYTES_PER_NEURON

    def resolve(self, rng) -> "Model":
        """A copy whose parameters are float64 arrays of length ``n`` (distributions drawn).

        ``rng`` is an int seed or a ``numpy.random.Generator``; the network passes its own.
        """
        from .validation import as_rng

        rng = as_rng(rng)
        values = {}
        sampler = getattr(self, "sampler", None)
        if sampler is not None:
            values.update(sampler(rng, self.n))
        for name, checks in self.float_params.items():
            spec = values.get(name, getattr(self, name))
            values[name] = draw(f"{type(self).__name__}.{name}", spec, self.n, rng, **checks)
        if "sampler" in {f.name for f in dataclasses.fields(self)}:
            values["sampler"] = None
        return dataclasses.replace(self, **values)


@dataclass(frozen=True, eq=False)
class LIF(Model):
    """Current-based leaky integrate-and-fire neuron with exponential synaptic currents.

    ``tau_m dv/dt = (v_rest - v) + i_exc + i_inh + i_ext``, ``tau_exc di_exc/dt = -i_exc``,
    ``tau_inh di_inh/dt = -i_inh``; integrated exactly over each step (the external current
    is held constant over a step). Spike when ``v > v_threshold``; then ``v = v_reset`` and
    ``v`` stays frozen for ``t_ref`` ms (the currents keep decaying).

    Parameters
    ----------
    n : number of neurons.
    tau_m : membrane time constant, ms (> 0).
    v_rest, v_threshold, v_reset : resting, threshold and reset potentials, mV.
    t_ref : refractory period, ms (>= 0; whole steps, rounded down like Brian2).
    tau_exc, tau_inh : decay time constants of the excitatory / inhibitory currents, ms (> 0).
    v_init : initial membrane potential, mV (scalar, array or distribution).
    """

    n: int
    tau_m: Param = 20.0
    v_rest: Param = -65.0
    v_threshold: Param = -50.0
    v_reset: Param = -65.0
    t_ref: Param = 2.0
    tau_exc: Param = 5.0
    tau_inh: Param = 10.0
    v_init: Param = -65.0

    float_params: ClassVar[dict[str, dict]] = {
        "tau_m": {"positive": True},
        "v_rest": {},
        "v_threshold": {},
        "v_reset": {},
        "t_ref": {"nonnegative": True},
        "tau_exc": {"positive": True},
        "tau_inh": {"positive": True},
        "v_init": {},
    }
    state_variables: ClassVar[tuple[str, ...]] = ("v", "i_exc", "i_inh")
    definition: ClassVar = LIF_MODEL

    def __post_init__(self):
        self._check_n()

    @classmethod
    def cuba(cls, n: int) -> "LIF":
        """The CUBA benchmark neuron (Brette et al. 2007, Brian2's example): E_l = -49 mV,
        V_t = -50 mV, V_r = -60 mV, tau_m = 20 ms, tau_e = 5 ms, tau_i = 10 ms, refractory 5 ms,
        initial v uniform in [V_r, V_t)."""
        return cls(n, tau_m=20.0, v_rest=-49.0, v_threshold=-50.0, v_reset=-60.0, t_ref=5.0,
                   tau_exc=5.0, tau_inh=10.0, v_init=Uniform(-60.0, -50.0))


def _izhikevich_2003_excitatory(heterogeneity: float, towards_chattering: bool):
    """Sampler of the 2003 network's excitatory recipe: c = -65 + 15 r^2, d = 8 - 6 r^2."""

    def sample(rng, n):
        r = rng.uniform(0.0, 1.0, n)
        r = 1.0 - heterogeneity * (1.0 - r) if towards_chattering else heterogeneity * r
        return {"c": -65.0 + 15.0 * r**2, "d": 8.0 - 6.0 * r**2}

    return sample


def _izhikevich_2003_inhibitory(heterogeneity: float):
    """Sampler of the 2003 network's inhibitory recipe: a = 0.02 + 0.08 r, b = 0.25 - 0.05 r."""

    def sample(rng, n):
        r = 1.0 - heterogeneity * (1.0 - rng.uniform(0.0, 1.0, n))
        return {"a": 0.02 + 0.08 * r, "b": 0.25 - 0.05 * r}

    return sample


@dataclass(frozen=True, eq=False)
class Izhikevich(Model):
    """Izhikevich (2003) neuron: ``v' = 0.04 v^2 + 5 v + 140 - u + I``, ``u' = a (b v - u)``.

    In general ``v' = k2 v^2 + k1 v + k0 - u + I`` and ``u' = a (b (v - v_u) - u)``; the
    defaults are the 2003 model. :meth:`from_capacitance` builds the capacitance form of
    Izhikevich (2007) / Nicola & Clopath (2017), ``C v' = k (v - v_r)(v - v_t) - u + I``, as
    this general form divided by ``C`` (so its currents are in pA / C).

    Spike when ``v >= v_peak`` (30 mV); then ``v = c``, ``u = u + d``. Per step, ``v`` takes
    ``substeps`` Euler steps of ``dt / substeps`` and ``u`` one Euler step with the new ``v``
    (the paper's scheme: two 0.5 ms half-steps at dt = 1 ms). ``I`` is the sum of the synaptic
    currents and the external current.

    Parameters
    ----------
    n : number of neurons.
    a, b, c, d : the model's parameters (1/ms, 1, mV, mV); scalars, arrays or distributions.
    v_peak : spike cut-off, mV.
    v_init : initial v, mV.
    k2, k1, k0 : coefficients of the quadratic ``k2 v^2 + k1 v + k0`` (1/(mV ms), 1/ms, mV/ms).
    v_u : the potential ``u`` is relative to, mV (0 in the 2003 model).
    u_init : initial u; None (default) starts at ``b * (v_init - v_u)``.
    tau_exc, tau_inh : decay of the synaptic currents, ms. 0 (default) makes each arriving
        spike a current pulse lasting one step, as in the 2003 network.
    substeps : Euler sub-steps of v per step; None picks the smallest number with
        sub-step <= 0.5 ms.
    sampler : optional ``f(rng, n) -> dict`` that draws parameters together when the
        population is created (the presets use it for the paper's per-neuron random r).
    """

    n: int
    a: Param = 0.02
    b: Param = 0.2
    c: Param = -65.0
    d: Param = 8.0
    v_peak: Param = 30.0
    v_init: Param = -65.0
    tau_exc: Param = 0.0
    tau_inh: Param = 0.0
    substeps: int | None = None
    sampler: Callable | None = field(default=None, repr=False)
    k2: Param = 0.04
    k1: Param = 5.0
    k0: Param = 140.0
    v_u: Param = 0.0
    u_init: Param | None = None

    float_params: ClassVar[dict[str, dict]] = {
        "a": {},
        "b": {},
        "c": {},
        "d": {},
        "v_peak": {},
        "v_init": {},
        "tau_exc": {"nonnegative": True},
        "tau_inh": {"nonnegative": True},
        "k2": {},
        "k1": {},
        "k0": {},
        "v_u": {},
    }
    state_variables: ClassVar[tuple[str, ...]] = ("v", "u", "i_exc", "i_inh")
    definition: ClassVar = IZHIKEVICH_MODEL

    def __post_init__(self):
        self._check_n()
        if self.substeps is not None:
            check_int("Izhikevich.substeps", self.substeps, minimum=1)
            if self.substeps > MAX_SUBSTEPS:  # each one is an Euler step of every neuron, every step
                raise ValueError(f"Izhikevich.substeps must be <= {MAX_SUBSTEPS}, got {self.substeps}")

    def resolve(self, rng) -> "Izhikevich":
        from .validation import as_rng

        rng = as_rng(rng)
        m = super().resolve(rng)
        if self.u_init is not None:
            return dataclasses.replace(m, u_init=draw("Izhikevich.u_init", self.u_init, self.n, rng))
        with np.errstate(over="ignore", invalid="ignore"):
            u_init = m.b * (m.v_init - m.v_u)
        if not np.all(np.isfinite(u_init)):
            raise ValueError("Izhikevich.u_init defaults to Izhikevich.b * (Izhikevich.v_init - Izhikevich.v_u), which "
                             "overflows here: give smaller values, or u_init")
        return dataclasses.replace(m, u_init=u_init)

    def definition_values(self, dt: float) -> dict:
        values = {k: getattr(self, k) for k in self.float_params}
        return {**values, "u_init": self.u_init, "substeps": self.substeps_for(dt)}

    @property
    def is_2003_form(self) -> bool:
        """True when the quadratic is the 2003 model's ``0.04 v^2 + 5 v + 140`` and ``v_u = 0``."""
        return all(np.all(np.asarray(getattr(self, k)) == v) for k, v in (("k2", 0.04), ("k1", 5.0), ("k0", 140.0), ("v_u", 0.0)))

    @classmethod
    def from_capacitance(cls, n: int, *, C: float, k: float, v_r: float, v_t: float, a: Param, b: Param,
                         c: Param, d: Param, v_peak: Param, v_init: Param, u_init: Param = 0.0, **kw) -> "Izhikevich":
        """The capacitance form ``C v' = k (v - v_r)(v - v_t) - u + I``, ``u' = a (b (v - v_r) - u)``,
        reset ``v = c``, ``u = u + d`` at ``v >= v_peak`` (Izhikevich 2007; Nicola & Clopath 2017).

        Units: C in pF, k in nS/mV, potentials in mV, a in 1/ms, b in nS, d and u in pA. The
        returned model is this form divided by ``C``: its ``u`` is ``u / C`` and every current
        that drives it (constant currents, synaptic weights) must be given as ``I / C`` (pA/pF
        = mV/ms). ``u_init=None`` starts ``u`` at ``b (v_init - v_r)``.
        """
        C = check_number("C", C, positive=True)
        k = check_number("k", k, positive=True)
        v_r, v_t = check_number("v_r", v_r), check_number("v_t", v_t)
        def scale(name, x):
            if x is None and name == "u_init":  # the model's default, b (v_init - v_r) / C
                return None
            if isinstance(x, Distribution):
                raise TypeError(f"{name} must be a scalar or per-neuron array here (it is divided by C), got a distribution")
            return x / C if np.isscalar(x) else np.asarray(x, dtype=np.float64) / C

        return cls(n, a=a, b=scale("b", b), c=c, d=scale("d", d), v_peak=v_peak, v_init=v_init,
                   u_init=scale("u_init", u_init), k2=k / C, k1=-k * (v_r + v_t) / C, k0=k * v_r * v_t / C, v_u=v_r, **kw)

    @classmethod
    def nicola_clopath(cls, n: int, **kw) -> "Izhikevich":
        """The FORCE network's neuron (Nicola & Clopath 2017, their code IZFORCESINE.m): C = 250 pF,
        k = 2.5 nS/mV, v_r = -60 mV, v_t = v_r + 40 - b/k = -19.2 mV, a = 0.01/ms, b = -2 nS,
        v_peak = 30 mV, reset -65 mV, d = 200 pA; v starts uniform in [v_r, v_peak], u at 0.
        Currents in pA / 250 pF (their bias of 1000 pA is 4.0)."""
        b, k, v_r = -2.0, 2.5, -60.0
        return cls.from_capacitance(n, C=250.0, k=k, v_r=v_r, v_t=v_r + 40.0 - b / k, a=0.01, b=b, c=-65.0, d=200.0,
                                    v_peak=30.0, v_init=Uniform(v_r, 30.0), u_init=0.0, **kw)

    def substeps_for(self, dt: float) -> int:
        """Euler sub-steps of v used at time step ``dt`` (ms)."""
        return self.substeps if self.substeps is not None else max(1, math.ceil(dt / 0.5 - 1e-9))

    # ---- presets of Izhikevich (2003), Fig. 2 and the network's recipes ----
    @classmethod
    def regular_spiking(cls, n: int, heterogeneity: float = 0.0, **kw) -> "Izhikevich":
        """Regular spiking (a=0.02, b=0.2, c=-65, d=8). With ``heterogeneity`` h in [0, 1],
        each neuron gets c = -65 + 15 (h r)^2, d = 8 - 6 (h r)^2 with r ~ U(0, 1): h = 1 is the
        excitatory population of the 2003 network (regular spiking to chattering)."""
        h = check_number("heterogeneity", heterogeneity, nonnegative=True)
        sampler = _izhikevich_2003_excitatory(h, towards_chattering=False) if h > 0 else None
        return cls(n, a=0.02, b=0.2, c=-65.0, d=8.0, sampler=sampler, **kw)

    @classmethod
    def chattering(cls, n: int, heterogeneity: float = 0.0, **kw) -> "Izhikevich":
        """Chattering (a=0.02, b=0.2, c=-50, d=2); ``heterogeneity`` h mixes towards regular
        spiking with the same recipe (r' = 1 - h (1 - r)); h = 1 gives the 2003 network's mix."""
        h = check_number("heterogeneity", heterogeneity, nonnegative=True)
        sampler = _izhikevich_2003_excitatory(h, towards_chattering=True) if h > 0 else None
        return cls(n, a=0.02, b=0.2, c=-50.0, d=2.0, sampler=sampler, **kw)

    @classmethod
    def fast_spiking(cls, n: int, heterogeneity: float = 0.0, **kw) -> "Izhikevich":
        """Fast spiking (a=0.1, b=0.2, c=-65, d=2); ``heterogeneity`` h gives a = 0.02 + 0.08 r',
        b = 0.25 - 0.05 r' with r' = 1 - h (1 - r): h = 1 is the 2003 network's inhibitory
        population (fast spiking to low-threshold spiking)."""
        h = check_number("heterogeneity", heterogeneity, nonnegative=True)
        sampler = _izhikevich_2003_inhibitory(h) if h > 0 else None
        return cls(n, a=0.1, b=0.2, c=-65.0, d=2.0, sampler=sampler, **kw)

    @classmethod
    def intrinsically_bursting(cls, n: int, **kw) -> "Izhikevich":
        """Intrinsically bursting (a=0.02, b=0.2, c=-55, d=4)."""
        return cls(n, a=0.02, b=0.2, c=-55.0, d=4.0, **kw)

    @classmethod
    def low_threshold_spiking(cls, n: int, **kw) -> "Izhikevich":
        """Low-threshold spiking (a=0.02, b=0.25, c=-65, d=2)."""
        return cls(n, a=0.02, b=0.25, c=-65.0, d=2.0, **kw)

    @classmethod
    def thalamo_cortical(cls, n: int, **kw) -> "Izhikevich":
        """Thalamo-cortical (a=0.02, b=0.25, c=-65, d=0.05)."""
        return cls(n, a=0.02, b=0.25, c=-65.0, d=0.05, **kw)

    @classmethod
    def resonator(cls, n: int, **kw) -> "Izhikevich":
        """Resonator (a=0.1, b=0.26, c=-65, d=2)."""
        return cls(n, a=0.1, b=0.26, c=-65.0, d=2.0, **kw)


def _float_params(definition) -> dict[str, dict]:
    """The ``float_params`` checks of a definition's float parameters."""
    return {k: {"positive": p.positive, "nonnegative": p.nonnegative}
            for k, p in definition.parameters.items() if not p.integer}


@dataclass(frozen=True, eq=False)
class AdEx(Model):
    """Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).

    ``c_m dv/dt = g_l (e_l - v) + g_l d_t exp((v - v_t) / d_t) + i_exc + i_inh + i_ext - w``,
    ``tau_w dw/dt = a (v - e_l) - w``; forward Euler with the old values of both (Brian2's
    ``method='euler'``). Spike when ``v > v_peak``; then ``v = v_r``, ``w = w + b``, and v is
    frozen for ``t_ref`` ms. Synaptic currents (pA) decay exponentially (``tau_exc``, ``tau_inh``).

    Units: capacitance pF, conductances nS, potentials mV, times ms, and currents pA (w, b, the
    synaptic weights, and the external current: ``ConstantCurrent(500.0)`` is 500 pA).
    Defaults: Naud et al. (2008)'s tonic spiking neuron (driven by 500 pA).
    """

    n: int
    c_m: Param = 200.0
    g_l: Param = 10.0
    e_l: Param = -70.0
    v_t: Param = -50.0
    d_t: Param = 2.0
    a: Param = 2.0
    tau_w: Param = 30.0
    b: Param = 0.0
    v_r: Param = -58.0
    v_peak: Param = 0.0
    t_ref: Param = 0.0
    tau_exc: Param = 5.0
    tau_inh: Param = 10.0
    v_init: Param = -70.0
    w_init: Param = 0.0

    definition: ClassVar = ADEX_MODEL
    float_params: ClassVar[dict[str, dict]] = _float_params(ADEX_MODEL)
    state_variables: ClassVar[tuple[str, ...]] = ADEX_MODEL.state_names

    def __post_init__(self):
        self._check_n()


@dataclass(frozen=True, eq=False)
class CondLIF(Model):
    """Conductance-based leaky integrate-and-fire neuron with exponential conductances.

    ``c_m dv/dt = g_l (e_l - v) + g_exc (e_exc - v) + g_inh (e_inh - v) + i_ext``,
    ``tau_exc dg_exc/dt = -g_exc``, ``tau_inh dg_inh/dt = -g_inh``; forward Euler with the old
    values (as Brian2's COBA example, ``method='euler'``). A spike's weight (nS) is added to
    ``g_exc`` or ``g_inh``. Spike when ``v > v_threshold``; then ``v = v_reset`` and v is frozen
    for ``t_ref`` ms. Defaults: the COBA network of Stimberg et al. (2018) (Brian2's
    examples/frompapers/Stimberg_et_al_2018/example_1_COBA.py), whose external current is 150 pA.

    Units: capacitance pF, conductances nS, potentials mV, the external current pA, times ms.
    """

    n: int
    c_m: Param = 198.0
    g_l: Param = 9.99
    e_l: Param = -60.0
    e_exc: Param = 0.0
    e_inh: Param = -80.0
    tau_exc: Param = 5.0
    tau_inh: Param = 10.0
    v_threshold: Param = -50.0
    v_reset: Param = -60.0
    t_ref: Param = 5.0
    v_init: Param = -60.0
    g_exc_init: Param = 0.0
    g_inh_init: Param = 0.0

    definition: ClassVar = COND_LIF_MODEL
    float_params: ClassVar[dict[str, dict]] = _float_params(COND_LIF_MODEL)
    state_variables: ClassVar[tuple[str, ...]] = COND_LIF_MODEL.state_names

    def __post_init__(self):
        self._check_n()


class CustomModel(Model):
    """A population's model made from a user's :class:`neurosim.NeuronModel`: ``MyModel(n, **values)``.

    Float parameters are scalars, per-neuron arrays or distributions (drawn when the population
    is created); integer parameters are ints. Parameters not given take their defaults.
    """

    def __init__(self, definition, n: int, values: dict):
        self.definition = definition
        self.n = n
        self._check_n()
        unknown = sorted(set(values) - set(definition.parameters))
        if unknown:
            raise TypeError(f"{definition.name}: unknown parameter(s) {', '.join(unknown)}; "
                            f"parameters: {', '.join(definition.parameters)}")
        self.values = {}
        for k, spec in definition.parameters.items():
            value = values.get(k, spec.default)
            if value is None:
                raise TypeError(f"{definition.name}: parameter {k!r} has no default; give it, e.g. "
                                f"{definition.name}({n}, {k}=...)")
            if spec.integer:
                value = check_int(f"{definition.name}.{k}", value, minimum=0)
            self.values[k] = value
        self.float_params = _float_params(definition)
        self.state_variables = definition.state_names

    def __getattr__(self, name):
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} of {self.__dict__.get('definition')!r} has no attribute {name!r}")

    def resolve(self, rng) -> "CustomModel":
        from .validation import as_rng

        rng = as_rng(rng)
        values = dict(self.values)
        for k, checks in self.float_params.items():
            values[k] = draw(f"{self.definition.name}.{k}", values[k], self.n, rng, **checks)
        return CustomModel(self.definition, self.n, values)

    def __repr__(self) -> str:
        return f"{self.definition.name}(n={self.n})"


@dataclass(frozen=True, eq=False)
class PoissonSource(Model):
    """``n`` independent Poisson spike trains with ``rate`` in Hz (scalar or per neuron).

    Each step a source spikes with probability ``rate * dt / 1000`` (as Brian2's PoissonGroup).
    """

    n: int
    rate: Param = 10.0

    float_params: ClassVar[dict[str, dict]] = {"rate": {"nonnegative": True}}

    def __post_init__(self):
        self._check_n()


@dataclass(frozen=True, eq=False)
class PoissonCounts(Model):
    """``n`` independent bundles of ``n_inputs`` Poisson inputs each, as Brian2's ``PoissonInput``.

    Each step, virtual neuron ``i`` emits ``Binomial(n_inputs, p_i)`` events with
    ``p_i = rate_i * dt / 1000``: the number of its ``n_inputs`` inputs that spike in the step,
    each input spiking with probability ``p_i`` independently of the others, of the other
    neurons and of the other steps. The events of a step are several events of one source
    neuron (as several spikes of a :class:`SpikeTimes` in a step): each delivers its synapses'
    weights once, and each is recorded, so a neuron's "spike count" is its input count.

    Usually made by :meth:`neurosim.Network.add_poisson_input`, which gives every neuron of a
    target population its own bundle (a one-to-one projection onto a receptor); as a population
    of its own it can be connected by any rule (all targets of a neuron then share its counts).

    Parameters
    ----------
    n : int
        Number of virtual neurons (bundles).
    n_inputs : int
        Inputs per bundle (Brian2's ``N``), >= 1; the same for every bundle.
    rate : float, array [n] or distribution
        Rate of each input, Hz (>= 0; scalar, one per bundle, or drawn). A network refuses a rate
        with ``rate * dt / 1000 > 1`` (an input cannot spike more than once per step).

    Mean and variance of a bundle's count per step are ``n_inputs * p`` and
    ``n_inputs * p * (1 - p)``, as Brian2's ``PoissonInput`` (which, where ``n_inputs * p > 5``
    and ``n_inputs * (1 - p) > 5``, draws a normal number of the same mean and variance instead).
    """

    n: int
    n_inputs: int = 1
    rate: Param = 10.0

    float_params: ClassVar[dict[str, dict]] = {"rate": {"nonnegative": True}}

    def __post_init__(self):
        self._check_n()
        object.__setattr__(self, "n_inputs", check_int("PoissonCounts.n_inputs", self.n_inputs, minimum=1))

    def probability(self, dt: float, name: str = "PoissonCounts.rate") -> np.ndarray | float:
        """Spike probability of one input per step of ``dt`` ms, ``rate * dt / 1000``, as the
        rate is given (a resolved model: float64 [n]). Refused, naming ``name``, above 1."""
        rate = np.asarray(self.rate, dtype=np.float64)
        p = rate * (dt * 1e-3)
        if rate.size and np.max(p) > 1.0:
            raise ValueError(f"{name} must be at most 1000 / dt = {1e3 / dt:g} Hz at dt = {dt:g} ms (an input spikes "
                             f"at most once per step: rate * dt / 1000 <= 1), got {np.max(rate):g} Hz; use a smaller "
                             f"dt, or more inputs (n_inputs) at a lower rate")
        return p


@dataclass(frozen=True, eq=False)
class SpikeTimes(Model):
    """A spike-time generator: neuron ``indices[k]`` spikes at ``times[k]`` (ms).

    Parameters
    ----------
    n : int
        Number of source neurons.
    indices : int array [n_spikes]
        Neuron of each spike, in ``[0, n)``.
    times : float array [n_spikes]
        Time of each spike in ms, finite and ``>= 0``; rounded to the nearest step of the
        network's ``dt``.

    Every entry is one spike event, in any order. Several spikes of one neuron may fall on one
    step (a repeated time, or times closer than ``dt``): each is delivered on its own, so two
    spikes in a step deliver twice the weight to every target, and each is recorded (the
    neuron's spike count grows by two). Within a step, events are delivered in the given order.
    """

    n: int
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        self._check_n()
        indices = np.asarray(host_values("SpikeTimes.indices", self.indices))
        times = as_real_array("SpikeTimes.times", host_values("SpikeTimes.times", self.times))
        if indices.ndim != 1 or times.ndim != 1 or indices.shape != times.shape:
            raise ValueError(f"SpikeTimes.indices and .times must be 1-D of equal length, got shapes {indices.shape} and {times.shape}")
        if indices.size and not (np.issubdtype(indices.dtype, np.integer) and not np.issubdtype(indices.dtype, np.bool_)):
            raise TypeError(f"SpikeTimes.indices must be integers (neuron indices in [0, {self.n})), got an array of {indices.dtype}")
        if indices.size:
            lo, hi = indices.min(), indices.max()
            if lo < 0 or hi >= self.n:
                raise ValueError(f"SpikeTimes.indices must be in [0, {self.n}) (n = {self.n}), got range [{lo}, {hi}]")
        if times.size:
            lo, hi = times.min(), times.max()  # NaN propagates through min and max
            if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0:
                bad = times[~np.isfinite(times) | (times < 0)]
                raise ValueError(f"SpikeTimes.times must be finite and >= 0 ms, got {bad[0]:g} "
                                 f"({bad.size} such time{'s' if bad.size > 1 else ''})")
        object.__setattr__(self, "indices", indices.astype(np.int64))
        object.__setattr__(self, "times", times)

    def steps(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """``(step, index)`` of every spike, int64 [n_spikes] each, sorted by step and, within
        a step, in the given order. Several spikes of one neuron in a step stay several."""
        steps = self.times / dt
        np.rint(steps, out=steps)
        if steps.size and steps.max() >= 2.0**62:  # checked as floats: the int cast would wrap
            raise ValueError(f"SpikeTimes.times: a spike at {self.times.max():g} ms is {steps.max():.3g} steps of "
                             f"dt = {dt} ms away, beyond any run (at most 2^62 steps)")
        steps = steps.astype(np.int64)
        m = steps.size
        if m < 2 or not np.any(steps[1:] < steps[:-1]):  # already in order (the usual case)
            return steps, self.indices.copy()
        # A stable argsort of millions of int64 takes seconds (and gathering the indices by it a
        # good part of one); a plain sort of packed (step, position, index) keys gives the same
        # order several times faster, and the step and index are read back from the sorted keys.
        first = int(steps.min())
        step_bits = (int(steps.max()) - first).bit_length()
        position_bits, index_bits = (m - 1).bit_length(), (self.n - 1).bit_length()
        if step_bits + position_bits + index_bits <= 63:
            keys = steps
            keys -= first
            keys <<= position_bits
            keys |= np.arange(m, dtype=np.int64)
            keys <<= index_bits
            keys |= self.indices
            keys.sort()
            indices = keys & ((1 << index_bits) - 1)
            keys >>= position_bits + index_bits
            keys += first
            return keys, indices
        order = np.argsort(steps, kind="stable")
        return steps[order], self.indices[order]


NEURON_MODELS = (LIF, Izhikevich, AdEx, CondLIF, CustomModel)
SOURCE_MODELS = (PoissonSource, PoissonCounts, SpikeTimes)
