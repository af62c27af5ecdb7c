"""Network: populations, projections, currents, monitors, and the event-driven run loop.

::

    net = ns.Network(dt=0.5, seed=1)
    exc = net.population("exc", ns.Izhikevich.regular_spiking(800, heterogeneity=1.0))
    inh = net.population("inh", ns.Izhikevich.fast_spiking(200, heterogeneity=1.0))
    net.connect(exc, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(0, 0.5))
    net.add_current([exc, inh], ns.NoiseCurrent(std=5.0))
    result = net.run(1000.0)             # ms; backend="numba"

The model is flattened into plain arrays (see ``neurosim.kernels.layout``) at the first
run, and the kernel of the chosen backend advances it chunk by chunk. State persists
between ``run`` calls: a second call continues where the first stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from neurosim.kernels import BACKENDS, get_run_chunk
from neurosim.kernels import layout as L

from . import inputs
from .connect import BUILD_BYTES_PER_SYNAPSE, Rule
from .errors import SimulationError, SimulationInterrupted
from .hooks import HookContext, check_hooks
from .memory import check_memory, release_freed_memory
from .definition import NeuronModel
from .models import (ENGINE_BYTES_PER_NEURON, NEURON_MODELS, SOURCE_MODELS, CustomModel, PoissonCounts, PoissonSource,
                     SpikeTimes)
from .random import Distribution, draw
from .synapse_definition import Synapse
from .result import RunResult, Spikes, StateTrace
from .spike_stream import SpikeStream
from .validation import as_real_array, as_rng, check_flag, check_number, host_values

#: Default memory cap of the delay ring buffer (bytes); a longer max delay needs an explicit max_delay.
RING_BUDGET_BYTES = 1 << 30
#: Most steps one run may take (about 34 years of biological time at dt = 0.1 ms): a bound far
#: beyond any real run, so that a mistyped duration or dt is refused instead of running forever.
MAX_RUN_STEPS = 2**43
#: Bytes per synapse while the network is flattened for its first run: the static projections
#: are copied into one pool (float64: 12 bytes a synapse), freeing each as it is copied.
RUN_BYTES_PER_SYNAPSE = 16
#: Longest delay in steps: the kernels hold delays as int32.
MAX_DELAY_STEPS = 2**31 - 1
#: Delay conventions of ``connect``: neurosim's (the arrival step included) and Brian2's.
DELAY_CONVENTIONS = ("neurosim", "brian2")
#: Steps per block of Poisson source spikes drawn at once (see ``_Flattened._poisson_spikes``).
POISSON_EPOCH_STEPS = 1024
#: "No next spike" of a Poisson source neuron whose rate is 0 (a step no run reaches).
_NEVER = 2**62
#: Initial capacity of a run's spike buffer (spikes); it doubles whenever a chunk needs more.
SPIKE_BUFFER_START = 1 << 16


class Population:
    """A group of neurons (or spike sources) of one model, created by ``Network.population``.

    ``len(pop)`` is its size; ``pop.model`` holds its resolved per-neuron parameters.
    """

    def __init__(self, network: "Network", name: str, model, index: int):
        self.network, self.name, self.model, self.index = network, name, model, index
        self.currents: list[tuple[np.ndarray, np.ndarray]] = []  # (mean, std) per add_current
        self.record_spikes: np.ndarray | bool = True

    def __len__(self) -> int:
        return self.model.n

    @property
    def is_source(self) -> bool:
        return isinstance(self.model, SOURCE_MODELS)

    def __repr__(self) -> str:
        return f"Population({self.name!r}, {type(self.model).__name__}, n={len(self)})"


class Projection:
    """Synapses from ``source`` to ``target`` in CSR form (rows = source neurons).

    ``indptr[i]:indptr[i+1]`` are the synapses of source neuron ``i``; per synapse ``target``
    (int32 index within the target population, ascending within a row), ``weight`` (float64,
    or float32 in a ``Network(precision="float32")``), ``delay`` (integer steps >= 1; a
    read-only broadcast array when all are equal) and ``receptor`` (0 excitatory, 1
    inhibitory current). For a static projection ``weight`` is the weights now (after the
    first run a view of the engine's own array: the synapses are held once); for a plastic one
    the initial weights, and ``weights`` the weights now. ``name`` names the projection in
    results and messages.
    """

    def __init__(self, source: Population, target_population: Population, indptr: np.ndarray, target: np.ndarray,
                 weight: np.ndarray, delay, receptor: int, name: str = "", synapse: Synapse | None = None,
                 synapse_parameters: dict | None = None, synapse_state: dict | None = None):
        self.source, self.target_population, self.indptr = source, target_population, indptr
        self._target, self._weight = target, weight
        self._delay = delay  # an int (every synapse) or a compact integer array
        self.receptor, self.name, self.synapse = receptor, name, synapse
        self.synapse_parameters = synapse_parameters  # per-synapse float64 arrays of the synapse model's parameters
        self.synapse_state = synapse_state  # per-synapse initial state (besides the weight)
        self._pool = None  # (start, stop) in the engine's static synapse pool, once built

    @property
    def target(self) -> np.ndarray:
        if self._pool is not None:
            return self.source.network._sim.static.target[self._pool[0] : self._pool[1]]
        return self._target

    @property
    def weight(self) -> np.ndarray:
        if self._pool is not None:
            return self.source.network._sim.static.weight[self._pool[0] : self._pool[1]]
        return self._weight

    @weight.setter
    def weight(self, values) -> None:
        if self._pool is not None:
            self.weight[:] = values
        else:
            self._weight = values

    @property
    def delay(self) -> np.ndarray:
        if isinstance(self._delay, np.ndarray):
            return self._delay
        return np.broadcast_to(np.int32(self._delay), (self.n_synapses,))

    @property
    def fixed_delay(self) -> int | None:
        """The delay (steps) of every synapse, or None when they differ."""
        return None if isinstance(self._delay, np.ndarray) else int(self._delay)

    @property
    def n_synapses(self) -> int:
        return int(self.indptr[-1])

    @property
    def plastic(self) -> bool:
        return self.synapse is not None

    def sources(self) -> np.ndarray:
        """Source index of every synapse (expands ``indptr``)."""
        return np.repeat(np.arange(self.indptr.size - 1), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        """Dense matrix ``[n_source, n_target]`` of the current weights (summing repeated pairs)."""
        w = np.zeros((len(self.source), len(self.target_population)))
        np.add.at(w, (self.sources(), self.target), self.weights)
        return w

    @property
    def weights(self) -> np.ndarray:
        """The weights now, one per synapse in the projection's (source, target) order (a copy).

        Before the first run these are the initial weights; after it, what the run left (plastic
        synapses change them). Assign an array of the same size (or a scalar) between runs to set
        them; the next run continues from there."""
        return self.synapse_variable(self.synapse.definition.weight if self.plastic else None)

    @weights.setter
    def weights(self, values) -> None:
        self.set_synapse_variable(self.synapse.definition.weight if self.plastic else None, values, "weights")

    def synapse_variable(self, name: str | None) -> np.ndarray:
        """A plastic synapse's state variable now (``name``, e.g. "apre"), per synapse (a copy);
        None: the weight of a static projection."""
        sim = self.source.network._sim
        if name is not None and name not in self._state_names():
            raise ValueError(f"name must be one of the synapse model's state variables {self._state_names()}, got {name!r}")
        if sim is None:
            if name is None or name == self._weight_name():
                return np.array(self.weight, dtype=np.float64)
            return self.synapse_state[name].copy()
        return sim.synapse_values(self, name)

    def set_synapse_variable(self, name: str | None, values, what: str | None = None) -> None:
        """Set a state variable of every synapse (between runs); see :attr:`weights`."""
        what = what or name
        if name is not None and name not in self._state_names():
            raise ValueError(f"name must be one of the synapse model's state variables {self._state_names()}, got {name!r}")
        values = np.broadcast_to(as_real_array(what, values), (self.n_synapses,)) if np.ndim(values) == 0 else \
            as_real_array(what, values)
        if values.shape != (self.n_synapses,):
            raise ValueError(f"{what} must have one value per synapse ({self.n_synapses}), got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{what} must be finite")
        values = np.array(values, dtype=np.float64)
        sim = self.source.network._sim
        if sim is None:
            if name is None or name == self._weight_name():
                self.weight = values if self.plastic else self.source.network._in_precision(values, what)
            else:
                self.synapse_state[name] = values
        else:
            sim.set_synapse_values(self, name, values)

    def _state_names(self) -> tuple:
        return self.synapse.definition.state_names if self.plastic else ()

    def _weight_name(self) -> str | None:
        return self.synapse.definition.weight if self.plastic else None

    def __repr__(self) -> str:
        kind = f", synapse={self.synapse!r}" if self.plastic else ""
        return f"Projection({self.name!r}, {self.n_synapses} synapses{kind})"


@dataclass
class _StateMonitor:
    population: Population
    variables: tuple[str, ...]
    indices: np.ndarray
    stride: int


@dataclass
class _SynapseMonitor:
    projection: Projection
    variables: tuple[str, ...]
    indices: np.ndarray  # synapses, in the projection's order
    stride: int


class Network:
    """A spiking network simulated event-driven with a fixed time step.

    Parameters
    ----------
    dt : time step, ms (> 0).
    seed : int or ``numpy.random.Generator``; every random draw (parameters, connectivity,
        noise, Poisson sources) comes from it, so the same seed gives the same network and the
        same spikes on every backend.
    max_delay : longest synaptic delay allowed, ms. ``None`` allows any delay whose ring
        buffer fits in 1 GiB.
    delay_convention : default of :meth:`connect`'s ``delay_convention``: ``"neurosim"`` (a
        delay counts the step a spike takes to arrive, at least one step) or ``"brian2"``
        (Brian2's ``delay`` as written: one step more, 0 allowed).
    precision : ``"float64"`` (default) or ``"float32"``: the type of the static synapses'
        weights. float32 halves their memory (8 bytes a synapse with the int32 target instead
        of 12); the weights are rounded to float32 once, when connected, and then add exactly
        into the float64 neuron state, so every backend still gives the same spikes. Neuron
        state and plastic synapses stay float64.
    """

    def __init__(self, dt: float = 0.1, seed=None, max_delay: float | None = None,
                 delay_convention: str = "neurosim", precision: str = "float64"):
        self.dt = check_number("dt", dt, positive=True)
        self.rng = as_rng(seed)
        self.seed = seed if isinstance(seed, (int, type(None))) else "generator"
        self.max_delay = None if max_delay is None else check_number("max_delay", max_delay, positive=True)
        self.delay_convention = _check_delay_convention(delay_convention)
        if precision not in ("float64", "float32"):
            raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
        self.precision = np.dtype(precision)
        self.populations: dict[str, Population] = {}
        self.projections: list[Projection] = []
        self._state_monitors: list[_StateMonitor] = []
        self._synapse_monitors: list[_SynapseMonitor] = []
        self._sim = None  # flattened arrays, built at the first run
        self.step = 0  # steps simulated so far
        self.last_result: RunResult | None = None

    def __getstate__(self) -> dict:
        """Pickled (a checkpoint) without the previous run's result, which can be large."""
        return dict(self.__dict__, last_result=None)

    # ---- building -----------------------------------------------------------------
    def population(self, name: str, model) -> Population:
        """Add a population of ``model`` (a neuron model or a spike source) named ``name``."""
        self._check_mutable("add a population")
        if not isinstance(name, str) or not name or "/" in name or "." in name:
            raise ValueError(f"name must be a non-empty string without '/' or '.', got {name!r}")
        if name in self.populations:
            raise ValueError(f"name {name!r} is already used by another population of this network")
        if not isinstance(model, NEURON_MODELS + SOURCE_MODELS):
            allowed = ", ".join(m.__name__ for m in NEURON_MODELS + SOURCE_MODELS if m is not CustomModel)
            hint = (" (a NeuronModel is a definition: call it for a population's model, e.g. MyModel(100, tau=5.0))"
                    if isinstance(model, NeuronModel) else "")
            raise TypeError(f"model must be one of {allowed} or a NeuronModel's model, got {type(model).__name__}{hint}")
        check_memory(f"population {name!r} ({type(model).__name__}, n = {model.n})",
                     model.n * model.bytes_per_neuron(), "use fewer neurons")
        if not isinstance(model, SpikeTimes):
            model = model.resolve(self.rng)
        if isinstance(model, PoissonCounts):  # rate * dt / 1000 <= 1, now that dt is known
            model.probability(self.dt, f"population {name!r}: PoissonCounts.rate")
        pop = Population(self, name, model, len(self.populations))
        self.populations[name] = pop
        return pop

    def connect(self, source, target, rule: Rule, weight=None, delay=None, receptor: str | None = None,
                allow_self: bool = False, delay_convention: str | None = None, synapse: Synapse | None = None,
                name: str | None = None) -> Projection | list[Projection]:
        """Connect ``source`` to ``target`` (a population or a list of them) by ``rule``.

        Parameters
        ----------
        rule : ``ns.connect.random(p)``, ``fixed_in_degree(k)``, ``fixed_out_degree(k)``, ``one_to_one()``,
            ``all_to_all()`` or ``from_matrix(W)``.
        weight : scalar, per-synapse array or distribution (model current units: mV for LIF).
            Required except with ``from_matrix`` (whose entries are the weights).
        delay : ms; scalar, per-synapse array or distribution; rounded to whole steps, at least
            one step (``dt``), which is also the default: a spike at step t acts from step t + 1.
            With ``from_matrix`` a per-synapse array follows the matrix's entries (see
            ``ns.connect.from_matrix``) or is a matrix of the same shape.
        receptor : "exc" or "inh": which synaptic current the weights add to. Default: "inh" if
            all weights are negative, else "exc".
        allow_self : keep synapses from a neuron onto itself (only when source is target).
        delay_convention : "neurosim" (default: the network's) or "brian2". neurosim's delay
            includes the step a spike takes to arrive, so Brian2's ``delay = 0`` is neurosim's
            ``delay = dt``; with "brian2" the delay is Brian2's as written (>= 0), and one step
            is added, so a ported script keeps its timing.
        synapse : a plastic synapse (a :class:`neurosim.SynapseModel` called with its values, e.g.
            ``neurosim.plasticity.STDP(w_max=0.01)``), or None for static synapses. ``weight``
            sets the initial value of its weight variable; its parameters may be per-synapse
            arrays (in the synapse order) or distributions.
        name : the projection's name in results and messages (default ``"source->target"``).

        Per-synapse arrays (weights, delays) of rules other than ``from_matrix`` follow the
        (source, target) order of the synapses. The projection holds them sorted that way.
        """
        if isinstance(target, (list, tuple)):
            return [self.connect(source, t, rule, weight, delay, receptor, allow_self, delay_convention, synapse, name)
                    for t in target]
        if isinstance(source, (list, tuple)):
            return [self.connect(s, target, rule, weight, delay, receptor, allow_self, delay_convention, synapse, name)
                    for s in source]
        self._check_mutable("connect populations")
        self._check_own("source", source)
        self._check_own("target", target)
        if target.is_source:
            raise ValueError(f"target {target.name!r} is a spike source ({type(target.model).__name__}); it cannot receive synapses")
        if not isinstance(rule, Rule):
            raise TypeError(f"rule must be a connectivity rule from ns.connect (random, fixed_in_degree, fixed_out_degree, one_to_one, all_to_all, from_matrix), got {type(rule).__name__}")
        allow_self = check_flag("allow_self", allow_self)
        if receptor is not None and receptor not in ("exc", "inh"):
            raise ValueError(f"receptor must be 'exc', 'inh' or None, got {receptor!r}")
        convention = self.delay_convention if delay_convention is None else _check_delay_convention(delay_convention)
        self_conn = allow_self or source is not target
        n_pre, n_post = len(source), len(target)
        expected = rule.expected_synapses(n_pre, n_post)
        if expected is not None:
            check_memory(f"connect {source.name!r} -> {target.name!r} by {rule!r:.60} (about {expected:.3g} synapses)",
                         expected * rule.build_bytes, "use a sparser rule or smaller populations")
        if rule.has_weights:
            if weight is not None:
                raise ValueError("weight must be None with from_matrix: the matrix entries are the weights")
            # per-synapse delays follow the matrix's own entry order, so they are drawn per entry
            # before the diagonal is dropped and everything is sorted together
            pre, post, w = rule.entries(n_pre, n_post)
            w = draw("weight", w, pre.size, self.rng)
            delay_ms = self._delay_per_entry(delay, pre, post, n_pre, n_post)
            keep = np.lexsort((post, pre))
            if not self_conn:
                keep = keep[pre[keep] != post[keep]]
            pre, post, w = pre[keep], post[keep], w[keep]
            delay_ms = None if delay_ms is None else delay_ms[keep]
            indptr = np.zeros(n_pre + 1, dtype=np.int64)
            np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
            post, w = post.astype(np.int32), self._in_precision(w)
            del pre
        else:
            if weight is None:
                raise ValueError("weight is required (scalar, per-synapse array or distribution)")
            indptr, post = rule.csr(n_pre, n_post, self.rng, self_conn)  # rows sorted: (source, target) order
            w = self._weights(weight, post.size)
            if delay is None:
                delay_ms = None
            elif np.ndim(delay) == 0 and not isinstance(delay, Distribution):
                delay_ms = draw("delay", delay, 1, self.rng)  # one value for all: no array of n
            else:
                delay_ms = draw("delay", delay, post.size, self.rng)
        delay_steps = self._delay_steps(delay_ms, post.size, convention)
        del delay_ms
        if receptor is None:
            receptor = "inh" if w.size and np.all(w < 0) else "exc"
        inputs = target.model.definition.inputs
        if receptor not in inputs:
            raise ValueError(f"receptor {receptor!r}: population {target.name!r} ({target.model.definition.name}) takes "
                             f"synaptic input only at {', '.join(map(repr, inputs)) or 'no receptor'}"
                             + ("" if w.size == 0 or receptor == "exc" else " (negative weights default to 'inh')"))
        name = self._projection_name(name, source, target)
        parameters, state = self._synapse_values(synapse, name, target, post.size)
        if synapse is not None and w.dtype != np.float64:
            w = w.astype(np.float64)  # plastic synapses keep float64 state
        proj = Projection(source, target, indptr, post, w, delay_steps, 0 if receptor == "exc" else 1,
                          name, synapse, parameters, state)
        self.projections.append(proj)
        release_freed_memory()
        return proj

    def _weights(self, weight, n: int) -> np.ndarray:
        """``n`` weights in the network's precision: a scalar filled, a distribution drawn in
        blocks (so a float32 projection never holds a float64 copy of all its weights)."""
        if np.ndim(weight) == 0 and not isinstance(weight, Distribution):
            w0 = self._in_precision(draw("weight", weight, 1, self.rng))
            return np.full(n, w0[0], dtype=self.precision)
        if isinstance(weight, Distribution) and self.precision != np.float64:
            out = np.empty(n, dtype=self.precision)
            block = 1 << 20  # 8 MiB of float64 draws at a time
            for start in range(0, n, block):
                out[start : start + block] = self._in_precision(draw("weight", weight, min(block, n - start), self.rng))
            return out
        return self._in_precision(draw("weight", weight, n, self.rng))

    def _in_precision(self, w: np.ndarray, what: str = "weight") -> np.ndarray:
        """Finite float64 weights in the network's precision; refuses those float32 cannot hold."""
        if self.precision == np.float64:
            return w
        with np.errstate(over="ignore"):
            out = w.astype(self.precision)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{what} must be within float32's range (|w| < 3.4e38) in a Network(precision='float32'), "
                             f"got maximum |w| = {np.abs(w).max():.3g}; use precision='float64'")
        return out

    def _projection_name(self, name, source, target) -> str:
        """``name`` checked, or a default "source->target" (numbered when already taken)."""
        taken = {p.name for p in self.projections}
        if name is not None:
            if not isinstance(name, str) or not name or "/" in name:
                raise ValueError(f"name must be a non-empty string without '/', got {name!r}")
            if name in taken:
                raise ValueError(f"name {name!r} is already used by another projection of this network")
            return name
        base = name = f"{source.name}->{target.name}"
        k = 2
        while name in taken:
            name, k = f"{base}#{k}", k + 1
        return name

    def _synapse_values(self, synapse, name: str, target, n: int) -> tuple[dict | None, dict | None]:
        """Per-synapse parameters and initial state of a plastic projection (None, None if static);
        refuses a rule that reads a variable the target's model lacks."""
        if synapse is None:
            return None, None
        if not isinstance(synapse, Synapse):
            from .synapse_definition import SynapseModel

            hint = (" (a SynapseModel is a definition: call it with its values, e.g. MyRule(tau=10.0))"
                    if isinstance(synapse, SynapseModel) else "")
            raise TypeError(f"synapse must be a plastic synapse such as neurosim.plasticity.STDP(...) or a "
                            f"SynapseModel called with its values, got {type(synapse).__name__}{hint}")
        d = synapse.definition
        model = target.model.definition
        missing = [v for v in d.reads_post if v not in model.state]
        if missing:
            raise ValueError(f"synapse: the rule {d.name!r} reads {', '.join(m + '_post' for m in missing)}, but the "
                             f"target population {target.name!r} ({model.name}) has no such state variable "
                             f"(it has {', '.join(model.state)})")
        parameters = d.resolve(synapse.values, n, self.rng, f"projection {name!r}")
        return parameters, d.initial_state(parameters, n)

    def _delay_per_entry(self, delay, pre, post, n_pre, n_post) -> np.ndarray | None:
        """Delays (ms) of ``from_matrix``'s entries, in their order: from a scalar, a
        distribution, one value per entry, or a matrix of the weight matrix's shape."""
        if delay is None:
            return None
        import scipy.sparse as sp

        if sp.issparse(delay):
            if delay.shape != (n_pre, n_post):
                raise ValueError(f"delay: a delay matrix must have the weight matrix's shape {(n_pre, n_post)}, "
                                 f"got {delay.shape}")
            delay = np.asarray(delay.tocsr()[pre, post]).ravel()
        elif not isinstance(delay, Distribution):
            values = np.asarray(host_values("delay", delay)) if not np.isscalar(delay) else None
            if values is not None and values.ndim == 2:
                if values.shape != (n_pre, n_post):
                    raise ValueError(f"delay: a delay matrix must have the weight matrix's shape {(n_pre, n_post)}, "
                                     f"got {values.shape}")
                delay = as_real_array("delay", values)[pre, post]
            elif values is not None and values.ndim == 1 and values.size != pre.size:
                kept = int(np.sum(pre != post))
                hint = (f" (the {pre.size - kept} diagonal entries dropped by allow_self=False count too)"
                        if values.size == kept else "")
                raise ValueError(f"delay: a per-synapse array with from_matrix has one value per matrix entry, in the "
                                 f"entries' order: {pre.size} values, got {values.size}{hint}")
        return draw("delay", delay, pre.size, self.rng)

    def _delay_steps(self, ms: np.ndarray | None, n: int, convention: str) -> np.ndarray:
        """Whole-step delays of ``n`` synapses from their delays in ms (None: the minimum): an
        int when all are equal, else the smallest unsigned array that holds them."""
        if ms is None or n == 0:
            return 1
        extra = 1 if convention == "brian2" else 0
        least = 0.0 if extra else self.dt
        if ms.min() < least - self.dt * 1e-9:
            if extra:
                raise ValueError(f"delay must be >= 0 ms, got minimum {ms.min()} ms")
            raise ValueError(
                f"delay must be at least one time step (dt = {self.dt} ms), got minimum {ms.min()} ms. neurosim's "
                f"delay includes the step a spike takes to arrive (a spike at step t acts from step t + delay/dt), so "
                f"Brian2's delay = 0 is delay = dt here; to port Brian2 delays as written, pass "
                f"delay_convention='brian2' to connect or Network (it adds that step)")
        with np.errstate(over="ignore"):  # an overflow to inf is refused just below
            steps_f = np.rint(ms / self.dt) + extra
        if steps_f.max() > MAX_DELAY_STEPS:  # checked as floats: a cast of 2^63 or more would wrap
            raise ValueError(f"delay must be at most {MAX_DELAY_STEPS} time steps ({MAX_DELAY_STEPS * self.dt:g} ms at "
                             f"dt = {self.dt} ms), got maximum {ms.max():g} ms = {steps_f.max():.3g} steps")
        if self.max_delay is not None and ms.max() > self.max_delay * (1 + 1e-9):
            raise ValueError(f"delay must be <= the network's max_delay = {self.max_delay} ms, got {ms.max()} ms")
        lo, hi = int(steps_f.min()), int(steps_f.max())
        if lo == hi:
            return lo
        return steps_f.astype(np.uint16 if hi < 2**16 else np.int32)

    def add_current(self, target, current) -> None:
        """Inject a :class:`ConstantCurrent` or :class:`NoiseCurrent` into a population (or a list)."""
        if isinstance(target, (list, tuple)):
            for t in target:
                self.add_current(t, current)
            return
        self._check_mutable("add a current")
        self._check_own("target", target)
        if target.is_source:
            raise ValueError(f"target {target.name!r} is a spike source; currents go into neuron populations")
        if not isinstance(current, (inputs.ConstantCurrent, inputs.NoiseCurrent)):
            raise TypeError(f"current must be ns.ConstantCurrent or ns.NoiseCurrent, got {type(current).__name__}")
        target.currents.append(inputs.combine([current], len(target), self.rng))

    def add_poisson_input(self, target, n_inputs: int, rate, weight, receptor: str = "exc",
                          name: str | None = None):
        """Drive every neuron of ``target`` with its own ``n_inputs`` Poisson inputs of ``rate`` Hz
        each, as Brian2's ``PoissonInput(target, var, N=n_inputs, rate=rate, weight=weight)``.

        Each step a neuron receives ``Binomial(n_inputs, rate * dt / 1000)`` input events (several
        per step allowed), independent across neurons and steps, each adding ``weight`` to its
        ``receptor`` current (or conductance) from the next step on, as a synapse of the minimum
        delay (Brian2's ``PoissonInput`` acts in the synapses slot, seen by the next update).

        Parameters
        ----------
        target : Population (a neuron population of this network), or a list of them (one
            source population each, returned as a list; ``name`` must then be None).
        n_inputs : inputs per neuron, an integer >= 1.
        rate : rate of each input, Hz (>= 0, finite, at most 1000 / dt); a scalar, one value per
            target neuron, or a distribution.
        weight : added per input event, in the receptor's units (mV for LIF currents, nS for
            conductances); a finite scalar, one value per target neuron, or a distribution.
        receptor : "exc" or "inh": a synaptic input of the target's model.
        name : name of the source population; default ``f"{target.name}_poisson"``.

        Returns
        -------
        Population : the source, a :class:`PoissonCounts` of ``len(target)`` bundles connected
        one-to-one to ``target`` (its projection is ``network.projections[-1]``). Its events are
        not recorded (they can be millions per second); ``record_spikes(pop)`` records them
        as its spikes.
        """
        from .connect import one_to_one
        from .validation import check_int

        if isinstance(target, (list, tuple)):
            if name is not None:
                raise ValueError("name must be None when target is a list (each source is named after its target)")
            return [self.add_poisson_input(t, n_inputs, rate, weight, receptor, None) for t in target]
        self._check_mutable("add a Poisson input")
        self._check_own("target", target)
        if target.is_source:
            raise ValueError(f"target {target.name!r} is a spike source ({type(target.model).__name__}); Poisson "
                             "input goes into neuron populations")
        n_inputs = check_int("n_inputs", n_inputs, minimum=1)
        if receptor not in ("exc", "inh"):
            raise ValueError(f"receptor must be 'exc' or 'inh', got {receptor!r}")
        receptors = target.model.definition.inputs
        if receptor not in receptors:
            raise ValueError(f"receptor {receptor!r}: population {target.name!r} ({target.model.definition.name}) takes "
                             f"synaptic input only at {', '.join(map(repr, receptors)) or 'no receptor'}")
        if isinstance(weight, Distribution):
            pass  # drawn, and checked finite, by connect
        elif weight is None or np.ndim(host_values("weight", weight)) == 0:
            check_number("weight", weight)  # a clear message before anything is created
        name = f"{target.name}_poisson" if name is None else name
        if name in self.populations:
            raise ValueError(f"name {name!r} is already used by another population of this network; pass another "
                             "name to add_poisson_input")
        if not isinstance(rate, Distribution):
            rate = host_values("rate", rate)
            if np.ndim(rate) == 0:  # arrays are checked by population() (>= 0, finite, rate * dt)
                rate = check_number("rate", rate, nonnegative=True)
                PoissonCounts(1, n_inputs, rate).probability(self.dt, "rate")
        source = self.population(name, PoissonCounts(len(target), n_inputs, rate))
        try:
            self.connect(source, target, one_to_one(), weight=weight, receptor=receptor)
        except Exception:
            del self.populations[name]  # leave the network as it was
            raise
        source.record_spikes = False
        return source

    def add_spikes(self, population: Population, indices, times) -> None:
        """Schedule more spikes of a :class:`SpikeTimes` source, also between runs: neuron
        ``indices[k]`` spikes at ``times[k]`` (ms of network time, not before the current time
        ``step * dt``; rounded to steps as ``SpikeTimes`` rounds them). Input generated as the
        run goes (closed-loop stimuli, a stimulus that starts later) joins the spikes already
        scheduled."""
        self._check_own("population", population)
        if not isinstance(population.model, SpikeTimes):
            raise TypeError(f"population {population.name!r} must be a SpikeTimes source to take spikes, it is a "
                            f"{type(population.model).__name__}")
        more = SpikeTimes(len(population), indices, times)  # checks indices and times
        now = self.step * self.dt
        if more.times.size and more.times.min() < now - self.dt / 2:
            raise ValueError(f"times must not lie before the current time {now:g} ms, got {more.times.min():g} ms")
        if self._sim is None:
            old = population.model
            population.model = SpikeTimes(len(population), np.concatenate([old.indices, more.indices]),
                                          np.concatenate([old.times, more.times]))
            return
        steps, idx = self._sim.spike_times[population.name]
        new_steps, new_idx = more.steps(self.dt)
        keep = steps >= self.step  # the past is delivered already
        steps, idx = np.concatenate([steps[keep], new_steps]), np.concatenate([idx[keep], new_idx])
        order = np.argsort(steps, kind="stable")
        self._sim.spike_times[population.name] = (steps[order], idx[order])

    def record_spikes(self, population: Population, indices=True) -> None:
        """Choose whose spikes are recorded: True (all, the default), False (none) or an index array."""
        self._check_own("population", population)
        if indices is True or indices is False:
            population.record_spikes = indices
            return
        idx = _check_indices("indices", indices, len(population))
        mask = np.zeros(len(population), dtype=bool)
        mask[idx] = True
        population.record_spikes = mask

    def monitor_state(self, population: Population, variables=("v",), indices=None, every: float | None = None) -> str:
        """Record state variables of some neurons every ``every`` ms (default: every step).

        ``variables``: state variables of the population's model (``model.state_variables``:
        LIF "v", "i_exc", "i_inh"; Izhikevich also "u"; AdEx "v", "w", ...; a NeuronModel's own
        ``state``). ``indices``: neurons
        within the population (default all). The traces appear in ``result.states`` under
        ``"<population>.<variable>"``, sampled at the start of each recorded step.
        """
        self._check_own("population", population)
        if population.is_source:
            raise ValueError(f"population {population.name!r} is a spike source; it has no state variables")
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        allowed = population.model.state_variables
        for var in variables:
            if var not in allowed:
                raise ValueError(f"variables of a {type(population.model).__name__} population must be among "
                                 f"{allowed}, got {var!r}")
        idx = np.arange(len(population)) if indices is None else _check_indices("indices", indices, len(population))
        stride = 1
        if every is not None:
            every = check_number("every", every, positive=True)
            stride = int(round(every / self.dt))
            if stride < 1:
                raise ValueError(f"every must be at least dt = {self.dt} ms, got {every} ms")
        self._state_monitors.append(_StateMonitor(population, variables, idx, stride))
        return population.name

    def monitor_synapses(self, projection: Projection, variables=None, indices=None, every: float | None = None) -> str:
        """Record state variables of some plastic synapses every ``every`` ms (default: every step).

        ``variables``: the synapse model's state variables (default: its weight; e.g. ``("w",
        "apre")`` for STDP). ``indices``: synapses within the projection, in its synapse order
        (``projection.sources()``/``projection.target``; default all). The traces appear in
        ``result.states`` under ``"<projection name>.<variable>"`` (values ``[n_samples,
        n_indices]``), sampled at the start of each recorded step, before that step's events.
        A sample is taken between kernel calls, so a short ``every`` makes the run slower: every
        ms or coarser costs little.
        """
        if not isinstance(projection, Projection) or projection.source.network is not self:
            raise TypeError(f"projection must be a Projection of this network (returned by connect), got "
                            f"{type(projection).__name__}")
        if not projection.plastic:
            raise ValueError(f"projection {projection.name!r} is static: its weights do not change during a run; "
                             "read them with projection.weights")
        d = projection.synapse.definition
        variables = (d.weight,) if variables is None else (variables,) if isinstance(variables, str) else tuple(variables)
        for var in variables:
            if var not in d.state:
                raise ValueError(f"variables of projection {projection.name!r} ({d.name}) must be among "
                                 f"{d.state_names}, got {var!r}")
        idx = (np.arange(projection.n_synapses) if indices is None
               else _check_indices("indices", indices, projection.n_synapses))
        stride = 1
        if every is not None:
            stride = int(round(check_number("every", every, positive=True) / self.dt))
            if stride < 1:
                raise ValueError(f"every must be at least dt = {self.dt} ms, got {every} ms")
        self._synapse_monitors.append(_SynapseMonitor(projection, variables, idx, stride))
        return projection.name

    def state_values(self, population: Population, variable: str) -> np.ndarray:
        """The state variable ``variable`` of every neuron of ``population`` now (a float64 copy,
        ``[len(population)]``): its initial values before the first run, after a run what the run
        left. The PyNN interface reads the state through this to carry it across rebuilds."""
        self._check_own("population", population)
        if population.is_source:
            raise ValueError(f"population {population.name!r} is a spike source; it has no state variables")
        d = population.model.definition
        if variable not in d.state:
            raise ValueError(f"variable must be one of the state variables {tuple(d.state)} of population "
                             f"{population.name!r}, got {variable!r}")
        if self._sim is None:
            model = population.model
            return d.evaluate_init(model.definition_numbers(self.dt), len(population))[variable].copy()
        off = self._sim.offset[population.name]
        return self._sim.state.values[self._sim.rows_of[population.name][variable], off : off + len(population)].copy()

    # ---- running ------------------------------------------------------------------
    def run(self, duration: float, backend: str = "numba", progress: bool | None = None,
            chunk_ms: float | None = None, hooks=None, checkpoint_every: float | None = None,
            checkpoint_path=None, stream_spikes_to=None, device=None, threads: int | None = None) -> RunResult:
        """Simulate ``duration`` ms and return what was recorded.

        Parameters
        ----------
        duration : biological time, ms (>= 0; rounded to whole steps).
        backend : "numba" (compiled CPU kernel, default), "numpy" (the reference) or "triton"
            (GPU kernels; :mod:`neurosim.kernels.engine.triton` says how its spikes compare).
        progress : show a progress bar; None shows it on a terminal only.
        chunk_ms : biological time per kernel call (default: 1000 steps, doubling up to 16 000
            while a call takes under 10 ms of wall time); the progress bar and Ctrl-C act
            between chunks (backend "triton": Ctrl-C after the step under way). Results do not
            depend on it.
        hooks : a :class:`neurosim.Hook` or a list of them, called inside the run every
            ``hook.every`` steps (online learning, closed-loop input; see ``neurosim.hooks``).
        checkpoint_every, checkpoint_path : every ``checkpoint_every`` ms of biological time,
            write the whole run (network state, random streams, what was recorded so far, how
            far the run has got) to the file ``checkpoint_path``, atomically: a run killed
            mid-write leaves the previous checkpoint readable. :meth:`Network.resume` finishes
            the run from it, spike for spike as if it had not stopped. Not with ``hooks``
            (a hook's own state is not saved).
        stream_spikes_to : a folder: after every chunk, append the recorded spikes to files
            there and drop them from memory, so a run of any length records in bounded memory;
            ``result.spikes`` are then read-only memory maps of those files
            (:mod:`neurosim.spike_stream`). Not with ``hooks`` (they read spikes from memory).
        device : backend "triton" only: the CUDA device (default: the current one); "cpu" runs
            the kernels in Triton's interpreter when TRITON_INTERPRET=1 was set (slow; tests).
        threads : backend "numba": CPU threads for the neuron updates and the synaptic delivery
            (the delivery is split by target neuron, so the spikes are the same for any number).
            None (default): Numba's threads (``numba.get_num_threads()``: ``NUMBA_NUM_THREADS``,
            the cores, unless set lower, as sweep workers do) for
            networks of at least ``PARALLEL_MIN_NEURONS`` neurons, one below that, where waking
            threads every step costs more than it saves. A network with plastic synapses runs
            on one thread.

        Raises
        ------
        SimulationError : a membrane became NaN/inf; ``err.result`` has everything recorded.
        SimulationInterrupted : Ctrl-C; ``err.result`` has everything recorded.
        Any exception a hook raises ends the run; ``network.last_result`` then holds
        everything recorded before it.
        """
        duration = check_number("duration", duration, nonnegative=True)
        progress = check_flag("progress", progress, none_ok=True)
        _check_backend(backend, device)
        hooks = check_hooks(self, hooks)
        if (checkpoint_every is None) != (checkpoint_path is None):
            raise ValueError("checkpoint_every and checkpoint_path must be given together")
        every = 0
        if checkpoint_every is not None:
            every = max(1, int(round(check_number("checkpoint_every", checkpoint_every, positive=True) / self.dt)))
            if hooks:
                raise ValueError("checkpoint_every cannot be combined with hooks: a hook's own state (a readout, "
                                 "an optimiser) is not saved in the checkpoint")
            checkpoint_path = _check_output_file("checkpoint_path", checkpoint_path)
        n_steps = self._steps_of(duration)
        chunk = 1000 if chunk_ms is None else max(1, int(round(check_number("chunk_ms", chunk_ms, positive=True) / self.dt)))
        chunk = min(chunk, max(n_steps, 1))  # a chunk's buffers are allocated whole: never beyond the run
        t_build = time.perf_counter()
        if self._sim is None:
            self._check_build_memory()
            self._sim = _Flattened(self)
            release_freed_memory()
        build_s = time.perf_counter() - t_build
        self._check_run_memory(n_steps, chunk)
        rec = _Recording(self._sim, self._state_monitors, self.step, [p for h in hooks for p in h.populations],
                         self._synapse_monitors)
        if stream_spikes_to is not None:
            if hooks:
                raise ValueError("stream_spikes_to cannot be combined with hooks: hooks read the run's spikes from memory")
            recorded = [p.name for p in self._sim.pops if p.record_spikes is not False]
            rec.stream = SpikeStream(_check_path("stream_spikes_to", stream_spikes_to), recorded)
        plan = _RunPlan(n_steps, 0, chunk, every, checkpoint_path, adaptive=chunk_ms is None)
        return self._execute(rec, plan, backend, progress, hooks, device, build_s, _check_threads(threads, backend, self._sim))

    @staticmethod
    def resume(path, backend: str | None = None, progress: bool | None = None,
               device=None, checkpoint_path=None, threads: int | None = None) -> tuple["Network", RunResult]:
        """Finish the run saved in the checkpoint file ``path`` (see :meth:`run`).

        Returns ``(network, result)``: the network at the end of the run, and the result of the
        WHOLE run (everything recorded before the checkpoint, then the rest), equal spike for
        spike to the run that was never interrupted. ``backend``: any engine backend (default:
        the run's own; ``device`` as in :meth:`run`). The run goes on writing checkpoints, to
        ``checkpoint_path`` if given, else to ``path`` (where the checkpoint is now, even if it
        was moved since it was written). ``threads`` as in :meth:`run`.

        The file is checked before anything runs (its checksum, then the bounds and shapes of
        every array the kernels index with): a damaged, truncated or foreign file raises
        :class:`neurosim.DamagedFileError` naming it. A checkpoint is a pickle, and unpickling
        runs code: load only checkpoints you wrote.
        """
        from .checkpoint import read_checkpoint

        progress = check_flag("progress", progress, none_ok=True)
        if backend is not None:  # before reading a possibly large file
            _check_backend(backend, device)
        net, rec, plan, saved_backend = read_checkpoint(_check_path("path", path))
        backend = saved_backend if backend is None else backend
        _check_backend(backend, device)
        if plan.every:
            plan.path = _check_output_file("checkpoint_path", path if checkpoint_path is None else checkpoint_path)
        if rec.stream is not None:
            rec.stream.truncate()  # drop spikes the stopped run streamed after its checkpoint
        return net, net._execute(rec, plan, backend, progress, [], device, 0.0, _check_threads(threads, backend, net._sim))

    def _checkpoint(self, rec: "_Recording", plan: "_RunPlan", backend: str) -> None:
        """Write the run so far to ``plan.path`` (sealed, atomically: see neurosim.checkpoint)."""
        from .checkpoint import write_checkpoint

        write_checkpoint(plan.path, self, rec, plan, backend)

    def _steps_of(self, duration: float) -> int:
        """Number of steps of a run of ``duration`` ms, refused up front when absurd (the run
        would never end, or its step counter overflow)."""
        steps = duration / self.dt  # a float: may be inf, which no int conversion survives
        if steps > MAX_RUN_STEPS:
            raise ValueError(f"duration / dt = {duration:g} ms / {self.dt:g} ms = {steps:.3g} time steps; a run takes "
                             f"at most {MAX_RUN_STEPS:.3g} steps (more would never finish): shorten duration or "
                             "raise dt")
        return int(round(steps))

    def _check_build_memory(self) -> None:
        """Refuse, before building, a network whose flattened arrays cannot fit in memory."""
        n = sum(len(p) for p in self.populations.values())
        synapses = sum(p.n_synapses for p in self.projections)
        check_memory(f"building the network ({n} neurons, {synapses} synapses) for its first run",
                     n * ENGINE_BYTES_PER_NEURON + synapses * RUN_BYTES_PER_SYNAPSE,
                     "use fewer neurons or synapses")

    def _check_run_memory(self, n_steps: int, chunk: int) -> None:
        """Refuse up front a run whose recording cannot fit in memory: the spike counts of every
        population at every step and the sampled state traces grow with the duration (spikes
        too, but their number is not known in advance)."""
        sim = self._sim
        samples = sum(m.indices.size * len(m.variables) * (n_steps // m.stride + 1)
                      for m in self._state_monitors + self._synapse_monitors)
        per_chunk = chunk * (len(sim.pops) * 8 + sim.noise_ids.size * 8)  # counts, noise draws
        check_memory(f"run of {n_steps} steps ({n_steps * self.dt:g} ms at dt = {self.dt:g} ms) recording "
                     f"{len(sim.pops)} population counts per step and {samples} state samples",
                     n_steps * len(sim.pops) * 12 + samples * 16 + per_chunk,
                     "shorten duration, raise dt, or monitor fewer state variables (fewer indices, larger every)")

    def _execute(self, rec: "_Recording", plan: "_RunPlan", backend: str, progress, hooks, device=None,
                 build_s: float = 0.0, threads: int = 1) -> RunResult:
        """The run loop: chunks of kernel calls from ``plan.done`` to ``plan.n_steps``, hooks and
        checkpoints between them; always returns (or attaches to its error) what was recorded."""
        sim, n_steps, chunk = self._sim, plan.n_steps, plan.chunk
        run_chunk = (sim.engine(device) if backend == "triton"
                     else get_run_chunk(backend, sim.definitions, sim.synapse_definitions, parallel=threads))
        # a device backend keeps the state on the device during the run: copy it back when asked
        to_host = getattr(run_chunk, "to_host", lambda: None)
        ctx = HookContext(sim, rec)
        from tqdm.auto import tqdm

        # disable=None lets tqdm show the bar on a terminal only.
        bar = tqdm(total=round(n_steps * self.dt, 6), initial=round(plan.done * self.dt, 6), unit="ms",
                   desc=f"neurosim [{backend}]",
                   disable=None if progress is None else not progress, leave=False,
                   # whole ms: sums of float steps would print as 2315.839999998474
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} ms [{elapsed}<{remaining}, {rate_fmt}]")
        # A zero-step call compiles the kernel (or loads it from Numba's disk cache) before the
        # clock starts, so wall_time_s is building (on a first run) plus simulating; compile time
        # is reported apart.
        t_compile = time.perf_counter()
        rec.run_chunk(run_chunk, self.step, 0)
        compile_s = time.perf_counter() - t_compile
        t0, done, status, error, hook_error = time.perf_counter(), plan.done, "completed", None, None
        # Each hook reads the spikes since ITS previous call: (step, spike-buffer position) of
        # that call. Chunks end wherever any hook (or the chunk size) says, so one hook's window
        # can span several chunks and other hooks' calls.
        since = [(self.step, int(rec.counters[0]))] * len(hooks)
        restore_threads = _use_threads(threads)
        try:
            if done == 0 < n_steps:  # a resumed run sampled this step before its checkpoint
                rec.sample_synapses(self.step, to_host)
            ctx._window(self.step, self.step, 0, 0)
            for h in hooks:
                h.start(ctx)
            while done < n_steps:
                # stop at the next step where a hook or a checkpoint is due
                due = [h.every - done % h.every for h in hooks] + ([plan.every - done % plan.every] if plan.every else [])
                due += [m.stride - self.step % m.stride for m in rec.synapse_monitors]
                k = min([chunk, n_steps - done] + due)
                t_chunk = time.perf_counter()
                chunk_status, k_done = rec.run_chunk(run_chunk, self.step, k)
                if getattr(plan, "adaptive", False) and k == chunk:
                    chunk = _grown_chunk(chunk, time.perf_counter() - t_chunk, sim, plan.chunk)
                ok = chunk_status == L.STATUS_DONE
                done += k_done
                self.step += k_done
                bar.update(round(k_done * self.dt, 6))
                if chunk_status == L.STATUS_INTERRUPTED:
                    raise KeyboardInterrupt
                if ok and done < n_steps:
                    rec.sample_synapses(self.step, to_host)
                if ok and plan.every and done % plan.every == 0:
                    plan.done = done
                    to_host()
                    self._checkpoint(rec, plan, backend)
                if ok:
                    for i, h in enumerate(hooks):
                        if done % h.every == 0:
                            now = (self.step, int(rec.counters[0]))
                            ctx._window(since[i][0], self.step, since[i][1], now[1])
                            since[i] = now
                            h(ctx)
                if not ok and rec.counters[4]:
                    m, k, step = int(rec.counters[4]) - 1, int(rec.counters[5]), int(rec.counters[3])
                    proj_index = int(sim.plastic_owner[m][k])
                    proj = self.projections[proj_index]
                    local = int(np.flatnonzero(sim.plastic_position[proj_index][1] == k)[0])
                    status = "failed"
                    error = (f"synapse state ({', '.join(proj.synapse.definition.state)}) became NaN/inf in projection "
                             f"{proj.name!r} (synapse {local}) at time step {step} (t = {step * self.dt:g} ms); check the "
                             "rule's parameters and bounds", proj.name, local, step)
                    break
                if not ok:
                    bad, step = int(rec.counters[2]), int(rec.counters[3])
                    pop, local = sim.locate(bad)
                    status = "failed"
                    error = (f"membrane potential became NaN/inf in population {pop!r} (neuron {local}) at time step "
                             f"{step} (t = {step * self.dt:g} ms); reduce dt, weights or input", pop, local, step)
                    break
        except KeyboardInterrupt:
            status = "interrupted"
        except Exception as exc:  # a hook or a checkpoint write failed: keep what was recorded, then re-raise
            status, hook_error = "failed", exc
        finally:
            restore_threads()
            bar.close()
            to_host()
            for i, h in enumerate(hooks):
                # finish sees the spikes since the hook's last call (the run's tail)
                ctx._window(since[i][0], self.step, since[i][1], int(rec.counters[0]))
                try:
                    h.finish(ctx)
                except Exception as exc:  # keep what was recorded; the first error wins
                    if hook_error is None and status == "completed":
                        status, hook_error = "failed", exc
            sim.hook_current[:] = 0.0  # hook currents live for one run (also those set by finish)
        simulate_s = time.perf_counter() - t0
        info = {"backend": backend, "wall_time_s": build_s + simulate_s, "build_s": build_s,
                "simulate_s": simulate_s, "compile_s": compile_s, "seed": self.seed, "status": status,
                "synaptic_events": int(rec.counters[1]), "n_synapses": sim.n_synapses}
        result = rec.result(done, info)
        self.last_result = result
        if hook_error is not None:
            raise hook_error
        if status == "failed":
            raise SimulationError(error[0], result, *error[1:])
        if status == "interrupted":
            raise SimulationInterrupted(f"run interrupted at step {self.step}; the spikes recorded so far are in .result", result)
        return result

    # ---- helpers ------------------------------------------------------------------
    def _check_own(self, what: str, pop) -> None:
        if not isinstance(pop, Population):
            raise TypeError(f"{what} must be a Population of this network, got {type(pop).__name__}")
        if pop.network is not self:
            raise ValueError(f"{what} population {pop.name!r} belongs to another network; connect only populations of the same Network")

    def _check_mutable(self, action: str) -> None:
        if self._sim is not None:
            raise RuntimeError(f"cannot {action} after the network has run: its layout is fixed at the first run; build a new Network")


#: A chunk (one kernel call) that took less wall time than this doubles, up to
#: CHUNK_GROWTH x the default: a small, fast network spends less time between kernel calls
#: (drawing inputs, allocating the chunk's buffers) while the progress bar and Ctrl-C stay
#: prompt (a chunk of at most about twice this).
FAST_CHUNK_S = 0.01
CHUNK_GROWTH = 16
#: Most bytes of a chunk's per-step buffers (noise draws, population counts) a chunk grows to.
CHUNK_BUFFER_BYTES = 32 << 20


def _grown_chunk(chunk: int, seconds: float, sim, first: int) -> int:
    """The next chunk's steps after one of ``chunk`` steps took ``seconds`` (results do not
    depend on chunking: every random stream is drawn in step order)."""
    per_step = 8 * (sim.noise_ids.size + len(sim.pops))
    if seconds >= FAST_CHUNK_S or 2 * chunk > CHUNK_GROWTH * first or 2 * chunk * per_step > CHUNK_BUFFER_BYTES:
        return chunk
    return 2 * chunk


def _check_path(name: str, path) -> str:
    """``path`` (str or os.PathLike) as a str; anything else is refused naming ``name``."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or "\0" in path:
        raise ValueError(f"{name} must be a non-empty path without NUL characters, got {path!r}")
    return path


def _check_output_file(name: str, path) -> str:
    """A path a run will write to: not a folder, in a folder that exists (or is created) and can
    be written. Checked before the run, not at its first checkpoint."""
    path = _check_path(name, path)
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a folder; give the path of a file")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{name} {path!r}: cannot create its folder ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{name} {path!r}: its folder {folder!r} is not writable")
    return path


def _check_delay_convention(convention) -> str:
    if convention not in DELAY_CONVENTIONS:
        raise ValueError(f"delay_convention must be one of {DELAY_CONVENTIONS}, got {convention!r}")
    return convention


#: Fewest neurons for which ``Network.run(threads=None)`` runs the numba engine on all cores.
PARALLEL_MIN_NEURONS = 20_000


def _check_threads(threads, backend: str, sim) -> int:
    """The number of threads a run uses (see ``Network.run``)."""
    if threads is None:
        if backend != "numba" or sim.n_dynamic < PARALLEL_MIN_NEURONS or sim.plastic:
            return 1
        import numba

        return int(numba.get_num_threads())  # a sweep worker has set it to 1
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    if threads > 1 and backend != "numba":
        raise ValueError(f"threads: only backend 'numba' runs on several CPU threads, got backend {backend!r} with "
                         f"threads={threads}")
    if threads > 1 and sim.plastic:
        raise ValueError(f"threads: a network with plastic synapses runs on one thread (they update in spike "
                         f"order), got threads={threads}; pass threads=1 or None")
    if threads > 1:
        import numba

        if threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"threads must be at most NUMBA_NUM_THREADS = {numba.config.NUMBA_NUM_THREADS} (set that "
                             f"environment variable before starting Python for more), got {threads}")
    return int(threads)


def _use_threads(threads: int):
    """Run Numba's parallel regions on ``threads`` threads; returns what restores the setting."""
    if threads <= 1:
        return lambda: None
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    return lambda: numba.set_num_threads(before)


def _check_backend(backend: str, device) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if device is not None and backend != "triton":
        raise ValueError(f"device is for backend='triton' only (the {backend!r} backend runs on the CPU), got {device!r}")


def _state_unit(definition, variable: str) -> str | None:
    """The declared unit of a model's (or synapse rule's) state variable, None if undeclared."""
    spec = getattr(definition, "state", {}).get(variable)
    return getattr(spec, "unit", None)


def _check_indices(name, indices, n) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{name} must be a 1-D array of integer neuron indices")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{name} must lie in [0, {n}), got range [{idx.min()}, {idx.max()}]")
    return idx.astype(np.int64)


