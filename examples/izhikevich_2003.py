"""Izhikevich (2003), "Simple model of spiking neurons": the 1000-neuron network.

800 excitatory neurons (regular spiking to chattering, r ~ U(0,1): c = -65 + 15 r^2,
d = 8 - 6 r^2) and 200 inhibitory (fast spiking to low-threshold: a = 0.02 + 0.08 r,
b = 0.25 - 0.05 r), all-to-all weights 0.5 U(0,1) from excitatory and -U(0,1) from
inhibitory neurons, thalamic noise 5 N(0,1) / 2 N(0,1) each 1 ms step, dt = 1 ms with two
0.5 ms Euler half-steps for v. The raster shows alpha/gamma-band rhythms.

Run: ``neurosim run izhikevich-2003 --out results/izhikevich-2003``
"""

from __future__ import annotations

import neurosim as ns
from neurosim.experiments import experiment, run_network


def build(seed: int = 1, n_exc: int = 800, n_inh: int = 200, dt: float = 1.0) -> ns.Network:
    """The 2003 network with the paper's parameters (``dt`` in ms; the paper uses 1)."""
    net = ns.Network(dt=dt, seed=seed)
    exc = net.population("exc", ns.Izhikevich.regular_spiking(n_exc, heterogeneity=1.0))
    inh = net.population("inh", ns.Izhikevich.fast_spiking(n_inh, heterogeneity=1.0))
    # The paper's S matrix is dense, self-connections included; one step (1 ms) of delay is
    # the paper's "spikes of this step are added to I of the next update".
    net.connect(exc, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(0.0, 0.5), allow_self=True)
    net.connect(inh, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(-1.0, 0.0), allow_self=True)
    net.add_current(exc, ns.NoiseCurrent(std=5.0))
    net.add_current(inh, ns.NoiseCurrent(std=2.0))
    return net


@experiment("izhikevich-2003")
def izhikevich_2003(*, duration: float = 1000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
                    progress: bool | None = None, n_exc: int = 800, n_inh: int = 200) -> dict:
    """Izhikevich (2003) 1000-neuron network: raster PNG + JSON summary (rates, spikes, wall time).

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run."""
    net = build(seed=seed, n_exc=n_exc, n_inh=n_inh)
    return run_network("izhikevich-2003", net, duration=duration, backend=backend, progress=progress, out=out,
                       title="Izhikevich (2003) network")


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "izhikevich-2003", "--out", "results/izhikevich-2003"])
