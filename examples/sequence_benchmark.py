"""Sequence benchmark: reservoirs, a spiking RNN, state-space models, a GRU and an ELM neuron on two tasks.

Tasks (time-major ``[T, n, d_in]`` float32 inputs, one class label per sequence, read out at
the last step):

* ``digits`` — scikit-learn's 8 x 8 digits read pixel by pixel (64 steps, one input channel
  scaled to [0, 1], 10 classes); a fixed stratified split seeded by ``seed`` (1/3 test).
* ``recall`` — delayed recall: a cue (one of ``n_symbols`` symbols, one-hot on that many
  channels) for ``cue_steps`` steps, a delay drawn uniformly from 1..``max_delay`` steps of
  low Gaussian noise, then a "go" pulse on an extra channel at the last step; every sequence
  is ``T = cue_steps + max_delay + 1`` steps long, so the delay sets where the cue sits (a
  random time) while the go is always at the end. Chance: ``1 / n_symbols``.

Models:

* ``reservoir`` — :class:`neurosim.circuits.IzhikevichReservoir` (``reservoir_size``
  Izhikevich neurons, event-driven engine, one fresh reservoir with the same seed per sample so
  a state depends on its own sample only); input currents through its input encoders, each
  sequence step held for ``STEP_MS[task]`` ms; ridge classifier (``RidgeClassifierCV``,
  standardised features) on the synaptically filtered spike trains at ``READOUTS[task]``
  equally spaced times, the last at the last step (digits: after every second pixel row, as
  reservoirs are read out; their fading memory is shorter than an image: recall: at the
  last step only, the cue's time varies).
* ``lsm`` — :class:`neurosim.circuits.LiquidStateMachine` (a Maass column of about
  ``reservoir_size`` LIF neurons, ``(reservoir_size / 9) x 3 x 3``); each input channel is
  spike-coded by ``LSM_LEVELS`` thermometer channels (level ``j`` spikes once per step while
  the value is at least ``(j + 0.5) / LSM_LEVELS``); the same ridge probe on the liquid state
  (spike trains filtered with 30 ms) at the same readout times.
* ``srnn`` — spiking RNN trained by BPTT: :class:`neurosim.nn.RecurrentLIF` (learnt decay)
  into a leaky non-spiking readout (:class:`neurosim.nn.LI`), logits = readout membrane at the
  last step.
* ``diagonal-ssm``, ``selective-ssm`` — :class:`neurosim.circuits.ssm.DiagonalSSM` (eigenvalues
  on the ring 0.9 <= |λ| <= 0.999) / ``SelectiveSSM`` (backend "auto"): linear encoder, ``SSM_LAYERS`` pre-norm residual blocks
  (LayerNorm, SSM, GELU, + input), final LayerNorm, linear decoder on the last step.
* ``gru`` — ``torch.nn.GRU`` with a linear decoder on the last step, the classic baseline.
* ``elm`` — one :class:`neurosim.nn.ELM` neuron (Spieler et al. 2024; its width is the number
  of memory units, time constants log-spaced over 1-1000 steps), its outputs the logits at the
  last step.

The trainable models get the same parameter budget: each one's width is the one whose
trainable parameter count is closest to ``budget`` (:func:`width_for_budget`); the table
reports the actual counts. For the reservoirs "trainable" means the ridge readout's weights.

Measured per task and model: test accuracy, training time (reservoirs: simulating the
training samples plus the ridge fit), inference throughput on the test set (samples/s, and
sequence steps/s), trainable parameters. Outputs in ``--out``: table.md, summary.json (both
rewritten after every finished model, so an interrupted run keeps what it measured) and
sequence_benchmark.png. Run: ``neurosim run sequence-benchmark --out results/sequence``
(about 11 minutes on two CPU cores).
"""

from __future__ import annotations

import copy
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from neurosim.experiments import experiment, output_files, write_summary
from neurosim.validation import check_int, check_number

