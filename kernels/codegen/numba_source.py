"""Source of the Numba engine for the neuron models of one network.

For each model (a definition, "kind") it writes a per-neuron loop -- the definition's update,
threshold and reset as scalar code, with the arrival of ring-buffer input fused in -- and a
``run_chunk`` that calls the loops of the network's kinds in layout order and otherwise uses
the shared, hand-written parts of :mod:`neurosim.kernels.engine.numba` (propagation, recording,
spike gathering). The loop performs the reference's floating-point operations in its order
(:mod:`.interpret`), so spikes match the numpy engine bit for bit (the numpy engine evaluates
``exp``, ``log`` and ``tanh`` with the C library, as compiled code does).

Speed (the built-ins' hand-written loops were measured into this shape, benchmarks/RESULTS.md):
the loop runs from index 0 over population-sliced arrays (a run-time start index defeats
LLVM's bounds analysis and vectorisation); it is branch-free (selects); a uniform population
gets its coefficients as scalars, and a population without ring input or external current
gets the scalar 0 for them (fewer arrays to stream: ~30 % faster) -- ``_at``/``_plus``/
``_clear`` specialise one loop source for arrays and scalars.
"""

from __future__ import annotations

import ast
import dataclasses

from .ir import FoldZero, Repeat, ReplaceNames, Rewrite, Substitute, emit, names_in, term_names



# The language as scalar Numba code; and/or as & | keep the loop branch-free (vectorisable).
_scalar = Rewrite(functions={"exp": "_np.exp", "log": "_np.log", "sqrt": "_np.sqrt", "tanh": "_np.tanh",
                             "minimum": "_min", "maximum": "_max", "where": "_where"})


def scalar(expr: ast.expr) -> str:
    """Python source of an expression for scalar Numba code."""
    return ast.unparse(_scalar(expr))


def loop_arguments(d) -> list[str]:
    """Argument names of a kind's loop, in order (the wrapper passes them so)."""
    args = ["_n"] + [f"_a_{k}" for k in d.state] + [f"_arrive_{r}" for r in d.inputs] + ["_ext"]
    if d.refractory is not None:
        args += ["_until"]
    args += ["_spiked", "_step", "dt"] + [f"_c_{k}" for k in d.coefficients]
    if d.refractory is not None:
        args += ["_refractory"]
    return args + list(d.integer_parameters)


#: Counts of a ``for _ in range(k)`` over an integer parameter that get their own unrolled loop.
UNROLLED_COUNTS = (1, 2)


def _repeat_counts(statements) -> list[str]:
    """The integer parameters that count ``for _ in range(k)`` loops in ``statements``."""
    out = []
    for s in statements:
        if isinstance(s, Repeat):
            if isinstance(s.count, str) and s.count not in out:
                out.append(s.count)
            out += [c for c in _repeat_counts(s.body) if c not in out]
    return out


def _unrolled(statements, counts: dict) -> list:
    """``statements`` with the loops over the parameters in ``counts`` written out that many times."""
    out = []
    for s in statements:
        if isinstance(s, Repeat) and s.count in counts:
            out += _unrolled(s.body, counts) * counts[s.count]
        elif isinstance(s, Repeat):
            out.append(Repeat(s.count, tuple(_unrolled(s.body, counts))))
        else:
            out.append(s)
    return out


