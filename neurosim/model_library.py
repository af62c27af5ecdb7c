"""The built-in neuron models, as definitions (:class:`neurosim.NeuronModel`) like any user's.

``ns.LIF``, ``ns.Izhikevich``, ``ns.AdEx`` and ``ns.CondLIF`` (in :mod:`neurosim.models`) are
the friendly constructors; these definitions are what every backend runs. Their statements
are written in the floating-point order the engine has always used, so spike trains did not
change when the hand-written kernels were replaced by generated ones.
"""

from __future__ import annotations

from .definition import NeuronModel, Parameter, State

# Weight of an exponentially decaying input in v after one exact step of the LIF membrane:
# tau_s / (tau_s - tau_m) (e^{-dt/tau_s} - e^{-dt/tau_m}); the limit tau_s = tau_m (within 1e-9,
# as numpy.isclose) is (dt / tau_m) e^{-dt/tau_m}.
_EXACT_GAIN = ("where(abs({s} - tau_m) <= 1e-9 * abs(tau_m), dt / tau_m * exp(-dt / tau_m), "
               "{s} / ({s} - tau_m) * (exp(-dt / {s}) - exp(-dt / tau_m)))")
# Per-step decay of a synaptic input with time constant tau; tau = 0 is a one-step pulse.
_DECAY = "where({s} > 0, exp(-dt / {s}), 0.0)"

LIF_MODEL = NeuronModel(
    "LIF",
    parameters={
        "tau_m": Parameter(20.0, "ms", positive=True, doc="membrane time constant"),
        "v_rest": Parameter(-65.0, "mV", doc="resting potential"),
        "v_threshold": Parameter(-50.0, "mV", doc="spike threshold"),
        "v_reset": Parameter(-65.0, "mV", doc="reset potential"),
        "t_ref": Parameter(2.0, "ms", nonnegative=True, doc="refractory period"),
        "tau_exc": Parameter(5.0, "ms", positive=True, doc="decay of the excitatory current"),
        "tau_inh": Parameter(10.0, "ms", positive=True, doc="decay of the inhibitory current"),
        "v_init": Parameter(-65.0, "mV", doc="initial v"),
    },
    state={"v": State("v_init", "mV"), "i_exc": State(0.0, "mV"), "i_inh": State(0.0, "mV")},
    derived={
        "decay_m": "exp(-dt / tau_m)",
        "gain_exc": _EXACT_GAIN.format(s="tau_exc"),
        "gain_inh": _EXACT_GAIN.format(s="tau_inh"),
        "gain_ext": "1.0 - decay_m",  # a current held constant over the step
        "decay_exc": "exp(-dt / tau_exc)",
        "decay_inh": "exp(-dt / tau_inh)",
    },
    # exact integration of tau_m dv/dt = v_rest - v + i_exc + i_inh + i_ext with decaying currents
    update="""
        v = v_rest + (v - v_rest) * decay_m + i_exc * gain_exc + i_inh * gain_inh + i_ext * gain_ext
        i_exc = i_exc * decay_exc
        i_inh = i_inh * decay_inh
    """,
    threshold="v > v_threshold", reset="v = v_reset", refractory="t_ref",
    inputs={"exc": "i_exc", "inh": "i_inh"}, current_unit="mV",
    doc="current-based leaky integrate-and-fire neuron, integrated exactly")

IZHIKEVICH_MODEL = NeuronModel(
    "Izhikevich",
    parameters={
        "a": Parameter(0.02, "1/ms", doc="recovery rate"),
        "b": Parameter(0.2, "1/ms", doc="sensitivity of u to v"),
        "c": Parameter(-65.0, "mV", doc="reset of v"),
        "d": Parameter(8.0, "mV/ms", doc="jump of u at a spike"),
        "v_peak": Parameter(30.0, "mV", doc="spike cut-off"),
        "v_init": Parameter(-65.0, "mV"),
        "u_init": Parameter(-13.0, "mV/ms"),
        "tau_exc": Parameter(0.0, "ms", nonnegative=True, doc="decay of the excitatory current (0: one-step pulse)"),
        "tau_inh": Parameter(0.0, "ms", nonnegative=True),
        "k2": Parameter(0.04, "1/mV/ms"),
        "k1": Parameter(5.0, "1/ms"),
        "k0": Parameter(140.0, "mV/ms"),
        "v_u": Parameter(0.0, "mV"),
        "substeps": Parameter(2, integer=True, doc="Euler sub-steps of v per step"),
    },
    state={"v": State("v_init", "mV"), "u": State("u_init", "mV/ms"), "i_exc": State(0.0, "mV/ms"),
           "i_inh": State(0.0, "mV/ms")},
    derived={"h": "dt / substeps", "decay_exc": _DECAY.format(s="tau_exc"), "decay_inh": _DECAY.format(s="tau_inh")},
    # v takes `substeps` Euler steps of dt / substeps, then u one Euler step with the new v
    update="""
        current = i_exc + i_inh + i_ext
        for _ in range(substeps):
            v = v + h * (k2 * v * v + k1 * v + k0 - u + current)
        u = u + dt * (a * (b * (v - v_u) - u))
        i_exc = i_exc * decay_exc
        i_inh = i_inh * decay_inh
    """,
    threshold="v >= v_peak", reset="v = c\nu = u + d",
    inputs={"exc": "i_exc", "inh": "i_inh"}, current_unit="mV/ms",
    doc="Izhikevich (2003) neuron, general quadratic form")

