"""Numpy reference implementation of the event-driven engine: the specification.

Each function here is one piece of the math of one time step, written to be obviously
correct. The Numba kernel (``numba_cpu.py``) performs the same floating-point operations in
the same order, so both backends produce bit-identical spike trains; the tests hold them to it.
"""

from __future__ import annotations

import numpy as np

from .layout import (
    STATUS_DONE,
    STATUS_NOT_FINITE,
    STATUS_SPIKE_BUFFER_FULL,
    Drive,
    IzhikevichParams,
    LIFParams,
    NeuronState,
    Recorders,
    Synapses,
    Connectivity,
)


def deliver_arrivals(state: NeuronState, ring: np.ndarray, step: int) -> None:
    """Add the synaptic input arriving at ``step`` to the currents and clear its slot.

    ``ring`` has shape ``[n_slots, 2, n_dynamic]`` (slot, receptor, neuron).
    """
    slot = step % ring.shape[0]
    state.i_exc[:] = state.i_exc + ring[slot, 0]
    state.i_inh[:] = state.i_inh + ring[slot, 1]
    ring[slot] = 0.0


def external_current(drive: Drive, row: int) -> np.ndarray:
    """Constant plus noise current of every dynamic neuron for chunk row ``row``."""
    current = drive.i_mean.copy()
    noisy = drive.noise_column >= 0
    current[noisy] = current[noisy] + drive.noise[row, drive.noise_column[noisy]]
    return current


def lif_update(state: NeuronState, p: LIFParams, i_ext: np.ndarray, lo: int, hi: int, step: int):
    """Advance LIF neurons ``lo:hi`` by one step; return (global ids that spiked, global ids
    whose v became NaN/inf -- checked before the reset, which would hide an infinite v).

    Exact integration of ``tau_m dv/dt = v_rest - v + i_exc + i_inh + i_ext`` with
    exponentially decaying synaptic currents; ``v`` is frozen while refractory (as in Brian2).
    Spikes when ``v > v_threshold`` and not refractory; then ``v = v_reset``.
    """
    s = slice(lo, hi)
    v, ie, ii, until = state.v[s], state.i_exc[s], state.i_inh[s], state.refractory_until[s]
    v_new = p.v_rest[s] + (v - p.v_rest[s]) * p.decay_m[s] + ie * p.gain_exc[s] + ii * p.gain_inh[s] + i_ext[s] * p.gain_ext[s]
    v[:] = np.where(step >= until, v_new, v)
    finite = np.isfinite(v)
    bad = lo + np.flatnonzero(~finite)
    spiked = (v > p.v_threshold[s]) & (step >= until) & finite
    v[spiked] = p.v_reset[s][spiked]
    until[spiked] = step + p.refractory_steps[s][spiked]
    return lo + np.flatnonzero(spiked), bad


def izhikevich_update(
    state: NeuronState, p: IzhikevichParams, i_ext: np.ndarray, lo: int, hi: int, substeps: int, dt: float
):
    """Advance Izhikevich (2003) neurons ``lo:hi`` by one step; return (global ids that
    spiked, global ids whose v or u became NaN/inf, checked before the reset).

    ``v`` takes ``substeps`` Euler steps of ``dt / substeps`` (the paper: two 0.5 ms steps per
    1 ms), then ``u`` one Euler step using the new ``v``. Spike when ``v >= v_peak``:
    ``v = c``, ``u = u + d``.
    """
    s = slice(lo, hi)
    v, u = state.v[s], state.u[s]
    current = state.i_exc[s] + state.i_inh[s] + i_ext[s]
    h = dt / substeps
    for _ in range(substeps):
        v[:] = v + h * (p.k2[s] * v * v + p.k1[s] * v + p.k0[s] - u + current)
    u[:] = u + dt * (p.a[s] * (p.b[s] * (v - p.v_u[s]) - u))
    finite = np.isfinite(v) & np.isfinite(u)
    bad = lo + np.flatnonzero(~finite)
    spiked = (v >= p.v_peak[s]) & finite
    v[spiked] = p.c[s][spiked]
    u[spiked] = u[spiked] + p.d[s][spiked]
    return lo + np.flatnonzero(spiked), bad


