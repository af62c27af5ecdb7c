"""The COBA network of Stimberg et al. (2018), conductance-based LIF, static synapses.

Brian2's examples/frompapers/Stimberg_et_al_2018/example_1_COBA.py (after Brunel 2000):
4000 neurons (3200 excitatory, 800 inhibitory) of ``ns.CondLIF`` with its defaults
(C_m = 198 pF, g_l = 9.99 nS, E_l = -60 mV, E_exc = 0 mV, E_inh = -80 mV, tau_exc = 5 ms,
tau_inh = 10 ms, V_th = -50 mV, V_r = E_l, refractory 5 ms, forward Euler), a constant
external current of 150 pA, random connectivity with p = 0.05 from the excitatory and
p = 0.2 from the inhibitory neurons onto all neurons (self-connections allowed, as Brian2's
``connect(p=...)``), dt = 0.1 ms. Initial values as the example's: v uniform in
[E_l, V_th), g_exc uniform in [0, w_exc), g_inh uniform in [0, w_inh).

**Static synapses**: the example's synapses have Tsodyks-Markram short-term plasticity (a
spike releases ``r_S = u_S x_S`` and adds ``w * r_S``). Here they are static, and a spike adds
the plain weight: w_exc = 0.05 nS to g_exc, w_inh = 1.0 nS to g_inh -- the example with its
STP lines removed (``on_pre='g_e_post += w_e'``), *not* scaled by the release of a rested
synapse (U_0 = 0.6). The plastic version comes with the plasticity issue. Brian2's synapses
have no delay: a spike acts at the next step, which is neurosim's minimum delay of one step.

Run: ``neurosim run coba --out results/coba``
"""

from __future__ import annotations

import neurosim as ns
from neurosim.experiments import experiment, run_network

W_EXC = 0.05  # nS
W_INH = 1.0  # nS
I_EXT = 150.0  # pA
P_EXC = 0.05
P_INH = 0.2


def build(seed: int = 1, n_exc: int = 3200, n_inh: int = 800, p_exc: float = P_EXC, p_inh: float = P_INH,
          dt: float = 0.1, w_exc: float = W_EXC, w_inh: float = W_INH, i_ext: float = I_EXT) -> ns.Network:
    """The COBA network with static synapses (see the module docstring); weights in nS
    (conductance increments), ``i_ext`` in pA."""
    net = ns.Network(dt=dt, seed=seed)
    model = ns.CondLIF  # defaults: the example's neuron parameters
    e_l, v_th = -60.0, -50.0

    def neurons(n):
        return model(n, e_l=e_l, v_reset=e_l, v_threshold=v_th, v_init=ns.Uniform(e_l, v_th),
                     g_exc_init=ns.Uniform(0.0, w_exc), g_inh_init=ns.Uniform(0.0, w_inh))

    exc = net.population("exc", neurons(n_exc))
    inh = net.population("inh", neurons(n_inh))
    net.connect(exc, [exc, inh], ns.connect.random(p_exc), weight=w_exc, receptor="exc", allow_self=True)
    net.connect(inh, [exc, inh], ns.connect.random(p_inh), weight=w_inh, receptor="inh", allow_self=True)
    for pop in (exc, inh):
        net.add_current(pop, ns.ConstantCurrent(i_ext))
    return net


@experiment("coba", metrics=("rate_hz", "cv_isi"))
def coba(*, duration: float = 1000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
         progress: bool | None = None, n_exc: int = 3200, n_inh: int = 800, we: float = W_EXC,
         wi: float = W_INH, i_ext: float = I_EXT) -> dict:
    """COBA network of Stimberg et al. 2018 (conductance-based LIF, static synapses): raster PNG + JSON summary.

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run.
    Metrics besides the run summary: ``rate_hz`` (mean rate of all neurons), ``rate_exc_hz``,
    ``rate_inh_hz`` and ``cv_isi`` (irregularity, ``RunResult.cv_isi``); weights ``we`` / ``wi``
    in nS (conductance increments), external current ``i_ext`` in pA.
    """
    net = build(seed=seed, n_exc=n_exc, n_inh=n_inh, w_exc=we, w_inh=wi, i_ext=i_ext)
    return run_network("coba", net, duration=duration, backend=backend, progress=progress, out=out,
                       title="COBA network (Stimberg et al. 2018, static synapses)",
                       extra=lambda r: {"rate_hz": r.mean_rate(), "rate_exc_hz": r.mean_rate("exc"),
                                        "rate_inh_hz": r.mean_rate("inh"), "cv_isi": r.cv_isi()})


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "coba", "--out", "results/coba"])
