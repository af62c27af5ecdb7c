"""Built-in plastic synapses for the event-driven engine, each one :class:`neurosim.SynapseModel`.

Give one to ``Network.connect(..., synapse=...)``:

* :func:`STDP` -- pair-based spike-timing-dependent plasticity with traces (Song, Miller &
  Abbott 2000; Brian2's ``examples/synapses/STDP.py``): additive or multiplicative weight
  dependence, all-to-all or nearest-spike pairing;
* :func:`IzhikevichSTDP` -- the rule of Izhikevich (2006) "Polychronization": the weight
  derivative is accumulated at each spike and the weights move once per simulated second;
* :func:`TsodyksMarkram` -- short-term depression and facilitation (Tsodyks, Pawelzik &
  Markram 1998; the dynamic synapses of Maass et al. 2002's liquid state machine).

Every rule is a definition in the model language; read it with ``rule.definition.on_pre``
or copy it as a start for your own rule.
"""

from __future__ import annotations

import math

import numpy as np

from neurosim.definition import Parameter, State
from neurosim.synapse_definition import Synapse, SynapseModel

WEIGHT_DEPENDENCES = ("additive", "multiplicative")
PAIRINGS = ("all-to-all", "nearest")

# Brian2's (event-driven) traces: both decayed to the event's time, then the event's own update.
_DECAY = """
apre = apre * exp(-elapsed / tau_pre)
apost = apost * exp(-elapsed / tau_post)
"""
# The weight change of a pairing, per weight dependence: additive steps are in weight units;
# multiplicative ones are fractions of the room left (towards w_max) or of the weight (to w_min).
_POTENTIATE = {"additive": "w = clip(w + apre, w_min, w_max)",
               "multiplicative": "w = clip(w + apre * (w_max - w), w_min, w_max)"}
_DEPRESS = {"additive": "w = clip(w + apost, w_min, w_max)",
            "multiplicative": "w = clip(w + apost * (w - w_min), w_min, w_max)"}
_JUMP = {"all-to-all": "{trace} = {trace} + {amount}", "nearest": "{trace} = {amount}"}

_STDP_MODELS: dict[tuple[str, str], SynapseModel] = {}


def stdp_model(weight_dependence: str = "additive", pairing: str = "all-to-all") -> SynapseModel:
    """The :class:`SynapseModel` of pair-based STDP with this weight dependence and pairing."""
    key = (_choice("weight_dependence", weight_dependence, WEIGHT_DEPENDENCES), _choice("pairing", pairing, PAIRINGS))
    if key not in _STDP_MODELS:
        dependence, pairs = key
        _STDP_MODELS[key] = SynapseModel(
            f"stdp_{dependence}_{pairs.replace('-', '_')}",
            parameters={"tau_pre": Parameter(20.0, "ms", positive=True), "tau_post": Parameter(20.0, "ms", positive=True),
                        "a_pre": 0.01, "a_post": -0.0105, "w_min": 0.0, "w_max": 1.0},
            state={"w": State(None), "apre": 0.0, "apost": 0.0},
            on_pre="release = w\n" + _DECAY + _JUMP[pairs].format(trace="apre", amount="a_pre") + "\n" + _DEPRESS[dependence],
            on_post=_DECAY + _JUMP[pairs].format(trace="apost", amount="a_post") + "\n" + _POTENTIATE[dependence],
            doc=f"pair-based STDP, {dependence} weight dependence, {pairs} pairing")
    return _STDP_MODELS[key]


