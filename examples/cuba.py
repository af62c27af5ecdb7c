"""The CUBA benchmark network (Brette et al. 2007; Brian2's example), current-based LIF.

4000 neurons (3200 excitatory, 800 inhibitory), connection probability 0.02,
tau_m = 20 ms, tau_e = 5 ms, tau_i = 10 ms, V_t = -50 mV, V_r = -60 mV, E_l = -49 mV,
refractory 5 ms, w_e = 60 * 0.27 / 10 mV, w_i = -20 * 4.5 / 10 mV, dt = 0.1 ms; v starts
uniform in [V_r, V_t). Brian2's synapses have no delay: a spike acts at the next step,
which is neurosim's minimum delay of one step.

Run: ``neurosim run cuba --out results/cuba``
"""

from __future__ import annotations

import neurosim as ns
from neurosim.experiments import experiment, run_network

W_EXC = 60 * 0.27 / 10  # mV
W_INH = -20 * 4.5 / 10  # mV


def build(seed: int = 1, n: int = 4000, p: float = 0.02, dt: float = 0.1, w_exc: float = W_EXC,
          w_inh: float = W_INH) -> ns.Network:
    """The CUBA network; 80 % of the ``n`` neurons excitatory. Self-connections are allowed,
    as in Brian2's example (``connect('i<3200', p=0.02)``)."""
    net = ns.Network(dt=dt, seed=seed)
    n_exc = int(round(0.8 * n))
    exc = net.population("exc", ns.LIF.cuba(n_exc))
    inh = net.population("inh", ns.LIF.cuba(n - n_exc))
    net.connect(exc, [exc, inh], ns.connect.random(p), weight=w_exc, receptor="exc", allow_self=True)
    net.connect(inh, [exc, inh], ns.connect.random(p), weight=w_inh, receptor="inh", allow_self=True)
    return net


@experiment("cuba", metrics=("rate_hz", "cv_isi"))
def cuba(*, duration: float = 1000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
         progress: bool | None = None, n: int = 4000, p: float = 0.02, we: float = W_EXC, wi: float = W_INH) -> dict:
    """CUBA benchmark network (Brette et al. 2007): raster PNG + JSON summary.

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run.
    Metrics besides the run summary: ``rate_hz`` (mean rate of all neurons) and ``cv_isi``
    (irregularity, ``RunResult.cv_isi``); weights ``we`` / ``wi`` in mV.
    """
    net = build(seed=seed, n=n, p=p, w_exc=we, w_inh=wi)
    return run_network("cuba", net, duration=duration, backend=backend, progress=progress, out=out,
                       title="CUBA network (Brette et al. 2007)",
                       extra=lambda r: {"rate_hz": r.mean_rate(), "cv_isi": r.cv_isi()})


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "cuba", "--out", "results/cuba"])
