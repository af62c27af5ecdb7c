"""Parameter sweeps and ensembles of registered experiments, run on Dask.

::

    import neurosim as ns
    sweep = ns.sweep("cuba", grid={"we": ns.linspace(0.5, 3.0, 6), "wi": [-20, -10, -2]}, seeds=3,
                     out="sweeps/cuba")
    df = sweep.to_pandas()     # one row per (point, seed): parameters, metrics, wall time, status

    neurosim sweep cuba --param we=0.5:3.0:6 --param wi=-20:-2:6 --seeds 3 --out sweeps/cuba
    neurosim sweep cuba ... --scheduler tcp://head-node:8786     # an existing Dask cluster

A sweep runs experiment ``NAME`` (see ``neurosim list``) at every combination of the ``grid``
values (and, for a random search, at ``samples`` points drawn uniformly from the ``random``
ranges with a fixed generator, so the same command draws the same points), each with every seed
(independent replicates: the experiment's own ``seed``); ``fixed`` parameters are the same for all.

Engine: by default an in-process ``dask.distributed.LocalCluster`` of one single-threaded worker
process per core (Numba and BLAS capped at one thread per worker, so workers do not
oversubscribe the CPU), closed at the end; ``scheduler="tcp://host:8786"`` (or the
``DASK_SCHEDULER_ADDRESS`` environment variable) uses an existing cluster instead. The
experiments run on the workers; results come back to this process, which stores them.

Results store (folder ``out``), written as results arrive:

* ``out/sweep.json``: what the sweep is (experiment, grid, random ranges and samples, seeds,
  fixed parameters, number of runs, neurosim version, creation time). A later run with the
  same folder must describe the same sweep (else it is refused, nothing is touched), and then
  resumes it: runs already stored are skipped.
* ``out/points/<key>.json``: one file per (point, seed), written atomically (a temporary file
  ``.tmp-*`` renamed into place): ``params``, ``seed``, ``status`` ("ok" or "failed"),
  ``metrics`` (what the experiment returned), ``error`` and ``traceback`` of a failed point,
  ``attempt``, ``wall_s``, ``host``, ``pid``, ``worker``, ``numba_threads``,
  ``neurosim_version``, ``started`` and ``finished`` (UTC, ISO 8601). ``key`` is a hash of the
  experiment, parameters and seed.
* ``out/<metric>_vs_<param>.png`` and ``out/<metric>_<x>_<y>.png``: figures (``write_figures``).

Both JSON files carry ``sha256``: the SHA-256 of the canonical JSON (sorted keys, no spaces)
of the rest of the file, checked on every read, so that damage is found even where it leaves
valid JSON (a changed digit in a metric). What a run of the sweep does with what it finds:

* a damaged, truncated or foreign ``points/<key>.json`` (bad checksum, wrong fields, a record
  of another run): reported (:class:`DamagedRecordWarning`, naming the file), moved aside to
  ``points/<key>.json.damaged``, and that run is done again. Readers (``records()``,
  ``to_pandas()``) report it the same way and leave it out.
* a leftover ``.tmp-*`` file (a write killed before its rename): never read; removed.
* a damaged ``sweep.json``: refused (:class:`neurosim.errors.DamagedFileError` naming it).
  To recover, delete it and run the same sweep again: a folder with ``points/`` and no
  ``sweep.json`` is taken as this sweep's, ``sweep.json`` is written anew, and every stored
  record is checked against the run it claims to be (experiment, parameters, seed, key), so
  records of another sweep are never mixed in.

One run at a time per folder: two processes running the same sweep would do its runs twice.

A point that raises is stored with its error and traceback and the sweep goes on; ``retries``
re-runs a failed point up to that many more times (also in a later run of the same sweep).

Limits, checked before anything runs: at most ``MAX_RUNS`` runs (points times seeds: each is a
file), ``retries <= MAX_RETRIES``, ``timeout`` at most ``MAX_TIMEOUT_S``, a local cluster of at
most ``MAX_WORKERS_PER_CORE`` workers per core; parameter values are never NaN, ``duration``
is finite and >= 0, random ranges are finite.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import socket
import time
import traceback
import types
import warnings
from dataclasses import dataclass
from typing import Callable, Union, get_args, get_origin

import numpy as np

from . import experiments
from .errors import DamagedFileError
from .io import atomic_path
from .validation import check_flag

#: Version of the store layout described above (2: records and manifest carry a checksum).
STORE_FORMAT = 2
#: Parameters a sweep may not set: the seed comes from ``seeds``, outputs are the store's.
RESERVED = ("seed", "out", "progress")
#: Metrics that change from run to run of the same point (not compared when results are checked).
TIMING_METRICS = ("wall_time_s", "build_s", "simulate_s", "compile_s")
#: Most runs (points times seeds) in one sweep: each is a file in ``points/``, and the list of
#: runs is built in memory before the first one starts.
MAX_RUNS = 1_000_000
#: Most re-runs of a failed point: more is a point that fails forever, not bad luck.
MAX_RETRIES = 100
#: Longest wait for a Dask scheduler, seconds (a day).
MAX_TIMEOUT_S = 86_400.0
#: Most local worker processes per core: beyond that they only compete for the CPU.
MAX_WORKERS_PER_CORE = 4


class SweepError(ValueError):
    """A sweep that cannot be run as asked (bad parameters, a folder holding another sweep,
    an unreachable scheduler); the message says what to change."""


class DamagedRecordWarning(UserWarning):
    """A stored run of a sweep failed its checks on load; it is left out of the results, and
    the next run of the sweep moves the file aside and does that run again."""


def linspace(start: float, stop: float, num: int) -> list[float]:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (the CLI's ``a:b:n``)."""
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise SweepError(f"linspace {name} must be a finite number, got {value!r}")
    num = _integer("linspace num", num, 1, MAX_RUNS, " (the number of values)")
    return [float(v) for v in np.linspace(start, stop, num)]


