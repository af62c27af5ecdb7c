"""Start-up cost ("time to first spike", issue 22 point 5): what a process imports, and
``neurosim run NAME --no-plot``.

The import checks run in a fresh interpreter (a subprocess): this test session has long
since imported matplotlib, torch, ... for other tests. Timing is measured by
``benchmarks/bench_startup.py``, never asserted here.
"""

import json
import subprocess
import sys

import pytest

from neurosim import cli, experiments

#: imported by nothing at ``import neurosim``: each costs 0.1-2 s, and is loaded where it is used
HEAVY = ("matplotlib", "torch", "scipy", "tqdm", "dask", "distributed", "brian2", "triton", "pandas", "sklearn")
#: not imported by building and running a network on the numba backend either (scipy and tqdm
#: are: numba loads scipy's BLAS with its first compiled function, and the run loop shows progress)
HEAVY_AFTER_RUN = ("matplotlib", "torch", "dask", "distributed", "brian2", "triton", "pandas", "sklearn")


def _modules_after(code: str) -> set[str]:
    """Top-level names of the modules loaded by a fresh interpreter after running ``code``."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_import_neurosim_loads_no_heavy_dependency():
    loaded = _modules_after("import neurosim")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_building_and_running_a_network_loads_neither_matplotlib_nor_torch():
    loaded = _modules_after(
        "import neurosim as ns\n"
        "from neurosim.examples.cuba import build\n"
        "result = build(n=400).run(20.0, backend='numba', progress=False)\n"
        "assert result.summary()['spike_count'] >= 0\n")
    assert not loaded & set(HEAVY_AFTER_RUN), sorted(loaded & set(HEAVY_AFTER_RUN))


def test_cli_run_no_plot_loads_no_plotting_and_only_its_own_example(tmp_path):
    loaded = _modules_after(
        "import sys\n"
        "from neurosim import cli\n"
        f"assert cli.main(['run', 'cuba', '--no-plot', '--no-progress', '--duration', '20', '--set', 'n=400',"
        f" '--out', {str(tmp_path / 'c')!r}]) == 0\n"
        # finding "cuba" imports its own module, not every example (polychronization pulls in scipy)
        "assert 'neurosim.examples.polychronization' not in sys.modules\n"
        "assert 'neurosim.examples.cuba' in sys.modules\n")
    assert not loaded & set(HEAVY_AFTER_RUN), sorted(loaded & set(HEAVY_AFTER_RUN))
    assert not (tmp_path / "c" / "raster.png").exists() and (tmp_path / "c" / "summary.json").exists()


def test_run_no_plot_writes_metrics_and_data_but_no_figure(tmp_path, capsys):
    out = tmp_path / "cuba"
    assert cli.main(["run", "cuba", "--no-plot", "--no-progress", "--duration", "50", "--set", "n=400",
                     "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert printed["spike_count"] == summary["spike_count"] > 0 and "rate_hz" in summary
    assert sorted(p.name for p in out.iterdir()) == ["result.npz", "summary.json"]
    assert set(summary["files"]) == {"summary", "result"}  # only what was written is listed
    assert experiments.figures_enabled()  # the switch ends with the command


def test_no_figures_covers_experiments_with_their_own_figures(tmp_path):
    # adex-patterns draws with its own function (not neurosim.plot.raster): the figure's path
    # is None inside no_figures, so nothing is written and the summary lists no figure.
    with experiments.no_figures():
        assert not experiments.figures_enabled()
        metrics = experiments.run("adex-patterns", duration=20.0, out=str(tmp_path), progress=False,
                                  backend="numpy")
    assert experiments.figures_enabled()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert not list(tmp_path.glob("*.png")) and "patterns" not in summary["files"]
    assert summary["spike_count"] == metrics["spike_count"]


def test_no_figures_is_reset_after_an_error():
    with pytest.raises(RuntimeError):
        with experiments.no_figures():
            raise RuntimeError("boom")
    assert experiments.figures_enabled()


def test_run_help_documents_no_plot():
    parser = cli._run_parser(experiments.get("cuba"))
    assert "--no-plot" in parser.format_help()


def test_get_finds_every_registered_experiment_by_its_module_or_the_full_scan(monkeypatch):
    # The fast path (the example module named after the experiment) finds each example...
    for name in experiments.names():
        assert experiments.get(name).name == name
    # ... an experiment registered under another name is still found, and an unknown name still refused
    monkeypatch.setitem(experiments._REGISTRY, "my-own", experiments.Experiment("my-own", lambda **k: {}, ""))
    assert experiments.get("my-own").name == "my-own"
    for bad in ("nope", "../cuba", "a.b", ""):
        with pytest.raises(KeyError, match="no experiment named"):
            experiments.get(bad)
