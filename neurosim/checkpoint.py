"""Checkpoint files of ``Network.run(checkpoint_every=..., checkpoint_path=...)``.

A checkpoint is a pickled dict (the network with its state and random streams, the recording
so far, the run plan, the backend) behind a header with the SHA-256 of the pickle
(:func:`neurosim.io.write_sealed_pickle`). Loading checks, before anything runs:

1. the checksum (any damaged or missing byte: the file is refused, naming it);
2. the structure: every array the compiled kernels index with -- CSR row pointers, synapse
   targets and cells, delays against the ring buffer, population ranges, recorded ids and state
   columns, the spike-buffer counters -- is in bounds and of the expected shape and dtype. A
   checkpoint that passes cannot make a kernel read or write outside its arrays.

Unpickling runs code: the checksum guards against damage, not against a malicious file; load
only checkpoints you (or your own runs) wrote.
"""

from __future__ import annotations

import os

import numpy as np

from .io import atomic_path, damaged, read_sealed_pickle, write_sealed_pickle
from .models import MAX_SUBSTEPS
from .network import MAX_RUN_STEPS, Network, _Recording, _RunPlan, state_columns  # network imports this module lazily

#: Version of the checkpoint layout (2: sealed with a checksum).
CHECKPOINT_FORMAT = 2


