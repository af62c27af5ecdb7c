"""Triton backend of the event-driven engine: ``Network.run(..., backend="triton")``.

Same contract as ``reference.run_chunk`` (the specification) and ``numba.run_chunk``: the
engine object is called with the arguments of ``run_chunk`` and returns ``(status, steps_done)``.
The network's state (neurons, delay ring, plastic synapses and their spike history) lives on the
device while a run goes on; ``to_host()`` copies it back into the host arrays (the run loop calls
it before a checkpoint, a synapse monitor's sample and when the run ends), and the next call
uploads it again, so runs on different backends can follow one another.

One step is four kinds of launch, none of which waits for the host (no sync inside a chunk):

1. ``_step_begin`` (one program): stops the chunk before a step whose spikes might not fit the
   spike buffer (as the reference does), resets the step's spike count, samples the state
   monitors (start of the step, arrivals included).
2. one neuron kernel per model, generated from its definition
   (:mod:`neurosim.kernels.codegen.triton_source`), one launch per population: arrival of the
   ring slot, the definition's update, threshold and reset -- the reference's float64
   operations in its order, compiled without FMA
   contraction (``enable_fp_fusion=False``), so a neuron given the same input computes the same
   bits. Spikes are compacted in the same kernel: each block counts its spikes, reserves room
   with one atomic add and writes their ids at ``base + exclusive cumsum``.
3. ``_propagate`` (a fixed grid of programs striding over the step's spikes: the compacted
   ones, then the spike-source events): per spike, only its CSR rows are read, ``BLOCK``
   synapses at a time, and the weights are added with float64 atomics into the currents
   (one-step synapses) or into the delay ring buffer at ``(step + delay) % slots``; it also
   counts spikes per population and synaptic events, and appends recorded spikes to the
   device spike buffer.
4. with plastic synapses (:mod:`neurosim.synapse_definition`), the reference's order after the
   propagation: ``_remember`` (one program: an ordered compaction) keeps the step's spikes of
   neurons with plastic outgoing synapses -- compacted neurons, then source events as given --
   in the device spike history's slot ``step % n_slots``; then per plastic kind its generated
   kernels (:mod:`neurosim.kernels.codegen.triton_source`): ``arrive`` (delays ascending, then
   history order, then synapse order: ``on_pre``, ``release`` added to the target's receptor
   cell with a float64 atomic add, the step of its last event set), ``post`` (``on_post`` on the incoming synapses
   of the step's spiking neurons) and, when a period ends with the step, ``periodic``; then
   ``_synapses_end`` reports the first kind with a NaN/inf synapse (the reference's counters 4,
   5, 3) and halts the chunk after this step. A source may appear several times in one history
   slot (a spike source can emit several spikes of one neuron in a step): its arrivals at the
   same synapses must run in order. One program (the CPU) runs the entries in order; several
   programs (a GPU) follow *repeat links* (``repeat_links``: computed on the host from the
   chunk's source events, which it knows in advance): a source's first entry runs its repeats
   after it, in order, and the repeats themselves are skipped, so two arrivals never race.
A halt word on the device (buffer full, or a NaN/inf membrane or synapse) turns every later
launch of the chunk into a no-op, so a chunk stops where the reference would.

Numerics (``tests/test_engine_triton.py``): neuron updates are bit-identical to the reference.
Atomic float additions make the summation order of a step's synaptic input arbitrary on a GPU,
so currents can differ from the reference in the last bits and spike trains diverge once a
membrane lands within rounding of its threshold; population rates agree statistically. Where
every sum is exact in any order (pulse synapses, ``tau_exc = tau_inh = 0``, with weights that are
small multiples of a power of two) spike trains are identical to the reference. In Triton's
interpreter (CPU tensors, ``TRITON_INTERPRET=1``: how CI runs these kernels) programs and
atomics run in order, so all spike trains match there.

Plastic synapses (``tests/test_plasticity_triton.py``): in the interpreter every operation of
the reference runs in its order. Event-driven decays (a rule's ``elapsed_terms``, such as
``exp(-elapsed / tau_pre)``) are read from the kind's tables, filled with the C library's exp as
the reference computes them, wherever their parameters are uniform and ``elapsed`` is within the
table: then synapse state is bit-identical to numpy and Numba (every built-in rule in
``tests/test_synapse_models.py``'s network over 100 ms, measured). Beyond the table, or with
per-synapse parameters, the interpreter computes ``tl.exp``, numpy's, which differs from the C
library's in the last bit for 4.6 % of arguments in [-5, 0]: synapse variables then differ by a
few ulp (at most 2.7e-15 measured on STDP weights of O(1)), spikes stayed identical. On a GPU
``tl.exp`` is libdevice's, and the release sums and the order of a step's history (neuron spikes
compacted by atomics) follow the atomics' order, as for static synapses above.

Verification status: the kernels run against the numba backend in the interpreter
(``tests/test_engine_triton.py``), and are compiled for sm_90 to cubins in CI
(``tests/compile_engine_sm90.py``: no FMA in the PTX, float64 atomics); they have not yet run
on a real GPU (none lent so far), so GPU timings are not yet measured.

Device memory (float64 state and weights; bytes per item, checked before anything is copied;
``device_bytes`` computes the figure and ``TritonEngine`` refuses a network that does not fit):

* per synapse: 16 (int64 target cell + float64 weight);
* per neuron: the state table 8 per row (two receptor rows plus the most membrane variables of
  any model), refractory step 8, the model's coefficients 8 each, mean current and noise
  column 16, spike compaction 8, and for every
  neuron including spike sources 2 x 8 (CSR row pointers) + 8 (population) + 1 (recorded?);
* delay ring buffer: 16 x (longest delay in steps + 1) per neuron;
* per chunk of k steps: noise 8 x k per noisy neuron, population counts 8 x k per population,
  the spike buffer 24 per recorded spike, source events 8 each (16 with plastic synapses: their
  repeat links);
* plastic synapses, per synapse: 8 x (4 + state variables + 1) (delay, receptor cell, target,
  transposed index; the state and the step of the last event, synapse-major) and 8 x parameters
  (one row for the whole kind when every synapse has the same values); per plastic kind 8 x
  (n_total + 1 + n_dynamic + 1) for the CSR and transposed row pointers, its distinct delays,
  ``<var>_post`` rows and decay tables (32 KiB per decay); one word per kind for its NaN/inf
  synapse;
* spike history: 16 per entry (id and repeat link) of ``n_slots x capacity`` (longest plastic
  delay x kept neurons plus the most source events of a step), 8 per slot, 1 per neuron.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import dataclass

import numpy as np
import torch

from ..layout import STATUS_DONE, STATUS_INTERRUPTED, STATUS_NOT_FINITE, STATUS_SPIKE_BUFFER_FULL
from .reference import static_delays, static_synapses_of

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised only where triton is missing
    triton = None
    tl = None

_NO_BAD = np.iinfo(np.int64).max  # "no NaN/inf neuron yet" in the control words' bad-neuron slot
BLOCK = 256  # neurons per program in the neuron kernels, synapses per iteration in propagation
# Control words on the device: halt status, row where the chunk halted, spikes compacted this
# step, first NaN/inf neuron of this step.
HALT, HALT_ROW = 0, 1

BYTES_PER_SYNAPSE = 16


def resolve_device(device=None) -> torch.device:
    """The torch device the Triton engine runs on; raise with what to do when there is none.

    ``None`` picks the current CUDA GPU, else the CPU in Triton's interpreter when
    ``TRITON_INTERPRET=1`` was set before triton was imported.
    """
    if triton is None:
        raise ImportError("backend='triton' needs the triton package: pip install triton "
                          "(or run on the CPU with backend='numba')")
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if interpreted:
            return torch.device("cpu")
        raise RuntimeError(
            "backend='triton' needs a CUDA GPU, and torch sees none here (torch.cuda.is_available() is False). "
            "On this machine use backend='numba' (the compiled CPU kernel); to run the Triton kernels on the CPU "
            "anyway -- slowly, for testing -- set TRITON_INTERPRET=1 in the environment before starting Python.")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device} was asked for, but torch sees no CUDA GPU here; "
                               "use backend='numba' on this machine")
        return device if device.index is not None else torch.device("cuda", torch.cuda.current_device())
    if device.type == "cpu" and interpreted:
        return device
    raise ValueError(f"device must be a CUDA device for backend='triton' (or 'cpu' with TRITON_INTERPRET=1 set "
                     f"before starting Python), got {device}")


def free_bytes(device: torch.device) -> int:
    """Memory free for the engine on ``device`` (CUDA: the driver's figure plus what torch's
    allocator holds unused; CPU: available RAM)."""
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0]) + cached
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def device_bytes(n_dynamic: int, n_total: int, n_rows: int, n_coefficients: int, n_synapses: int,
                 n_slots: int) -> dict[str, int]:
    """Bytes the engine keeps on the device for a whole run, by item (layout: module docstring)."""
    return {
        "synapses": BYTES_PER_SYNAPSE * n_synapses,
        "neurons": (8 * n_rows + 8 + 16 + 8) * n_dynamic + 8 * n_coefficients + (16 + 8 + 1) * n_total + 16,
        "delay ring": 16 * n_slots * n_dynamic,
    }


def plastic_bytes(plastic=(), history=None) -> dict[str, int]:
    """Bytes of the plastic synapses and their spike history on the device (module docstring)."""
    if not plastic:
        return {}
    # (an empty array is one element on the device)
    per_kind = [8 * (k.indptr.size + k.post_ptr.size + k.delays.size + max(k.post_rows.size, 1)
                     + 4 * k.values.shape[0] + k.values.size + max(k.coefficients.size, 1)
                     + max(k.tables.size, 1) + max(k.table_len.size, 1)) for k in plastic]
    need = {"plastic synapses": sum(per_kind) + 8 * len(plastic)}
    if history is not None:
        need["spike history"] = 16 * history.ids.size + 8 * history.counts.size + history.keep.size
    return need


def repeat_links(rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Repeat links of a sequence of spikes ``ids`` grouped by ``rows`` (a step, or a history
    slot), int64 like ``ids``: for an entry whose id is the first of its row, the distance to the
    next entry of that id in the row (0: none); for a later one, -1 - that distance. The arrival
    kernel with several programs runs a first occurrence and then its repeats, in order, and
    skips the repeats themselves (a source may emit several spikes in one step)."""
    n = ids.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), ids, rows))  # by row, id, then position
    same = (rows[order][1:] == rows[order][:-1]) & (ids[order][1:] == ids[order][:-1])
    here, there = order[:-1][same], order[1:][same]
    links = np.zeros(n, dtype=np.int64)
    links[here] = there - here
    repeat = np.zeros(n, dtype=bool)
    repeat[there] = True
    return np.where(repeat, -1 - links, links)