def _integer(name: str, value, minimum: int, maximum: int | None = None, meaning: str = "") -> int:
    """``value`` as an int in ``[minimum, maximum]``, or a SweepError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SweepError(f"{name} must be an integer{meaning}, got {type(value).__name__} {value!r:.40}")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f">= {minimum} and <= {maximum}"
        raise SweepError(f"{name} must be {allowed}{meaning}, got {value}")
    return int(value)


# ---- what to run ----------------------------------------------------------------------------
def _coerce(exp: experiments.Experiment, name: str, value):
    """``value`` as parameter ``name`` of ``exp`` takes it, or a SweepError naming both."""
    kind, default = exp.parameters[name]
    kinds = [k for k in get_args(kind) if k is not type(None)] if get_origin(kind) in (Union, types.UnionType) else [kind]
    if value is None and (default is None or type(None) in get_args(kind)):
        return None
    for k in kinds:
        if k is bool and isinstance(value, (bool, np.bool_)):
            return bool(value)
        if k is int and isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, bool):
            if float(value).is_integer():
                return int(value)
        if k is float and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return _check_float(exp, name, float(value))
        if k is str and isinstance(value, str):
            return value
    if all(k in (bool, int, float, str) for k in kinds):
        wanted = " or ".join(k.__name__ for k in kinds)
        raise SweepError(f"parameter {name!r} of experiment {exp.name!r} takes {wanted}; got {value!r:.60} "
                         f"({type(value).__name__})")
    return value  # another annotation (a tuple, a dict): passed as given


def _check_float(exp: experiments.Experiment, name: str, value: float) -> float:
    # NaN is refused because it is not equal to itself: a stored sweep holding one would never
    # match its own command again, and the point could never be found as done.
    if math.isnan(value):
        raise SweepError(f"parameter {name!r} of experiment {exp.name!r}: NaN is not a value a sweep can run; "
                         "give a number")
    if name == "duration" and not (math.isfinite(value) and value >= 0):
        raise SweepError(f"duration is the biological time of each run in ms: give a finite number >= 0, "
                         f"got {value!r}")
    return value


def _check_name(exp: experiments.Experiment, name, what: str) -> None:
    if name in RESERVED:
        raise SweepError(f"{what} {name!r} cannot be swept or fixed: seeds come from `seeds`, and the sweep "
                         "stores its own results (no `out`, no progress bars per point)")
    if name not in exp.parameters:
        valid = [k for k in exp.parameters if k not in RESERVED]
        raise SweepError(f"experiment {exp.name!r} has no parameter {name!r}; its parameters are {valid}")


def _mapping(name: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SweepError(f"{name} must be a dict {{parameter: ...}}, got {type(value).__name__} {value!r:.60}")
    return dict(value)


def _values(name: str, values) -> list:
    """The values of grid parameter ``name``: a sequence, or one value."""
    if isinstance(values, np.ndarray) and values.ndim == 0:
        return [values.item()]
    if not isinstance(values, (list, tuple, range, np.ndarray)):
        return [values]
    if len(values) > MAX_RUNS:
        raise SweepError(f"grid parameter {name!r} has {len(values)} values; a sweep has at most {MAX_RUNS} runs")
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: the experiment, its points (parameter dicts) and the seeds."""

    experiment: str
    grid: dict
    random: dict
    samples: int
    random_seed: int
    seeds: tuple
    fixed: dict

    @staticmethod
    def make(experiment: str, grid=None, random=None, samples: int | None = None, seeds=1, first_seed: int = 1,
             fixed=None, random_seed: int = 0) -> "SweepSpec":
        """Check everything against the experiment's registered parameters (names, types) and the
        limits in the module docstring."""
        if not isinstance(experiment, str):
            raise SweepError(f"experiment must be a name (str), got {type(experiment).__name__} {experiment!r:.60}")
        try:
            exp = experiments.get(experiment)
        except KeyError as err:
            raise SweepError(err.args[0]) from None
        grid, random, fixed = _mapping("grid", grid), _mapping("random", random), _mapping("fixed", fixed)
        for name, values in grid.items():
            _check_name(exp, name, "grid parameter")
            values = [_coerce(exp, name, v) for v in _values(name, values)]
            if not values:
                raise SweepError(f"grid parameter {name!r} has no values; give at least one")
            seen = set()
            for v in values:  # a repeated value would be the same runs, under the same keys, twice
                if _canonical(v) in seen:
                    raise SweepError(f"grid parameter {name!r} repeats the value {v!r:.40}; give each value once")
                seen.add(_canonical(v))
            grid[name] = values
        for name, bounds in random.items():
            _check_name(exp, name, "random parameter")
            if name in grid:
                raise SweepError(f"parameter {name!r} is both in the grid and in the random ranges")
            if not (isinstance(bounds, (list, tuple)) and len(bounds) == 2):
                raise SweepError(f"random parameter {name!r} needs (low, high), got {bounds!r:.60}")
            kind = exp.parameters[name][0]
            if kind not in (int, float):
                raise SweepError(f"random parameter {name!r} must be int or float, the experiment has it as {kind}")
            low, high = (_coerce(exp, name, b) for b in bounds)
            if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
                raise SweepError(f"random parameter {name!r} needs finite bounds, got ({low}, {high})")
            if not low <= high:
                raise SweepError(f"random parameter {name!r}: low must be <= high, got ({low}, {high})")
            if kind is int and not (-2**63 <= low and high < 2**63):
                raise SweepError(f"random parameter {name!r}: bounds must be 64-bit integers, got ({low}, {high})")
            if kind is float and not math.isfinite(high - low):
                raise SweepError(f"random parameter {name!r}: the range ({low}, {high}) is wider than the largest float")
            random[name] = [low, high]
        if random:
            if samples is None:
                raise SweepError("a random search needs samples >= 1 (how many points to draw), got None")
            samples = _integer("samples", samples, 1, MAX_RUNS, " (a random search needs samples >= 1: how many "
                               "points to draw)")
        elif samples is not None:
            raise SweepError("samples is for a random search: give the random ranges too")
        for name, value in fixed.items():
            _check_name(exp, name, "fixed parameter")
            if name in grid or name in random:
                raise SweepError(f"parameter {name!r} is both fixed and swept")
            fixed[name] = _coerce(exp, name, value)
        seeds = _seeds(seeds, first_seed)
        random_seed = _integer("random_seed", random_seed, 0)
        n_runs = math.prod(len(v) for v in grid.values()) * (samples or 1) * len(seeds)
        if n_runs > MAX_RUNS:
            raise SweepError(f"the sweep would be {n_runs} runs (points times seeds); at most {MAX_RUNS}: sweep fewer "
                             "values, or split it into several sweeps")
        if not any(len(v) > 1 for v in grid.values()) and not random and len(seeds) == 1:
            raise SweepError("empty sweep: nothing varies; give grid values, random ranges, or seeds >= 2 "
                             "(an ensemble)")
        return SweepSpec(experiment, grid, random, int(samples or 0), random_seed, seeds, fixed)

    def points(self) -> list[dict]:
        """Parameter dicts, grid-major: every grid combination, times every random sample (a
        sample drawn twice, possible with narrow integer ranges, is one point)."""
        names = list(self.grid)
        combos = [dict(zip(names, vals)) for vals in itertools.product(*(self.grid[n] for n in names))]
        samples = [{}]
        if self.random:
            rng = np.random.default_rng(self.random_seed)
            exp = experiments.get(self.experiment)
            drawn = {}
            for _ in range(self.samples):
                point = {}
                for name, (low, high) in self.random.items():
                    if exp.parameters[name][0] is int:
                        point[name] = int(rng.integers(low, high, endpoint=True))
                    else:
                        point[name] = float(rng.uniform(low, high))
                drawn.setdefault(_canonical(point), point)
            samples = list(drawn.values())
        return [dict(self.fixed, **c, **s) for c in combos for s in samples]

    def tasks(self) -> list[tuple[str, dict, int]]:
        """``(key, params, seed)`` of every run of the sweep."""
        return self._tasks

    @functools.cached_property
    def _tasks(self) -> list[tuple[str, dict, int]]:  # (a frozen dataclass still caches in __dict__)
        return [(point_key(self.experiment, p, s), p, s) for p in self.points() for s in self.seeds]

    def manifest(self) -> dict:
        return {"format": STORE_FORMAT, "experiment": self.experiment, "grid": self.grid, "random": self.random,
                "samples": self.samples, "random_seed": self.random_seed, "seeds": list(self.seeds),
                "fixed": self.fixed}

    @property
    def swept(self) -> list[str]:
        """Names of the parameters that vary across points."""
        return [n for n, v in self.grid.items() if len(v) > 1] + list(self.random)