def kind_loop(d, k: int, alone: bool = False) -> str:
    """Source of the per-neuron loop of definition ``d`` (kind number ``k``). ``alone``: the
    variant for populations without ring input or external current, with ``i_ext`` folded
    away as 0 (see ``ir.FoldZero``) -- the hand-written LIF loop skipped that term too."""
    used = names_in([*d.update, *d.reset], d.threshold)
    render = (lambda e: scalar(FoldZero(["i_ext"])(e))) if alone else scalar
    body = []
    for var in d.state:
        receptor = next((r for r, v in d.inputs.items() if v == var), None)
        if receptor is None:
            body.append(f"{var} = _a_{var}[_i]")
        else:
            body += [f"{var} = _plus(_a_{var}[_i], _arrive_{receptor}, _i)", f"_clear(_arrive_{receptor}, _i)"]
    if "i_ext" in used and not alone:
        body.append("i_ext = _at(_ext, _i)")
    body += [f"{c} = _at(_c_{c}, _i)" for c in d.coefficients]
    refractory = d.refractory is not None
    if refractory:
        body += ["_r = _until[_i]", "_active = _step >= _r"] + [f"_old_{f} = {f}" for f in d.frozen]
    body.append("{update}")  # placeholder: the update, per variant below
    if refractory:
        body += [f"{f} = {f} if _active else _old_{f}" for f in d.frozen]
    body.append("_finite = " + " & ".join(f"({m} - {m} == 0.0)" for m in d.membrane_variables) + "  # x - x: NaN for inf and NaN")
    body.append("_n_bad += not _finite")
    body.append(f"_fire = ({render(d.threshold)}){' & _active' if refractory else ''} & _finite"
                "  # a non-finite neuron stays, for the error to find it")
    body += emit(d.reset, render, select=lambda value, target: f"({value}) if _fire else {target}")
    body += [f"_a_{var}[_i] = {var}" for var in d.state]
    if refractory:  # stored after the state: storing it first ran the LIF loop ~20 % slower (measured)
        body.append("_until[_i] = _step + _at(_refractory, _i) if _fire else _r")
    body.append("_spiked[_i] = _fire")
    def neuron_loop(counts: dict, indent: str) -> list[str]:
        update = emit(_unrolled(d.update, counts), render)
        out = [f"{indent}for _i in range(_n):"]
        for line in body:
            out += [f"{indent}    {u}" for u in update] if line == "{update}" else [f"{indent}    {line}"]
        return out

    lines = ["@_jit", f"def _loop_{k}{'_alone' if alone else ''}({', '.join(loop_arguments(d))}):",
             f'    """One step of {d.name} neurons held by these (population-sliced) arrays; returns the',
             '    number of neurons whose state became NaN/inf."""',
             "    _n_bad = 0"]
    counted = _repeat_counts(d.update)
    if len(counted) == 1:
        # the neuron loop once per usual count of its sub-step loop, written out: straight code the
        # compiler vectorises (a loop of run-time length inside kept the Izhikevich loop scalar,
        # 5x slower, measured), chosen once per population, not per neuron
        for n, count in enumerate(UNROLLED_COUNTS):
            lines.append(f"    {'if' if n == 0 else 'elif'} {counted[0]} == {count}:")
            lines += neuron_loop({counted[0]: count}, " " * 8)
        lines.append("    else:")
        lines += neuron_loop({}, " " * 8)
    else:
        lines += neuron_loop({}, " " * 4)
    lines.append("    return _n_bad")
    return "\n".join(lines)


def kind_population(d, k: int) -> str:
    """Source of the wrapper that calls kind ``k``'s loop for population ``j`` in its variants."""
    def call(inputs: bool, uniform: bool) -> str:
        args = ["_hi - _lo"] + [f"_state.values[_p.rows[{r}], _lo:_hi]" for r in range(len(d.state))]
        args += [f"_arrive_{r}[_lo:_hi]" if inputs else "0.0" for r in d.inputs]
        args.append("_ext[_lo:_hi]" if inputs else "0.0")
        if d.refractory is not None:
            args.append("_state.refractory_until[_lo:_hi]")
        args += ["_spiked[_lo:_hi]", "_step", "dt"]
        coefficient = (lambda c: f"_p.coefficients[{c}, _s]") if uniform else (lambda c: f"_p.coefficients[{c}, _s:_s + _hi - _lo]")
        args += [coefficient(c) for c in range(len(d.coefficients))]
        if d.refractory is not None:
            args.append("_p.refractory_steps[_s]" if uniform else "_p.refractory_steps[_s:_s + _hi - _lo]")
        args += [f"_p.integers[_j, {c}]" for c in range(len(d.integer_parameters))]
        return f"_loop_{k}{'' if inputs else '_alone'}({', '.join(args)})"

    return "\n".join([
        "@_inline",
        f"def _population_{k}(_state, _p, _j, _a, _b, _arrive_exc, _arrive_inh, _ext, _spiked, _step, dt):",
        f'    """Neurons _a:_b of {d.name} population j: coefficients as scalars when uniform (lets LLVM',
        '    vectorise), and scalar zeros for absent inputs (fewer arrays to stream)."""',
        "    _lo, _hi, _s = _p.lo[_j] + _a, _p.lo[_j] + _b, _p.start[_j] + _a",
        "    if _p.inputs[_j]:",
        "        if _p.uniform[_j]:",
        f"            return {call(True, True)}",
        f"        return {call(True, False)}",
        "    if _p.uniform[_j]:",
        f"        return {call(False, True)}",
        f"    return {call(False, False)}",
    ])


