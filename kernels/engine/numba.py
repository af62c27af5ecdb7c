"""Numba CPU backend of the event-driven engine: the parts every network shares.

One compiled function runs a whole chunk of steps (no Python per step). Its neuron loops are
generated from the network's model definitions (:mod:`neurosim.kernels.codegen.numba_source`,
which also writes ``run_chunk``); what is the same for every model lives here: synaptic
propagation through the CSR rows and the delay ring, spike gathering and recording, state
monitors, the external current, and the scalar helpers the generated loops call. Everything
performs the same floating-point operations in the same order as ``reference.py``, so spike
trains are bit-identical to the numpy backend. Compiled functions are cached on disk
(``cache=True``) so only the very first run of a set of models pays the compile time.

Speed notes (measured on a 2-core AVX2 machine, CUBA network; see benchmarks/RESULTS.md):
* helpers that take a named tuple are inlined or called once per step, never per neuron: a
  per-neuron call passes the tuple by value and was measured 10x slower;
* synaptic events find their target cell with one add and one compare (no division);
* the generated neuron loops' own notes are in ``codegen/numba_source.py``.
The first compilation takes 10-20 s of CPU; later runs load the cache in well under a second.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ..layout import STATUS_DONE, STATUS_SPIKE_BUFFER_FULL

_jit = numba.njit(cache=True, nogil=True)
# The multi-threaded parts (threads over neuron blocks, synaptic delivery split by target range).
_jit_parallel = numba.njit(cache=True, nogil=True, parallel=True)
# Helpers called every step that take named tuples: inlined into the caller, because a
# compiled call passes each tuple by value (a copy of every array's descriptor).
_inline = numba.njit(cache=True, nogil=True, inline="always")


def _at(x, i):  # pragma: no cover - replaced by the overload inside compiled code
    return x[i] if isinstance(x, np.ndarray) else x


@overload(_at, inline="always")
def _at_overload(x, i):
    """x[i] for an array, x itself for a scalar: one loop source, two specialisations."""
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


def _clear(x, i):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(_clear, inline="always")
def _clear_overload(x, i):
    """x[i] = 0 for an array; nothing for a scalar (a population without ring input)."""
    if isinstance(x, types.Array):

        def clear(x, i):
            x[i] = 0.0

        return clear
    return lambda x, i: None


def _plus(a, x, i):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(_plus, inline="always")
def _plus_overload(a, x, i):
    """a + x[i] for an array x; a for a scalar x, which stands for "no such input". The
    reference adds 0.0 there, which changes nothing but the sign of a zero (-0.0 == 0.0)."""
    if isinstance(x, types.Array):
        return lambda a, x, i: a + x[i]
    return lambda a, x, i: a


@_inline
def _where(condition, a, b):
    """The language's where(c, a, b) on scalars."""
    return a if condition else b


@_inline
def _min(a, b):
    return a if a <= b else b


@_inline
def _max(a, b):
    return a if a >= b else b


@_inline
def external_current(drive, row, buffer):
    """Constant current, plus this step's noise where there is any (see reference)."""
    if drive.noise_id.shape[0] == 0:
        return drive.i_mean
    for i in range(buffer.shape[0]):  # not buffer[:] = ...: its shape check compiles an error message (~1.4 s)
        buffer[i] = drive.i_mean[i]
    for col in range(drive.noise_id.shape[0]):
        i = drive.noise_id[col]
        buffer[i] = drive.i_mean[i] + drive.noise[row, col]
    return buffer


@_jit
def first_not_finite(values, rows, lo, hi):
    """First neuron of lo:hi with a non-finite value in one of ``rows`` (the loops leave such
    neurons un-reset)."""
    for i in range(lo, hi):
        for r in rows:
            if not abs(values[r, i]) < np.inf:
                return i
    return lo


@_jit
def find_not_finite(values, rows, lo, hi):
    """First neuron of lo:hi with a non-finite value in one of ``rows``; -1 if none."""
    i = first_not_finite(values, rows, lo, hi)
    for r in rows:
        if hi > lo and not abs(values[r, i]) < np.inf:
            return i
    return -1