TASKS = ("digits", "recall")
MODELS = ("reservoir", "lsm", "srnn", "diagonal-ssm", "selective-ssm", "gru", "elm")
TRAINABLE = ("srnn", "diagonal-ssm", "selective-ssm", "gru", "elm")
COLORS = {"reservoir": "#8c564b", "lsm": "#e377c2", "srnn": "#ff7f0e", "diagonal-ssm": "#1f77b4",
          "selective-ssm": "#2ca02c", "gru": "#7f7f7f"}
#: ms of simulated time per sequence step, for the event-driven models (digits: 128 ms per image)
STEP_MS = {"digits": 2.0, "recall": 1.0}
#: states read out by the reservoirs' ridge classifiers, at equally spaced times (the last at the
#: last step): with 300 neurons and 10 digits that is 4 x 300 x 10 = 12 000 weights, the budget
READOUTS = {"digits": 4, "recall": 1}
#: thermometer channels per input channel for the liquid's spike input
LSM_LEVELS = 4
#: residual SSM blocks in the SSM classifiers
SSM_LAYERS = 2
#: DiagonalSSM eigenvalue ring: Orvieto et al.'s setting for long-range tasks (time constants of
#: 10 to 1000 steps; the default ring up to 0.99 forgets a cue within a few hundred steps)
LRU_RING = dict(r_min=0.9, r_max=0.999)
#: the Izhikevich reservoir's settings (others: IzhikevichReservoir's defaults; dt = 1 ms)
RESERVOIR_KW = dict(noise_std=0.5, w_exc=0.5, w_inh=2.0, input_weight=40.0, input_fraction=0.3, tau_decay=20.0)
#: the liquid's settings (Maass et al.'s wiring; weaker recurrence than the paper's, as in lsm-events)
LSM_KW = dict(dt=0.5, input_scale=1.0, weight_scale=0.3, input_fraction=0.3)


# --------------------------------------------------------------------------------------- tasks


@dataclass
class SequenceTask:
    """A classification task over sequences: time-major inputs ``x_* [T, n, d_in]`` (float32),
    labels ``y_* [n]`` (int64), ``n_classes``, and ``info`` (e.g. recall delays)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    info: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.x_train.shape[0]

    @property
    def d_in(self) -> int:
        return self.x_train.shape[2]

    @property
    def chance(self) -> float:
        return 1.0 / self.n_classes


def sequential_digits(*, n_samples: int | None = None, test_fraction: float = 1 / 3, seed: int = 0) -> SequenceTask:
    """scikit-learn's digits read pixel by pixel: ``[64, n, 1]`` in [0, 1], 10 classes, a
    stratified train/test split seeded by ``seed``. ``n_samples`` (default all 1797): a
    stratified subset of that size, drawn with the same seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    if n_samples is not None:
        n_samples = check_int("n_digits", n_samples, minimum=20)
        if n_samples < len(y):
            X, _, y, _ = train_test_split(X, y, train_size=n_samples, stratify=y, random_state=seed)
    x_tr, x_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=seed)
    seq = lambda a: np.ascontiguousarray(a.T[:, :, None])  # noqa: E731  [n, 64] -> [64, n, 1]
    return SequenceTask("digits", seq(x_tr), y_tr.astype(np.int64), seq(x_te), y_te.astype(np.int64), 10,
                        {"pixels": 64})