def STDP(tau_pre=20.0, tau_post=20.0, a_pre=0.01, a_post=-0.0105, w_min=0.0, w_max=1.0,
         weight_dependence: str = "additive", pairing: str = "all-to-all") -> Synapse:
    """Pair-based STDP with presynaptic and postsynaptic traces (Brian2's STDP.py).

    On a presynaptic spike's arrival: the target receives ``w`` (the weight before the update),
    ``apre += a_pre``, then ``w = clip(w + apost, w_min, w_max)``. On a postsynaptic spike:
    ``apost += a_post``, then ``w = clip(w + apre, w_min, w_max)``. Traces decay with
    ``tau_pre``/``tau_post`` (ms) between events.

    Parameters
    ----------
    tau_pre, tau_post : trace time constants, ms (> 0).
    a_pre : trace jump of a presynaptic spike (weight units; > 0 potentiates).
    a_post : trace jump of a postsynaptic spike (weight units; < 0 depresses). Song et al. take
        ``a_post = -a_pre * tau_pre / tau_post * 1.05``.
    w_min, w_max : weight bounds (finite, ``w_min < w_max``), in the target receptor's units
        (nS for a conductance, mV for neurosim's LIF currents).
    weight_dependence : "additive" (steps of ``apre``/``apost``) or "multiplicative" (``a_pre``
        and ``a_post`` are fractions: ``w += apre * (w_max - w)``, ``w += apost * (w - w_min)``).
    pairing : "all-to-all" (traces add up) or "nearest" (a spike resets its trace to the jump:
        only the nearest pairs count).

    Every parameter may also be a per-synapse array or a distribution.
    """
    _check_bounds(w_min, w_max)
    return stdp_model(weight_dependence, pairing)(tau_pre=tau_pre, tau_post=tau_post, a_pre=a_pre, a_post=a_post,
                                                  w_min=w_min, w_max=w_max)


#: Izhikevich (2006): traces fall by 5 % per ms, i.e. exp(-1 ms / tau) = 0.95.
IZHIKEVICH_TRACE_TAU = -1.0 / math.log(0.95)

_IZHIKEVICH_MODELS: dict[float, SynapseModel] = {}


def izhikevich_stdp_model(every_ms: float = 1000.0) -> SynapseModel:
    """The :class:`SynapseModel` of :func:`IzhikevichSTDP` with its weight update every
    ``every_ms`` (the paper's once per second by default; shorter periods for short tests)."""
    if every_ms not in _IZHIKEVICH_MODELS:
        suffix = "" if every_ms == 1000.0 else f"_every_{every_ms:g}ms".replace(".", "_")
        _IZHIKEVICH_MODELS[every_ms] = SynapseModel(
            "izhikevich_stdp" + suffix,
            parameters={"a_plus": 0.1, "a_minus": 0.12,
                        "tau_plus": Parameter(IZHIKEVICH_TRACE_TAU, "ms", positive=True),
                        "tau_minus": Parameter(IZHIKEVICH_TRACE_TAU, "ms", positive=True), "bias": 0.01,
                        "decay": Parameter(0.9, nonnegative=True), "w_min": 0.0, "w_max": 10.0},
            state={"w": State(None), "sd": 0.0, "pre_trace": 0.0, "post_trace": 0.0},
            on_pre="""
                release = w
                post_trace = post_trace * exp(-elapsed / tau_minus)
                sd = sd - a_minus * post_trace
                pre_trace = 1.0
            """,
            on_post="""
                pre_trace = pre_trace * exp(-elapsed / tau_plus)
                sd = sd + a_plus * pre_trace
                post_trace = 1.0
            """,
            periodic=(every_ms, """
                w = clip(w + bias + sd, w_min, w_max)
                sd = decay * sd
            """),
            doc="Izhikevich (2006) STDP: derivative accumulated per spike, weights updated once per period")
    return _IZHIKEVICH_MODELS[every_ms]


IZHIKEVICH_STDP_MODEL = izhikevich_stdp_model()


def IzhikevichSTDP(a_plus=0.1, a_minus=0.12, tau_plus=IZHIKEVICH_TRACE_TAU, tau_minus=IZHIKEVICH_TRACE_TAU,
                   bias=0.01, decay=0.9, w_min=0.0, w_max=10.0) -> Synapse:
    """The STDP of Izhikevich (2006) "Polychronization" (spnet.m), per synapse.

    Each synapse keeps the weight ``w`` and its derivative ``sd``. When the postsynaptic
    neuron spikes, ``sd += a_plus * pre_trace`` (the presynaptic trace as seen at the synapse,
    i.e. of the spike's *arrival*); when a presynaptic spike arrives, ``sd -= a_minus *
    post_trace``. Traces are 1 at their spike and decay with ``tau_plus``/``tau_minus`` ms
    (default: by 5 % per ms, as spnet.m's 0.95). Once per simulated second, ``w = clip(w +
    bias + sd, w_min, w_max)`` and ``sd *= decay``. spnet.m's trace of 0.1 with 1.2 x 0.1 for
    depression are ``a_plus = 0.1``, ``a_minus = 0.12`` here.

    Order within a step (ours and Brian2's): arrivals first, then postsynaptic spikes; spnet.m
    sets a spike's trace before the same millisecond's arrivals read it, a difference of one
    millisecond's pairs.
    """
    _check_bounds(w_min, w_max)
    return IZHIKEVICH_STDP_MODEL(a_plus=a_plus, a_minus=a_minus, tau_plus=tau_plus, tau_minus=tau_minus,
                                 bias=bias, decay=decay, w_min=w_min, w_max=w_max)


