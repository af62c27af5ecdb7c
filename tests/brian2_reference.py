"""Brian2 versions of neurosim networks, for ``test_brian2_validation.py``.

Written for the tests from the model definitions (``neurosim/models.py``, PAPERS.md), and
deliberately independent of ``neurosim.brian2_export``: a bug shared by the simulator and
its own exporter would otherwise go unseen. What is taken from the neurosim network is only
its *description* -- resolved per-neuron parameters (``pop.model``), injected currents
(``pop.currents``), the synapses of every projection (``proj.sources()``, ``proj.target``,
``proj.weight``, ``proj.delay``) -- never anything neurosim computed while running.

Mapping of the semantics (see the docstring of the test file for why each holds):

* LIF: Brian2's own equations in physical units, ``method="exact"``, ``(unless refractory)``,
  ``refractory=t_ref``, ``threshold="v > v_threshold"``, ``reset="v = v_reset"`` -- the form
  of Brian2's CUBA example.
* Izhikevich: a NeuronGroup without differential equations whose ``run_regularly`` code is
  the 2003 paper's update (``substeps`` Euler steps of v, then u with the new v), written so
  that Brian2 evaluates it in the same order as neurosim (see ``izhikevich_code``); the
  synaptic currents decay by ``exp(-dt/tau)`` per step (0: a one-step pulse); a noise
  current is ``sigma * randn()`` per step, drawn by Brian2.
* Delays: neurosim's delay of ``d`` steps is Brian2's ``delay = (d - 1) * dt``.
* ``SpikeTimes`` sources (or any explicit spike list) become ``SpikeGeneratorGroup``s.
* ``cuba``: Brian2's CUBA example itself, given the connectivity and initial v of neurosim's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import brian2 as b2
from brian2 import mV, ms

import neurosim as ns

_LIF_EQS = """
dv/dt = (v_rest - v + i_exc + i_inh + i_ext) / tau_m : volt (unless refractory)
di_exc/dt = -i_exc / tau_exc : volt
di_inh/dt = -i_inh / tau_inh : volt
v_rest : volt (constant)
v_threshold : volt (constant)
v_reset : volt (constant)
i_ext : volt (constant)
tau_m : second (constant)
tau_exc : second (constant)
tau_inh : second (constant)
t_ref : second (constant)
"""

_IZH_EQS = """
v : 1
u : 1
a : 1 (constant)
b : 1 (constant)
c : 1 (constant)
d : 1 (constant)
v_peak : 1 (constant)
i_exc : 1
i_inh : 1
i_ext : 1 (constant)
sigma : 1 (constant)
decay_exc : 1 (constant)
decay_inh : 1 (constant)
"""


def use_numpy_target(exact_order: bool = True) -> None:
    """Brian2 numpy code generation (no compiler in CI), quiet logging.

    ``exact_order`` switches off Brian2's loop-invariant optimisations: they re-associate
    sums and products (``0.04*v*v + 5*v + 140`` becomes ``140 + (0.04*(v*v) + 5*v)``), which
    changes the last bits of the Izhikevich update. With them off, the numpy target evaluates
    each statement as written (the bit-identical Izhikevich traces of the tests rely on it).
    """
    b2.prefs.codegen.target = "numpy"
    b2.prefs.codegen.loop_invariant_optimisations = not exact_order
    b2.prefs.logging.console_log_level = "WARNING"


def izhikevich_code(substeps: int, dt_ms: float, noise: bool) -> str:
    """The Izhikevich step as Brian2 abstract code, in neurosim's floating-point order.

    Each Euler sub-step writes a *new* auxiliary variable: a statement ``v = v + ...`` would
    be rewritten by Brian2 (via sympy) into ``v += ...`` with the sum re-ordered.
    """
    h = dt_ms / substeps
    noise_term = " + sigma * randn()" if noise else ""
    lines = [f"I_total = i_exc + i_inh + (i_ext{noise_term})"]
    prev = "v"
    for k in range(substeps):
        lines.append(f"v_{k} = {prev} + {h!r} * (0.04 * {prev} * {prev} + 5.0 * {prev} + 140.0 - u + I_total)")
        prev = f"v_{k}"
    lines += [
        f"u_new = u + {dt_ms!r} * (a * (b * {prev} - u))",
        f"v = {prev}",
        "u = u_new",
        # exact decay of the synaptic currents over one step; 0 = a one-step pulse
        "i_exc = i_exc * decay_exc",
        "i_inh = i_inh * decay_inh",
    ]
    return "\n".join(lines)


def _decay(tau, dt_ms):
    tau = np.asarray(tau, dtype=float)
    return np.where(tau > 0, np.exp(-dt_ms / np.where(tau > 0, tau, 1.0)), 0.0)


@dataclass
class Twin:
    """A Brian2 network equivalent to a neurosim network, with its monitors."""

    network: b2.Network
    dt: float
    groups: dict = field(default_factory=dict)
    synapses: list = field(default_factory=list)
    spikes: dict = field(default_factory=dict)
    states: dict = field(default_factory=dict)
    izhikevich_update: dict = field(default_factory=dict)  # name -> the run_regularly CodeRunner

    def run(self, duration_ms: float) -> "Twin":
        self.network.run(duration_ms * ms)
        return self

    def spike_list(self, name: str) -> list[tuple[int, int]]:
        """Sorted ``(step, neuron)`` pairs of population ``name``."""
        mon = self.spikes[name]
        steps = np.rint(np.asarray(mon.t / ms) / self.dt).astype(np.int64)
        return sorted(zip(steps.tolist(), np.asarray(mon.i, dtype=np.int64).tolist()))

    def trace(self, name: str, var: str) -> np.ndarray:
        """``[steps, neurons]`` trace of ``var`` (mV for LIF, model units for Izhikevich)."""
        values = getattr(self.states[name], var)
        if not b2.get_dimensions(values).is_dimensionless:
            values = values / mV
        return np.asarray(values).T


def twin(net: ns.Network, *, source_spikes: dict | None = None, record_states=(), seed: int | None = None) -> Twin:
    """Build the Brian2 twin of the (not yet run) neurosim network ``net``.

    source_spikes : ``{name: (times_ms, indices)}`` explicit spikes for source populations
        (e.g. what a neurosim ``PoissonSource`` emitted); ``SpikeTimes`` populations are used
        as they are.
    record_states : names of populations whose ``v`` (and ``u`` / currents) are recorded
        at every step, at the start of the step (Brian2's StateMonitor default).
    seed : Brian2's random seed (used by noise currents only).
    """
    b2.start_scope()
    if seed is not None:
        b2.seed(seed)
    dt = net.dt
    b2.defaultclock.dt = dt * ms
    source_spikes = source_spikes or {}
    tw = Twin(None, dt)
    objects = []
    for name, pop in net.populations.items():
        m = pop.model
        n = len(pop)
        mean = np.zeros(n)
        var = np.zeros(n)
        for mu, std in pop.currents:
            mean = mean + mu
            var = var + std**2
        sigma = np.sqrt(var)
        if isinstance(m, ns.LIF):
            if np.any(sigma > 0):
                raise ValueError("the LIF twin supports constant currents only")
            g = b2.NeuronGroup(n, _LIF_EQS, threshold="v > v_threshold", reset="v = v_reset",
                               refractory="t_ref", method="exact", name=f"lif_{name}")
            g.v_rest, g.v_threshold, g.v_reset = m.v_rest * mV, m.v_threshold * mV, m.v_reset * mV
            g.tau_m, g.tau_exc, g.tau_inh, g.t_ref = m.tau_m * ms, m.tau_exc * ms, m.tau_inh * ms, m.t_ref * ms
            g.i_ext = mean * mV
            g.v = m.v_init * mV
            recorded = ("v", "i_exc", "i_inh")
        elif isinstance(m, ns.Izhikevich):
            g = b2.NeuronGroup(n, _IZH_EQS, threshold="v >= v_peak", reset="v = c\nu = u + d", name=f"izh_{name}")
            g.a, g.b, g.c, g.d, g.v_peak = m.a, m.b, m.c, m.d, m.v_peak
            g.v = m.v_init
            g.u = m.b * m.v_init
            g.i_ext, g.sigma = mean, sigma
            g.decay_exc, g.decay_inh = _decay(m.tau_exc, dt), _decay(m.tau_inh, dt)
            tw.izhikevich_update[name] = g.run_regularly(
                izhikevich_code(m.substeps_for(dt), dt, noise=bool(np.any(sigma > 0))), when="groups")
            recorded = ("v", "u", "i_exc", "i_inh")
        else:
            if name in source_spikes:
                times, indices = source_spikes[name]
            elif isinstance(m, ns.SpikeTimes):
                times, indices = m.times, m.indices
            else:
                raise ValueError(f"source {name!r} ({type(m).__name__}) needs explicit spikes in source_spikes")
            g = b2.SpikeGeneratorGroup(n, np.asarray(indices, dtype=np.int64), np.asarray(times) * ms,
                                       name=f"src_{name}")
            recorded = ()
        tw.groups[name] = g
        objects.append(g)
        tw.spikes[name] = b2.SpikeMonitor(g, name=f"spikes_{name}")
        objects.append(tw.spikes[name])
        if name in record_states:
            tw.states[name] = b2.StateMonitor(g, recorded, record=True, name=f"states_{name}")
            objects.append(tw.states[name])
    for k, proj in enumerate(net.projections):
        post = tw.groups[proj.target_population.name]
        var = "i_exc" if proj.receptor == 0 else "i_inh"
        unit = "volt" if isinstance(proj.target_population.model, ns.LIF) else "1"
        syn = b2.Synapses(tw.groups[proj.source.name], post, f"w : {unit} (constant)", on_pre=f"{var}_post += w",
                          name=f"syn_{k}")
        syn.connect(i=proj.sources(), j=proj.target)
        syn.w = proj.weight * (mV if unit == "volt" else 1)
        syn.delay = (proj.delay - 1) * dt * ms
        tw.synapses.append(syn)
        objects.append(syn)
    tw.network = b2.Network(*objects)
    return tw


# ---- CUBA, written as Brian2's example -----------------------------------------------

def cuba(net: ns.Network):
    """Brian2's CUBA example (Brette et al. 2007) with the connectivity and initial v of the
    neurosim network ``net`` (``neurosim.examples.cuba.build``). Returns ``(network, P, monitor)``;
    neurons 0..n_exc-1 of ``P`` are ``exc``, the rest ``inh``."""
    b2.start_scope()
    exc, inh = net.populations["exc"], net.populations["inh"]
    n_exc, n = len(exc), len(exc) + len(inh)
    b2.defaultclock.dt = net.dt * ms
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV  # noqa: N806 - the example's names
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact",
                       namespace={"El": El, "taum": taum, "taue": taue, "taui": taui, "Vt": Vt, "Vr": Vr})
    P.v = np.concatenate([exc.model.v_init, inh.model.v_init]) * mV
    P.ge = 0 * mV
    P.gi = 0 * mV
    we = (60 * 0.27 / 10) * mV
    wi = (-20 * 4.5 / 10) * mV
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace={"we": we})
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace={"wi": wi})
    offset = {"exc": 0, "inh": n_exc}
    for syn, src in ((Ce, "exc"), (Ci, "inh")):
        pre, post = [], []
        for proj in net.projections:
            if proj.source.name == src:
                assert np.all(proj.delay == 1), "the CUBA example has no synaptic delay"
                pre.append(proj.sources() + offset[src])
                post.append(proj.target + offset[proj.target_population.name])
        syn.connect(i=np.concatenate(pre), j=np.concatenate(post))
    mon = b2.SpikeMonitor(P)
    return b2.Network(P, Ce, Ci, mon), P, mon



# ---- COBA (Stimberg et al. 2018), written as Brian2's example ---------------------------

COBA_EQS = """
dv/dt = (g_l*(E_l-v) + g_e*(E_e-v) + g_i*(E_i-v) +
         I_ex)/C_m    : volt (unless refractory)
dg_e/dt = -g_e/tau_e  : siemens  # post-synaptic exc. conductance
dg_i/dt = -g_i/tau_i  : siemens  # post-synaptic inh. conductance
"""


def coba_namespace(w_e_ns: float = 0.05, w_i_ns: float = 1.0, i_ex_pa: float = 150.0) -> dict:
    """The parameters of Brian2's examples/frompapers/Stimberg_et_al_2018/example_1_COBA.py."""
    from brian2 import nS, pA, pF

    E_l = -60 * mV  # noqa: N806 - the example's names
    return dict(E_l=E_l, g_l=9.99 * nS, E_e=0 * mV, E_i=-80 * mV, C_m=198 * pF, tau_e=5 * ms, tau_i=10 * ms,
                tau_r=5 * ms, I_ex=i_ex_pa * pA, V_th=-50 * mV, V_r=E_l, w_e=w_e_ns * nS, w_i=w_i_ns * nS)


def coba_example(n_exc: int = 3200, n_inh: int = 800, p_exc: float = 0.05, p_inh: float = 0.2):
    """Brian2's COBA example as it is (its own random connectivity and initial values, drawn
    by Brian2 -- seed with ``b2.seed`` first), with *static* synapses: the example with its
    short-term plasticity lines removed, ``on_pre='g_e_post += w_e'`` / ``'g_i_post += w_i'``.
    Returns ``(network, neurons, spike monitor)``; neurons 0..n_exc-1 are excitatory."""
    b2.defaultclock.dt = 0.1 * ms
    namespace = coba_namespace()
    neurons = b2.NeuronGroup(n_exc + n_inh, COBA_EQS, threshold="v>V_th", reset="v=V_r", refractory="tau_r",
                             method="euler", namespace=namespace)
    neurons.v = "E_l + rand()*(V_th-E_l)"
    neurons.g_e = "rand()*w_e"
    neurons.g_i = "rand()*w_i"
    exc_syn = b2.Synapses(neurons[:n_exc], neurons, on_pre="g_e_post += w_e", namespace=namespace)
    inh_syn = b2.Synapses(neurons[n_exc:], neurons, on_pre="g_i_post += w_i", namespace=namespace)
    exc_syn.connect(p=p_exc)
    inh_syn.connect(p=p_inh)
    mon = b2.SpikeMonitor(neurons)
    return b2.Network(neurons, exc_syn, inh_syn, mon), neurons, mon


def coba(net: ns.Network):
    """Brian2's COBA example (static synapses, see :func:`coba_example`) with the connectivity
    and initial values (v, g_exc, g_inh) of the neurosim network ``net``
    (``neurosim.examples.coba.build``). Returns ``(network, neurons, monitor)``; neurons
    0..n_exc-1 are ``exc``, the rest ``inh``."""
    from brian2 import nS

    b2.start_scope()
    exc, inh = net.populations["exc"], net.populations["inh"]
    n_exc, n = len(exc), len(exc) + len(inh)
    assert net.dt == 0.1, "the COBA example runs at dt = 0.1 ms"
    b2.defaultclock.dt = net.dt * ms
    weights = {}
    for proj in net.projections:
        assert np.all(proj.delay == 1), "the COBA example has no synaptic delay"
        w = np.unique(proj.weight)
        assert w.size == 1, "the COBA example has one weight per synapse type"
        weights[proj.source.name] = float(w[0])
    namespace = coba_namespace(weights["exc"], weights["inh"])
    i_ext = {float(np.unique(mu)[0]) for pop in (exc, inh) for mu, _ in pop.currents}
    assert i_ext == {150.0}, f"the COBA example's external current is 150 pA, got {i_ext}"
    neurons = b2.NeuronGroup(n, COBA_EQS, threshold="v>V_th", reset="v=V_r", refractory="tau_r",
                             method="euler", namespace=namespace)
    neurons.v = np.concatenate([exc.model.v_init, inh.model.v_init]) * mV
    neurons.g_e = np.concatenate([exc.model.g_exc_init, inh.model.g_exc_init]) * nS
    neurons.g_i = np.concatenate([exc.model.g_inh_init, inh.model.g_inh_init]) * nS
    exc_syn = b2.Synapses(neurons[:n_exc], neurons, on_pre="g_e_post += w_e", namespace=namespace)
    inh_syn = b2.Synapses(neurons[n_exc:], neurons, on_pre="g_i_post += w_i", namespace=namespace)
    offset = {"exc": 0, "inh": n_exc}
    for syn, src in ((exc_syn, "exc"), (inh_syn, "inh")):
        pre, post = [], []
        for proj in net.projections:
            if proj.source.name == src:
                pre.append(proj.sources())  # indices within the source subgroup
                post.append(proj.target + offset[proj.target_population.name])
        syn.connect(i=np.concatenate(pre), j=np.concatenate(post))
    mon = b2.SpikeMonitor(neurons)
    return b2.Network(neurons, exc_syn, inh_syn, mon), neurons, mon
