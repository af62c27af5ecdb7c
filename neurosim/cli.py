"""The ``neurosim`` command line.

    neurosim list                                   # registered experiments
    neurosim run izhikevich-2003 --out results/izh  # raster.png, summary.json, result.npz
    neurosim run cuba --duration 500 --backend numpy --set we=2.0
    neurosim run cuba --no-plot                     # summary.json, result.npz; no figures drawn
    neurosim run cuba --help                        # the experiment's own parameters
    neurosim sweep cuba --param we=0.5:3.0:6 --param wi=-20:-2:6 --seeds 3 --duration 500 --out sweeps/cuba
    neurosim sweep cuba --help                      # sweep options and the experiment's parameters

``run`` and ``sweep`` take the common parameters the same way: ``--duration`` and
``--backend`` (or ``--set duration=...``, ``--set backend=...``; ``run`` also ``--set
seed=...``: giving one twice with different values is refused), every other parameter with
``--set NAME=VALUE``; ``sweep`` varies them with ``--param`` / ``--random``.

Errors and exit status
----------------------
Every error is ONE line on stderr, ``neurosim: error: <what was wrong, and what is allowed>``,
without a traceback; ``--debug`` (anywhere on the command line) raises it with its traceback
instead. Warnings (a damaged sweep record, ...) are one line each too, ``neurosim: warning: ...``.

* 0 -- done.
* 1 -- the work failed while running: an error that is not a refusal (a numerical blow-up,
  an I/O error, a backend without its hardware), or a sweep that finished with failed runs
  (each stored with its error; the first few are printed).
* 2 -- refused (argparse's convention for usage errors): the command line, a value in it or a
  file it names is not allowed. That includes every ``ValueError``/``TypeError`` the experiment
  or the sweep raises (a parameter out of range, a duration of an absurd number of steps, a
  population too large for memory, a damaged ``sweep.json``): the value has to change.
* 130 -- interrupted (Ctrl-C); a sweep keeps every run stored so far.

Checked before anything runs: option values (numbers parse, ranges: ``--seed``/``--first-seed``
>= 0, ``--duration`` finite and >= 0, ``--seeds``/``--samples``/``--workers`` >= 1, ``--retries``
>= 0, ``--timeout`` > 0, with the upper limits of :mod:`neurosim.sweeps`), parameter names and
types, the same name given twice, and ``--out`` (not an existing file, not under a file, in a
folder this process can write). A negative number may follow an option as its value
(``--timeout -1`` is read, then refused with the allowed range).

``--plot METRIC`` (sweep) takes the experiment's headline metrics (``--help`` lists them) and,
once runs are stored, any metric they returned as a number (nested ones as ``rates_hz.exc``);
other names are refused before running when runs are stored, else after the runs, which stay
stored: repeating the command with a corrected ``--plot`` only draws the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import types
import warnings
from typing import Union, get_args, get_origin

from . import experiments

EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 1, 2, 130


class CommandError(Exception):
    """An error the command reports as one line, exiting with ``status``."""

    def __init__(self, message: str, status: int = EXIT_REFUSED):
        super().__init__(message)
        self.status = status


def _failure(context: str, err: Exception) -> CommandError:
    """``err``, raised while doing ``context``, as a CommandError: a ValueError/TypeError is a
    refusal (its message says what to change), anything else a failure (named by its class)."""
    if isinstance(err, CommandError):
        return err
    if isinstance(err, (ValueError, TypeError)):
        return CommandError(f"{context}: {_one_line(err)}", EXIT_REFUSED)
    return CommandError(f"{context}: {type(err).__name__}: {_one_line(err)}", EXIT_FAILED)


def _one_line(message) -> str:
    return " ".join(str(message).split()) or "(no message)"


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error raises CommandError (one line, no usage text)."""

    def error(self, message):
        raise CommandError(f"{self.prog.removeprefix('neurosim ')}: {message}")


