"""HD-SNN (Grimaldi & Perrinet 2023): motion detection in event streams by heterogeneous delays.

Natural-image crops slide across a simulated event camera in 12 directions at 3 speeds
(:func:`neurosim.event_data.moving_textures`, 1 ms bins of ON / OFF event counts). One layer of
neurons with heterogeneous synaptic delays (:class:`neurosim.nn.HeterogeneousDelayConv`: a
causal convolution over time x y x x whose temporal taps are the delays) has one neuron per
class at each position; each position's softmax over them is trained by Adam on cross-entropy
with the movie's class (every position and step after the longest delay), and the movie's class
is the one of highest mean log-probability. The learnt
kernels are then pruned by magnitude (no retraining) from 100 % to 0.1 % of the weights: the
paper's claim is that accuracy stays near its peak with a few per cent of them, i.e. a few per
cent of the operations of an event-driven run (counted here, per movie). Its control, kernels
shortened to the first delays, is measured too.

Run: ``neurosim run motion-delays --out results/motion``
"""

from __future__ import annotations

import copy
import time

import numpy as np

from neurosim.experiments import duration_steps, experiment, output_files, write_summary
from neurosim.plot import save_figure
from neurosim.validation import check_int, check_number

KEEP = "1,0.3,0.1,0.03,0.01,0.003,0.001"


