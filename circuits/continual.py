"""Continual learning of a spiking MLP: one harness for HLOP and its baselines.

A sequence of tasks (:mod:`neurosim.circuits.continual_data`) is learned one after the
other by a spiking MLP (``neurosim.nn`` LIF layers, bias-free linear layers, BPTT with
surrogate gradients, rate-coded input spikes). After each task the model is tested on every
task: ``R[i, j]`` is the accuracy on task ``j`` after training task ``i``. Methods:

* ``"finetune"``: plain sequential training (the lower bound);
* ``"ewc"``: elastic weight consolidation (Kirkpatrick et al. 2017), online form: a quadratic
  penalty ``lambda / 2 * sum_i F_i (theta_i - theta*_i)^2`` with the diagonal Fisher
  information summed over the earlier tasks and ``theta*`` the weights after the last one;
* ``"hlop"``: :class:`~neurosim.plasticity.HLOP` on every linear layer: Hebbian subspace
  neurons learn each task's input subspace, later updates are projected away from it;
* ``"gpm"``: the same projection with each task's subspace from an SVD of its layer inputs
  (Saha et al. 2021, the non-neural counterpart of HLOP);
* ``"multitask"``: after task ``i`` the model is trained on tasks ``0..i`` together (the
  upper bound: no forgetting by construction).

Protocol for tasks that use only some classes (split digits): task-incremental, one shared
10-way output whose scores outside the task's classes are masked (a multi-head by masking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from neurosim.memory import check_memory
from neurosim.validation import as_real_array, check_int, check_number

from .continual_data import Task

METHODS = ("finetune", "ewc", "hlop", "gpm", "multitask")
RULES = ("bptt", "ottt")


def accuracy_metrics(R) -> dict:
    """ACC (mean accuracy on all tasks after the last) and BWT (mean change of each earlier
    task's accuracy from just after learning it to the end) of an accuracy matrix ``R [T, T]``."""
    R = as_real_array("R", R)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise ValueError(f"R must be a square [T, T] matrix, got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("R must be finite (accuracies), got NaN or inf")
    t = R.shape[0]
    bwt = float(np.mean(R[-1, :-1] - np.diag(R)[:-1])) if t > 1 else 0.0
    return {"ACC": float(np.mean(R[-1])), "BWT": bwt}


class SpikingMLP(nn.Module):
    """``sizes[0]`` inputs -> LIF hidden layers -> ``sizes[-1]`` leaky-integrator readout, no
    biases (a bias would be a weight on a constant input outside the projected subspaces).
    ``forward(spikes [T, B, sizes[0]]) -> scores [B, sizes[-1]]`` (the readout membrane's
    maximum over time)."""

    def __init__(self, sizes: Sequence[int], *, beta: float = 0.5, threshold: float = 1.0, backend: str = "auto"):
        super().__init__()
        import neurosim.nn as snn

        sizes = [check_int(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(_sequence("sizes", sizes))]
        if len(sizes) < 2:
            raise ValueError(f"sizes must hold >= 2 positive layer sizes, got {sizes}")
        check_memory(f"SpikingMLP({sizes})'s weights", 4.0 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                     "use smaller layers")
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))
        self.spiking = nn.ModuleList(snn.LIF(s, beta=beta, threshold=threshold, backend=backend) for s in sizes[1:-1])
        self.readout = snn.LI(sizes[-1], beta=beta, backend=backend)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        x = spikes
        for linear, lif in zip(self.linears[:-1], self.spiking):
            x, _ = lif(linear(x))
        v, _ = self.readout(self.linears[-1](x))
        return v.amax(0)


def rate_code(x: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Intensities ``[B, d]`` in [0, 1] -> Bernoulli spikes ``[steps, B, d]`` (float32)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 2:
        raise TypeError(f"x must be a floating-point tensor [B, d] of intensities, got {type(x).__name__} "
                        f"{tuple(getattr(x, 'shape', ()))}")
    steps = check_int("steps", steps, minimum=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    check_memory(f"rate_code: {steps} x {x.shape[0]} x {x.shape[1]} spikes", 8.0 * steps * x.numel(),
                 "use fewer steps or a smaller batch")
    p = x.unsqueeze(0).expand(steps, *x.shape)
    return (torch.rand(p.shape, generator=generator) < p).to(torch.float32)


@dataclass
class ContinualConfig:
    """Training settings shared by all methods (checked on construction).

    epochs: per task; lr: SGD step (None: 0.1 for "bptt", 0.2 for "ottt", which learns more
    slowly per step: on permuted digits HLOP reached ACC 84 at 0.1, 88 at 0.2);
    batch_size; steps: time steps per sample; hidden: LIF layer sizes; beta: LIF/LI decay per
    step; ewc_lambda: EWC's penalty weight; hlop_neurons: subspace neurons added per task and
    layer (``[task][layer]``, the last row reused for later tasks); hlop_lr: Hebbian step per
    layer; hlop_iterations: Hebbian steps per minibatch; gpm uses the same neuron counts for
    its SVD bases; rule: "bptt" (backpropagation through time with surrogate gradients) or
    "ottt" (online training through time on presynaptic traces, memory constant in ``steps``).
    """

    epochs: int = 3
    lr: float | None = None
    batch_size: int = 32
    steps: int = 8
    hidden: tuple = (2048,)
    beta: float = 0.5
    ewc_lambda: float = 1000.0
    hlop_neurons: tuple = ((12, 400), (3, 120))
    hlop_lr: tuple = (0.01, 0.01)
    hlop_iterations: int = 20
    backend: str = "auto"
    rule: str = "bptt"
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.rule, str) or self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.lr is None:
            self.lr = 0.1 if self.rule == "bptt" else 0.2
        self.lr = check_number("lr", self.lr, positive=True)
        self.epochs = check_int("epochs", self.epochs, minimum=1)
        self.batch_size = check_int("batch_size", self.batch_size, minimum=1)
        self.steps = check_int("steps", self.steps, minimum=1)
        self.hidden = tuple(check_int(f"hidden[{i}]", h, minimum=1) for i, h in enumerate(_sequence("hidden", self.hidden)))
        self.beta = check_number("beta", self.beta, nonnegative=True)
        if not self.beta < 1:
            raise ValueError(f"beta must lie in [0, 1), got {self.beta}")
        self.ewc_lambda = check_number("ewc_lambda", self.ewc_lambda, nonnegative=True)
        # the counts per row must match the layers only where a method uses them (_Runner)
        rows = [tuple(_sequence(f"hlop_neurons[{t}]", r)) for t, r in enumerate(_sequence("hlop_neurons", self.hlop_neurons))]
        if not rows:
            raise ValueError("hlop_neurons must hold at least one row of counts (one per linear layer)")
        self.hlop_neurons = tuple(tuple(check_int(f"hlop_neurons[{t}][{i}]", k, minimum=0) for i, k in enumerate(r))
                                  for t, r in enumerate(rows))
        rates = self.hlop_lr if isinstance(self.hlop_lr, (list, tuple)) else (self.hlop_lr,)
        self.hlop_lr = tuple(check_number(f"hlop_lr[{i}]", r, positive=True) for i, r in enumerate(rates))
        self.hlop_iterations = check_int("hlop_iterations", self.hlop_iterations, minimum=0)
        self.seed = check_int("seed", self.seed, minimum=0)

    def neurons(self, task: int) -> list[int]:
        rows = [list(r) for r in self.hlop_neurons]
        return rows[min(task, len(rows) - 1)]


def _sequence(name: str, value) -> list:
    """``value`` as a list, if it is a list or tuple (a bare number or a string is a mistake here)."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a tuple or list, got {type(value).__name__} {value!r:.40}")
    return list(value)


def _check_method(method) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r:.40}")
    return method


def _check_tasks(tasks) -> list:
    """Tasks with 2-D float features and integer labels 0..9 of matching lengths, one feature size."""
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks must hold at least one task")
    for k, task in enumerate(tasks):
        if not isinstance(task, Task):
            raise TypeError(f"tasks[{k}] must be a continual_data.Task, got {type(task).__name__}")
        for part in ("train", "test"):
            x, y = np.asarray(getattr(task, f"x_{part}")), np.asarray(getattr(task, f"y_{part}"))
            if x.ndim != 2 or x.dtype.kind != "f" or len(x) == 0 or not np.all(np.isfinite(x)):
                raise ValueError(f"tasks[{k}].x_{part} must be a finite non-empty float array [n, d], "
                                 f"got shape {x.shape}, dtype {x.dtype}")
            if y.shape != (len(x),) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
                raise ValueError(f"tasks[{k}].y_{part} must hold {len(x)} integer labels 0..9, "
                                 f"got shape {y.shape}, dtype {y.dtype}")
        classes = _sequence(f"tasks[{k}].classes", task.classes)
        if not classes or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 9
                                  for c in classes):
            raise ValueError(f"tasks[{k}].classes must hold class labels 0..9, got {task.classes!r:.60}")
        if task.x_train.shape[1] != tasks[0].x_train.shape[1] or task.x_test.shape[1] != task.x_train.shape[1]:
            raise ValueError(f"tasks[{k}] has {task.x_train.shape[1]} features, tasks[0] {tasks[0].x_train.shape[1]}: "
                             "every task needs the same input size")
    return tasks


class _Runner:
    """Trains one model through the task sequence with one method."""

    def __init__(self, method: str, tasks, cfg: ContinualConfig):
        _check_method(method)
        self.method, self.tasks, self.cfg = method, tasks, cfg
        self.n_classes = 10
        d = tasks[0].x_train.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = SpikingMLP([d, *cfg.hidden, self.n_classes], beta=cfg.beta, backend=cfg.backend)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        self.hlop = None
        if method in ("hlop", "gpm"):
            n_layers = len(cfg.hidden) + 1
            if any(len(r) != n_layers for r in cfg.hlop_neurons):
                raise ValueError(f"hlop_neurons must hold rows of {n_layers} counts (one per linear layer), "
                                 f"got {cfg.hlop_neurons!r}")
            if len(cfg.hlop_lr) not in (1, n_layers):
                raise ValueError(f"hlop_lr must be one number or one per linear layer ({n_layers}), "
                                 f"got {cfg.hlop_lr!r}")
            from neurosim.plasticity import HLOP

            rates = list(cfg.hlop_lr) if len(cfg.hlop_lr) == n_layers else cfg.hlop_lr[0]
            self.hlop = HLOP(list(self.model.linears), learning_rate=rates, iterations=cfg.hlop_iterations,
                             seed=cfg.seed)
            self.hlop.recording = method == "hlop" and cfg.rule == "bptt"  # OTTT records its spikes itself
        self.fisher, self.anchors = [], []
        # [task, class]: the classes each task uses; the other scores are masked (split tasks)
        self.keep = torch.zeros(len(tasks), self.n_classes, dtype=torch.bool)
        for k, task in enumerate(tasks):
            self.keep[k, list(task.classes)] = True

    def _batches(self, task_ids):
        xs = np.concatenate([self.tasks[k].x_train for k in task_ids])
        ys = np.concatenate([self.tasks[k].y_train for k in task_ids])
        owner = np.concatenate([np.full(len(self.tasks[k].y_train), k) for k in task_ids])
        order = torch.randperm(len(ys), generator=self.gen).numpy()
        for i in range(0, len(order), self.cfg.batch_size):
            idx = order[i:i + self.cfg.batch_size]
            yield torch.as_tensor(xs[idx]), torch.as_tensor(ys[idx]), owner[idx]

    def _masked(self, scores, owner):
        """``scores [B, classes]`` with the classes outside each sample's task (``owner``: a
        task index or one per sample) set to -inf."""
        return scores.masked_fill(~self.keep[torch.as_tensor(owner)], float("-inf"))

    def _loss(self, x, y, owner):
        scores = self.model(rate_code(x, self.cfg.steps, self.gen))
        return nn.functional.cross_entropy(self._masked(scores, owner), y)

    def _ottt_backward(self, x, y, owner) -> float:
        """Online training through time (Xiao et al. 2022): step by step, the state carried to
        the next step is detached (no backpropagation through time: memory does not grow with
        T), each step's loss ``CE(v_t) / T`` is backpropagated at once, and every weight
        gradient is ``delta_t x a_t^T`` with the presynaptic trace ``a_t = beta a_{t-1} + s_t``
        in place of the spikes. ``delta_t`` of a hidden layer comes from the layers above within
        the same step (spikes keep their surrogate gradient; traces and states are detached).
        Gradients add up over the steps; returns the loss."""
        model, steps = self.model, self.cfg.steps
        spikes = rate_code(x, steps, self.gen)
        n_lin = len(model.linears)
        traces = [None] * n_lin
        states = [None] * len(model.spiking)
        out_state = None
        total = 0.0
        for t in range(steps):
            inp = spikes[t]
            for i, linear in enumerate(model.linears):
                spikes_in = inp.detach()
                traces[i] = spikes_in if traces[i] is None else self.cfg.beta * traces[i] + spikes_in
                w = linear.weight
                # value W s_t; gradient delta (x) a_t to W, and W^T delta to the spikes s_t (the
                # second term), which carries delta down to the layer below within this step
                current = nn.functional.linear(traces[i], w) + nn.functional.linear(inp - traces[i], w.detach())
                if self.method == "hlop":
                    # the subspace to protect is that of the inputs the layer sees, the spikes:
                    # an update delta a^T (I - H^T H) leaves W s alone for every s in span(H).
                    # (Learning the traces' subspace instead forgot more: permuted digits,
                    # seed 1, BWT -3.3 against -1.9 with the spikes.)
                    self.hlop.record(i, spikes_in)
                if i < n_lin - 1:
                    s, st = model.spiking[i](current[None], states[i])
                    states[i] = type(st)(*(v.detach() for v in st))
                    inp = s[0]
                else:
                    v, st = model.readout(current[None], out_state)
                    out_state = type(st)(*(u.detach() for u in st))
            loss = nn.functional.cross_entropy(self._masked(v[0], owner), y) / steps
            if self.method == "ewc" and self.fisher:
                loss = loss + self._ewc_penalty() / steps
            loss.backward()
            total += float(loss.detach())
        return total

    def _ewc_penalty(self):
        # the stiffness lambda * F is capped at 1 / lr: a plain SGD step on a stiffer quadratic
        # overshoots the anchor and diverges (measured: lambda = 1000, lr = 0.1 -> NaN weights)
        cap = 1.0 / self.cfg.lr
        total = 0.0
        for p, f, a in zip(self.model.parameters(), self.fisher, self.anchors):
            total = total + ((self.cfg.ewc_lambda * f).clamp(max=cap) * (p - a) ** 2).sum()
        return 0.5 * total

    def train_task(self, t: int, progress=None):
        cfg = self.cfg
        if self.hlop is not None:
            self.hlop.begin_task(cfg.neurons(t) if self.method == "hlop" else 0)
        task_ids = list(range(t + 1)) if self.method == "multitask" else [t]
        self.model.train()
        for _ in range(cfg.epochs):
            for x, y, owner in self._batches(task_ids):
                self.opt.zero_grad(set_to_none=True)
                if cfg.rule == "ottt":
                    self._ottt_backward(x, y, owner)
                else:
                    loss = self._loss(x, y, owner)
                    if self.method == "ewc" and self.fisher:
                        loss = loss + self._ewc_penalty()
                    loss.backward()
                if self.hlop is not None:
                    self.hlop.project_gradients()
                self.opt.step()
                if self.method == "hlop":
                    self.hlop.hebbian_update()
                if progress is not None:
                    progress.update(1)
        if self.method == "ewc":
            self._consolidate_ewc(t)
        elif self.method == "gpm":
            self._gpm_bases(t)
        if self.hlop is not None:
            self.hlop.end_task()

    def _consolidate_ewc(self, t):
        """Diagonal Fisher of task ``t`` (squared gradients of the log-likelihood of the
        model's own predictions, per sample over minibatches of one)."""
        params = list(self.model.parameters())
        fisher = [torch.zeros_like(p) for p in params]
        task = self.tasks[t]
        n = min(len(task.y_train), 200)
        for i in range(n):
            x = torch.as_tensor(task.x_train[i:i + 1])
            scores = self._masked(self.model(rate_code(x, self.cfg.steps, self.gen)), t)
            logp = torch.log_softmax(scores, dim=1)
            label = logp.argmax(1)
            self.model.zero_grad(set_to_none=True)
            (-logp[0, label[0]]).backward()
            for f, p in zip(fisher, params):
                f += p.grad.detach() ** 2 / n
        # online EWC (Schwarz et al. 2018): one summed Fisher, anchored at the latest weights, so
        # the capped stiffness stays below 1 / lr however many tasks came before
        self.fisher = fisher if not self.fisher else [f0 + f for f0, f in zip(self.fisher, fisher)]
        self.anchors = [p.detach().clone() for p in params]

    def _gpm_bases(self, t):
        """GPM: the top right singular vectors of each layer's inputs on task ``t`` (after
        removing the existing basis) become new frozen rows of that layer's subspace."""
        task = self.tasks[t]
        recorded = [[] for _ in self.model.linears]
        hooks = [lin.register_forward_pre_hook(lambda m, a, i=i: recorded[i].append(a[0].detach()))
                 for i, lin in enumerate(self.model.linears)]
        with torch.no_grad():
            x = torch.as_tensor(task.x_train[:300])
            self.model(rate_code(x, self.cfg.steps, self.gen))
        for h in hooks:
            h.remove()
        for sub, xs, k in zip(self.hlop.subspaces, recorded, self.cfg.neurons(t)):
            k = min(k, sub.n_inputs - sub.n_neurons)
            if k <= 0:
                continue
            a = sub.project(torch.cat([x.reshape(-1, sub.n_inputs) for x in xs]).to(sub.weights))
            _, _, vh = torch.linalg.svd(a.to(torch.float64), full_matrices=False)
            sub.append_rows(vh[:k])

    @torch.no_grad()
    def evaluate(self, k: int) -> float:
        task = self.tasks[k]
        self.model.eval()
        g = torch.Generator().manual_seed(self.cfg.seed + 7919 * (k + 1))
        x = torch.as_tensor(task.x_test)
        scores = self._masked(self.model(rate_code(x, self.cfg.steps, g)), k)
        return float((scores.argmax(1) == torch.as_tensor(task.y_test)).float().mean())


def run_continual(tasks, methods: Sequence[str] = METHODS, cfg: ContinualConfig | None = None, *,
                  progress=None) -> dict:
    """Learn ``tasks`` in order with every method in ``methods``. Returns ``{method: {"R":
    [T][T] accuracies, "ACC", "BWT"}}``."""
    from tqdm.auto import tqdm

    cfg = ContinualConfig() if cfg is None else cfg
    if not isinstance(cfg, ContinualConfig):
        raise TypeError(f"cfg must be a ContinualConfig, got {type(cfg).__name__}")
    tasks = _check_tasks(tasks)
    methods = [_check_method(m) for m in _sequence("methods", methods)]
    out = {}
    for method in methods:
        runner = _Runner(method, tasks, cfg)
        per_epoch = [math.ceil(len(t.y_train) / cfg.batch_size) for t in tasks]
        total = cfg.epochs * sum(sum(per_epoch[:i + 1]) if method == "multitask" else per_epoch[i]
                                 for i in range(len(tasks)))
        bar = tqdm(total=total, desc=f"continual [{method}]", unit="batch",
                   disable=None if progress is None else not progress, leave=False)
        R = np.zeros((len(tasks), len(tasks)))
        for t in range(len(tasks)):
            runner.train_task(t, bar)
            R[t] = [runner.evaluate(k) for k in range(len(tasks))]
        bar.close()
        out[method] = {"R": R.tolist(), **accuracy_metrics(R)}
    return out
