"""The "what and when" prediction task (Yamada & Chao 2025) on an Izhikevich reservoir.

Cues predict event A at one latency with probability p(A | cue), otherwise B at another
latency; the statistics switch between blocks of trials (timing, then probability). Per
event channel a three-factor "when" readout learns online (1 ms steps, gated to the channel
and its latency window) and a "what" readout learns offline at the end of each trial; the
channel predicts ``what × when``. A FORCE readout (never reset) learns the same target on the
same reservoir states, as the baseline. See :mod:`neurosim.circuits.what_when`.

Run: ``neurosim run what-when --out results/what_when``
"""

from __future__ import annotations

import time

import numpy as np

from neurosim.experiments import experiment, output_files, write_summary
from neurosim.plot import save_figure

COLORS = {"A": "#1f77b4", "B": "#d62728"}


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

    ``duration``: trial length, ms. ``p_a``: p(A | cue) per cue, comma-separated.
    ``latency_a/b``: event times (ms after cue onset) of the first block; ``new_latency_a/b``
    after a "latency" switch. ``switches``: comma-separated "latency" / "probability" /
    "both", one per block after the first. ``gate_ms``: half-width of the gate's latency
    window (0: the whole trial). ``slow_ms`` > 0: the "when" and FORCE readouts also read slow
    traces of the activity (0: off). ``what_rule`` ("constant" or "adaptive"), ``what_rate``,
    ``what_center_trials``, ``when_rate``: see
    :class:`~neurosim.circuits.what_when.WhatWhenLearner`. Adaptation is measured per trial on
    the prediction made before learning on the trial, by three measures (probability error of
    the magnitudes, relative peak-time error, relative RMS error of the whole shape); a method
    has re-converged after a switch when the ``reconverge_window``-trial running mean of a
    measure falls to ``reconverge_factor`` times its own mean over the 20 trials before the
    switch, or (the fairer comparison) times the lower of the two methods' means
    (:func:`~neurosim.circuits.what_when.adaptation_report`). Writes raster.png,
    outputs.png, adaptation.png, subspaces.png and summary.json into ``out``.
    """
    t_start = time.perf_counter()
    from neurosim.circuits.reservoir import IzhikevichReservoir
    from neurosim.circuits.what_when import (WhatWhenLearner, WhatWhenTask, adaptation_report, magnitudes,
                                             peak_timing, subspace_report)

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
    learner = WhatWhenLearner(res, task, bump_ms=bump_ms, gate_ms=gate_ms or None, when_rate=when_rate,
                              what_rule=what_rule, what_rate=what_rate, what_center_trials=what_center_trials,
                              slow_ms=slow_ms or None,
                              feedback_weight=feedback_weight, backend=backend, seed=rng)
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
        "settings": {"when_rate": when_rate, "what_rule": what_rule, "what_rate": what_rate,
                     "what_bias": learner.what_bias, "what_center_trials": what_center_trials,
                     "bump_ms": bump_ms, "gate_ms": gate_ms, "slow_ms": slow_ms,
                     "feedback_weight": feedback_weight, "iti_ms": iti, "reservoir": WhatWhenLearner.RESERVOIR_DEFAULTS,
                     "cue_tau_ms": learner.cue_tau_ms, "force_regularization": learner.force.regularization},
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


def plot_raster(records, path, n_trials: int = 3) -> None:
    """Spike rasters (with population rates) of up to ``n_trials`` test trials, one cue each."""
    from matplotlib.figure import Figure

    from neurosim import plot

    picks = np.linspace(0, len(records) - 1, min(n_trials, len(records))).round().astype(int)
    fig = Figure(figsize=(5 * len(picks), 6), layout="constrained")
    axes = fig.subplots(2, len(picks), squeeze=False, gridspec_kw={"height_ratios": [3, 1]})
    for j, i in enumerate(picks):
        rec = records[i]
        plot.raster(rec.result, axes=(axes[0, j], axes[1, j]), title="")
        axes[0, j].set_title(f"cue {rec.trial.cue}: p(A) = {records[i].ideal[:, 0].max():.2f} x bump")
    fig.suptitle("Reservoir activity after each cue (test trials, time from cue onset)")
    save_figure(fig, path)


def plot_outputs(records, task, path) -> None:
    """Per cue: channel predictions what × when (solid), FORCE (dotted), ideal p × bump (dashed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(records), 3.6), layout="constrained")
    axes = fig.subplots(1, len(records), squeeze=False, sharey=True)[0]
    for ax, rec in zip(axes, records):
        p = task.blocks[rec.trial.block].p_a[rec.trial.cue]
        for c, name in enumerate(("A", "B")):
            ax.plot(rec.times, rec.ideal[:, c], "--", color=COLORS[name], lw=1, label=f"ideal {name}")
            ax.plot(rec.times, rec.output[:, c], color=COLORS[name], lw=1.8, label=f"what x when {name}")
            ax.plot(rec.times, rec.force[:, c], ":", color=COLORS[name], lw=1.2, label=f"FORCE {name}")
        ax.set_title(f"cue {rec.trial.cue}, p(A) = {p:.2f}")
        ax.set_xlabel("time after cue (ms)")
    axes[0].set_ylabel("prediction")
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Readout outputs against targets per cue (test, learning off)")
    save_figure(fig, path)