ADEX_MODEL = NeuronModel(
    "AdEx",
    parameters={
        "c_m": Parameter(200.0, "pF", positive=True, doc="membrane capacitance"),
        "g_l": Parameter(10.0, "nS", positive=True, doc="leak conductance"),
        "e_l": Parameter(-70.0, "mV", doc="leak reversal potential"),
        "v_t": Parameter(-50.0, "mV", doc="threshold of the exponential term"),
        "d_t": Parameter(2.0, "mV", positive=True, doc="slope factor"),
        "a": Parameter(2.0, "nS", doc="subthreshold adaptation"),
        "tau_w": Parameter(30.0, "ms", positive=True, doc="adaptation time constant"),
        "b": Parameter(0.0, "pA", doc="spike-triggered adaptation"),
        "v_r": Parameter(-58.0, "mV", doc="reset potential"),
        "v_peak": Parameter(0.0, "mV", doc="spike detection threshold"),
        "t_ref": Parameter(0.0, "ms", nonnegative=True, doc="refractory period"),
        "tau_exc": Parameter(5.0, "ms", positive=True), "tau_inh": Parameter(10.0, "ms", positive=True),
        "v_init": Parameter(-70.0, "mV"), "w_init": Parameter(0.0, "pA"),
    },
    state={"v": State("v_init", "mV"), "w": State("w_init", "pA"), "i_exc": State(0.0, "pA"),
           "i_inh": State(0.0, "pA")},
    derived={"decay_exc": "exp(-dt / tau_exc)", "decay_inh": "exp(-dt / tau_inh)"},
    # forward Euler of both equations with the old values (Brian2's method='euler')
    update="""
        dv = (g_l * (e_l - v) + g_l * d_t * exp((v - v_t) / d_t) + i_exc + i_inh + i_ext - w) / c_m
        dw = (a * (v - e_l) - w) / tau_w
        v = v + dt * dv
        w = w + dt * dw
        i_exc = i_exc * decay_exc
        i_inh = i_inh * decay_inh
    """,
    threshold="v > v_peak", reset="v = v_r\nw = w + b", refractory="t_ref",
    inputs={"exc": "i_exc", "inh": "i_inh"}, current_unit="pA",
    doc="adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005)")

COND_LIF_MODEL = NeuronModel(
    "CondLIF",
    parameters={
        "c_m": Parameter(198.0, "pF", positive=True, doc="membrane capacitance"),
        "g_l": Parameter(9.99, "nS", positive=True, doc="leak conductance"),
        "e_l": Parameter(-60.0, "mV", doc="leak reversal potential"),
        "e_exc": Parameter(0.0, "mV", doc="excitatory reversal potential"),
        "e_inh": Parameter(-80.0, "mV", doc="inhibitory reversal potential"),
        "tau_exc": Parameter(5.0, "ms", positive=True, doc="decay of the excitatory conductance"),
        "tau_inh": Parameter(10.0, "ms", positive=True, doc="decay of the inhibitory conductance"),
        "v_threshold": Parameter(-50.0, "mV"), "v_reset": Parameter(-60.0, "mV"),
        "t_ref": Parameter(5.0, "ms", nonnegative=True),
        "v_init": Parameter(-60.0, "mV"), "g_exc_init": Parameter(0.0, "nS"), "g_inh_init": Parameter(0.0, "nS"),
    },
    state={"v": State("v_init", "mV"), "g_exc": State("g_exc_init", "nS"), "g_inh": State("g_inh_init", "nS")},
    # Forward Euler of all three equations with the old values (Brian2's method='euler', as in
    # the COBA example of Stimberg et al. 2018). The step factors are computed once per neuron:
    # no division per neuron and step (~25 % faster than dividing; the same up to rounding).
    derived={"dt_over_c": "dt / c_m", "euler_exc": "1.0 - dt / tau_exc", "euler_inh": "1.0 - dt / tau_inh"},
    update="""
        v = v + dt_over_c * (g_l * (e_l - v) + g_exc * (e_exc - v) + g_inh * (e_inh - v) + i_ext)
        g_exc = g_exc * euler_exc
        g_inh = g_inh * euler_inh
    """,
    threshold="v > v_threshold", reset="v = v_reset", refractory="t_ref",
    inputs={"exc": "g_exc", "inh": "g_inh"}, current_unit="pA",
    doc="conductance-based leaky integrate-and-fire neuron with exponential conductances")