def _seeds(seeds, first_seed) -> tuple[int, ...]:
    """The replicates' seeds: ``seeds`` of them from ``first_seed`` on, or the list ``seeds``."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        count = _integer("seeds", seeds, 1, MAX_RUNS, " (the number of replicates)")
        first = _integer("first_seed", first_seed, 0, meaning=" (numpy's generators take no negative seeds)")
        return tuple(range(first, first + count))
    if not isinstance(seeds, (list, tuple, range, np.ndarray)) or len(seeds) > MAX_RUNS:
        raise SweepError(f"seeds must be a count >= 1 or a list of distinct integers >= 0, got {seeds!r:.60}")
    seeds = tuple(_integer("each seed", s, 0, meaning=" (numpy's generators take no negative seeds)")
                  for s in (seeds.tolist() if isinstance(seeds, np.ndarray) else seeds))
    if not seeds or len(set(seeds)) != len(seeds):
        raise SweepError(f"seeds must be a count >= 1 or a list of distinct integers >= 0, got {list(seeds)!r:.60}")
    return seeds


def point_key(experiment: str, params: dict, seed: int) -> str:
    """Stable name of one run: a hash of experiment, parameters and seed."""
    text = json.dumps({"experiment": experiment, "params": params, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


# ---- one run, on a worker -------------------------------------------------------------------
def run_point(experiment: str, params: dict, seed: int, key: str, attempt: int) -> dict:
    """Run one point on whatever process calls it (a Dask worker) and return its record; an
    exception in the experiment is caught and recorded, never raised."""
    from . import __version__

    try:  # one thread per task: the workers share the machine's cores
        import numba

        numba.set_num_threads(1)
        numba_threads = numba.get_num_threads()
    except Exception:  # noqa: BLE001 - numba missing or its pool not started: nothing to cap
        numba_threads = None
    record = {"key": key, "experiment": experiment, "params": params, "seed": seed, "attempt": attempt,
              "host": socket.gethostname(), "pid": os.getpid(), "worker": _worker_address(),
              "numba_threads": numba_threads, "neurosim_version": __version__, "started": _now()}
    t0 = time.perf_counter()
    try:
        metrics = experiments.run(experiment, **params, seed=seed, out=None, progress=False)
        record.update(status="ok", metrics=_jsonable(metrics), error=None, traceback=None)
    except Exception as err:  # noqa: BLE001 - recorded; the sweep goes on
        record.update(status="failed", metrics=None, error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc())
    record.update(wall_s=time.perf_counter() - t0, finished=_now())
    return record


def _worker_address():
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _jsonable(x):
    return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


# ---- checked JSON files ---------------------------------------------------------------------
def _canonical(obj) -> str:
    """The one JSON text of ``obj`` that a checksum covers or two values are compared by (NaN and
    infinities as the words Python's json writes and reads; other objects as their str)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _checksum(obj: dict) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def write_checked_json(path: str, obj: dict) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, with ``"sha256"``: the checksum of the rest."""
    body = _jsonable(obj)
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(dict(body, sha256=_checksum(body)), fh, indent=1)


def read_checked_json(path: str, kind: str) -> dict:
    """The object :func:`write_checked_json` wrote to ``path`` (without its checksum); a file
    that cannot be read, is not JSON, or does not match its checksum raises DamagedFileError
    naming it. ``kind`` says what the file is, for the message."""
    def damaged(why: str) -> DamagedFileError:
        return DamagedFileError(f"{path!r} is not a readable neurosim {kind}: {why}", path=path)

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise damaged("it is a folder") from None
    except OSError as err:
        raise damaged(f"it cannot be read ({err.strerror or err})") from None
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise damaged(f"it is not JSON ({len(data)} bytes: truncated or damaged)") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("sha256"), str):
        raise damaged("it has no checksum (damaged, or not written by this version of neurosim)")
    stored = obj.pop("sha256")
    try:
        matches = _checksum(obj) == stored
    except RecursionError:  # a nesting json.loads just managed can be a few calls too deep for json.dumps
        matches = False
    if not matches:
        raise damaged("its content does not match its checksum (damaged or modified)")
    return obj