def decay_currents(state: NeuronState, drive: Drive) -> None:
    """Exponential decay of the synaptic currents over one step (decay 0 = one-step pulse)."""
    state.i_exc[:] = state.i_exc * drive.decay_exc
    state.i_inh[:] = state.i_inh * drive.decay_inh


def _synapses_of(spikes: np.ndarray, syn: Synapses) -> np.ndarray:
    """Synapse indices of the spiking rows, in spike order then CSR order (the summation order)."""
    starts, stops = syn.indptr[spikes], syn.indptr[spikes + 1]
    lengths = stops - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return np.arange(lengths.sum()) + offsets


def propagate_spikes_csr(spikes: np.ndarray, step: int, conn: Connectivity, state: NeuronState, ring: np.ndarray) -> int:
    """Deliver the spikes of ``step``: one-step synapses add their weight straight into the
    target currents, longer delays into the ring buffer slot of ``step + delay``.

    Only the CSR rows of ``spikes`` are touched: work is proportional to spikes x fan-out.
    Returns the number of synaptic events delivered.
    """
    if spikes.size == 0:
        return 0
    now = conn.immediate
    k = _synapses_of(spikes, now)
    np.add.at(state.currents, (now.receptor[k], now.target[k]), now.weight[k])
    later = conn.delayed
    k2 = _synapses_of(spikes, later)
    slots = (step + later.delay[k2]) % ring.shape[0]
    np.add.at(ring, (slots, later.receptor[k2], later.target[k2]), later.weight[k2])
    return int(k.size + k2.size)


def run_chunk(
    first_step: int,
    n_steps: int,
    dt: float,
    state: NeuronState,
    lif: LIFParams,
    izh: IzhikevichParams,
    conn: Connectivity,
    drive: Drive,
    ring: np.ndarray,
    rec: Recorders,
) -> tuple[int, int]:
    """Run steps ``first_step .. first_step + n_steps - 1``; return ``(status, steps_done)``.

    Stops early with STATUS_SPIKE_BUFFER_FULL before a step whose spikes might not fit the
    recorder (the caller grows it and calls again), or with STATUS_NOT_FINITE after a step
    that left a membrane NaN/inf (neuron and step in ``rec.counters[2:4]``).
    """
    n_recordable = int(rec.spike_record[: state.v.size].sum())
    capacity = rec.spike_step.size
    state_vars = (state.v, state.u, state.i_exc, state.i_inh)
    with np.errstate(over="ignore", invalid="ignore"):  # blow-ups are detected and reported below
        return _run_steps(first_step, n_steps, dt, state, lif, izh, conn, drive, ring, rec, n_recordable, capacity, state_vars)


def _run_steps(first_step, n_steps, dt, state, lif, izh, conn, drive, ring, rec, n_recordable, capacity, state_vars):
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
                value = state_vars[rec.state_variable[col]][rec.state_neuron[col]]
                rec.state_values[rec.state_position[col]] = value
                rec.state_position[col] += 1
        i_ext = external_current(drive, row)
        updates = [lif_update(state, lif, i_ext, int(lif.lo[j]), int(lif.hi[j]), step) for j in range(lif.lo.size)]
        updates += [izhikevich_update(state, izh, i_ext, int(izh.lo[j]), int(izh.hi[j]), int(izh.substeps[j]), dt)
                    for j in range(izh.lo.size)]
        for _, bad in updates:  # the first population (in layout order) with a blow-up stops the run
            if bad.size:
                rec.counters[2], rec.counters[3] = bad[0], step
                return STATUS_NOT_FINITE, row
        fired = [spiked for spiked, _ in updates]
        decay_currents(state, drive)
        # Dynamic neurons in id order (populations are laid out LIF first, then Izhikevich),
        # then source events in their given order: this is the summation order of the ring.
        spikes = np.concatenate(fired + [events]).astype(np.int64, copy=False)
        rec.counters[1] += propagate_spikes_csr(spikes, step, conn, state, ring)
        np.add.at(rec.population_counts[row], rec.population_of[spikes], 1)
        recorded = spikes[rec.spike_record[spikes]]
        n0 = rec.counters[0]
        rec.spike_step[n0 : n0 + recorded.size] = step
        rec.spike_id[n0 : n0 + recorded.size] = recorded
        rec.counters[0] = n0 + recorded.size
    return STATUS_DONE, n_steps
