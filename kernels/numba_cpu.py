"""Numba CPU kernel of the event-driven engine.

One compiled function runs a whole chunk of steps (no Python per step). It performs the
same floating-point operations in the same order as ``reference.py``, so spike trains are
bit-identical to the numpy backend. Compiled functions are cached on disk (``cache=True``)
so only the very first run on a machine pays the compile time.
"""

from __future__ import annotations

import numba
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
)

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _is_finite(x):
    return abs(x) < np.inf


@_jit
def _lif_update(state, p, drive, ring, slot, row, lo, hi, fired, n_fired):
    """Advance LIF neurons lo:hi by one step (see reference.lif_update), fusing the arrival of
    ring input and the current decay into the same pass. Returns (n_fired, bad id or -1)."""
    v, ref = state.v, state.refractory
    for i in range(lo, hi):
        ie = state.i_exc[i] + ring[slot, 0, i]
        ii = state.i_inh[i] + ring[slot, 1, i]
        ring[slot, 0, i] = 0.0
        ring[slot, 1, i] = 0.0
        i_ext = drive.i_mean[i]  # written out: a helper taking `drive` is not inlined (10x slower)
        if drive.noise_column[i] >= 0:
            i_ext = i_ext + drive.noise[row, drive.noise_column[i]]
        if ref[i] > 0:
            ref[i] -= 1
        else:
            v[i] = p.v_rest[i] + (v[i] - p.v_rest[i]) * p.decay_m[i] + ie * p.gain_exc[i] + ii * p.gain_inh[i] + i_ext * p.gain_ext[i]
            if not _is_finite(v[i]):
                return n_fired, i
        state.i_exc[i] = ie * drive.decay_exc[i]
        state.i_inh[i] = ii * drive.decay_inh[i]
        if v[i] > p.v_threshold[i] and ref[i] == 0:
            v[i] = p.v_reset[i]
            ref[i] = p.refractory_steps[i]
            fired[n_fired] = i
            n_fired += 1
    return n_fired, -1


@_jit
def _izhikevich_update(state, p, drive, ring, slot, row, lo, hi, substeps, dt, fired, n_fired):
    """Advance Izhikevich neurons lo:hi by one step (see reference.izhikevich_update)."""
    v, u = state.v, state.u
    h = dt / substeps
    for i in range(lo, hi):
        ie = state.i_exc[i] + ring[slot, 0, i]
        ii = state.i_inh[i] + ring[slot, 1, i]
        ring[slot, 0, i] = 0.0
        ring[slot, 1, i] = 0.0
        i_ext = drive.i_mean[i]
        if drive.noise_column[i] >= 0:
            i_ext = i_ext + drive.noise[row, drive.noise_column[i]]
        current = ie + ii + i_ext
        vi, ui = v[i], u[i]
        for _ in range(substeps):
            vi = vi + h * (0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current)
        ui = ui + dt * (p.a[i] * (p.b[i] * vi - ui))
        if not (_is_finite(vi) and _is_finite(ui)):
            return n_fired, i
        state.i_exc[i] = ie * drive.decay_exc[i]
        state.i_inh[i] = ii * drive.decay_inh[i]
        if vi >= p.v_peak[i]:
            vi = p.c[i]
            ui = ui + p.d[i]
            fired[n_fired] = i
            n_fired += 1
        v[i], u[i] = vi, ui
    return n_fired, -1


@_jit
def _propagate(source, step, syn, ring):
    """Add one spiking neuron's outgoing weights into the ring at step + delay."""
    n_slots = ring.shape[0]
    start, stop = syn.indptr[source], syn.indptr[source + 1]
    for k in range(start, stop):
        slot = (step + syn.delay[k]) % n_slots
        ring[slot, syn.receptor[k], syn.target[k]] += syn.weight[k]
    return stop - start


@_jit
def run_chunk(first_step, n_steps, dt, state, lif, izh, syn, drive, ring, rec):
    """Numba twin of ``reference.run_chunk``: same arguments, same results."""
    n_dynamic = state.v.shape[0]
    n_slots = ring.shape[0]
    n_recordable = 0
    for i in range(n_dynamic):
        if rec.spike_record[i]:
            n_recordable += 1
    capacity = rec.spike_step.shape[0]
    fired = np.empty(n_dynamic, dtype=np.int64)
    counts = rec.counters
    for row in range(n_steps):
        step = first_step + row
        e0, e1 = drive.event_ptr[row], drive.event_ptr[row + 1]
        if counts[0] + n_recordable + (e1 - e0) > capacity:
            return STATUS_SPIKE_BUFFER_FULL, row
        for col in range(rec.state_variable.shape[0]):
            if step % rec.state_stride[col] == 0:
                var, i = rec.state_variable[col], rec.state_neuron[col]
                if var == 0:
                    value = state.v[i]
                elif var == 1:
                    value = state.u[i]
                elif var == 2:
                    value = state.i_exc[i]
                else:
                    value = state.i_inh[i]
                rec.state_values[rec.state_position[col]] = value
                rec.state_position[col] += 1
        slot = step % n_slots
        n_fired = 0
        for j in range(lif.lo.shape[0]):
            n_fired, bad = _lif_update(state, lif, drive, ring, slot, row, lif.lo[j], lif.hi[j], fired, n_fired)
            if bad >= 0:
                counts[2], counts[3] = bad, step
                return STATUS_NOT_FINITE, row
        for j in range(izh.lo.shape[0]):
            n_fired, bad = _izhikevich_update(state, izh, drive, ring, slot, row, izh.lo[j], izh.hi[j], izh.substeps[j], dt, fired, n_fired)
            if bad >= 0:
                counts[2], counts[3] = bad, step
                return STATUS_NOT_FINITE, row
        for f in range(n_fired + (e1 - e0)):
            source = fired[f] if f < n_fired else drive.event_id[e0 + f - n_fired]
            counts[1] += _propagate(source, step, syn, ring)
            rec.population_counts[row, rec.population_of[source]] += 1
            if rec.spike_record[source]:
                rec.spike_step[counts[0]] = step
                rec.spike_id[counts[0]] = source
                counts[0] += 1
    return STATUS_DONE, n_steps


__all__ = ["run_chunk", "NeuronState", "LIFParams", "IzhikevichParams", "Synapses", "Drive", "Recorders"]