# ---- option values --------------------------------------------------------------------------
def _read_int(text: str) -> int | None:
    """``text`` as an int ("12", "1e3", "2.0"; big integers exactly), or None."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _int_option(minimum: int, maximum: int | None = None, meaning: str = ""):
    """An argparse ``type``: an integer in ``[minimum, maximum]``."""
    allowed = f">= {minimum}" if maximum is None else f">= {minimum} and <= {maximum}"

    def integer(text: str) -> int:
        value = _read_int(text)
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected an integer {allowed}{meaning}, got {text!r}")
        return value

    return integer


def _float_option(minimum: float, maximum: float = math.inf, above_minimum: bool = False, meaning: str = ""):
    """An argparse ``type``: a finite number >= ``minimum`` (> with ``above_minimum``), <= ``maximum``."""
    allowed = f"{'>' if above_minimum else '>='} {minimum:g}" + ("" if maximum == math.inf else f" and <= {maximum:g}")

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > minimum if above_minimum else value >= minimum)
                and value <= maximum):
            raise argparse.ArgumentTypeError(f"expected a finite number {allowed}{meaning}, got {text!r}")
        return value

    return number


def _name_option(what: str):
    """An argparse ``type``: a non-empty text."""

    def name(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return text

    return name


_DURATION = _float_option(0.0, meaning=" (biological time, ms)")
_SEED = _int_option(0, meaning=" (numpy's generators take no negative seeds)")


def _join_negative_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``--option -1e3`` as ``--option=-1e3``: argparse takes a value that starts with "-" for
    an option unless it looks like a plain negative integer or decimal, so ``--timeout -1e3``
    or ``--timeout -inf`` would fail as "expected one argument" instead of being refused with
    the allowed range."""
    takes_value = {s for a in parser._actions if a.nargs is None and a.option_strings for s in a.option_strings}
    out = []
    for token in argv:
        if out and out[-1] in takes_value and token.startswith("-") and _is_number(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---- experiment parameters ------------------------------------------------------------------
def _kinds(kind) -> tuple[list, bool]:
    """The types a parameter annotated ``kind`` takes (a union's members) and whether None is one."""
    if get_origin(kind) in (Union, types.UnionType):
        members = get_args(kind)
        return [k for k in members if k is not type(None)], type(None) in members
    return [kind], False


def _parse_value(name: str, text: str, kind, option: str = "--set"):
    """``text`` as a value of parameter ``name`` annotated ``kind``; ValueError naming both."""
    kinds, takes_none = _kinds(kind)
    if takes_none and text.strip().lower() in ("none", "null"):
        return None
    for k in kinds:
        if k is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
        elif k is int:  # "2.0" is 2, "2.5" is an error
            value = _read_int(text)
            if value is not None:
                return value
        elif k in (float, str):
            try:
                return k(text)
            except ValueError:
                pass
        else:  # another annotation (a list, a dict): JSON
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                pass
    wanted = " or ".join(["true/false" if k is bool else getattr(k, "__name__", str(k)) for k in kinds]
                         + (["none"] if takes_none else []))
    raise ValueError(f"{option} {name}: cannot read {text!r:.60} as {wanted}")


def _assignment(item: str, option: str, names: list[str]) -> tuple[str, str]:
    """``NAME=VALUE`` of ``option``, NAME among ``names``."""
    name, sep, value = item.partition("=")
    if not sep or name not in names:
        raise ValueError(f"{option} {item!r:.60}: expected NAME=VALUE with NAME among {names}")
    return name, value


def _parameters(option: str, items: list[str], names: list[str], parse) -> dict:
    """``{name: parse(name, text)}`` of ``option``'s ``NAME=TEXT`` items; a name given twice is refused."""
    values = {}
    for item in items:
        name, text = _assignment(item, option, names)
        if name in values:
            raise ValueError(f"{option} {name} is given twice; give it once")
        values[name] = parse(name, text)
    return values


def _merge_options(args, names: tuple[str, ...], params: dict) -> None:
    """Put the options ``--NAME`` that were given into ``params`` (the parameters of ``--set``),
    refusing one given both ways with different values."""
    for name in names:
        value = getattr(args, name)
        if value is not None:
            if name in params and params[name] != value:
                raise ValueError(f"--{name} {value} and --set {name}={params[name]} disagree; give one")
            params[name] = value
    # The same ranges as --duration and --seed, for the same parameters given with --set.
    duration, seed = params.get("duration"), params.get("seed")
    if duration is not None and not (isinstance(duration, float) and math.isfinite(duration) and duration >= 0):
        raise ValueError(f"--set duration: expected a finite number >= 0 (biological time, ms), got {duration!r}")
    if isinstance(seed, int) and seed < 0:
        raise ValueError(f"--set seed: expected an integer >= 0 (numpy's generators take no negative seeds), got {seed}")


def _parameter_lines(exp: experiments.Experiment, skip=experiments.COMMON) -> list[str]:
    return [f"  {k} ({getattr(t, '__name__', t)}, default {d!r})" for k, (t, d) in exp.parameters.items()
            if k not in skip]


def _add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="on an error, show its traceback")


