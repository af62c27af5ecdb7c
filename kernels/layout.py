"""The plain-array layout every engine kernel works on.

The Network flattens its populations into one global neuron index space (dynamic neurons
first, grouped by model, then spike sources) and hands the kernels these named tuples of
numpy arrays. Kernels never see Python objects, so the numpy reference, the Numba kernel
and later GPU kernels all read exactly the same data.

Conventions (all arrays are indexed by global neuron id unless said otherwise):

* times are integer steps; one step is ``dt`` milliseconds;
* a spike emitted at step ``t`` through a synapse with delay ``d`` (``d >= 1`` steps) is
  added to the target's synaptic current at the start of step ``t + d``. Synapses with the
  minimum delay (one step) add their weight straight into the current after step ``t``'s
  update (as Brian2's ``on_pre``); longer delays go through the ring buffer, whose slot is
  added at the start of step ``t + d``. Additions happen in spike order, then CSR order;
* receptor 0 is a model's excitatory input variable (``inputs["exc"]`` of its definition:
  ``i_exc`` of LIF, ``g_e`` of a conductance model), receptor 1 its inhibitory one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Status codes returned by a run chunk.
STATUS_DONE = 0
STATUS_SPIKE_BUFFER_FULL = 1
STATUS_NOT_FINITE = 2
STATUS_INTERRUPTED = 3  # Ctrl-C inside a chunk (Triton backend); the steps done are whole

# Rows of ``NeuronState.values`` holding the receptor variables: a spike's weight lands there.
RECEPTOR_ROWS = {"exc": 0, "inh": 1}
#: First row of the other (membrane) state variables; a model's k-th one is row 2 + k.
FIRST_MEMBRANE_ROW = 2
#: Whole steps of ``elapsed`` over which a plastic kind's event-driven decays are tabulated
#: (``PlasticSynapses.tables``: 32 KiB per decay; longer intervals are computed).
DECAY_TABLE_STEPS = 4096


def state_rows(definition) -> dict[str, int]:
    """Row of each of a model's state variables in ``NeuronState.values``."""
    rows = {var: FIRST_MEMBRANE_ROW + k for k, var in enumerate(definition.membrane_variables)}
    rows.update({var: RECEPTOR_ROWS[r] for r, var in definition.inputs.items()})
    return rows


class NeuronState(NamedTuple):
    """Mutable per-neuron state (float64). Every model's state variables share one table:
    its receptor variables (the ``inputs`` of its definition) are rows 0 (exc) and 1 (inh),
    its other variables rows 2, 3, ... in the order of its definition (see ``KindParams.rows``)."""

    values: np.ndarray  # [n_rows, n_dynamic]
    currents: np.ndarray  # [2, n_dynamic]: rows 0 and 1 of ``values`` (a view): synapses add here
    # Refractoriness, as a step number (float64, exact for any practical run): the frozen
    # variables are integrated, and the neuron may spike, at step t only if t >= refractory_until.
    # A spike at step s sets it to s + refractory_steps, so they stay frozen for
    # refractory_steps - 1 updates (Brian2's semantics: not refractory once t - lastspike >=
    # refractory). Starts at -1.
    refractory_until: np.ndarray


class KindParams(NamedTuple):
    """The populations of one neuron model (one definition), laid out next to each other.

    Per-neuron arrays are indexed from the kind's first neuron (``start``), so a network with
    several models keeps each model's coefficients only for its own neurons.
    """

    lo: np.ndarray  # int64 [n_pops]: first global id of each population of this model
    hi: np.ndarray  # int64 [n_pops]: one past the last id
    start: np.ndarray  # int64 [n_pops]: lo - (first global id of the kind): index into the arrays below
    rows: np.ndarray  # int64 [n_state]: row in NeuronState.values of each state variable, in definition order
    check_rows: np.ndarray  # int64: rows checked for NaN/inf every step (the membrane variables)
    integers: np.ndarray  # int64 [n_pops, n_int]: the integer parameters (e.g. Euler sub-steps) per population
    coefficients: np.ndarray  # float64 [n_coef, n_kind]: parameters and derived values the step reads
    refractory_steps: np.ndarray  # float64 [n_kind]: whole refractory steps (0 without refractoriness)
    uniform: np.ndarray  # bool [n_pops]: all coefficients constant within the population
    inputs: np.ndarray  # bool [n_pops]: receives ring-buffer input or an external current


class StaticSynapses(NamedTuple):
    """The static (non-plastic) synapses: each static projection's CSR matrix (rows = its source
    neurons, targets ascending within a row), stored one projection after another in one pool.

    The projections' own arrays are this pool (``Projection.target`` and ``weight`` are views of
    it), so a synapse is held once: 4 bytes of target and 8 (float64) or 4 (float32) of weight,
    plus 2 bytes of delay only in projections whose delays vary. A spike of neuron ``i`` walks
    the projections whose source population holds ``i``, in creation order, then each row in
    order: the same summation order as one CSR over all projections.
    """

    indptr: np.ndarray  # int64 [sum of (n_source + 1)]: row i of projection p is the pool positions
    #                     indptr[row_start[p] + i] : indptr[row_start[p] + i + 1]
    target: np.ndarray  # int32 [n_synapses]: target neuron, index within the projection's target population
    weight: np.ndarray  # float64 or float32 (Network precision) [n_synapses]
    delay: np.ndarray  # uint16, or int32 for delays of 2^16 steps or more [n_varying]: the delays (steps >= 1)
    #                    of projections whose delays vary; synapse k of projection p: delay[k + delay_shift[p]]
    # per projection, int64 [n_projections]:
    row_start: np.ndarray  # first entry of the projection's rows in indptr
    source_lo: np.ndarray  # global id of the source population's first neuron
    source_n: np.ndarray  # size of the source population (the projection's rows)
    target_lo: np.ndarray  # global id of the target population's first neuron
    target_n: np.ndarray  # size of the target population
    receptor: np.ndarray  # 0 excitatory, 1 inhibitory
    fixed_delay: np.ndarray  # the delay (steps) of all its synapses, or 0 when they vary
    delay_shift: np.ndarray  # offset from a pool position to its delay in ``delay``
    # per population index (Population.index): the projections from it, in creation order
    by_source_ptr: np.ndarray  # int64 [n_populations + 1]
    by_source: np.ndarray  # int64 [n_projections]


