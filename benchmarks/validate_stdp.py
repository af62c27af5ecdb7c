"""STDP weight distributions after 100 s: neurosim against Brian2's STDP.py, over several seeds.

Issue 21, acceptance 1 (second half): for each seed, the network of ``examples/stdp_song.py``
(Song, Miller & Abbott 2000; Brian2's ``examples/synapses/STDP.py``: 1000 Poisson inputs at
15 Hz onto one conductance-based LIF, additive all-to-all STDP, dt = 0.1 ms) runs for
``--duration`` (default 100 s) in neurosim (numba) and in Brian2 (the example's own model,
``stdp_song.brian2_network``), both fed the same input spike trains (drawn once per seed with
numpy, Bernoulli per step as Brian2's PoissonGroup; ``ns.SpikeTimes`` / ``SpikeGeneratorGroup``)
from the same initial weights. Printed per seed: the fractions of final weights below 0.1 g_max
and above 0.9 g_max in both, their difference in percentage points (acceptance: within 5), the
post rates, the largest weight difference and whether the post spike steps are identical.

With ``--own-inputs`` each simulator draws its own Poisson inputs and initial weights instead
(neurosim's ``PoissonSource`` with the seed, Brian2's ``PoissonGroup`` with ``seed(seed)``): the
distributions are then compared as statistics, not run against run.

    python benchmarks/validate_stdp.py                       # 100 s x seeds 1, 2, 3 (Brian2 cython)
    python benchmarks/validate_stdp.py --duration 20000 --seeds 1 --target numpy

This is a validation script, not a test: it prints, it does not assert.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

import neurosim as ns
from neurosim.examples import stdp_song as example

TOLERANCE_POINTS = 5.0  # acceptance: fractions within 5 percentage points of Brian2's


def run_neurosim(seed: int, duration: float, trains, w_init) -> dict:
    net, proj = example.build(seed=seed, input_spikes=trains, w_init=w_init)
    t0 = time.perf_counter()
    result = net.run(duration, backend="numba", progress=False)
    return {"weights": proj.weights, "spikes": result.spikes[example.NEURON].times, "wall_s": time.perf_counter() - t0}


def run_brian2(b2, seed: int, duration: float, trains, w_init) -> dict:
    b2.seed(seed)  # used only with --own-inputs (PoissonGroup, rand() weights)
    net, synapses, _, spikes = example.brian2_network(b2, input_spikes=trains, w_init=w_init, record=None)
    t0 = time.perf_counter()
    net.run(duration * b2.ms, namespace={})
    return {"weights": np.asarray(synapses.w[:]), "spikes": np.asarray(spikes.t / b2.ms),
            "wall_s": time.perf_counter() - t0}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=100_000.0, help="model time, ms (default 100 s)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--target", default="cython", choices=("cython", "numpy"),
                        help="Brian2's code-generation target (default cython)")
    parser.add_argument("--own-inputs", action="store_true",
                        help="each simulator draws its own Poisson inputs and initial weights")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    import brian2 as b2

    b2.prefs.codegen.target = args.target
    b2.prefs.codegen.loop_invariant_optimisations = False  # statements as written (as the tests)
    b2.prefs.logging.console_log_level = "WARNING"
    print(f"python {platform.python_version()}, numpy {np.__version__}, brian2 {b2.__version__} ({args.target}), "
          f"neurosim {ns.__version__}")
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"STDP.py network, {args.duration / 1000:g} s of model time per seed; inputs: "
          f"{'each simulator its own' if args.own_inputs else 'the same trains for both (numpy, per seed)'}\n")
    head = (f"{'seed':>4s}  {'<0.1 gmax: ns / b2 / diff':>27s}  {'>0.9 gmax: ns / b2 / diff':>27s}  "
            f"{'post Hz ns / b2':>16s}  {'max|dw|/gmax':>12s}  {'same spikes':>11s}  {'wall s ns / b2':>15s}")
    print(head)
    print("-" * len(head))
    rows = []
    for seed in seeds:
        if args.own_inputs:
            trains = w_init = None
        else:
            trains = example.poisson_trains(example.N_INPUTS, example.RATE_HZ, args.duration, seed=seed)
            w_init = np.random.default_rng([seed, 1]).uniform(0.0, example.G_MAX, example.N_INPUTS)
        ours = run_neurosim(seed, args.duration, trains, w_init)
        theirs = run_brian2(b2, seed, args.duration, trains, w_init)
        f_ours, f_theirs = example.weight_fractions(ours["weights"]), example.weight_fractions(theirs["weights"])
        row = {"seed": seed}
        for key in ("fraction_below_0.1", "fraction_above_0.9"):
            row[key] = (100 * f_ours[key], 100 * f_theirs[key], 100 * (f_ours[key] - f_theirs[key]))
        rate = [len(r["spikes"]) / (args.duration * 1e-3) for r in (ours, theirs)]
        dw = float(np.abs(ours["weights"] - theirs["weights"]).max() / example.G_MAX)
        same = (len(ours["spikes"]) == len(theirs["spikes"])
                and np.array_equal(np.rint(ours["spikes"] / example.DT), np.rint(theirs["spikes"] / example.DT)))
        row.update(rate=rate, max_dw=dw, same_spikes=same, wall=(ours["wall_s"], theirs["wall_s"]))
        rows.append(row)
        below, above = row["fraction_below_0.1"], row["fraction_above_0.9"]
        print(f"{seed:4d}  {below[0]:7.1f} / {below[1]:5.1f} / {below[2]:+5.1f}  "
              f"{above[0]:7.1f} / {above[1]:5.1f} / {above[2]:+5.1f}  {rate[0]:7.2f} / {rate[1]:6.2f}  "
              f"{dw:12.2e}  {'yes' if same else 'no':>11s}  {ours['wall_s']:6.1f} / {theirs['wall_s']:6.1f}",
              flush=True)
    worst = max(abs(r[k][2]) for r in rows for k in ("fraction_below_0.1", "fraction_above_0.9"))
    print(f"\nfractions in % of the {example.N_INPUTS} synapses; diff = neurosim - Brian2 in percentage points. "
          f"Largest |diff|: {worst:.1f} points (acceptance: <= {TOLERANCE_POINTS:g}): "
          f"{'met' if worst <= TOLERANCE_POINTS else 'NOT met'}")
    print("(wall s: neurosim's whole net.run call incl. flattening; Brian2's whole net.run call incl. code "
          "generation / cached compile)")
    return rows


if __name__ == "__main__":
    main()