def event_links(event_ptr: np.ndarray, event_id: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Repeat links of a chunk's source events among the kept ones (``SpikeHistory.keep``) of
    each step, aligned with ``event_id`` (0 for the others): the offsets within a history slot,
    where a step's kept events follow its kept neuron spikes in their order."""
    links = np.zeros(event_id.size, dtype=np.int64)
    lo, hi = int(event_ptr[0]), int(event_ptr[-1])
    ids = event_id[lo:hi]
    rows = np.repeat(np.arange(event_ptr.size - 1), np.diff(event_ptr))
    kept = np.flatnonzero(keep[ids])
    links[lo + kept] = repeat_links(rows[kept], ids[kept])
    return links


def history_links(history) -> np.ndarray:
    """Repeat links of every entry of a host spike history, shaped as its ``ids``."""
    n_slots, cap = history.ids.shape
    links = np.zeros((n_slots, cap), dtype=np.int64)
    valid = np.arange(cap)[None, :] < history.counts[:, None]
    rows = np.broadcast_to(np.arange(n_slots)[:, None], (n_slots, cap))[valid]
    links[valid] = repeat_links(rows, history.ids[valid])
    return links


def check_fits(need: dict[str, int], device: torch.device, free: int) -> None:
    """Refuse up front a network whose device arrays would not fit in ``free`` bytes."""
    total = sum(need.values())
    if total > free:
        parts = ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in need.items())
        raise MemoryError(
            f"network does not fit on {device}: it needs {total / 2**30:.2f} GiB ({parts}) and {free / 2**30:.2f} GiB "
            "is free. Use fewer neurons or synapses, shorter delays (the ring buffer holds one slot per step of "
            "the longest delay), a smaller chunk_ms, or backend='numba' (host memory).")


