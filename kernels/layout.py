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
* receptor 0 is the excitatory current ``i_exc``, receptor 1 the inhibitory ``i_inh``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Status codes returned by a run chunk.
STATUS_DONE = 0
STATUS_SPIKE_BUFFER_FULL = 1
STATUS_NOT_FINITE = 2
STATUS_INTERRUPTED = 3  # Ctrl-C inside a chunk (Triton backend); the steps done are whole

# Codes of the state variables a state monitor can record.
STATE_VARIABLES = ("v", "u", "i_exc", "i_inh")


class NeuronState(NamedTuple):
    """Mutable per-neuron state, float64 arrays of length ``n_dynamic``."""

    v: np.ndarray  # membrane potential, mV
    u: np.ndarray  # Izhikevich recovery variable (0 for LIF neurons)
    i_exc: np.ndarray  # excitatory synaptic current, mV (LIF: R*I) or model units
    i_inh: np.ndarray  # inhibitory synaptic current
    currents: np.ndarray  # [2, n_dynamic]: i_exc and i_inh are its rows (views)
    # LIF refractoriness, as a step number (float64, exact for any practical run): v is
    # integrated, and may spike, at step t only if t >= refractory_until. A spike at step s
    # sets it to s + refractory_steps, so v stays frozen for refractory_steps - 1 updates
    # (Brian2's semantics: not refractory once t - lastspike >= refractory). Starts at -1.
    refractory_until: np.ndarray


class LIFParams(NamedTuple):
    """Per-neuron coefficients of the exact LIF update, precomputed from the model."""

    lo: np.ndarray  # int64 [n_pops]: first global id of each LIF population
    hi: np.ndarray  # int64 [n_pops]: one past the last id
    v_rest: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    decay_m: np.ndarray  # exp(-dt / tau_m)
    gain_exc: np.ndarray  # contribution of i_exc over one step (exact solution)
    gain_inh: np.ndarray
    gain_ext: np.ndarray  # 1 - decay_m: contribution of a current held constant over the step
    refractory_steps: np.ndarray  # float64 whole steps
    uniform: np.ndarray  # bool [n_pops]: all coefficients constant within the population
    external: np.ndarray  # bool [n_pops]: receives an external current (else 0 is used)
    delayed_input: np.ndarray  # bool [n_pops]: receives ring-buffer input (else none is read)


class IzhikevichParams(NamedTuple):
    """Per-neuron Izhikevich (2003) parameters; per-population Euler sub-steps for v."""

    lo: np.ndarray  # int64 [n_pops]
    hi: np.ndarray  # int64 [n_pops]
    substeps: np.ndarray  # int64 [n_pops]: Euler sub-steps of v per dt
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    v_peak: np.ndarray
    k2: np.ndarray  # v' = k2 v^2 + k1 v + k0 - u + I (2003 model: 0.04, 5, 140)
    k1: np.ndarray
    k0: np.ndarray
    v_u: np.ndarray  # u' = a (b (v - v_u) - u) (2003 model: 0)


class Synapses(NamedTuple):
    """Synapses in one CSR matrix over global ids (rows = sources)."""

    # Small integer types: propagation streams these arrays, 17 bytes per synapse instead of 32.
    indptr: np.ndarray  # int64 [n_total + 1]
    target: np.ndarray  # int32 [n_synapses]
    weight: np.ndarray  # float64 [n_synapses]
    delay: np.ndarray  # int32 [n_synapses], steps, >= 1
    receptor: np.ndarray  # int8 [n_synapses], 0 = exc, 1 = inh
    # Derived, for the compiled kernels: where the weight goes, as a flat index. Immediate
    # synapses: receptor * n_dynamic + target into ``NeuronState.currents``. Delayed ones:
    # (delay * 2 + receptor) * n_dynamic + target into the ring, relative to the current slot
    # (one add and one compare per event then find the cell).
    cell: np.ndarray  # int64 [n_synapses]


class Connectivity(NamedTuple):
    """All projections merged: one-step synapses apart from the longer-delayed ones."""

    immediate: Synapses  # delay == 1 step
    delayed: Synapses  # delay >= 2 steps


class Drive(NamedTuple):
    """Everything that drives the network during one chunk of ``k`` steps."""

    decay_exc: np.ndarray  # [n_dynamic] per-step decay of i_exc (0 = instantaneous pulse)
    decay_inh: np.ndarray
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
    state_variable: np.ndarray  # int64 [n_columns]: index into STATE_VARIABLES
    state_neuron: np.ndarray  # int64 [n_columns]
    state_stride: np.ndarray  # int64 [n_columns]: record every `stride` steps
    state_position: np.ndarray  # int64 [n_columns]: next write position in state_values
    state_values: np.ndarray  # float64 flat buffer
    counters: np.ndarray  # int64 [4]: spikes recorded, synaptic events, bad neuron, bad step
