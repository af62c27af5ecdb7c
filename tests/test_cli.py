"""The command line and the experiment registry."""

import json
import subprocess
import sys

import pytest

from neurosim import cli, experiments


def test_list_names_the_registered_experiments(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "izhikevich-2003" in out and "cuba" in out


def test_registry_exposes_typed_parameters():
    params = experiments.get("cuba").parameters
    assert params["we"] == (float, pytest.approx(1.62)) and params["n"] == (int, 4000)
    assert params["duration"][0] is float
    with pytest.raises(KeyError, match="no experiment named"):
        experiments.get("nope")
    with pytest.raises(TypeError, match="has no parameter"):
        experiments.run("cuba", bogus=1)


def test_run_writes_raster_summary_and_result(tmp_path, capsys):
    out = tmp_path / "izh"
    assert cli.main(["run", "izhikevich-2003", "--out", str(out), "--duration", "200", "--seed", "3",
                     "--no-progress", "--set", "n_exc=160", "--set", "n_inh=40"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sizes"] == {"exc": 160, "inh": 40} and summary["duration_ms"] == 200.0
    assert summary["spike_count"] > 0 and set(summary["rates_hz"]) == {"exc", "inh"}
    assert summary["wall_time_s"] > 0 and summary["seed"] == 3 and printed["spike_count"] == summary["spike_count"]
    png = (out / "raster.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert (out / "result.npz").exists()


def test_same_seed_same_summary_backends(tmp_path):
    a = experiments.run("cuba", duration=50.0, seed=1, backend="numpy", out=None, progress=False, n=400)
    b = experiments.run("cuba", duration=50.0, seed=1, backend="numba", out=None, progress=False, n=400)
    assert a["spike_count"] == b["spike_count"] and a["rates_hz"] == b["rates_hz"]


def test_bad_cli_input_is_reported():
    for args in (["run"], ["run", "nope"], ["run", "cuba", "--set", "zz=1"], ["run", "cuba", "--set", "n=abc"],
                 ["frobnicate"]):
        proc = subprocess.run([sys.executable, "-m", "neurosim", *args], capture_output=True, text=True)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("neurosim: error: ") and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_experiment_help_lists_its_parameters():
    proc = subprocess.run([sys.executable, "-m", "neurosim", "run", "cuba", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "we (float" in proc.stdout and "--duration" in proc.stdout
