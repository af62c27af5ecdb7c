"""PyNN's standard neuron models as neurosim definitions, in PyNN's units.

PyNN's units (ms, mV, nA, uS, nF) form a coherent system like neurosim's own: uS x mV = nA,
nA / nF = mV/ms. So these definitions read PyNN's parameters as they are given, and a weight
is added to a synaptic variable as PyNN states it (nA for currents, uS for conductances).
neurosim's unit checker knows only its own unit names, so the definitions leave units
undeclared; the PyNN layer reports PyNN's units for recorded signals.

The parameters and their defaults are PyNN's own (read from its cell types); each state
variable starts from an ``<name>_init`` parameter: the PyNN layer sets those from
``Population.initialize`` and, when it rebuilds the engine network mid-simulation (after a
parameter change), from the state the previous network left.

The integration methods follow what pyNN.brian2 asks Brian2 for, so both backends solve the
same equations the same way: exact for ``IF_curr_exp`` (linear), forward Euler for
``IF_cond_exp`` and ``Izhikevich`` (Brian2's choice for non-linear equations), and the
midpoint method (Brian2's ``rk2``) for ``EIF_cond_exp_isfa_ista``.
"""

from __future__ import annotations

from pyNN.standardmodels import cells

from neurosim.definition import NeuronModel, Parameter

_POSITIVE = {"positive": True}
_NONNEGATIVE = {"nonnegative": True}

# Weight of a decaying synaptic current in v after one exact step (see model_library.LIF_MODEL).
_EXACT_GAIN = ("where(abs({s} - tau_m) <= 1e-9 * abs(tau_m), dt / tau_m * exp(-dt / tau_m), "
               "{s} / ({s} - tau_m) * (exp(-dt / {s}) - exp(-dt / tau_m)))")


# The parameters that must be positive (time constants, capacitance) or >= 0.
_CHECKS = {"cm": _POSITIVE, "tau_m": _POSITIVE, "tau_refrac": _NONNEGATIVE, "tau_syn_E": _POSITIVE,
           "tau_syn_I": _POSITIVE, "delta_T": _POSITIVE, "tau_w": _POSITIVE}


def _parameters(cell, extra_state: dict | None = None) -> dict:
    """The definition's parameters: PyNN's cell type's own parameters with their defaults, and
    an ``<name>_init`` for every state variable (PyNN's initial values, plus ``extra_state``:
    variables this definition adds)."""
    params = {k: Parameter(float(v), **_CHECKS.get(k, {})) for k, v in cell.default_parameters.items()}
    state = {**cell.default_initial_values, **(extra_state or {})}
    params.update({f"{k}_init": Parameter(float(v)) for k, v in state.items()})
    return params


IF_CURR_EXP = NeuronModel(
    "pynn_IF_curr_exp",
    parameters=_parameters(cells.IF_curr_exp),
    state={"v": "v_init", "isyn_exc": "isyn_exc_init", "isyn_inh": "isyn_inh_init"},
    derived={
        "decay_m": "exp(-dt / tau_m)",
        "r_m": "tau_m / cm",  # membrane resistance, MOhm: nA x MOhm = mV
        "gain_exc": _EXACT_GAIN.format(s="tau_syn_E"),
        "gain_inh": _EXACT_GAIN.format(s="tau_syn_I"),
        "decay_exc": "exp(-dt / tau_syn_E)",
        "decay_inh": "exp(-dt / tau_syn_I)",
    },
    # exact step of cm dv/dt = cm (v_rest - v) / tau_m + isyn_exc + isyn_inh + i_offset + i_ext
    update="""
        v = v_rest + (v - v_rest) * decay_m + r_m * (isyn_exc * gain_exc + isyn_inh * gain_inh + (i_offset + i_ext) * (1.0 - decay_m))
        isyn_exc = isyn_exc * decay_exc
        isyn_inh = isyn_inh * decay_inh
    """,
    threshold="v > v_thresh", reset="v = v_reset", refractory="tau_refrac",
    inputs={"exc": "isyn_exc", "inh": "isyn_inh"},
    doc="PyNN IF_curr_exp: LIF with exponentially decaying synaptic currents (nA), exact steps")

IF_COND_EXP = NeuronModel(
    "pynn_IF_cond_exp",
    parameters=_parameters(cells.IF_cond_exp),
    state={"v": "v_init", "gsyn_exc": "gsyn_exc_init", "gsyn_inh": "gsyn_inh_init"},
    derived={"euler_exc": "1.0 - dt / tau_syn_E", "euler_inh": "1.0 - dt / tau_syn_I"},
    # forward Euler with the old values (Brian2's 'euler')
    update="""
        v = v + dt * ((v_rest - v) / tau_m + (gsyn_exc * (e_rev_E - v) + gsyn_inh * (e_rev_I - v) + i_offset + i_ext) / cm)
        gsyn_exc = gsyn_exc * euler_exc
        gsyn_inh = gsyn_inh * euler_inh
    """,
    threshold="v > v_thresh", reset="v = v_reset", refractory="tau_refrac",
    inputs={"exc": "gsyn_exc", "inh": "gsyn_inh"},
    doc="PyNN IF_cond_exp: LIF with exponentially decaying synaptic conductances (uS), forward Euler")

