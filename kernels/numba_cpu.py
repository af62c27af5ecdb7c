"""Numba CPU kernel of the event-driven engine.

One compiled function runs a whole chunk of steps (no Python per step). It performs the
same floating-point operations in the same order as ``reference.py``, so spike trains are
bit-identical to the numpy backend. Compiled functions are cached on disk (``cache=True``)
so only the very first run on a machine pays the compile time.

Speed notes (measured on a 2-core AVX2 machine, CUBA network; see benchmarks/RESULTS.md):
* the LIF loop is written branch-free (selects, refractoriness as a step number) with every
  value loaded up front, so LLVM vectorises it (4 doubles per AVX2 instruction);
* it runs from index 0 over population-sliced arrays: a loop from a run-time start index
  defeated LLVM's bounds analysis (negative-index wrap-around) and ran 4x slower;
* coefficients of a uniform population are passed as scalars and absent inputs (no ring
  input, no external current) as a scalar 0 -- ``_at``/``_plus`` specialise one loop source
  for arrays and scalars -- which keeps the number of arrays under LLVM's run-time alias
  check budget (~30 % faster when inputs are absent);
* helpers that take a named tuple are inlined or called once per step, never per neuron: a
  per-neuron call passes the tuple by value and was measured 10x slower;
* synaptic events find their target cell with one add and one compare (no division).
The first compilation takes 10-20 s of CPU; later runs load the cache in well under a second.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from .layout import STATUS_DONE, STATUS_NOT_FINITE, STATUS_SPIKE_BUFFER_FULL

_jit = numba.njit(cache=True, nogil=True)
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


def _plus_scaled(a, x, g, i):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(_plus_scaled, inline="always")
def _plus_scaled_overload(a, x, g, i):
    """a + x[i] * g for an array x; a for a scalar x ("no such input", as in _plus)."""
    if isinstance(x, types.Array):
        return lambda a, x, g, i: a + x[i] * g
    return lambda a, x, g, i: a


@_jit
def _lif_loop(v, i_exc, i_inh, until, arrive_exc, arrive_inh, ext, spiked, step,
              v_rest, decay_m, gain_exc, gain_inh, gain_ext, v_threshold, v_reset, refractory_steps,
              decay_exc, decay_inh):
    """One step of the LIF neurons held by these (population-sliced) arrays (see
    reference.lif_update), with the arrival of ring input and the decay of the currents fused
    in. Returns the number of non-finite v. Indices start at 0: a loop from a run-time start
    index defeats LLVM's bounds analysis (negative-index wrap-around) and vectorisation."""
    n_bad = 0  # an integer reduction: a float one cannot be vectorised without fast-math
    for i in range(v.shape[0]):
        r, vi = until[i], v[i]
        ie = _plus(i_exc[i], arrive_exc, i)
        ii = _plus(i_inh[i], arrive_inh, i)
        vr = _at(v_rest, i)
        th, reset, ref = _at(v_threshold, i), _at(v_reset, i), _at(refractory_steps, i)
        de, di = _at(decay_exc, i), _at(decay_inh, i)
        _clear(arrive_exc, i)
        _clear(arrive_inh, i)
        v_new = vr + (vi - vr) * _at(decay_m, i) + ie * _at(gain_exc, i) + ii * _at(gain_inh, i)
        v_new = _plus_scaled(v_new, ext, _at(gain_ext, i), i)
        vi = v_new if step >= r else vi
        finite = vi - vi == 0.0  # x - x is NaN for inf and NaN, else 0
        n_bad += not finite
        threshold = th if step >= r else np.inf  # refractory neurons cannot spike
        fire = (vi > threshold) & finite  # an infinite v stays, for the error to find it
        v[i] = reset if fire else vi
        until[i] = step + ref if fire else r
        i_exc[i] = ie * de
        i_inh[i] = ii * di
        spiked[i] = fire
    return n_bad