def _field_problem(obj: dict, fields: dict) -> str | None:
    """What is wrong with ``obj``'s ``fields`` (``{name: type}``), or None."""
    for name, kinds in fields.items():
        value = obj.get(name, ...)
        if value is ... or isinstance(value, bool) or not isinstance(value, kinds):  # no field is a bool
            return f"field {name!r} is missing or not {kinds.__name__}"
    return None


_MANIFEST_FIELDS = {"format": int, "experiment": str, "grid": dict, "random": dict, "samples": int,
                    "random_seed": int, "seeds": list, "fixed": dict}
_RECORD_FIELDS = {"key": str, "experiment": str, "params": dict, "seed": int, "attempt": int, "status": str}


def read_manifest(out) -> dict:
    """The ``sweep.json`` stored in folder ``out``: DamagedFileError naming it, and saying how to
    recover, if it fails its checks; SweepError if it is of another store format."""
    path, points = os.path.join(out, "sweep.json"), os.path.join(out, "points")
    try:
        manifest = read_checked_json(path, "sweep manifest")
        problem = _field_problem(manifest, _MANIFEST_FIELDS)
        if problem:
            raise DamagedFileError(f"{path!r} is not a readable neurosim sweep manifest: {problem}", path=path)
    except DamagedFileError as err:
        raise DamagedFileError(
            f"{err}. To recover: delete {path!r} and run the same sweep command again; the runs stored in "
            f"{points!r} are kept (each checked against the sweep the command describes) and only the missing or "
            "damaged ones are run", path=path) from None
    if manifest["format"] != STORE_FORMAT:
        raise SweepError(f"{out!r} holds a sweep in store format {manifest['format']}; this neurosim reads format "
                         f"{STORE_FORMAT}: give another out folder")
    return manifest