EIF_COND_EXP_ISFA_ISTA = NeuronModel(
    "pynn_EIF_cond_exp_isfa_ista",
    parameters=_parameters(cells.EIF_cond_exp_isfa_ista),
    state={"v": "v_init", "w": "w_init", "gsyn_exc": "gsyn_exc_init", "gsyn_inh": "gsyn_inh_init"},
    derived={"g_l": "cm / tau_m", "a_na": "a * 0.001"},  # leak, uS; a in nS -> uS (a x mV in nA)
    # midpoint method (Brian2's 'rk2') on all four equations
    update="""
        i_total = i_offset + i_ext
        dv1 = (g_l * delta_T * exp((v - v_thresh) / delta_T) + g_l * (v_rest - v) + gsyn_exc * (e_rev_E - v) + gsyn_inh * (e_rev_I - v) + i_total - w) / cm
        dw1 = (a_na * (v - v_rest) - w) / tau_w
        v_h = v + 0.5 * dt * dv1
        w_h = w + 0.5 * dt * dw1
        ge_h = gsyn_exc * (1.0 - 0.5 * dt / tau_syn_E)
        gi_h = gsyn_inh * (1.0 - 0.5 * dt / tau_syn_I)
        v = v + dt * (g_l * delta_T * exp((v_h - v_thresh) / delta_T) + g_l * (v_rest - v_h) + ge_h * (e_rev_E - v_h) + gi_h * (e_rev_I - v_h) + i_total - w_h) / cm
        w = w + dt * (a_na * (v_h - v_rest) - w_h) / tau_w
        gsyn_exc = gsyn_exc - dt * ge_h / tau_syn_E
        gsyn_inh = gsyn_inh - dt * gi_h / tau_syn_I
    """,
    threshold="v > v_spike", reset="v = v_reset\nw = w + b", refractory="tau_refrac",
    inputs={"exc": "gsyn_exc", "inh": "gsyn_inh"},
    doc="PyNN EIF_cond_exp_isfa_ista: adaptive exponential IF (Brette & Gerstner 2005), conductances in uS")

IZHIKEVICH = NeuronModel(
    "pynn_Izhikevich",
    parameters=_parameters(cells.Izhikevich, {"step_exc": 0.0, "step_inh": 0.0}),
    # A spike's weight is a jump of v in mV (PyNN's Izhikevich has delta synapses). The engine
    # adds a weight to a variable of its own per receptor, so each receptor has a one-step
    # pulse that the next update adds to v.
    state={"v": "v_init", "u": "u_init", "step_exc": "step_exc_init", "step_inh": "step_inh_init"},
    # forward Euler with the old values (Brian2's 'euler'); i_offset in nA acts through the
    # 1 pF of pyNN's equations: 1 nA / 1 pF = 1000 mV/ms
    update="""
        v = v + step_exc + step_inh
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + 1000.0 * (i_offset + i_ext)
        u = u + dt * a * (b * v - u)
        v = v + dt * dv
        step_exc = 0.0
        step_inh = 0.0
    """,
    threshold="v >= 30.0", reset="v = c\nu = u + d",
    inputs={"exc": "step_exc", "inh": "step_inh"},
    doc="PyNN Izhikevich (2003) neuron: v in mV, u in mV/ms, i_offset in nA, synaptic weights are jumps of v (mV)")