def plot_adaptation(history, task, path, window: int = 10) -> None:
    """Per-trial probability error, timing error and shape error of the prediction made before
    learning on each trial, three-factor vs FORCE (never reset); switches marked."""
    from matplotlib.figure import Figure

    panels = (("magnitude_error", "probability error\nsum_c p_c |m_c - p_c|"),
              ("timing_error", "timing error\nsum_c p_c |peak_c - t_c| / t_c"),
              ("error", "shape error\nrelative RMS vs p x bump"))
    fig = Figure(figsize=(10, 8), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True)
    k = np.ones(window) / window
    for ax, (key, ylabel) in zip(axes, panels):
        for prefix, label, color in (("", "three-factor (what x when)", "#2ca02c"), ("force_", "FORCE, P never reset",
                                                                                     "#9467bd")):
            e = np.asarray(history[prefix + key])
            x = np.arange(len(e))
            ax.plot(x, e, color=color, alpha=0.25, lw=0.8)
            if len(e) >= window:
                ax.plot(x[window - 1:], np.convolve(e, k, mode="valid"), color=color, lw=2,
                        label=f"{label} ({window}-trial mean)")
        for s in task.switch_trials:
            ax.axvline(s, color="k", ls="--", lw=1)
        both = np.concatenate([history[key], history["force_" + key]])
        both = both[np.isfinite(both)]
        ax.set_ylim(0, max(0.1, float(np.percentile(both, 98))) if both.size else 1.0)
        ax.set_ylabel(ylabel, fontsize=8)
    axes[0].legend(frameon=False, fontsize=8)
    axes[-1].set_xlabel("trial")
    axes[0].set_title("Adaptation after switches (dashed lines); prediction before learning on each trial")
    save_figure(fig, path)


def plot_subspaces(geometry, path) -> None:
    """Left, middle: |cosine| between what and when weight vectors, Euclidean and in the activity
    metric, against random vector pairs in the same metric. Right: the smallest principal angle
    between span(what) and span(when) after every block, both metrics, with the random and
    FORCE-vs-what baselines."""
    from matplotlib.figure import Figure

    keys = ["what_A_vs_when_A", "what_B_vs_when_B", "what_A_vs_when_B", "what_B_vs_when_A", "what_A_vs_what_B",
            "when_A_vs_when_B", "random_abs_cos"]
    fig = Figure(figsize=(14, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, ("euclidean", "activity")):
        g = geometry.get(metric)
        if g is None:
            continue
        vals = [abs(g[k]) for k in keys]
        ax.bar(range(len(keys)), vals, color=["#2ca02c"] * 4 + ["#1f77b4", "#d62728", "#7f7f7f"])
        ax.set_xticks(range(len(keys)), [k.replace("_vs_", "\nvs ").replace("random_abs_cos", "random\npairs")
                                         for k in keys], fontsize=7)
        ax.set_ylim(0, 1)
        angles = ", ".join(f"{a:.0f}" for a in g["principal_angles_deg"])
        ax.set_title(f"{metric} metric |cos|; principal angles {angles} deg", fontsize=9)
    ax = axes[2]
    over = geometry.get("over_training", [])
    for metric, color in (("euclidean", "#1f77b4"), ("activity", "#ff7f0e")):
        if not over or metric not in over[0]:
            continue
        x = [o["trial"] for o in over]
        ax.plot(x, [min(o[metric]["principal_angles_deg"]) for o in over], "o-", color=color,
                label=f"what vs when, {metric}")
        if "force_vs_what_principal_angles_deg" in over[0][metric]:
            ax.plot(x, [min(o[metric]["force_vs_what_principal_angles_deg"]) for o in over], "s:", color=color,
                    label=f"what vs FORCE, {metric}")
        ax.axhline(min(geometry[metric]["random_principal_angles_deg"]), color=color, lw=0.8, ls="--",
                   label=f"random 2-D pairs, {metric}")
    ax.set_ylim(0, 92)
    ax.set_xlabel("trial (end of block)")
    ax.set_ylabel("smallest principal angle (deg)")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("span(what) vs span(when) over training", fontsize=9)
    fig.suptitle("What vs when readout weights")
    save_figure(fig, path)


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "what-when", "--out", "results/what_when"])
