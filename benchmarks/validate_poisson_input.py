"""CUBA driven by Poisson input: Brian2's ``PoissonInput`` against neurosim's ``add_poisson_input``.

The network is Brian2's CUBA example (Brette et al. 2007: 4000 LIF neurons, 3200 excitatory,
p = 0.02, tau_m = 20 ms, tau_e = 5 ms, tau_i = 10 ms, V_t = -50 mV, V_r = -60 mV, refractory
5 ms, w_e = 1.62 mV, w_i = -9 mV, dt = 0.1 ms, ``method="exact"``) with its constant drive
replaced by Poisson input: the resting potential E_l = -49 mV (above threshold: what makes the
example fire) is lowered to -60 mV, and every neuron gets ``PoissonInput(P, "ge", N=N_INPUTS,
rate=RATE, weight=w_e)``. Both simulators get the same connectivity and initial v (those of the
neurosim network, as ``tests/brian2_reference.py``'s ``cuba`` does); each draws its own Poisson
input, so only rates can agree, not spike trains.

Run: ``python benchmarks/validate_poisson_input.py [--seeds 1 2 3 4 5] [--duration 1000]``
(Brian2 with its numpy target, as the tests; about 20 s per seed). Prints, per seed, the mean
rate of each simulator and their ratio, then the mean over the seeds.
"""

from __future__ import annotations

import argparse

import numpy as np

import neurosim as ns

N_EXC, N_INH, P_CONNECT, DT = 3200, 800, 0.02, 0.1
W_EXC, W_INH = 60 * 0.27 / 10, -20 * 4.5 / 10  # mV, Brian2's CUBA weights
E_L = -60.0  # mV: the example's -49 mV lowered to V_r, the Poisson input drives the network
N_INPUTS, RATE = 1000, 1.6  # inputs per neuron, Hz per input: N * rate * w_e * tau_e = 13 mV mean ge


def build_neurosim(seed: int) -> ns.Network:
    """The neurosim port: CUBA LIF neurons, random p = 0.02 connectivity (self-connections
    allowed, as Brian2's ``connect(p=0.02)``), Poisson input onto every neuron's ``i_exc``."""
    net = ns.Network(dt=DT, seed=seed)
    neuron = {"tau_m": 20.0, "v_rest": E_L, "v_threshold": -50.0, "v_reset": -60.0, "t_ref": 5.0, "tau_exc": 5.0,
              "tau_inh": 10.0, "v_init": ns.Uniform(-60.0, -50.0)}
    exc = net.population("exc", ns.LIF(N_EXC, **neuron))
    inh = net.population("inh", ns.LIF(N_INH, **neuron))
    net.connect(exc, [exc, inh], ns.connect.random(P_CONNECT), weight=W_EXC, receptor="exc", allow_self=True)
    net.connect(inh, [exc, inh], ns.connect.random(P_CONNECT), weight=W_INH, receptor="inh", allow_self=True)
    net.add_poisson_input([exc, inh], N_INPUTS, RATE, W_EXC, receptor="exc")
    return net


def run_brian2(net: ns.Network, duration: float, seed: int) -> float:
    """Brian2's CUBA example with ``PoissonInput`` (see the module docstring), given the
    connectivity and initial v of the (not yet run) neurosim network ``net``. Returns the mean
    rate of all neurons, Hz."""
    import brian2 as b2
    from brian2 import Hz, ms, mV

    b2.start_scope()
    b2.seed(seed)
    b2.defaultclock.dt = DT * ms
    exc, inh = net.populations["exc"], net.populations["inh"]
    n = len(exc) + len(inh)
    namespace = {"taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms, "Vt": -50 * mV, "Vr": -60 * mV, "El": E_L * mV}
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact",
                       namespace=namespace)
    P.v = np.concatenate([exc.model.v_init, inh.model.v_init]) * mV
    P.ge, P.gi = 0 * mV, 0 * mV
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace={"we": W_EXC * mV})
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace={"wi": W_INH * mV})
    offset = {"exc": 0, "inh": len(exc)}
    for syn, src in ((Ce, "exc"), (Ci, "inh")):
        pre, post = [], []
        for proj in net.projections:
            if proj.source.name == src:
                pre.append(proj.sources() + offset[src])
                post.append(proj.target + offset[proj.target_population.name])
        syn.connect(i=np.concatenate(pre), j=np.concatenate(post))
    drive = b2.PoissonInput(P, "ge", N=N_INPUTS, rate=RATE * Hz, weight=W_EXC * mV)
    mon = b2.SpikeMonitor(P)
    b2.Network(P, Ce, Ci, drive, mon).run(duration * ms)
    return mon.num_spikes / (n * duration * 1e-3)


def compare(seeds, duration: float = 1000.0, backend: str = "numba") -> list[tuple[int, float, float]]:
    """``(seed, neurosim rate, Brian2 rate)`` per seed, Hz (mean over all 4000 neurons)."""
    rows = []
    for seed in seeds:
        net = build_neurosim(seed)
        theirs = run_brian2(net, duration, seed)
        ours = net.run(duration, backend=backend, progress=False).mean_rate()
        rows.append((seed, ours, theirs))
    return rows


def main(argv=None) -> None:
    import brian2 as b2

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per run")
    parser.add_argument("--backend", default="numba")
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = "numpy"
    b2.prefs.logging.console_log_level = "WARNING"
    rows = compare(args.seeds, args.duration, args.backend)
    print(f"CUBA + PoissonInput (N = {N_INPUTS}, {RATE} Hz, w = {W_EXC:.2f} mV onto ge), {N_EXC + N_INH} neurons, "
          f"{args.duration:g} ms, dt = {DT} ms; neurosim backend {args.backend!r}, Brian2 numpy target")
    print(f"{'seed':>4}  {'neurosim Hz':>11}  {'Brian2 Hz':>9}  {'ratio':>6}")
    for seed, ours, theirs in rows:
        print(f"{seed:>4}  {ours:>11.3f}  {theirs:>9.3f}  {ours / theirs:>6.3f}")
    ours, theirs = np.mean([r[1] for r in rows]), np.mean([r[2] for r in rows])
    print(f"{'mean':>4}  {ours:>11.3f}  {theirs:>9.3f}  {ours / theirs:>6.3f}")


if __name__ == "__main__":
    main()
