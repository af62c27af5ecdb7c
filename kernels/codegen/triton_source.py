"""Source of the Triton engine's kernels for the neuron and synapse models of one network.

One kernel per neuron model (definition): ``BLOCK`` neurons per program; the arrival of the
ring slot, the definition's update, threshold and reset, then spike compaction -- the
reference's float64 operations in its order (the engine compiles without FMA contraction), so
a neuron given the same input computes the same bits as the numpy and Numba engines.

Per plastic synapse model (kind ``m``, :mod:`neurosim.synapse_definition`) up to three kernels,
the three phases of the reference's ``run_synapses``: ``arrive_m`` (``on_pre`` on the synapses a
remembered spike reaches now, ``release`` added to the target's receptor cell with an atomic
add), ``post_m`` (``on_post`` on the incoming synapses of the step's spiking neurons) and
``periodic_m``; each runs the rule's statements over ``BLOCK`` synapses at a time with the
reference's operations in its order. The shared pieces (ring arrival, external current,
compaction, the halt word, the delay-run search) live in :mod:`neurosim.kernels.engine.triton`.
"""

from __future__ import annotations

import ast
import dataclasses

from ..layout import DECAY_TABLE_STEPS, FIRST_MEMBRANE_ROW, state_rows
from .ir import Rewrite, Substitute, emit, names_in, term_names



# The language over blocks of neurons: functions -> tl; and/or/not -> & | == 0; a if c else b -> tl.where
_blocked = Rewrite(functions={"exp": "tl.exp", "log": "tl.log", "sqrt": "tl.sqrt", "abs": "tl.abs", "tanh": "_tanh",
                              "minimum": "tl.minimum", "maximum": "tl.maximum", "where": "tl.where"},
                   not_as="== 0", select="tl.where")


def blocked(expr: ast.expr) -> str:
    return ast.unparse(_blocked(expr))


def kind_kernel(d, k: int) -> str:
    """Source of the Triton kernel advancing the neurons lo:hi of definition ``d``."""
    used = names_in([*d.update, *d.reset], d.threshold)
    rows = state_rows(d)
    load = "tl.load({ptr}, mask=m, other=0.0)"
    body = ["i = lo + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)", "m = i < hi", "p = start + (i - lo)",
            "dt = tl.load(scalars)", "step_f = step.to(tl.float64)"]
    for var in d.state:
        row = rows[var]
        cell = f"values + {row} * n_dynamic + i"
        if row < FIRST_MEMBRANE_ROW:  # a receptor variable: add the ring slot's arrivals, clear it
            body += [f"{var} = {load.format(ptr=cell)} + {load.format(ptr=f'ring + slot_offset + {row} * n_dynamic + i')}",
                     f"tl.store(ring + slot_offset + {row} * n_dynamic + i, 0.0, mask=m)"]
        else:
            body.append(f"{var} = {load.format(ptr=cell)}")
    if "i_ext" in used:
        body.append("i_ext = _external(i, m, i_mean, noise_column, noise, noise_offset)")
    # coefficients of the block's unused lanes load as 1.0, not 0.0: a divisor of 0 would make
    # (discarded) NaNs there, which Triton's interpreter reports as warnings
    body += [f"{c} = tl.load(coefficients + {n} * n_kind + p, mask=m, other=1.0)" for n, c in enumerate(d.coefficients)]
    refractory = d.refractory is not None
    if refractory:
        body += [f"r = {load.format(ptr='until + i')}", "active = step_f >= r"] + [f"old_{f} = {f}" for f in d.frozen]
    body += emit(d.update, blocked)
    if refractory:
        body += [f"{f} = tl.where(active, {f}, old_{f})" for f in d.frozen]
    body.append("finite = " + " & ".join(f"({v} - {v} == 0.0)" for v in d.membrane_variables) + "  # x - x: NaN for inf and NaN")
    body.append(f"fire = ({blocked(d.threshold)}){' & active' if refractory else ''} & finite")
    body += emit(d.reset, blocked, select=lambda value, target: f"tl.where(fire, {value}, {target})")
    if refractory:
        body.append(f"tl.store(until + i, tl.where(fire, step_f + {load.format(ptr='refractory_steps + p')}, r), mask=m)")
    body += [f"tl.store(values + {rows[var]} * n_dynamic + i, {var}, mask=m)" for var in d.state]
    body.append("_compact(ctl, spikes, i, fire, (finite == 0) & m, m)")
    integers = "".join(f", {name}" for name in d.integer_parameters)
    lines = ['@triton.jit(do_not_specialize=["step", "slot_offset", "noise_offset"])',
             f"def step_{k}(ctl, spikes, lo, hi, start, n_dynamic, values, until, ring, slot_offset, i_mean, noise_column,",
             f"           noise, noise_offset, step, scalars, coefficients, n_kind, refractory_steps{integers}, BLOCK: tl.constexpr):",
             f'    """One step of the {d.name} neurons lo:hi (their coefficients from index ``start``)."""',
             "    if tl.load(ctl + _HALT) == 0:"]
    lines += ["        " + line for line in body]
    return "\n".join(lines)


