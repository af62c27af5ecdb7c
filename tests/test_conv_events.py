"""The conv-events experiment (issue 25): a spiking CNN on event digits, trained, exported to
NIR and re-imported with the same outputs."""

import json
import os

import pytest

pytest.importorskip("torch")
nir = pytest.importorskip("nir")
pytest.importorskip("sklearn")

import neurosim.experiments as ex


def test_tiny_run_writes_figures_and_nir_and_reimports_equal(tmp_path):
    out = tmp_path / "conv"
    m = ex.run("conv-events", n_samples=40, epochs=1, channels1=2, channels2=4, out=str(out), progress=False)
    for key in ("test_accuracy", "train_accuracy", "train_seconds", "wall_seconds", "n_parameters", "nir",
                "history", "n_train", "n_test"):
        assert key in m
    assert m["n_train"] + m["n_test"] == 40 and len(m["history"]["test_accuracy"]) == 1
    assert m["nir"]["outputs_equal"] and m["nir"]["max_abs_diff"] == 0.0
    assert m["nir"]["reimported_test_accuracy"] == m["test_accuracy"]
    assert m["nir"]["nodes"] == ["Input", "Conv2d", "IF", "SumPool2d", "Conv2d", "LIF", "SumPool2d", "Flatten",
                                 "Affine", "LI", "Output"]
    # parameters: conv1 2*2*9+2, conv2 4*2*9+4, linear 4*6*6*10+10
    assert m["n_parameters"] == 38 + 76 + 1450
    for name in ("learning_curve.png", "inputs_kernels.png", "conv_events.nir", "summary.json"):
        assert os.path.getsize(out / name) > 0
    assert isinstance(nir.read(str(out / "conv_events.nir")), nir.NIRGraph)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] == m["test_accuracy"] and "nir" in summary["files"]


def test_without_out_nothing_is_written_and_the_round_trip_still_holds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = ex.run("conv-events", n_samples=40, epochs=1, channels1=2, channels2=2, pool=2, progress=False)
    assert m["input_shape"] == [2, 12, 12] and m["nir"]["max_abs_diff"] == 0.0
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bad", [{"n_samples": 5}, {"n_samples": 30}, {"beta": 1.5}, {"test_fraction": 1.0}, {"bin_ms": 0.0},
                                 {"pool": 8, "n_samples": 40}])
def test_bad_parameters_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="pool" if "pool" in bad else next(iter(bad))):
        ex.run("conv-events", **bad, progress=False)


@pytest.mark.slow
def test_learns_well_above_chance():
    m = ex.run("conv-events", n_samples=400, epochs=3, progress=False)
    assert m["test_accuracy"] > 0.5  # chance is 0.1
    assert m["nir"]["reimported_test_accuracy"] == m["test_accuracy"]