# ---- the store ------------------------------------------------------------------------------
def _folder(out) -> str:
    try:
        return os.fsdecode(os.fspath(out))
    except TypeError:
        raise TypeError(f"out must be a folder path (str or os.PathLike), got {type(out).__name__} {out!r:.60}") \
            from None


class SweepStore:
    """The results folder (layout and checks: module docstring)."""

    def __init__(self, out, spec: SweepSpec):
        self.out = _folder(out)
        self.points_dir = os.path.join(self.out, "points")
        self.manifest_path = os.path.join(self.out, "sweep.json")
        self.spec = spec

    def record_path(self, key: str) -> str:
        return os.path.join(self.points_dir, f"{key}.json")

    def check(self) -> None:
        """Refuse a folder that cannot hold this sweep: not writable, or holding something else
        (another sweep, a damaged ``sweep.json``, other files). Nothing is written."""
        experiments.check_output_folder(self.out, "out")
        if os.path.lexists(self.manifest_path):
            stored = read_manifest(self.out)
            mine = _jsonable(self.spec.manifest())
            theirs = {k: stored.get(k) for k in mine}
            if theirs != mine:
                diff = [k for k in mine if theirs[k] != mine[k]]
                raise SweepError(
                    f"{self.out!r} holds another sweep (experiment {stored.get('experiment')!r}; differs in "
                    f"{', '.join(diff)}: stored {', '.join(f'{k}={theirs[k]!r}' for k in diff)}); "
                    "choose another out folder, or repeat that sweep's own command to resume it")
        elif os.path.isdir(self.out) and os.listdir(self.out) and not os.path.isdir(self.points_dir):
            raise SweepError(f"{self.out!r} exists and is not a neurosim sweep folder (no sweep.json, no points/); "
                             "choose a new or empty folder")

    def create(self) -> None:
        """Create the folder and ``sweep.json`` (again, if it was deleted to recover from damage)."""
        from . import __version__

        self.check()
        os.makedirs(self.points_dir, exist_ok=True)
        if not os.path.lexists(self.manifest_path):
            manifest = dict(self.spec.manifest(), n_runs=len(self.spec.tasks()), neurosim_version=__version__,
                            created=_now())
            write_checked_json(self.manifest_path, manifest)

    # ---- the records ----
    @functools.cached_property
    def _expected(self) -> dict[str, tuple[dict, int]]:
        """``key -> (params as stored, seed)`` of every run of the sweep."""
        return {key: (_jsonable(params), seed) for key, params, seed in self.spec.tasks()}

    def read_record(self, key: str) -> dict | None:
        """The stored record of run ``key`` (one of this sweep's): None if there is none,
        DamagedFileError naming the file if it fails its checks (checksum, fields, and that it
        is the record of that run)."""
        path = self.record_path(key)
        if not os.path.lexists(path):
            return None
        record = read_checked_json(path, "sweep record")
        params, seed = self._expected[key]
        problem = _field_problem(record, _RECORD_FIELDS)
        if problem is None:
            if (record["key"], record["experiment"], record["params"], record["seed"]) != \
                    (key, self.spec.experiment, params, seed):
                problem = "it is the record of another run (its key, experiment, parameters or seed differ)"
            elif record["status"] not in ("ok", "failed") or record["attempt"] < 1:
                problem = f"status {record['status']!r:.20} or attempt {record['attempt']} is not one neurosim writes"
            elif record["status"] == "ok" and not isinstance(record.get("metrics"), dict):
                problem = "it is stored as ok but its metrics are not a dict"
        if problem:
            raise DamagedFileError(f"{path!r} is not a readable neurosim sweep record: {problem}", path=path)
        return record

    def scan(self) -> tuple[dict[str, dict], dict[str, DamagedFileError]]:
        """``(records, damaged)``: the valid stored records of this sweep by key, in the sweep's
        order, and the error of each stored record that fails its checks. Files of other runs
        and temporary files are not read."""
        records, damaged = {}, {}
        try:
            names = set(os.listdir(self.points_dir))
        except (FileNotFoundError, NotADirectoryError):
            return records, damaged
        for key, _, _ in self.spec.tasks():
            if f"{key}.json" in names:
                try:
                    records[key] = self.read_record(key)
                except DamagedFileError as err:
                    damaged[key] = err
        return records, damaged

    def records(self) -> dict[str, dict]:
        """The valid stored records by key; each damaged one is reported (DamagedRecordWarning)."""
        records, damaged = self.scan()
        for err in damaged.values():
            warnings.warn(f"{err}; it is left out of the results, and the next run of this sweep runs that point "
                          "again", DamagedRecordWarning, stacklevel=3)
        return records

    def set_aside(self, key: str) -> str:
        """Move the (damaged) record of run ``key`` to ``<key>.json.damaged``; returns that path."""
        aside = self.record_path(key) + ".damaged"
        os.replace(self.record_path(key), aside)
        return aside

    def remove_temporary_files(self) -> list[str]:
        """Delete ``.tmp-*`` files left by writes killed before their rename; returns their paths."""
        removed = []
        for folder in (self.out, self.points_dir):
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                path = os.path.join(folder, name)
                if name.startswith(".tmp-") and os.path.isfile(path):
                    os.unlink(path)
                    removed.append(path)
        return removed

    def write(self, record: dict) -> None:
        write_checked_json(self.record_path(record["key"]), record)


