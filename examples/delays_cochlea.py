"""Learnable synaptic delays (DCLS) on spoken-digit-like cochlear events, against none and an ELM neuron.

Hammouamri, Khalfaoui-Hassani & Masquelier (ICLR 2024) learn one delay per synapse of a
spiking network and report that delays are worth their parameters on spoken digits (SHD).
This experiment asks the same question on neurosim's own cochlear digits, at one trainable
parameter count for every model, over several seeds, and reports the gain either way.

Data: :func:`neurosim.event_data.cochlear_digits` (ten formant "words", each sample a new
speaker: formants +-8 %, pitch 90-220 Hz, 250-350 ms; 32 cochlear channels x ON / OFF = 64
inputs), counted in ``bin_ms`` bins over the first ``duration`` ms
(:func:`neurosim.event_data.binned_counts`), ``log1p`` of the counts as input, then
``max_delay`` empty bins appended so that a delayed event still reaches the readout (every
model gets the same padded input). A stratified train / test split (``test_fraction``).

Models, each mapping ``x [T, B, 64]`` to logits ``[B, 10]``:

* ``delays`` -- ``hidden_layers`` layers of LIF neurons (:class:`neurosim.nn.LIF`, ``beta =
  exp(-bin_ms / tau_mem)``, threshold 1, subtractive reset) of ``width`` each, every layer fed
  by a :class:`neurosim.nn.DelayedLinear` (a weight and a learnt delay of 0..``max_delay`` steps
  per synapse, initialised uniformly), and a leaky-integrator readout (:class:`neurosim.nn.LI`,
  ``beta = exp(-bin_ms / tau_readout)``) fed by one more DelayedLinear: the paper's SHD network
  (delays in every projection, the readout's too), without its batch norm and dropout. The
  delays' Gaussian width ``sigma``
  (steps) falls linearly from ``sigma_init`` to 0 (straight to 0 below :data:`SIGMA_MIN`) over
  all but the last ``final_epochs`` epochs, which train the weights at ``sigma = 0``, with
  the delays frozen (the gradient reaches a delay through the Gaussian's slope, and at
  ``sigma = 0`` there is none); the model tested has integer delays (what
  :func:`neurosim.nn.delays_to_network` runs event-driven). After every optimiser step the
  delays are clamped to ``[0, max_delay]`` (as DCLS does: the layer clamps in its forward
  pass, where a delay outside the range would get no gradient back).
* ``fixed-delays`` -- the same network with the initial random integer delays frozen (not
  trained, not counted): does *learning* the delays matter, or only having them?
* ``no-delays`` -- the same network with ``torch.nn.Linear`` projections (every delay 0).
* ``elm`` -- one :class:`neurosim.nn.ELM` neuron (Spieler et al. 2024) with ``width`` memory
  units and an output per class (its own defaults, time in steps: tau_s 5, tau_m 1-1000).

Every model's logits are the mean over all steps of its readout (the LI membrane; ELM's
output), so none is told when a word ends. Each model's width is the one whose trainable
parameter count comes closest to ``budget`` (:func:`width_for_budget`): a DelayedLinear has a
weight and a delay per synapse, so the ``no-delays`` and ``fixed-delays`` networks are wider
(11 neurons per layer against 6 at the default budget). The default budget keeps the models
below the task's ceiling: at 3000 parameters every model reaches about 0.99 and a gain would
be lost in the last few test errors. Training: Adam (``lr`` for weights, ``delay_lr`` for the
delays, in steps), cosine decay to 0, cross-entropy, ``batch_size``; the accuracy reported is
the last epoch's (the per-epoch test accuracies are learning curves only, no model is picked
with them).

Run ``r`` of ``seeds`` uses seed ``seed + r`` for its own data (new speakers), split,
initialisation and batch order; within a run every model sees the same data and batches, so
the gain ``delays - no-delays`` is a paired difference per run, reported as mean +- s.d.
over runs. Outputs in ``--out``: table.md, summary.json (both rewritten after every run, so an
interrupted run keeps what it measured) and delays_cochlea.png. Run:
``neurosim run delays-cochlea --out results/delays_cochlea`` (2 minutes on a 2-core AMD EPYC).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from contextlib import contextmanager

import numpy as np
from neurosim.examples.sequence_benchmark import (
    SequenceTask,
    _bar,
    n_trainable,
    parse_names,
    torch_threads,
    width_for_budget,
    write_text,
)

from neurosim.experiments import duration_steps, experiment, output_files, write_summary
from neurosim.validation import check_int, check_number

MODELS = ("delays", "fixed-delays", "no-delays", "elm")
COLORS = {"delays": "#d62728", "fixed-delays": "#ff9896", "no-delays": "#1f77b4", "elm": "#2ca02c"}
#: ``backend`` -> (the LIF / LI layers', DelayedLinear's, ELM's linear scan's)
BACKENDS = {"auto": ("auto", "auto", "auto"), "numba": ("numba", "numba", "numba"),
            "reference": ("reference", "conv1d", "reference")}
CHANCE = 0.1
#: the narrowest Gaussian used (steps); narrower ones are taken as 0: at a quarter step the
#: Gaussian is nearly the rounded delay anyway, and its slope (the delays' gradient) is spent.
SIGMA_MIN = 0.25


@contextmanager
def compute_threads(n: int):
    """Run the block with ``n`` torch threads and at most ``n`` Numba threads (the fused LIF and
    delay kernels are Numba's), then restore both."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        with torch_threads(n):
            yield
    finally:
        numba.set_num_threads(before)


# --------------------------------------------------------------------------------------- data


def cochlea_task(n_samples: int, *, steps: int, bin_ms: float, pad: int, test_fraction: float,
                 seed: int) -> SequenceTask:
    """:func:`~neurosim.event_data.cochlear_digits` (``n_samples``, seed ``seed``) as ``log1p``
    event counts in ``steps`` bins of ``bin_ms`` ms, followed by ``pad`` empty bins:
    time-major float32 ``[steps + pad, n, 64]``, split into train and test (stratified by class,
    ``test_fraction`` of the samples, seeded by ``seed``)."""
    from sklearn.model_selection import train_test_split

    from neurosim.event_data import binned_counts, cochlear_digits

    streams, labels = cochlear_digits(n_samples, seed=seed)
    counts = binned_counts(streams, bin_ms * np.arange(1, steps + 1))           # [n, steps, channels]
    x = np.log1p(counts).astype(np.float32)
    x = np.concatenate([x, np.zeros((len(x), pad, x.shape[2]), np.float32)], axis=1)
    x_tr, x_te, y_tr, y_te = train_test_split(x, labels, test_size=test_fraction, stratify=labels, random_state=seed)
    seq = lambda a: np.ascontiguousarray(a.transpose(1, 0, 2))
    return SequenceTask("cochlear-digits", seq(x_tr), y_tr.astype(np.int64), seq(x_te), y_te.astype(np.int64), 10,
                        {"bins": steps, "bin_ms": bin_ms, "padding_bins": pad,
                         "events_per_sample": float(np.mean([len(s) for s in streams]))})


# --------------------------------------------------------------------------------------- models


def _torch_models():
    """The classifier classes (torch is imported only when a model is built)."""
    from torch import nn

    import neurosim.nn as snn

    class LIFClassifier(nn.Module):
        """``hidden_layers`` LIF layers of ``width``, each fed by a projection, and an LI
        readout fed by one more; logits: the readout membrane's mean over time. ``delays``:
        "learnt" (DelayedLinear, delays trained), "fixed" (DelayedLinear at sigma = 0, the
        random initial delays frozen) or "none" (torch.nn.Linear)."""

        def __init__(self, d_in, n_classes, width, *, delays, hidden_layers, max_delay, sigma, beta, beta_readout,
                     backend="auto"):
            super().__init__()
            layer_backend, delay_backend, _ = BACKENDS[backend]
            sizes = [d_in] + [width] * hidden_layers + [n_classes]

            def projection(n_in, n_out):
                if delays == "none":
                    return nn.Linear(n_in, n_out)
                layer = snn.DelayedLinear(n_in, n_out, max_delay, sigma=sigma if delays == "learnt" else 0.0,
                                          backend=delay_backend)
                layer.delay.requires_grad_(delays == "learnt")
                return layer

            self.projections = nn.ModuleList(projection(a, b) for a, b in itertools.pairwise(sizes))
            self.hidden = nn.ModuleList(snn.LIF(width, beta=beta, backend=layer_backend)
                                        for _ in range(hidden_layers))
            self.readout = snn.LI(n_classes, beta=beta_readout, backend=layer_backend)
            self.rates = []  # mean spikes per neuron and step of each hidden layer, last forward pass

        def delay_layers(self):
            return [p for p in self.projections if isinstance(p, snn.DelayedLinear)]

        def forward(self, x):
            rates = []
            for projection, lif in zip(self.projections, self.hidden):
                x, _ = lif(projection(x))
                rates.append(float(x.detach().mean()))
            self.rates = rates
            v, _ = self.readout(self.projections[-1](x))
            return v.mean(0)

    class ELMClassifier(nn.Module):
        """One ELM neuron with ``width`` memory units and an output per class; logits: the
        outputs' mean over time."""

        def __init__(self, d_in, n_classes, width, *, backend="auto", **_):
            super().__init__()
            self.elm = snn.ELM(d_in, n_classes, n_memory=width, scan_backend=BACKENDS[backend][2])

        def delay_layers(self):
            return []

        def forward(self, x):
            return self.elm(x)[0].mean(0)

    return LIFClassifier, ELMClassifier


def build_model(kind: str, d_in: int, n_classes: int, width: int, **settings):
    """Classifier ``kind`` (one of :data:`MODELS`) of ``width`` units; ``settings``:
    ``hidden_layers``, ``max_delay``, ``sigma``, ``beta``, ``beta_readout``, ``backend``
    (the ELM takes only ``backend``). Built with torch's global generator: seed it."""
    LIFClassifier, ELMClassifier = _torch_models()
    if kind == "elm":
        return ELMClassifier(d_in, n_classes, width, **settings)
    delays = {"delays": "learnt", "fixed-delays": "fixed", "no-delays": "none"}.get(kind)
    if delays is None:
        raise ValueError(f"models: {kind!r} is not a model here; choose from {', '.join(MODELS)}")
    return LIFClassifier(d_in, n_classes, width, delays=delays, **settings)


def budget_width(kind: str, d_in: int, n_classes: int, budget: int, **settings) -> tuple[int, int]:
    """``(width, trainable parameters)`` of model ``kind`` closest to ``budget``."""
    import torch

    with torch.random.fork_rng(devices=[]):
        return width_for_budget(lambda w: n_trainable(build_model(kind, d_in, n_classes, w, **settings)), budget,
                                high=1024)


def sigma_at(step: int, *, sigma_init: float, anneal_steps: int) -> float:
    """The delays' Gaussian width (steps) at optimiser step ``step``: linear from
    ``sigma_init`` to 0 over ``anneal_steps`` steps, then 0; a width below :data:`SIGMA_MIN`
    is taken as 0 (integer delays)."""
    sigma = sigma_init * (1.0 - step / anneal_steps) if step < anneal_steps else 0.0
    return sigma if sigma >= SIGMA_MIN else 0.0


def delay_statistics(model) -> list:
    """Per delay layer: mean and s.d. of the integer delays (steps), the fraction at 0 and at
    ``max_delay``."""
    rows = []
    for layer in model.delay_layers():
        d = layer.integer_delays().double()
        rows.append({"mean": float(d.mean()), "sd": float(d.std()), "at_zero": float((d == 0).double().mean()),
                     "at_max": float((d == layer.max_delay).double().mean())})
    return rows


def accuracy(model, x, y, batch_size: int = 256) -> float:
    import torch

    with torch.no_grad():
        pred = torch.cat([model(x[:, b:b + batch_size]).argmax(1) for b in range(0, x.shape[1], batch_size)])
    return float((pred == y).double().mean())


def train_model(kind: str, task: SequenceTask, width: int, *, settings: dict, epochs: int, final_epochs: int,
                batch_size: int, lr: float, delay_lr: float, sigma_init: float, seed: int, progress=None) -> dict:
    """Train model ``kind`` on ``task`` (see the module docstring) and test it at ``sigma = 0``."""
    import torch

    torch.manual_seed(seed)
    model = build_model(kind, task.d_in, task.n_classes, width, **settings)
    layers = model.delay_layers()
    learnt = [layer for layer in layers if layer.delay.requires_grad]
    delays = [layer.delay for layer in learnt]
    weights = [p for p in model.parameters() if p.requires_grad and all(p is not d for d in delays)]
    groups = [{"params": weights, "lr": lr}] + ([{"params": delays, "lr": delay_lr}] if delays else [])
    opt = torch.optim.Adam(groups)
    x_tr, y_tr = torch.from_numpy(task.x_train), torch.from_numpy(task.y_train)
    x_te, y_te = torch.from_numpy(task.x_test), torch.from_numpy(task.y_test)
    n = x_tr.shape[1]
    per_epoch = math.ceil(n / batch_size)
    total = epochs * per_epoch
    anneal = (epochs - final_epochs) * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total) / total)))
    rng = np.random.default_rng(seed)
    losses, test_curve, sigmas = [], [], []
    step = 0
    t0 = time.perf_counter()
    bar = _bar(range(epochs), progress, desc=f"{kind} seed {seed}", unit="epoch")
    for _ in bar:
        model.train()
        order = torch.from_numpy(rng.permutation(n))
        running = 0.0
        for b in range(per_epoch):
            sigma = sigma_at(step, sigma_init=sigma_init, anneal_steps=anneal)
            for layer in learnt:
                layer.sigma = sigma
            idx = order[b * batch_size:(b + 1) * batch_size]
            loss = torch.nn.functional.cross_entropy(model(x_tr[:, idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for layer in learnt:
                layer.clamp_delays_()
            running += float(loss.detach()) * len(idx)
            step += 1
        losses.append(running / n)
        sigmas.append(sigma)
        model.eval()
        test_curve.append(accuracy(model, x_te, y_te))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", test=f"{test_curve[-1]:.3f}")
    train_s = time.perf_counter() - t0
    for layer in learnt:  # the model tested: integer delays (a no-op after final_epochs >= 1)
        layer.sigma = 0.0
    model.eval()
    acc = accuracy(model, x_te, y_te)
    row = {"model": kind, "seed": seed, "accuracy": acc, "train_accuracy": accuracy(model, x_tr, y_tr),
           "train_s": train_s, "params": n_trainable(model), "width": width, "loss_per_epoch": losses,
           "test_accuracy_per_epoch": test_curve}
    if learnt:
        row["sigma_per_epoch"] = sigmas
    if layers:
        row["delays"] = delay_statistics(model)
    if hasattr(model, "rates"):
        with torch.no_grad():
            model(x_te[:, :256])
        row["hidden_rates"] = list(model.rates)  # spikes per neuron and step, test samples
    return row


# --------------------------------------------------------------------------------------- outputs


def _mean_sd(values) -> dict:
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "per_seed": values}


def summarise(runs: list, models: list) -> dict:
    """Per model: accuracy mean / s.d. / per seed, parameters, width, train time; and the
    paired gains over ``no-delays`` (per seed, then mean and s.d.)."""
    results = {}
    for m in models:
        rows = [r[m] for r in runs if m in r]
        if not rows:
            continue
        results[m] = {"accuracy": _mean_sd([r["accuracy"] for r in rows]),
                      "train_accuracy": _mean_sd([r["train_accuracy"] for r in rows]),
                      "train_s": _mean_sd([r["train_s"] for r in rows]),
                      "params": rows[0]["params"], "width": rows[0]["width"]}
    gains = {}
    for m in models:
        if m != "no-delays" and "no-delays" in models:
            pairs = [(r[m]["accuracy"], r["no-delays"]["accuracy"]) for r in runs if m in r and "no-delays" in r]
            if pairs:
                gains[m] = _mean_sd([a - b for a, b in pairs])
    return {"results": results, "gain_over_no_delays": gains}


def markdown_table(summary: dict, seeds: int) -> str:
    """One row per model: accuracy mean +- s.d. (per seed), gain over no-delays, parameters,
    width, train time."""
    head = (f"| model | test accuracy (mean ± s.d., {seeds} seeds) | per seed | gain over no-delays (paired) | "
            "trainable params | width | train time (s) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for m, r in summary["results"].items():
        acc = r["accuracy"]
        gain = summary["gain_over_no_delays"].get(m)
        g = "–" if gain is None else f"{gain['mean']:+.3f} ± {gain['sd']:.3f}"
        lines.append(f"| {m} | {acc['mean']:.3f} ± {acc['sd']:.3f} | "
                     f"{', '.join(f'{v:.3f}' for v in acc['per_seed'])} | {g} | {r['params']} | {r['width']} | "
                     f"{r['train_s']['mean']:.1f} |")
    return "\n".join(lines) + f"\n\nchance: {CHANCE:.2f}\n"


def plot_results(metrics: dict, path) -> None:
    """Left: test accuracy per model (mean +- s.d., dots: seeds; chance dotted when in range).
    Middle: the paired gain over no-delays per seed. Right: test accuracy per epoch (mean over
    seeds) with the delays' sigma."""
    if path is None:
        return
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    results, gains, runs = metrics["results"], metrics["gain_over_no_delays"], metrics["runs"]
    models = list(results)
    fig = Figure(figsize=(14, 4.2), layout="constrained")
    ax_acc, ax_gain, ax_curve = fig.subplots(1, 3)
    x = np.arange(len(models))
    for k, m in enumerate(models):  # markers, not bars: the axis need not start at 0
        acc = results[m]["accuracy"]
        ax_acc.errorbar(k, acc["mean"], yerr=acc["sd"], fmt="o", color=COLORS.get(m), capsize=5, ms=9)
        ax_acc.plot(np.full(len(acc["per_seed"]), k) + 0.18, acc["per_seed"], "k.", ms=6)
    low = max(0.0, min(min(results[m]["accuracy"]["per_seed"]) for m in models) - 0.05)
    if low <= CHANCE:
        ax_acc.axhline(CHANCE, color="k", ls=":", lw=1)
    ax_acc.set_xticks(x, [f"{m}\n{results[m]['params']} params" for m in models], fontsize=8)
    ax_acc.set_xlim(-0.5, len(models) - 0.5)
    ax_acc.set_ylim(low, 1.005)
    ax_acc.set_ylabel("test accuracy (mean ± s.d.; dots: seeds)")
    ax_acc.set_title(f"cochlear digits, {len(runs)} seeds (chance {CHANCE:.2f}"
                     + (", dotted)" if low <= CHANCE else ")"))
    names = list(gains)
    for k, m in enumerate(names):
        g = gains[m]
        ax_gain.errorbar(k, g["mean"], yerr=g["sd"], fmt="o", color=COLORS.get(m), capsize=5, ms=8)
        ax_gain.plot(np.full(len(g["per_seed"]), k) + 0.15, g["per_seed"], "k.", ms=6)
    ax_gain.axhline(0.0, color="k", lw=0.8)
    ax_gain.set_xticks(np.arange(len(names)), names)
    ax_gain.set_xlim(-0.6, max(len(names), 1) - 0.4)
    ax_gain.set_ylabel("accuracy − no-delays' (same seed)")
    ax_gain.set_title("paired gain (mean ± s.d., dots: seeds)")
    twin = None
    for m in models:
        curves = np.array([r[m]["test_accuracy_per_epoch"] for r in runs if m in r])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax_curve.plot(epochs, curves.mean(0), color=COLORS.get(m), label=m)
        ax_curve.fill_between(epochs, curves.min(0), curves.max(0), color=COLORS.get(m), alpha=0.15)
        sig = [r[m].get("sigma_per_epoch") for r in runs if m in r]
        if sig and sig[0] is not None and twin is None:
            twin = ax_curve.twinx()
            twin.plot(epochs, sig[0], color="0.5", ls="--", lw=1)
            twin.set_ylabel("delays' sigma at epoch end (steps, dashed)", color="0.4")
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("test accuracy (mean, band: range over seeds)")
    ax_curve.set_title("learning curves")
    ax_curve.legend(fontsize=8, loc="lower center")
    save_figure(fig, path)


# --------------------------------------------------------------------------------------- experiment


@experiment("delays-cochlea", metrics=("gain_mean", "accuracy_delays_mean", "accuracy_no_delays_mean",
                                       "accuracy_elm_mean"))
def delays_cochlea(*, duration: float = 350.0, seed: int = 0, backend: str = "auto", out: str | None = None,
                   progress: bool | None = None, seeds: int = 3, models: str = ",".join(MODELS),
                   n_samples: int = 1000, test_fraction: float = 0.25, bin_ms: float = 10.0, budget: int = 1000,
                   hidden_layers: int = 2, max_delay: int = 10, sigma_init: float | None = None,
                   final_epochs: int = 2, tau_mem: float = 20.0, tau_readout: float = 100.0, epochs: int = 80,
                   batch_size: int = 32, lr: float = 0.01, delay_lr: float = 0.1, threads: int = 1) -> dict:
    """Cochlear digits by a LIF network with learnt delays, fixed delays, none, and an ELM neuron, at one budget.

    ``duration``: simulated time per trial, ms: the window of each cochlear stream that is
    binned (``bin_ms`` bins; the words last 250-350 ms), before ``max_delay`` empty bins are
    appended. ``seeds``: runs, run ``r`` with seed ``seed + r`` for its data, split,
    initialisation and batches. ``models``: comma-separated subset of delays, fixed-delays,
    no-delays, elm. ``n_samples``: words per run (``test_fraction`` of them tested).
    ``budget``: trainable parameters each model aims at (its width is chosen to come closest).
    ``hidden_layers``: LIF layers; ``max_delay``: longest delay, steps of ``bin_ms``;
    ``sigma_init``: the delays' initial Gaussian width, steps (None: max_delay / 2), annealed
    to 0 before the last ``final_epochs`` epochs. ``tau_mem``, ``tau_readout``: membrane time
    constants (ms) of the LIF layers and the LI readout. ``epochs``, ``batch_size``, ``lr``
    (weights), ``delay_lr`` (delays, steps): Adam with cosine decay. ``backend``: the torch
    layers' kernels, "auto", "numba" or "reference" (torch loops and conv1d); training runs on
    the CPU with ``threads`` torch and Numba threads. Writes table.md, summary.json and
    delays_cochlea.png into ``out``.
    """
    t_start = time.perf_counter()
    seeds = check_int("seeds", seeds, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    model_names = parse_names("models", models, MODELS)
    n_samples = check_int("n_samples", n_samples, minimum=20)
    test_fraction = check_number("test_fraction", test_fraction, positive=True)
    n_test = math.ceil(test_fraction * n_samples)
    if not (test_fraction < 1 and n_test >= 10 and n_samples - n_test >= 10):
        raise ValueError(f"test_fraction must leave at least 10 test and 10 training samples (one per class) of "
                         f"n_samples = {n_samples}, got {test_fraction}")
    bin_ms = check_number("bin_ms", bin_ms, positive=True)
    steps = duration_steps(duration, bin_ms)
    budget = check_int("budget", budget, minimum=200)
    hidden_layers = check_int("hidden_layers", hidden_layers, minimum=1)
    max_delay = check_int("max_delay", max_delay, minimum=1)
    if sigma_init is None:
        sigma_init = max_delay / 2.0
    sigma_init = check_number("sigma_init", sigma_init, nonnegative=True)
    epochs = check_int("epochs", epochs, minimum=1)
    final_epochs = check_int("final_epochs", final_epochs, minimum=0)
    if final_epochs >= epochs:
        raise ValueError(f"final_epochs (epochs at sigma = 0) must be < epochs = {epochs}, leaving epochs to learn "
                         f"the delays in, got {final_epochs}")
    tau_mem = check_number("tau_mem", tau_mem, positive=True)
    tau_readout = check_number("tau_readout", tau_readout, positive=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_number("lr", lr, positive=True)
    delay_lr = check_number("delay_lr", delay_lr, positive=True)
    threads = check_int("threads", threads, minimum=1)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (the torch layers' kernels), got {backend!r}")

    model_settings = {"hidden_layers": hidden_layers, "max_delay": max_delay, "sigma": sigma_init,
                      "beta": math.exp(-bin_ms / tau_mem), "beta_readout": math.exp(-bin_ms / tau_readout),
                      "backend": backend}
    d_in, n_classes = 64, 10  # cochlear_digits: 32 channels x ON / OFF; ten words
    widths = {}
    for m in model_names:
        settings = {"backend": backend} if m == "elm" else model_settings
        widths[m] = budget_width(m, d_in, n_classes, budget, **settings)
    settings = {"seeds": seeds, "n_samples": n_samples, "test_fraction": test_fraction, "duration_ms": steps * bin_ms,
                "bin_ms": bin_ms, "bins": steps, "padding_bins": max_delay, "budget": budget,
                "hidden_layers": hidden_layers, "max_delay": max_delay, "max_delay_ms": max_delay * bin_ms,
                "sigma_init": sigma_init, "final_epochs": final_epochs, "tau_mem": tau_mem,
                "tau_readout": tau_readout, "beta": model_settings["beta"],
                "beta_readout": model_settings["beta_readout"], "epochs": epochs, "batch_size": batch_size,
                "lr": lr, "delay_lr": delay_lr, "threads": threads, "backend": backend, "input": "log1p(counts)",
                "readout": "mean over time of the LI membrane (ELM: of its outputs)"}
    metrics = {"experiment": "delays-cochlea", "seed": seed, "models": model_names, "chance": CHANCE,
               "widths": {m: w for m, (w, _) in widths.items()}, "params": {m: p for m, (_, p) in widths.items()},
               "settings": settings, "runs": [], "complete": False}
    files = output_files(out, "delays_cochlea") if out is not None else None
    if files is not None:
        files["table"] = os.path.join(out, "table.md")

    def update():
        metrics.update(summarise(metrics["runs"], model_names))
        for m in MODELS:
            key = m.replace("-", "_")
            r = metrics["results"].get(m)
            metrics[f"accuracy_{key}_mean"] = None if r is None else r["accuracy"]["mean"]
            metrics[f"accuracy_{key}_sd"] = None if r is None else r["accuracy"]["sd"]
        gain = metrics["gain_over_no_delays"].get("delays")
        metrics["gain_mean"] = None if gain is None else gain["mean"]
        metrics["gain_sd"] = None if gain is None else gain["sd"]
        metrics["wall_time_s"] = time.perf_counter() - t_start
        if files is not None:  # rewritten after every run: an interrupted run keeps what it measured
            write_text(files["table"], markdown_table(metrics, len(metrics["runs"])))
            write_summary(files, metrics)

    cells = [(r, m) for r in range(seeds) for m in model_names]
    bar = _bar(cells, progress, desc="delays-cochlea", unit="model")
    task, data_s = None, []
    with compute_threads(threads):
        for r, m in bar:
            run_seed = seed + r
            if task is None or task.info["seed"] != run_seed:
                bar.set_postfix(step=f"words of seed {run_seed}")
                t0 = time.perf_counter()
                task = cochlea_task(n_samples, steps=steps, bin_ms=bin_ms, pad=max_delay,
                                    test_fraction=test_fraction, seed=run_seed)
                task.info["seed"] = run_seed
                data_s.append(time.perf_counter() - t0)
                metrics["runs"].append({"seed": run_seed})
                metrics["task"] = {"steps": task.steps, "d_in": task.d_in, "n_train": len(task.y_train),
                                   "n_test": len(task.y_test), **{k: v for k, v in task.info.items() if k != "seed"}}
            bar.set_postfix(step=f"{m} seed {run_seed}")
            width = widths[m][0]
            metrics["runs"][-1][m] = train_model(
                m, task, width, settings={"backend": backend} if m == "elm" else model_settings, epochs=epochs,
                final_epochs=final_epochs, batch_size=batch_size, lr=lr, delay_lr=delay_lr, sigma_init=sigma_init,
                seed=run_seed, progress=progress)
            metrics["data_s"] = data_s
            update()
    metrics["complete"] = True
    if files is not None:
        plot_results(metrics, files["delays_cochlea"])
    update()
    return metrics


if __name__ == "__main__":
    print(delays_cochlea(out="results/delays_cochlea"))