def delayed_recall(n_samples: int, *, n_symbols: int = 4, max_delay: int = 500, cue_steps: int = 5,
                   noise: float = 0.05, seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delayed-recall sequences: ``(x [T, n, n_symbols + 1], labels [n], delays [n])``.

    Each sequence is ``T = cue_steps + max_delay + 1`` steps: Gaussian noise (SD ``noise``) on
    the cue channels throughout, the cue (channel ``label`` at 1) for ``cue_steps`` steps
    starting at step ``max_delay - delay``, then ``delay`` steps (uniform in
    ``1..max_delay``) without it, and the go pulse (the last channel at 1, nothing else there)
    at the last step ``T - 1``."""
    n_samples = check_int("n_recall", n_samples, minimum=1)
    n_symbols = check_int("n_symbols", n_symbols, minimum=2)
    max_delay = check_int("max_delay", max_delay, minimum=1)
    cue_steps = check_int("cue_steps", cue_steps, minimum=1)
    noise = check_number("noise", noise, nonnegative=True)
    rng = np.random.default_rng(seed)
    T = cue_steps + max_delay + 1
    labels = rng.integers(0, n_symbols, n_samples)
    delays = rng.integers(1, max_delay + 1, n_samples)
    x = np.zeros((T, n_samples, n_symbols + 1), dtype=np.float32)
    x[:, :, :n_symbols] = noise * rng.standard_normal((T, n_samples, n_symbols))
    start = max_delay - delays
    steps = start[None, :] + np.arange(cue_steps)[:, None]                 # [cue_steps, n]
    x[steps, np.arange(n_samples)[None, :], labels[None, :]] = 1.0
    x[-1, :, :] = 0.0
    x[-1, :, n_symbols] = 1.0
    return x, labels.astype(np.int64), delays.astype(np.int64)


def recall_task(n_samples: int, *, test_fraction: float = 1 / 3, seed: int = 0, **kw) -> SequenceTask:
    """:func:`delayed_recall` split into train and test (the last ``test_fraction`` of the
    samples, which are i.i.d.)."""
    x, y, delays = delayed_recall(n_samples, seed=seed, **kw)
    n_test = max(1, int(round(test_fraction * n_samples)))
    if n_samples - n_test < 1:
        raise ValueError(f"n_recall = {n_samples} leaves no training samples")
    k = n_samples - n_test
    n_symbols = x.shape[2] - 1
    return SequenceTask("recall", x[:, :k], y[:k], x[:, k:], y[k:], n_symbols,
                        {"delays_train": delays[:k], "delays_test": delays[k:],
                         "max_delay": int(x.shape[0] - kw.get("cue_steps", 5) - 1)})


# --------------------------------------------------------------------------------------- budget


def width_for_budget(count, budget: int, *, low: int = 1, high: int = 4096) -> tuple[int, int]:
    """The width in ``[low, high]`` whose parameter count ``count(width)`` is closest to
    ``budget`` (``count`` non-decreasing in the width); ties go to the smaller width.
    Returns ``(width, count(width))``."""
    budget = check_int("budget", budget, minimum=1)
    low, high = check_int("low", low, minimum=1), check_int("high", high, minimum=1)
    if high < low:
        raise ValueError(f"high ({high}) must be >= low ({low})")
    cache = {}

    def c(w):
        if w not in cache:
            cache[w] = int(count(w))
        return cache[w]

    lo, hi = low, high
    while lo < hi:  # the smallest width with count >= budget (or high)
        mid = (lo + hi) // 2
        if c(mid) >= budget:
            hi = mid
        else:
            lo = mid + 1
    best = min((w for w in (lo - 1, lo) if low <= w <= high), key=lambda w: (abs(c(w) - budget), w))
    return best, c(best)


def n_trainable(module) -> int:
    """Trainable parameters of a torch module."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


# --------------------------------------------------------------------------------------- torch models


def _torch_models():
    """The torch classifier classes (torch is imported only when a trainable model runs)."""
    import torch
    from torch import nn

    class GRUClassifier(nn.Module):
        def __init__(self, d_in, n_classes, width):
            super().__init__()
            self.rnn = nn.GRU(d_in, width)
            self.decoder = nn.Linear(width, n_classes)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.decoder(y[-1])

    class SpikingRNNClassifier(nn.Module):
        """RecurrentLIF (learnt per-neuron decay) -> linear -> leaky integrator; logits: the
        integrator's membrane at the last step."""

        def __init__(self, d_in, n_classes, width):
            super().__init__()
            import neurosim.nn as snn

            self.rnn = snn.RecurrentLIF(d_in, width, beta=0.95, learn_beta=True, backend="auto")
            self.decoder = nn.Linear(width, n_classes)
            self.readout = snn.LI(n_classes, beta=0.9, backend="auto")

        def forward(self, x):
            s, _ = self.rnn(x)
            v, _ = self.readout(self.decoder(s))
            return v[-1]

    class SSMClassifier(nn.Module):
        """Linear encoder, pre-norm residual SSM blocks (LayerNorm -> SSM -> GELU, + input),
        final LayerNorm, linear decoder on the last step."""

        def __init__(self, d_in, n_classes, width, layer):
            super().__init__()
            self.encoder = nn.Linear(d_in, width)
            self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(SSM_LAYERS))
            self.layers = nn.ModuleList(layer(width) for _ in range(SSM_LAYERS))
            self.norm = nn.LayerNorm(width)
            self.decoder = nn.Linear(width, n_classes)

        def forward(self, x):
            h = self.encoder(x)
            for norm, layer in zip(self.norms, self.layers):
                y, _ = layer(norm(h))
                h = h + torch.nn.functional.gelu(y)
            return self.decoder(self.norm(h[-1]))

    class ELMClassifier(nn.Module):
        """One ELM neuron with a memory unit per width, an output per class; logits: the
        output at the last step."""

        def __init__(self, d_in, n_classes, width):
            super().__init__()
            import neurosim.nn as snn

            self.elm = snn.ELM(d_in, n_classes, n_memory=width)

        def forward(self, x):
            return self.elm(x)[0][-1]

    return GRUClassifier, SpikingRNNClassifier, SSMClassifier, ELMClassifier


