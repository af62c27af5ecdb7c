"""The "what and when" prediction task (Yamada & Chao 2025) on an Izhikevich reservoir.

A trial starts with one of ``n_cues`` cues; after cue ``k`` event A comes at ``latency_a[k]`` ms
with probability ``p(A | cue)``, otherwise event B at ``latency_b[k]`` ms; the statistics switch
between blocks of trials (timing, then probability). Per event channel a three-factor "when"
readout learns online (1 ms steps, gated to the channel and its latency window) and a "what"
readout learns offline at the end of each trial; the channel predicts ``what × when``. A FORCE
readout (never reset) learns the same target on the same reservoir states, as the baseline.

The pieces, all in this example (nothing here is a reusable circuit):

* :mod:`neurosim.examples.what_when_task` — ``WhatWhenTask``, ``Block``, ``Trial``, ``bump``;
* :mod:`neurosim.examples.what_when_config` — ``WhatWhenConfig``, the learner's settings;
* :mod:`neurosim.examples.what_when_learner` — ``WhatWhenLearner``, ``TrialRecord``;
* :mod:`neurosim.examples.what_when_measures` — timing, magnitudes, adaptation, subspaces;
* :mod:`neurosim.examples.what_when_plots` — the figures.

Measured results: the documentation's plasticity page (docs/concepts/plasticity.md) and ``benchmarks/RESULTS.md``.

Run: ``neurosim run what-when --out results/what_when``
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from neurosim.experiments import experiment, output_files, write_summary


def _parse_floats(name, text):
    try:
        vals = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None
    return vals


@experiment("what-when")
def what_when(*, duration: float = 250.0, seed: int = 1, backend: str = "numba", out: str | None = None,
              progress: bool | None = None, n: int = 500, p_a: str = "0.1,0.3,0.5,0.7,0.9", latency_a: float = 60.0,
              latency_b: float = 120.0, new_latency_a: float = 100.0, new_latency_b: float = 160.0,
              block_trials: int = 100, switches: str = "latency,probability", iti: float = 200.0,
              when_rate: float = 0.05, what_rule: str = "constant", what_rate: float = 0.2,
              what_center_trials: float = 20.0,
              bump_ms: float = 20.0, gate_ms: float = 0.0, slow_ms: float = 0.0, feedback_weight: float = 0.0,
              reconverge_factor: float = 1.5, reconverge_window: int = 10) -> dict:
    """What-and-when prediction: three-factor readouts vs FORCE on an Izhikevich reservoir.

    ``duration``: simulated time per trial, ms: each trial runs the reservoir ``duration`` ms
    from cue onset (every latency must be shorter), then ``iti`` ms with no input before the
    next. ``p_a``: p(A | cue) per cue, comma-separated.
    ``latency_a/b``: event times (ms after cue onset) of the first block; ``new_latency_a/b``
    after a "latency" switch. ``switches``: comma-separated "latency" / "probability" /
    "both", one per block after the first. ``gate_ms``: half-width of the gate's latency
    window (0: the whole trial). ``slow_ms`` > 0: the "when" and FORCE readouts also read slow
    traces of the activity (0: off). ``what_rule`` ("constant" or "adaptive"), ``what_rate``,
    ``what_center_trials``, ``when_rate``: see
    :class:`~neurosim.examples.what_when_config.WhatWhenConfig`. Adaptation is measured per trial on
    the prediction made before learning on the trial, by three measures (probability error of
    the magnitudes, relative peak-time error, relative RMS error of the whole shape); a method
    has re-converged after a switch when the ``reconverge_window``-trial running mean of a
    measure falls to ``reconverge_factor`` times its own mean over the 20 trials before the
    switch, or (the fairer comparison) times the lower of the two methods' means
    (:func:`~neurosim.examples.what_when_measures.adaptation_report`). Writes raster.png,
    outputs.png, adaptation.png, subspaces.png and summary.json into ``out``.
    """
    t_start = time.perf_counter()
    from neurosim.circuits.reservoir import IzhikevichReservoir

    from neurosim.examples.what_when_config import WhatWhenConfig
    from neurosim.examples.what_when_learner import WhatWhenLearner
    from neurosim.examples.what_when_measures import adaptation_report, magnitudes, peak_timing, subspace_report
    from neurosim.examples.what_when_plots import plot_adaptation, plot_outputs, plot_raster, plot_subspaces
    from neurosim.examples.what_when_task import WhatWhenTask

    if isinstance(n, bool) or not isinstance(n, int) or n < 10:
        raise ValueError(f"n must be an int >= 10, got {n!r}")
    if isinstance(block_trials, bool) or not isinstance(block_trials, int) or block_trials < 5:
        raise ValueError(f"block_trials must be an int >= 5, got {block_trials!r}")
    sw = tuple(s.strip() for s in switches.split(",") if s.strip())
    task = WhatWhenTask.switching(_parse_floats("p_a", p_a), latency_a, latency_b, n_trials=block_trials,
                                  switches=sw, new_latency_a=new_latency_a, new_latency_b=new_latency_b,
                                  trial_ms=duration, iti_ms=iti)
    rng = np.random.default_rng(seed)
    res = IzhikevichReservoir(n, n_inputs=task.n_cues, seed=rng, **WhatWhenLearner.RESERVOIR_DEFAULTS)
    res.run(300.0, backend=backend, progress=False)  # settle from the initial state
    config = WhatWhenConfig(bump_ms=bump_ms, gate_ms=gate_ms or None, when_rate=when_rate, what_rule=what_rule,
                            what_rate=what_rate, what_center_trials=what_center_trials, slow_ms=slow_ms or None,
                            feedback_weight=feedback_weight)
    learner = WhatWhenLearner(res, task, config, backend=backend, seed=rng)
    trials = task.trials(rng)
    t_train = time.perf_counter()
    history = learner.train(trials, progress=progress)
    training_s = time.perf_counter() - t_train
    test = learner.test(-1, record_states=True)  # learning off, cue only, last block's statistics

    timing = peak_timing(test, task)
    timing_window = peak_timing(test, task, window_ms=40.0)
    mags = magnitudes(test, task)
    force_mags = magnitudes(test, task, source="force")
    # the test trials read with the weights of every block's end and that block's statistics
    # (exact: no feedback, so the states do not depend on the weights)
    per_block = []
    if learner.feedback is False:
        for snap in history["snapshots"]:
            m = magnitudes(learner.replay_test(test, snap["readout"], snap["block"]), task)
            per_block.append({"trial": snap["trial"], "block": snap["block"], "pearson_r_A": m["A"]["pearson_r"],
                              "pearson_r_B": m["B"]["pearson_r"], "magnitude_A": m["A"]["magnitude"],
                              "magnitude_B": m["B"]["magnitude"]})
    # compared in the "when" readouts' feature space (with slow_ms: fast and slow traces of every neuron)
    states = np.concatenate([learner.features(r.states) for r in test])
    force_w = None if learner.force is None else learner.force.weights
    geometry = subspace_report(learner.in_feature_space(learner.what_weights), learner.when.weights, states,
                               force_w=force_w, seed=seed)
    # the same angles after every block: does near-orthogonality emerge with training?
    geometry["over_training"] = []
    for snap in history["snapshots"]:
        g = subspace_report(learner.in_feature_space(snap["what"]), snap["when"], states, force_w=snap["force"],
                            seed=seed, n_random=20)
        geometry["over_training"].append({"trial": snap["trial"], **{
            m: {k: g[m][k] for k in ("principal_angles_deg", "mean_abs_what_vs_when", "random_abs_cos",
                                     "force_vs_what_principal_angles_deg") if k in g[m]}
            for m in ("euclidean", "activity")}})

    err, ferr = history["error"], history["force_error"]
    adaptation = adaptation_report(history, task, window=reconverge_window, factor=reconverge_factor)

    def rel(t):
        return float(np.mean(np.concatenate([t[c]["relative_error"] for c in ("A", "B")])))

    metrics = {
        "experiment": "what-when", "seed": seed, "backend": backend, "n": res.n, "n_cues": task.n_cues,
        "trials": len(trials), "block_trials": block_trials, "switches": list(sw), "trial_ms": duration,
        "blocks": [{"p_a": list(b.p_a), "latency_a": list(b.latency_a), "latency_b": list(b.latency_b)}
                   for b in task.blocks],
        "timing": {"whole_trial": timing, "within_40ms_window": timing_window,
                   "mean_relative_error": rel(timing), "mean_relative_error_window": rel(timing_window)},
        "magnitude": mags, "pearson_r_A": mags["A"]["pearson_r"], "pearson_r_B": mags["B"]["pearson_r"],
        "force_magnitude": force_mags, "magnitude_per_block": per_block, "adaptation": adaptation,
        "final_error": float(np.mean(err[-10:])), "force_final_error": float(np.mean(ferr[-10:])),
        "error": err.tolist(), "force_error": ferr.tolist(),
        "magnitude_error": history["magnitude_error"].tolist(),
        "force_magnitude_error": history["force_magnitude_error"].tolist(),
        "timing_error": history["timing_error"].tolist(), "force_timing_error": history["force_timing_error"].tolist(),
        "subspaces": geometry, "training_s": training_s,
        "settings": {**dataclasses.asdict(config), "what_bias": learner.what_bias, "iti_ms": iti,
                     "reservoir": WhatWhenLearner.RESERVOIR_DEFAULTS,
                     "force_regularization": None if learner.force is None else learner.force.regularization},
    }
    files = None
    if out is not None:
        files = output_files(out, "raster", "outputs", "adaptation", "subspaces")
        plot_raster(test, files["raster"])
        plot_outputs(test, task, files["outputs"])
        plot_adaptation(history, task, files["adaptation"], window=reconverge_window)
        plot_subspaces(geometry, files["subspaces"])
    metrics["wall_time_s"] = time.perf_counter() - t_start
    if files is not None:
        write_summary(files, metrics)
    return metrics


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "what-when", "--out", "results/what_when"])
