"""neurosim.nn's fused LIF layers against snnTorch and Norse: forward + backward on CPU,
in one process, on the same work.

Work (float32, time-major ``[T, B, N]``; one timed run = forward + backward)
    ff      Feed-forward LIF layer: input current ``x [T, B, N]`` (requires grad; drawn once,
            ``x ~ mu + sigma N(0, 1)``, the same for every library), per step
            ``u = beta v + x[t]``, ``s = H(u - 1)``, reset by subtraction (beta 0.9, threshold 1,
            fast-sigmoid / SuperSpike surrogate with slope 25). Backward from a fixed random
            ``dL/ds = g [T, B, N]`` (``spikes.backward(g)``, i.e. loss = ``sum(g * spikes)``),
            down to ``dL/dx``.
    rec     Recurrent LIF layer, the projection inside for all libraries: input features
            ``x [T, B, N]`` (requires grad), ``u = beta v + W_in x[t] + W_rec s[t-1]`` with
            ``W_in, W_rec [N, N]`` (requires grad, zero diagonal in ``W_rec``: Norse removes
            autapses). Backward from a fixed random ``dL/ds`` to ``dL/dx``, ``dL/dW_in``,
            ``dL/dW_rec``.

Libraries
    neurosim        ``neurosim.nn.LIF(N, beta=0.9, threshold=1.0)`` / ``RecurrentLIF(N, N,
                    bias=False)`` with the same weights (its input projection is one matrix
                    product over all steps; the recurrence runs inside the fused kernel).
                    ``--backend`` (default ``auto``: Numba on CPU). One short warm-up run first
                    (kernel compile or cache load), reported apart.
    snntorch        ``snn.Leaky(beta=0.9, threshold=1, spike_grad=fast_sigmoid(slope=25))``
                    stepped in a Python loop over t, as snnTorch's tutorials do (its subtractive
                    reset is applied after the decay, ``mem = beta mem + x - thr s[t-1]``, where
                    neurosim decays it too, ``beta (u - thr s[t-1]) + x``: same work, slightly
                    different spikes);
                    ``snn.RLeaky(..., all_to_all=True, linear_features=N)`` (recurrent Linear
                    with its bias set to 0) after one ``Linear`` over the whole sequence.
    norse LIF       ``norse.torch.LIF`` over the whole sequence (Norse's current-based LIF with
                    ``tau_syn_inv = 1/dt`` so the synaptic current is the input of the step,
                    ``tau_mem_inv = 100``, dt = 1 ms: ``v = 0.9 v + 0.1 i``; the input is 10 x, so
                    the membrane follows the same recurrence; reset to 0; ``method="super"``,
                    ``alpha=25``). ``norse.torch.LIFRecurrent`` (weights 10 W_in, 10 W_rec).
    norse ...Cell   The same Norse cells (``LIFCell``, ``LIFBoxCell`` with ``reset_subtract`` = the
                    exact neurosim model, ``LIFRecurrentCell``) stepped by a loop over
                    ``x.unbind(0)``. Norse has no sequence module for the box model.

Why the loops use ``x.unbind(0)``: indexing ``x[t]`` of a tensor that requires grad makes
torch's backward O(T^2): every ``SelectBackward`` materialises a zero gradient of the full
``[T, B, N]`` shape and adds it up (1000 steps of ``[1000, 32, 512]``: 38 s against 0.19 s
with ``unbind``). snnTorch's loop is written by the user, so it gets the fast form. Norse's
sequence modules index ``input_tensor[ts]`` internally; they are reported as they are, and the
Norse cells in an ``unbind`` loop are reported beside them (Norse's best case). The ratios
in the summary are against each library's fastest configuration.

Reported: best (min) and median seconds of the timed runs, neuron-steps per second
(``T B N / best``), the fraction of neuron-steps that spike, whether the spikes equal
neurosim's (for the exactly equivalent models), and peer time / neurosim time. Peer
configurations (T > 300) whose estimated time for one run exceeds ``--peer-budget`` seconds
(default 60) are skipped with an explicit line; the estimate comes from short runs at T = 100
and 200 (best of 2 each), fitted with ``a T + b T^2``, which covers the O(T^2) backward above.
A peer's timed runs stop early once their total passes the budget.

Also measured
    memory bandwidth  STREAM-like copy and triad on 2^26-element float32 torch tensors, best
                      of repeats, 1 and 2 threads; neurosim's feed-forward LIF counted at the
                      minimum traffic per neuron-step (forward reads x, writes spikes and u:
                      12 B; backward reads dL/ds and u, writes dL/dx: 12 B; 24 B in float32)
                      as bytes/s and as a fraction of the best measured bandwidth, for the whole
                      layer call and for the kernel calls alone.
    saved tensors     bytes kept for backward per neuron-step (``saved_tensors_hooks``, tensors
                      deduplicated by storage, whole storages counted) and the number of saved
                      tensors at two T: neurosim fused vs neurosim ``backend="reference"`` (the
                      torch loop), snnTorch and Norse.
    long sequence     forward + backward of T = 10 000, B = 8, N = 1024 with neurosim's LIF in a
                      fresh subprocess: peak RSS during the run (VmHWM reset just before it;
                      ``resource.getrusage``'s ru_maxrss too) and time; neurosim's reference torch
                      loop and snnTorch's loop beside it, each in its own process.

    python benchmarks/bench_nn.py                  # everything (about 10 min)
    python benchmarks/bench_nn.py --quick          # T = 100, N = 512, 2 runs, small memory run
    python benchmarks/bench_nn.py --T 100 --N 512,2048 --work ff --repeats 3

Threads: ``--threads k`` sets torch's and Numba's thread counts for every library (default:
their own defaults, the core count). On a small machine shared with other work, OpenMP's
active waiting makes every small multi-threaded torch op wait for a time slice (a
``[32, 2048]`` op took 36 ms instead of 0.2 ms on the 2-core VM of RESULTS.md), which hits
the per-step loops of snnTorch and Norse hardest; ``--threads 1`` or
``OMP_WAIT_POLICY=PASSIVE`` avoid that.

This is a measurement script, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import abc
import argparse
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass, field

import torch

BETA, THRESHOLD, SLOPE = 0.9, 1.0, 25.0
NORSE_DT, NORSE_TAU_MEM_INV = 1e-3, 100.0  # v += dt tau_mem_inv (i - v): v = 0.9 v + 0.1 i
NORSE_GAIN = 1.0 / (NORSE_DT * NORSE_TAU_MEM_INV)  # Norse's input = 10 x gives u = 0.9 v + x
BYTES_PER_NEURON_STEP = 24  # float32: forward x -> s, u (12 B); backward g, u -> dx (12 B)
PROBE_T = (100, 200)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---- the work -----------------------------------------------------------------------------
@dataclass
class Work:
    """Inputs shared by every library for one configuration."""

    kind: str  # "ff" or "rec"
    x: torch.Tensor  # [T, B, N] input current (ff) or input features (rec)
    g: torch.Tensor  # [T, B, N] dL/dspikes
    w_in: torch.Tensor | None = None  # [N, N] (rec)
    w_rec: torch.Tensor | None = None  # [N, N] (rec), zero diagonal

    @property
    def shape(self):
        return tuple(self.x.shape)

    @property
    def neuron_steps(self) -> int:
        return math.prod(self.x.shape)

    def head(self, t: int) -> "Work":
        """The first ``t`` steps (for probes and warm-ups)."""
        return Work(self.kind, self.x[:t].clone(), self.g[:t].clone(), self.w_in, self.w_rec)


def make_work(kind: str, T: int, B: int, N: int, seed: int = 0) -> Work:
    """Inputs that make about 10-20 % of the neuron-steps spike (checked and printed)."""
    gen = torch.Generator().manual_seed(seed * 1000 + T * 7 + N)
    g = torch.randn(T, B, N, generator=gen)
    if kind == "ff":
        x = 0.2 + 0.3 * torch.randn(T, B, N, generator=gen)
        return Work(kind, x, g)
    # Recurrent: features ~ N(1, 1); W_in has a positive mean drive and random structure.
    x = 1.0 + torch.randn(T, B, N, generator=gen)
    w_in = (0.2 + 0.3 * torch.randn(N, N, generator=gen)) / N
    w_rec = 0.5 * torch.randn(N, N, generator=gen) / math.sqrt(N)
    w_rec.fill_diagonal_(0.0)
    return Work(kind, x, g, w_in, w_rec)


# ---- libraries: each returns a callable doing forward (returns spikes [T, B, N]) -----------
class Runner(abc.ABC):
    """One library configuration. ``prepare(work)`` builds the modules and leaf tensors;
    ``forward()`` returns the spikes; ``leaves()`` are the tensors whose .grad is cleared."""

    name = ""
    exact = False  # same model as neurosim (spikes comparable)
    is_neurosim = False

    @abc.abstractmethod
    def prepare(self, work: Work):
        """Build the modules and leaf tensors for ``work``."""

    @abc.abstractmethod
    def forward(self) -> torch.Tensor:
        """Run forward; return the spikes [T, B, N]."""

    def leaves(self):
        return [p for p in self._leaves if p is not None]

    def run(self, g: torch.Tensor) -> torch.Tensor:
        """One forward + backward; returns the spikes (detached)."""
        for p in self.leaves():
            p.grad = None
        spikes = self.forward()
        spikes.backward(g)
        return spikes.detach()


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


class NeurosimFF(Runner):
    is_neurosim = exact = True

    def __init__(self, backend: str):
        self.backend = backend
        self.name = f"neurosim LIF ({backend})"

    def prepare(self, work):
        import neurosim.nn as snn

        n = work.shape[-1]
        self.layer = snn.LIF(n, beta=BETA, threshold=THRESHOLD, backend=self.backend)
        self.x = _leaf(work.x)
        self._leaves = [self.x]

    def forward(self):
        return self.layer(self.x)[0]


class NeurosimRec(Runner):
    is_neurosim = exact = True

    def __init__(self, backend: str):
        self.backend = backend
        self.name = f"neurosim RecurrentLIF ({backend})"

    def prepare(self, work):
        import neurosim.nn as snn

        n = work.shape[-1]
        self.layer = snn.RecurrentLIF(n, n, beta=BETA, threshold=THRESHOLD, bias=False, backend=self.backend)
        with torch.no_grad():
            self.layer.input.weight.copy_(work.w_in)
            self.layer.recurrent.weight.copy_(work.w_rec)
        self.x = _leaf(work.x)
        self._leaves = [self.x, *self.layer.parameters()]

    def forward(self):
        return self.layer(self.x)[0]


class SnntorchFF(Runner):
    name = "snntorch Leaky (loop)"

    def prepare(self, work):
        import snntorch as snt
        from snntorch import surrogate

        self.lif = snt.Leaky(beta=BETA, threshold=THRESHOLD, spike_grad=surrogate.fast_sigmoid(slope=SLOPE))
        self.x = _leaf(work.x)
        self._leaves = [self.x]

    def forward(self):
        mem = self.lif.reset_mem()
        out = []
        for xt in self.x.unbind(0):
            spk, mem = self.lif(xt, mem)
            out.append(spk)
        return torch.stack(out)


class SnntorchRec(Runner):
    name = "snntorch RLeaky (loop)"

    def prepare(self, work):
        import snntorch as snt
        from snntorch import surrogate

        n = work.shape[-1]
        self.fc = torch.nn.Linear(n, n, bias=False)
        self.lif = snt.RLeaky(beta=BETA, threshold=THRESHOLD, all_to_all=True, linear_features=n,
                              spike_grad=surrogate.fast_sigmoid(slope=SLOPE))
        with torch.no_grad():
            self.fc.weight.copy_(work.w_in)
            self.lif.recurrent.weight.copy_(work.w_rec)
            self.lif.recurrent.bias.zero_()
        self.x = _leaf(work.x)
        self._leaves = [self.x, self.fc.weight, *self.lif.recurrent.parameters()]

    def forward(self):
        spk, mem = self.lif.reset_mem()
        out = []
        for ct in self.fc(self.x).unbind(0):  # the projection over all steps at once, as neurosim
            spk, mem = self.lif(ct, spk, mem)
            out.append(spk)
        return torch.stack(out)


def _norse_lif_parameters():
    from norse.torch import LIFParameters

    return LIFParameters(tau_syn_inv=torch.as_tensor(1.0 / NORSE_DT), tau_mem_inv=torch.as_tensor(NORSE_TAU_MEM_INV),
                         v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(THRESHOLD),
                         v_reset=torch.as_tensor(0.0), method="super", alpha=torch.as_tensor(SLOPE))


class NorseFF(Runner):
    name = "norse LIF (module)"

    def prepare(self, work):
        import norse.torch as norse

        self.lif = norse.LIF(_norse_lif_parameters(), dt=NORSE_DT)
        self.x = _leaf(work.x * NORSE_GAIN)
        self._leaves = [self.x]

    def forward(self):
        return self.lif(self.x)[0]


class NorseCellFF(Runner):
    name = "norse LIFCell (loop)"

    def prepare(self, work):
        import norse.torch as norse

        self.cell = norse.LIFCell(_norse_lif_parameters(), dt=NORSE_DT)
        self.x = _leaf(work.x * NORSE_GAIN)
        self._leaves = [self.x]

    def forward(self):
        state, out = None, []
        for xt in self.x.unbind(0):
            z, state = self.cell(xt, state)
            out.append(z)
        return torch.stack(out)


class NorseBoxFF(Runner):
    name = "norse LIFBoxCell (loop)"
    exact = True  # subtractive reset: the same recurrence as neurosim's LIF

    def prepare(self, work):
        import norse.torch as norse
        from norse.torch.functional.reset import reset_subtract

        p = norse.LIFBoxParameters(tau_mem_inv=torch.as_tensor(NORSE_TAU_MEM_INV), v_leak=torch.as_tensor(0.0),
                                   v_th=torch.as_tensor(THRESHOLD), v_reset=torch.as_tensor(0.0), method="super",
                                   alpha=torch.as_tensor(SLOPE), reset_method=reset_subtract)
        self.cell = norse.LIFBoxCell(p, dt=NORSE_DT)
        self.x = _leaf(work.x * NORSE_GAIN)
        self._leaves = [self.x]

    def forward(self):
        state, out = None, []
        for xt in self.x.unbind(0):
            z, state = self.cell(xt, state)
            out.append(z)
        return torch.stack(out)


class NorseRec(Runner):
    name = "norse LIFRecurrent (module)"
    cell = False

    def prepare(self, work):
        import norse.torch as norse

        n = work.shape[-1]
        cls = norse.LIFRecurrentCell if self.cell else norse.LIFRecurrent
        self.lif = cls(n, n, p=_norse_lif_parameters(), dt=NORSE_DT,
                       input_weights=torch.nn.Parameter(work.w_in * NORSE_GAIN),
                       recurrent_weights=torch.nn.Parameter(work.w_rec * NORSE_GAIN))
        self.x = _leaf(work.x)
        self._leaves = [self.x, self.lif.input_weights, self.lif.recurrent_weights]

    def forward(self):
        if not self.cell:
            return self.lif(self.x)[0]
        state, out = None, []
        for xt in self.x.unbind(0):
            z, state = self.lif(xt, state)
            out.append(z)
        return torch.stack(out)


class NorseRecCell(NorseRec):
    name = "norse LIFRecurrentCell (loop)"
    cell = True


def runners(kind: str, backend: str, peers: bool = True) -> list[Runner]:
    if kind == "ff":
        ours, others = NeurosimFF(backend), [SnntorchFF(), NorseFF(), NorseCellFF(), NorseBoxFF()]
    else:
        ours, others = NeurosimRec(backend), [SnntorchRec(), NorseRec(), NorseRecCell()]
    return [ours, *(others if peers else [])]


def library(r: Runner) -> str:
    return r.name.split()[0]


# ---- timing -------------------------------------------------------------------------------
@dataclass
class Measurement:
    name: str
    library: str
    neuron_steps: int
    times: list = field(default_factory=list)
    spike_fraction: float = float("nan")
    mismatch: float | None = None  # fraction of neuron-steps whose spike differs from neurosim's
    notes: list = field(default_factory=list)
    skipped: str | None = None
    kernel_times: dict = field(default_factory=dict)  # neurosim: kernel forward / backward alone

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def rate(self) -> float:
        return self.neuron_steps / self.best


def timed_runs(runner: Runner, work: Work, n: int, budget: float = math.inf) -> tuple[list[float], torch.Tensor]:
    """Up to ``n`` forward + backward runs (the runner is prepared), fewer once their total
    exceeds ``budget`` s; returns the times and the spikes of the last run."""
    times, spikes = [], None
    for _ in range(n):
        spikes = None
        gc.collect()
        t0 = time.perf_counter()
        spikes = runner.run(work.g)
        times.append(time.perf_counter() - t0)
        if sum(times) > budget:
            break
    return times, spikes


def one_run(runner: Runner, work: Work) -> float:
    runner.prepare(work)
    return min(timed_runs(runner, work, 1)[0])


def estimate(runner: Runner, work: Work) -> tuple[float, str]:
    """Seconds for one run at ``work``'s T, from runs at PROBE_T (best of 2 each where one
    takes under 2 s) fitted by ``a T + b T^2`` (a, b >= 0)."""
    ta, tb = PROBE_T
    one_run(runner, work.head(8))  # warm-up

    def probe(t):
        first = one_run(runner, work.head(t))
        return first if first > 2.0 else min(first, one_run(runner, work.head(t)))

    sa = probe(ta)
    sb = probe(tb)
    b = max(0.0, (sb / tb - sa / ta) / (tb - ta))
    a = max(0.0, sb / tb - b * tb)
    T = work.shape[0]
    return a * T + b * T * T, f"from T = {ta}: {sa:.3f} s, T = {tb}: {sb:.3f} s"


def kernel_times(work: Work, backend: str, repeats: int) -> dict:
    """neurosim feed-forward: the fused kernel calls alone (no autograd, no layer), best of repeats."""
    from neurosim.nn import functional as F

    be = F.resolve_backend(backend, work.x.device)
    if be == "reference":
        return {}
    kernel = F._kernel_module(be, work.x.device)
    T, B, N = work.shape
    x, g = work.x.contiguous(), work.g.contiguous()
    v0 = torch.zeros(B, N)
    beta, thr = torch.full((N,), BETA), torch.full((N,), THRESHOLD)
    fw, bw = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        spikes, u = kernel.lif_forward(x, v0, None, beta, thr, None, F.RESETS["subtract"])
        t1 = time.perf_counter()
        kernel.lif_backward(g, None, u, v0, beta, thr, None, F.RESETS["subtract"], False, 0, SLOPE, None)
        t2 = time.perf_counter()
        fw.append(t1 - t0)
        bw.append(t2 - t1)
        del spikes, u
    return {"forward": min(fw), "backward": min(bw), "sum": min(f + b for f, b in zip(fw, bw))}


def measure(runner: Runner, work: Work, repeats: int, budget: float, reference_spikes) -> Measurement:
    m = Measurement(runner.name, library(runner), work.neuron_steps)
    T = work.shape[0]
    n = repeats
    if runner.is_neurosim:
        t0 = time.perf_counter()
        one_run(runner, work.head(min(T, 8)))
        m.notes.append(f"warm-up (first call: kernel compile or cache load) {time.perf_counter() - t0:.2f} s")
    elif T > PROBE_T[1] * 1.5:
        est, how = estimate(runner, work)
        if est > budget:
            m.skipped = f"skipped (estimated {est:.0f} s per run, {how}; budget {budget:g} s)"
            return m
        m.notes.append(f"estimated {est:.2f} s per run ({how})")
    else:
        one_run(runner, work.head(min(T, 8)))  # warm-up
    runner.prepare(work)
    m.times, spikes = timed_runs(runner, work, n, math.inf if runner.is_neurosim else budget)
    if len(m.times) < n:
        m.notes.append(f"{len(m.times)} of {n} runs: their total passed the {budget:g} s budget")
    m.spike_fraction = float(spikes.mean())
    if runner.exact and reference_spikes is not None and not runner.is_neurosim:
        m.mismatch = float((spikes != reference_spikes).float().mean())
    m.spikes = spikes
    runner.__dict__.clear()  # drop the modules and leaf tensors before the next library
    return m


# ---- memory bandwidth ---------------------------------------------------------------------
def stream(n_elems: int, repeats: int) -> dict:
    """Best copy / triad bandwidth (bytes/s, STREAM counting: no write-allocate) per thread count."""
    a = torch.ones(n_elems)
    b = torch.full((n_elems,), 2.0)
    c = torch.full((n_elems,), 0.5)
    old = torch.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            copy, triad = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                b.copy_(a)
                t1 = time.perf_counter()
                torch.add(b, c, alpha=3.0, out=a)
                t2 = time.perf_counter()
                copy.append(t1 - t0)
                triad.append(t2 - t1)
            out[threads] = {"copy": 8 * n_elems / min(copy), "triad": 12 * n_elems / min(triad)}
    finally:
        torch.set_num_threads(old)
    return out


# ---- saved tensors ------------------------------------------------------------------------
def saved_tensors(runner: Runner, work: Work) -> tuple[int, int, int]:
    """(number of saved tensors, bytes of their distinct storages, same without the storages
    of the runner's leaf tensors) after one forward pass. Only tensors still alive at the end
    count: a graph branch that is dropped at once (snnTorch's detached reset) frees what it saved,
    and its memory may be reused by a later tensor."""
    runner.prepare(work)
    packed = []

    def pack(t):
        packed.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spikes = runner.forward()
    alive = [t for t in (r() for r in packed) if t is not None]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in alive}
    leaf_ptrs = {p.untyped_storage().data_ptr() for p in runner.leaves()}
    total = sum(storages.values())
    no_leaves = sum(v for k, v in storages.items() if k not in leaf_ptrs)
    count = len(alive)
    del spikes, alive
    return count, total, no_leaves


def memory_table(backend: str, B: int, N: int, Ts=(50, 100)) -> list[dict]:
    cases = [NeurosimFF(backend), NeurosimFF("reference"), SnntorchFF(), NorseFF(), NorseBoxFF()]
    rows = []
    for r in cases:
        row = {"name": r.name, "counts": [], "bytes": [], "bytes_no_leaves": []}
        for T in Ts:
            work = make_work("ff", T, B, N)
            c, total, no_leaves = saved_tensors(r, work)
            row["counts"].append(c)
            row["bytes"].append(total)
            row["bytes_no_leaves"].append(no_leaves)
        # per neuron-step: the growth between the two T (constant parts cancel), and at the larger T
        dT = (Ts[1] - Ts[0]) * B * N
        row["per_step_growth"] = (row["bytes"][1] - row["bytes"][0]) / dT
        row["per_step"] = row["bytes"][1] / (Ts[1] * B * N)
        rows.append(row)
    return rows


# ---- long-sequence run in a fresh process -------------------------------------------------
def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def hwm_kib() -> int | None:
    """Peak RSS of this process since the last ``reset_hwm()`` (Linux VmHWM), or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_child(lib: str, T: int, B: int, N: int, backend: str) -> None:
    """Runs in a subprocess: forward + backward once; prints JSON. The peak RSS of the run is
    VmHWM after resetting it just before the run (imports and kernel compile are excluded);
    ``getrusage``'s ru_maxrss (the whole process) is printed too."""
    import neurosim.nn  # noqa: F401  (imports before the baseline)
    import snntorch  # noqa: F401

    work = make_work("ff", T, B, N)
    r = {"neurosim": lambda: NeurosimFF(backend), "reference": lambda: NeurosimFF("reference"),
         "snntorch": SnntorchFF}[lib]()
    w = work.head(8)
    r.prepare(w)
    r.run(w.g)  # compile / cache load, first-call allocations
    r.prepare(work)
    del w
    gc.collect()
    base_rss = rss_kib()
    reset = reset_hwm()
    t0 = time.perf_counter()
    spikes = r.run(work.g)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"lib": r.name, "T": T, "B": B, "N": N, "seconds": elapsed, "base_rss_kib": base_rss,
                      "run_peak_kib": hwm_kib() if reset else None,
                      "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "spike_fraction": float(spikes.mean())}))


def run_memory_child(lib: str, T: int, B: int, N: int, backend: str, timeout: float, threads=None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", lib, "--T", str(T), "--B", str(B),
           "--N", str(N), "--backend", backend] + (["--threads", str(threads)] if threads else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"lib": lib, "error": f"did not finish in {timeout:g} s"}
    except subprocess.CalledProcessError as exc:
        return {"lib": lib, "error": exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else str(exc)}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- report -------------------------------------------------------------------------------
def gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB/s"


def report(label: str, ms: list[Measurement]) -> None:
    ours = ms[0]
    head = (f"{'configuration':32s} {'best s':>9s} {'median s':>9s} {'runs':>4s} {'neuron-steps/s':>14s} "
            f"{'spiking':>7s} {'spikes = neurosim':>17s} {'peer/neurosim':>13s}")
    print(f"== {label}")
    print(head)
    print("-" * len(head))
    for m in ms:
        if m.skipped:
            print(f"{m.name:32s} {m.skipped}")
            continue
        same = "" if m is ours else ("other model" if m.mismatch is None else
                                     ("identical" if m.mismatch == 0 else f"{m.mismatch:.2%} differ"))
        ratio = "1.0x" if m is ours else f"{m.best / ours.best:.1f}x"
        print(f"{m.name:32s} {m.best:9.4f} {m.median:9.4f} {len(m.times):4d} {m.rate:14.3g} "
              f"{m.spike_fraction:7.1%} {same:>17s} {ratio:>13s}")
    for m in ms:
        for note in m.notes:
            print(f"  {m.name}: {note}")
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", default="100,1000", help="sequence lengths, comma-separated (default 100,1000)")
    parser.add_argument("--N", default="512,2048", help="neurons, comma-separated (default 512,2048)")
    parser.add_argument("--B", type=int, default=32, help="batch (default 32)")
    parser.add_argument("--work", default="ff,rec", help="ff, rec or both (default ff,rec)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--backend", default="auto", help="neurosim backend (default auto = numba on CPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch and numba threads for everything (default: each library's default)")
    parser.add_argument("--peer-budget", type=float, default=60.0,
                        help="skip a peer configuration whose one run is estimated above this many s (default 60)")
    parser.add_argument("--no-peers", action="store_true", help="time neurosim only")
    parser.add_argument("--quick", action="store_true",
                        help="T = 100, N = 512, 2 runs, smaller bandwidth arrays and memory run")
    parser.add_argument("--skip-bandwidth", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-T", type=int, default=10_000)
    parser.add_argument("--memory-B", type=int, default=8)
    parser.add_argument("--memory-N", type=int, default=1024)
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        if args.threads:
            import numba

            torch.set_num_threads(args.threads)
            numba.set_num_threads(args.threads)
        return memory_child(args.memory_child, int(args.T), args.B, int(args.N), args.backend)
    if args.quick:
        args.T, args.N, args.repeats = "100", "512", 2
        args.memory_T = 1000
    Ts = [int(t) for t in args.T.split(",") if t.strip()]
    Ns = [int(n) for n in args.N.split(",") if n.strip()]
    kinds = [k.strip() for k in args.work.split(",") if k.strip()]
    if args.repeats < 1 or not Ts or not Ns or any(k not in ("ff", "rec") for k in kinds):
        parser.error("need --repeats >= 1, some --T and --N, and --work among ff, rec")

    import numba
    import norse
    import snntorch

    import neurosim as ns
    from neurosim.nn.functional import resolve_backend

    backend = resolve_backend(args.backend, torch.device("cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, snntorch {snntorch.__version__}, "
          f"norse {norse.__version__}, numba {numba.__version__}, neurosim {ns.__version__}")
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"threads: torch {torch.get_num_threads()}, numba {numba.get_num_threads()}; neurosim backend "
          f"{args.backend!r} -> {backend!r}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"B = {args.B}; {args.repeats} timed runs (best = min, and median); "
          f"one run = forward + backward; peer budget {args.peer_budget:g} s (a peer configuration is skipped "
          f"if one run is estimated above it, and stops repeating once its runs' total passes it)\n")
    torch.manual_seed(0)

    bandwidth = None
    if not args.skip_bandwidth:
        n_elems = 2**24 if args.quick else 2**26
        bandwidth = stream(n_elems, 5 if args.quick else 10)
        print(f"== memory bandwidth (torch, {n_elems * 4 / 2**20:.0f} MiB per array, best of repeats, "
              "STREAM counting: copy 8 B, triad 12 B per element)")
        for threads, bw in bandwidth.items():
            print(f"  {threads} thread{'s' if threads > 1 else ' '}: copy {gb(bw['copy'])}, triad {gb(bw['triad'])}")
        print()

    if not args.skip_memory:
        # First, while this process is still small: on Linux a child's ru_maxrss starts from the
        # parent's peak (it is kept across fork and exec), so it only means something before the
        # timings have grown this process. The run's own peak is VmHWM, reset just before the run.
        T, B, N = args.memory_T, args.memory_B, args.memory_N
        print(f"== long sequence, a fresh process for each: forward + backward of T = {T}, B = {B}, N = {N} "
              f"({T * B * N / 1e6:.0f} M neuron-steps; one [T, B, N] float32 tensor = {T * B * N * 4 / 2**20:.0f} MiB)")
        for lib in ("neurosim", "reference", "snntorch"):
            res = run_memory_child(lib, T, B, N, backend, timeout=600, threads=args.threads)
            if "error" in res:
                print(f"  {lib}: {res['error']}")
                continue
            tensor_mib = T * B * N * 4 / 2**20
            peak = res["run_peak_kib"] or res["maxrss_kib"]
            delta = (peak - res["base_rss_kib"]) / 1024
            print(f"  {res['lib']:28s} {res['seconds']:8.2f} s ({T * B * N / res['seconds']:.3g} neuron-steps/s), "
                  f"spiking {res['spike_fraction']:.1%}; RSS before the run {res['base_rss_kib'] / 1024:.0f} MiB "
                  f"(libraries, x and dL/ds allocated), peak during the run {peak / 1024:.0f} MiB "
                  f"({'VmHWM reset before the run' if res['run_peak_kib'] else 'ru_maxrss'}; whole process ru_maxrss "
                  f"{res['maxrss_kib'] / 1024:.0f} MiB): peak - before = {delta:.0f} MiB = {delta / tensor_mib:.1f} "
                  f"[T, B, N] float32 tensors = {delta * 2**20 / (T * B * N):.1f} B/neuron-step")
        print()

    results = {}
    for kind in kinds:
        for N in Ns:
            for T in Ts:
                work = make_work(kind, T, args.B, N)
                ms, ref = [], None
                for r in runners(kind, backend, peers=not args.no_peers):
                    m = measure(r, work, args.repeats, args.peer_budget, ref)
                    if r.is_neurosim:
                        ref = m.spikes
                        if kind == "ff":
                            m.kernel_times = kernel_times(work, backend, args.repeats)
                            if m.kernel_times:
                                k = m.kernel_times
                                m.notes.append(f"kernel calls alone: forward {k['forward']:.4f} s + backward "
                                               f"{k['backward']:.4f} s = {k['sum']:.4f} s, "
                                               f"{k['sum'] / m.best:.0%} of the layer's forward + backward")
                    m.__dict__.pop("spikes", None)
                    ms.append(m)
                    gc.collect()
                title = "feed-forward LIF" if kind == "ff" else "recurrent LIF (N -> N input and recurrent weights)"
                report(f"{title}, T = {T}, B = {args.B}, N = {N}", ms)
                results[(kind, T, N)] = ms

    # Summary: ratios against each library's fastest configuration.
    print("== summary: neuron-steps/s and peer time / neurosim time (against each peer's fastest configuration)")
    targets = {"norse": 10.0, "snntorch": 25.0}
    for (kind, T, N), ms in results.items():
        ours = ms[0]
        parts = [f"neurosim {ours.rate:.3g}/s"]
        for lib in ("snntorch", "norse"):
            done = [m for m in ms[1:] if m.library == lib and not m.skipped]
            if not done:
                if any(m.library == lib for m in ms[1:]):
                    parts.append(f"{lib}: skipped")
                continue
            best = min(done, key=lambda m: m.best)
            ratio = best.best / ours.best
            tgt = f" (target >= {targets[lib]:g}x: {'met' if ratio >= targets[lib] else 'NOT met'})" if kind == "ff" else ""
            parts.append(f"{lib} {best.rate:.3g}/s [{best.name}]: {ratio:.1f}x{tgt}")
        print(f"  {kind:3s} T={T:<5d} N={N:<5d} " + "; ".join(parts))
    print()

    if bandwidth:
        peak = max(max(bw.values()) for bw in bandwidth.values())
        one = max(bandwidth[1].values())
        print(f"== neurosim feed-forward LIF against memory bandwidth ({BYTES_PER_NEURON_STEP} B per neuron-step: "
              f"forward x -> spikes, u 12 B; backward dL/ds, u -> dL/dx 12 B; float32)")
        print(f"   measured bandwidth: best of copy/triad {gb(peak)} (any thread count), {gb(one)} (1 thread); "
              "target >= 40 %")
        for (kind, T, N), ms in results.items():
            if kind != "ff":
                continue
            ours = ms[0]
            achieved = BYTES_PER_NEURON_STEP * ours.neuron_steps / ours.best
            line = (f"  T={T:<5d} N={N:<5d} layer fwd+bwd {ours.best:.4f} s: {gb(achieved)} = {achieved / peak:.0%} of "
                    f"best, {achieved / one:.0%} of 1-thread")
            if ours.kernel_times:
                k = BYTES_PER_NEURON_STEP * ours.neuron_steps / ours.kernel_times["sum"]
                line += f"; kernels alone {ours.kernel_times['sum']:.4f} s: {gb(k)} = {k / peak:.0%} of best"
            print(line)
        print()

    if not args.skip_memory:
        Bm, Nm = 32, 512
        print(f"== saved for backward (saved_tensors_hooks; distinct storages, whole storage counted), "
              f"feed-forward, B = {Bm}, N = {Nm}, T = 50 and 100")
        head = (f"{'configuration':32s} {'tensors T=50/100':>17s} {'bytes T=100':>12s} {'B/neuron-step':>13s} "
                f"{'growth B/neuron-step':>20s} {'excl. input':>11s}")
        print(head)
        print("-" * len(head))
        for row in memory_table(backend, Bm, Nm):
            excl = row["bytes_no_leaves"][1] / (100 * Bm * Nm)
            print(f"{row['name']:32s} {row['counts'][0]:>8d}/{row['counts'][1]:<8d} {row['bytes'][1]:12d} "
                  f"{row['per_step']:13.2f} {row['per_step_growth']:20.2f} {excl:11.2f}")
        print("  (growth: bytes added per extra neuron-step between T = 50 and 100; 'excl. input': without the "
              "storage of the input x itself)\n")

    return results


if __name__ == "__main__":
    main()
