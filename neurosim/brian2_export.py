"""Build the Brian2 twin of a neurosim network (for cross-checking against the reference
simulator of the field).

    b2net, monitors = to_brian2(net)        # same neurons, parameters, initial state, synapses
    b2net.run(duration * brian2.ms)
    spikes = monitors["exc"].spike_trains()

The twin uses the same discretisation: LIF by Brian2's exact integrator (neurosim integrates
exactly too); Izhikevich by custom update code with neurosim's Euler sub-steps for v, then
u with the new v. Delays map as Brian2 ``delay = (steps - 1) * dt``: neurosim's minimum
delay of one step is Brian2's ``delay = 0`` (``on_pre`` applied after thresholding and seen
by the next update). Spike-time sources become ``SpikeGeneratorGroup``s, Poisson sources
``PoissonGroup``s; constant currents are copied, noise currents are redrawn by Brian2 (the
same statistics, another realisation). Brian2 is imported only when this is called.
"""

from __future__ import annotations

import numpy as np

from .models import LIF, Izhikevich, PoissonSource, SpikeTimes

_LIF_EQS = """
dv/dt = (v_rest - v + i_exc + i_inh + i_ext + i_noise) / tau_m : 1 (unless refractory)
di_exc/dt = -i_exc / tau_exc : 1
di_inh/dt = -i_inh / tau_inh : 1
v_rest : 1 (constant)
v_threshold : 1 (constant)
v_reset : 1 (constant)
tau_m : second (constant)
tau_exc : second (constant)
tau_inh : second (constant)
t_ref : second (constant)
i_ext : 1 (constant)
i_noise : 1
sigma : 1 (constant)
"""

_IZH_VARS = "v : 1\nu : 1\na : 1\nb : 1\nc : 1\nd : 1\nv_peak : 1\nk2 : 1\nk1 : 1\nk0 : 1\nv_u : 1\ni_exc : 1\ni_inh : 1\ni_ext : 1\nsigma : 1\ndecay_exc : 1\ndecay_inh : 1"


def _izhikevich_code(substeps: int, dt_ms: float) -> str:
    h = dt_ms / substeps
    lines = ["I_total = i_exc + i_inh + (i_ext + sigma * randn())"]
    lines += [f"v = v + {h!r} * (k2 * v * v + k1 * v + k0 - u + I_total)"] * substeps
    lines += [f"u = u + {dt_ms!r} * (a * (b * (v - v_u) - u))", "i_exc = i_exc * decay_exc", "i_inh = i_inh * decay_inh"]
    return "\n".join(lines)


def to_brian2(net, record_spikes: bool = True):
    """The Brian2 twin of ``net`` (before or after construction, not a network that has run).

    Returns ``(brian2.Network, monitors)`` where ``monitors[name]`` is a SpikeMonitor of
    population ``name`` (when ``record_spikes``). Sets ``brian2.defaultclock.dt``.
    """
    import brian2 as b2

    dt = net.dt
    b2.defaultclock.dt = dt * b2.ms
    groups, objects, monitors = {}, [], {}
    for name, pop in net.populations.items():
        m = pop.model
        mean = sum((c[0] for c in pop.currents), np.zeros(len(pop)))
        sigma = np.sqrt(sum((c[1] ** 2 for c in pop.currents), np.zeros(len(pop))))
        if isinstance(m, LIF):
            g = b2.NeuronGroup(len(pop), _LIF_EQS, threshold="v > v_threshold", reset="v = v_reset",
                               refractory="t_ref", method="exact", name=f"ns_{name}")
            for k in ("v_rest", "v_threshold", "v_reset"):
                setattr(g, k, getattr(m, k))
            for k in ("tau_m", "tau_exc", "tau_inh", "t_ref"):
                setattr(g, k, getattr(m, k) * b2.ms)
            g.v, g.i_ext, g.sigma = m.v_init, mean, sigma
            if np.any(sigma > 0):
                g.run_regularly("i_noise = sigma * randn()", when="start")
        elif isinstance(m, Izhikevich):
            g = b2.NeuronGroup(len(pop), _IZH_VARS, threshold="v >= v_peak", reset="v = c\nu = u + d",
                               name=f"ns_{name}")
            for k in ("a", "b", "c", "d", "v_peak", "k2", "k1", "k0", "v_u"):
                setattr(g, k, getattr(m, k))
            g.v, g.u, g.i_ext, g.sigma = m.v_init, m.u_init, mean, sigma
            g.decay_exc = np.where(m.tau_exc > 0, np.exp(-dt / np.where(m.tau_exc > 0, m.tau_exc, 1.0)), 0.0)
            g.decay_inh = np.where(m.tau_inh > 0, np.exp(-dt / np.where(m.tau_inh > 0, m.tau_inh, 1.0)), 0.0)
            g.run_regularly(_izhikevich_code(m.substeps_for(dt), dt), when="groups")
        elif isinstance(m, SpikeTimes):
            steps, idx = m.steps(dt)
            g = b2.SpikeGeneratorGroup(len(pop), idx, steps * dt * b2.ms, name=f"ns_{name}")
        elif isinstance(m, PoissonSource):
            g = b2.PoissonGroup(len(pop), m.rate * b2.Hz, name=f"ns_{name}")
        else:  # pragma: no cover - the Network accepts no other model
            raise TypeError(f"cannot export {type(m).__name__}")
        groups[name] = g
        objects.append(g)
        if record_spikes:
            monitors[name] = b2.SpikeMonitor(g, name=f"ns_spikes_{name}")
            objects.append(monitors[name])
    for k, proj in enumerate(net.projections):
        var = "i_exc" if proj.receptor == 0 else "i_inh"
        syn = b2.Synapses(groups[proj.source.name], groups[proj.target_population.name], "w : 1",
                          on_pre=f"{var}_post += w", name=f"ns_projection_{k}")
        syn.connect(i=proj.sources(), j=proj.target)
        syn.w = proj.weight
        syn.delay = (proj.delay - 1) * dt * b2.ms
        objects.append(syn)
    return b2.Network(*objects), monitors
