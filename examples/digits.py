"""A spiking classifier for scikit-learn's handwritten digits, trained by surrogate gradients.

Data: ``sklearn.datasets.load_digits`` (1797 images of 8x8 pixels, intensities 0..16,
10 classes), split 80/20 into training and test sets, stratified by class, the split drawn
from the seed.

Encoding: each pixel is a Bernoulli (rate-coded) spike train over ``steps`` time steps of
1 ms, firing in each step with probability ``intensity / 16``; training draws fresh spike
trains every epoch, the test set is encoded once. ``encoding="latency"`` instead fires each
non-blank pixel once, the brighter the earlier (one spike per pixel carries less: about
92 % test accuracy against 97-98 % for rate coding).

Network: ``Linear(64 -> hidden)`` -> ``neurosim.nn.LIF`` (beta 0.9, threshold 1, subtractive
reset, fast-sigmoid surrogate) -> ``Linear(hidden -> 10)`` -> ``neurosim.nn.LI`` readout; the
class scores are the readout membranes' maxima over time. Cross-entropy, Adam with a cosine
learning-rate schedule, backpropagation through time.

Outputs in ``--out``: ``learning_curve.png`` (training loss and test accuracy per epoch),
``hidden_raster.png`` (hidden-layer spikes and readout membranes for a few test digits) and
``summary.json`` (the metrics). 97-98 % test accuracy in 15 epochs, about 20 s in all on
two CPU cores (fused Numba kernels, the default backend on CPU).

Run: ``neurosim run digits --out results/digits`` (needs torch and scikit-learn).
"""

from __future__ import annotations

import time

from neurosim.experiments import duration_steps, experiment, output_files, write_summary
from neurosim.plot import save_figure

DT_MS = 1.0  # one time step, ms
N_PIXELS, N_CLASSES = 64, 10


