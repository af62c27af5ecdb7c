"""``Population``, ``PopulationView`` and ``Assembly`` of ``neurosim.pynn``.

A population keeps its parameters as per-neuron arrays under their PyNN names (the standard
cells' names are neurosim's names too, see :mod:`neurosim.pynn.models`) and becomes one
population of the engine network at the first run.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import LazyArray, ParameterSpace, Sequence, simplify

from neurosim.models import PoissonSource, SpikeTimes

from . import simulator
from .recording import Recorder
from .standardmodels import PROVIDED, SpikeSourceArray, SpikeSourcePoisson

#: A Poisson source's duration at least this long (ms) lasts for ever (PyNN's default is 1e10).
ENDLESS_MS = 1e9


def _bernoulli_steps(p: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(neuron, step) of spikes drawn with probability ``p[i]`` in each step ``first[i] <= step <
    last[i]`` (as Brian2's PoissonGroup), from the simulator's random numbers."""
    rng = simulator.state.rng
    indices, steps = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for i in np.flatnonzero(last > first):
        hits = np.flatnonzero(rng.random(last[i] - first[i]) < p[i]) + first[i]
        steps.append(hits)
        indices.append(np.full(hits.size, i, dtype=np.int64))
    return np.concatenate(indices), np.concatenate(steps)