class PlasticSynapses(NamedTuple):
    """The plastic synapses of one synapse model onto one kind of target neuron (all such
    projections merged), with their per-synapse state (see :mod:`neurosim.synapse_definition`).

    Synapses are sorted by global source id, then delay (CSR rows = sources), so the synapses a
    spike reaches after ``d`` steps are one run of a row.
    """

    indptr: np.ndarray  # int64 [n_total + 1]
    delay: np.ndarray  # int64 [n_synapses], steps >= 1: on_pre runs at step (spike step) + delay - 1
    delays: np.ndarray  # int64 [n_delays]: the distinct delays, ascending
    cell: np.ndarray  # int64 [n_synapses]: receptor * n_dynamic + target, into NeuronState.currents (flat)
    target: np.ndarray  # int64 [n_synapses]: global id of the target neuron
    post_ptr: np.ndarray  # int64 [n_dynamic + 1]: incoming synapses of neuron i are post_syn[post_ptr[i]:post_ptr[i+1]]
    post_syn: np.ndarray  # int64 [n_synapses]: synapse indices, ascending within a neuron
    # Synapse-major (one synapse's numbers side by side): an event reads and writes one synapse,
    # and a postsynaptic spike's synapses are scattered over the array, so this layout costs one
    # cache line per synapse event where one array per variable cost one per variable (measured
    # 2.7x faster on STDP's postsynaptic updates, benchmarks/RESULTS.md).
    values: np.ndarray  # float64 [n_synapses, n_state + 1]: state variables in definition order, then
    #                     the step of the synapse's last event (arrival or postsynaptic spike; exact)
    coefficients: np.ndarray  # float64 [n_synapses or 1, n_coefficients]: parameters in definition
    #                           order; one row when every synapse has the same values
    post_rows: np.ndarray  # int64 [n_post_reads]: row in NeuronState.values of each <var>_post read
    period: np.ndarray  # int64 [1]: steps between runs of the periodic statements (0: none)
    # Event-driven decays tabulated over whole steps of ``elapsed`` (the definition's
    # ``elapsed_terms``, e.g. exp(-elapsed / tau_pre)): term j after n steps is tables[j, n] for
    # n < table_len[j]; 0 where the term's parameters differ between synapses (computed then).
    tables: np.ndarray  # float64 [n_terms, table_steps]
    table_len: np.ndarray  # int64 [n_terms]


class SpikeHistory(NamedTuple):
    """The spikes of the last ``n_slots`` steps of neurons with plastic outgoing synapses (their
    arrivals are processed up to the longest plastic delay later). Step t is slot t % n_slots."""

    ids: np.ndarray  # int64 [n_slots, capacity]: global ids, in the step's spike order
    counts: np.ndarray  # int64 [n_slots]
    keep: np.ndarray  # bool [n_total]: has plastic outgoing synapses


class Drive(NamedTuple):
    """Everything that drives the network during one chunk of ``k`` steps."""

    i_mean: np.ndarray  # [n_dynamic] constant external current
    noise_column: np.ndarray  # int64 [n_dynamic]: column in ``noise`` or -1
    noise_id: np.ndarray  # int64 [n_noisy]: neuron of each noise column
    noise: np.ndarray  # float64 [k, n_noisy]: noise current of each step (std * N(0,1))
    event_ptr: np.ndarray  # int64 [k + 1]: source spikes of step j are event_id[ptr[j]:ptr[j+1]]
    event_id: np.ndarray  # int64: global ids of spike-source neurons


class Recorders(NamedTuple):
    """Output buffers of one chunk; the kernel fills them and moves the counters."""

    spike_record: np.ndarray  # bool [n_total]: record this neuron's spikes?
    spike_step: np.ndarray  # int64 [capacity]
    spike_id: np.ndarray  # int64 [capacity]
    population_of: np.ndarray  # int64 [n_total]: population index of each neuron
    population_counts: np.ndarray  # int64 [k, n_populations]: spikes per step and population
    state_variable: np.ndarray  # int64 [n_columns]: row of NeuronState.values
    state_neuron: np.ndarray  # int64 [n_columns]
    state_stride: np.ndarray  # int64 [n_columns]: record every `stride` steps
    state_position: np.ndarray  # int64 [n_columns]: next write position in state_values
    state_values: np.ndarray  # float64 flat buffer
    # int64 [6]: spikes recorded, synaptic events, bad neuron, bad step, and for a synapse whose
    # state became NaN/inf: its plastic kind + 1 (0: none), its index there
    counters: np.ndarray