# ---- neurosim run ---------------------------------------------------------------------------
#: Parameters that ``run`` sets itself (``--out``, ``--no-progress``): not settable with ``--set``.
_RUN_OWN = ("out", "progress")


def _run_parser(exp: experiments.Experiment) -> argparse.ArgumentParser:
    params = exp.parameters
    extra = _parameter_lines(exp)
    parser = _Parser(
        prog=f"neurosim run {exp.name}", description=exp.doc,
        epilog="experiment parameters for --set:\n" + ("\n".join(extra) if extra else "  (none)"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=f"results/{exp.name}", type=_name_option("a folder"),
                        help="output folder (default: %(default)s)")
    # Defaults of None: an option left out is the experiment's own default, and can be told
    # apart from the same parameter given with --set.
    parser.add_argument("--seed", type=_SEED, default=None,
                        help=f"random seed, >= 0 (default: {params['seed'][1]})")
    parser.add_argument("--duration", type=_DURATION, default=None,
                        help=f"biological time in ms, >= 0 (default: {params['duration'][1]})")
    # Each experiment checks its own backend names: simulations take numba/numpy/triton,
    # neurosim.nn training takes auto/numba/triton/torch/reference.
    parser.add_argument("--backend", type=_name_option("a backend name"), default=None,
                        help="backend (simulations: numba, numpy, triton; neurosim.nn training: auto, numba, triton, "
                             f"torch, reference; default: {params['backend'][1]})")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--no-plot", action="store_true",
                        help="write no figures (a run's standard raster is not drawn at all, so matplotlib is not "
                             "loaded: a faster start); metrics are still printed and written to summary.json, "
                             "data files as usual")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="set an experiment parameter (repeatable)")
    _add_debug(parser)
    return parser


def _run(exp: experiments.Experiment, rest: list[str]) -> int:
    parser = _run_parser(exp)
    args = parser.parse_args(_join_negative_values(rest, parser))
    settable = [k for k in exp.parameters if k not in _RUN_OWN]
    try:
        params = _parameters("--set", args.set, settable,
                             lambda name, text: _parse_value(name, text, exp.parameters[name][0]))
        _merge_options(args, ("seed", "duration", "backend"), params)
        params["out"] = experiments.check_output_folder(args.out, "--out")
        params["progress"] = not args.no_progress
        with experiments.no_figures() if args.no_plot else contextlib.nullcontext():
            metrics = exp(**params)
    except Exception as err:  # noqa: BLE001 - reported as one line (main re-raises it with --debug)
        raise _failure(f"run {exp.name}", err) from err
    print(json.dumps(metrics, indent=2, default=str))
    return 0


