"""Numpy reference implementation of the event-driven engine: the specification.

Each function here is one piece of the math of one time step, written to be obviously
correct; a neuron model's own step is its definition's statements evaluated over arrays
(:mod:`neurosim.kernels.codegen.interpret`). The Numba kernel (``numba.py`` and the loops
generated for each model) performs the same floating-point operations in the same order, so
both backends produce bit-identical spike trains; the tests hold them to it. The language's exp,
log and tanh are evaluated with the C library here (``interpret._libm``), as compiled code
computes them: numpy's own SIMD versions differ from it in the last bit for a few percent of
arguments on CPUs where numpy uses them.
"""

from __future__ import annotations

import numpy as np

from ..codegen.interpret import evaluate, run_statements
from ..layout import (
    STATUS_DONE,
    STATUS_NOT_FINITE,
    STATUS_SPIKE_BUFFER_FULL,
    Drive,
    KindParams,
    NeuronState,
    PlasticSynapses,
    Recorders,
    SpikeHistory,
    StaticSynapses,
)


def deliver_arrivals(state: NeuronState, ring: np.ndarray, step: int) -> None:
    """Add the synaptic input arriving at ``step`` to the receptor variables and clear its slot.

    ``ring`` has shape ``[n_slots, 2, n_dynamic]`` (slot, receptor, neuron).
    """
    slot = step % ring.shape[0]
    state.currents[:] = state.currents + ring[slot]
    ring[slot] = 0.0


def external_current(drive: Drive, row: int) -> np.ndarray:
    """Constant plus noise current of every dynamic neuron for chunk row ``row``."""
    current = drive.i_mean.copy()
    noisy = drive.noise_column >= 0
    current[noisy] = current[noisy] + drive.noise[row, drive.noise_column[noisy]]
    return current


def update_population(definition, state: NeuronState, p: KindParams, j: int, i_ext: np.ndarray, step: int, dt: float):
    """Advance population ``j`` of a model by one step; return (global ids that spiked, global
    ids whose state became NaN/inf -- checked before the reset, which would hide it).

    The definition's update runs over the population's arrays; variables in ``frozen`` keep
    their value while refractory (``step < refractory_until``); a neuron spikes where the
    threshold holds, it is not refractory and its state is finite; then the reset runs on the
    neurons that spiked and their refractory period starts.
    """
    d = definition
    lo, hi, s0 = int(p.lo[j]), int(p.hi[j]), int(p.start[j])
    s, local = slice(lo, hi), slice(s0, s0 + hi - lo)
    scope = {name: state.values[p.rows[r], s] for r, name in enumerate(d.state)}
    scope.update({name: p.coefficients[c, local] for c, name in enumerate(d.coefficients)})
    scope.update({name: int(p.integers[j, c]) for c, name in enumerate(d.integer_parameters)})
    scope.update(dt=dt, i_ext=i_ext[s])
    before = {name: scope[name] for name in d.frozen}
    run_statements(d.update, scope, np, libm=True)  # exp, log, tanh as the Numba engine computes them
    active = True
    if d.refractory is not None:
        until = state.refractory_until[s]
        active = step >= until
        for name in d.frozen:
            scope[name] = np.where(active, scope[name], before[name])
    finite = np.logical_and.reduce([np.isfinite(scope[m]) for m in d.membrane_variables])
    bad = lo + np.flatnonzero(~finite)
    fire = np.asarray(evaluate(d.threshold, scope, np, libm=True)) & active & finite
    for statement in d.reset:
        scope[statement.target] = np.where(fire, evaluate(statement.expr, scope, np, libm=True), scope[statement.target])
    if d.refractory is not None:
        until[:] = np.where(fire, step + p.refractory_steps[local], until)
    for r, name in enumerate(d.state):
        state.values[p.rows[r], s] = scope[name]
    return lo + np.flatnonzero(fire), bad