def _synapse_value(expr: ast.expr) -> str:
    """An expression of a synapse rule over a block of synapses. One without names (``1.0``)
    becomes a float64 block: Triton would make a bare Python float a float32 constant."""
    if not any(isinstance(n, ast.Name) for n in ast.walk(expr)):
        return f"tl.full([BLOCK], {blocked(expr)}, tl.float64)"
    return blocked(expr)


# the arguments every rule body reads (names start with "_": a rule's own names cannot)
_RULE = ("_syn, _n_syn, _coefficients, _per_synapse, _tables, _table_len, _targets, _cell, _values, _n_dynamic, "
         "_post_rows, _step, _scalars")
_RULE_ARGS = "_k, _msk, " + _RULE


def _rule_body(d, m: int, phase: str, statements) -> str:
    """Source of the jit function running ``statements`` (one phase of rule ``d``) on the synapses
    ``_k`` (a block, ``_msk`` valid): the reference's ``_synapse_event`` for one block. Returns
    the first synapse of the block whose state became NaN/inf (``_NONE_BAD``: none)."""
    event = phase != "periodic"
    if event and d.elapsed_terms:  # event-driven decays from their table, as the Numba engine
        names = Substitute(term_names(d.elapsed_terms))
        statements = tuple(dataclasses.replace(s, expr=names(s.expr)) for s in statements)
    used = names_in(statements)
    terms = [(j, t) for j, t in enumerate(d.elapsed_terms) if event and f"_t{j}" in used]
    loaded = used | set().union(*[names_in((), t) for _, t in terms])
    width, last = len(d.state) + 1, len(d.state)  # synapse-major rows: the state, then the last event's step
    # unused lanes load 1.0: a divisor or log argument of 0 would make (discarded) NaNs there,
    # which Triton's interpreter reports as warnings
    body = ["dt = tl.load(_scalars)"]
    body += [f"{v} = tl.load(_syn + _k * {width} + {r}, mask=_msk, other=1.0)" for r, v in enumerate(d.state)]
    body += [f"{c} = tl.load(_coefficients + _k * _per_synapse * {len(d.coefficients)} + {j}, mask=_msk, other=1.0)"
             for j, c in enumerate(d.coefficients) if c in loaded]
    if event:
        if "elapsed" in loaded or terms:
            body.append(f"_n = _step.to(tl.float64) - tl.load(_syn + _k * {width} + {last}, mask=_msk, other=0.0)")
            body.append("elapsed = _n * dt")
        for j, term in terms:
            body.append(f"_in{j} = (_n.to(tl.int64) < tl.load(_table_len + {j})) & _msk")
            body.append(f"_t{j} = tl.where(_in{j}, tl.load(_tables + {j} * {DECAY_TABLE_STEPS} + _n.to(tl.int64), "
                        f"mask=_in{j}, other=1.0), {_synapse_value(term)})")
        reads = [(j, name) for j, name in enumerate(d.post_reads) if name in used]
        if reads:
            body.append("_target = tl.load(_targets + _k, mask=_msk, other=0)")
        body += [f"{name} = tl.load(_values + tl.load(_post_rows + {j}) * _n_dynamic + _target, mask=_msk, other=1.0)"
                 for j, name in reads]
    body += emit(statements, _synapse_value)
    if phase == "on_pre":  # the receptor rows are the first two of the state table: cell indexes both
        body.append("tl.atomic_add(_values + tl.load(_cell + _k, mask=_msk, other=0), release, mask=_msk, sem='relaxed')")
    body += [f"tl.store(_syn + _k * {width} + {r}, {v}, mask=_msk)" for r, v in enumerate(d.state)]
    if event:
        body.append(f"tl.store(_syn + _k * {width} + {last}, tl.zeros([BLOCK], tl.float64) + _step.to(tl.float64), "
                    "mask=_msk)")
    body.append("_finite = " + " & ".join(f"({v} - {v} == 0.0)" for v in d.state) + "  # x - x: NaN for inf and NaN")
    body.append("return _first_bad(_k, _msk, _finite)")
    lines = ["@triton.jit", f"def _{phase}_{m}({_RULE_ARGS}, BLOCK: tl.constexpr):",
             f'    """{phase} of {d.name} on the synapses _k (where _msk)."""']
    return "\n".join(lines + ["    " + line for line in body])


