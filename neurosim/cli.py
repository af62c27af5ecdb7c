"""The ``neurosim`` command line.

    neurosim list                                   # registered experiments
    neurosim run izhikevich-2003 --out results/izh  # raster.png, summary.json, result.npz
    neurosim run cuba --duration 500 --backend numpy --set we=2.0
    neurosim run cuba --help                        # the experiment's own parameters
"""

from __future__ import annotations

import argparse
import json
import sys

from . import experiments


def _parse_value(name: str, text: str, kind):
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {name}: expected true/false, got {text!r}")
    try:
        return kind(text) if kind in (int, float, str) else json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(f"--set {name}: cannot read {text!r} as {getattr(kind, '__name__', kind)}") from None


def _run_parser(exp: experiments.Experiment) -> argparse.ArgumentParser:
    params = exp.parameters
    extra = [f"  {k} ({getattr(t, '__name__', t)}, default {d!r})" for k, (t, d) in params.items()
             if k not in experiments.COMMON]
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


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(prog="neurosim", description="neurosim: spiking network simulation",
                                  usage="neurosim {list,run} ...")
    top.add_argument("command", choices=("list", "run"), help="list experiments, or run one")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command == "list":
        for name in experiments.names():
            doc = experiments.get(name).doc.splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
        return 0
    if command != "run":
        top.error(f"unknown command {command!r} (choose from list, run)")
    if not rest or rest[0].startswith("-"):
        top.error(f"run needs an experiment name; available: {', '.join(experiments.names())}")
    try:
        exp = experiments.get(rest[0])
    except KeyError as err:
        top.error(str(err.args[0]))
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