if triton is not None:
    # kernels may only read constexpr globals
    _HALT, _HALT_ROW, _N_SPIKES, _BAD = (tl.constexpr(i) for i in range(4))
    _FULL, _NOT_FINITE = tl.constexpr(STATUS_SPIKE_BUFFER_FULL), tl.constexpr(STATUS_NOT_FINITE)
    _NONE_BAD = tl.constexpr(int(_NO_BAD))

    @triton.jit(do_not_specialize=["row", "step", "slot_offset", "n_cols"])
    def _step_begin(ctl, counters, event_ptr, row, n_recordable, capacity, step,
                    col_var, col_neuron, col_stride, col_position, values, n_cols,
                    state, ring, slot_offset, n_dynamic, BLOCK: tl.constexpr):
        """Capacity check, reset of the step's spike count, state-monitor sampling."""
        if tl.load(ctl + _HALT) == 0:
            n_events = tl.load(event_ptr + row + 1) - tl.load(event_ptr + row)
            if tl.load(counters) + n_recordable + n_events > capacity:
                tl.store(ctl + _HALT, _FULL)
                tl.store(ctl + _HALT_ROW, row)
            else:
                tl.store(ctl + _N_SPIKES, 0)
                for c0 in range(0, n_cols, BLOCK):
                    c = c0 + tl.arange(0, BLOCK)
                    m = c < n_cols
                    due = m & (step % tl.load(col_stride + c, mask=m, other=1) == 0)
                    var = tl.load(col_var + c, mask=due, other=0)
                    i = tl.load(col_neuron + c, mask=due, other=0)
                    # receptor variables (rows 0, 1) as the neuron kernel will see them: with
                    # this step's arrivals
                    value = (tl.load(state + var * n_dynamic + i, mask=due, other=0.0)
                             + tl.load(ring + slot_offset + var * n_dynamic + i, mask=due & (var < 2), other=0.0))
                    position = tl.load(col_position + c, mask=due, other=0)
                    tl.store(values + position, value, mask=due)
                    tl.store(col_position + c, position + 1, mask=due)

    @triton.jit
    def _compact(ctl, spikes, ids, fire, bad, m):
        """Append this block's spiking ids to ``spikes`` (one atomic per block) and note the
        first NaN/inf neuron."""
        fire = (fire & m).to(tl.int32)
        n_local = tl.sum(fire, 0)
        if n_local > 0:
            base = tl.atomic_add(ctl + _N_SPIKES, n_local.to(tl.int64), sem="relaxed")
            position = base + (tl.cumsum(fire, 0) - fire)
            tl.store(spikes + position, ids.to(tl.int64), mask=fire == 1)
        first_bad = tl.min(tl.where(bad & m, ids, 2147483647), 0)
        if first_bad < 2147483647:
            tl.atomic_min(ctl + _BAD, first_bad.to(tl.int64), sem="relaxed")

    @triton.jit
    def _external(i, m, i_mean, noise_column, noise, noise_offset):
        """External current of neurons ``i``: constant plus this step's noise."""
        column = tl.load(noise_column + i, mask=m, other=-1)
        ext = tl.load(i_mean + i, mask=m, other=0.0)
        noisy = m & (column >= 0)
        return tl.where(noisy, ext + tl.load(noise + noise_offset + column, mask=noisy, other=0.0), ext)

    @triton.jit
    def _tanh(x):
        """The language's tanh (Triton has none for float64)."""
        e = tl.exp(2.0 * x)
        return (e - 1.0) / (e + 1.0)

    @triton.jit
    def _add_row(source, indptr, cell, weight, target, base, size, BLOCK: tl.constexpr):
        """Atomically add one source's outgoing weights into ``target`` at ``base + cell``
        (wrapping around the end: the ring buffer); returns the row's length."""
        start = tl.load(indptr + source)
        stop = tl.load(indptr + source + 1)
        for k0 in range(start, stop, BLOCK):
            k = k0 + tl.arange(0, BLOCK)
            m = k < stop
            at = base + tl.load(cell + k, mask=m, other=0)
            at = tl.where(at >= size, at - size, at)
            tl.atomic_add(target + at, tl.load(weight + k, mask=m, other=0.0), mask=m, sem="relaxed")
        return stop - start

    @triton.jit(do_not_specialize=["row", "e0", "e1", "slot", "cap"])
    def _remember(ctl, spikes, event_id, event_link, e0, e1, keep, hist_ids, hist_links, hist_counts, slot, cap,
                  BLOCK: tl.constexpr):
        """Keep the step's spikes of neurons with plastic outgoing synapses (compacted neurons,
        then source events as given) in history slot ``slot``, in that order (one program: an
        ordered compaction), with each event's repeat link (see ``repeat_links``)."""
        if tl.load(ctl + _HALT) == 0:
            n_fired = tl.load(ctl + _N_SPIKES)
            total = n_fired + e1 - e0
            n = tl.zeros([], tl.int64)
            for s0 in range(0, total, BLOCK):
                s = s0 + tl.arange(0, BLOCK)
                m = s < total
                neuron = s < n_fired
                event = m & (s >= n_fired)
                source = tl.where(neuron, tl.load(spikes + s, mask=m & neuron, other=0),
                                  tl.load(event_id + e0 + s - n_fired, mask=event, other=0))
                link = tl.load(event_link + e0 + s - n_fired, mask=event, other=0)  # neurons: never repeated
                kept = (m & (tl.load(keep + source, mask=m, other=0) != 0)).to(tl.int32)
                position = slot * cap + n + (tl.cumsum(kept, 0) - kept)
                tl.store(hist_ids + position, source, mask=kept == 1)
                tl.store(hist_links + position, link, mask=kept == 1)
                n += tl.sum(kept, 0)
            tl.store(hist_counts + slot, n)

    @triton.jit
    def _delay_run(delay, lo, hi, d):
        """The synapses of lo:hi (sorted by delay) with delay ``d``: (first, stop), two bisections."""
        a, b = lo, hi
        while a < b:
            mid = (a + b) // 2
            less = tl.load(delay + mid) < d
            a, b = tl.where(less, mid + 1, a), tl.where(less, b, mid)
        first, b = a, hi
        while a < b:
            mid = (a + b) // 2
            within = tl.load(delay + mid) <= d
            a, b = tl.where(within, mid + 1, a), tl.where(within, b, mid)
        return first, a

    @triton.jit
    def _link_offset(link):
        """Distance to the next repeat of an entry's source in its history slot (0: none)."""
        return tl.where(link < 0, -1 - link, link)

    @triton.jit
    def _first_bad(k, m, finite):
        """The first (lowest) synapse of a block whose state is NaN/inf, or _NONE_BAD."""
        return tl.min(tl.where(m & (finite == 0), k.to(tl.int64), _NONE_BAD), 0)

    @triton.jit
    def _earlier(bad, b):
        """The lower of two NaN/inf synapses (the reference names the lowest one)."""
        return tl.minimum(bad, b)

    @triton.jit
    def _report_bad(word, bad):
        """Note a plastic kind's NaN/inf synapse in its word (_NONE_BAD: none yet): the lowest
        reported stands, as the reference names the lowest."""
        if bad != _NONE_BAD:
            tl.atomic_min(word, bad, sem="relaxed")

    @triton.jit(do_not_specialize=["row", "step", "n_kinds"])
    def _synapses_end(ctl, counters, syn_bad, n_kinds, row, step):
        """After the step's plastic kinds: the first kind with a NaN/inf synapse stops the run
        after this step (the reference's counters[4], [5], [3] and STATUS_NOT_FINITE, row + 1)."""
        if tl.load(ctl + _HALT) == 0:
            found = tl.zeros([], tl.int64)
            for m in range(n_kinds):
                bad = tl.load(syn_bad + m)
                if (found == 0) & (bad != _NONE_BAD):
                    tl.store(counters + 4, m + 1)
                    tl.store(counters + 5, bad)
                    tl.store(counters + 3, step)
                    found = found + 1
            if found != 0:
                tl.store(ctl + _HALT, _NOT_FINITE)
                tl.store(ctl + _HALT_ROW, row + 1)

    @triton.jit(do_not_specialize=["row", "step", "ring_base", "e0", "e1"])
    def _propagate(ctl, counters, spikes, event_id, e0, e1, row, step, n_dynamic,
                   now_indptr, now_cell, now_weight, later_indptr, later_cell, later_weight,
                   currents, ring, ring_base, ring_size, population_of, record, population_counts,
                   spike_step, spike_id, spike_rank, NPROG: tl.constexpr, BLOCK: tl.constexpr):
        """Deliver the step's spikes (compacted neurons, then source events); bookkeeping."""
        pid = tl.program_id(0)
        if tl.load(ctl + _HALT) == 0:
            bad = tl.load(ctl + _BAD)
            if bad != _NONE_BAD:
                if pid == 0:  # the reference stops after the neuron update of this step
                    tl.store(ctl + _HALT, _NOT_FINITE)
                    tl.store(ctl + _HALT_ROW, row)
                    tl.store(counters + 2, bad)
                    tl.store(counters + 3, step)
            else:
                n_fired = tl.load(ctl + _N_SPIKES)
                n_events = tl.zeros([], tl.int64)
                for s in range(pid, n_fired + e1 - e0, NPROG):
                    fired = tl.load(spikes + s, mask=s < n_fired, other=0)
                    event = tl.load(event_id + e0 + s - n_fired, mask=s >= n_fired, other=0)
                    source = tl.where(s < n_fired, fired, event)
                    # the reference's order within a step: neurons by id, then events as given
                    rank = tl.where(s < n_fired, fired, n_dynamic + s - n_fired)
                    n_events += _add_row(source, now_indptr, now_cell, now_weight, currents, 0, ring_size, BLOCK)
                    n_events += _add_row(source, later_indptr, later_cell, later_weight, ring, ring_base, ring_size,
                                         BLOCK)
                    tl.atomic_add(population_counts + tl.load(population_of + source), 1, sem="relaxed")
                    if tl.load(record + source) != 0:
                        position = tl.atomic_add(counters, 1, sem="relaxed")
                        tl.store(spike_step + position, step)
                        tl.store(spike_id + position, source)
                        tl.store(spike_rank + position, rank)
                tl.atomic_add(counters + 1, n_events, sem="relaxed")