# ---- neurosim sweep -------------------------------------------------------------------------
def _sweep_parser(exp: experiments.Experiment) -> argparse.ArgumentParser:
    from .sweeps import MAX_RETRIES, MAX_RUNS, MAX_TIMEOUT_S, MAX_WORKERS_PER_CORE, RESERVED

    parser = _Parser(
        prog=f"neurosim sweep {exp.name}",
        description=f"Sweep experiment {exp.name!r} over parameters and seeds on Dask (see neurosim.sweeps).\n\n"
                    + exp.doc,
        epilog="parameters of this experiment (for --param, --random, --set):\n"
               + "\n".join(_parameter_lines(exp, skip=RESERVED))
               + (f"\nheadline metrics (plotted): {', '.join(exp.metrics)}" if exp.metrics else ""),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                        help="swept parameter: START:STOP:NUM (NUM evenly spaced values), A,B,C (a list) or one "
                             "value (repeatable; the grid is every combination)")
    parser.add_argument("--random", action="append", default=[], metavar="NAME=LOW:HIGH",
                        help="random search: draw NAME uniformly from [LOW, HIGH] (repeatable; with --samples)")
    parser.add_argument("--samples", type=_int_option(1, MAX_RUNS), default=None,
                        help="number of random-search points")
    parser.add_argument("--seeds", type=_int_option(1, MAX_RUNS), default=1,
                        help="replicates per point (default: %(default)s)")
    parser.add_argument("--first-seed", type=_SEED, default=1,
                        help="seed of the first replicate, >= 0 (default: %(default)s)")
    parser.add_argument("--duration", type=_DURATION, default=None,
                        help="biological time of every run in ms, the same as --set duration=MS "
                             "(default: the experiment's)")
    parser.add_argument("--backend", type=_name_option("a backend name"), default=None,
                        help="backend of every run, the same as --set backend=NAME (default: the experiment's)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="parameter fixed for every point (repeatable)")
    parser.add_argument("--out", default=f"sweeps/{exp.name}", type=_name_option("a folder"),
                        help="results folder (default: %(default)s)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", type=_name_option("an address"),
                        help="a running Dask scheduler (tcp://host:8786); default: $DASK_SCHEDULER_ADDRESS, "
                             "else a local cluster")
    cores = os.cpu_count() or 1
    parser.add_argument("--workers", type=_int_option(1, MAX_WORKERS_PER_CORE * cores, " (local processes)"),
                        default=None, help=f"local cluster size, up to {MAX_WORKERS_PER_CORE} per core "
                                           "(default: one per core)")
    parser.add_argument("--retries", type=_int_option(0, MAX_RETRIES), default=0,
                        help="re-run failed points up to N more times")
    parser.add_argument("--timeout", type=_float_option(0.0, MAX_TIMEOUT_S, above_minimum=True, meaning=" (seconds)"),
                        default=10.0, help="seconds to wait for the scheduler (default: %(default)s)")
    parser.add_argument("--plot", action="append", default=None, metavar="METRIC",
                        help="metric to plot (repeatable; default: the experiment's headline metrics; once runs are "
                             "stored, any metric they returned as a number)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_debug(parser)
    return parser


def _sweep_values(exp: experiments.Experiment, name: str, text: str, option: str) -> list:
    """Values of ``--param NAME=TEXT``: START:STOP:NUM, a comma list, or one value."""
    from .sweeps import MAX_RUNS, linspace

    kind = exp.parameters[name][0]
    parts = text.split(":")
    if len(parts) == 3 and set(_kinds(kind)[0]) & {int, float}:
        start, stop = (_parse_value(name, t, float, option) for t in parts[:2])
        num = _parse_value(name, parts[2], int, option)
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise ValueError(f"{option} {name}={text}: START and STOP must be finite numbers")
        if not 1 <= num <= MAX_RUNS:
            raise ValueError(f"{option} {name}={text}: NUM must be >= 1 and <= {MAX_RUNS}")
        return linspace(start, stop, num)
    return [_parse_value(name, t, kind, option) for t in text.split(",")]


def _random_bounds(exp: experiments.Experiment, name: str, text: str) -> list:
    """``[low, high]`` of ``--random NAME=LOW:HIGH``."""
    bounds = text.split(":")
    if len(bounds) != 2:
        raise ValueError(f"--random {name}: expected LOW:HIGH, got {text!r:.60}")
    return [_parse_value(name, b, exp.parameters[name][0], "--random") for b in bounds]


def _sweep(exp: experiments.Experiment, rest: list[str]) -> int:
    from .sweeps import RESERVED, Sweep, SweepSpec

    parser = _sweep_parser(exp)
    args = parser.parse_args(_join_negative_values(rest, parser))
    valid = [k for k in exp.parameters if k not in RESERVED]
    try:
        grid = _parameters("--param", args.param, valid,
                           lambda name, text: _sweep_values(exp, name, text, "--param"))
        random = _parameters("--random", args.random, valid, lambda name, text: _random_bounds(exp, name, text))
        fixed = _parameters("--set", args.set, valid,
                            lambda name, text: _parse_value(name, text, exp.parameters[name][0]))
        _merge_options(args, ("duration", "backend"), fixed)
        out = experiments.check_output_folder(args.out, "--out")
        spec = SweepSpec.make(exp.name, grid, random=random or None, samples=args.samples, seeds=args.seeds,
                              first_seed=args.first_seed, fixed=fixed)
        sweep = Sweep(spec, out)
        sweep.store.check()  # a folder of another sweep, or a damaged sweep.json, before reading its runs
        plot = sweep.check_plot(args.plot)
        sweep.run(scheduler=args.scheduler, workers=args.workers, retries=args.retries, timeout=args.timeout,
                  progress=False if args.no_progress else None)
        figures = sweep.write_figures(plot)
    except Exception as err:  # noqa: BLE001 - reported as one line (main re-raises it with --debug)
        raise _failure(f"sweep {exp.name}", err) from err
    records = sweep.records()
    failed = [r for r in records if r["status"] != "ok"]
    print(f"{len(records)} runs stored in {sweep.out} ({len(failed)} failed); figures: {', '.join(figures) or 'none'}")
    for r in failed[:5]:
        print(f"  failed: {r['params']} seed {r['seed']}: {r['error']}")
    return EXIT_FAILED if failed else 0


# ---- neurosim -------------------------------------------------------------------------------
def _top_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosim", description="neurosim: spiking network simulation",
                     usage="neurosim {list,run,sweep} ...",
                     epilog="errors are one line (exit 2: refused, 1: failed while running); --debug shows the "
                            "traceback")
    parser.add_argument("command", choices=("list", "run", "sweep"), help="list experiments, run one, or sweep one")
    return parser


def _main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command == "list":
        if rest:
            raise CommandError(f"list takes no arguments, got {' '.join(rest)!r:.60}")
        for name in experiments.names():
            doc = experiments.get(name).doc.splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
        return 0
    if command not in ("run", "sweep"):
        raise CommandError(f"unknown command {command!r:.60} (choose from list, run, sweep)")
    if not rest or rest[0].startswith("-"):
        raise CommandError(f"{command} needs an experiment name; available: {', '.join(experiments.names())}")
    try:
        exp = experiments.get(rest[0])
    except KeyError as err:
        raise CommandError(str(err.args[0])) from None
    return _sweep(exp, rest[1:]) if command == "sweep" else _run(exp, rest[1:])


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"neurosim: warning: {_one_line(message)}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    """Run the command ``argv`` (default: ``sys.argv[1:]``); returns the exit status (module
    docstring). With ``--debug`` an error is raised with its traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    while argv[:1] == ["--debug"]:  # `neurosim --debug run ...`; the subcommands take it themselves
        argv.pop(0)
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _print_warning
        try:
            return _main(argv)
        except SystemExit as done:  # --help
            return done.code if isinstance(done.code, int) else 0
        except KeyboardInterrupt:
            if debug:
                raise
            print("neurosim: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as err:  # noqa: BLE001 - the one place errors become one line
            if debug:
                raise
            failure = _failure(argv[0], err)
            print(f"neurosim: error: {_one_line(failure)}", file=sys.stderr, flush=True)
            return failure.status


if __name__ == "__main__":
    sys.exit(main())
