"""Figures of the what-and-when example: rasters, outputs against targets, adaptation after
the switches, and the geometry of the "what" and "when" weights."""

from __future__ import annotations

import numpy as np

from neurosim.plot import save_figure

COLORS = {"A": "#1f77b4", "B": "#d62728"}


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