def merged_csr(conn, n_total: int, nd: int) -> tuple[tuple, tuple]:
    """The static synapses as the GPU kernels walk them: one CSR over global source ids for the
    one-step synapses and one for the longer delays, each ``(indptr int64, cell int64, weight
    float64)``; a cell is the flat index of the receptor variable (one-step) or of the ring cell
    relative to the step's slot, ``(delay * 2 + receptor) * n_dynamic + target``. Rows keep the
    pool's order (projections in creation order), so sums match the CPU engines'."""
    rank, k, p = static_synapses_of(np.arange(n_total, dtype=np.int64), conn)
    delay = static_delays(conn, k, p)
    target = conn.target_lo[p] + conn.target[k]
    receptor = conn.receptor[p]
    now = delay == 1
    out = []
    for mask, cell in ((now, receptor * nd + target), (~now, (delay * 2 + receptor) * nd + target)):
        indptr = np.zeros(n_total + 1, dtype=np.int64)
        np.cumsum(np.bincount(rank[mask], minlength=n_total), out=indptr[1:])
        out.append((indptr, cell[mask].astype(np.int64), conn.weight[k[mask]].astype(np.float64)))
    return out[0], out[1]


class TritonEngine:
    """The device copy of one flattened network and the per-step launches over it.

    Call it like ``run_chunk``; ``to_host()`` copies the state back into the host arrays.
    """

    stops_inside_chunks = True  # Ctrl-C ends a chunk after the step being queued (STATUS_INTERRUPTED)

    def __init__(self, state, definitions, kinds, conn, ring, population_of, n_populations: int, device=None,
                 plastic=(), synapse_definitions=()):
        from ..codegen.modules import load_source
        from ..codegen.triton_source import engine_source

        if len(plastic) != len(synapse_definitions):
            raise ValueError(f"plastic has {len(plastic)} kinds but synapse_definitions {len(synapse_definitions)}: "
                             "give one synapse model per plastic kind")
        self.device = resolve_device(device)
        self.host_state, self.host_ring = state, ring
        self.n_dynamic, self.n_total = state.values.shape[1], population_of.size
        self.n_populations = n_populations
        immediate, delayed = merged_csr(conn, self.n_total, self.n_dynamic)
        n_synapses = conn.weight.size
        self.need = device_bytes(self.n_dynamic, self.n_total, state.values.shape[0],
                                 sum(k.coefficients.size + k.refractory_steps.size for k in kinds), n_synapses,
                                 ring.shape[0])
        self.need.update(plastic_bytes(plastic))
        check_fits(self.need, self.device, free_bytes(self.device))
        put = self._put
        self.kernels = (load_source("engine_triton", engine_source(definitions, synapse_definitions))
                        if definitions else None)
        # per kind: its kernel, device coefficients, and (lo, hi, start, integers) of each population
        self.kinds = [(getattr(self.kernels, f"step_{k}"), put(kind.coefficients), kind.coefficients.shape[1],
                       put(kind.refractory_steps),
                       [(int(lo), int(hi), int(s), [int(x) for x in ints])
                        for lo, hi, s, ints in zip(kind.lo, kind.hi, kind.start, kind.integers)])
                      for k, kind in enumerate(kinds)]
        self.now, self.later = [put(a) for a in immediate], [put(a) for a in delayed]
        del immediate, delayed
        self.population_of = put(population_of)
        self.spikes = torch.empty(self.n_dynamic + 1, dtype=torch.int64, device=self.device)
        self.ctl = torch.zeros(4, dtype=torch.int64, device=self.device)
        self.spike_buffers = None
        # per plastic kind: its kernels and constant device arrays (state: uploaded with the neurons')
        self.plastic = [_PlasticKind.build(kind, d, m, self.kernels, put)
                        for m, (kind, d) in enumerate(zip(plastic, synapse_definitions))]
        # neurons with plastic outgoing synapses (SpikeHistory.keep, derived alike)
        keep = np.zeros(self.n_total, dtype=np.uint8)
        for kind in plastic:
            keep |= np.diff(kind.indptr) > 0
        self.keep = put(keep)
        self.syn_bad = torch.full((max(len(self.plastic), 1),), int(_NO_BAD), dtype=torch.int64, device=self.device)
        self.host_history = None  # the SpikeHistory of the last call (the run loop may replace it)
        self.resident = False  # state and ring on the device are the current ones
        # programs striding over a step's spikes: on the CPU (the interpreter runs programs one
        # after the other) a single one delivers spikes in the reference's order
        self.n_programs = 1 if self.device.type == "cpu" else 4 * torch.cuda.get_device_properties(
            self.device).multi_processor_count

    def _put(self, array: np.ndarray) -> torch.Tensor:
        """A device copy (a copy on the CPU too: the host arrays are written only by to_host).
        An empty array becomes one zero: kernels must not be handed a null pointer."""
        if array.size == 0:
            return torch.zeros(1, dtype=torch.from_numpy(array[:0].copy()).dtype, device=self.device)
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, copy=True)

    def _upload_state(self, history) -> None:
        s, put = self.host_state, self._put
        self.values, self.until = put(s.values), put(s.refractory_until)
        self.currents = self.values[:2]  # the receptor rows: one-step synapses add here
        self.ring = put(self.host_ring)
        for kind in self.plastic:
            kind.values = put(kind.host.values)
        if self.plastic:
            self.hist_ids, self.hist_counts = put(history.ids), put(history.counts)
            self.hist_links = put(history_links(history))
            self.hist_cap = history.ids.shape[1]
        self.host_history = history
        self.resident = True

    def _follow_history(self, history) -> None:
        """The run loop grows the spike history between chunks (a new, larger host array whose
        contents are stale while the device copy is current): grow the device copy alike."""
        self.host_history = history
        cap = history.ids.shape[1]
        if cap != self.hist_cap:
            n_slots = history.ids.shape[0]
            for name in ("hist_ids", "hist_links"):
                grown = torch.zeros((n_slots, cap), dtype=torch.int64, device=self.device)
                grown[:, : self.hist_cap] = getattr(self, name).view(n_slots, self.hist_cap)
                setattr(self, name, grown)
            self.hist_cap = cap

    def to_host(self) -> None:
        """Copy the device state, ring buffer, plastic synapses' state and spike history into the
        host arrays (before a checkpoint, at the end of a run, for a synapse monitor's sample);
        the next call uploads them again."""
        if not self.resident:
            return
        s = self.host_state
        pairs = [(s.values, self.values), (s.refractory_until, self.until), (self.host_ring, self.ring)]
        pairs += [(kind.host.values, kind.values) for kind in self.plastic]
        if self.plastic:
            h = self.host_history
            pairs += [(h.ids, self.hist_ids), (h.counts, self.hist_counts)]
        for host, device in pairs:
            if host.size:  # (an empty array was padded to one element on the device)
                host[...] = device.cpu().numpy().reshape(host.shape)
        self.resident = False

    def _spike_buffers(self, capacity: int) -> list[torch.Tensor]:
        if self.spike_buffers is None or self.spike_buffers[0].numel() < capacity:
            self.spike_buffers = [torch.empty(capacity, dtype=torch.int64, device=self.device) for _ in range(3)]
        return self.spike_buffers

    def __call__(self, first_step, n_steps, dt, state, kinds, conn, drive, ring, rec, plastic=(), history=None):
        if state is not self.host_state or ring is not self.host_ring:
            raise ValueError("this TritonEngine was built for another network's arrays")
        if len(plastic) != len(self.plastic) or any(a.values is not b.host.values for a, b in zip(plastic, self.plastic)):
            raise ValueError(f"this TritonEngine was built for {len(self.plastic)} plastic kinds of another network's "
                             f"arrays, called with {len(plastic)}: build it with plastic= and synapse_definitions=")
        put, dev, nd = self._put, self.device, self.n_dynamic
        self.need.update(plastic_bytes(plastic, history))  # (the history grows between chunks)
        capacity = rec.spike_step.size
        chunk_need = {"chunk buffers": 8 * (drive.noise.size + max(n_steps, 1) * self.n_populations
                                            + drive.event_id.size * (2 if plastic else 1) + rec.state_values.size)
                      + 24 * capacity}
        check_fits(dict(self.need, **chunk_need), dev, free_bytes(dev) + sum(self.need.values()))
        if not self.resident:
            self._upload_state(history)
        elif plastic:
            self._follow_history(history)
        c0 = int(rec.counters[0])
        spike_step, spike_id, spike_rank = self._spike_buffers(capacity)
        chunk = _Chunk(
            counters=put(rec.counters), record=put(rec.spike_record.view(np.uint8)),
            counts=torch.zeros((max(n_steps, 1), self.n_populations), dtype=torch.int64, device=dev),
            event_ptr=put(drive.event_ptr), event_ptr_host=drive.event_ptr, event_id=put(drive.event_id),
            noise=put(drive.noise), n_noisy=drive.noise.shape[1], i_mean=put(drive.i_mean),
            noise_column=put(drive.noise_column),
            col_var=put(rec.state_variable), col_neuron=put(rec.state_neuron),
            col_stride=put(rec.state_stride), col_position=put(rec.state_position),
            values=torch.zeros(max(rec.state_values.size, 1), dtype=torch.float64, device=dev),
            n_cols=int(rec.state_variable.size),
            scalars=torch.tensor([dt], dtype=torch.float64, device=dev),
            spike_step=spike_step, spike_id=spike_id, spike_rank=spike_rank,
            n_recordable=int(rec.spike_record[:nd].sum()), capacity=capacity,
            event_link=put(event_links(drive.event_ptr, drive.event_id, history.keep)) if plastic else None)
        self.syn_bad.fill_(int(_NO_BAD))
        if n_steps == 0:  # compile (or load Triton's cache) before the run's clock starts
            self.ctl.copy_(torch.tensor([STATUS_SPIKE_BUFFER_FULL, 0, 0, _NO_BAD], dtype=torch.int64))
            self._launch_step(chunk, first_step, 0, every_kernel=True)  # halted: every kernel returns at once
            return STATUS_DONE, 0
        self.ctl.copy_(torch.tensor([STATUS_DONE, 0, 0, _NO_BAD], dtype=torch.int64))
        done = 0
        with _deferred_interrupt() as interrupted:
            while done < n_steps and not interrupted:
                self._launch_step(chunk, first_step + done, done)
                done += 1
        ctl = self.ctl.cpu().numpy()
        status = int(ctl[HALT])
        if status != STATUS_DONE:
            done = int(ctl[HALT_ROW])
        elif done < n_steps:
            status = STATUS_INTERRUPTED
        self._download_records(chunk, rec, c0, done)
        return status, done

    def _launch_step(self, c: "_Chunk", step: int, row: int, every_kernel: bool = False) -> None:
        """Queue the launches of one step (see the module docstring); ``every_kernel``: the
        periodic ones too, due or not (the compile-only call)."""
        nd, n_slots = self.n_dynamic, self.host_ring.shape[0]
        slot_offset = (step % n_slots) * 2 * nd
        noise_offset = row * c.n_noisy
        fp = {"enable_fp_fusion": False} if self.device.type == "cuda" else {}
        _step_begin[(1,)](self.ctl, c.counters, c.event_ptr, row, c.n_recordable, c.capacity, step,
                          c.col_var, c.col_neuron, c.col_stride, c.col_position, c.values, c.n_cols,
                          self.values, self.ring, slot_offset, nd, BLOCK=128)
        for kernel, coefficients, n_kind, refractory_steps, populations in self.kinds:
            for lo, hi, start, integers in populations:
                kernel[(triton.cdiv(hi - lo, BLOCK),)](
                    self.ctl, self.spikes, lo, hi, start, nd, self.values, self.until, self.ring, slot_offset, c.i_mean,
                    c.noise_column, c.noise, noise_offset, step, c.scalars, coefficients, n_kind, refractory_steps,
                    *integers, BLOCK=BLOCK, **fp)
        ptr = c.event_ptr_host
        e0 = int(ptr[row])
        e1 = int(ptr[row + 1]) if row + 1 < ptr.size else e0  # (the compile-only launch of a 0-step call)
        _propagate[(self.n_programs,)](
            self.ctl, c.counters, self.spikes, c.event_id, e0, e1, row, step, nd, *self.now, *self.later, self.currents,
            self.ring, slot_offset, self.ring.numel(), self.population_of, c.record, c.counts[row], c.spike_step,
            c.spike_id, c.spike_rank, NPROG=self.n_programs, BLOCK=BLOCK)
        if self.plastic:
            self._launch_plastic(c, step, row, e0, e1, every_kernel, fp)

    def _launch_plastic(self, c: "_Chunk", step: int, row: int, e0: int, e1: int, every_kernel: bool, fp: dict) -> None:
        """Queue the plastic synapses' launches of one step: the spike history, then per plastic
        kind its arrivals, postsynaptic spikes and (when a period ends) periodic update, then the
        NaN/inf check -- the reference's order."""
        n_slots, nprog = self.host_history.counts.size, self.n_programs
        _remember[(1,)](self.ctl, self.spikes, c.event_id, c.event_link, e0, e1, self.keep, self.hist_ids,
                        self.hist_links, self.hist_counts, step % n_slots, self.hist_cap, BLOCK=BLOCK)
        for m, kind in enumerate(self.plastic):
            rule = (kind.values, kind.n, kind.coefficients, kind.per_synapse, kind.tables, kind.table_len, kind.target,
                    kind.cell, self.values, self.n_dynamic, kind.post_rows, step, c.scalars)
            kind.arrive[(nprog,)](self.ctl, c.counters, self.syn_bad, self.hist_ids, self.hist_links, self.hist_counts,
                                  self.hist_cap, n_slots, kind.delays, kind.n_delays, kind.indptr, kind.delay, *rule,
                                  M=m, NPROG=nprog, CHAIN=nprog > 1, BLOCK=BLOCK, **fp)
            if kind.post is not None:
                kind.post[(nprog,)](self.ctl, self.syn_bad, self.spikes, kind.post_ptr, kind.post_syn, *rule, M=m,
                                    NPROG=nprog, BLOCK=BLOCK, **fp)
            due = kind.period > 0 and (step + 1) % kind.period == 0
            if kind.periodic is not None and kind.n > 0 and (due or every_kernel):
                kind.periodic[(triton.cdiv(kind.n, BLOCK),)](self.ctl, self.syn_bad, *rule, M=m, BLOCK=BLOCK, **fp)
        _synapses_end[(1,)](self.ctl, c.counters, self.syn_bad, len(self.plastic), row, step)

    def _download_records(self, c: "_Chunk", rec, c0: int, done: int) -> None:
        """Copy the chunk's recordings into the host recorders, spikes in the reference's order."""
        counters = c.counters.cpu().numpy()
        n = int(counters[0])
        steps, ids, ranks = (t[c0:n].cpu().numpy() for t in (c.spike_step, c.spike_id, c.spike_rank))
        order = np.lexsort((ranks, steps))  # by step, then neurons by id, then source events as given
        rec.spike_step[c0:n], rec.spike_id[c0:n] = steps[order], ids[order]
        rec.counters[:] = counters
        rec.population_counts[:done] = c.counts[:done].cpu().numpy()
        if c.n_cols:
            written, values = c.col_position.cpu().numpy(), c.values.cpu().numpy()
            for col in range(c.n_cols):  # each column's samples sit at its own positions
                rec.state_values[rec.state_position[col] : written[col]] = values[rec.state_position[col] : written[col]]
            rec.state_position[:] = written