@_inline
def _lif_update(state, p, j, decay_exc, decay_inh, arrive_exc, arrive_inh, ext, spiked, step):
    """LIF population j. A population with neither ring input nor external current gets the
    scalar 0 for both (three arrays fewer to stream: ~30 % faster); any other gets arrays
    (ring slots with no input are zeros). Two variants only, to keep compile time down."""
    lo, hi = p.lo[j], p.hi[j]
    if p.delayed_input[j] or p.external[j]:
        return _lif_population(state, p, j, decay_exc, decay_inh, arrive_exc[lo:hi], arrive_inh[lo:hi], ext[lo:hi], spiked, step)
    return _lif_population(state, p, j, decay_exc, decay_inh, 0.0, 0.0, 0.0, spiked, step)


@_inline
def _lif_population(state, p, j, decay_exc, decay_inh, arrive_exc, arrive_inh, ext, spiked, step):
    """Coefficients as scalars when the population is uniform (lets LLVM vectorise), else arrays."""
    lo, hi = p.lo[j], p.hi[j]
    if p.uniform[j]:
        return _lif_loop(state.v[lo:hi], state.i_exc[lo:hi], state.i_inh[lo:hi], state.refractory_until[lo:hi],
                         arrive_exc, arrive_inh, ext, spiked[lo:hi], step,
                         p.v_rest[lo], p.decay_m[lo], p.gain_exc[lo], p.gain_inh[lo], p.gain_ext[lo],
                         p.v_threshold[lo], p.v_reset[lo], p.refractory_steps[lo], decay_exc[lo], decay_inh[lo])
    return _lif_loop(state.v[lo:hi], state.i_exc[lo:hi], state.i_inh[lo:hi], state.refractory_until[lo:hi],
                     arrive_exc, arrive_inh, ext, spiked[lo:hi], step,
                     p.v_rest[lo:hi], p.decay_m[lo:hi], p.gain_exc[lo:hi], p.gain_inh[lo:hi], p.gain_ext[lo:hi],
                     p.v_threshold[lo:hi], p.v_reset[lo:hi], p.refractory_steps[lo:hi], decay_exc[lo:hi],
                     decay_inh[lo:hi])


@_jit
def _izhikevich_loop(v, u, i_exc, i_inh, arrive_exc, arrive_inh, ext, spiked, substeps, dt,
                     a, b, c, d, v_peak, k2, k1, k0, v_u, decay_exc, decay_inh):
    """One step of the Izhikevich neurons held by these (population-sliced) arrays (see
    reference.izhikevich_update). Returns the number of non-finite v or u."""
    h = dt / substeps
    n_bad = 0
    for i in range(v.shape[0]):
        ie = i_exc[i] + arrive_exc[i]
        ii = i_inh[i] + arrive_inh[i]
        arrive_exc[i] = 0.0
        arrive_inh[i] = 0.0
        current = ie + ii + ext[i]
        vi, ui = v[i], u[i]
        for _ in range(substeps):
            vi = vi + h * (k2[i] * vi * vi + k1[i] * vi + k0[i] - ui + current)
        ui = ui + dt * (a[i] * (b[i] * (vi - v_u[i]) - ui))
        finite = abs(vi) < np.inf and abs(ui) < np.inf
        n_bad += not finite
        fire = vi >= v_peak[i] and finite  # a non-finite neuron stays, for the error to find it
        v[i] = c[i] if fire else vi
        u[i] = ui + d[i] if fire else ui
        i_exc[i] = ie * decay_exc[i]
        i_inh[i] = ii * decay_inh[i]
        spiked[i] = fire
    return n_bad


@_inline
def _external_current(drive, row, buffer):
    """Constant current, plus this step's noise where there is any (see reference)."""
    if drive.noise_id.shape[0] == 0:
        return drive.i_mean
    buffer[:] = drive.i_mean
    for col in range(drive.noise_id.shape[0]):
        i = drive.noise_id[col]
        buffer[i] = drive.i_mean[i] + drive.noise[row, col]
    return buffer


@_jit
def _first_not_finite(state, lo, hi):
    """First neuron of lo:hi with a non-finite v or u (the loops leave such neurons un-reset)."""
    for i in range(lo, hi):
        if not (abs(state.v[i]) < np.inf and abs(state.u[i]) < np.inf):
            return i
    return lo