def synapse_function(d, m: int) -> str:
    """Source of the function that runs plastic kind ``m`` (synapse model ``d``) at the end of a
    step: arrivals (``on_pre``), postsynaptic spikes (``on_post``), the periodic update -- the
    reference's ``run_synapses``, one synapse at a time in the same order."""
    last = len(d.state)  # column of the last event's step in _syn.values

    def body(statements, event: bool, indent: str) -> list[str]:
        releases = statements is d.on_pre
        if event and d.elapsed_terms:
            # event-driven decays from their table (one load instead of a division and an exp);
            # computed as written past the table's end or where the parameters vary per synapse
            terms = Substitute(term_names(d.elapsed_terms))
            statements = tuple(dataclasses.replace(s, expr=terms(s.expr)) for s in statements)
        used = names_in(statements)
        out = [f"{v} = _syn.values[_k, {r}]" for r, v in enumerate(d.state)]
        out += [f"{c} = _syn.coefficients[_k * _per_synapse, {j}]" for j, c in enumerate(d.coefficients) if c in used]
        if event:
            # the last event's step is a float64 holding a whole number: _n is exact
            out += [f"_n = _step - _syn.values[_k, {last}]", "elapsed = _n * dt", "_i_n = int(_n)"]
            out += [f"{name} = _values[_syn.post_rows[{j}], _syn.target[_k]]"
                    for j, name in enumerate(d.post_reads) if name in used]
            for j, term in enumerate(d.elapsed_terms):
                if f"_t{j}" in used:
                    # the parameters of the term read only where it is computed (past the table)
                    loads = {c: ast.parse(f"_syn.coefficients[_k * _per_synapse, {i}]", mode="eval").body
                             for i, c in enumerate(d.coefficients) if c not in used}
                    computed = scalar(ReplaceNames(loads)(term))
                    out.append(f"_t{j} = _syn.tables[{j}, _i_n] if _i_n < _len{j} else {computed}")
        out += emit(statements, scalar)
        if releases:
            out.append("_flat[_syn.cell[_k]] += release")
        out += [f"_syn.values[_k, {r}] = {v}" for r, v in enumerate(d.state)]
        if event:
            out.append(f"_syn.values[_k, {last}] = _step")
        # x - x is 0 for a finite x, NaN for inf and NaN; one add on the accumulator's chain per event
        out.append("_check += " + " + ".join(f"({v} - {v})" for v in d.state))
        return [indent + line for line in out]

    # inlined into run_chunk: a call per step passed the named tuples by value (measured 0.3 us a step)
    lines = ["@_inline", f"def _synapses_{m}(_syn, _history, _values, _flat, _fired, _n_fired, _step, dt):",
             f'    """Plastic synapses of model {d.name} at the end of a step; returns (arrivals, the lowest',
             '    synapse whose state is NaN/inf when an event made some state non-finite, or -1)."""',
             "    _n_slots = _history.counts.shape[0]",
             "    _per_synapse = 1 if _syn.coefficients.shape[0] > 1 else 0  # else one row for all",
             "    _arrivals = 0",
             "    _check = 0.0",
             *[f"    _len{j} = _syn.table_len[{j}]" for j in range(len(d.elapsed_terms))],
             "    for _di in range(_syn.delays.shape[0]):",
             "        _delay = _syn.delays[_di]",
             "        _slot = (_step - _delay + 1) % _n_slots",
             "        for _e in range(_history.counts[_slot]):",
             "            _source = _history.ids[_slot, _e]",
             "            _k = _first_at_least(_syn.delay, _syn.indptr[_source], _syn.indptr[_source + 1], _delay)",
             "            _end = _syn.indptr[_source + 1]",
             "            while _k < _end and _syn.delay[_k] == _delay:"]
    lines += body(d.on_pre, True, " " * 16)
    lines += ["                _arrivals += 1", "                _k += 1"]
    if d.on_post:
        lines += ["    for _f in range(_n_fired):",
                  "        _i = _fired[_f]",
                  "        for _q in range(_syn.post_ptr[_i], _syn.post_ptr[_i + 1]):",
                  "            _k = _syn.post_syn[_q]"]
        lines += body(d.on_post, True, " " * 12)
    if d.periodic:
        lines += ["    if _syn.period[0] > 0 and (_step + 1) % _syn.period[0] == 0:",
                  "        for _k in range(_syn.values.shape[0]):"]
        lines += body(d.periodic, False, " " * 12)
    lines += ["    if _check == 0.0:", "        return _arrivals, -1",
              f"    return _arrivals, _first_not_finite_synapse(_syn.values, {len(d.state)})"]
    return "\n".join(lines)