@dataclass
class _Chunk:
    """Device copies of one chunk's drive and recorders."""

    counters: torch.Tensor
    record: torch.Tensor
    counts: torch.Tensor
    event_ptr: torch.Tensor
    event_ptr_host: np.ndarray
    event_id: torch.Tensor
    noise: torch.Tensor
    n_noisy: int
    i_mean: torch.Tensor
    noise_column: torch.Tensor
    col_var: torch.Tensor
    col_neuron: torch.Tensor
    col_stride: torch.Tensor
    col_position: torch.Tensor
    values: torch.Tensor
    n_cols: int
    scalars: torch.Tensor  # [dt] in float64 (a scalar argument would be float32)
    spike_step: torch.Tensor
    spike_id: torch.Tensor
    spike_rank: torch.Tensor
    n_recordable: int
    capacity: int
    event_link: torch.Tensor | None  # repeat links of the source events (plastic networks)


@dataclass
class _PlasticKind:
    """The device side of one plastic kind (``layout.PlasticSynapses``): its generated kernels,
    constant arrays, and its state (``values``: uploaded with the neurons' state)."""

    host: object  # the PlasticSynapses whose arrays to_host() writes
    arrive: object
    post: object  # None: the rule has no on_post
    periodic: object  # None: no periodic statements
    n: int  # synapses
    period: int  # steps (0: none)
    n_delays: int
    delays: torch.Tensor
    indptr: torch.Tensor
    delay: torch.Tensor
    cell: torch.Tensor
    target: torch.Tensor
    post_ptr: torch.Tensor
    post_syn: torch.Tensor
    coefficients: torch.Tensor
    per_synapse: int  # 1: a row of parameters per synapse; 0: one row for all
    tables: torch.Tensor
    table_len: torch.Tensor
    post_rows: torch.Tensor
    values: torch.Tensor | None = None  # [n, n_state + 1], uploaded with the neurons' state

    @classmethod
    def build(cls, kind, d, m: int, kernels, put) -> "_PlasticKind":
        return cls(kind, getattr(kernels, f"arrive_{m}"), getattr(kernels, f"post_{m}", None),
                   getattr(kernels, f"periodic_{m}", None), int(kind.values.shape[0]), int(kind.period[0]),
                   int(kind.delays.size), put(kind.delays), put(kind.indptr), put(kind.delay), put(kind.cell),
                   put(kind.target), put(kind.post_ptr), put(kind.post_syn), put(kind.coefficients),
                   int(kind.coefficients.shape[0] > 1), put(kind.tables), put(kind.table_len), put(kind.post_rows))


@contextlib.contextmanager
def _deferred_interrupt():
    """Hold Ctrl-C until the step being queued is whole: the yielded list becomes non-empty
    when one arrives (a step cut between its neuron and propagation launches would leave the
    device state between two steps)."""
    caught: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)
