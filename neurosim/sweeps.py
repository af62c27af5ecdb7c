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
  fixed parameters, number of points, neurosim version, creation time). A later run with the
  same folder must describe the same sweep (else it is refused, nothing is touched), and then
  resumes it: points already stored are skipped.
* ``out/points/<key>.json``: one file per (point, seed), written atomically (a temporary file
  renamed into place, so there are no partial files): ``params``, ``seed``, ``status`` ("ok" or
  "failed"), ``metrics`` (what the experiment returned), ``error`` and ``traceback`` of a failed
  point, ``attempt``, ``wall_s``, ``host``, ``pid``, ``worker``, ``numba_threads``,
  ``neurosim_version``, ``started`` and ``finished`` (UTC, ISO 8601). ``key`` is a hash of the
  experiment, parameters and seed.
* ``out/<metric>_vs_<param>.png`` and ``out/<metric>_<x>_<y>.png``: figures (``write_figures``).

A point that raises is stored with its error and traceback and the sweep goes on; ``retries``
re-runs a failed point up to that many more times (also in a later run of the same sweep).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import itertools
import json
import logging
import os
import socket
import time
import traceback
import types
from dataclasses import dataclass
from typing import Callable, Union, get_args, get_origin

import numpy as np

from . import experiments
from .io import atomic_path

#: Version of the store layout described above.
STORE_FORMAT = 1
#: Parameters a sweep may not set: the seed comes from ``seeds``, outputs are the store's.
RESERVED = ("seed", "out", "progress")
#: Metrics that change from run to run of the same point (not compared when results are checked).
TIMING_METRICS = ("wall_time_s", "compile_s")


class SweepError(ValueError):
    """A sweep that cannot be run as asked (bad parameters, a folder holding another sweep,
    an unreachable scheduler); the message says what to change."""


def linspace(start: float, stop: float, num: int) -> list[float]:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (the CLI's ``a:b:n``)."""
    return [float(v) for v in np.linspace(start, stop, int(num))]


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
            return float(value)
        if k is str and isinstance(value, str):
            return value
    if all(k in (bool, int, float, str) for k in kinds):
        wanted = " or ".join(k.__name__ for k in kinds)
        raise SweepError(f"parameter {name!r} of experiment {exp.name!r} takes {wanted}; got {value!r} "
                         f"({type(value).__name__})")
    return value  # another annotation (a tuple, a dict): passed as given


def _check_name(exp: experiments.Experiment, name: str, what: str) -> None:
    if name in RESERVED:
        raise SweepError(f"{what} {name!r} cannot be swept or fixed: seeds come from `seeds`, and the sweep "
                         "stores its own results (no `out`, no progress bars per point)")
    if name not in exp.parameters:
        valid = [k for k in exp.parameters if k not in RESERVED]
        raise SweepError(f"experiment {exp.name!r} has no parameter {name!r}; its parameters are {valid}")


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
        """Check everything against the experiment's registered parameters (names, types)."""
        try:
            exp = experiments.get(experiment)
        except KeyError as err:
            raise SweepError(err.args[0]) from None
        grid, random, fixed = dict(grid or {}), dict(random or {}), dict(fixed or {})
        for name, values in grid.items():
            _check_name(exp, name, "grid parameter")
            values = list(values) if isinstance(values, (list, tuple, np.ndarray, range)) else [values]
            if not values:
                raise SweepError(f"grid parameter {name!r} has no values; give at least one")
            grid[name] = [_coerce(exp, name, v) for v in values]
        for name, bounds in random.items():
            _check_name(exp, name, "random parameter")
            if name in grid:
                raise SweepError(f"parameter {name!r} is both in the grid and in the random ranges")
            if not (isinstance(bounds, (list, tuple)) and len(bounds) == 2):
                raise SweepError(f"random parameter {name!r} needs (low, high), got {bounds!r}")
            kind = exp.parameters[name][0]
            if kind not in (int, float):
                raise SweepError(f"random parameter {name!r} must be int or float, the experiment has it as {kind}")
            low, high = (_coerce(exp, name, b) for b in bounds)
            if not low <= high:
                raise SweepError(f"random parameter {name!r}: low must be <= high, got ({low}, {high})")
            random[name] = [low, high]
        if random and (samples is None or int(samples) < 1):
            raise SweepError(f"a random search needs samples >= 1 (how many points to draw), got {samples!r}")
        if samples is not None and not random:
            raise SweepError("samples is for a random search: give the random ranges too")
        for name, value in fixed.items():
            _check_name(exp, name, "fixed parameter")
            if name in grid or name in random:
                raise SweepError(f"parameter {name!r} is both fixed and swept")
            fixed[name] = _coerce(exp, name, value)
        if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            if seeds < 1:
                raise SweepError(f"seeds must be >= 1 (the number of replicates), got {seeds}")
            seeds = [int(first_seed) + k for k in range(int(seeds))]
        seeds = list(seeds)
        if not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, (int, np.integer)) for s in seeds):
            raise SweepError(f"seeds must be a count >= 1 or a list of distinct integers, got {seeds!r}")
        if not any(len(v) > 1 for v in grid.values()) and not random and len(seeds) == 1:
            raise SweepError("empty sweep: nothing varies; give grid values, random ranges, or seeds >= 2 "
                             "(an ensemble)")
        return SweepSpec(experiment, grid, random, int(samples or 0), int(random_seed), tuple(int(s) for s in seeds),
                         fixed)

    def points(self) -> list[dict]:
        """Parameter dicts, grid-major: every grid combination, times every random sample."""
        names = list(self.grid)
        combos = [dict(zip(names, vals)) for vals in itertools.product(*(self.grid[n] for n in names))]
        samples = [{}]
        if self.random:
            rng = np.random.default_rng(self.random_seed)
            exp = experiments.get(self.experiment)
            samples = []
            for _ in range(self.samples):
                point = {}
                for name, (low, high) in self.random.items():
                    if exp.parameters[name][0] is int:
                        point[name] = int(rng.integers(low, high, endpoint=True))
                    else:
                        point[name] = float(rng.uniform(low, high))
                samples.append(point)
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