def static_synapses_of(spikes: np.ndarray, syn: StaticSynapses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The static synapses the spikes reach, in summation order: spike order, then projections
    in creation order, then row order. Returns (index of the spike in ``spikes``, pool position,
    projection) of each."""
    ranks, positions, projections = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for p in range(syn.row_start.size):
        rank = np.flatnonzero((spikes >= syn.source_lo[p]) & (spikes < syn.source_lo[p] + syn.source_n[p]))
        rows = syn.row_start[p] + spikes[rank] - syn.source_lo[p]
        starts, stops = syn.indptr[rows], syn.indptr[rows + 1]
        lengths = stops - starts
        ranks.append(np.repeat(rank, lengths))
        positions.append(np.arange(lengths.sum()) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths))
        projections.append(np.full(int(lengths.sum()), p, dtype=np.int64))
    rank = np.concatenate(ranks)
    order = np.argsort(rank, kind="stable")  # spike-major; projections and rows keep their order
    return rank[order], np.concatenate(positions)[order], np.concatenate(projections)[order]


def static_delays(syn: StaticSynapses, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Delays (steps, int64) of the synapses at pool positions ``k`` of projections ``p``."""
    delay = syn.fixed_delay[p].copy()
    varying = delay == 0
    delay[varying] = syn.delay[k[varying] + syn.delay_shift[p[varying]]]
    return delay


def propagate_spikes_csr(spikes: np.ndarray, step: int, conn: StaticSynapses, state: NeuronState, ring: np.ndarray) -> int:
    """Deliver the spikes of ``step``: one-step synapses add their weight straight into the
    target currents, longer delays into the ring buffer slot of ``step + delay``.

    Only the CSR rows of ``spikes`` are touched: work is proportional to spikes x fan-out.
    Returns the number of synaptic events delivered.
    """
    if spikes.size == 0:
        return 0
    _, k, p = static_synapses_of(spikes, conn)
    target = conn.target_lo[p] + conn.target[k]
    receptor, delay = conn.receptor[p], static_delays(conn, k, p)
    weight = conn.weight[k].astype(np.float64)  # float32 weights add exactly into float64 currents
    now = delay == 1
    np.add.at(state.currents, (receptor[now], target[now]), weight[now])
    later = ~now
    slots = (step + delay[later]) % ring.shape[0]
    np.add.at(ring, (slots, receptor[later], target[later]), weight[later])
    return int(k.size)


def remember_spikes(history: SpikeHistory, spikes: np.ndarray, step: int) -> None:
    """Keep the step's spikes of neurons with plastic outgoing synapses (in spike order) in the
    history slot of ``step``, for their arrivals up to the longest plastic delay later."""
    slot = step % history.counts.size
    kept = spikes[history.keep[spikes]]
    history.ids[slot, : kept.size] = kept
    history.counts[slot] = kept.size


def _synapse_event(definition, statements, syn: PlasticSynapses, k: np.ndarray, state: NeuronState, step: int,
                   dt: float, event: bool) -> int:
    """Run a rule's ``statements`` on synapses ``k`` (distinct); ``event``: an arrival or a
    postsynaptic spike (``elapsed`` defined, ``last`` set to ``step``), else the periodic update.
    An arrival adds ``release`` to the target receptors in the order of ``k``. Returns whether
    some state became NaN/inf."""
    d = definition
    last = len(d.state)  # the column of the last event's step
    scope = {name: syn.values[k, r] for r, name in enumerate(d.state)}
    rows = k if syn.coefficients.shape[0] > 1 else 0
    scope.update({name: syn.coefficients[rows, c] for c, name in enumerate(d.coefficients)})
    scope["dt"] = dt
    if event:
        scope["elapsed"] = (step - syn.values[k, last]) * dt
        targets = syn.target[k]
        scope.update({name: state.values[syn.post_rows[j], targets] for j, name in enumerate(d.post_reads)})
    run_statements(statements, scope, np, libm=True)  # exp as the Numba engine computes it
    if statements is d.on_pre:
        flat = state.currents.reshape(-1)  # a view: the receptor rows are contiguous
        np.add.at(flat, syn.cell[k], np.broadcast_to(scope["release"], k.shape))
    finite = np.ones(k.size, dtype=bool)
    for r, name in enumerate(d.state):
        value = np.broadcast_to(scope[name], k.shape)
        syn.values[k, r] = value
        finite &= np.isfinite(value)
    if event:
        syn.values[k, last] = step
    return not finite.all()


def first_not_finite_synapse(definition, syn: PlasticSynapses) -> int:
    """The lowest synapse whose state is NaN/inf (-1: none): the synapse a run names when a
    step's events made some state non-finite."""
    bad = np.flatnonzero(~np.all(np.isfinite(syn.values[:, : len(definition.state)]), axis=1))
    return int(bad[0]) if bad.size else -1


def run_synapses(definition, syn: PlasticSynapses, history: SpikeHistory, state: NeuronState, fired: np.ndarray,
                 step: int, dt: float) -> tuple[int, int]:
    """The plastic synapses of one kind at the end of ``step``: arrivals (delay by delay, then
    in the history's spike order, then synapse order: ``on_pre``), then the postsynaptic spikes
    ``fired`` (``on_post`` on each one's incoming synapses), then the periodic update when a
    period ends with this step. Returns (arrivals processed, the lowest synapse whose state is
    NaN/inf after an event of the step made some state non-finite, or -1)."""
    d = definition
    n_slots, arrivals, bad = history.counts.size, 0, False
    for delay in syn.delays:
        slot = (step - delay + 1) % n_slots
        for source in history.ids[slot, : history.counts[slot]]:
            lo, hi = syn.indptr[source], syn.indptr[source + 1]
            first = lo + np.searchsorted(syn.delay[lo:hi], delay, side="left")
            stop = lo + np.searchsorted(syn.delay[lo:hi], delay, side="right")
            if stop > first:
                bad |= _synapse_event(d, d.on_pre, syn, np.arange(first, stop), state, step, dt, True)
                arrivals += stop - first
    for i in fired:
        k = syn.post_syn[syn.post_ptr[i] : syn.post_ptr[i + 1]]
        if k.size and d.on_post:
            bad |= _synapse_event(d, d.on_post, syn, k, state, step, dt, True)
    period = int(syn.period[0])
    if period and (step + 1) % period == 0 and d.periodic:
        bad |= _synapse_event(d, d.periodic, syn, np.arange(syn.values.shape[0]), state, step, dt, False)
    return int(arrivals), first_not_finite_synapse(d, syn) if bad else -1


def run_chunk(
    first_step: int,
    n_steps: int,
    dt: float,
    state: NeuronState,
    kinds: tuple,
    conn: StaticSynapses,
    drive: Drive,
    ring: np.ndarray,
    rec: Recorders,
    plastic: tuple = (),
    history: SpikeHistory | None = None,
    definitions: tuple = (),
    synapse_definitions: tuple = (),
) -> tuple[int, int]:
    """Run steps ``first_step .. first_step + n_steps - 1``; return ``(status, steps_done)``.

    ``kinds[k]`` holds the populations of the model ``definitions[k]`` (layout order);
    ``plastic[m]`` the plastic synapses of the synapse model ``synapse_definitions[m]``, whose
    presynaptic spikes ``history`` keeps. Stops early with STATUS_SPIKE_BUFFER_FULL before a step whose spikes might not fit the
    recorder (the caller grows it and calls again), or with STATUS_NOT_FINITE after a step
    that left a state variable NaN/inf (neuron and step in ``rec.counters[2:4]``).
    """
    n_recordable = int(rec.spike_record[: state.values.shape[1]].sum())
    capacity = rec.spike_step.size
    with np.errstate(all="ignore"):  # blow-ups are detected and reported below
        for row in range(n_steps):
            step = first_step + row
            events = drive.event_id[drive.event_ptr[row] : drive.event_ptr[row + 1]]
            if rec.counters[0] + n_recordable + events.size > capacity:
                return STATUS_SPIKE_BUFFER_FULL, row
            deliver_arrivals(state, ring, step)
            # State monitors sample the state at the start of the step (time step * dt), with
            # every input due at this step delivered (as Brian2's monitors see it).
            for col in range(rec.state_variable.size):
                if step % rec.state_stride[col] == 0:
                    rec.state_values[rec.state_position[col]] = state.values[rec.state_variable[col], rec.state_neuron[col]]
                    rec.state_position[col] += 1
            i_ext = external_current(drive, row)
            updates = [update_population(d, state, p, j, i_ext, step, dt)
                       for d, p in zip(definitions, kinds) for j in range(p.lo.size)]
            for _, bad in updates:  # the first population (in layout order) with a blow-up stops the run
                if bad.size:
                    rec.counters[2], rec.counters[3] = bad[0], step
                    return STATUS_NOT_FINITE, row
            # Dynamic neurons in id order (populations are laid out kind by kind), then source
            # events in their given order: this is the summation order of the ring.
            spikes = np.concatenate([spiked for spiked, _ in updates] + [events]).astype(np.int64, copy=False)
            rec.counters[1] += propagate_spikes_csr(spikes, step, conn, state, ring)
            np.add.at(rec.population_counts[row], rec.population_of[spikes], 1)
            recorded = spikes[rec.spike_record[spikes]]
            n0 = rec.counters[0]
            rec.spike_step[n0 : n0 + recorded.size] = step
            rec.spike_id[n0 : n0 + recorded.size] = recorded
            rec.counters[0] = n0 + recorded.size
            if plastic:
                remember_spikes(history, spikes, step)
                fired = spikes[: spikes.size - events.size]
                for m, (d, syn) in enumerate(zip(synapse_definitions, plastic)):
                    arrivals, bad = run_synapses(d, syn, history, state, fired, step, dt)
                    rec.counters[1] += arrivals
                    if bad >= 0 and rec.counters[4] == 0:
                        rec.counters[4], rec.counters[5], rec.counters[3] = m + 1, bad, step
                if rec.counters[4]:
                    return STATUS_NOT_FINITE, row + 1
    return STATUS_DONE, n_steps
