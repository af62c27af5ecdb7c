"""mkdocs hook: the experiment gallery, generated at build time.

One page per registered experiment (``neurosim.experiments.names()``): its docstring, its
parameters and its command line. The experiments listed in ``REDUCED`` are run during the
build at the reduced settings given there, and the figures they write become part of the
page (and of the built site); a failing run fails the build. The others are listed as
"figures not generated in the docs build yet".

Wired in through ``hooks:`` in mkdocs.yml; nothing here is a page of the site
(``docs/_hooks/`` is in ``exclude_docs``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

# Experiment -> reduced settings used in the docs build (each runs in a few seconds on 2 cores
# once its kernels are compiled). Experiments not here get no figures in the docs yet.
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
}

GALLERY = "gallery"
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
            args.append(f"--set {key}={value}")
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


def _page(name: str, figures: list[str] | None, seconds: float | None) -> str:
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
    lines += ["", "## Figures", ""]
    if figures is None:
        lines.append("Figures not generated in the docs build yet: run the command above to draw them.")
    else:
        lines += [(f"Drawn during the docs build at reduced scale ({seconds:.1f} s here; the figures of the "
                   "full-scale run above differ):"), "", "```bash",
                  _cli(name, REDUCED[name]), "```", ""]
        if not figures:
            lines.append("(this run wrote no figures)")
        for fig in figures:
            lines += [f"![{name}: {fig}]({name}/{fig})", ""]
    return "\n".join(lines) + "\n"


def _index(names: list[str]) -> str:
    import neurosim.experiments as ex

    lines = ["# Gallery", "", ("Every registered experiment (`neurosim list`), one page each: what it does, "
                               "its parameters and its command line. The figures of the experiments marked "
                               "*figures* are drawn by running them at reduced scale while the site is built."), "",
             "| experiment | | summary |", "|---|---|---|"]
    for n in names:
        first = ex.get(n).doc.strip().splitlines()[0] if ex.get(n).doc.strip() else ""
        mark = "figures" if n in REDUCED else ""
        lines.append(f"| [{n}]({n}.md) | {mark} | {first.replace('|', '/')} |")
    lines += ["", "Not drawn in the docs build yet (they take minutes or train models): "
              + ", ".join(f"[{n}]({n}.md)" for n in names if n not in REDUCED) + "."]
    return "\n".join(lines) + "\n"


def on_config(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
    names = _names()
    unknown = set(REDUCED) - set(names)
    if unknown:
        raise ValueError(f"docs gallery: REDUCED names unregistered experiments {sorted(unknown)}")
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
        figures = seconds = None
        if name in REDUCED:
            out = os.path.join(tmp, name)
            shutil.rmtree(out, ignore_errors=True)
            figures, seconds = _run_reduced(name, out)
            for fig in figures:
                files.append(File.generated(config, f"{GALLERY}/{name}/{fig}", abs_src_path=os.path.join(out, fig)))
        files.append(File.generated(config, f"{GALLERY}/{name}.md", content=_page(name, figures, seconds)))
    return files


def on_shutdown():
    tmp = _state.pop("tmp", None)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