# ---- the engine -----------------------------------------------------------------------------
def check_engine(scheduler: str | None = None, workers: int | None = None,
                 timeout: float = 10.0) -> tuple[str | None, int | None, float]:
    """``(address, workers, timeout)`` for :func:`connect`, checked: the scheduler address (from
    ``scheduler`` or ``$DASK_SCHEDULER_ADDRESS``; None for a local cluster), ``workers`` only for
    a local cluster, 1 to ``MAX_WORKERS_PER_CORE`` per core, ``timeout`` in (0, MAX_TIMEOUT_S]."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)) \
            or not 0 < timeout <= MAX_TIMEOUT_S:  # (NaN fails the comparison too)
        raise SweepError(f"timeout must be a number of seconds > 0 and <= {MAX_TIMEOUT_S:g} (how long to wait for "
                         f"the scheduler), got {timeout!r:.40}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise SweepError(f"scheduler must be the address of a running Dask scheduler, like tcp://host:8786, "
                         f"got {scheduler!r:.60}")
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if workers is not None:
        if address:
            origin = "scheduler" if scheduler else "$DASK_SCHEDULER_ADDRESS"
            raise SweepError(f"workers is the size of a local cluster, and the sweep runs on the scheduler at "
                             f"{address!r} ({origin}), whose own workers run it: leave workers out")
        cores = os.cpu_count() or 1
        workers = _integer("workers", workers, 1, MAX_WORKERS_PER_CORE * cores,
                           f" (local worker processes; at most {MAX_WORKERS_PER_CORE} per core, {cores} cores here)")
    return address, workers, float(timeout)


def connect(scheduler: str | None = None, workers: int | None = None, timeout: float = 10.0):
    """A Dask client: to ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), else to a new
    LocalCluster of ``workers`` single-threaded processes (default: one per core). Returns
    ``(client, cluster or None)``; raises SweepError for options :func:`check_engine` refuses,
    an address that is not one, or a scheduler not reached in ``timeout`` seconds."""
    from dask.distributed import Client, LocalCluster

    address, workers, timeout = check_engine(scheduler, workers, timeout)
    if address:
        try:
            return Client(address, timeout=f"{timeout}s"), None
        except ValueError as err:
            raise SweepError(f"{address!r} is not a Dask scheduler address ({err}); give one like "
                             "tcp://host:8786") from None
        except (OSError, TimeoutError) as err:
            raise SweepError(f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({err}); is "
                             "`dask scheduler` running there, and is its port open from here?") from None
    n = workers or os.cpu_count() or 1
    # NUMBA_NUM_THREADS: Numba's own pool; Dask's nannies cap OMP/MKL/OpenBLAS at one already.
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": "1"})
    return Client(cluster), cluster


class Sweep:
    """A sweep bound to its results folder: ``run()`` it (resuming), then ``to_pandas()``,
    ``write_figures()``."""

    def __init__(self, spec: SweepSpec, out):
        self.spec, self.store = spec, SweepStore(out, spec)

    @property
    def out(self) -> str:
        return self.store.out

    def pending(self, retries: int = 0) -> list[tuple[str, dict, int, int]]:
        """``(key, params, seed, attempt)`` of the runs still to do: not stored (or stored but
        damaged), or stored as failed with fewer than ``1 + retries`` attempts."""
        return self._pending(self.store.records(), _integer("retries", retries, 0, MAX_RETRIES))

    def _pending(self, done: dict[str, dict], retries: int) -> list[tuple[str, dict, int, int]]:
        todo = []
        for key, params, seed in self.spec.tasks():
            rec = done.get(key)
            if rec is None:
                todo.append((key, params, seed, 1))
            elif rec["status"] != "ok" and rec["attempt"] < 1 + retries:
                todo.append((key, params, seed, rec["attempt"] + 1))
        return todo

    def run(self, scheduler: str | None = None, workers: int | None = None, retries: int = 0,
            progress: bool | None = None, timeout: float = 10.0,
            on_record: Callable[[dict], None] | None = None, client=None) -> "Sweep":
        """Run every pending point on Dask, storing each record as it arrives (see the module
        docstring). ``on_record(record)`` is called after each one is stored. ``client``: an
        existing ``dask.distributed.Client`` to use (left open) instead of connecting."""
        retries = _integer("retries", retries, 0, MAX_RETRIES, " (re-runs of a failed point)")
        if client is None:
            check_engine(scheduler, workers, timeout)  # also when nothing is left to run: no option is ignored
        self.store.check()  # before connecting: a wrong folder fails fast, and nothing is written
        records, damaged = self.store.scan()
        todo = self._pending(records, retries)
        own_client, cluster = client is None and bool(todo), None
        if own_client:
            client, cluster = connect(scheduler, workers, timeout)
        try:
            self._prepare_store(damaged)
            if not todo:
                print(f"neurosim sweep {self.spec.experiment}: all {len(self.spec.tasks())} runs are stored in "
                      f"{self.out}")
                return self
            self._run_on(client, todo, retries, progress, on_record)
        finally:
            if own_client:
                client.close()
                if cluster is not None:
                    cluster.close()
        return self

    def _prepare_store(self, damaged: dict[str, DamagedFileError]) -> None:
        """Create the folder and sweep.json, remove leftover temporary files, and move damaged
        records aside (each reported) so that their runs are done again."""
        self.store.create()
        self.store.remove_temporary_files()
        for key, err in damaged.items():
            aside = self.store.set_aside(key)
            warnings.warn(f"{err}; moved to {aside!r}, and that point is run again", DamagedRecordWarning,
                          stacklevel=3)

    def _run_on(self, client, todo, retries: int, progress, on_record) -> None:
        from dask.distributed import as_completed
        from tqdm.auto import tqdm

        print(f"neurosim sweep {self.spec.experiment}: {len(todo)} of {len(self.spec.tasks())} runs to do; "
              f"Dask dashboard: {client.dashboard_link}", flush=True)
        futures = as_completed()
        for key, params, seed, attempt in todo:
            futures.add(self._submit(client, key, params, seed, attempt))
        bar = tqdm(total=len(todo), unit="run", desc=f"sweep {self.spec.experiment}",
                   disable=None if progress is None else not progress)
        try:
            for future in futures:
                key, params, seed, attempt = future.neurosim_task
                try:
                    record = future.result()
                except Exception as err:  # noqa: BLE001 - Dask gave up (e.g. workers kept dying)
                    record = {"key": key, "experiment": self.spec.experiment, "params": params, "seed": seed,
                              "attempt": attempt, "status": "failed", "metrics": None,
                              "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(),
                              "finished": _now()}
                self.store.write(record)
                if on_record is not None:
                    on_record(record)
                if record["status"] != "ok" and attempt < 1 + retries:
                    futures.add(self._submit(client, key, params, seed, attempt + 1))
                else:
                    bar.update(1)
        finally:
            bar.close()

    def _submit(self, client, key, params, seed, attempt):
        future = client.submit(run_point, self.spec.experiment, params, seed, key, attempt,
                               key=f"neurosim-{key}-{attempt}", pure=False)
        future.neurosim_task = (key, params, seed, attempt)
        return future

    # ---- reading results --------------------------------------------------------------------
    def records(self) -> list[dict]:
        """Stored records of this sweep, in the sweep's order (damaged ones reported and left out)."""
        return list(self.store.records().values())

    def to_pandas(self):
        """One row per stored (point, seed): parameters, ``seed``, metrics (nested dicts
        flattened with dots), ``wall_s``, ``status``, ``error``, ``attempt``, ``key``."""
        return _frame(self.records())

    def plottable_metrics(self) -> list[str] | None:
        """Names of the metrics the finished runs returned as numbers (nested ones flattened with
        dots), sorted; None while no run has finished."""
        return _plottable(self.records())

    def check_plot(self, metrics=None) -> list[str]:
        """The metrics :meth:`write_figures` would plot (default: the experiment's headline
        metrics), refusing what cannot be plotted before anything runs: a name that is not a
        non-empty str or is a parameter, any metric of a sweep with nothing swept, and -- once
        runs are stored -- a name that is neither a headline metric nor a number the stored runs
        returned. (A name not yet known, while no run has finished, is checked by write_figures.)"""
        if metrics is None:
            return self._plot_names(None, None)
        return self._plot_names(metrics, _plottable(list(self.store.scan()[0].values())))  # (damage: reported by run)

    def _plot_names(self, metrics, stored: list[str] | None) -> list[str]:
        exp = experiments.get(self.spec.experiment)
        if metrics is None:
            return list(exp.metrics)
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        for name in names:
            if not isinstance(name, str) or not name.strip():
                raise SweepError(f"a metric to plot must be a non-empty name, got {name!r:.60}")
        names = list(dict.fromkeys(names))
        if names and not self.spec.swept:
            raise SweepError(f"cannot plot {names[0]!r}: nothing is swept (an ensemble over seeds), and a plot needs "
                             "a swept parameter for its x axis")
        for name in names:
            if name in exp.parameters:
                raise SweepError(f"cannot plot {name!r}: it is a parameter of {exp.name!r}, not a metric; metrics: "
                                 f"{_metric_choices(exp, stored)}")
            if stored is not None and name not in stored and name not in exp.metrics:
                raise SweepError(f"cannot plot metric {name!r}: it is neither a headline metric of {exp.name!r} nor a "
                                 f"number its stored runs returned (they stay stored); metrics: "
                                 f"{_metric_choices(exp, stored)}")
        return names

    def write_figures(self, metrics=None) -> list[str]:
        """For each metric (default: the experiment's headline metrics): the metric against the
        first swept parameter, mean ± s.d. over seeds (one line per value of a second swept
        parameter), and with two swept parameters a heatmap of the mean. Returns the paths;
        none while no run has finished. Refuses what :meth:`check_plot` refuses, and a metric
        the finished runs did not return as a number (SweepError; the runs stay stored)."""
        from . import plot

        records = self.records()
        available = _plottable(records)
        metrics = self._plot_names(metrics, available)
        swept = self.spec.swept
        if not metrics or not swept or available is None:
            return []
        for metric in metrics:
            if metric not in available:
                raise SweepError(f"cannot plot metric {metric!r}: it is not a number the finished runs returned (they "
                                 f"stay stored); metrics: {', '.join(available)}")
        df = _frame(records)
        df = df[df["status"] == "ok"]
        paths = []
        for metric in metrics:
            x = swept[0]
            by = swept[1] if len(swept) > 1 else None
            path = os.path.join(self.out, f"{metric}_vs_{x}.png")
            plot.sweep_curve(df, metric, x, by, path=path, title=f"{self.spec.experiment}: {metric}")
            paths.append(path)
            if by is not None:
                path = os.path.join(self.out, f"{metric}_{x}_{by}.png")
                plot.sweep_heatmap(df, metric, x, by, path=path,
                                   title=f"{self.spec.experiment}: {metric} (mean over seeds)")
                paths.append(path)
        return paths


