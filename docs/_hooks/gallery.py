"""mkdocs hook: the experiment gallery, generated at build time.

One page per registered experiment (``neurosim.experiments.names()``): its docstring, its
parameters and its command line. The experiments listed in ``REDUCED`` are run during the
build at the reduced settings given there, and the figures they write become part of the
page (and of the built site); a failing run fails the build, and so does a registered
experiment missing from ``REDUCED`` (every experiment's page shows figures drawn by running it).

Wired in through ``hooks:`` in mkdocs.yml; nothing here is a page of the site
(``docs/_hooks/`` is in ``exclude_docs``).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import tempfile
import time

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

# Experiment -> reduced settings used in the docs build (each runs in a few seconds on 2 cores
# once its kernels are compiled). Every registered experiment must be here (checked in on_config).
REDUCED: dict[str, dict] = {
    "cuba": {"duration": 200.0},
    "coba": {"duration": 200.0},
    "izhikevich-2003": {"duration": 300.0},
    "adex-patterns": {},
    "stdp-song": {"duration": 10_000.0},
    "stp": {},
    "polychronization": {"duration": 5_000.0},
    "neo-elephant": {"duration": 500.0},
    # trained or learning ones, cut down to seconds (their figures are not the full runs')
    "digits": {"epochs": 1, "hidden": 64},
    "lsm-events": {"n_samples": 100, "n_pairs": 100},
    "force-sine": {"n": 300, "duration": 1500.0, "settle": 500.0, "train": 500.0},
    "what-when": {"n": 200, "block_trials": 20},
    "lsm-zero-shot": {"n_samples": 100, "epochs": 10, "duration": 100.0},
    "motion-delays": {"seeds": 1, "n_train": 240, "n_test": 120, "epochs": 2},
    "hlop-permuted-digits": {"n_tasks": 3, "epochs": 1, "hidden": 128, "hlop_neurons": "12,40;3,12"},
    "delays-cochlea": {"seeds": 1, "n_samples": 200, "epochs": 3, "final_epochs": 1, "budget": 300},
    "sequence-benchmark": {"budget": 2000, "epochs": 1, "n_digits": 200, "n_recall": 200, "max_delay": 50,
                           "reservoir_size": 100},
    "conv-events": {"n_samples": 200, "epochs": 2},
}

GALLERY = "gallery"
log = logging.getLogger("mkdocs.hooks.gallery")
_state: dict = {}


def _names() -> list[str]:
    import neurosim.experiments as ex

    return ex.names()


def _cli(name: str, settings: dict) -> str:
    args = [f"neurosim run {name}"]
    for key, value in settings.items():
        if key in ("duration", "seed", "backend"):
            args.append(f"--{key} {value:g}" if isinstance(value, float) else f"--{key} {value}")
        else:
            args.append(f"--set {shlex.quote(f'{key}={value}')}")
    args.append(f"--out results/{name}")
    return " ".join(args)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _run_reduced(name: str, out: str) -> tuple[list[str], float]:
    """Run experiment ``name`` at its reduced settings into ``out``; the PNGs it wrote, seconds."""
    import neurosim.experiments as ex

    start = time.perf_counter()
    try:
        ex.run(name, out=out, progress=False, **REDUCED[name])
    except Exception as err:  # a failing gallery run fails the build, naming the experiment
        raise PluginError(f"docs gallery: experiment {name!r} failed at {REDUCED[name]}: "
                          f"{type(err).__name__}: {err}") from err
    figures = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    return figures, time.perf_counter() - start


def _page(name: str, figures: list[str], seconds: float) -> str:
    import neurosim.experiments as ex

    exp = ex.get(name)
    lines = [f"# {name}", "", exp.doc.strip() or "(no description)", "", "## Run it", "", "```bash",
             f"neurosim run {name} --out results/{name}", f"neurosim run {name} --help    # its parameters",
             "```", ""]
    lines += ["## Parameters", "", "| parameter | type | default | on the command line |", "|---|---|---|---|"]
    for pname, (tp, default) in exp.parameters.items():
        flag = {"duration": "`--duration`", "seed": "`--seed`", "backend": "`--backend`", "out": "`--out`",
                "progress": "`--no-progress`"}.get(pname, f"`--set {pname}=...`")
        shown = f"{default:.12g}" if isinstance(default, float) else repr(default)
        lines.append(f"| `{pname}` | `{_type_name(tp)}` | `{shown}` | {flag} |")
    lines += ["", "## Figures", "",
              (f"Drawn during the docs build at reduced scale ({seconds:.1f} s here; the figures of the "
               "full-scale run above differ):"), "", "```bash", _cli(name, REDUCED[name]), "```", ""]
    if not figures:
        lines.append("(this run wrote no figures)")
    for fig in figures:
        lines += [f"![{name}: {fig}]({name}/{fig})", ""]
    return "\n".join(lines) + "\n"


def _index(names: list[str]) -> str:
    import neurosim.experiments as ex

    lines = ["# Gallery", "", ("Every registered experiment (`neurosim list`), one page each: what it does, "
                               "its parameters, its command line, and its figures, drawn by running it at "
                               "reduced scale while the site is built (the full-scale figures differ: the "
                               "trained experiments train for an epoch or a few on a fraction of their data)."),
             "", "| experiment | summary |", "|---|---|"]
    for n in names:
        first = ex.get(n).doc.strip().splitlines()[0] if ex.get(n).doc.strip() else ""
        lines.append(f"| [{n}]({n}.md) | {first.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def on_config(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
    names = _names()
    unknown = set(REDUCED) - set(names)
    if unknown:
        raise PluginError(f"docs gallery: REDUCED names unregistered experiments {sorted(unknown)}")
    missing = [n for n in names if n not in REDUCED]
    if missing:
        raise PluginError(f"docs gallery: no reduced settings for the registered experiments {missing}: "
                          "add them to REDUCED in docs/_hooks/gallery.py (a run of seconds)")
    _state["names"] = names
    entry = {"Gallery": [{"Overview": f"{GALLERY}/index.md"}] + [{n: f"{GALLERY}/{n}.md"} for n in names]}
    nav = config.get("nav")
    if nav is not None:
        nav[:] = [item for item in nav if not (isinstance(item, dict) and "Gallery" in item)]
        nav.append(entry)
    return config


def on_files(files, config):
    names = _state["names"]
    tmp = _state.get("tmp")
    if tmp is None or not os.path.isdir(tmp):
        tmp = _state["tmp"] = tempfile.mkdtemp(prefix="neurosim-docs-gallery-")
    files.append(File.generated(config, f"{GALLERY}/index.md", content=_index(names)))
    for name in names:
        out = os.path.join(tmp, name)
        shutil.rmtree(out, ignore_errors=True)
        figures, seconds = _run_reduced(name, out)
        log.info("docs gallery: %s ran in %.1f s (%d figures)", name, seconds, len(figures))
        for fig in figures:
            files.append(File.generated(config, f"{GALLERY}/{name}/{fig}", abs_src_path=os.path.join(out, fig)))
        files.append(File.generated(config, f"{GALLERY}/{name}.md", content=_page(name, figures, seconds)))
    return files


def on_shutdown():
    tmp = _state.pop("tmp", None)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