# ---- the store ------------------------------------------------------------------------------
class SweepStore:
    """The results folder (layout: module docstring)."""

    def __init__(self, out, spec: SweepSpec):
        self.out = os.fspath(out)
        self.points_dir = os.path.join(self.out, "points")
        self.manifest_path = os.path.join(self.out, "sweep.json")
        self.spec = spec

    def check(self) -> None:
        """Refuse a folder that holds something else than this sweep (nothing is written)."""
        if os.path.exists(self.manifest_path):
            with open(self.manifest_path) as fh:
                stored = json.load(fh)
            mine = _jsonable(self.spec.manifest())
            theirs = {k: stored.get(k) for k in mine}
            if theirs != mine:
                diff = [k for k in mine if theirs[k] != mine[k]]
                raise SweepError(
                    f"{self.out!r} holds another sweep (experiment {stored.get('experiment')!r}; differs in "
                    f"{', '.join(diff)}: stored {', '.join(f'{k}={theirs[k]!r}' for k in diff)}); "
                    "choose another out folder, or repeat that sweep's own command to resume it")
        elif os.path.isdir(self.out) and os.listdir(self.out):
            raise SweepError(f"{self.out!r} exists and is not a neurosim sweep folder (no sweep.json); "
                             "choose a new or empty folder")

    def create(self) -> None:
        from . import __version__

        self.check()
        os.makedirs(self.points_dir, exist_ok=True)
        if not os.path.exists(self.manifest_path):
            manifest = dict(self.spec.manifest(), n_runs=len(self.spec.tasks()), neurosim_version=__version__,
                            created=_now())
            _write_json(self.manifest_path, manifest)

    def records(self) -> dict[str, dict]:
        """Stored records by key (only this sweep's keys)."""
        out = {}
        if not os.path.isdir(self.points_dir):
            return out
        for name in os.listdir(self.points_dir):
            if name.endswith(".json"):
                with open(os.path.join(self.points_dir, name)) as fh:
                    rec = json.load(fh)
                out[rec["key"]] = rec
        return out

    def write(self, record: dict) -> None:
        _write_json(os.path.join(self.points_dir, f"{record['key']}.json"), record)


def _write_json(path: str, obj) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=1, default=str)