def parse_floats(name: str, text: str) -> list[float]:
    """``"0.5,1"`` -> ``[0.5, 1.0]``, each finite and > 0."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} must hold numbers > 0, got {text!r}")
    return values


def movie_frames(streams, steps: int) -> np.ndarray:
    """Binary ON / OFF spikes per pixel and 1 ms step (1 where the pixel had an event),
    ``[steps, n, 2, height, width]`` float32."""
    counts = np.stack([s.to_frames(bin_us=1000, duration_us=steps * 1000) for s in streams], 1)
    return np.minimum(counts, 1.0, out=counts)


def class_scores(model, x):
    """``[B, classes]``: for each class, the log-sum-exp of its neurons' potentials over all
    positions and the steps after the longest delay (a soft maximum: the class whose motion
    detector fires hardest somewhere). Why not a mean: the potential is linear in the input,
    and its mean over all positions is blind to the direction of motion; the coincidences a
    matched kernel detects show only through a non-linearity (in HD-SNN, the spiking one)."""
    import torch

    v = model(x)[model.n_delays - 1:]                    # [T', B, classes, H', W']
    return torch.logsumexp(v.permute(1, 2, 0, 3, 4).flatten(2), dim=2)


def accuracy(model, x, y, batch_size: int = 128) -> float:
    import torch

    with torch.no_grad():
        pred = torch.cat([class_scores(model, x[:, b:b + batch_size]).argmax(1)
                          for b in range(0, x.shape[1], batch_size)])
    return float((pred == y).float().mean())


def data_seed(run_seed: int, part: int) -> int:
    """The movies' seed of one run's test set (part 0) or training epoch (part e + 1)."""
    return int(np.random.SeedSequence([run_seed, part]).generate_state(1)[0])


def train_epoch(model, opt, x, y, *, batch_size: int, l1: float, rng, sched=None) -> float:
    """One pass over the movies ``x [T, n, 2, H, W]``, labels ``y``; returns the mean loss."""
    import torch

    n = x.shape[1]
    order = torch.from_numpy(rng.permutation(n)).to(x.device)
    running = 0.0
    for b in range(0, n, batch_size):
        idx = order[b:b + batch_size]
        loss = torch.nn.functional.cross_entropy(class_scores(model, x[:, idx]), y[idx])
        if l1:
            loss = loss + l1 * model.weight.abs().sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        running += float(loss.detach()) * len(idx)
    return running / n


def train_one(movies, *, n_classes: int, n_train: int, n_delays: int, kernel: int, stride: int, epochs: int,
              batch_size: int, lr: float, l1: float, seed: int, device, progress) -> tuple:
    """Train one HD-SNN layer on fresh movies every epoch (``movies(n, seed) -> (x, y)``), as
    the paper trains on an endless synthetic stream: with one fixed set it memorises the
    textures (train 80 %, test 40 % here). Returns ``(model, loss per epoch, seconds)``."""
    import torch
    from tqdm.auto import tqdm

    from neurosim.nn import HeterogeneousDelayConv

    torch.manual_seed(seed)
    model = HeterogeneousDelayConv(2, n_classes, n_delays, kernel, stride=stride, padding=kernel // 2).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = epochs * -(-n_train // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + np.cos(np.pi * min(k, total) / total)))
    rng = np.random.default_rng(seed)
    losses = []
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"motion-delays seed {seed}", unit="epoch", leave=False,
               disable=None if progress is None else not progress)
    for epoch in bar:
        x, y = movies(n_train, data_seed(seed, epoch + 1))
        losses.append(train_epoch(model, opt, x, y, batch_size=batch_size, l1=l1, rng=rng, sched=sched))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return model, losses, time.perf_counter() - t0


def curve_point(model, x, y, fraction: float) -> dict:
    """Accuracy and event-driven operations per movie of ``model`` (already pruned)."""
    import torch

    with torch.no_grad():
        ops = torch.cat([model.synaptic_operations(x[:, b:b + 128]) for b in range(0, x.shape[1], 128)])
    return {"keep": fraction, "synapses": model.n_synapses, "accuracy": accuracy(model, x, y),
            "operations_per_movie": float(ops.mean())}


def pruning_curve(model, x, y, keep: list[float], retrain=None) -> list[dict]:
    """The ``keep`` fraction of the largest weights, the others zeroed; as the paper does it
    (no retraining), and, given ``retrain(pruned, keep)``, after retraining the weights kept."""
    rows = []
    for fraction in keep:
        pruned = copy.deepcopy(model)
        pruned.prune_(fraction)
        row = curve_point(pruned, x, y, fraction)
        if retrain is not None:
            retrain(pruned, fraction)
            row["accuracy_retrained"] = accuracy(pruned, x, y)
            row["synapses_retrained"] = pruned.n_synapses
        rows.append(row)
    return rows


def shortening_curve(model, x, y) -> list[dict]:
    """The paper's control: keep the weights of the ``k`` shortest delays only (k = n_delays
    down to 1), i.e. shorter kernels instead of sparse ones."""
    rows = []
    for k in range(model.n_delays, 0, -1):
        short = copy.deepcopy(model)
        short.mask[:, :, k:] = False
        rows.append(curve_point(short, x, y, k / model.n_delays))
    return rows


@experiment("motion-delays", metrics=("accuracy_mean", "accuracy_at_3pc_mean"))
def motion_delays(*, duration: float = 24.0, seed: int = 0, backend: str = "auto", out: str | None = None,
                  progress: bool | None = None, seeds: int = 3, directions: int = 12, speeds: str = "0.25,0.5,1",
                  sensor: int = 24, n_train: int = 2160, n_test: int = 720, n_delays: int = 8, kernel: int = 7,
                  stride: int = 2, epochs: int = 16, batch_size: int = 32, lr: float = 0.01, l1: float = 0.0,
                  retrain_epochs: int = 0,
                  threshold: float = 0.2, keep: str = KEEP) -> dict:
    """HD-SNN motion classes (``directions`` x speeds) on synthetic event movies, ``seeds`` runs.

    ``duration``: simulated time per trial, ms: one movie, binned in 1 ms steps. ``backend``:
    the torch device, "auto" (CUDA when available, else CPU), "cpu" or "cuda". ``speeds``:
    pixels per ms, comma-separated. ``sensor``: its side in pixels. Each run ``r`` (seed + r)
    draws its own initial weights, ``n_train`` fresh movies per epoch and ``n_test`` test
    movies. The layer has ``n_delays`` delays (steps) over ``kernel x kernel`` pixels at spatial
    ``stride``; ``threshold``: the camera's contrast threshold (log intensity); ``l1``: an L1
    penalty on the weights during training (0: none). ``keep``: the fractions of weights of the
    pruning curve, pruned without retraining as in the paper, and also retrained for
    ``retrain_epochs`` epochs of fresh movies (the pruned weights stay zero) when that is > 0.
    Writes kernels.png (the first run's kernels, ON minus OFF, per delay, for every direction
    at the middle speed), pruning.png (accuracy and operations against the fraction of weights
    kept, mean and s.d. over runs; and with only the shortest delays kept) and summary.json
    into ``out``.
    """
    import torch

    from neurosim.event_data import moving_textures

    t_start = time.perf_counter()
    steps = duration_steps(duration)
    seeds = check_int("seeds", seeds, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    directions = check_int("directions", directions, minimum=2)
    speed_list = parse_floats("speeds", speeds)
    keep_list = parse_floats("keep", keep)
    if max(keep_list) > 1:
        raise ValueError(f"keep must hold fractions in (0, 1], got {keep!r}")
    sensor = check_int("sensor", sensor, minimum=1)
    n_classes = directions * len(speed_list)
    n_train = check_int("n_train", n_train, minimum=n_classes)
    n_test = check_int("n_test", n_test, minimum=n_classes)
    n_delays = check_int("n_delays", n_delays, minimum=1)
    kernel = check_int("kernel", kernel, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_number("lr", lr, positive=True)
    l1 = check_number("l1", l1, nonnegative=True)
    retrain_epochs = check_int("retrain_epochs", retrain_epochs, minimum=0)
    threshold = check_number("threshold", threshold, positive=True)
    if steps < n_delays:
        raise ValueError(f"duration must give at least n_delays = {n_delays} steps of 1 ms, got {duration} ms")
    if kernel > sensor:
        raise ValueError(f"kernel ({kernel} pixels) must fit the sensor ({sensor} pixels)")
    if backend not in ("auto", "cpu", "cuda"):
        raise ValueError(f"backend must be 'auto', 'cpu' or 'cuda' (the torch device), got {backend!r}")
    if backend == "cuda" and not torch.cuda.is_available():
        raise ValueError("backend 'cuda' needs a CUDA device; use 'cpu' or 'auto'")
    device = torch.device("cuda" if backend == "cuda" or (backend == "auto" and torch.cuda.is_available()) else "cpu")

    def movies(n, data_seed):
        streams, labels = moving_textures(n, directions=directions, speeds=speed_list, sensor_size=(sensor, sensor),
                                          duration_ms=float(steps), seed=data_seed, threshold=threshold)
        return torch.from_numpy(movie_frames(streams, steps)).to(device), torch.from_numpy(labels).to(device)

    runs = []
    for r in range(seeds):
        run_seed = seed + r
        model, losses, train_s = train_one(movies, n_classes=n_classes, n_train=n_train, n_delays=n_delays,
                                           kernel=kernel, stride=stride, epochs=epochs, batch_size=batch_size, lr=lr,
                                           l1=l1, seed=run_seed, device=device, progress=progress)
        x_te, y_te = movies(n_test, data_seed(run_seed, 0))

        def retrain(pruned, fraction, run_seed=run_seed):
            opt = torch.optim.Adam(pruned.parameters(), lr=lr * 0.3)
            rng = np.random.default_rng([run_seed, round(fraction * 1e6)])
            for e in range(retrain_epochs):
                x, y = movies(n_train, data_seed(run_seed, epochs + 1 + e))
                train_epoch(pruned, opt, x, y, batch_size=batch_size, l1=0.0, rng=rng)

        runs.append({"seed": run_seed, "accuracy": accuracy(model, x_te, y_te), "loss_per_epoch": losses,
                     "train_s": train_s, "spikes_per_movie": float(x_te.sum(dim=(0, 2, 3, 4)).mean()),
                     "pruning": pruning_curve(model, x_te, y_te, keep_list, retrain if retrain_epochs else None),
                     "shortening": shortening_curve(model, x_te, y_te)})
        if r == 0:
            first = model
    acc = np.array([run["accuracy"] for run in runs])
    by_keep = np.array([[row["accuracy"] for row in run["pruning"]] for run in runs])  # [runs, keeps]
    ops = np.array([[row["operations_per_movie"] for row in run["pruning"]] for run in runs])
    if retrain_epochs:
        retrained = np.array([[row["accuracy_retrained"] for row in run["pruning"]] for run in runs])
    short = np.array([[row["accuracy"] for row in run["shortening"]] for run in runs])
    near = min(range(len(keep_list)), key=lambda k: abs(np.log(keep_list[k] / 0.03)))
    metrics = {"experiment": "motion-delays", "classes": n_classes, "chance": 1.0 / n_classes,
               "accuracy_mean": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1)) if seeds > 1 else 0.0,
               "accuracy_at_3pc_mean": float(by_keep[:, near].mean()), "keep_near_3pc": keep_list[near],
               "pruning": [{"keep": f, "accuracy_mean": float(by_keep[:, k].mean()),
                            "accuracy_sd": float(by_keep[:, k].std(ddof=1)) if seeds > 1 else 0.0,
                            "operations_per_movie_mean": float(ops[:, k].mean())}
                           | ({"accuracy_retrained_mean": float(retrained[:, k].mean()),
                               "accuracy_retrained_sd": float(retrained[:, k].std(ddof=1)) if seeds > 1 else 0.0}
                              if retrain_epochs else {})
                           for k, f in enumerate(keep_list)],
               "shortening": [{"keep": row["keep"], "accuracy_mean": float(short[:, k].mean()),
                               "accuracy_sd": float(short[:, k].std(ddof=1)) if seeds > 1 else 0.0}
                              for k, row in enumerate(runs[0]["shortening"])],
               "runs": runs,
               "settings": {"duration_ms": float(steps), "seeds": seeds, "directions": directions,
                            "speeds_px_per_ms": speed_list, "sensor": sensor, "n_train": n_train, "n_test": n_test,
                            "n_delays": n_delays, "kernel": kernel, "stride": stride, "epochs": epochs,
                            "batch_size": batch_size, "lr": lr, "l1": l1, "retrain_epochs": retrain_epochs,
                            "threshold": threshold, "device": str(device),
                            "synapses": int(first.weight.numel())}}
    if out is not None:
        files = output_files(out, "kernels", "pruning")
        plot_kernels(first, directions, len(speed_list), files["kernels"])
        plot_pruning(metrics, files["pruning"])
    metrics["wall_time_s"] = time.perf_counter() - t_start
    if out is not None:
        write_summary(files, metrics)
    return metrics


def plot_kernels(model, directions: int, n_speeds: int, path) -> None:
    """The kernels of every direction at the middle speed: ON minus OFF weight per delay."""
    if path is None:
        return
    from matplotlib.figure import Figure

    w = (model.weight * model.mask).detach().cpu().numpy()
    middle = n_speeds // 2
    rows = [d * n_speeds + middle for d in range(directions)]
    diff = w[rows, 1] - w[rows, 0]                            # [directions, delays, kh, kw]
    scale = np.abs(diff).max() or 1.0
    fig = Figure(figsize=(1.0 * model.n_delays + 1.2, 1.0 * directions + 0.6), layout="constrained")
    axes = fig.subplots(directions, model.n_delays, squeeze=False)
    for i, d in np.ndindex(axes.shape):
        ax = axes[i, d]
        im = ax.imshow(diff[i, d], cmap="RdBu_r", vmin=-scale, vmax=scale)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title(f"delay {d}", fontsize=8)
        if d == 0:
            ax.set_ylabel(f"{360 * i / directions:.0f}°", fontsize=8)
    fig.suptitle("learnt kernels, ON − OFF, middle speed (rows: direction of motion)", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.5, label="weight")
    save_figure(fig, path)


def plot_pruning(metrics: dict, path) -> None:
    """Accuracy (mean +- s.d. over runs) and operations per movie against the fraction kept."""
    if path is None:
        return
    from matplotlib.figure import Figure

    rows = metrics["pruning"]
    keep = np.array([r["keep"] for r in rows]) * 100
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    runs = metrics["settings"]["seeds"]
    left.errorbar(keep, [100 * r["accuracy_mean"] for r in rows], yerr=[100 * r["accuracy_sd"] for r in rows],
                  fmt="o-", capsize=3, label=f"pruning the smallest weights (mean ± s.d., {runs} runs)")
    if "accuracy_retrained_mean" in rows[0]:
        epochs = metrics["settings"]["retrain_epochs"]
        left.errorbar(keep, [100 * r["accuracy_retrained_mean"] for r in rows],
                      yerr=[100 * r["accuracy_retrained_sd"] for r in rows], fmt="^-", capsize=3, color="tab:green",
                      label=f"pruned, then retrained {epochs} epoch{'s' if epochs > 1 else ''}")
    short = metrics["shortening"]
    left.errorbar([100 * r["keep"] for r in short], [100 * r["accuracy_mean"] for r in short],
                  yerr=[100 * r["accuracy_sd"] for r in short], fmt="s-", capsize=3, color="tab:orange",
                  label="keeping the shortest delays only")
    for run in metrics["runs"]:
        left.plot(keep, [100 * p["accuracy"] for p in run["pruning"]], ".", color="0.6")
    left.axhline(100 * metrics["chance"], color="k", ls=":", label="chance")
    left.set_xscale("log")
    left.set_xlabel("weights kept (%)")
    left.set_ylabel("test accuracy (%)")
    left.legend(fontsize=7, loc="upper left")  # the curves rise to the right
    right.loglog(keep, [r["operations_per_movie_mean"] for r in rows], "o-")
    right.set_xlabel("weights kept (%)")
    right.set_ylabel("synaptic operations per movie")
    fig.suptitle(f"HD-SNN motion classes ({metrics['classes']}, chance {100 * metrics['chance']:.1f} %)",
                 fontsize=10)
    save_figure(fig, path)