# Alpha-shaped synapses: a weight jumps ``y``, and ``dx/dt = (e y - x) / tau``, ``dy/dt = -y / tau``
# give x(t) = w (t / tau) e^(1 - t / tau), peaking at w after tau; stepped exactly:
# y' = y d, x' = (x + e y dt / tau) d with d = e^(-dt / tau).
_ALPHA_STEP = """
        {x}_exc = ({x}_exc + 2.718281828459045 * {y}_exc * dt / tau_syn_E) * decay_exc
        {y}_exc = {y}_exc * decay_exc
        {x}_inh = ({x}_inh + 2.718281828459045 * {y}_inh * dt / tau_syn_I) * decay_inh
        {y}_inh = {y}_inh * decay_inh
"""
_ALPHA_DECAYS = {"decay_exc": "exp(-dt / tau_syn_E)", "decay_inh": "exp(-dt / tau_syn_I)"}
# Weight in v after one exact step of an input (t / tau_s) e^{-t/tau_s}: with k = 1/tau_m - 1/tau_s,
# (1/tau_m) e^{-dt/tau_m} (e^{k dt} (dt/k - 1/k^2) + 1/k^2) / tau_s; at tau_s = tau_m, dt^2 e^{-dt/tau_m} / (2 tau_m^2).
_RAMP_GAIN = ("where(abs({s} - tau_m) <= 1e-9 * abs(tau_m), dt * dt * exp(-dt / tau_m) / (2.0 * tau_m * tau_m), "
              "exp(-dt / tau_m) / (tau_m * {s}) * (exp((1.0 / tau_m - 1.0 / {s}) * dt) * (dt / (1.0 / tau_m - 1.0 / {s}) "
              "- 1.0 / (1.0 / tau_m - 1.0 / {s}) ** 2) + 1.0 / (1.0 / tau_m - 1.0 / {s}) ** 2))")
# Forward Euler of the same (Brian2's 'euler', for the conductance-based cells)
_ALPHA_EULER = """
        {x}_exc = {x}_exc + dt * (2.718281828459045 * {y}_exc - {x}_exc) / tau_syn_E
        {y}_exc = {y}_exc * (1.0 - dt / tau_syn_E)
        {x}_inh = {x}_inh + dt * (2.718281828459045 * {y}_inh - {x}_inh) / tau_syn_I
        {y}_inh = {y}_inh * (1.0 - dt / tau_syn_I)
"""

IF_CURR_ALPHA = NeuronModel(
    "pynn_IF_curr_alpha",
    parameters=_parameters(cells.IF_curr_alpha, {"ysyn_exc": 0.0, "ysyn_inh": 0.0}),
    state={"v": "v_init", "isyn_exc": "isyn_exc_init", "isyn_inh": "isyn_inh_init", "ysyn_exc": "ysyn_exc_init",
           "ysyn_inh": "ysyn_inh_init"},
    derived={"decay_m": "exp(-dt / tau_m)", "r_m": "tau_m / cm", **_ALPHA_DECAYS,
             "gain_exc": _EXACT_GAIN.format(s="tau_syn_E"), "gain_inh": _EXACT_GAIN.format(s="tau_syn_I"),
             "ramp_exc": _RAMP_GAIN.format(s="tau_syn_E"), "ramp_inh": _RAMP_GAIN.format(s="tau_syn_I")},
    # exact step of the linear system (as Brian2's 'exact'): v sees i e^{-t/tau} and the ramp
    # e y (t / tau) e^{-t/tau} of each alpha current
    update="""
        v = v_rest + (v - v_rest) * decay_m + r_m * (isyn_exc * gain_exc + isyn_inh * gain_inh + 2.718281828459045 * (ysyn_exc * ramp_exc + ysyn_inh * ramp_inh) + (i_offset + i_ext) * (1.0 - decay_m))
    """ + _ALPHA_STEP.format(x="isyn", y="ysyn"),
    threshold="v > v_thresh", reset="v = v_reset", refractory="tau_refrac",
    inputs={"exc": "ysyn_exc", "inh": "ysyn_inh"},
    doc="PyNN IF_curr_alpha: LIF with alpha-shaped synaptic currents (nA)")

IF_COND_ALPHA = NeuronModel(
    "pynn_IF_cond_alpha",
    parameters=_parameters(cells.IF_cond_alpha, {"ysyn_exc": 0.0, "ysyn_inh": 0.0}),
    state={"v": "v_init", "gsyn_exc": "gsyn_exc_init", "gsyn_inh": "gsyn_inh_init", "ysyn_exc": "ysyn_exc_init",
           "ysyn_inh": "ysyn_inh_init"},
    # forward Euler with the old values (Brian2's 'euler')
    update="""
        v = v + dt * ((v_rest - v) / tau_m + (gsyn_exc * (e_rev_E - v) + gsyn_inh * (e_rev_I - v) + i_offset + i_ext) / cm)
    """ + _ALPHA_EULER.format(x="gsyn", y="ysyn"),
    threshold="v > v_thresh", reset="v = v_reset", refractory="tau_refrac",
    inputs={"exc": "ysyn_exc", "inh": "ysyn_inh"},
    doc="PyNN IF_cond_alpha: LIF with alpha-shaped synaptic conductances (uS), forward Euler for v")

