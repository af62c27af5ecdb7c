"""The experiment registry: every example experiment is a registered, typed function.

An experiment is a function with keyword-only, typed, defaulted parameters that returns a
dict of metrics (and writes its figures and files into ``out`` when given). The CLI
(``neurosim run NAME``) and sweeps go through this one registry::

    from neurosim.experiments import experiment

    @experiment("my-net")
    def my_net(*, duration: float = 1000.0, seed: int = 1, backend: str = "numba",
               out: str | None = None, progress: bool | None = None, n: int = 100) -> dict:
        ...

Every experiment takes the common parameters ``duration``, ``seed``, ``backend``, ``out``
(folder for outputs, None writes nothing) and ``progress``.

``duration`` means one thing in every experiment: **the simulated time of one trial, in ms**
(float, >= 0) — how long the network runs for one stimulus presentation, from its onset.
An experiment that presents many stimuli runs each of them for ``duration`` (a cue-to-outcome
trial of what-when, before its inter-trial interval; one event stream of the LSM examples; one
digit of digits and hlop-permuted-digits, in 1 ms steps). An experiment that is one continuous
run is one trial: ``duration`` is the whole run (cuba, izhikevich-2003; force-sine: settle +
train + test). A default of ``None`` means the experiment takes the trial length from its own
parameters (``steps`` × 1 ms) or from its task (sequence-benchmark, which refuses a value).
Each experiment's docstring opens its description of ``duration`` with "simulated time per
trial, ms" and says what a trial is there; :func:`duration_steps` turns it into time steps.

Figures can be switched off for a run (``neurosim run NAME --no-plot``)::

    with no_figures():
        metrics = run("cuba", out="results/cuba")   # summary.json and result.npz, no PNG

Experiments need nothing for this: inside :func:`no_figures`, :func:`output_files` names no
file for a figure (``None``, which every figure function takes as "write no file"),
:func:`write_summary` lists only the files written, and :func:`write_run_outputs` does not
draw its raster at all (so ``cuba``, ``coba``, ``izhikevich-2003`` never import matplotlib).
An experiment that draws with its own figure functions still builds those figures in memory
(they are not rendered or written): skipping them too would take an ``if`` in each.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable

COMMON = ("duration", "seed", "backend", "out", "progress")


@dataclass(frozen=True)
class Experiment:
    name: str
    func: Callable[..., dict]
    doc: str
    metrics: tuple[str, ...] = ()  # headline metrics: what a sweep plots by default

    @functools.cached_property  # (a frozen dataclass still caches in __dict__)
    def parameters(self) -> dict[str, tuple[type, object]]:
        """``name -> (type, default)`` of every parameter (read once: evaluating the annotations
        is slow, and a sweep checks every value against them)."""
        out = {}
        hints = inspect.get_annotations(self.func, eval_str=True)
        for p in inspect.signature(self.func).parameters.values():
            out[p.name] = (hints.get(p.name, type(p.default)), p.default)
        return out

    def __call__(self, **params) -> dict:
        unknown = set(params) - set(self.parameters)
        if unknown:
            raise TypeError(f"experiment {self.name!r} has no parameter(s) {sorted(unknown)}; "
                            f"its parameters are {sorted(self.parameters)}")
        return self.func(**params)


_REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, metrics: tuple[str, ...] = ()):
    """Decorator registering ``func`` as experiment ``name`` (keyword-only, defaulted parameters).
    ``metrics``: names of its headline metrics (keys of the dict it returns), plotted by sweeps."""

    def register(func):
        sig = inspect.signature(func)
        missing = [c for c in COMMON if c not in sig.parameters]
        if missing:
            raise TypeError(f"experiment {name!r} must accept the common parameters {COMMON}; missing {missing}")
        for p in sig.parameters.values():
            if p.kind is not p.KEYWORD_ONLY or p.default is p.empty:
                raise TypeError(f"experiment {name!r}: parameter {p.name!r} must be keyword-only with a default")
        _REGISTRY[name] = Experiment(name, func, inspect.getdoc(func) or "", tuple(metrics))
        return func

    return register


def _load_examples() -> None:
    import neurosim.examples as examples

    for mod in pkgutil.iter_modules(examples.__path__):
        importlib.import_module(f"neurosim.examples.{mod.name}")


def _load_example_named(name: str) -> None:
    """Import the example module that experiment ``name`` lives in by convention
    (``izhikevich-2003`` -> ``neurosim.examples.izhikevich_2003``), if there is one.

    Why: importing every example to find one costs ~0.35 s (some pull in scipy, the plasticity
    rules, ...), a quarter of a whole ``neurosim run cuba``. An experiment registered elsewhere
    is still found: :func:`get` falls back to loading every example."""
    module = name.replace("-", "_")
    if not module.isidentifier():
        return
    try:
        importlib.import_module(f"neurosim.examples.{module}")
    except ModuleNotFoundError as err:
        if err.name != f"neurosim.examples.{module}":  # the example exists but lacks a dependency: say so
            raise


def names() -> list[str]:
    """Names of all registered experiments, sorted."""
    _load_examples()
    return sorted(_REGISTRY)


def get(name: str) -> Experiment:
    """The experiment registered as ``name``."""
    if name not in _REGISTRY:
        _load_example_named(name)
    if name not in _REGISTRY:
        _load_examples()
    if name not in _REGISTRY:
        raise KeyError(f"no experiment named {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def run(name: str, **params) -> dict:
    """Run experiment ``name`` with ``params``; returns its metrics."""
    return get(name)(**params)


def duration_steps(duration, dt: float = 1.0) -> int:
    """The number of time steps of ``dt`` ms in one trial of ``duration`` ms (the common
    parameter; see the module docstring), at least one. Raises ``ValueError`` naming
    ``duration`` for a value that is not a finite number >= ``dt``."""
    import math

    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
            or duration < dt:
        raise ValueError(f"duration (simulated time per trial, ms) must be a finite number >= the {dt:g} ms time "
                         f"step, got {duration!r}")
    return int(round(duration / dt))


def check_output_folder(out, what: str = "out") -> str:
    """Refuse, before anything runs, an output folder ``out`` that cannot be created or written:
    an empty name, an existing file, a path under a file, a folder this process may not write in,
    a name too long for the file system. ``what`` names the argument in the message (``"--out"``
    on the command line). Returns ``out`` as a str; creates nothing.

    Writability is tried, not inferred from permission bits (which root ignores, and which say
    nothing of read-only or virtual file systems): an anonymous temporary file is opened in the
    nearest folder that exists."""
    import os
    import tempfile

    try:
        path = os.fspath(out)
    except TypeError:
        raise TypeError(f"{what} must be a folder path (str or os.PathLike), got {type(out).__name__} {out!r:.60}") \
            from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.strip():
        raise ValueError(f"{what} must name a folder, got {path!r}")
    if "\0" in path:
        raise ValueError(f"{what} {path!r} cannot be a file name (it holds a NUL character)")
    try:
        os.fsencode(path)
    except UnicodeEncodeError as err:
        raise ValueError(f"{what} {path!r} cannot be a file name ({err.reason})") from None
    full = os.path.abspath(path)
    existing = full
    while not os.path.lexists(existing):  # "/" always exists, so this stops
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        problem = "exists and is not a folder" if existing == full else \
            f"cannot be a folder: {existing!r} is a file, and a file holds no folders"
        raise ValueError(f"{what} {path!r} {problem}; give a folder to write into")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(f"{what} {path!r}: cannot write in folder {existing!r} ({err.strerror or err}); give a "
                         "folder you can write to") from None
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for name in os.path.relpath(full, existing).split(os.sep):
        if len(os.fsencode(name)) > name_max:
            raise ValueError(f"{what} {path!r}: the name {name[:40]!r}... is longer than the {name_max} bytes "
                             "a file name may have here")
    return path


# A context variable, not a module global: a switch set by one caller (the CLI, a test) ends
# with its ``with`` block and never leaks into another thread's runs.
_FIGURES = contextvars.ContextVar("neurosim_experiment_figures", default=True)


@contextlib.contextmanager
def no_figures():
    """Within this block experiments write no figures (their metrics, summary and data files
    as usual); see the module docstring."""
    token = _FIGURES.set(False)
    try:
        yield
    finally:
        _FIGURES.reset(token)


def figures_enabled() -> bool:
    """False inside :func:`no_figures`."""
    return _FIGURES.get()


def output_files(out, *figures: str) -> dict:
    """Create folder ``out`` and name an experiment's outputs there: ``{figure: out/figure.png}``
    for each of ``figures``, plus ``"summary": out/summary.json`` (see :func:`write_summary`).
    Inside :func:`no_figures` each figure's path is ``None``: figure functions then write nothing."""
    import os

    os.makedirs(out, exist_ok=True)
    draw = figures_enabled()
    files = {name: os.path.join(out, f"{name}.png") if draw else None for name in figures}
    files["summary"] = os.path.join(out, "summary.json")
    return files


