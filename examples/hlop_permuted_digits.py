"""Continual learning with HLOP (Xiao et al., ICLR 2024) against its baselines, on digits.

Tasks: scikit-learn's 8x8 digits under fixed pixel permutations ("permuted", all 10 classes
per task, one shared head) or split into class pairs ("split", task-incremental: the task's
classes are known at test, the other scores are masked). A spiking MLP (LIF hidden layer,
rate-coded input) learns the tasks one after the other with each method; ``R[i, j]`` is the
accuracy on task ``j`` after task ``i``. See :mod:`neurosim.circuits.continual`.

Run: ``neurosim run hlop-permuted-digits --out results/hlop``
"""

from __future__ import annotations

import time

import numpy as np

from neurosim.experiments import duration_steps, experiment, output_files, write_summary
from neurosim.plot import save_figure

COLORS = {"finetune": "#d62728", "ewc": "#ff7f0e", "hlop": "#2ca02c", "gpm": "#1f77b4", "multitask": "#7f7f7f"}


@experiment("hlop-permuted-digits")
def hlop_permuted_digits(*, duration: float | None = None, seed: int = 0, backend: str = "auto",
                         out: str | None = None, progress: bool | None = None, protocol: str = "permuted",
                         n_tasks: int = 5, methods: str = "finetune,ewc,hlop,gpm,multitask", epochs: int = 3,
                         lr: float | None = None, hidden: int = 2048, steps: int = 8, ewc_lambda: float = 1000.0,
                         hlop_neurons: str = "12,400;3,120", rule: str = "bptt") -> dict:
    """HLOP vs fine-tuning, EWC, GPM and multitask training on permuted (or split) digits.

    ``protocol``: "permuted" (``n_tasks`` pixel permutations) or "split" (pairs 0/1 ... 8/9).
    ``methods``: comma-separated subset of finetune, ewc, hlop, gpm, multitask. ``duration``:
    simulated time per trial, ms: each sample is presented for ``duration`` ms in 1 ms steps, so
    a value sets ``steps`` (None: ``steps`` ms). ``hlop_neurons``: subspace neurons added per
    task for the input and hidden layer, "first task;every later task" (also GPM's basis
    sizes). ``rule``: "bptt" (backpropagation through time) or "ottt" (online, on
    presynaptic traces); ``lr``: SGD step, by default 0.1 for "bptt" and 0.2 for "ottt".
    Writes accuracy_matrix.png (R per method), accuracy_curves.png and summary.json (R, ACC,
    BWT per method) into ``out``.
    """
    t_start = time.perf_counter()
    from neurosim.circuits.continual import METHODS, ContinualConfig, run_continual
    from neurosim.circuits.continual_data import permuted_digits, split_digits

    if duration is not None:
        steps = duration_steps(duration)
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    for m in chosen:
        if m not in METHODS:
            raise ValueError(f"methods: unknown method {m!r}; choose from {', '.join(METHODS)}")
    try:
        rows = tuple(tuple(int(v) for v in row.split(",")) for row in hlop_neurons.split(";"))
    except ValueError:
        raise ValueError(f"hlop_neurons must look like '30,100;8,100', got {hlop_neurons!r}") from None
    if any(len(r) != 2 for r in rows):
        raise ValueError(f"hlop_neurons needs two counts (input, hidden layer) per row, got {hlop_neurons!r}")
    if protocol == "permuted":
        tasks = permuted_digits(n_tasks, seed=seed)
    elif protocol == "split":
        tasks = split_digits(seed=seed)
    else:
        raise ValueError(f"protocol must be 'permuted' or 'split', got {protocol!r}")
    cfg = ContinualConfig(epochs=epochs, lr=lr, hidden=(hidden,), steps=steps, ewc_lambda=ewc_lambda,
                          hlop_neurons=rows, rule=rule, backend=backend, seed=seed)
    results = run_continual(tasks, chosen, cfg, progress=progress)
    metrics = {"experiment": "hlop-permuted-digits", "protocol": protocol, "rule": rule, "seed": seed,
               "n_tasks": len(tasks),
               "table": {m: {"ACC": r["ACC"], "BWT": r["BWT"]} for m, r in results.items()},
               "R": {m: r["R"] for m, r in results.items()},
               "settings": {"epochs": epochs, "lr": cfg.lr, "hidden": hidden, "steps": steps, "ewc_lambda": ewc_lambda,
                            "hlop_neurons": [list(r) for r in cfg.hlop_neurons], "hlop_lr": list(cfg.hlop_lr),
                            "hlop_iterations": cfg.hlop_iterations, "batch_size": cfg.batch_size}}
    if out is not None:
        files = output_files(out, "accuracy_matrix", "accuracy_curves")
        plot_matrices(results, files["accuracy_matrix"])
        plot_curves(results, files["accuracy_curves"])
    metrics["wall_time_s"] = time.perf_counter() - t_start
    if out is not None:
        write_summary(files, metrics)
    return metrics


def plot_matrices(results: dict, path) -> None:
    """One heatmap of R[i, j] (accuracy on task j after task i, %) per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(results) + 0.8, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(results)))
    for ax, (m, r) in zip(axes, results.items()):
        R = 100 * np.asarray(r["R"])
        im = ax.imshow(R, vmin=0, vmax=100, cmap="viridis")
        for (i, j), v in np.ndenumerate(R):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="w" if v < 60 else "k")
        ax.set_title(f"{m}\nACC {r['ACC'] * 100:.1f}, BWT {r['BWT'] * 100:+.1f}", fontsize=9)
        ticks = np.arange(len(R))
        ax.set_xticks(ticks, [str(k + 1) for k in ticks])  # tasks counted from 1, as in the curves
        ax.set_yticks(ticks, [str(k + 1) for k in ticks])
        ax.set_xlabel("tested on task j")
        ax.set_ylabel("after training task i")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="accuracy (%)")
    save_figure(fig, path)


def plot_curves(results: dict, path) -> None:
    """Left: mean accuracy over the tasks seen so far after each task. Right: accuracy on the
    first task after each task (forgetting)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for m, r in results.items():
        R = 100 * np.asarray(r["R"])
        x = np.arange(1, len(R) + 1)
        left.plot(x, [R[i, :i + 1].mean() for i in range(len(R))], "o-", color=COLORS.get(m), label=m)
        right.plot(x, R[:, 0], "o-", color=COLORS.get(m), label=m)
    left.set_title("mean accuracy on the tasks learnt so far")
    right.set_title("accuracy on task 1")
    for ax in (left, right):
        ax.set_xlabel("after training task")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_xticks(x)
    left.legend(frameon=False)
    save_figure(fig, path)


if __name__ == "__main__":
    print(hlop_permuted_digits(out="results/hlop"))