@_jit
def _gather_spikes(spiked, fired):
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
def _propagate(source, syn, target, base):
    """Add one spiking neuron's outgoing weights into ``target`` (flat) at ``base + cell``,
    wrapping around its end with a compare: an integer division per synaptic event would
    cost more than the rest of the event. Immediate synapses use base 0 (no wrap)."""
    size = target.shape[0]
    start, stop = syn.indptr[source], syn.indptr[source + 1]
    for k in range(start, stop):
        cell = base + syn.cell[k]
        if cell >= size:
            cell -= size
        target[cell] += syn.weight[k]
    return stop - start


@_inline
def _record_state(state, rec, step, ring, slot):
    """Sample the monitored variables at the start of ``step``. The ring input due now is
    added in the neuron loop that follows; a sampled current includes it (same sum)."""
    for col in range(rec.state_variable.shape[0]):
        if step % rec.state_stride[col] == 0:
            var, i = rec.state_variable[col], rec.state_neuron[col]
            if var == 0:
                value = state.v[i]
            elif var == 1:
                value = state.u[i]
            elif var == 2:
                value = state.i_exc[i] + ring[slot, 0, i]
            else:
                value = state.i_inh[i] + ring[slot, 1, i]
            rec.state_values[rec.state_position[col]] = value
            rec.state_position[col] += 1


@_jit
def run_chunk(first_step, n_steps, dt, state, lif, izh, conn, drive, ring, rec):
    """Numba twin of ``reference.run_chunk``: same arguments, same results."""
    n_dynamic = state.v.shape[0]
    n_slots = ring.shape[0]
    n_recordable = 0
    for i in range(n_dynamic):
        if rec.spike_record[i]:
            n_recordable += 1
    capacity = rec.spike_step.shape[0]
    spiked = np.zeros(8 * ((n_dynamic + 7) // 8), dtype=np.uint8)  # padded to whole words
    fired = np.empty(n_dynamic, dtype=np.int64)
    buffer = np.empty(n_dynamic)
    counts = rec.counters
    flat_ring = ring.reshape(ring.size)
    flat_currents = state.currents.reshape(state.currents.size)
    for row in range(n_steps):
        step = first_step + row
        e0, e1 = drive.event_ptr[row], drive.event_ptr[row + 1]
        if counts[0] + n_recordable + (e1 - e0) > capacity:
            return STATUS_SPIKE_BUFFER_FULL, row
        slot = step % n_slots
        _record_state(state, rec, step, ring, slot)
        arrive_exc, arrive_inh = ring[slot, 0], ring[slot, 1]
        ext = _external_current(drive, row, buffer)
        for j in range(lif.lo.shape[0]):
            if _lif_update(state, lif, j, drive.decay_exc, drive.decay_inh, arrive_exc, arrive_inh, ext, spiked, float(step)):
                counts[2], counts[3] = _first_not_finite(state, lif.lo[j], lif.hi[j]), step
                return STATUS_NOT_FINITE, row
        for j in range(izh.lo.shape[0]):
            lo, hi = izh.lo[j], izh.hi[j]
            if _izhikevich_loop(state.v[lo:hi], state.u[lo:hi], state.i_exc[lo:hi], state.i_inh[lo:hi],
                                arrive_exc[lo:hi], arrive_inh[lo:hi], ext[lo:hi], spiked[lo:hi], izh.substeps[j],
                                dt, izh.a[lo:hi], izh.b[lo:hi], izh.c[lo:hi], izh.d[lo:hi], izh.v_peak[lo:hi],
                                izh.k2[lo:hi], izh.k1[lo:hi], izh.k0[lo:hi], izh.v_u[lo:hi],
                                drive.decay_exc[lo:hi], drive.decay_inh[lo:hi]):
                counts[2], counts[3] = _first_not_finite(state, lo, hi), step
                return STATUS_NOT_FINITE, row
        n_fired = _gather_spikes(spiked, fired)
        base = slot * 2 * n_dynamic
        for f in range(n_fired + (e1 - e0)):
            source = fired[f] if f < n_fired else drive.event_id[e0 + f - n_fired]
            counts[1] += _propagate(source, conn.immediate, flat_currents, 0)
            counts[1] += _propagate(source, conn.delayed, flat_ring, base)
            rec.population_counts[row, rec.population_of[source]] += 1
            if rec.spike_record[source]:
                rec.spike_step[counts[0]] = step
                rec.spike_id[counts[0]] = source
                counts[0] += 1
    return STATUS_DONE, n_steps
