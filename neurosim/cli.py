"""The ``neurosim`` command line.

    neurosim list                                   # registered experiments
    neurosim run izhikevich-2003 --out results/izh  # raster.png, summary.json, result.npz
    neurosim run cuba --duration 500 --backend numpy --set we=2.0
    neurosim run cuba --help                        # the experiment's own parameters
    neurosim sweep cuba --param we=0.5:3.0:6 --param wi=-20:-2:6 --seeds 3 --out sweeps/cuba
    neurosim sweep cuba --help                      # sweep options and the experiment's parameters
"""

from __future__ import annotations

import argparse
import json
import sys

from . import experiments


def _parse_value(name: str, text: str, kind, option: str = "--set"):
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{option} {name}: expected true/false, got {text!r}")
    if kind is int:  # "2.0" is 2, "2.5" is an error
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not value.is_integer():
            raise ValueError(f"{option} {name}: cannot read {text!r} as int")
        return int(value)
    try:
        return kind(text) if kind in (float, str) else json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(f"{option} {name}: cannot read {text!r} as {getattr(kind, '__name__', kind)}") from None


def _parameter_lines(exp: experiments.Experiment, skip=experiments.COMMON) -> list[str]:
    return [f"  {k} ({getattr(t, '__name__', t)}, default {d!r})" for k, (t, d) in exp.parameters.items()
            if k not in skip]


def _run_parser(exp: experiments.Experiment) -> argparse.ArgumentParser:
    params = exp.parameters
    extra = _parameter_lines(exp)
    parser = argparse.ArgumentParser(
        prog=f"neurosim run {exp.name}", description=exp.doc,
        epilog="experiment parameters for --set:\n" + ("\n".join(extra) if extra else "  (none)"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=f"results/{exp.name}", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=params["seed"][1], help="random seed (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=params["duration"][1],
                        help="biological time in ms (default: %(default)s)")
    # Each experiment checks its own backend names: simulations take numba/numpy, neurosim.nn
    # training takes auto/numba/triton/torch/reference.
    parser.add_argument("--backend", default=params["backend"][1],
                        help="backend (simulations: numba, numpy; neurosim.nn training: auto, numba, triton, "
                             "torch, reference; default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="set an experiment parameter (repeatable)")
    return parser


def _sweep_parser(exp: experiments.Experiment) -> argparse.ArgumentParser:
    from .sweeps import RESERVED

    parser = argparse.ArgumentParser(
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
    parser.add_argument("--samples", type=int, default=None, help="number of random-search points")
    parser.add_argument("--seeds", type=int, default=1, help="replicates per point (default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=1, help="seed of the first replicate (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="parameter fixed for every point (repeatable)")
    parser.add_argument("--out", default=f"sweeps/{exp.name}", help="results folder (default: %(default)s)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="a running Dask scheduler (tcp://host:8786); default: $DASK_SCHEDULER_ADDRESS, "
                             "else a local cluster")
    parser.add_argument("--workers", type=int, default=None, help="local cluster size (default: one per core)")
    parser.add_argument("--retries", type=int, default=0, help="re-run failed points up to N more times")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the scheduler (default: %(default)s)")
    parser.add_argument("--plot", action="append", default=None, metavar="METRIC",
                        help="metric to plot (repeatable; default: the experiment's headline metrics)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _sweep_values(exp: experiments.Experiment, name: str, text: str, option: str) -> list:
    """Values of ``--param NAME=TEXT``: START:STOP:NUM, a comma list, or one value."""
    from .sweeps import linspace

    kind = exp.parameters[name][0]
    parts = text.split(":")
    if len(parts) == 3 and kind in (int, float):
        start, stop = (_parse_value(name, t, float, option) for t in parts[:2])
        num = _parse_value(name, parts[2], int, option)
        if num < 1:
            raise ValueError(f"{option} {name}={text}: NUM must be >= 1")
        return linspace(start, stop, num)
    return [_parse_value(name, t, kind, option) for t in text.split(",")]


def _sweep(exp: experiments.Experiment, rest: list[str], top: argparse.ArgumentParser) -> int:
    from .sweeps import RESERVED, SweepError, sweep

    args = _sweep_parser(exp).parse_args(rest)
    grid, random, fixed = {}, {}, {}
    valid = [k for k in exp.parameters if k not in RESERVED]
    for option, items in (("--param", args.param), ("--random", args.random), ("--set", args.set)):
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or name not in valid:
                top.error(f"{option} {item!r}: expected NAME=VALUE with NAME among {valid}")
            try:
                if option == "--param":
                    grid[name] = _sweep_values(exp, name, value, option)
                elif option == "--random":
                    bounds = value.split(":")
                    if len(bounds) != 2:
                        raise ValueError(f"--random {name}: expected LOW:HIGH, got {value!r}")
                    random[name] = [_parse_value(name, b, exp.parameters[name][0], option) for b in bounds]
                else:
                    fixed[name] = _parse_value(name, value, exp.parameters[name][0], option)
            except ValueError as err:
                top.error(str(err))
    try:
        result = sweep(exp.name, grid, random=random or None, samples=args.samples, seeds=args.seeds,
                       first_seed=args.first_seed, fixed=fixed, out=args.out, scheduler=args.scheduler,
                       workers=args.workers, retries=args.retries, timeout=args.timeout,
                       progress=False if args.no_progress else None, figures=False)
        figures = result.write_figures(args.plot)
    except SweepError as err:
        top.error(f"sweep {exp.name}: {err}")
    records = result.records()
    failed = [r for r in records if r["status"] != "ok"]
    print(f"{len(records)} runs stored in {result.out} ({len(failed)} failed); figures: {', '.join(figures) or 'none'}")
    for r in failed[:5]:
        print(f"  failed: {r['params']} seed {r['seed']}: {r['error']}")
    return 1 if failed else 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(prog="neurosim", description="neurosim: spiking network simulation",
                                  usage="neurosim {list,run,sweep} ...")
    top.add_argument("command", choices=("list", "run", "sweep"), help="list experiments, run one, or sweep one")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command == "list":
        for name in experiments.names():
            doc = experiments.get(name).doc.splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
        return 0
    if command not in ("run", "sweep"):
        top.error(f"unknown command {command!r} (choose from list, run, sweep)")
    if not rest or rest[0].startswith("-"):
        top.error(f"{command} needs an experiment name; available: {', '.join(experiments.names())}")
    try:
        exp = experiments.get(rest[0])
    except KeyError as err:
        top.error(str(err.args[0]))
    if command == "sweep":
        return _sweep(exp, rest[1:], top)
    args = _run_parser(exp).parse_args(rest[1:])
    params = {"out": args.out, "seed": args.seed, "duration": args.duration, "backend": args.backend,
              "progress": False if args.no_progress else True}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or name not in exp.parameters or name in experiments.COMMON:
            choices = [k for k in exp.parameters if k not in experiments.COMMON]
            top.error(f"--set {item!r}: expected NAME=VALUE with NAME among {choices}")
        try:
            params[name] = _parse_value(name, value, exp.parameters[name][0])
        except ValueError as err:
            top.error(str(err))
    try:
        metrics = exp(**params)
    except (ValueError, TypeError) as err:  # bad parameter values: the message says which and why
        top.error(f"run {exp.name}: {err}")
    print(json.dumps(metrics, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
