"""``Projection`` of ``neurosim.pynn``: PyNN's connectors fill it, the engine runs it.

The connections are kept as arrays (pre- and post-synaptic index within the projection's
``pre`` and ``post``, global ids, and every synapse attribute). At a build they become one
engine projection per pair of populations they join (more than one when ``pre`` or ``post`` is
an Assembly), with the synapses in the engine's (source, target) order; ``_groups`` remembers
which synapses went where, so weights read back and written in place.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import LazyArray
from pyNN.space import Space

from neurosim.connect import Rule

from . import simulator
from .standardmodels import StaticSynapse, engine_synapse

RECEPTORS = {"excitatory": "exc", "inhibitory": "inh"}


class _Pairs(Rule):
    """The given (source, target) pairs, already in (source, target) order."""

    build_bytes = 16

    def __init__(self, pre: np.ndarray, post: np.ndarray):
        self.pre, self.post = pre, post

    def pairs(self, n_pre, n_post, rng, allow_self):
        return self.pre, self.post

    def expected_synapses(self, n_pre, n_post):
        return float(self.pre.size)


class Connection(common.Connection):
    """One connection of a projection: ``weight`` and ``delay`` (and the synapse type's other
    parameters) read and written through the projection, so a new value reaches the network."""

    def __init__(self, projection: Projection, index: int):
        self.projection, self.index = projection, index
        self.presynaptic_index = int(projection._pre_index[index])
        self.postsynaptic_index = int(projection._post_index[index])

    def _get(self, name):
        return float(self.projection._attribute(name)[self.index])

    def _set(self, name, value):
        values = self.projection._attribute(name).copy()
        values[self.index] = value
        self.projection._set_values(name, values)

    weight = property(lambda self: self._get("weight"), lambda self, w: self._set("weight", w))
    delay = property(lambda self: self._get("delay"), lambda self, d: self._set("delay", d))

    def as_tuple(self, *attribute_names):
        return tuple(self._get(name) if name not in ("presynaptic_index", "postsynaptic_index")
                     else getattr(self, name) for name in attribute_names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population, connector, synapse_type=None,
                 source=None, receptor_type=None, space=None, label=None):
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population, connector, synapse_type,
                                   source, receptor_type, Space() if space is None else space, label)
        if self.receptor_type not in RECEPTORS:
            raise errors.ConnectionError(f"neurosim.pynn: receptor_type must be one of {sorted(RECEPTORS)}, got "
                                         f"{self.receptor_type!r}")
        self._chunks = []  # (pre index, post index, {attribute: values}) per _convergent_connect call
        self._pre_index = self._post_index = np.zeros(0, dtype=np.int64)
        self._values: dict[str, np.ndarray] = {}
        self._initial_weight = None
        self._initial_state = {}  # synapse state variable -> values per connection (initialize)
        self._groups = []  # (engine projection, synapse numbers in engine order)
        connector.connect(self)
        self._collect_chunks()
        simulator.state.projections.append(self)
        simulator.state.mark_changed(f"projection {self.label!r} was created")

    def __len__(self):
        self._collect_chunks()
        return int(self._pre_index.size)

    # ---- what PyNN's connectors call ------------------------------------------------------
    def _convergent_connect(self, presynaptic_indices, postsynaptic_index, location_selector=None,
                            **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("neurosim.pynn has point neurons only: no location_selector")
        pre = np.asarray(presynaptic_indices, dtype=np.int64).ravel()
        values = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), pre.shape).copy()
                  for k, v in connection_parameters.items()}
        self._chunks.append((pre, np.full(pre.size, int(postsynaptic_index), dtype=np.int64), values))

    def _collect_chunks(self) -> None:
        if not self._chunks:
            return
        chunks, self._chunks = self._chunks, []
        pre = np.concatenate([self._pre_index] + [c[0] for c in chunks])
        post = np.concatenate([self._post_index] + [c[1] for c in chunks])
        names = set(self._values) | set().union(*(c[2] for c in chunks))
        old = self._pre_index.size
        values = {}
        for name in names:
            parts = [self._values.get(name, np.full(old, np.nan))]
            parts += [c[2].get(name, np.full(c[0].size, np.nan)) for c in chunks]
            values[name] = np.concatenate(parts)
        self._pre_index, self._post_index, self._values = pre, post, values
        if "delay" in values and values["delay"].size and np.min(values["delay"]) < 0:
            raise errors.ConnectionError(f"projection {self.label!r}: delays must be >= 0 ms")

    def _min_delay(self) -> float:
        return float(np.min(self._values["delay"]))

    @property
    def connections(self):
        """The connections, one :class:`Connection` each (weight and delay readable and settable)."""
        self._collect_chunks()
        return (Connection(self, k) for k in range(len(self)))

    # ---- get and set ------------------------------------------------------------------------
    def _attribute(self, name: str) -> np.ndarray:
        if name == "presynaptic_index":
            return self._pre_index
        if name == "postsynaptic_index":
            return self._post_index
        if name not in self._values:
            raise errors.NonExistentParameterError(name, type(self.synapse_type).__name__, sorted(self._values))
        if name == "weight":
            self._read_weights()
        return self._values[name]

    def _get_attributes_as_list(self, attribute_names):
        self._collect_chunks()
        columns = [self._attribute(name) for name in attribute_names]
        return [tuple(row) for row in np.array(columns, dtype=np.float64).T] if columns else []

    def _get_attributes_as_arrays(self, attribute_names, multiple_synapses="sum"):
        self._collect_chunks()
        combine = {"sum": (np.add.at, 0.0), "min": (np.minimum.at, np.inf), "max": (np.maximum.at, -np.inf)}
        if multiple_synapses not in (*combine, "first", "last"):
            raise ValueError(f"multiple_synapses must be one of {[*combine, 'first', 'last']}, got {multiple_synapses!r}")
        where = (self._pre_index, self._post_index)
        cell = np.ravel_multi_index(where, (self.pre.size, self.post.size)) if len(self) else np.zeros(0, np.int64)
        if multiple_synapses in ("first", "last"):  # one connection per pair, in creation order
            ordered = cell if multiple_synapses == "first" else cell[::-1]
            chosen = np.unique(ordered, return_index=True)[1]
            chosen = chosen if multiple_synapses == "first" else cell.size - 1 - chosen
        out = []
        for name in attribute_names:
            values = self._attribute(name)
            if multiple_synapses in combine:
                at, start = combine[multiple_synapses]
                array = np.full((self.pre.size, self.post.size), start)
                at(array, where, values)
            else:
                array = np.zeros((self.pre.size, self.post.size))
                array.flat[cell[chosen]] = values[chosen]
            empty = np.ones(array.shape, dtype=bool)
            empty[where] = False
            array[empty] = np.nan
            out.append(array)
        return out

    def _set_attributes(self, parameter_space):
        self._collect_chunks()
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._set_values(name, np.array(value[self._pre_index, self._post_index], dtype=np.float64))

    def _set_values(self, name: str, values: np.ndarray) -> None:
        """New values of one attribute, one per connection; weights go into a running network."""
        self._values[name] = values
        if name == "weight" and simulator.state.network is not None and not simulator.state._stale:
            for projection, synapses in self._groups:  # the running network takes new weights in place
                projection.weights = self._values["weight"][synapses]
        else:
            simulator.state.mark_changed(f"{name} of projection {self.label!r} was set")

    def initialize(self, **initial_values):
        """Set state variables of the plastic synapses (``TsodyksMarkramSynapse``: ``u``, ``x``;
        ``STDPMechanism``: the traces ``apre``, ``apost``), one value per connection: a number, a
        ``RandomDistribution`` or an array in connection order. Before the first run (or after
        ``reset()``) they are the initial state; on a running network they change now."""
        self._collect_chunks()
        for variable, value in initial_values.items():
            self._set_initial_value_array(variable, LazyArray(value, shape=(len(self),), dtype=float))

    def _set_initial_value_array(self, variable, initial_value):
        allowed = self._state_variables()
        if variable not in allowed:
            raise errors.NonExistentParameterError(variable, type(self.synapse_type).__name__, list(allowed))
        values = np.array(initial_value.evaluate(simplify=False), dtype=np.float64).reshape(-1)
        self._initial_state[variable] = values
        if simulator.state.network is not None and not simulator.state._stale:
            for projection, synapses in self._groups:
                projection.set_synapse_variable(variable, values[synapses])

    def _state_variables(self) -> tuple:
        """The synapse model's state variables besides the weight (what initialize can set)."""
        values = {k: v[:1] for k, v in self._values.items()} if len(self) else None
        model = engine_synapse(self.synapse_type, values) if values else None
        if model is None:
            return ()
        return tuple(v for v in model.definition.state_names if v != model.definition.weight)

    # ---- the engine network ---------------------------------------------------------------
    def _read_weights(self) -> None:
        """Copy the weights the engine holds (plasticity changes them) into ``_values``."""
        if simulator.state.network is None or not self._groups or self._groups[0][0].source.network is not \
                simulator.state.network:
            return
        for projection, synapses in self._groups:
            if projection.plastic:
                self._values["weight"][synapses] = projection.weights

    def _restore_initial_weights(self) -> None:
        if self._initial_weight is not None:
            self._values["weight"] = self._initial_weight.copy()
        self._initial_weight = None

    def _build(self, net) -> None:
        self._collect_chunks()
        if self._initial_weight is None:
            self._initial_weight = self._values["weight"].copy()
        pre_ids = np.asarray(self.pre.all_cells, dtype=np.int64)[self._pre_index]
        post_ids = np.asarray(self.post.all_cells, dtype=np.int64)[self._post_index]
        populations = simulator.state.populations
        firsts = np.array([int(p.first_id) for p in populations], dtype=np.int64)
        pre_pop = np.searchsorted(firsts, pre_ids, side="right") - 1
        post_pop = np.searchsorted(firsts, post_ids, side="right") - 1
        self._groups = []
        receptor = RECEPTORS[self.receptor_type]
        for a, b in sorted(set(zip(pre_pop.tolist(), post_pop.tolist()))):
            chosen = np.flatnonzero((pre_pop == a) & (post_pop == b))
            source, target = populations[a], populations[b]
            local_pre, local_post = pre_ids[chosen] - firsts[a], post_ids[chosen] - firsts[b]
            order = np.lexsort((local_post, local_pre))
            synapses = chosen[order]
            values = {k: v[synapses] for k, v in self._values.items()}
            projection = net.connect(source._ns, target._ns, _Pairs(local_pre[order], local_post[order]),
                                     weight=values["weight"], delay=values["delay"], receptor=receptor,
                                     allow_self=True, synapse=engine_synapse(self.synapse_type, values),
                                     name=f"projection{simulator.state.projections.index(self)}[{a}->{b}]")
            if simulator.state.step == 0:  # a fresh start: the initial state set by initialize
                for variable, values in self._initial_state.items():
                    projection.set_synapse_variable(variable, values[synapses])
            self._groups.append((projection, synapses))