EIF_COND_ALPHA_ISFA_ISTA = NeuronModel(
    "pynn_EIF_cond_alpha_isfa_ista",
    parameters=_parameters(cells.EIF_cond_alpha_isfa_ista, {"ysyn_exc": 0.0, "ysyn_inh": 0.0}),
    state={"v": "v_init", "w": "w_init", "gsyn_exc": "gsyn_exc_init", "gsyn_inh": "gsyn_inh_init",
           "ysyn_exc": "ysyn_exc_init", "ysyn_inh": "ysyn_inh_init"},
    derived={"g_l": "cm / tau_m", "a_na": "a * 0.001", **_ALPHA_DECAYS},
    # midpoint method for v and w with the conductances of the step's start (they change smoothly)
    update="""
        i_total = i_offset + i_ext + gsyn_exc * (e_rev_E - v) + gsyn_inh * (e_rev_I - v)
        dv1 = (g_l * delta_T * exp((v - v_thresh) / delta_T) + g_l * (v_rest - v) + i_total - w) / cm
        dw1 = (a_na * (v - v_rest) - w) / tau_w
        v_h = v + 0.5 * dt * dv1
        w_h = w + 0.5 * dt * dw1
        i_h = i_offset + i_ext + gsyn_exc * (e_rev_E - v_h) + gsyn_inh * (e_rev_I - v_h)
        v = v + dt * (g_l * delta_T * exp((v_h - v_thresh) / delta_T) + g_l * (v_rest - v_h) + i_h - w_h) / cm
        w = w + dt * (a_na * (v_h - v_rest) - w_h) / tau_w
    """ + _ALPHA_STEP.format(x="gsyn", y="ysyn"),
    threshold="v > v_spike", reset="v = v_reset\nw = w + b", refractory="tau_refrac",
    inputs={"exc": "ysyn_exc", "inh": "ysyn_inh"},
    doc="PyNN EIF_cond_alpha_isfa_ista: adaptive exponential IF with alpha-shaped conductances (uS)")

HH_COND_EXP = NeuronModel(
    "pynn_HH_cond_exp",
    parameters=_parameters(cells.HH_cond_exp, {"v_before": -65.0}),
    state={"v": "v_init", "gsyn_exc": "gsyn_exc_init", "gsyn_inh": "gsyn_inh_init", "h": "h_init", "m": "m_init",
           "n": "n_init", "v_before": "v_before_init"},
    derived={"euler_exc": "1.0 - dt / tau_syn_E", "euler_inh": "1.0 - dt / tau_syn_I"},
    # Traub & Miles (1991) as PyNN writes it (rates in 1/ms), forward Euler with the old values
    # (Brian2's 'euler'); a spike is an upward crossing of -40 mV, so v_before keeps the last v.
    update="""
        u = v - v_offset
        alpham = 0.32 * (13.0 - u) / (exp((13.0 - u) / 4.0) - 1.0)
        betam = 0.28 * (u - 40.0) / (exp((u - 40.0) / 5.0) - 1.0)
        alphah = 0.128 * exp((17.0 - u) / 18.0)
        betah = 4.0 / (1.0 + exp((40.0 - u) / 5.0))
        alphan = 0.032 * (15.0 - u) / (exp((15.0 - u) / 5.0) - 1.0)
        betan = 0.5 * exp((10.0 - u) / 40.0)
        i_ion = g_leak * (e_rev_leak - v) - gbar_Na * m * m * m * h * (v - e_rev_Na) - gbar_K * n * n * n * n * (v - e_rev_K)
        i_syn = gsyn_exc * (e_rev_E - v) + gsyn_inh * (e_rev_I - v)
        v_before = v
        v = v + dt * (i_ion + i_syn + i_offset + i_ext) / cm
        m = m + dt * (alpham * (1.0 - m) - betam * m)
        h = h + dt * (alphah * (1.0 - h) - betah * h)
        n = n + dt * (alphan * (1.0 - n) - betan * n)
        gsyn_exc = gsyn_exc * euler_exc
        gsyn_inh = gsyn_inh * euler_inh
    """,
    threshold="v > -40.0 and v_before <= -40.0",
    inputs={"exc": "gsyn_exc", "inh": "gsyn_inh"},
    doc="PyNN HH_cond_exp: Hodgkin-Huxley (Traub-Miles) point neuron with exponential conductances (uS)")

#: PyNN cell type name -> its definition
DEFINITIONS = {
    "IF_curr_exp": IF_CURR_EXP,
    "IF_cond_exp": IF_COND_EXP,
    "EIF_cond_exp_isfa_ista": EIF_COND_EXP_ISFA_ISTA,
    "Izhikevich": IZHIKEVICH,
    "IF_curr_alpha": IF_CURR_ALPHA,
    "IF_cond_alpha": IF_COND_ALPHA,
    "EIF_cond_alpha_isfa_ista": EIF_COND_ALPHA_ISFA_ISTA,
    "HH_cond_exp": HH_COND_EXP,
}