_HEADER = '''"""Generated by neurosim.kernels.codegen.numba_source for the models: {names}. Do not edit."""
# engine helpers and layout: {engine_digest}
import numba
import numpy as _np

from neurosim.kernels import layout as _L
from neurosim.kernels.layout import STATUS_DONE, STATUS_NOT_FINITE, STATUS_SPIKE_BUFFER_FULL
from neurosim.kernels.engine.numba import (_at, _clear, _plus, _where, _min, _max, _jit, _jit_parallel, _inline,
                                        step_begin, deliver_spikes, deliver_static, record_spikes, sample_state,
                                        spike_buffer_full, first_not_finite, find_not_finite, gather_spikes, gather_range,
                                        external_current, remember_spikes, _first_at_least,
                                        _first_not_finite_synapse)
'''

_RUN_CHUNK = '''
@_jit
def run_chunk(first_step, n_steps, dt, state, kinds, conn, drive, ring, rec, plastic, history):
    """Numba twin of ``reference.run_chunk``: same arguments, same results."""
    n_dynamic = state.values.shape[1]
    n_recordable = 0
    for i in range(n_dynamic):
        if rec.spike_record[i]:
            n_recordable += 1
    spiked = _np.zeros(8 * ((n_dynamic + 7) // 8), dtype=_np.uint8)  # padded to whole words
    fired = _np.empty(n_dynamic, dtype=_np.int64)
    buffer = _np.empty(n_dynamic)
    counts = rec.counters
    flat_currents = state.currents.reshape(state.currents.size)
    flat_ring = ring.reshape(ring.size)
    for row in range(n_steps):
        step = first_step + row
        status = step_begin(state, rec, drive, ring, row, step, n_recordable)
        if status != STATUS_DONE:
            return status, row
        slot = step % ring.shape[0]
        arrive_exc, arrive_inh = ring[slot, 0], ring[slot, 1]
        ext = external_current(drive, row, buffer)
{kind_calls}
        n_fired = gather_spikes(spiked, fired)
        deliver_spikes(fired, n_fired, drive, row, step, slot, conn, flat_currents, flat_ring, rec)
{synapse_calls}
    return STATUS_DONE, n_steps
'''

_SYNAPSE_CALL = '''        arrivals, bad = _synapses_{m}(plastic[{m}], history, state.values, flat_currents, fired, n_fired, step, dt)
        counts[1] += arrivals
        if bad >= 0 and counts[4] == 0:
            counts[4], counts[5], counts[3] = {m} + 1, bad, step'''

_KIND_CALL = '''        for j in range(kinds[{k}].lo.shape[0]):
            if _population_{k}(state, kinds[{k}], j, 0, kinds[{k}].hi[j] - kinds[{k}].lo[j], arrive_exc, arrive_inh, ext,
                               spiked, float(step), dt):
                counts[2] = first_not_finite(state.values, kinds[{k}].check_rows, kinds[{k}].lo[j], kinds[{k}].hi[j])
                counts[3] = step
                return STATUS_NOT_FINITE, row'''