class _Flattened:
    """The network as plain arrays over one global id space (neurons kind by kind, then sources)."""

    def __init__(self, net: Network):
        pops = list(net.populations.values())
        dynamic = [p for p in pops if not p.is_source]
        self.definitions = _kinds_in_layout_order(dynamic)
        order = [p for d in self.definitions for p in dynamic if p.model.definition is d] + [p for p in pops if p.is_source]
        self.net, self.order, self.pops = net, order, pops
        self.offset, pos = {}, 0
        for p in order:
            self.offset[p.name] = pos
            pos += len(p)
        self.n_total = pos
        self.n_dynamic = nd = sum(len(p) for p in dynamic)
        n_rows = L.FIRST_MEMBRANE_ROW + max((len(d.membrane_variables) for d in self.definitions), default=0)
        values = np.zeros((n_rows, nd))
        i_mean, noise_std = np.zeros(nd), np.zeros(nd)
        for p in dynamic:
            s = slice(self.offset[p.name], self.offset[p.name] + len(p))
            for mean, std in p.currents:
                i_mean[s] += mean
                noise_std[s] = np.sqrt(noise_std[s] ** 2 + std**2)
        try:
            self._build_synapses(net)
            self._build_rest(net, dynamic, values, i_mean, noise_std, order)
        except BaseException:
            self.release_pool()
            raise
        self._pool_arrays = None  # the pool is self.static now

    def _build_rest(self, net, dynamic, values, i_mean, noise_std, order) -> None:
        nd = self.n_dynamic
        self.rows_of = {}  # population name -> {state variable: row of NeuronState.values}
        self.kinds = tuple(self._kind(d, [p for p in dynamic if p.model.definition is d], values, i_mean, noise_std)
                           for d in self.definitions)
        currents = values[: L.FIRST_MEMBRANE_ROW]
        self.state = L.NeuronState(values, currents, np.full(nd, -1.0))
        self.i_mean = i_mean
        self.hook_current = np.zeros(nd)  # external current set by run hooks (neurosim.hooks)
        self.inputs_base = [k.inputs.copy() for k in self.kinds]  # inputs flags without hook currents
        self.noise_ids = np.flatnonzero(noise_std > 0)
        self.noise_std = noise_std[self.noise_ids]
        self.noise_column = np.full(nd, -1, dtype=np.int64)
        self.noise_column[self.noise_ids] = np.arange(self.noise_ids.size)
        # Independent random streams (noise, each source) so results do not depend on chunking.
        streams = net.rng.spawn(1 + len(order))
        self.noise_rng, self.source_rng = streams[0], {p.name: g for p, g in zip(order, streams[1:])}
        self.sources = [p for p in order if p.is_source]
        self.spike_times = {p.name: p.model.steps(net.dt) for p in self.sources if isinstance(p.model, SpikeTimes)}
        # PoissonSource name -> (epoch, next spike step of each neuron, the epoch's spike steps and neurons)
        self.poisson_next: dict[str, tuple] = {}
        self.population_of = np.empty(self.n_total, dtype=np.int64)
        for p in order:
            self.population_of[self.offset[p.name] : self.offset[p.name] + len(p)] = p.index
        self._build_plastic(net)

    def _build_plastic(self, net: Network) -> None:
        """The plastic projections as plastic kinds (one per synapse model and rows of the target
        variables it reads: all such projections merged), and the spike history they read."""
        groups: dict = {}
        for i, proj in enumerate(net.projections):
            if proj.plastic:
                d = proj.synapse.definition
                rows = tuple(self.rows_of[proj.target_population.name][v] for v in d.reads_post)
                groups.setdefault((id(d), rows), []).append(i)
        self.plastic_position = {}  # projection index -> (plastic kind, position of each synapse there)
        self.plastic_owner = []  # per plastic kind: projection index of each synapse
        kinds, definitions, nd = [], [], self.n_dynamic
        for (_, rows), members in groups.items():
            projs = [net.projections[i] for i in members]
            d = projs[0].synapse.definition
            cat = lambda xs, dtype=np.float64: np.concatenate(xs).astype(dtype)  # noqa: E731
            pre = cat([p.sources() + self.offset[p.source.name] for p in projs], np.int64)
            post = cat([p.target + self.offset[p.target_population.name] for p in projs], np.int64)
            delay = cat([p.delay for p in projs], np.int64)
            receptor = cat([np.full(p.n_synapses, p.receptor) for p in projs], np.int64)
            n = pre.size
            values = np.array([cat([p.weight if v == d.weight else p.synapse_state[v] for p in projs]) for v in d.state])
            coefficients = np.array([cat([p.synapse_parameters[c] for p in projs]) for c in d.coefficients]).reshape(-1, n)
            # rows by source, then delay (one run of a row per arrival); ties keep projection and synapse order
            order = np.lexsort((delay, pre))
            pre, post, delay, receptor = pre[order], post[order], delay[order], receptor[order]
            indptr = np.zeros(self.n_total + 1, dtype=np.int64)
            np.cumsum(np.bincount(pre, minlength=self.n_total), out=indptr[1:])
            post_ptr = np.zeros(nd + 1, dtype=np.int64)
            np.cumsum(np.bincount(post, minlength=nd), out=post_ptr[1:])
            position = np.empty(n, dtype=np.int64)
            position[order] = np.arange(n)
            owner, start = np.empty(n, dtype=np.int64), 0
            for i, p in zip(members, projs):
                self.plastic_position[i] = (len(kinds), position[start : start + p.n_synapses])
                owner[position[start : start + p.n_synapses]] = i
                start += p.n_synapses
            period = 0
            if d.period_ms is not None:
                period = int(round(d.period_ms / self.net.dt))
                if period < 1:
                    raise ValueError(f"synapse model {d.name!r}: its periodic update every {d.period_ms:g} ms is shorter "
                                     f"than the time step dt = {self.net.dt:g} ms")
            # synapse-major; the last column is the step of each synapse's last event (0 to start)
            state = np.zeros((n, len(d.state) + 1))
            state[:, : len(d.state)] = values[:, order].T
            coefficients = np.ascontiguousarray(coefficients[:, order].T)
            if n and np.all(coefficients == coefficients[0]):
                coefficients = coefficients[:1].copy()  # the same for every synapse: one row
            tables, table_len = _decay_tables(d, coefficients, self.net.dt)
            kinds.append(L.PlasticSynapses(indptr, delay, np.unique(delay), receptor * nd + post, post, post_ptr,
                                           np.argsort(post, kind="stable").astype(np.int64), state, coefficients,
                                           np.array(rows, dtype=np.int64), np.array([period], dtype=np.int64),
                                           tables, table_len))
            definitions.append(d)
            self.plastic_owner.append(owner)
        self.plastic, self.synapse_definitions = tuple(kinds), tuple(definitions)
        keep = np.zeros(self.n_total, dtype=bool)
        for k in kinds:
            keep |= np.diff(k.indptr) > 0
        n_slots = max([int(k.delays.max()) for k in kinds if k.delays.size], default=1)
        self.kept_neurons = int(keep[:nd].sum())  # neurons (not sources) whose spikes the history keeps
        self.history = L.SpikeHistory(np.zeros((n_slots, self.kept_neurons + 1), dtype=np.int64),
                                      np.zeros(n_slots, dtype=np.int64), keep)

    def fit_history(self, drive: L.Drive) -> None:
        """Make room in the spike history for a chunk's steps: every kept neuron plus the most
        source events of any step (a source may repeat in a step)."""
        if not self.plastic:
            return
        need = self.kept_neurons + int(np.diff(drive.event_ptr).max(initial=0))
        ids = self.history.ids
        if need > ids.shape[1]:
            grown = np.zeros((ids.shape[0], max(need, 2 * ids.shape[1])), dtype=np.int64)
            grown[:, : ids.shape[1]] = ids
            self.history = self.history._replace(ids=grown)

    def _index_of(self, proj: Projection) -> int:
        return next(i for i, p in enumerate(self.net.projections) if p is proj)

    def synapse_values(self, proj: Projection, name: str | None) -> np.ndarray:
        """A projection's synapse variable (None: the weight), in its synapse order (a copy)."""
        i = self._index_of(proj)
        if proj.plastic:
            m, position = self.plastic_position[i]
            row = proj.synapse.definition.state_names.index(name or proj.synapse.definition.weight)
            return self.plastic[m].values[position, row]
        return np.array(proj.weight, dtype=np.float64)

    def set_synapse_values(self, proj: Projection, name: str | None, values: np.ndarray) -> None:
        """Set a projection's synapse variable (None: the weight) between runs."""
        i = self._index_of(proj)
        if proj.plastic:
            m, position = self.plastic_position[i]
            row = proj.synapse.definition.state_names.index(name or proj.synapse.definition.weight)
            self.plastic[m].values[position, row] = values
        else:
            proj.weight[:] = self.net._in_precision(values, "weights")  # rounded to float32 in a float32 network
        self._engine = None  # a device copy of the network is stale now

    def _kind(self, d, pops, values, i_mean, noise_std) -> L.KindParams:
        """The populations of definition ``d`` as plain arrays; fills their initial state."""
        dt = self.net.dt
        first = self.offset[pops[0].name]
        n_kind = sum(len(p) for p in pops)
        rows = L.state_rows(d)
        coefficients = np.zeros((len(d.coefficients), n_kind))
        refractory_steps = np.zeros(n_kind)
        integers = np.zeros((len(pops), len(d.integer_parameters)), dtype=np.int64)
        lo, hi, uniform, inputs = [], [], [], []
        for j, p in enumerate(pops):
            n, off = len(p), self.offset[p.name]
            local = slice(off - first, off - first + n)
            numbers = p.model.definition_numbers(dt)
            derived = d.evaluate_derived(numbers, dt, n)
            for c, name in enumerate(d.coefficients):
                coefficients[c, local] = derived[name] if name in derived else numbers[name]
            for k, var in enumerate(d.integer_parameters):
                integers[j, k] = numbers[var]
            if d.refractory is not None:
                refractory_steps[local] = d.refractory_steps({**numbers, **derived}, dt, n)
            for var, init in d.evaluate_init(numbers, n).items():
                values[rows[var], off : off + n] = init
            self.rows_of[p.name] = rows
            lo.append(off)
            hi.append(off + n)
            uniform.append(bool(all(np.all(a[local] == a[local][0]) for a in [*coefficients, refractory_steps])))
            s = slice(off, off + n)
            inputs.append(bool(np.any(self.delayed_input[s]) or np.any(i_mean[s] != 0) or np.any(noise_std[s] > 0)))
        as_int = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
        return L.KindParams(as_int(lo), as_int(hi), as_int(lo) - first, as_int([rows[v] for v in d.state]),
                            as_int([rows[v] for v in d.membrane_variables]), integers, coefficients, refractory_steps,
                            np.array(uniform, dtype=bool), np.array(inputs, dtype=bool))

    def engine(self, device=None):
        """The Triton engine of this network on ``device`` (built, and its arrays copied, once)."""
        from neurosim.kernels.engine.triton import TritonEngine, resolve_device

        device = resolve_device(device)
        if getattr(self, "_engine", None) is None or self._engine.device != device:
            self._engine = None  # free the old device copy first
            self._engine = TritonEngine(self.state, self.definitions, self.kinds, self.static, self.ring,
                                        self.population_of, len(self.pops), device, self.plastic,
                                        self.synapse_definitions)
        return self._engine

    def __getstate__(self) -> dict:
        """Pickled (a checkpoint) without the device copy, which the run loop has synced to the host."""
        return {k: v for k, v in self.__dict__.items() if k != "_engine"}

    def __setstate__(self, state: dict) -> None:
        """Unpickling (a checkpoint): pickle copies ``currents`` apart from ``values``, whose rows
        it is; make it a view again, or the kernels would read stale receptor variables."""
        self.__dict__.update(state)
        self.__dict__.setdefault("poisson_next", {})
        st = self.state
        self.state = st._replace(currents=st.values[: L.FIRST_MEMBRANE_ROW])

    def _build_synapses(self, net: Network) -> None:
        """The static projections as one pool (``L.StaticSynapses``), projection after
        projection; their target and weight arrays become views of it, so each synapse is held
        once. A lone projection's arrays become the pool as they are (no copy); otherwise each
        projection's are freed as soon as they are copied (peak: the pool plus one projection)."""
        static = [proj for proj in net.projections if not proj.plastic]
        n_syn = sum(p.n_synapses for p in static)
        self.static_projections = static
        if self.n_total >= 2**31:
            raise ValueError("network too large: neuron ids must fit in 32 bits")
        fixed = [p.fixed_delay for p in static]
        longest = [d if d is not None else int(p._delay.max(initial=1)) for p, d in zip(static, fixed)]
        max_delay = max(longest, default=1)
        delay = np.empty(sum(p.n_synapses for p, d in zip(static, fixed) if d is None),
                         dtype=np.uint16 if max_delay < 2**16 else np.int32)
        # the largest projection goes first, its arrays grown in place (realloc: no second copy
        # of it in memory); the others follow in creation order (the pool's order is free: a
        # spike walks projections by by_source, in creation order)
        largest = int(np.argmax([p.n_synapses for p in static])) if static else 0
        placed = sorted(range(len(static)), key=lambda j: (j != largest, j))
        target, weight = (self._grown(static[largest], n_syn, net.precision) if static
                          else (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=net.precision)))
        self._pool_arrays = (target, weight)
        indptr = np.empty(sum(len(p.source) + 1 for p in static), dtype=np.int64)
        per = {name: np.zeros(len(static), dtype=np.int64) for name in
               ("row_start", "source_lo", "source_n", "target_lo", "target_n", "receptor", "fixed_delay", "delay_shift")}
        start = row = varying = 0
        gets_ring = np.zeros(self.n_dynamic, dtype=bool)  # which neurons receive delayed (ring) input
        for j in placed:
            p = static[j]
            n, n_rows = p.n_synapses, len(p.source)
            if j != largest:
                target[start : start + n] = p._target
                weight[start : start + n] = p._weight
            indptr[row : row + n_rows + 1] = p.indptr + start
            lo = self.offset[p.target_population.name]
            values = dict(row_start=row, source_lo=self.offset[p.source.name], source_n=n_rows, target_lo=lo,
                          target_n=len(p.target_population), receptor=p.receptor, fixed_delay=fixed[j] or 0,
                          delay_shift=0)
            if fixed[j] is None:
                delay[varying : varying + n] = p._delay
                values["delay_shift"] = varying - start
                varying += n
            if longest[j] > 1 and n:  # some delay beyond one step: the whole population reads the ring
                gets_ring[lo : lo + len(p.target_population)] = True
            for name, value in values.items():
                per[name][j] = value
            p._target = p._weight = None  # freed: the pool holds them
            p._pool = (start, start + n)
            release_freed_memory()
            start, row = start + n, row + n_rows + 1
        by_source = np.array(sorted(range(len(static)), key=lambda j: (static[j].source.index, j)), dtype=np.int64)
        by_source_ptr = np.zeros(len(self.pops) + 1, dtype=np.int64)
        np.cumsum(np.bincount([p.source.index for p in static], minlength=len(self.pops)), out=by_source_ptr[1:])
        self.static = L.StaticSynapses(indptr, target, weight, delay, **per, by_source_ptr=by_source_ptr,
                                       by_source=by_source)
        self.static_projections = static
        self.n_synapses = n_syn + sum(p.n_synapses for p in net.projections if p.plastic)
        self.delayed_input = gets_ring
        ring_bytes = (max_delay + 1) * 2 * self.n_dynamic * 8
        if net.max_delay is None and ring_bytes > RING_BUDGET_BYTES:
            raise ValueError(f"delay: the longest delay ({max_delay * net.dt:g} ms = {max_delay} steps) needs a "
                             f"{ring_bytes / 2**30:.1f} GiB delay buffer for {self.n_dynamic} neurons; shorten it, "
                             "or pass Network(max_delay=...) to accept the memory")
        check_memory(f"the delay buffer of the longest delay ({max_delay * net.dt:g} ms = {max_delay} steps) for "
                     f"{self.n_dynamic} neurons", ring_bytes, "shorten the longest delay or raise dt")
        self.ring = np.zeros((max_delay + 1, 2, self.n_dynamic))

    @staticmethod
    def _grown(proj: Projection, n: int, precision) -> tuple[np.ndarray, np.ndarray]:
        """``proj``'s target and weight arrays grown to ``n`` entries, in place where nobody else
        holds them (numpy refuses a resize of an array a view depends on: then a copy)."""
        arrays = []
        for name, dtype in (("_target", np.int32), ("_weight", precision)):
            a = getattr(proj, name)
            setattr(proj, name, None)  # our reference only, so that the resize may happen in place
            try:
                if a.dtype != dtype or not a.flags.c_contiguous:
                    raise ValueError("not a plain array of the pool's type")
                a.resize(n, refcheck=True)
            except ValueError:
                grown = np.empty(n, dtype=dtype)
                grown[: a.size] = a
                a = grown
            setattr(proj, name, a)  # until the pool is made (release_pool restores from it)
            arrays.append(a)
        return arrays[0], arrays[1]

    def release_pool(self) -> None:
        """Give the static projections their arrays back (copies of their pool slices): a build
        that failed after the pool was made leaves the network as it was."""
        target, weight = getattr(self, "_pool_arrays", None) or (None, None)
        for p in getattr(self, "static_projections", ()):
            if p._pool is not None:
                a, b = p._pool
                p._target, p._weight = target[a:b].copy(), weight[a:b].copy()
                p._pool = None
            elif p._target is not None and p._target.size != p.n_synapses:  # grown, not yet copied back
                p._target, p._weight = p._target[: p.n_synapses].copy(), p._weight[: p.n_synapses].copy()

    def drive(self, first_step: int, k: int) -> L.Drive:
        """Noise and source spikes of steps first_step .. first_step + k - 1."""
        dt = self.net.dt
        noise = self.noise_std * self.noise_rng.standard_normal((k, self.noise_ids.size))
        rows, ids = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for p in self.sources:
            if isinstance(p.model, PoissonSource):
                r, i = self._poisson_spikes(p, first_step, k)
            elif isinstance(p.model, PoissonCounts):  # several events of one neuron in a step
                counts = self.source_rng[p.name].binomial(p.model.n_inputs, p.model.probability(dt), (k, len(p)))
                r, i = np.nonzero(counts)
                repeat = counts[r, i]
                r, i = np.repeat(r, repeat), np.repeat(i, repeat)
            else:
                steps, idx = self.spike_times[p.name]
                lo, hi = np.searchsorted(steps, [first_step, first_step + k])
                r, i = steps[lo:hi] - first_step, idx[lo:hi]
            rows.append(r.astype(np.int64))
            ids.append(i.astype(np.int64) + self.offset[p.name])
        rows, ids = np.concatenate(rows), np.concatenate(ids)
        order = np.argsort(rows, kind="stable")
        ptr = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=k), out=ptr[1:])
        hooked = self.hook_current.any()
        i_mean = self.i_mean + self.hook_current if hooked else self.i_mean
        for kind, base in zip(self.kinds, self.inputs_base):
            # the Numba loops read no external current where the flag is off: switch it on for
            # the populations a hook drives
            kind.inputs[:] = base
            if hooked:
                kind.inputs[:] |= [bool(np.any(self.hook_current[lo:hi] != 0)) for lo, hi in zip(kind.lo, kind.hi)]
        return L.Drive(i_mean, self.noise_column, self.noise_ids, noise, ptr, ids[order])

    def _poisson_spikes(self, p: Population, first_step: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(step - first_step, neuron) of a PoissonSource's spikes in steps first_step .. +k-1.

        Each neuron spikes in a step with probability ``rate * dt`` independently of the other
        steps (Brian2's PoissonGroup), drawn as the equivalent geometric gaps between its spikes:
        one draw per spike rather than one per neuron and step (1000 inputs at 15 Hz and dt = 0.1
        ms: 1.5 draws per step instead of 1000). The draws are made epoch by epoch (whole blocks
        of POISSON_EPOCH_STEPS steps from step 0), whatever the chunks, so the spikes do not
        depend on chunking; ``poisson_next`` holds each neuron's next spike step and the
        current epoch's spikes between chunks."""
        start, end = first_step, first_step + k
        steps, ids, step = [], [], start
        while step < end or not steps:
            epoch, epoch_steps, epoch_ids = self._poisson_epoch(p, step)
            lo, hi = np.searchsorted(epoch_steps, [step, end])
            steps.append(epoch_steps[lo:hi] - start)
            ids.append(epoch_ids[lo:hi])
            step = (epoch + 1) * POISSON_EPOCH_STEPS
        return np.concatenate(steps), np.concatenate(ids)

    def _poisson_epoch(self, p: Population, step: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(epoch, spike steps, neurons) of the epoch holding ``step``: generated once, in order."""
        epoch = step // POISSON_EPOCH_STEPS
        state = self.poisson_next.get(p.name)
        if state is not None and state[0] == epoch:
            return state[0], state[2], state[3]
        rng = self.source_rng[p.name]
        prob = np.minimum(np.broadcast_to(p.model.rate * (self.net.dt * 1e-3), (len(p),)), 1.0)
        if state is None:  # the first spike of each neuron after the run's first step
            nxt = np.full(len(p), _NEVER, dtype=np.int64)
            live = prob > 0
            nxt[live] = step - 1 + rng.geometric(prob[live])
        else:
            nxt = state[1]
        end = (epoch + 1) * POISSON_EPOCH_STEPS
        steps, ids = [], []
        due = np.flatnonzero(nxt < end)
        while due.size:
            steps.append(nxt[due].copy())
            ids.append(due)
            nxt[due] += rng.geometric(prob[due])
            due = due[nxt[due] < end]
        if steps:
            s_, i_ = np.concatenate(steps), np.concatenate(ids)
            order = np.lexsort((i_, s_))  # by step, then neuron
            s_, i_ = s_[order], i_[order]
        else:
            s_, i_ = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self.poisson_next[p.name] = (epoch, nxt, s_, i_)
        return epoch, s_, i_

    def random_streams(self) -> list[np.random.Generator]:
        """The generators ``drive`` draws from (noise, then each Poisson source)."""
        return [self.noise_rng] + [self.source_rng[p.name] for p in self.sources
                                   if isinstance(p.model, (PoissonSource, PoissonCounts))]

    def locate(self, global_id: int) -> tuple[str, int]:
        """(population name, index within it) of a global id."""
        for p in self.order:
            off = self.offset[p.name]
            if off <= global_id < off + len(p):
                return p.name, global_id - off
        raise IndexError(global_id)


def _decay_tables(d, coefficients: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """The values of a synapse model's ``elapsed_terms`` after 0 .. L.DECAY_TABLE_STEPS - 1 whole
    steps, where the term's parameters are the same for every synapse of the kind (else
    length 0). Computed by the reference's own operations (the C library's exp), so the
    compiled engine's table lookups give the bits it would compute."""
    from neurosim.kernels.codegen.interpret import evaluate
    from neurosim.kernels.codegen.ir import names_in

    tables = np.zeros((len(d.elapsed_terms), L.DECAY_TABLE_STEPS))
    length = np.zeros(len(d.elapsed_terms), dtype=np.int64)
    elapsed = np.arange(L.DECAY_TABLE_STEPS) * dt  # as the engine computes it: whole steps times dt
    for j, term in enumerate(d.elapsed_terms):
        used = names_in((), term)
        columns = [c for c, name in enumerate(d.coefficients) if name in used]
        if coefficients.shape[0] == 0 or any(np.any(coefficients[:, c] != coefficients[0, c]) for c in columns):
            continue
        scope = {d.coefficients[c]: float(coefficients[0, c]) for c in columns}
        scope.update(elapsed=elapsed, dt=dt)
        with np.errstate(all="ignore"):
            tables[j] = np.broadcast_to(evaluate(term, scope, np, libm=True), (L.DECAY_TABLE_STEPS,))
        length[j] = L.DECAY_TABLE_STEPS
    return tables, length


def _kinds_in_layout_order(dynamic) -> list:
    """The neuron model definitions of these populations, in the order their neurons are laid
    out: LIF, then Izhikevich (the engine's order before models were definitions, which keeps
    old networks' spike trains identical), then the others in the order of first use."""
    from .model_library import IZHIKEVICH_MODEL, LIF_MODEL

    seen = []
    for p in dynamic:
        if not any(p.model.definition is d for d in seen):
            seen.append(p.model.definition)
    rank = {id(LIF_MODEL): 0, id(IZHIKEVICH_MODEL): 1}
    return sorted(seen, key=lambda d: (rank.get(id(d), 2), seen.index(d)))


@dataclass
class _RunPlan:
    """How far a run has to go and has got, in steps since its start (saved in checkpoints)."""

    n_steps: int
    done: int
    chunk: int
    every: int  # steps between checkpoints (0: none)
    path: str | None
    adaptive: bool = False  # chunk_ms not given: chunks may grow while they take little time


def state_columns(sim: _Flattened, monitors: list[_StateMonitor]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(variable index, global neuron id, stride) of every recorded state column, monitor by
    monitor, variable by variable, neuron by neuron (the order of the result's traces)."""
    cols = [(sim.rows_of[m.population.name][var], sim.offset[m.population.name] + int(i), m.stride)
            for m in monitors for var in m.variables for i in m.indices]
    var, neuron, stride = (np.array([c[k] for c in cols], dtype=np.int64) for k in range(3))
    return var, neuron, stride


class _Recording:
    """Recorder buffers of one run, filled chunk by chunk, and their conversion to a result."""

    def __init__(self, sim: _Flattened, monitors: list[_StateMonitor], first_step: int, also_record=(),
                 synapse_monitors: list[_SynapseMonitor] = ()):
        self.sim, self.first_step = sim, first_step
        self.synapse_monitors = list(synapse_monitors)
        # per monitor and variable: the sampled rows ([n_indices] each) and their steps
        self.synapse_samples = [[[] for _ in m.variables] for m in self.synapse_monitors]
        self.synapse_steps: list[list[int]] = [[] for _ in self.synapse_monitors]
        record = np.zeros(sim.n_total, dtype=bool)
        for p in sim.order:
            off = sim.offset[p.name]
            if p.record_spikes is True:
                record[off : off + len(p)] = True
            elif p.record_spikes is not False:
                record[off : off + len(p)] = p.record_spikes
        self.user_record = record  # what the result reports
        self.spike_record = record.copy()  # what the kernel records: also the hooks' populations
        for p in also_record:
            self.spike_record[sim.offset[p.name] : sim.offset[p.name] + len(p)] = True
        self.spike_step = np.empty(SPIKE_BUFFER_START, dtype=np.int64)
        self.spike_id = np.empty(SPIKE_BUFFER_START, dtype=np.int64)
        self.counters = np.zeros(6, dtype=np.int64)
        self.counts: list[np.ndarray] = []
        self.monitors = monitors
        self.col_var, self.col_neuron, self.col_stride = state_columns(sim, monitors)
        self.col_values: list[list[np.ndarray]] = [[] for _ in self.col_var]
        self.stream: SpikeStream | None = None  # set by Network.run(stream_spikes_to=...)

    def run_chunk(self, run_chunk, first_step: int, k: int) -> tuple[int, int]:
        """Run k steps, growing the spike buffer as needed. Returns (status, steps done)."""
        sim = self.sim
        # a backend that can stop inside a chunk (Ctrl-C on triton) needs the random streams'
        # state before the chunk's drive was drawn, to rewind them
        streams = sim.random_streams() if getattr(run_chunk, "stops_inside_chunks", False) else []
        before = [g.bit_generator.state for g in streams]
        next_before = ({name: tuple(a.copy() if isinstance(a, np.ndarray) else a for a in entry)
                        for name, entry in sim.poisson_next.items()} if streams else {})
        drive = sim.drive(first_step, k)
        counts = np.zeros((k, len(sim.pops)), dtype=np.int64)
        stride = self.col_stride
        n_samples = (first_step + k - 1) // stride - (first_step - 1) // stride
        base = np.concatenate([[0], np.cumsum(n_samples)]).astype(np.int64)
        position = base[:-1].copy()
        values = np.empty(int(base[-1]))
        done = 0
        while True:
            sub = drive._replace(noise=drive.noise[done:], event_ptr=drive.event_ptr[done:])
            rec = L.Recorders(self.spike_record, self.spike_step, self.spike_id, sim.population_of, counts[done:],
                              self.col_var, self.col_neuron, stride, position, values, self.counters)
            sim.fit_history(sub)
            status, n = run_chunk(first_step + done, k - done, sim.net.dt, sim.state, sim.kinds, sim.static, sub, sim.ring, rec,
                                  sim.plastic, sim.history)
            done += int(n)
            if status != L.STATUS_SPIKE_BUFFER_FULL:
                break
            extra = int(self.spike_record.sum()) + int(np.diff(drive.event_ptr).max(initial=0))
            new_size = 2 * self.spike_step.size + extra
            self.spike_step = np.resize(self.spike_step, new_size)
            self.spike_id = np.resize(self.spike_id, new_size)
        if status == L.STATUS_INTERRUPTED:
            # rewind the random streams to just after the steps that ran, so that a run continued
            # after Ctrl-C draws what the uninterrupted run would have drawn
            for g, state in zip(streams, before):
                g.bit_generator.state = state
            sim.poisson_next = next_before
            sim.drive(first_step, done)
        self.counts.append(counts[:done])
        for c in range(stride.size):
            self.col_values[c].append(values[base[c] : position[c]])
        if self.stream is not None:
            self._flush()
        return status, done

    def sample_synapses(self, step: int, to_host) -> None:
        """Sample the synapse monitors due at the start of ``step`` (host copies of the state)."""
        due = [k for k, m in enumerate(self.synapse_monitors) if step % m.stride == 0]
        if not due:
            return
        to_host()  # a device backend: the plastic state lives there during the run
        for k in due:
            m = self.synapse_monitors[k]
            for j, var in enumerate(m.variables):
                self.synapse_samples[k][j].append(self.sim.synapse_values(m.projection, var)[m.indices])
            self.synapse_steps[k].append(step)

    def _flush(self) -> None:
        """Stream the spikes in the buffer to disk and empty it (one chunk's worth of memory).
        A streamed run has no hooks, so the buffer holds exactly the spikes the user records."""
        sim, n = self.sim, int(self.counters[0])
        steps, ids = self.spike_step[:n], self.spike_id[:n]
        pop_of = sim.population_of[ids]
        for p in sim.pops:
            if p.name in self.stream.written:
                mine = pop_of == p.index
                self.stream.append(p.name, steps[mine] * sim.net.dt, ids[mine] - sim.offset[p.name])
        self.counters[0] = 0

    def result(self, n_steps: int, info: dict) -> RunResult:
        sim, dt = self.sim, self.sim.net.dt
        n = int(self.counters[0])
        steps, ids = self.spike_step[:n], self.spike_id[:n]
        if not np.array_equal(self.user_record, self.spike_record):
            wanted = self.user_record[ids]
            steps, ids = steps[wanted], ids[wanted]
        pop_of = sim.population_of[ids]
        spikes = {} if self.stream is None else self.stream.spikes()
        for p in sim.pops:
            if p.record_spikes is False:
                continue
            recorded = None if p.record_spikes is True else np.flatnonzero(p.record_spikes)  # (None: all)
            if self.stream is not None:
                if p.name in spikes:
                    spikes[p.name].recorded = recorded
                continue
            mine = pop_of == p.index
            spikes[p.name] = Spikes(steps[mine] * dt, ids[mine] - sim.offset[p.name], recorded)
        counts = np.concatenate(self.counts) if self.counts else np.zeros((0, len(sim.pops)), np.int64)
        states, c = {}, 0
        for m in self.monitors:
            for var in m.variables:
                cols = [np.concatenate(self.col_values[c + j]) for j in range(m.indices.size)]
                c += m.indices.size
                vals = np.stack(cols, axis=1) if cols else np.zeros((0, 0))
                first = -(-self.first_step // m.stride) * m.stride
                times = (first + np.arange(vals.shape[0]) * m.stride) * dt
                states[f"{m.population.name}.{var}"] = StateTrace(
                    times, m.indices.copy(), vals, unit=_state_unit(m.population.model.definition, var),
                    every=m.stride * dt)
        for m, samples, steps in zip(self.synapse_monitors, self.synapse_samples, self.synapse_steps):
            times = np.array(steps, dtype=np.int64) * dt
            for var, rows in zip(m.variables, samples):
                vals = np.stack(rows) if rows else np.zeros((0, m.indices.size))
                states[f"{m.projection.name}.{var}"] = StateTrace(
                    times, m.indices.copy(), vals, unit=_state_unit(m.projection.synapse.definition, var),
                    every=m.stride * dt)
        weights = {p.name: sim.synapse_values(p, None) for p in sim.net.projections if p.plastic}
        sources = tuple(p.name for p in sim.pops if p.is_source)
        result = RunResult(dt=dt, t_start=self.first_step * dt, n_steps=n_steps,
                           sizes={p.name: len(p) for p in sim.pops}, spikes=spikes, counts=counts.astype(np.int32),
                           states=states, info=info, sources=sources, weights=weights)
        result.info["spike_count"] = result.spike_count()  # neurons only, as summary() reports
        return result