# ---- the engine -----------------------------------------------------------------------------
def connect(scheduler: str | None = None, workers: int | None = None, timeout: float = 10.0):
    """A Dask client: to ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), else to a new
    LocalCluster of ``workers`` single-threaded processes (default: one per core). Returns
    ``(client, cluster or None)``; raises SweepError if the scheduler is not reached in
    ``timeout`` seconds."""
    from dask.distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        try:
            return Client(address, timeout=f"{timeout}s"), None
        except (OSError, TimeoutError) as err:
            raise SweepError(f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({err}); is "
                             "`dask scheduler` running there, and is its port open from here?") from None
    n = int(workers or os.cpu_count() or 1)
    if n < 1:
        raise SweepError(f"workers must be >= 1, got {workers}")
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
        """``(key, params, seed, attempt)`` of the runs still to do: not stored, or stored as
        failed with fewer than ``1 + retries`` attempts."""
        done = self.store.records()
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
        if int(retries) < 0:
            raise SweepError(f"retries must be >= 0, got {retries}")
        self.store.check()  # before connecting: a wrong folder fails fast, and nothing is written
        todo = self.pending(retries)
        if not todo and os.path.exists(self.store.manifest_path):
            print(f"neurosim sweep {self.spec.experiment}: all {len(self.spec.tasks())} runs are stored in {self.out}")
            return self
        own_client = client is None
        if own_client:
            client, cluster = connect(scheduler, workers, timeout)
        from dask.distributed import as_completed
        from tqdm.auto import tqdm

        try:
            self.store.create()
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
        finally:
            if own_client:
                client.close()
                if cluster is not None:
                    cluster.close()
        return self

    def _submit(self, client, key, params, seed, attempt):
        future = client.submit(run_point, self.spec.experiment, params, seed, key, attempt,
                               key=f"neurosim-{key}-{attempt}", pure=False)
        future.neurosim_task = (key, params, seed, attempt)
        return future

    # ---- reading results --------------------------------------------------------------------
    def records(self) -> list[dict]:
        """Stored records of this sweep, in the sweep's order."""
        stored = self.store.records()
        return [stored[key] for key, _, _ in self.spec.tasks() if key in stored]

    def to_pandas(self):
        """One row per stored (point, seed): parameters, ``seed``, metrics (nested dicts
        flattened with dots), ``wall_s``, ``status``, ``error``, ``attempt``, ``key``."""
        import pandas as pd

        rows = []
        for rec in self.records():
            row = dict(rec["params"], seed=rec["seed"])
            row.update(_flatten(rec.get("metrics") or {}))
            row.update(status=rec["status"], error=rec.get("error"), wall_s=rec.get("wall_s"),
                       attempt=rec["attempt"], key=rec["key"])
            rows.append(row)
        return pd.DataFrame(rows)

    def write_figures(self, metrics=None) -> list[str]:
        """For each metric (default: the experiment's headline metrics): the metric against the
        first swept parameter, mean ± s.d. over seeds (one line per value of a second swept
        parameter), and with two swept parameters a heatmap of the mean. Returns the paths."""
        from . import plot

        metrics = list(metrics or experiments.get(self.spec.experiment).metrics)
        swept = self.spec.swept
        if not metrics or not swept:
            return []
        df = self.to_pandas()
        df = df[df["status"] == "ok"] if len(df) else df
        paths = []
        for metric in metrics:
            if metric not in df.columns:
                raise SweepError(f"metric {metric!r} is not among the stored metrics: "
                                 f"{sorted(c for c in df.columns if c not in self.spec.fixed)}")
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
    spec = SweepSpec.make(experiment, grid, random, samples, seeds, first_seed, fixed, random_seed)
    s = Sweep(spec, out).run(scheduler=scheduler, workers=workers, retries=retries, progress=progress,
                             timeout=timeout)
    if figures:
        s.write_figures()
    return s


def open_sweep(out) -> Sweep:
    """The sweep stored in folder ``out`` (to read its results without running anything)."""
    path = os.path.join(os.fspath(out), "sweep.json")
    if not os.path.exists(path):
        raise SweepError(f"{os.fspath(out)!r} holds no sweep (no sweep.json)")
    with open(path) as fh:
        m = json.load(fh)
    spec = SweepSpec(m["experiment"], m["grid"], m["random"], m["samples"], m["random_seed"], tuple(m["seeds"]),
                     m["fixed"])
    return Sweep(spec, out)


__all__ = ["Sweep", "SweepError", "SweepSpec", "linspace", "open_sweep", "run_point", "sweep"]
