"""A small spiking CNN on event-camera digits, trained by surrogate gradients, exported to NIR
and re-imported.

Data: :func:`neurosim.event_data.event_digits` (scikit-learn's 8x8 digits enlarged to 16x16 and
moved over a simulated 24 x 24 event camera in three saccades, about 300 ms), the first
``n_samples`` of them, split ``1 - test_fraction`` / ``test_fraction`` (stratified, drawn from
the seed). Input: the events binned into ``bin_ms`` frames, ON and OFF as two channels,
``pool x pool`` pixel blocks summed: ``[T, B, 2, H, W]`` event counts (T = 30, H = W = 24 at the
defaults).

Network (every layer one that NIR can express, every reset to zero)::

    Conv2d(2 -> c1, 3x3) -> IF (neurosim LIF, beta 1) -> SumPool 2x2
    -> Conv2d(c1 -> c2, 3x3) -> LIF (beta) -> SumPool 2x2 -> Flatten
    -> Linear(-> 10) -> LI readout (beta)

built from :class:`~neurosim.nn.nir_layers.PerStep` (one step's torch module over all steps) and
:class:`~neurosim.nn.nir_layers.Shaped` (a fused neurosim LIF kernel over a ``[C, H, W]`` layer).
The class scores are the readout membranes' maxima over time; cross-entropy, Adam with a cosine
learning-rate schedule, backpropagation through time.

After training the network is exported with :func:`neurosim.nn.export_nir` (written to
``conv_events.nir`` in ``out``), re-imported with :func:`neurosim.nn.import_nir`, and both are
run on the test set: the readout membranes must be equal (the experiment raises otherwise) and
the metrics report their largest difference and both accuracies.

Outputs in ``--out``: ``learning_curve.png`` (training loss, train and test accuracy per
epoch), ``inputs_kernels.png`` (ON/OFF frames of a test digit, the first layer's kernels and its
spike counts), ``conv_events.nir`` and ``summary.json``. Run: ``neurosim run conv-events --out
results/conv-events`` (about 70 s on two CPU cores, 96.5 ± 1.0 % test accuracy over
seeds 0-2; needs torch, nir and scikit-learn).
"""

from __future__ import annotations

import os
import time

import numpy as np

from neurosim.experiments import duration_steps, experiment, output_files, write_summary

N_CLASSES = 10
CAMERA_MS = 300.0  # length of one event digit (three saccades), ms


def _check(name, value, kind, low):
    if isinstance(value, bool) or not isinstance(value, kind) or not value >= low:
        raise ValueError(f"{name} must be a {kind.__name__} >= {low}, got {value!r}")