def write_summary(files: dict, metrics: dict) -> None:
    """Write ``metrics`` plus the paths of the files written (``files``; entries of ``None``, a
    figure not drawn, are left out) as JSON to ``files["summary"]``."""
    from .io import write_json

    written = {name: path for name, path in files.items() if path is not None}
    write_json(files["summary"], dict(metrics, files=written))


def write_run_outputs(result, out, metrics: dict, title: str = "", save_result: bool = True) -> dict:
    """Write the standard outputs of a run into folder ``out``: ``raster.png`` (raster with the
    population rates beneath; not inside :func:`no_figures`), ``summary.json`` (``metrics``)
    and ``result.npz``. Returns the paths written, which are also added to the summary under
    ``"files"``."""
    import os

    from . import plot

    files = output_files(out, "raster")
    if files["raster"] is not None:  # (plot.raster with no path would still draw, importing matplotlib)
        plot.raster(result, path=files["raster"], title=title)
    if save_result:
        files["result"] = result.save(os.path.join(out, "result.npz"))
    write_summary(files, metrics)
    return {name: path for name, path in files.items() if path is not None}


def run_network(name: str, net, *, duration: float, backend: str, progress, out, title: str = "",
                extra=None) -> dict:
    """Run ``net`` for ``duration`` ms and return the metrics of experiment ``name`` (its
    result's summary, plus ``extra(result)`` when given); with ``out``, also write the standard
    outputs there."""
    result = net.run(duration, backend=backend, progress=progress)
    metrics = {"experiment": name, **result.summary(), **(extra(result) if extra else {})}
    if out is not None:
        write_run_outputs(result, out, metrics, title=title)
    return metrics