TSODYKS_MARKRAM_MODEL = SynapseModel(
    "tsodyks_markram",
    parameters={"U": Parameter(0.5, positive=True, maximum=1.0), "tau_rec": Parameter(800.0, "ms", positive=True),
                "tau_facil": Parameter(1000.0, "ms", positive=True)},
    state={"w": State(None), "u": 0.0, "x": 1.0},
    on_pre="""
        u = u * exp(-elapsed / tau_facil)
        u = u + U * (1 - u)
        x = 1 + (x - 1) * exp(-elapsed / tau_rec)
        release = w * u * x
        x = x - u * x
    """,
    doc="Tsodyks-Markram short-term plasticity: facilitation (u) and depression (x)")

TSODYKS_MARKRAM_DEPRESSING_MODEL = SynapseModel(
    "tsodyks_markram_depressing",
    parameters={"U": Parameter(0.5, positive=True, maximum=1.0), "tau_rec": Parameter(800.0, "ms", positive=True)},
    state={"w": State(None), "x": 1.0},
    on_pre="""
        x = 1 + (x - 1) * exp(-elapsed / tau_rec)
        release = w * U * x
        x = x - U * x
    """,
    doc="Tsodyks-Markram short-term depression (no facilitation)")


def TsodyksMarkram(U=0.5, tau_rec=800.0, tau_facil=None) -> Synapse:
    """Tsodyks-Markram short-term plasticity (Tsodyks, Pawelzik & Markram 1998; Markram,
    Wang & Tsodyks 1998), event-driven.

    Per synapse: ``x`` (fraction of resources available, starts at 1) and ``u`` (utilisation,
    starts at 0). At a spike's arrival, after an interval ``delta`` since the previous one:
    ``u = u e^(-delta/tau_facil)`` then ``u += U (1 - u)``; ``x = 1 + (x - 1) e^(-delta/tau_rec)``;
    the target receives ``w * u * x``; then ``x -= u * x``. This is Brian2's order (u first,
    then the release with the new u) and equals Maass et al.'s ``u_{n+1} = U + u_n (1 - U)
    e^(-delta/F)``, ``R_{n+1} = 1 + (R_n - u_n R_n - 1) e^(-delta/D)``, ``A_n = w u_n R_n``.
    Without ``tau_facil`` (None) the synapse only depresses: ``u = U`` always.

    Parameters
    ----------
    U : utilisation of synaptic efficacy, in (0, 1].
    tau_rec : recovery time constant D, ms (> 0).
    tau_facil : facilitation time constant F, ms (> 0), or None for a depressing synapse.
    """
    if np.isscalar(U) and not isinstance(U, bool):
        if not (np.isfinite(U) and 0 < U <= 1):
            raise ValueError(f"U must be in (0, 1], got {U}")
    if tau_facil is None:
        return TSODYKS_MARKRAM_DEPRESSING_MODEL(U=U, tau_rec=tau_rec)
    return TSODYKS_MARKRAM_MODEL(U=U, tau_rec=tau_rec, tau_facil=tau_facil)


def _choice(name: str, value, allowed: tuple) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _check_bounds(w_min, w_max) -> None:
    """Weight bounds: finite, and w_min < w_max (checked per synapse for arrays; distributions
    are drawn, and checked, by connect)."""
    from neurosim.random import Distribution

    if isinstance(w_min, Distribution) or isinstance(w_max, Distribution):
        return
    lo, hi = np.asarray(w_min, dtype=float), np.asarray(w_max, dtype=float)
    if not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
        raise ValueError(f"w_min and w_max must be finite, got w_min = {w_min!r:.40}, w_max = {w_max!r:.40}")
    if np.any(lo >= hi):
        raise ValueError(f"w_min must be < w_max (bounds inverted or empty), got w_min = {w_min!r:.40}, "
                         f"w_max = {w_max!r:.40}")