def load_split(seed: int, test_fraction: float = 0.2):
    """Digits as float32 tensors ``(x_train, x_test, y_train, y_test)``, intensities scaled to
    [0, 1]; the stratified split is drawn from ``seed``."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x / 16.0, y, test_size=test_fraction, stratify=y,
                                              random_state=seed)
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return as_x(x_tr), as_x(x_te), as_y(y_tr), as_y(y_te)


def encode(x, steps: int, generator, encoding: str = "rate"):
    """Images ``[B, 64]`` in [0, 1] -> spikes ``[steps, B, 64]`` (float32, 0/1).

    ``"rate"``: a spike in each step with probability equal to the intensity (drawn with
    ``generator``). ``"latency"``: one spike per pixel brighter than 0, at step
    ``round((1 - intensity) * (steps - 1))`` (deterministic)."""
    import torch

    if encoding == "rate":
        p = x.unsqueeze(0).expand(steps, *x.shape)
        return (torch.rand(p.shape, generator=generator) < p).to(torch.float32)
    if encoding == "latency":
        t_spike = torch.round((1.0 - x) * (steps - 1)).long()
        t = torch.arange(steps).view(steps, 1, 1)
        return ((t == t_spike.unsqueeze(0)) & (x > 0).unsqueeze(0)).to(torch.float32)
    raise ValueError(f"encoding must be 'rate' or 'latency', got {encoding!r}")


def build(hidden: int, beta: float, backend: str):
    """The network as a ``torch.nn.Module``: ``forward(spikes) -> (scores [B, 10], hidden
    spikes [T, B, hidden], readout membrane [T, B, 10])``."""
    import torch
    from torch import nn

    import neurosim.nn as snn

    class DigitsSNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(N_PIXELS, hidden)
            self.lif = snn.LIF(hidden, beta=beta, threshold=1.0, backend=backend)
            self.fc2 = nn.Linear(hidden, N_CLASSES)
            self.readout = snn.LI(N_CLASSES, beta=beta, backend=backend)

        def forward(self, spikes: torch.Tensor):
            h, _ = self.lif(self.fc1(spikes))
            v, _ = self.readout(self.fc2(h))
            return v.amax(0), h, v

    return DigitsSNN()


def _check(name, value, kind, low):
    if isinstance(value, bool) or not isinstance(value, kind) or not value >= low:
        raise ValueError(f"{name} must be a {kind.__name__} >= {low}, got {value!r}")


@experiment("digits")
def digits(*, duration: float | None = None, seed: int = 1, backend: str = "auto", out: str | None = None,
           progress: bool | None = None, epochs: int = 15, hidden: int = 256, steps: int = 25, lr: float = 5e-3,
           batch_size: int = 64, beta: float = 0.9, encoding: str = "rate", test_fraction: float = 0.2) -> dict:
    """Spiking classifier (LIF hidden layer, LI readout) on sklearn's 8x8 digits, ~97 % test accuracy.

    ``duration``: simulated time per trial, ms: each digit is presented for ``duration`` ms in
    1 ms steps, so a value sets ``steps`` (None: ``steps`` ms). ``backend``: the layers' backend (``"auto"``: fused Numba kernels on CPU,
    Triton on CUDA; ``"numba"``, ``"triton"``, ``"torch"``, ``"reference"``). Writes ``learning_curve.png``, ``hidden_raster.png`` and
    ``summary.json`` into ``out``. Returns test accuracy, epochs, training seconds, the
    hidden layer's firing rate and the per-epoch history.
    """
    t_start = time.perf_counter()
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    if duration is not None:
        steps = duration_steps(duration, DT_MS)
    _check("steps", steps, int, 1)
    _check("epochs", epochs, int, 1)
    _check("hidden", hidden, int, 1)
    _check("batch_size", batch_size, int, 1)
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if encoding not in ("rate", "latency"):
        raise ValueError(f"encoding must be 'rate' or 'latency', got {encoding!r}")
    from neurosim.nn.functional import resolve_backend

    backend = resolve_backend(backend, torch.device("cpu"))

    x_tr, x_te, y_tr, y_te = load_split(seed, test_fraction)
    # Weights from the seed without touching the caller's global torch RNG; spike trains and
    # shuffles from generators of their own.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(hidden, beta, backend)
    g_train = torch.Generator().manual_seed(seed)
    g_test = torch.Generator().manual_seed(seed + 1_000_003)
    s_te = encode(x_te, steps, g_test, encoding)

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    def evaluate():
        with torch.no_grad():
            scores, h, v = model(s_te)
        return float((scores.argmax(1) == y_te).float().mean()), h, v

    history = {"train_loss": [], "train_accuracy": [], "test_accuracy": []}
    t_train = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"digits [{backend}]", unit="epoch",
               disable=None if progress is None else not progress, leave=False)
    for _ in bar:
        model.train()
        order = torch.randperm(len(x_tr), generator=g_train)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            scores, _, _ = model(encode(x_tr[idx], steps, g_train, encoding))
            loss = F.cross_entropy(scores, y_tr[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((scores.argmax(1) == y_tr[idx]).sum())
        schedule.step()
        model.eval()
        acc, h_te, v_te = evaluate()
        history["train_loss"].append(loss_sum / len(x_tr))
        history["train_accuracy"].append(correct / len(x_tr))
        history["test_accuracy"].append(acc)
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", test_acc=f"{acc:.3f}")
    bar.close()
    training_s = time.perf_counter() - t_train

    rate_per_step = float(h_te.mean())
    metrics = {
        "experiment": "digits",
        "seed": seed,
        "backend": backend,
        "test_accuracy": history["test_accuracy"][-1],
        "train_accuracy": history["train_accuracy"][-1],
        "epochs": epochs,
        "hidden": hidden,
        "steps": steps,
        "encoding": encoding,
        "lr": lr,
        "batch_size": batch_size,
        "beta": beta,
        "n_train": len(x_tr),
        "n_test": len(x_te),
        "training_s": training_s,
        # spikes per hidden neuron per step over the test set; Hz with 1 ms steps
        "hidden_rate_per_step": rate_per_step,
        "hidden_rate_hz": rate_per_step * 1000.0 / DT_MS,
        "hidden_silent_fraction": float((h_te.sum((0, 1)) == 0).float().mean()),
        "history": history,
    }
    files = None
    if out is not None:
        files = output_files(out, "learning_curve", "hidden_raster")
        plot_learning_curve(history, files["learning_curve"])
        plot_hidden_raster(x_te, y_te, h_te, v_te, files["hidden_raster"])
    # Everything from the call on: imports, data, kernel compile or cache load, training, figures.
    metrics["wall_time_s"] = time.perf_counter() - t_start
    if files is not None:
        write_summary(files, metrics)
    return metrics


def plot_learning_curve(history: dict, path, title: str | None = None) -> None:
    """Training loss (left axis) and train/test accuracy (right) per epoch, as a PNG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history["train_loss"]) + 1)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(epochs, history["train_loss"], "o-", color="#1f77b4", label="train loss")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("cross-entropy (train)", color="#1f77b4")
    ax.set_yscale("log")
    acc = ax.twinx()
    acc.plot(epochs, [100 * a for a in history["test_accuracy"]], "s-", color="#d62728", label="test accuracy")
    acc.plot(epochs, [100 * a for a in history["train_accuracy"]], ":", color="#d62728", alpha=0.6,
             label="train accuracy")
    acc.set_ylabel("accuracy (%)", color="#d62728")
    lowest = 100 * min(history["test_accuracy"] + history["train_accuracy"])
    acc.set_ylim(max(0.0, min(50.0, lowest - 5)), 100.5)
    lines = ax.get_lines() + acc.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right", frameon=False)
    ax.set_title(title or f"Spiking digits classifier: test accuracy {100 * history['test_accuracy'][-1]:.1f} %",
                 fontsize="medium")
    save_figure(fig, path)