def build_model(kind: str, d_in: int, n_classes: int, width: int):
    """A trainable classifier ``kind`` (one of :data:`TRAINABLE`) of ``width`` units mapping
    ``x [T, B, d_in]`` to logits ``[B, n_classes]`` (built with torch's global generator: seed
    it, or wrap in ``torch.random.fork_rng``)."""
    GRUClassifier, SpikingRNNClassifier, SSMClassifier, ELMClassifier = _torch_models()
    if kind == "gru":
        return GRUClassifier(d_in, n_classes, width)
    if kind == "elm":
        return ELMClassifier(d_in, n_classes, width)
    if kind == "srnn":
        return SpikingRNNClassifier(d_in, n_classes, width)
    if kind == "diagonal-ssm":
        from neurosim.circuits.ssm import DiagonalSSM

        return SSMClassifier(d_in, n_classes, width, lambda w: DiagonalSSM(w, backend="auto", **LRU_RING))
    if kind == "selective-ssm":
        from neurosim.circuits.ssm import SelectiveSSM

        return SSMClassifier(d_in, n_classes, width, lambda w: SelectiveSSM(w, backend="auto"))
    raise ValueError(f"models: {kind!r} is not a trainable model; choose from {', '.join(TRAINABLE)}")


def budget_width(kind: str, d_in: int, n_classes: int, budget: int) -> tuple[int, int]:
    """``(width, trainable parameters)`` of model ``kind`` closest to ``budget``."""
    import torch

    with torch.random.fork_rng(devices=[]):
        return width_for_budget(lambda w: n_trainable(build_model(kind, d_in, n_classes, w)), budget, high=2048)


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _bar(iterable, progress, **kw):
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, disable=None if progress is None else not progress, **kw)