def _frame(records: list[dict]):
    """The rows of :meth:`Sweep.to_pandas` for ``records``."""
    import pandas as pd

    rows = []
    for rec in records:
        row = dict(rec["params"], seed=rec["seed"])
        row.update(_flatten(rec.get("metrics") or {}))
        row.update(status=rec["status"], error=rec.get("error"), wall_s=rec.get("wall_s"),
                   attempt=rec["attempt"], key=rec["key"])
        rows.append(row)
    return pd.DataFrame(rows)


def _plottable(records: list[dict]) -> list[str] | None:
    """Metric names (flattened) that every finished record holds as a number or None, and at
    least one as a number, sorted; None if no record is finished."""
    kinds: dict[str, set] = {}
    finished = [r for r in records if r["status"] == "ok"]
    for rec in finished:
        for name, value in _flatten(rec["metrics"]).items():
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            kinds.setdefault(name, set()).add("number" if number else "none" if value is None else "other")
    return sorted(n for n, k in kinds.items() if "number" in k and "other" not in k) if finished else None


def _metric_choices(exp: experiments.Experiment, stored: list[str] | None) -> str:
    headline = f"headline {', '.join(exp.metrics) or '(none declared)'}"
    return headline + (f"; returned by the stored runs {', '.join(stored)}" if stored else
                       "; no run is stored yet to say what else it returns")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def sweep(experiment: str, grid: dict | None = None, *, random: dict | None = None, samples: int | None = None,
          seeds=1, first_seed: int = 1, fixed: dict | None = None, out="sweeps/sweep", scheduler: str | None = None,
          workers: int | None = None, retries: int = 0, progress: bool | None = None, timeout: float = 10.0,
          random_seed: int = 0, figures: bool = True) -> Sweep:
    """Run (or resume) a sweep of ``experiment`` and return it; see the module docstring.

    Parameters
    ----------
    grid : ``{parameter: values}``; every combination is a point.
    random, samples : ``{parameter: (low, high)}`` and how many points to draw uniformly
        (with ``random_seed``): a random search, crossed with the grid if both are given.
    seeds : number of replicates (seeds ``first_seed``, ``first_seed + 1``, ...) or a list.
    fixed : parameters set to one value for every point.
    out : results folder (created; a folder of the same sweep is resumed).
    scheduler : address of a running Dask scheduler; default ``$DASK_SCHEDULER_ADDRESS``, else a
        LocalCluster of ``workers`` processes (default: one per core).
    retries : re-run a failed point up to this many more times.
    timeout : seconds to wait for the scheduler before giving up.
    figures : write the headline metrics' figures into ``out`` at the end.
    """
    figures, progress = check_flag("figures", figures), check_flag("progress", progress, none_ok=True)
    spec = SweepSpec.make(experiment, grid, random, samples, seeds, first_seed, fixed, random_seed)
    s = Sweep(spec, out).run(scheduler=scheduler, workers=workers, retries=retries, progress=progress,
                             timeout=timeout)
    if figures:
        s.write_figures()
    return s


def open_sweep(out) -> Sweep:
    """The sweep stored in folder ``out`` (to read its results without running anything)."""
    out = _folder(out)
    if not os.path.lexists(os.path.join(out, "sweep.json")):
        raise SweepError(f"{out!r} holds no sweep (no sweep.json); to rebuild it, run the sweep's command again")
    m = read_manifest(out)
    try:
        spec = SweepSpec.make(m["experiment"], m["grid"], m["random"], m["samples"] or None, m["seeds"],
                              fixed=m["fixed"], random_seed=m["random_seed"])
    except SweepError as err:
        raise SweepError(f"the sweep stored in {out!r} cannot be opened by this neurosim: {err}") from None
    return Sweep(spec, out)


__all__ = ["DamagedRecordWarning", "Sweep", "SweepError", "SweepSpec", "linspace", "open_sweep", "run_point", "sweep"]