def write_checkpoint(path, network, recording, plan, backend: str) -> None:
    """Write the run so far to ``path`` atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        write_sealed_pickle(tmp, {"format": CHECKPOINT_FORMAT, "network": network, "recording": recording,
                                  "plan": plan, "backend": backend})


def read_checkpoint(path):
    """``(network, recording, plan, backend)`` of the checkpoint at ``path``, checked (module
    docstring); raises :class:`neurosim.DamagedFileError` naming the file if a check fails."""
    path = os.fspath(path)
    saved = read_sealed_pickle(path, "checkpoint")
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise damaged(path, "checkpoint", f"its format is {found!r}, this neurosim reads format {CHECKPOINT_FORMAT}")
    net, rec, plan, backend = (saved.get(k) for k in ("network", "recording", "plan", "backend"))
    if not (isinstance(net, Network) and isinstance(rec, _Recording) and isinstance(plan, _RunPlan)
            and isinstance(backend, str)):
        raise damaged(path, "checkpoint", "it does not hold a network, a recording, a run plan and a backend")
    try:
        _check_run(net, rec, plan)
    except _Inconsistent as err:
        raise damaged(path, "checkpoint", f"it is inconsistent: {err}") from None
    return net, rec, plan, backend


class _Inconsistent(Exception):
    pass


def _need(ok, what: str) -> None:
    if not ok:
        raise _Inconsistent(what)


def _array(name: str, a, dtype, shape=None) -> np.ndarray:
    _need(isinstance(a, np.ndarray) and a.dtype == np.dtype(dtype), f"{name} is not a {np.dtype(dtype)} array")
    if shape is not None:
        _need(a.shape == tuple(shape), f"{name} has shape {a.shape}, expected {tuple(shape)}")
    return a


def _within(name: str, a: np.ndarray, low: int, high: int) -> None:
    """All of ``a`` in [low, high)."""
    _need(a.size == 0 or (int(a.min()) >= low and int(a.max()) < high), f"{name} has values outside [{low}, {high})")


def _check_run(net, rec, plan) -> None:
    sim = rec.sim
    _need(sim is net._sim, "the recording belongs to another network")
    _need(isinstance(net.step, int) and net.step >= 0, "the step counter is negative")
    _need(isinstance(plan.n_steps, int) and 0 <= plan.done <= plan.n_steps <= MAX_RUN_STEPS
          and 1 <= plan.chunk <= max(plan.n_steps, 1) and plan.every >= 0,
          f"the run plan (done {plan.done} of {plan.n_steps} steps, chunk {plan.chunk}) is impossible")
    n_total, nd = sim.n_total, sim.n_dynamic
    _need(isinstance(n_total, int) and isinstance(nd, int) and 0 <= nd <= n_total, "the neuron counts are impossible")
    _need(sum(len(p) for p in sim.order) == n_total, "the populations' sizes do not add up to the neuron count")
    n_pops = len(sim.pops)
    _check_state(sim, nd)
    _check_params(sim, nd)
    slots = _array("ring", sim.ring, np.float64).shape[0]
    _array("ring", sim.ring, np.float64, (slots, 2, nd))
    _within("population_of", _array("population_of", sim.population_of, np.int64, (n_total,)), 0, n_pops)
    _check_synapses(sim, n_total, nd, slots, n_pops)
    _check_plastic(sim, n_total, nd)
    noise_ids = _array("noise_ids", sim.noise_ids, np.int64)
    _within("noise_ids", noise_ids, 0, nd)
    _array("noise_std", sim.noise_std, np.float64, noise_ids.shape)
    _within("noise_column", _array("noise_column", sim.noise_column, np.int64, (nd,)), -1, noise_ids.size)
    for p in sim.sources:
        if p.name in sim.spike_times:
            steps, idx = sim.spike_times[p.name]
            _within(f"spike times of {p.name!r}", _array(f"spike indices of {p.name!r}", idx, np.int64), 0, len(p))
            _array(f"spike steps of {p.name!r}", steps, np.int64, idx.shape)
    _check_recording(rec, n_total, nd, n_pops)


def _check_state(sim, nd: int) -> None:
    st = sim.state
    values = _array("state values", st.values, np.float64)
    _need(values.ndim == 2 and values.shape[1] == nd and values.shape[0] >= 2, "the state table has the wrong shape")
    _need(np.shares_memory(st.currents, values) and st.currents.shape == (2, nd), "the receptor rows are broken")
    _array("state refractory_until", st.refractory_until, np.float64, (nd,))
    for name in ("i_mean", "hook_current"):
        _array(name, getattr(sim, name), np.float64, (nd,))


def _check_params(sim, nd: int) -> None:
    _need(len(sim.kinds) == len(sim.definitions), "the model kinds do not match their definitions")
    n_rows = sim.state.values.shape[0]
    for d, kind in zip(sim.definitions, sim.kinds):
        name = d.name
        lo, hi = _array(f"{name} lo", kind.lo, np.int64), _array(f"{name} hi", kind.hi, np.int64)
        start = _array(f"{name} start", kind.start, np.int64, lo.shape)
        _need(lo.shape == hi.shape and np.all(lo <= hi) and (lo.size == 0 or (lo.min() >= 0 and hi.max() <= nd)),
              f"{name} population ranges are outside the {nd} neurons")
        n_kind = _array(f"{name} refractory steps", kind.refractory_steps, np.float64).size
        _need(lo.size == 0 or (start.min() >= 0 and np.all(start + hi - lo <= n_kind)),
              f"{name} parameter offsets are outside its {n_kind} neurons")
        _array(f"{name} coefficients", kind.coefficients, np.float64, (len(d.coefficients), n_kind))
        _within(f"{name} state rows", _array(f"{name} state rows", kind.rows, np.int64, (len(d.state),)), 0, n_rows)
        _within(f"{name} checked rows", _array(f"{name} checked rows", kind.check_rows, np.int64), 0, n_rows)
        # integer parameters count loop repeats: bounded like Izhikevich's sub-steps
        _within(f"{name} integer parameters",
                _array(f"{name} integer parameters", kind.integers, np.int64, (lo.size, len(d.integer_parameters))),
                0, MAX_SUBSTEPS + 1)
        for flag in ("uniform", "inputs"):
            _array(f"{name} {flag}", getattr(kind, flag), np.bool_, lo.shape)


def _check_synapses(sim, n_total: int, nd: int, slots: int, n_pops: int) -> None:
    """The static synapse pool: every index the kernels follow is in bounds."""
    syn, name = sim.static, "static synapses"
    n = _array(f"{name} targets", syn.target, np.int32).size
    _array(f"{name} weights", syn.weight, sim.net.precision, (n,))
    n_proj = _array(f"{name} row starts", syn.row_start, np.int64).size
    per = {f: _array(f"{name} {f}", getattr(syn, f), np.int64, (n_proj,))
           for f in ("source_lo", "source_n", "target_lo", "target_n", "receptor", "fixed_delay", "delay_shift")}
    indptr = _array(f"{name} indptr", syn.indptr, np.int64)
    row_start = syn.row_start
    _need(np.all(row_start >= 0) and np.all(per["source_n"] >= 0) and np.all(per["target_n"] >= 0),
          f"{name} projection sizes are negative")
    _need(np.all(per["source_lo"] >= 0) and np.all(per["source_lo"] + per["source_n"] <= n_total)
          and np.all(per["target_lo"] >= 0) and np.all(per["target_lo"] + per["target_n"] <= nd),
          f"{name} projection ranges are outside the network")
    _within(f"{name} receptors", per["receptor"], 0, 2)
    _within(f"{name} delays", per["fixed_delay"], 0, slots)  # a delay of d steps needs d + 1 ring slots
    delay = syn.delay
    _need(isinstance(delay, np.ndarray) and delay.dtype in (np.uint16, np.int32), f"{name} delays have the wrong type")
    _within(f"{name} delays", delay, 1, slots)
    for p in range(n_proj):
        rows = row_start[p] + np.arange(per["source_n"][p] + 1)
        _need(rows[-1] < indptr.size, f"{name} row pointers are broken")
        ptr = indptr[rows]
        _need(np.all(np.diff(ptr) >= 0) and ptr[0] >= 0 and ptr[-1] <= n, f"{name} row pointers are broken")
        _within(f"{name} targets", syn.target[ptr[0] : ptr[-1]], 0, int(per["target_n"][p]))
        if per["fixed_delay"][p] == 0 and ptr[-1] > ptr[0]:
            _need(ptr[0] + per["delay_shift"][p] >= 0 and ptr[-1] + per["delay_shift"][p] <= delay.size,
                  f"{name} delay offsets are broken")
    by_ptr = _array(f"{name} by_source_ptr", syn.by_source_ptr, np.int64, (n_pops + 1,))
    _need(by_ptr[0] == 0 and by_ptr[-1] == n_proj and np.all(np.diff(by_ptr) >= 0), f"{name} by_source_ptr is broken")
    _within(f"{name} by_source", _array(f"{name} by_source", syn.by_source, np.int64, (n_proj,)), 0, n_proj)
    # a spike of population q walks the rows of the projections listed under q: they must be q's
    population_of = sim.population_of
    sizes = np.bincount(population_of, minlength=n_pops)
    for q in range(n_pops):
        for p in syn.by_source[by_ptr[q] : by_ptr[q + 1]]:
            lo, size = int(per["source_lo"][p]), int(per["source_n"][p])
            _need(size == sizes[q] and (size == 0 or (population_of[lo] == q and population_of[lo + size - 1] == q)),
                  f"{name} by_source lists a projection under the wrong population")


def _check_plastic(sim, n_total: int, nd: int) -> None:
    """Plastic kinds and the spike history: every index the kernels follow is in bounds."""
    _need(len(sim.plastic) == len(sim.synapse_definitions) == len(sim.plastic_owner),
          "the plastic kinds do not match their synapse models")
    n_rows = sim.state.values.shape[0]
    history = sim.history
    ids = _array("spike history", history.ids, np.int64)
    n_slots = ids.shape[0] if ids.ndim == 2 else 0
    _need(n_slots >= 1, "the spike history has the wrong shape")
    counts = _array("spike history counts", history.counts, np.int64, (n_slots,))
    _need(np.all((counts >= 0) & (counts <= ids.shape[1])), "the spike history counts are out of range")
    _within("spike history", ids, 0, n_total)
    _array("spike history keep", history.keep, np.bool_, (n_total,))
    for d, syn, owner in zip(sim.synapse_definitions, sim.plastic, sim.plastic_owner):
        name = f"plastic synapses ({d.name})"
        indptr = _array(f"{name} indptr", syn.indptr, np.int64, (n_total + 1,))
        n = _array(f"{name} delays", syn.delay, np.int64).size
        _need(indptr[0] == 0 and indptr[-1] == n and np.all(np.diff(indptr) >= 0), f"{name} row pointers are broken")
        _within(f"{name} delays", syn.delay, 1, n_slots + 1)
        _within(f"{name} distinct delays", _array(f"{name} distinct delays", syn.delays, np.int64), 1, n_slots + 1)
        _within(f"{name} targets", _array(f"{name} targets", syn.target, np.int64, (n,)), 0, nd)
        _within(f"{name} cells", _array(f"{name} cells", syn.cell, np.int64, (n,)), 0, 2 * nd)
        post_ptr = _array(f"{name} post_ptr", syn.post_ptr, np.int64, (nd + 1,))
        _need(post_ptr[0] == 0 and post_ptr[-1] == n and np.all(np.diff(post_ptr) >= 0), f"{name} incoming pointers are broken")
        _within(f"{name} incoming synapses", _array(f"{name} incoming synapses", syn.post_syn, np.int64, (n,)), 0, n)
        _array(f"{name} state", syn.values, np.float64, (n, len(d.state) + 1))
        coefficients = _array(f"{name} parameters", syn.coefficients, np.float64)
        _need(coefficients.ndim == 2 and coefficients.shape[1] == len(d.coefficients)
              and coefficients.shape[0] in ({n, 1} if n else {0, 1}), f"{name} parameters have the wrong shape")
        _within(f"{name} target rows", _array(f"{name} target rows", syn.post_rows, np.int64, (len(d.post_reads),)), 0, n_rows)
        _array(f"{name} period", syn.period, np.int64, (1,))
        tables = _array(f"{name} decay tables", syn.tables, np.float64)
        _need(tables.ndim == 2 and tables.shape[0] == len(d.elapsed_terms), f"{name} decay tables have the wrong shape")
        _within(f"{name} decay table lengths", _array(f"{name} decay table lengths", syn.table_len, np.int64,
                                                      (len(d.elapsed_terms),)), 0, tables.shape[1] + 1)
        _within(f"{name} owners", _array(f"{name} owners", owner, np.int64, (n,)), 0, len(sim.net.projections))


def _check_recording(rec, n_total: int, nd: int, n_pops: int) -> None:
    for name in ("user_record", "spike_record"):
        _array(name, getattr(rec, name), np.bool_, (n_total,))
    steps = _array("spike buffer steps", rec.spike_step, np.int64)
    _array("spike buffer ids", rec.spike_id, np.int64, steps.shape)
    counters = _array("counters", rec.counters, np.int64, (6,))
    _need(0 <= counters[0] <= steps.size and counters[1] >= 0, "the spike-buffer counters are out of range")
    _within("recorded spike ids", rec.spike_id[: counters[0]], 0, n_total)
    for m in rec.monitors:
        _within(f"state monitor indices of {m.population.name!r}", m.indices, 0, len(m.population))
        _need(isinstance(m.stride, int) and m.stride >= 1 and set(m.variables) <= set(m.population.model.state_variables),
              f"the state monitor of {m.population.name!r} is impossible")
    expected = state_columns(rec.sim, rec.monitors)  # the kernels' columns follow from the monitors
    for name, got, want in zip(("variables", "neurons", "strides"), (rec.col_var, rec.col_neuron, rec.col_stride),
                               expected):
        _need(isinstance(got, np.ndarray) and np.array_equal(got, want), f"the state columns' {name} are broken")
    _need(len(rec.col_values) == expected[0].size, "the state traces do not match the state columns")
    _need(all(isinstance(c, np.ndarray) and c.ndim == 2 and c.shape[1] == n_pops for c in rec.counts),
          "the population counts have the wrong shape")
    if rec.stream is not None:
        from .spike_stream import spike_files

        for name, n in rec.stream.written.items():
            for path in spike_files(rec.stream.folder, name):
                _need(os.path.exists(path) and os.path.getsize(path) >= 8 * n,
                      f"the streamed spike file {path!r} is missing or shorter than the {n} spikes it had")
