"""FORCE on a spiking reservoir: neurosim versus the authors' algorithm written in numpy.

Both simulate Nicola & Clopath's network (IZFORCESINE.m: N Izhikevich neurons, dt = 0.04 ms,
double-exponential synapses, feedback of the readout, RLS every 20 steps) for ``--ms`` of
biological time with learning on, in this one process:

* ``numpy``: their MATLAB loop transliterated to vectorised numpy (per step: the Euler
  update of all neurons, the recurrent input as the column sum of the dense weight matrix
  over the spiking neurons, both synaptic filters, the readout; RLS with the full matrix P);
* ``neurosim``: ``IzhikevichReservoir.nicola_clopath`` on the event-driven engine (Numba)
  with ``FORCE`` applied by a run hook, output and feedback every ``every`` steps.

Prints wall times and the ratio. Run: ``python benchmarks/bench_reservoir.py --n 2000 --ms 1000``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_force(n: int, ms: float, seed: int = 0) -> float:
    """Their loop in numpy; returns the wall time (s)."""
    rng = np.random.default_rng(seed)
    dt, C, vr, b, k, vpeak, vreset, a, d = 0.04, 250.0, -60.0, -2.0, 2.5, 30.0, -65.0, 0.01, 200.0
    vt, tr, td, p, G, Q, bias = vr + 40 - b / k, 2.0, 20.0, 0.1, 5e3, 5e3, 1000.0
    omega = G * rng.standard_normal((n, n)) * (rng.random((n, n)) < p) / (p * np.sqrt(n))
    E = (2 * rng.random(n) - 1) * Q
    v = vr + (vpeak - vr) * rng.random(n)
    u, ipsc, h, r, hr, phi = (np.zeros(n) for _ in range(6))
    P = 2.0 * np.eye(n)
    z = 0.0
    er, ed = np.exp(-dt / tr), np.exp(-dt / td)
    t0 = time.perf_counter()
    for i in range(int(round(ms / dt))):
        current = ipsc + E * z + bias
        v_prev = v
        v = v + dt * (k * (v - vr) * (v - vt) - u + current) / C
        u = u + dt * (a * (b * (v_prev - vr) - u))
        fired = v >= vpeak
        jd = omega[:, fired].sum(axis=1) if fired.any() else 0.0
        ipsc = ipsc * er + h * dt
        h = h * ed + jd / (tr * td)
        r = r * er + hr * dt
        hr = hr * ed + fired / (tr * td)
        z = phi @ r
        err = z - np.sin(2 * np.pi * 5e-3 * i * dt)
        if i % 20 == 1:
            c = P @ r
            phi = phi - c * err
            P -= np.outer(c, c) / (1 + r @ c)
        u = u + d * fired
        v = np.where(fired, vreset, v)
    return time.perf_counter() - t0


def neurosim_force(n: int, ms: float, every: int, seed: int = 0) -> float:
    from neurosim.circuits import IzhikevichReservoir
    from neurosim.plasticity import FORCE

    res = IzhikevichReservoir.nicola_clopath(n, seed=seed)
    force = FORCE(res.n, 1, regularization=0.5)
    res.run(1.0, readout=force, feedback=True)  # compile (or load the kernel cache)
    t0 = time.perf_counter()
    res.run(ms, readout=force, target=lambda t: [np.sin(2 * np.pi * 5e-3 * t)], learn=True, feedback=True,
            every=every, learn_every=20, progress=False)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--ms", type=float, default=1000.0, help="biological time with learning on")
    ap.add_argument("--every", type=int, nargs="+", default=[1, 5], help="neurosim hook interval(s), steps")
    ap.add_argument("--skip-numpy", action="store_true")
    args = ap.parse_args(argv)
    print(f"FORCE, Nicola & Clopath network, N = {args.n}, {args.ms:g} ms at dt = 0.04 ms, RLS every 20 steps")
    ref = None if args.skip_numpy else numpy_force(args.n, args.ms)
    if ref is not None:
        print(f"  numpy (their loop)        {ref:7.2f} s")
    for every in args.every:
        t = neurosim_force(args.n, args.ms, every)
        ratio = f"   {ref / t:5.2f}x numpy" if ref is not None else ""
        print(f"  neurosim every={every:<3d}        {t:7.2f} s{ratio}")


if __name__ == "__main__":
    main()