@_inline
def gather_range(spiked, words, lo, hi, out, start):
    """Write the ids of the set flags of ``spiked[lo:hi]`` (ascending) to ``out`` from
    ``start``, scanning whole words of 8 flags where they lie inside; returns how many.
    ``words`` is ``spiked`` viewed as uint64."""
    n = start
    i = lo
    while i < hi and i % 8 != 0:
        if spiked[i]:
            out[n] = i
            n += 1
        i += 1
    while i + 8 <= hi:
        if words[i // 8] != 0:
            for j in range(i, i + 8):
                if spiked[j]:
                    out[n] = j
                    n += 1
        i += 8
    while i < hi:
        if spiked[i]:
            out[n] = i
            n += 1
        i += 1
    return n - start


@_jit
def gather_spikes(spiked, fired):
    """Ids of the set flags in ``spiked`` (ascending), scanning 8 flags per word."""
    words = spiked.view(np.uint64)
    n = 0
    for w in range(words.shape[0]):
        if words[w] != 0:
            for i in range(8 * w, 8 * w + 8):
                if spiked[i]:
                    fired[n] = i
                    n += 1
    return n


@_inline
def _first_at_least(values, lo, hi, value):
    """First index of lo:hi whose value is >= ``value`` (values ascending there): a thread's part
    of a row by target, a spike's arrivals in a plastic row by delay."""
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_inline
def deliver_static(source, q, syn, flat_currents, flat_ring, base, nd, t_lo, t_hi):
    """Add the static synapses of one spike of neuron ``source`` (population ``q``) whose target
    (global id) lies in t_lo:t_hi: one-step synapses into ``flat_currents``, longer delays into
    the ring slot ``base`` (slot of the step, times 2 x n_dynamic) + delay, wrapped with a compare
    (an integer division per synaptic event would cost more than the rest of the event).
    Projections in creation order, rows in order: the reference's summation order. A thread
    that owns a target range finds its part of a row by bisection (targets ascend in a row), so
    threads never add into the same cell and the sums do not depend on the number of threads.
    Returns the number of synaptic events."""
    size = flat_ring.shape[0]
    events = 0
    for j in range(syn.by_source_ptr[q], syn.by_source_ptr[q + 1]):
        p = syn.by_source[j]
        row = syn.row_start[p] + source - syn.source_lo[p]
        a, b = syn.indptr[row], syn.indptr[row + 1]
        lo = syn.target_lo[p]
        if t_hi <= lo or t_lo >= lo + syn.target_n[p]:
            continue  # the projection's targets are all outside the range
        if t_lo > lo:
            a = _first_at_least(syn.target, a, b, t_lo - lo)
        if t_hi < lo + syn.target_n[p]:
            b = _first_at_least(syn.target, a, b, t_hi - lo)
        if a >= b:
            continue
        events += b - a
        cell = syn.receptor[p] * nd + lo  # + target: the flat index in a receptor table
        d = syn.fixed_delay[p]
        if d == 1:
            for k in range(a, b):
                flat_currents[cell + syn.target[k]] += syn.weight[k]
        elif d > 1:
            c = base + d * 2 * nd
            if c >= size:
                c -= size
            c += cell
            for k in range(a, b):
                flat_ring[c + syn.target[k]] += syn.weight[k]
        else:
            shift = syn.delay_shift[p]
            for k in range(a, b):
                dk = syn.delay[k + shift]
                if dk == 1:
                    flat_currents[cell + syn.target[k]] += syn.weight[k]
                else:
                    c = base + dk * 2 * nd
                    if c >= size:
                        c -= size
                    flat_ring[c + cell + syn.target[k]] += syn.weight[k]
    return events


@_inline
def spike_buffer_full(rec, drive, row, n_recordable):
    """Whether the spikes of step ``row`` might not fit the recorder (the caller grows it)."""
    e0, e1 = drive.event_ptr[row], drive.event_ptr[row + 1]
    return rec.counters[0] + n_recordable + (e1 - e0) > rec.spike_step.shape[0]


@_inline
def sample_state(values, ring, slot, step, lo, hi, variable, neuron, stride, position, out):
    """Sample the monitored variables (``Recorders.state_*``) of neurons lo:hi due at the start
    of ``step`` into ``out``. The ring input due now is added in the neuron loops that follow; a
    sampled receptor variable includes it (same sum). Plain arrays, no named tuple: inlined into
    a parallel loop, Numba 0.68 loses writes made through a named tuple's arrays."""
    for col in range(variable.shape[0]):
        i = neuron[col]
        if lo <= i < hi and step % stride[col] == 0:
            var = variable[col]
            value = values[var, i]
            if var < 2:
                value = value + ring[slot, var, i]
            out[position[col]] = value
            position[col] += 1


@_inline
def step_begin(state, rec, drive, ring, row, step, n_recordable):
    """Stop before a step whose spikes might not fit the recorder; else sample the monitored
    variables at the start of ``step``."""
    if spike_buffer_full(rec, drive, row, n_recordable):
        return STATUS_SPIKE_BUFFER_FULL
    sample_state(state.values, ring, step % ring.shape[0], step, 0, state.values.shape[1], rec.state_variable,
                 rec.state_neuron, rec.state_stride, rec.state_position, rec.state_values)
    return STATUS_DONE


@_inline
def deliver_spikes(fired, n_fired, drive, row, step, slot, conn, flat_currents, flat_ring, rec):
    """Deliver the step's spikes (neurons by id, then source events as given) and record them.
    ``flat_currents`` and ``flat_ring`` are the receptor rows and the ring buffer, flattened."""
    counts = rec.counters
    e0, e1 = drive.event_ptr[row], drive.event_ptr[row + 1]
    base = slot * flat_currents.shape[0]  # a slot holds 2 x n_dynamic cells, as the receptor rows
    nd = flat_currents.shape[0] // 2
    # one pass that delivers and records (record_spikes is the parallel engine's second pass):
    # two passes here, with gather_spikes through gather_range, ran CUBA 7-9 % slower
    # (bench_against_commit.py, twice), so both keep their one-thread form
    for f in range(n_fired + (e1 - e0)):
        source = fired[f] if f < n_fired else drive.event_id[e0 + f - n_fired]
        q = rec.population_of[source]
        counts[1] += deliver_static(source, q, conn, flat_currents, flat_ring, base, nd, 0, nd)
        rec.population_counts[row, q] += 1
        if rec.spike_record[source]:
            rec.spike_step[counts[0]] = step
            rec.spike_id[counts[0]] = source
            counts[0] += 1


@_inline
def record_spikes(fired, n_fired, drive, row, step, rec):
    """Count and record the step's spikes (neurons by id, then source events as given)."""
    counts = rec.counters
    e0, e1 = drive.event_ptr[row], drive.event_ptr[row + 1]
    for f in range(n_fired + (e1 - e0)):
        source = fired[f] if f < n_fired else drive.event_id[e0 + f - n_fired]
        rec.population_counts[row, rec.population_of[source]] += 1
        if rec.spike_record[source]:
            rec.spike_step[counts[0]] = step
            rec.spike_id[counts[0]] = source
            counts[0] += 1


@_inline
def remember_spikes(history, fired, n_fired, drive, row, step):
    """Keep the step's spikes of neurons with plastic outgoing synapses (neurons by id, then
    source events as given) in the history slot of ``step`` (see reference.remember_spikes)."""
    slot = step % history.counts.shape[0]
    e0, e1 = drive.event_ptr[row], drive.event_ptr[row + 1]
    n = 0
    for f in range(n_fired + (e1 - e0)):
        source = fired[f] if f < n_fired else drive.event_id[e0 + f - n_fired]
        if history.keep[source]:
            history.ids[slot, n] = source
            n += 1
    history.counts[slot] = n


@_jit
def _first_not_finite_synapse(values, n_state):
    """The lowest synapse with a NaN/inf state variable (-1: none); see reference."""
    for k in range(values.shape[0]):
        for r in range(n_state):
            if not abs(values[k, r]) < np.inf:
                return k
    return -1


def run_chunk_for(definitions, synapse_definitions=(), parallel: int = 1):
    """The ``run_chunk`` of a network whose neuron models are ``definitions`` (in layout order)
    and whose plastic kinds run ``synapse_definitions``: generated from the definitions
    (``neurosim.kernels.codegen.numba_source``) once per set of models, compiled on first use
    and cached on disk by Numba. ``parallel`` > 1: the variant that runs the neuron updates and the
    synaptic delivery on that many threads (same spikes; worth it for large networks, where a
    step's work outweighs waking the threads; not for plastic synapses)."""
    key = (definitions, synapse_definitions)  # definitions compare by identity
    if key not in _RUN_CHUNKS:  # writing the source costs ms: a network run in many short calls pays it once
        from ..codegen.modules import load_source
        from ..codegen.numba_source import engine_source

        _RUN_CHUNKS[key] = load_source("engine_numba", engine_source(definitions, synapse_definitions))
    module = _RUN_CHUNKS[key]
    if parallel > 1:
        threads = int(parallel)
        return lambda *args: module.run_chunk_parallel(*args, threads)
    return module.run_chunk


_RUN_CHUNKS: dict = {}