def _engine_digest() -> str:
    """Hash of the hand-written code the generated module compiles in (the engine helpers it
    inlines, the layout of its arguments): part of the module's source, so its name, and Numba's
    cache of it, change with them. Numba checks only the generated file, so without this an
    updated neurosim would keep running the previous helpers' compiled code."""
    import hashlib
    from pathlib import Path

    kernels = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in (kernels / "engine" / "numba.py", kernels / "layout.py"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# The multi-threaded engine (no plastic synapses): ONE parallel region per step, because each
# region costs from ~1 us (quiet machine) to over 100 us (a core busy with another process). Thread b owns the neurons b * n / T .. (b + 1) * n / T:
# it delivers the previous step's spikes into its neurons (delivery by target range: no two
# threads add into one cell, and each adds in the one-thread order, so the sums do not depend on
# T), samples their monitors, then updates them. Gathering and recording the spikes stay serial.
_PARALLEL_STEP = '''
@_jit_parallel
def _parallel_step(state, kinds, conn, drive, ring, rec, fired, n_prev, prev_row, prev_slot, update, step, slot,
                   arrive_exc, arrive_inh, ext, spiked, words, dt, bad, events, new_fired, n_block_fired):
    """Deliver the spikes of the step before (``fired``, n_prev of them; -1: none) and, if
    ``update``, sample and update the neurons for ``step`` and gather the ids of those that
    spiked: block b writes its own to ``new_fired[b * n / T:]`` (``n_block_fired[b]`` of them;
    another array than ``fired``, which other blocks may still be reading); on ``bad.size``
    threads, by neuron range."""
    nd = state.values.shape[1]
    n_blocks = bad.shape[0]
    # a parallel loop's body takes arrays and numbers, not named tuples: unpacked here, rebuilt
    # inside for the helpers that only read through them (writes go to plain arrays: Numba 0.68
    # loses writes made through a named tuple rebuilt in a parallel loop and inlined)
{unpack}
    for b in numba.prange(n_blocks):
{repack}
        flat_currents = state_.currents.reshape(state_.currents.size)
        flat_ring = ring.reshape(ring.size)
        t_lo, t_hi = b * nd // n_blocks, (b + 1) * nd // n_blocks
        count = 0
        if n_prev >= 0:
            e0, e1 = drive_.event_ptr[prev_row], drive_.event_ptr[prev_row + 1]
            base = prev_slot * flat_currents.shape[0]
            for f in range(n_prev + (e1 - e0)):
                source = fired[f] if f < n_prev else drive_.event_id[e0 + f - n_prev]
                count += deliver_static(source, rec_.population_of[source], conn_, flat_currents, flat_ring, base, nd,
                                        t_lo, t_hi)
        events[b] = count
        n_bad = 0
        if update:
            sample_state(state_values, ring, slot, step, t_lo, t_hi, rec_state_variable, rec_state_neuron,
                         rec_state_stride, rec_state_position, rec_state_values)
{kind_ranges}
            n_block_fired[b] = gather_range(spiked, words, t_lo, t_hi, new_fired, t_lo)
        bad[b] = n_bad
'''

_KIND_RANGE = '''            for j in range(kind{k}_.lo.shape[0]):
                a, z = max(kind{k}_.lo[j], t_lo), min(kind{k}_.hi[j], t_hi)
                if a < z:
                    n_bad += _population_{k}(state_, kind{k}_, j, a - kind{k}_.lo[j], z - kind{k}_.lo[j], arrive_exc,
                                             arrive_inh, ext, spiked, float(step), dt)'''


def _unpack_repack(n_kinds: int) -> tuple[str, str]:
    """Lines that take the named tuples of ``_parallel_step`` apart (before its parallel loop)
    and build them again (inside it)."""
    from neurosim.kernels import layout as L

    tuples = [("state", "NeuronState", L.NeuronState), ("conn", "StaticSynapses", L.StaticSynapses),
              ("drive", "Drive", L.Drive), ("rec", "Recorders", L.Recorders)]
    tuples += [(f"kinds[{k}]", "KindParams", L.KindParams) for k in range(n_kinds)]
    unpack, repack = [], []
    for expr, cls, nt in tuples:
        local = expr.replace("kinds[", "kind").replace("]", "")
        names = [f"{local}_{f}" for f in nt._fields]
        unpack.append(f"    {', '.join(names)} = {expr}")
        repack.append(f"        {local}_ = _L.{cls}({', '.join(names)})")
    return "\n".join(unpack), "\n".join(repack)


_KIND_BAD = '''            for j in range(kinds[{k}].lo.shape[0]):
                if counts[2] < 0:
                    counts[2] = find_not_finite(state.values, kinds[{k}].check_rows, kinds[{k}].lo[j], kinds[{k}].hi[j])'''

_RUN_CHUNK_PARALLEL = '''
@_jit
def run_chunk_parallel(first_step, n_steps, dt, state, kinds, conn, drive, ring, rec, plastic, history, n_threads):
    """``run_chunk`` on ``n_threads`` threads (networks without plastic synapses): the same
    results. A step's spikes are delivered at the start of the next step's parallel region (or
    before the chunk returns)."""
    n_dynamic = state.values.shape[1]
    n_recordable = 0
    for i in range(n_dynamic):
        if rec.spike_record[i]:
            n_recordable += 1
    spiked = _np.zeros(8 * ((n_dynamic + 7) // 8), dtype=_np.uint8)  # padded to whole words
    words = spiked.view(_np.uint64)
    fired = _np.empty(n_dynamic, dtype=_np.int64)
    new_fired = _np.empty(n_dynamic, dtype=_np.int64)
    buffer = _np.empty(n_dynamic)
    counts = rec.counters
    bad = _np.zeros(n_threads, dtype=_np.int64)
    events = _np.zeros(n_threads, dtype=_np.int64)
    n_block_fired = _np.zeros(n_threads, dtype=_np.int64)
    n_prev, prev_row, prev_slot = -1, 0, 0
    status, done = STATUS_DONE, n_steps
    for row in range(n_steps):
        step = first_step + row
        if spike_buffer_full(rec, drive, row, n_recordable):
            status, done = STATUS_SPIKE_BUFFER_FULL, row
            break
        slot = step % ring.shape[0]
        ext = external_current(drive, row, buffer)
        _parallel_step(state, kinds, conn, drive, ring, rec, fired, n_prev, prev_row, prev_slot, True, step, slot,
                       ring[slot, 0], ring[slot, 1], ext, spiked, words, dt, bad, events, new_fired, n_block_fired)
        counts[1] += events.sum()
        n_prev = -1  # delivered
        if bad.sum() > 0:  # the first population in layout order with a NaN/inf neuron, as run_chunk
            counts[2] = -1
{kind_bad}
            counts[3] = step
            return STATUS_NOT_FINITE, row
        fired, new_fired = new_fired, fired
        n_fired = 0
        for b in range(n_threads):  # the blocks' spikes one after another: ids ascending
            t_lo = b * n_dynamic // n_threads
            for f in range(n_block_fired[b]):
                fired[n_fired + f] = fired[t_lo + f]
            n_fired += n_block_fired[b]
        record_spikes(fired, n_fired, drive, row, step, rec)
        n_prev, prev_row, prev_slot = n_fired, row, slot
    if n_prev >= 0:
        _parallel_step(state, kinds, conn, drive, ring, rec, fired, n_prev, prev_row, prev_slot, False, 0, 0,
                       ring[0, 0], ring[0, 1], buffer, spiked, words, dt, bad, events, new_fired, n_block_fired)
        counts[1] += events.sum()
    return status, done
'''


def engine_source(definitions, synapse_definitions=()) -> str:
    """Source of a module whose ``run_chunk`` runs a network of these kinds (in this order) and
    plastic kinds (synapse models, in this order), on one thread, and whose
    ``run_chunk_parallel`` does the same with the neuron updates and the delivery on all of
    Numba's threads."""
    names = [d.name for d in definitions] + [d.name for d in synapse_definitions]
    parts = [_HEADER.format(names=", ".join(names), engine_digest=_engine_digest())]
    for k, d in enumerate(definitions):
        parts += [kind_loop(d, k), "", kind_loop(d, k, alone=True), "", kind_population(d, k), ""]
    for m, d in enumerate(synapse_definitions):
        parts += [synapse_function(d, m), ""]
    calls = "\n".join(_KIND_CALL.format(k=k) for k in range(len(definitions)))
    synapse_calls = ""
    if synapse_definitions:
        synapse_calls = "\n".join(["        remember_spikes(history, fired, n_fired, drive, row, step)"]
                                  + [_SYNAPSE_CALL.format(m=m) for m in range(len(synapse_definitions))]
                                  + ["        if counts[4] != 0:", "            return STATUS_NOT_FINITE, row + 1"])
    parts.append(_RUN_CHUNK.format(kind_calls=calls or "        pass", synapse_calls=synapse_calls))
    kinds = range(len(definitions))
    unpack, repack = _unpack_repack(len(definitions))
    parts.append(_PARALLEL_STEP.format(unpack=unpack, repack=repack,
                                       kind_ranges="\n".join(_KIND_RANGE.format(k=k) for k in kinds) or ""))
    parts.append(_RUN_CHUNK_PARALLEL.format(kind_bad="\n".join(_KIND_BAD.format(k=k) for k in kinds) or "            pass"))
    return "\n\n".join(parts)