def event_frames(streams, steps: int, bin_ms: float, pool: int) -> np.ndarray:
    """Event streams -> float32 counts ``[steps, len(streams), 2, H, W]`` (ON/OFF channels,
    ``bin_ms`` bins from 0, ``pool x pool`` pixel blocks summed)."""
    from neurosim.event_data import binned_counts

    times = bin_ms * np.arange(1, steps + 1)
    counts = binned_counts(streams, times, pool)                      # [N, T, 2 * H * W]
    width, height = streams[0].sensor_size
    shape = (2, -(-height // pool), -(-width // pool))
    frames = counts.reshape(len(streams), steps, *shape).astype(np.float32)
    return np.ascontiguousarray(frames.transpose(1, 0, 2, 3, 4))


def build(in_shape: tuple[int, int, int], c1: int, c2: int, beta: float, threshold: float, backend: str):
    """The spiking CNN as a ``torch.nn.Sequential`` over ``[T, B, *in_shape]``; the last layer
    (an ``LI`` readout) gives membranes ``[T, B, 10]``. Layers 1 and 4 are the spiking ones."""
    from torch import nn

    from neurosim.nn import LI, LIF
    from neurosim.nn.nir_layers import PerStep, Shaped

    c, h, w = in_shape
    h2, w2 = h // 2, w // 2
    h4, w4 = h2 // 2, w2 // 2
    if h4 < 1 or w4 < 1:
        raise ValueError(f"the frames ({h} x {w} pixels) are too small for two 2x2 poolings; use a smaller pool")
    return nn.Sequential(
        PerStep(nn.Conv2d(c, c1, 3, padding=1), (c, h, w), (c1, h, w)),
        Shaped(LIF(c1 * h * w, beta=1.0, threshold=threshold, reset="zero", backend=backend), (c1, h, w)),
        PerStep(nn.AvgPool2d(2, divisor_override=1), (c1, h, w), (c1, h2, w2)),
        PerStep(nn.Conv2d(c1, c2, 3, padding=1), (c1, h2, w2), (c2, h2, w2)),
        Shaped(LIF(c2 * h2 * w2, beta=beta, threshold=threshold, reset="zero", backend=backend), (c2, h2, w2)),
        PerStep(nn.AvgPool2d(2, divisor_override=1), (c2, h2, w2), (c2, h4, w4)),
        PerStep(nn.Flatten(), (c2, h4, w4), (c2 * h4 * w4,)),
        nn.Linear(c2 * h4 * w4, N_CLASSES),
        LI(N_CLASSES, beta=beta, backend=backend),
    )


def run_layers(model, x, keep=()):
    """Run the ``Sequential`` ``model`` on ``x``; its output and the outputs of the layers at
    the positions in ``keep`` (a dict)."""
    h, seen = x, {}
    for i, layer in enumerate(model):
        h = layer(h)
        h = h[0] if isinstance(h, tuple) else h
        if i in keep:
            seen[i] = h
    return h, seen


@experiment("conv-events", metrics=("test_accuracy", "train_seconds"))
def conv_events(*, duration: float = CAMERA_MS, seed: int = 0, backend: str = "auto", out: str | None = None,
                progress: bool | None = None, n_samples: int = 1797, test_fraction: float = 0.25,
                bin_ms: float = 10.0, pool: int = 1, epochs: int = 10, channels1: int = 8, channels2: int = 16,
                beta: float = 0.9, threshold: float = 1.0, lr: float = 3e-3, batch_size: int = 32,
                data_seed: int = 0) -> dict:
    """Spiking CNN (Conv-IF-SumPool-Conv-LIF-SumPool-Linear-LI) on event digits; NIR round trip.

    ``duration``: simulated time per trial, ms: each event digit (300 ms of events) is shown for
    ``duration`` ms in ``bin_ms`` frames (events after it are left out). ``n_samples`` event digits
    (their noise seeded by ``data_seed``) are split into ``1 - test_fraction`` for training and
    ``test_fraction`` for testing by ``seed``, which also draws the weights and the batches.
    ``pool``: pixels summed per side before the network (1: 24 x 24 frames). ``channels1`` /
    ``channels2``: channels of the two convolutions; ``beta``: leak of the LIF layer and the
    readout (the first layer is IF); ``threshold``: of both spiking layers. ``backend``: the
    neuron layers' kernels (``"auto"``: fused Numba on CPU, Triton on CUDA). Writes
    ``learning_curve.png``, ``inputs_kernels.png``, ``conv_events.nir`` and ``summary.json`` into
    ``out``. Returns train/test accuracy, wall times, parameter count and the NIR re-import check.
    """
    t_start = time.perf_counter()
    import nir
    import torch
    import torch.nn.functional as F
    from sklearn.model_selection import train_test_split
    from tqdm.auto import tqdm

    from neurosim.event_data import event_digits
    from neurosim.nn import export_nir, import_nir
    from neurosim.nn.functional import resolve_backend

    _check("n_samples", n_samples, int, 20)
    _check("epochs", epochs, int, 1)
    _check("channels1", channels1, int, 1)
    _check("channels2", channels2, int, 1)
    _check("batch_size", batch_size, int, 1)
    _check("pool", pool, int, 1)
    for name, value in (("bin_ms", bin_ms), ("lr", lr), ("threshold", threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 < beta <= 1:
        raise ValueError(f"beta must lie in (0, 1], got {beta!r}")
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    n_test = int(np.ceil(n_samples * test_fraction))
    if min(n_test, n_samples - n_test) < N_CLASSES:
        raise ValueError(f"n_samples = {n_samples} with test_fraction = {test_fraction} gives {n_test} test and "
                         f"{n_samples - n_test} training samples; the stratified split needs at least {N_CLASSES} "
                         "(one per class) in each: raise n_samples")
    steps = duration_steps(duration, bin_ms)
    backend = resolve_backend(backend, torch.device("cpu"))

    # Data: event digits -> ON/OFF frames [T, N, 2, H, W]
    t0 = time.perf_counter()
    streams, labels = event_digits(n_samples, seed=data_seed)
    frames = torch.from_numpy(event_frames(streams, steps, float(bin_ms), pool))
    data_seconds = time.perf_counter() - t0
    idx_tr, idx_te = train_test_split(np.arange(n_samples), test_size=test_fraction, stratify=labels,
                                      random_state=seed)
    x_tr, x_te = frames[:, idx_tr], frames[:, idx_te]
    y_tr, y_te = torch.as_tensor(labels[idx_tr]), torch.as_tensor(labels[idx_te])

    in_shape = tuple(frames.shape[2:])
    with torch.random.fork_rng(devices=[]):  # weights from the seed, the caller's torch RNG untouched
        torch.manual_seed(seed)
        model = build(in_shape, channels1, channels2, float(beta), float(threshold), backend)
    n_parameters = sum(p.numel() for p in model.parameters())
    g_train = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    def evaluate(x):
        with torch.no_grad():
            return torch.cat([run_layers(model, x[:, i:i + 256])[0] for i in range(0, x.shape[1], 256)], 1)

    history = {"train_loss": [], "train_accuracy": [], "test_accuracy": []}
    t_train = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"conv-events [{backend}]", unit="epoch",
               disable=None if progress is None else not progress, leave=False)
    for _ in bar:
        model.train()
        order = torch.randperm(len(y_tr), generator=g_train)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            scores = run_layers(model, x_tr[:, batch])[0].amax(0)
            loss = F.cross_entropy(scores, y_tr[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
            correct += int((scores.argmax(1) == y_tr[batch]).sum())
        schedule.step()
        model.eval()
        acc = float((evaluate(x_te).amax(0).argmax(1) == y_te).float().mean())
        history["train_loss"].append(loss_sum / len(y_tr))
        history["train_accuracy"].append(correct / len(y_tr))
        history["test_accuracy"].append(acc)
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", test_acc=f"{acc:.3f}")
    bar.close()
    train_seconds = time.perf_counter() - t_train

    # Trained network on the test set, with the spikes of both spiking layers
    with torch.no_grad():
        v_te, spikes = run_layers(model, x_te, keep=(1, 4))
    test_accuracy = float((v_te.amax(0).argmax(1) == y_te).float().mean())

    # NIR: export, write, re-import, run the same test set
    t0 = time.perf_counter()
    graph = export_nir(model)
    files = output_files(out, "learning_curve", "inputs_kernels") if out is not None else None
    if files is not None:
        files["nir"] = os.path.join(out, "conv_events.nir")
        tmp = files["nir"] + ".tmp"
        nir.write(tmp, graph)
        os.replace(tmp, files["nir"])
        imported = import_nir(files["nir"], backend=backend)
    else:
        imported = import_nir(graph, backend=backend)
    with torch.no_grad():
        v_nir, _ = imported(x_te)
    nir_seconds = time.perf_counter() - t0
    max_abs_diff = float((v_nir - v_te).abs().max())
    nir_accuracy = float((v_nir.amax(0).argmax(1) == y_te).float().mean())
    if not torch.equal(v_nir, v_te):
        raise RuntimeError(f"conv-events: the re-imported NIR network's readout differs from the trained one's "
                           f"(max |difference| {max_abs_diff:g}, accuracy {nir_accuracy:.4f} vs {test_accuracy:.4f})")

    rates = {f"layer{i}_spikes_per_neuron_step": float(s.mean()) for i, s in spikes.items()}
    metrics = {
        "experiment": "conv-events", "seed": seed, "data_seed": data_seed, "backend": backend,
        "test_accuracy": test_accuracy, "train_accuracy": history["train_accuracy"][-1],
        "n_train": len(y_tr), "n_test": len(y_te), "steps": steps, "bin_ms": float(bin_ms),
        "input_shape": list(in_shape), "channels": [channels1, channels2], "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "beta": beta, "threshold": threshold,
        "n_parameters": int(n_parameters), **rates,
        "nir": {"nodes": [type(graph.nodes[k]).__name__ for k in sorted(graph.nodes, key=_node_order)],
                "reimported_test_accuracy": nir_accuracy, "max_abs_diff": max_abs_diff,
                "outputs_equal": True, "seconds": nir_seconds},
        "data_seconds": data_seconds, "train_seconds": train_seconds, "history": history,
    }
    if files is not None:
        from neurosim.examples.digits import plot_learning_curve

        plot_learning_curve(history, files["learning_curve"],
                            title=f"Spiking CNN on event digits: test accuracy {100 * test_accuracy:.1f} %")
        plot_inputs_kernels(x_te, y_te, model, spikes[1], files["inputs_kernels"])
    metrics["wall_seconds"] = time.perf_counter() - t_start
    if files is not None:
        write_summary(files, metrics)
    return metrics


def _node_order(name: str):
    """input, 0, 1, ..., output."""
    return (0, 0) if name == "input" else (2, 0) if name == "output" else (1, int(name)) if name.isdigit() \
        else (1, 10**9)


def plot_inputs_kernels(x_te, y_te, model, spikes1, path, n_frames: int = 6) -> None:
    """A test digit's ON - OFF frames over time, the first convolution's kernels (ON and OFF
    input channel) and the first (IF) layer's spike counts for that digit."""
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    if path is None:
        return
    x = x_te[:, 0].numpy()                                     # [T, 2, H, W]
    steps = x.shape[0]
    picks = np.unique(np.linspace(0, steps - 1, n_frames).round().astype(int))
    kernels = model[0].module.weight.detach().numpy()         # [c1, 2, 3, 3]
    counts = spikes1[:, 0].sum(0).numpy()                      # [c1, H, W]
    c1 = kernels.shape[0]
    cols = max(len(picks), c1)
    fig = Figure(figsize=(1.5 * cols, 6.6), layout="constrained")
    axes = fig.subplots(4, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    lim = max(1.0, float(np.abs(x[:, 0] - x[:, 1]).max()))
    for col, t in enumerate(picks):
        ax = axes[0, col]
        ax.imshow(x[t, 0] - x[t, 1], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"t = {t} (bin)", fontsize="small")
    axes[0, 0].text(-0.15, 0.5, f"ON - OFF\n(label {int(y_te[0])})", transform=axes[0, 0].transAxes, ha="right",
                    va="center", fontsize="small")
    klim = float(np.abs(kernels).max())
    for k in range(c1):
        for row, pol in ((1, 0), (2, 1)):
            axes[row, k].imshow(kernels[k, pol], cmap="RdBu_r", vmin=-klim, vmax=klim, interpolation="nearest")
        axes[1, k].set_title(f"kernel {k}", fontsize="small")
        axes[3, k].imshow(counts[k], cmap="Greys", interpolation="nearest")
        axes[3, k].set_title(f"{int(counts[k].sum())} spikes", fontsize="small")
    for row, text in ((1, "kernel\nON input"), (2, "kernel\nOFF input"), (3, "IF layer\nspike counts")):
        axes[row, 0].text(-0.15, 0.5, text, transform=axes[row, 0].transAxes, ha="right", va="center",
                          fontsize="small")
    fig.suptitle("Event digit frames, first-layer kernels and first-layer (IF) spikes")
    save_figure(fig, path)


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "conv-events", "--out", "results/conv-events"])