def run_trainable(kind: str, task: SequenceTask, *, budget: int, epochs: int, batch_size: int, lr: float,
                  seed: int, progress=None) -> dict:
    """Train model ``kind`` on ``task`` (Adam, cross-entropy on the last step's logits, cosine
    learning-rate decay, gradients clipped to norm 1) and test it."""
    import torch

    width, params = budget_width(kind, task.d_in, task.n_classes, budget)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(kind, task.d_in, task.n_classes, width)
    assert n_trainable(model) == params
    x_tr, y_tr = torch.from_numpy(task.x_train), torch.from_numpy(task.y_train)
    x_te = torch.from_numpy(task.x_test)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x_tr.shape[1]
    per_epoch = math.ceil(n / batch_size)
    total = epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total) / total)))
    rng = np.random.default_rng(seed)
    losses = []
    t0 = time.perf_counter()
    model.train()
    bar = _bar(range(epochs), progress, desc=f"{task.name} {kind}", unit="epoch")
    for _ in bar:
        order = torch.from_numpy(rng.permutation(n))
        total_loss = 0.0
        for b in range(per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            loss = torch.nn.functional.cross_entropy(model(x_tr[:, idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total_loss += float(loss.detach()) * len(idx)
        losses.append(total_loss / n)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    train_s = time.perf_counter() - t0
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        pred = torch.cat([model(x_te[:, b:b + 256]).argmax(1) for b in range(0, x_te.shape[1], 256)]).numpy()
    infer_s = time.perf_counter() - t0
    return _row(kind, task, pred, train_s, infer_s, params, width=width, n_train=n,
                extra={"loss_per_epoch": losses, "epochs": epochs})


def _row(kind, task, pred, train_s, infer_s, params, *, width, n_train, extra=None, y_test=None) -> dict:
    y_test = task.y_test if y_test is None else y_test
    n_test = len(y_test)
    row = {"model": kind, "task": task.name, "accuracy": float(np.mean(pred == y_test)), "train_s": float(train_s),
           "inference_s": float(infer_s), "throughput_samples_s": n_test / max(infer_s, 1e-12),
           "throughput_steps_s": n_test * task.steps / max(infer_s, 1e-12), "params": int(params),
           "width": int(width), "n_train": int(n_train), "n_test": int(n_test), "chance": task.chance}
    if task.name == "recall":
        delays = task.info["delays_test"][: n_test]
        short = delays <= np.median(task.info["delays_test"])
        row["accuracy_short_delays"] = float(np.mean(pred[short] == y_test[short])) if short.any() else None
        row["accuracy_long_delays"] = float(np.mean(pred[~short] == y_test[~short])) if (~short).any() else None
    row.update(extra or {})
    return row


# --------------------------------------------------------------------------------------- reservoirs


def readout_steps(n_steps: int, n_reads: int) -> np.ndarray:
    """``n_reads`` equally spaced sequence steps (0-based) ending at the last one."""
    return np.array([n_steps * (k + 1) // n_reads - 1 for k in range(n_reads)])


def reservoir_states(x: np.ndarray, *, n: int, step_ms: float, seed: int, backend: str = "numba",
                     n_reads: int = 1, progress=None) -> np.ndarray:
    """Filtered states ``[n_samples, n_reads * n]`` of an
    :class:`~neurosim.circuits.IzhikevichReservoir` driven by each sequence ``x [T, n_samples,
    d_in]`` (each step held ``step_ms`` ms), after the steps :func:`readout_steps` picks (the
    last: the end of the sequence). A fresh reservoir with seed ``seed`` per sample, so every
    sample starts from the same state and sees the same background noise."""
    from neurosim.circuits import IzhikevichReservoir

    T, n_samples, d_in = x.shape
    reads = readout_steps(T, n_reads)
    template = IzhikevichReservoir(n, n_inputs=d_in, seed=seed, **RESERVOIR_KW)
    out = np.zeros((n_samples, n_reads * n), dtype=np.float32)
    for k in _bar(range(n_samples), progress, desc="reservoir", unit="sample"):
        res = copy.deepcopy(template)  # the same start every sample (copying is 10x cheaper than building)
        hold = max(1, int(round(step_ms / res.dt)))
        run = res.run(T * hold * res.dt, inputs=np.repeat(x[:, k].astype(np.float64), hold, axis=0), every=hold,
                      record_states=True, backend=backend, progress=False)
        out[k] = run.states[reads].reshape(-1)  # one row per hook call = per sequence step
    return out


def spike_code(x: np.ndarray, step_ms: float, levels: int = LSM_LEVELS) -> list:
    """Thermometer spike code of ``x [T, n, d_in]`` for spike-source input: per sample an
    ``(indices, times_ms)`` pair over ``d_in * levels`` channels; channel ``i * levels + j``
    spikes at the start of step ``t`` (time ``t * step_ms``) when ``x[t, :, i] >= (j + 0.5) /
    levels``."""
    T, n, d_in = x.shape
    thresholds = (np.arange(levels) + 0.5) / levels
    on = x[:, :, :, None] >= thresholds                                  # [T, n, d_in, levels]
    out = []
    for k in range(n):
        t, i, j = np.nonzero(on[:, k])
        out.append(((i * levels + j).astype(np.int64), t.astype(np.float64) * step_ms))
    return out


def lsm_shape(size: int) -> tuple[int, int, int]:
    """A ``(L, 3, 3)`` column of about ``size`` neurons."""
    return (max(1, int(round(size / 9))), 3, 3)


def run_reservoir(kind: str, task: SequenceTask, *, size: int, seed: int, backend: str, max_samples: int,
                  progress=None) -> dict:
    """Simulate the event-driven model ``kind`` ("reservoir" or "lsm") on the training and test
    sequences (at most ``max_samples`` of each, 0: all) and fit the ridge probe on the states at
    the last step."""
    from neurosim.circuits.lsm import LiquidStateMachine, linear_probe

    x_tr, y_tr, x_te, y_te = task.x_train, task.y_train, task.x_test, task.y_test
    if max_samples:
        x_tr, y_tr, x_te, y_te = x_tr[:, :max_samples], y_tr[:max_samples], x_te[:, :max_samples], y_te[:max_samples]
    step_ms = STEP_MS[task.name]
    duration = task.steps * step_ms
    n_reads = READOUTS[task.name]
    if kind == "reservoir":
        def states(x):
            return reservoir_states(x, n=size, step_ms=step_ms, seed=seed, backend=backend, n_reads=n_reads,
                                    progress=progress)
        neurons = size
    else:
        lsm = LiquidStateMachine(task.d_in * LSM_LEVELS, lsm_shape(size), seed=seed, backend=backend, **LSM_KW)
        times = (readout_steps(task.steps, n_reads) + 1) * step_ms  # the end of those steps

        def states(x):
            return lsm.states(spike_code(x, step_ms), times, progress=progress).reshape(x.shape[1], -1)
        neurons = lsm.n
    t0 = time.perf_counter()
    probe = linear_probe("ridge").fit(states(x_tr), y_tr)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = probe.predict(states(x_te))
    infer_s = time.perf_counter() - t0
    ridge = probe[-1]
    params = ridge.coef_.size + np.size(ridge.intercept_)
    return _row(kind, task, pred, train_s, infer_s, params, width=neurons, n_train=len(y_tr), y_test=y_te,
                extra={"neurons": int(neurons), "simulated_ms_per_sample": duration, "ridge_alpha": float(ridge.alpha_),
                       "readout_steps": readout_steps(task.steps, n_reads).tolist()})


# --------------------------------------------------------------------------------------- outputs


def _fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.3g}"
    return str(v)


def markdown_table(rows: list) -> str:
    """The results as a Markdown table, one row per task and model."""
    head = ("| task | model | test accuracy | chance | train time (s) | throughput (samples/s) | "
            "throughput (steps/s) | trainable params | width / neurons | train / test samples |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['task']} | {r['model']} | {r['accuracy']:.3f} | {r['chance']:.3f} | {r['train_s']:.1f} | "
                     f"{r['throughput_samples_s']:.1f} | {r['throughput_steps_s']:.3g} | {r['params']} | "
                     f"{r['width']} | {r['n_train']} / {r['n_test']} |")
    return "\n".join(lines) + "\n"


def write_text(path: str, text: str) -> None:
    from neurosim.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(text)


def plot_benchmark(rows: list, path: str) -> None:
    """Left: test accuracy per model, grouped by task (chance dotted). Middle: accuracy against
    training time. Right: inference throughput per model and task."""
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    cell = {(r["task"], r["model"]): r for r in rows}
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    ax_acc, ax_time, ax_thr = fig.subplots(1, 3)
    width = 0.8 / max(1, len(models))
    x = np.arange(len(tasks))
    for k, m in enumerate(models):
        off = x + (k - (len(models) - 1) / 2) * width
        acc = [cell[(t, m)]["accuracy"] if (t, m) in cell else np.nan for t in tasks]
        thr = [cell[(t, m)]["throughput_samples_s"] if (t, m) in cell else np.nan for t in tasks]
        ax_acc.bar(off, acc, width, color=COLORS.get(m), label=m)
        ax_thr.bar(off, thr, width, color=COLORS.get(m), label=m)
    for j, t in enumerate(tasks):
        chance = next(r["chance"] for r in rows if r["task"] == t)
        ax_acc.hlines(chance, j - 0.45, j + 0.45, colors="k", linestyles=":", lw=1)
    ax_acc.set_xticks(x, tasks)
    ax_acc.set_ylim(0, 1.3)  # head room for the legend above the bars
    ax_acc.set_yticks(np.linspace(0, 1, 6))
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title("accuracy (dotted: chance)")
    ax_acc.legend(fontsize=7, ncol=3, loc="upper center")
    ax_thr.set_xticks(x, tasks)
    ax_thr.set_yscale("log")
    ax_thr.set_ylabel("inference throughput (test samples / s)")
    ax_thr.set_title("throughput")
    markers = dict(zip(tasks, "osD^v"))
    for r in rows:
        ax_time.scatter(max(r["train_s"], 1e-3), r["accuracy"], color=COLORS.get(r["model"]),
                        marker=markers[r["task"]], s=45, edgecolors="k", linewidths=0.5)
    for t in tasks:
        ax_time.scatter([], [], color="w", edgecolors="k", marker=markers[t], label=t)
    ax_time.set_xscale("log")
    ax_time.set_ylim(0, 1.05)
    ax_time.set_xlabel("training time (s, log)")
    ax_time.set_ylabel("test accuracy")
    ax_time.set_title("accuracy vs training time")
    ax_time.legend(fontsize=8)
    save_figure(fig, path)


# --------------------------------------------------------------------------------------- experiment


def parse_names(name: str, text: str, allowed: tuple) -> list:
    """Comma-separated names from ``allowed`` (in the order given, no repeats)."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a comma-separated string, got {type(text).__name__}")
    chosen = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not chosen:
        raise ValueError(f"{name} must name at least one of {', '.join(allowed)}")
    for s in chosen:
        if s not in allowed:
            raise ValueError(f"{name}: unknown name {s!r}; choose from {', '.join(allowed)}")
    return chosen


@experiment("sequence-benchmark")
def sequence_benchmark(*, duration: float | None = None, seed: int = 0, backend: str = "numba",
                       out: str | None = None, progress: bool | None = None, tasks: str = "digits,recall",
                       models: str = ",".join(MODELS), budget: int = 12000, epochs: int = 20, batch_size: int = 64,
                       lr: float = 3e-3, n_digits: int = 1797, max_delay: int = 500, n_recall: int = 1200,
                       n_symbols: int = 4, cue_steps: int = 5, noise: float = 0.05, reservoir_size: int = 300,
                       reservoir_samples: int = 0, threads: int = 1) -> dict:
    """Reservoirs, spiking RNN, diagonal and selective SSMs, a GRU and an ELM neuron on sequential digits and
    delayed recall: accuracy, training time, throughput, parameters.

    ``tasks``: comma-separated subset of digits, recall. ``models``: subset of reservoir, lsm,
    srnn, diagonal-ssm, selective-ssm, gru, elm. ``budget``: trainable parameters each trained model
    aims at (width chosen to come closest). ``epochs``, ``batch_size``, ``lr``: Adam training of
    the trainable models. ``n_digits``: digits used (stratified subset; 1/3 test).
    ``max_delay``, ``n_recall`` (samples, 1/3 test), ``n_symbols``, ``cue_steps``, ``noise``:
    the recall task. ``reservoir_size``: neurons of the Izhikevich reservoir and the liquid.
    ``reservoir_samples``: at most this many training and test samples for the two event-driven
    models (0: all). ``backend``: the event-driven engine's ("numba" or "numpy"); the torch
    models use "auto". ``threads``: torch threads while training (these small recurrent models
    run fastest on one: per-step matrices are tiny). ``duration``: simulated time per trial, ms, is
    set by each task (its sequence length × the step), so only None is taken. Writes table.md, summary.json and sequence_benchmark.png into ``out``.
    """
    t_start = time.perf_counter()
    if duration is not None:
        raise ValueError(f"duration (simulated time per trial, ms) is set by each task here (its sequence length x "
                         f"the step), so it takes only None, got {duration!r}")
    task_names = parse_names("tasks", tasks, TASKS)
    model_names = parse_names("models", models, MODELS)
    budget = check_int("budget", budget, minimum=100)
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_number("lr", lr, positive=True)
    n_digits = check_int("n_digits", n_digits, minimum=20)
    max_delay = check_int("max_delay", max_delay, minimum=1)
    n_symbols = check_int("n_symbols", n_symbols, minimum=2)
    n_recall = check_int("n_recall", n_recall, minimum=2 * n_symbols)
    cue_steps = check_int("cue_steps", cue_steps, minimum=1)
    noise = check_number("noise", noise, nonnegative=True)
    reservoir_size = check_int("reservoir_size", reservoir_size, minimum=9)
    reservoir_samples = check_int("reservoir_samples", reservoir_samples, minimum=0)
    threads = check_int("threads", threads, minimum=1)
    seed = check_int("seed", seed)
    if backend not in ("numba", "numpy"):
        raise ValueError(f"backend must be 'numba' or 'numpy' (the event-driven engine's; the torch models use "
                         f"'auto'), got {backend!r}")

    built = {}
    for name in task_names:
        if name == "digits":
            built[name] = sequential_digits(n_samples=n_digits, seed=seed)
        else:
            built[name] = recall_task(n_recall, n_symbols=n_symbols, max_delay=max_delay, cue_steps=cue_steps,
                                      noise=noise, seed=seed)
    settings = {"budget": budget, "epochs": epochs, "batch_size": batch_size, "lr": lr, "n_digits": n_digits,
                "max_delay": max_delay, "n_recall": n_recall, "n_symbols": n_symbols, "cue_steps": cue_steps,
                "noise": noise, "reservoir_size": reservoir_size, "reservoir_samples": reservoir_samples,
                "threads": threads, "backend": backend, "step_ms": STEP_MS, "readouts": READOUTS, "lsm_levels": LSM_LEVELS,
                "ssm_layers": SSM_LAYERS, "lru_ring": LRU_RING, "reservoir": RESERVOIR_KW, "lsm": LSM_KW}
    metrics = {"experiment": "sequence-benchmark", "seed": seed, "tasks": task_names, "models": model_names,
               "budget": budget,
               "task_info": {t: {"steps": b.steps, "d_in": b.d_in, "n_classes": b.n_classes, "chance": b.chance,
                                 "n_train": len(b.y_train), "n_test": len(b.y_test)} for t, b in built.items()},
               "settings": settings, "results": {t: {} for t in task_names}, "table": [], "complete": False}
    files = output_files(out, "sequence_benchmark") if out is not None else None
    if files is not None:
        files["table"] = os.path.join(out, "table.md")

    def record(row):
        metrics["results"][row["task"]][row["model"]] = row
        metrics["table"].append({k: row[k] for k in ("task", "model", "accuracy", "chance", "train_s",
                                                     "throughput_samples_s", "throughput_steps_s", "params",
                                                     "width", "n_train", "n_test")})
        if files is not None:  # rewritten after every model: an interrupted run keeps what it measured
            write_text(files["table"], markdown_table(metrics["table"]))
            metrics["wall_time_s"] = time.perf_counter() - t_start
            write_summary(files, metrics)

    cells = [(t, m) for t in task_names for m in model_names]
    with torch_threads(threads) if any(m in TRAINABLE for m in model_names) else nullcontext():
        for t, m in _bar(cells, progress, desc="sequence-benchmark", unit="model"):
            if m in TRAINABLE:
                row = run_trainable(m, built[t], budget=budget, epochs=epochs, batch_size=batch_size, lr=lr,
                                    seed=seed, progress=progress)
            else:
                row = run_reservoir(m, built[t], size=reservoir_size, seed=seed, backend=backend,
                                    max_samples=reservoir_samples, progress=progress)
            record(row)
    metrics["complete"] = True
    if files is not None:
        plot_benchmark(metrics["table"], files["sequence_benchmark"])
    metrics["wall_time_s"] = time.perf_counter() - t_start
    if files is not None:
        write_summary(files, metrics)
    return metrics


if __name__ == "__main__":
    print(sequence_benchmark(out="results/sequence"))
