"""Recording for ``neurosim.pynn``: the engine's monitors, gathered into PyNN's Neo blocks.

Each run's :class:`neurosim.RunResult` is appended to the current segment: spikes (shifted to
PyNN's time, which goes on across engine rebuilds) and sampled state. PyNN's signals hold a
sample at every multiple of the sampling interval from the segment's start to the current time
inclusive; the engine samples at the start of steps, so the last sample is the state now.
"""

from __future__ import annotations

import numpy as np
from pyNN import errors, recording

from . import simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._clear_data()
        self._monitored = {}  # variable name -> local indices monitored in the current engine network

    # ---- what PyNN's common code calls --------------------------------------------------------
    def _record(self, variable, new_ids, sampling_interval=None):
        if sampling_interval is not None:
            self.sampling_interval = sampling_interval
        if variable.name != "spikes" and variable.name not in self.population.celltype.default_initial_values:
            raise errors.RecordingError(variable.name, self.population.celltype)
        net = simulator.state.network
        if net is not None and not simulator.state._stale:
            self._build(net)

    def _reset(self):
        self._clear_data()

    def _clear_simulator(self):
        self._clear_data()

    def _local_count(self, variable, filter_ids=None):
        ids = self.filter_recorded(variable, filter_ids)
        counts = self._spike_counts()
        first = int(self.population.first_id)
        return {int(i): int(counts[int(i) - first]) for i in ids}

    def _get_spiketimes(self, ids, clear=False):
        ids_all, times = self._spike_arrays()
        mask = np.isin(ids_all, np.asarray(list(ids), dtype=np.int64))
        out = ids_all[mask], times[mask]
        if clear:
            self._clear_data()
        return out

    def _get_all_signals(self, variable, ids, clear=False):
        name = variable.name
        first = int(self.population.first_id)
        local = np.asarray([int(i) - first for i in ids], dtype=np.int64)
        pieces = self._signals.get(name, [])
        if pieces:
            data = np.concatenate([values[:, np.searchsorted(indices, local)] for indices, values in pieces], axis=0)
        else:
            data = np.zeros((0, local.size))
        if data.shape[0] < self._samples_due():  # the state now is the last sample
            now = self._state_now(name)[local][None, :]
            data = np.concatenate([data, now], axis=0)
        if clear:
            self._clear_data()
        return data, None

    # ---- the engine side ------------------------------------------------------------------
    def _check_ready(self) -> None:
        stride = self.sampling_interval / simulator.state.dt
        if abs(stride - round(stride)) > 1e-9 or round(stride) < 1:
            raise ValueError(f"sampling_interval must be a whole number of time steps (dt = {simulator.state.dt} ms), "
                             f"got {self.sampling_interval} ms")

    def _build(self, net) -> None:
        """Declare this population's recordings to the engine network ``net``."""
        pop = self.population
        ns_pop, first = pop._ns, int(pop.first_id)
        spikes = [v for v in self.recorded if v.name == "spikes"]
        if spikes:
            ids = np.sort(np.fromiter((int(i) for i in self.recorded[spikes[0]]), dtype=np.int64)) - first
            net.record_spikes(ns_pop, True if ids.size == pop.size else ids)
        else:
            net.record_spikes(ns_pop, False)
        if ns_pop.network is not getattr(self, "_monitor_network", None):
            self._monitored, self._monitor_network = {}, ns_pop.network
        for variable, ids in self.recorded.items():
            if variable.name == "spikes":
                continue
            local = np.sort(np.fromiter((int(i) for i in ids), dtype=np.int64)) - first
            known = self._monitored.get(variable.name)
            if known is not None and np.array_equal(known, local):
                continue
            if known is not None:  # an engine monitor cannot change: a new network records the new set
                simulator.state.mark_changed(f"the neurons recording {variable.name!r} of {pop.label!r} changed")
                continue
            net.monitor_state(ns_pop, (variable.name,), indices=local, every=self.sampling_interval)
            self._monitored[variable.name] = local

    def _collect(self, result, offset_ms: float) -> None:
        """Append what the run ``result`` (of an engine network started at ``offset_ms``) recorded."""
        ns_pop = self.population._ns
        spikes = result.spikes.get(ns_pop.name)
        if spikes is not None and len(spikes):
            self._spike_ids.append(spikes.indices.astype(np.int64) + int(self.population.first_id))
            self._spike_times.append(np.asarray(spikes.times, dtype=np.float64) + offset_ms)
        for name, indices in self._monitored.items():
            trace = result.states.get(f"{ns_pop.name}.{name}")
            if trace is not None and trace.values.shape[0]:
                self._signals.setdefault(name, []).append((indices, np.asarray(trace.values, dtype=np.float64)))

    def _clear_data(self) -> None:
        self._spike_ids, self._spike_times, self._signals = [], [], {}

    def _spike_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._spike_ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(self._spike_ids), np.concatenate(self._spike_times)

    def _spike_counts(self) -> np.ndarray:
        ids, _ = self._spike_arrays()
        return np.bincount(ids - int(self.population.first_id), minlength=self.population.size)

    def _samples_due(self) -> int:
        """Samples from the segment's start to now inclusive (a failed run's result already
        holds the state at the failing step)."""
        stride = round(self.sampling_interval / simulator.state.dt)
        return simulator.state.step // stride + 1

    def _state_now(self, name: str) -> np.ndarray:
        pop = self.population
        net = simulator.state.network
        if net is None or pop._ns is None:
            return np.asarray(pop.initial_values[name].evaluate(simplify=False), dtype=np.float64).reshape(pop.size)
        return net.state_values(pop._ns, name)