def plot_hidden_raster(x_te, y_te, h_te, v_te, path, n_digits: int = 4) -> None:
    """For the first test digit of each of ``n_digits`` classes: the image, the hidden layer's
    spikes (time x neuron) and the ten readout membranes (true class highlighted)."""
    import numpy as np
    from matplotlib.figure import Figure

    y = y_te.numpy()
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(N_CLASSES) if np.any(y == c)][:n_digits]
    steps, _, hidden = h_te.shape
    fig = Figure(figsize=(3.2 * len(picks), 8), layout="constrained")
    axes = fig.subplots(3, len(picks), squeeze=False, gridspec_kw={"height_ratios": [1.2, 3, 1.5]})
    for col, i in enumerate(picks):
        pred = int(v_te[:, i].amax(0).argmax())
        img, ras, mem = axes[0, col], axes[1, col], axes[2, col]
        img.imshow(x_te[i].view(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
        img.set_xticks([]), img.set_yticks([])
        img.set_title(f"test #{i}: label {int(y[i])}, predicted {pred}", fontsize="medium")
        spikes = h_te[:, i].numpy()  # [T, hidden]
        # One dark cell per spike (neuron x time step): crisp at any layer size.
        ras.imshow(spikes.T, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                   extent=(-0.5 * DT_MS, (steps - 0.5) * DT_MS, -0.5, hidden - 0.5))
        count = int(spikes.sum())
        ras.set_title(f"{count} hidden spikes ({count / (steps * hidden):.2f} per neuron-step)", fontsize="small")
        traces = v_te[:, i].numpy()
        time_ms = np.arange(steps) * DT_MS
        for c in range(N_CLASSES):
            hit = c == int(y[i])
            mem.plot(time_ms, traces[:, c], color="#d62728" if hit else "0.7", lw=1.6 if hit else 0.8,
                     zorder=3 if hit else 2)
        mem.set_xlabel("time (ms)")
        if col == 0:
            ras.set_ylabel("hidden neuron")
            mem.set_ylabel("readout membrane\n(red: true class)")
    fig.suptitle("Hidden LIF layer on test digits")
    save_figure(fig, path)


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "digits", "--out", "results/digits"])