class Assembly(common.Assembly):
    _simulator = simulator


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _get_parameters(self, *names):
        return self.celltype.reverse_translate(self._get_native_parameters(*self.celltype.get_native_names(*names)))

    # A view of a view: its neurons are indices into the Population at the root (grandparent).
    def _root_indices(self) -> np.ndarray:
        return self.index_in_grandparent(np.arange(self.size))

    def _get_native_parameters(self, *names):
        root, where = self.grandparent, self._root_indices()
        return ParameterSpace({name: simplify(root._parameters[name][where]) for name in names}, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        root, where = self.grandparent, self._root_indices()
        for name, value in parameter_space.items():
            root._parameters[name][where] = value
        root._parameters_changed(parameter_space.keys())

    def initialize(self, **initial_values):
        """Set the initial values of state variables of the neurons of this view (see
        ``Population.initialize``; a view keeps no initial values of its own, its root does)."""
        for variable, value in initial_values.items():
            self._set_initial_value_array(variable, LazyArray(value, shape=(self.size,), dtype=float))

    def _set_initial_value_array(self, variable, initial_values):
        root, where = self.grandparent, self._root_indices()
        whole = root._initial_array(variable)
        whole[where] = initial_values.evaluate(simplify=False)
        root.initialize(**{variable: whole})

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _create_cells(self):
        state = simulator.state
        if not isinstance(self.celltype, (SpikeSourcePoisson, SpikeSourceArray)) and \
                getattr(self.celltype, "definition", None) is None:
            raise errors.NoModelAvailableError(f"neurosim.pynn cannot simulate {type(self.celltype).__name__}; {PROVIDED}")
        first = state.id_counter
        self.all_cells = np.array([simulator.ID(i) for i in range(first, first + self.size)], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, dtype=bool)
        parameter_space = self.celltype.native_parameters
        parameter_space.shape = (self.size,)
        parameter_space.evaluate(simplify=False)
        self._parameters = {k: self._per_neuron(k, v) for k, v in parameter_space.items()}
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        state.mark_changed(f"population {self.label!r} was created")
        state.populations.append(self)
        self._ns = None  # the population of the engine network, once built
        self._pending_state = {}  # state variables set by initialize() after the network was built

    # ---- parameters and initial values ------------------------------------------------------
    def _get_parameters(self, *names):
        return self.celltype.reverse_translate(self._get_native_parameters(*self.celltype.get_native_names(*names)))

    def _get_native_parameters(self, *names):
        return ParameterSpace({name: simplify(self._parameters[name]) for name in names}, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._parameters[name] = self._per_neuron(name, value)
        self._parameters_changed(parameter_space.keys())

    def _per_neuron(self, name: str, value) -> np.ndarray:
        """A parameter as one value per neuron (PyNN simplifies a homogeneous one to a scalar)."""
        if name == "spike_times":
            if isinstance(value, Sequence):
                value = [value] * self.size
            out = np.empty(self.size, dtype=object)
            out[:] = list(value)
            for i, sequence in enumerate(out):
                if np.any(np.diff(np.asarray(sequence.value, dtype=np.float64)) < 0):
                    raise errors.InvalidParameterValueError(
                        f"SpikeSourceArray {self.label!r}: the spike times of neuron {i} must be in increasing order, "
                        f"got {sequence.value}")
            return out
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (self.size,)).copy()

    def _parameters_changed(self, names) -> None:
        simulator.state.mark_changed(f"parameters {sorted(names)} of population {self.label!r} were set")

    def _initial_array(self, variable: str) -> np.ndarray:
        if variable not in self.initial_values:
            raise errors.NonExistentParameterError(variable, type(self.celltype).__name__,
                                                   list(self.celltype.default_initial_values))
        return np.array(self.initial_values[variable].evaluate(simplify=False), dtype=np.float64)

    def _set_initial_value_array(self, variable, initial_values):
        if variable not in self.celltype.default_initial_values:
            raise errors.NonExistentParameterError(variable, type(self.celltype).__name__,
                                                   list(self.celltype.default_initial_values))
        if self._ns is not None:  # a running network: the state changes now (next run)
            self._pending_state[variable] = np.array(initial_values.evaluate(simplify=False), dtype=np.float64)
            simulator.state.mark_changed(f"{variable} of population {self.label!r} was initialized")

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    # ---- the engine network ---------------------------------------------------------------
    def _build(self, net, previous, t_now: float) -> None:
        """Add this population to the engine network ``net``, starting at ``t_now`` ms from the
        state ``previous`` (the network being replaced) left, or from the initial values."""
        # the label names the population in the engine's messages (a blow-up names it), made unique
        index = simulator.state.populations.index(self)
        name = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(self.label)) or "population"
        name = name if name not in net.populations else f"{name}_{index}"
        if isinstance(self.celltype, SpikeSourcePoisson):
            model = self._poisson_model(net.dt, t_now)
        elif isinstance(self.celltype, SpikeSourceArray):
            model = self._spike_array_model(net.dt, t_now)
        else:
            definition = self.celltype.definition
            start = {}
            for variable in definition.state:
                if variable in self._pending_state:
                    start[variable] = self._pending_state.pop(variable)
                elif previous is not None and self._ns is not None:
                    start[variable] = previous.state_values(self._ns, variable)
                elif variable in self.initial_values:
                    start[variable] = self._initial_array(variable)
            values = {k: self._parameters[k] for k in definition.parameters if k in self._parameters}
            values.update({f"{k}_init": v for k, v in start.items()})
            model = definition(self.size, **values)
        self._pending_state = {}
        self._ns = net.population(name, model)

    def _poisson_window(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rate Hz, start ms, stop ms; inf for a source that never stops), per neuron."""
        rate, start, duration = (self._parameters[k] for k in ("rate", "start", "duration"))
        if np.any(rate < 0) or np.any(start < 0) or np.any(duration < 0):
            raise errors.InvalidParameterValueError(f"SpikeSourcePoisson {self.label!r}: rate, start and duration "
                                                    "must be >= 0")
        return rate, start, np.where(duration >= ENDLESS_MS, np.inf, start + duration)

    def _poisson_model(self, dt: float, t_now: float):
        """A PoissonSource when every neuron fires from now on for ever; otherwise spike times:
        the finite windows drawn now, the endless ones run by run (``_extend_poisson``)."""
        rate, start, stop = self._poisson_window()
        self._poisson_until = round(t_now / dt)  # PyNN step up to which the endless windows are drawn
        if np.all(start <= t_now) and np.all(np.isinf(stop)):
            return PoissonSource(self.size, rate=rate.copy())
        now = self._poisson_until
        first = np.maximum(np.rint(start / dt).astype(np.int64), now)
        last = np.where(np.isinf(stop), first, np.rint(np.where(np.isinf(stop), 0.0, stop) / dt)).astype(np.int64)
        indices, steps = _bernoulli_steps(rate * dt * 1e-3, first, last)
        return SpikeTimes(self.size, indices, (steps - now) * dt)

    def _extend_poisson(self, end_step: int, build_step: int, dt: float) -> None:
        """Draw the spikes of the never-ending windows up to PyNN step ``end_step`` (exclusive)
        into the running engine network, which started at PyNN step ``build_step``."""
        if not isinstance(self.celltype, SpikeSourcePoisson) or not isinstance(self._ns.model, SpikeTimes) or \
                end_step <= self._poisson_until:
            return
        rate, start, stop = self._poisson_window()
        endless = np.isinf(stop)
        first = np.maximum(np.rint(start / dt).astype(np.int64), self._poisson_until)
        last = np.where(endless, end_step, first)
        indices, steps = _bernoulli_steps(rate * dt * 1e-3, first, last)
        self._ns.network.add_spikes(self._ns, indices, (steps - build_step) * dt)
        self._poisson_until = end_step

    def _spike_array_model(self, dt: float, t_now: float):
        sequences = self._parameters["spike_times"]
        indices, times = [], []
        for i, sequence in enumerate(sequences):
            value = np.asarray(sequence.value, dtype=np.float64)
            value = value[value >= t_now - dt / 2] - t_now
            times.append(np.maximum(value, 0.0))
            indices.append(np.full(value.size, i, dtype=np.int64))
        return SpikeTimes(self.size, np.concatenate(indices), np.concatenate(times))
