"""The result of ``Network.run``: spikes, sampled state and population rates.

Everything is plain numpy (no pandas needed). ``save``/``load`` use one ``.npz`` file,
written atomically (temporary file, then rename) and sealed with a checksum that ``load``
checks before reading anything (``neurosim.io``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from .io import atomic_path, check_zip_seal, damaged, seal_zip


@dataclass
class Spikes:
    """Spikes of one population: ``times`` (ms) and ``indices`` (within the population),
    sorted by time. Memory is proportional to the number of spikes. ``recorded``: the neurons
    whose spikes were recorded (``net.record_spikes(pop, indices)``), None when all were."""

    times: np.ndarray
    indices: np.ndarray
    recorded: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.times.size)

    def trains(self, n: int) -> list[np.ndarray]:
        """Spike times (ms) of each of the ``n`` neurons, as a list of arrays."""
        order = np.argsort(self.indices, kind="stable")
        bounds = np.searchsorted(self.indices[order], np.arange(n + 1))
        times = self.times[order]
        return [times[bounds[i] : bounds[i + 1]] for i in range(n)]


@dataclass
class StateTrace:
    """Sampled state variable: ``values[sample, k]`` of neuron ``indices[k]`` at ``times[sample]`` (ms).

    ``unit``: the variable's unit as its model declares it (``"mV"``, ``"nS"``, ``"mV/ms"``;
    None when undeclared); ``every``: the sampling interval, ms (None: not known, e.g. a
    result saved by an older neurosim)."""

    times: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    unit: str | None = None
    every: float | None = None


@dataclass
class RunResult:
    """What a run recorded.

    Attributes
    ----------
    dt : time step, ms.
    t_start : biological time at the start of the run, ms.
    n_steps : steps actually simulated (fewer than asked if the run failed or was interrupted).
    sizes : population name -> number of neurons (order of creation).
    spikes : population name -> :class:`Spikes` (only recorded populations).
    counts : ``[n_steps, n_populations]`` int array, spikes per step of each population
        (all neurons, recorded or not); see :meth:`rate`.
    states : ``"population.variable"`` -> :class:`StateTrace` (``"projection.variable"`` for
        synapse monitors: values ``[n_samples, n_synapses]``).
    info : backend, wall time, seed, synaptic events, status and other metadata.
    sources : names of the input populations (Poisson, spike times): their spikes are inputs,
        left out of the whole-network totals (:meth:`spike_count`, :meth:`cv_isi`).
    weights : projection name -> the weights of each plastic projection at the end of the run
        (float64, in the projection's synapse order).
    """

    dt: float
    t_start: float
    n_steps: int
    sizes: dict
    spikes: dict
    counts: np.ndarray
    states: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    sources: tuple = ()
    weights: dict = field(default_factory=dict)

    # ---- conversions -------------------------------------------------------------
    @property
    def duration(self) -> float:
        """Simulated biological time, ms."""
        return self.n_steps * self.dt

    @property
    def completed(self) -> bool:
        """False when the run failed or was interrupted before its end."""
        return self.info.get("status", "completed") == "completed"

    @property
    def neuron_populations(self) -> list[str]:
        """Names of the populations of neurons (every population but the input sources)."""
        return [name for name in self.sizes if name not in self.sources]

    def spike_count(self, population: str | None = None) -> int:
        """Number of spikes of one population (all neurons), or of all neuron populations
        (input sources' spikes left out) when ``population`` is None."""
        if population is None:
            return int(sum(self.counts[:, self._column(name)].sum() for name in self.neuron_populations))
        return int(self.counts[:, self._column(population)].sum())

    def mean_rate(self, population: str | None = None) -> float:
        """Mean firing rate over the run, Hz: of one population, or (None) of all the neurons of
        the neuron populations together (input sources left out)."""
        count = self.spike_count(population)  # (an unknown name: KeyError listing the populations)
        n = self.sizes[population] if population is not None else sum(self.sizes[p] for p in self.neuron_populations)
        return count / (n * self.duration * 1e-3) if n and self.n_steps else 0.0

    def cv_isi(self, population: str | None = None) -> float:
        """Irregularity: the coefficient of variation (std / mean) of the inter-spike intervals,
        averaged over the neurons of ``population`` (default: all recorded neuron populations,
        input sources left out) with at least three spikes; NaN if none has. About 0 for
        clock-like firing, 1 for Poisson."""
        if population is not None and population not in self.spikes:
            self._column(population)  # an unknown name: KeyError listing the populations
            raise KeyError(f"population {population!r} was not recorded (net.record_spikes); recorded: {list(self.spikes)}")
        names = [n for n in self.spikes if n not in self.sources] if population is None else [population]
        cvs = []
        for name in names:
            s = self.spikes[name]
            order = np.lexsort((s.times, s.indices))
            idx, t = np.asarray(s.indices)[order], np.asarray(s.times)[order]
            same = idx[1:] == idx[:-1]
            isi, owner = np.diff(t)[same], idx[1:][same]
            if isi.size == 0:
                continue
            n = np.bincount(owner)
            mean = np.bincount(owner, isi) / np.maximum(n, 1)
            var = np.bincount(owner, (isi - mean[owner]) ** 2) / np.maximum(n, 1)
            ok = (n >= 2) & (mean > 0)
            cvs.append(np.sqrt(var[ok]) / mean[ok])
        cvs = np.concatenate(cvs) if cvs else np.zeros(0)
        return float(cvs.mean()) if cvs.size else float("nan")

    def rate(self, population: str, bin_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Population rate in Hz: ``(bin start times ms, rates)``; one bin per step by default."""
        col = self.counts[:, self._column(population)].astype(np.float64)
        per = 1 if bin_ms is None else max(1, int(round(bin_ms / self.dt)))
        n_bins = col.size // per
        binned = col[: n_bins * per].reshape(n_bins, per).sum(axis=1)
        times = self.t_start + np.arange(n_bins) * per * self.dt
        return times, binned / (self.sizes[population] * per * self.dt * 1e-3)

    def summary(self) -> dict:
        """A JSON-ready dictionary: rates per population, spike count (neurons only, not input
        sources), wall time, info."""
        return {
            "duration_ms": self.duration,
            "dt_ms": self.dt,
            "spike_count": self.spike_count(),
            "rates_hz": {name: self.mean_rate(name) for name in self.sizes},
            "sizes": dict(self.sizes),
            **{k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool)) or v is None},
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``name -> array`` dictionary (what ``save`` writes)."""
        out = {"counts": self.counts}
        for name, s in self.spikes.items():
            out[f"spikes/{name}/times"] = s.times
            out[f"spikes/{name}/indices"] = s.indices
            if s.recorded is not None:
                out[f"spikes/{name}/recorded"] = s.recorded
        for key, tr in self.states.items():
            out[f"states/{key}/times"] = tr.times
            out[f"states/{key}/indices"] = tr.indices
            out[f"states/{key}/values"] = tr.values
        for name, w in self.weights.items():
            out[f"weights/{name}"] = w
        # the members' names are listed, so load reads every one of them and misses none
        meta = {"dt": self.dt, "t_start": self.t_start, "n_steps": self.n_steps, "sizes": self.sizes,
                "sources": list(self.sources), "spikes": list(self.spikes), "states": list(self.states),
                "weights": list(self.weights), "info": _jsonable(self.info),
                "state_units": {key: tr.unit for key, tr in self.states.items()},
                "state_every": {key: tr.every for key, tr in self.states.items()}}
        out["meta"] = np.array(json.dumps(meta))
        return out

    def save(self, path) -> str:
        """Write the result to ``path`` (.npz), atomically. Returns the path."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **self.to_arrays())
            seal_zip(tmp)
        return path

    @classmethod
    def load(cls, path) -> "RunResult":
        """Read a result written by :meth:`save`. The file's checksum is checked first: a
        damaged, truncated or foreign file raises :class:`neurosim.DamagedFileError` naming it."""
        path = os.fspath(path)
        check_zip_seal(path, "result")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                spikes = {name: Spikes(data[f"spikes/{name}/times"], data[f"spikes/{name}/indices"],
                                       data[f"spikes/{name}/recorded"] if f"spikes/{name}/recorded" in data.files
                                       else None)
                          for name in meta["spikes"]}
                units, every = meta.get("state_units", {}), meta.get("state_every", {})
                states = {key: StateTrace(data[f"states/{key}/times"], data[f"states/{key}/indices"],
                                          data[f"states/{key}/values"], units.get(key), every.get(key))
                          for key in meta["states"]}
                result = cls(dt=meta["dt"], t_start=meta["t_start"], n_steps=meta["n_steps"], sizes=meta["sizes"],
                             spikes=spikes, counts=data["counts"], states=states, info=meta["info"],
                             sources=tuple(meta["sources"]),
                             weights={name: data[f"weights/{name}"] for name in meta.get("weights", [])})
        except Exception as err:  # noqa: BLE001 - sealed, so written by a neurosim whose layout differs
            raise damaged(path, "result", f"its layout is not this neurosim's ({type(err).__name__}: {err})") from None
        if result.counts.shape != (result.n_steps, len(result.sizes)):
            raise damaged(path, "result", f"counts have shape {result.counts.shape}, expected "
                                          f"({result.n_steps}, {len(result.sizes)})")
        return result

    # ---- Neo ----------------------------------------------------------------------
    def to_neo(self, block=None):
        """The run as a `Neo <https://neo.readthedocs.io>`_ ``Block`` (for Elephant, Neo's file
        formats, PyNN-based tools). Needs ``pip install neo``.

        The run becomes one ``Segment`` (appended to ``block`` when given, so several runs of a
        network -- each ``net.run`` continues the last -- make one Block of consecutive segments),
        annotated with ``dt`` (ms), ``n_steps``, ``input_populations`` (the spike sources) and the
        scalar entries of :attr:`info` (backend, seed, status, wall time, ...). Its content:

        * a ``SpikeTrain`` per recorded neuron of each population in :attr:`spikes` (every neuron
          of the population, or the ones given to ``net.record_spikes``; a neuron that did not
          fire has an empty train), times in ms, ``t_start`` / ``t_stop`` the run's, annotated
          as PyNN does: ``source_population`` (the population's name), ``source_index`` (the
          neuron's index within it) and ``source_id`` (its number in the whole network:
          populations numbered in creation order, as :attr:`sizes` lists them);
        * an ``AnalogSignal`` per entry of :attr:`states` (a monitored variable of a population;
          ``[samples, neurons]``), ``name`` the variable, in the unit its model declares
          (``mV``, ``nS``, ``mV/ms``, ...; dimensionless when it declares none),
          ``sampling_period`` the monitor's ``every``, ``t_start`` its first sample, annotated
          ``source_population`` and ``variable``, with array annotations ``channel_index`` (the
          neurons' indices within the population, as PyNN) and ``source_id``. A synapse monitor's
          signal is annotated ``source_projection`` instead, its channels ``synapse_index``.

        Select with Neo's filters, e.g. ``segment.filter(source_population="exc",
        objects="SpikeTrain")``. Spike times are copied once (grouped by neuron); the sampled
        values are not copied (the signals are views of :attr:`states`' arrays).
        """
        neo, pq = _import_neo()
        ms = pq.ms
        t_start, t_stop = self.t_start * ms, (self.t_start + self.duration) * ms
        if block is None:
            block = neo.Block(name="neurosim run", description="recorded by neurosim (RunResult.to_neo)")
        reserved = {"dt", "n_steps", "input_populations", "name", "description", "index", "file_origin",
                    "file_datetime", "rec_datetime"}
        info = {k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool)) and k not in reserved}
        segment = neo.Segment(name=f"run {len(block.segments)}", index=len(block.segments),
                              description=f"neurosim run from {self.t_start:g} to {self.t_start + self.duration:g} ms",
                              dt=float(self.dt), n_steps=int(self.n_steps), input_populations=list(self.sources),
                              **info)
        offsets = dict(zip(self.sizes, np.cumsum([0, *self.sizes.values()])[:-1].tolist()))
        for name, s in self.spikes.items():
            neurons = np.arange(self.sizes[name]) if s.recorded is None else np.asarray(s.recorded, dtype=np.int64)
            indices = np.asarray(s.indices)
            order = np.argsort(indices, kind="stable")  # spikes are sorted by time: each neuron's stay so
            times, indices = np.asarray(s.times, dtype=np.float64)[order], indices[order]
            starts = np.searchsorted(indices, neurons, side="left")
            ends = np.searchsorted(indices, neurons, side="right")
            for i, a, b in zip(neurons.tolist(), starts.tolist(), ends.tolist()):
                segment.spiketrains.append(neo.SpikeTrain(
                    times[a:b], t_stop=t_stop, units=ms, t_start=t_start,
                    source_population=name, source_index=i, source_id=offsets[name] + i))
        for key, trace in self.states.items():
            owner, variable = key.rsplit(".", 1)
            sample_times = np.asarray(trace.times)
            every = (trace.every if trace.every is not None
                     else float(sample_times[1] - sample_times[0]) if sample_times.size > 1 else self.dt)
            channels = np.asarray(trace.indices, dtype=np.int64)
            if owner in self.sizes:
                where = {"source_population": owner}
                channel_notes = {"channel_index": channels, "source_id": channels + offsets[owner]}
            else:
                where = {"source_projection": owner}
                channel_notes = {"synapse_index": channels}
            values = np.asarray(trace.values)
            segment.analogsignals.append(neo.AnalogSignal(
                values.reshape(values.shape[0], channels.size), units=_neo_units(pq, trace.unit),
                t_start=(float(sample_times[0]) if sample_times.size else self.t_start) * ms,
                sampling_period=every * ms, name=variable, array_annotations=channel_notes,
                variable=variable, **where))
        block.segments.append(segment)
        return block

    def _column(self, population: str) -> int:
        names = list(self.sizes)
        if population not in names:
            raise KeyError(f"no population {population!r} in this result; populations: {names}")
        return names.index(population)


def _import_neo():
    try:
        import neo
        import quantities
    except ImportError as err:
        raise ImportError(f"RunResult.to_neo needs the Neo package: pip install neo ({err})") from err
    return neo, quantities


def _neo_units(pq, unit: str | None):
    """A neurosim unit string (``"mV"``, ``"1/ms"``, ``"mV^2"``; None or ``"1"``: dimensionless)
    as a ``quantities`` unit. neurosim's unit names (ms mV pA nS pF kHz) are quantities' too."""
    text = (unit or "").replace(" ", "").replace("^", "**")
    if text in ("", "1"):
        return pq.dimensionless
    return pq.Quantity(1.0, text).units


def _jsonable(d: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, list, dict)) or v is None else str(v)) for k, v in d.items()}