def synapse_kernels(d, m: int) -> str:
    """Source of the kernels of plastic kind ``m`` (synapse model ``d``): ``arrive_m``,
    ``post_m`` (when the rule has ``on_post``) and ``periodic_m`` (when it has ``periodic``).
    The engine launches them in this order after the step's propagation and spike history."""
    rule = _RULE
    parts = [_rule_body(d, m, "on_pre", d.on_pre)]
    parts.append(f'''@triton.jit
def _arrive_row_{m}(_source, _d, _indptr, _delay, {rule}, BLOCK: tl.constexpr):
    """on_pre on the synapses of row _source with delay _d, in synapse order; returns (their
    number, the first whose state became NaN/inf)."""
    _first, _stop = _delay_run(_delay, tl.load(_indptr + _source), tl.load(_indptr + _source + 1), _d)
    _bad = tl.full([], _NONE_BAD, tl.int64)
    for _k0 in range(_first, _stop, BLOCK):
        _k = _k0 + tl.arange(0, BLOCK)
        _bad = _earlier(_bad, _on_pre_{m}(_k, _k < _stop, {rule}, BLOCK))
    return _stop - _first, _bad


@triton.jit(do_not_specialize=["_step", "_cap", "_n_slots", "_n_delays"])
def arrive_{m}(_ctl, _counters, _syn_bad, _hist_ids, _hist_links, _hist_counts, _cap, _n_slots, _delays, _n_delays,
             _indptr, _delay, {rule}, M: tl.constexpr, NPROG: tl.constexpr, CHAIN: tl.constexpr,
             BLOCK: tl.constexpr):
    """Arrivals of {d.name} synapses at the end of step _step: delays ascending, then the spike
    history's order (programs stride over its entries), then synapse order. CHAIN (several
    programs): an entry whose source is repeated in its slot runs the later repeats too, in
    order, and the repeats themselves are skipped -- two arrivals at one synapse never race."""
    _pid = tl.program_id(0)
    if tl.load(_ctl + _HALT) == 0:
        _arrivals = tl.zeros([], tl.int64)
        _bad = tl.full([], _NONE_BAD, tl.int64)
        for _di in range(_n_delays):
            _d = tl.load(_delays + _di)
            _slot = (_step - _d + 1 + _n_slots) % _n_slots  # (+ _n_slots: C's % of a negative is negative)
            _base = _slot * _cap
            for _e in range(_pid, tl.load(_hist_counts + _slot), NPROG):
                _source = tl.load(_hist_ids + _base + _e)
                if CHAIN:
                    _go = tl.load(_hist_links + _base + _e) >= 0  # a first occurrence
                else:
                    _go = _e >= 0
                _at = tl.zeros([], tl.int64) + _e
                while _go:
                    _n, _b = _arrive_row_{m}(_source, _d, _indptr, _delay, {rule}, BLOCK)
                    _arrivals += _n
                    _bad = _earlier(_bad, _b)
                    if CHAIN:  # on to the next repeat of the source in this slot, if any
                        _next = _link_offset(tl.load(_hist_links + _base + _at))
                        _at += _next
                        _go = _next > 0
                    else:
                        _go = _at < 0
        tl.atomic_add(_counters + 1, _arrivals, sem="relaxed")
        _report_bad(_syn_bad + M, _bad)''')
    if d.on_post:
        parts.append(_rule_body(d, m, "on_post", d.on_post))
        parts.append(f'''@triton.jit(do_not_specialize=["_step"])
def post_{m}(_ctl, _syn_bad, _spikes, _post_ptr, _post_syn, {rule}, M: tl.constexpr, NPROG: tl.constexpr,
           BLOCK: tl.constexpr):
    """on_post of {d.name} on the incoming synapses of the step's spiking neurons (programs
    stride over them; their synapses are disjoint)."""
    _pid = tl.program_id(0)
    if tl.load(_ctl + _HALT) == 0:
        _bad = tl.full([], _NONE_BAD, tl.int64)
        for _f in range(_pid, tl.load(_ctl + _N_SPIKES), NPROG):
            _i = tl.load(_spikes + _f)
            _q1 = tl.load(_post_ptr + _i + 1)
            for _q0 in range(tl.load(_post_ptr + _i), _q1, BLOCK):
                _q = _q0 + tl.arange(0, BLOCK)
                _msk = _q < _q1
                _k = tl.load(_post_syn + _q, mask=_msk, other=0)
                _bad = _earlier(_bad, _on_post_{m}(_k, _msk, {rule}, BLOCK))
        _report_bad(_syn_bad + M, _bad)''')
    if d.periodic:
        parts.append(_rule_body(d, m, "periodic", d.periodic))
        parts.append(f'''@triton.jit(do_not_specialize=["_step"])
def periodic_{m}(_ctl, _syn_bad, {rule}, M: tl.constexpr, BLOCK: tl.constexpr):
    """The periodic statements of {d.name} on BLOCK synapses per program."""
    if tl.load(_ctl + _HALT) == 0:
        _k = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
        _report_bad(_syn_bad + M, _periodic_{m}(_k, _k < _n_syn, {rule}, BLOCK))''')
    return "\n\n\n".join(parts)


_HEADER = '''"""Generated by neurosim.kernels.codegen.triton_source for the models: {names}. Do not edit."""
import triton
import triton.language as tl

from neurosim.kernels.engine.triton import (_HALT, _N_SPIKES, _NONE_BAD, _compact, _delay_run, _earlier, _external,
                                            _first_bad, _link_offset, _report_bad, _tanh)
'''


def engine_source(definitions, synapse_definitions=()) -> str:
    """Source of a module with one kernel ``step_<k>`` per neuron model, in layout order, and the
    kernels of each plastic kind ``m`` (``arrive_<m>``, ``post_<m>``, ``periodic_<m>``)."""
    parts = [_HEADER.format(names=", ".join([d.name for d in definitions] + [d.name for d in synapse_definitions]))]
    parts += [kind_kernel(d, k) for k, d in enumerate(definitions)]
    parts += [synapse_kernels(d, m) for m, d in enumerate(synapse_definitions)]
    return "\n\n\n".join(parts) + "\n"
