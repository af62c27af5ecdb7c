"""The LSM examples: `lsm-events` (probe, separation, raster) and `lsm-zero-shot`, short runs."""

import json

import numpy as np
import pytest

from neurosim import cli

PNG = b"\x89PNG\r\n\x1a\n"


def open_pyplot_figures():
    import matplotlib.pyplot as plt

    return plt.get_fignums()


@pytest.mark.slow  # over 4 s
def test_lsm_events_short_run(tmp_path, capsys):
    out = tmp_path / "lsm"
    assert cli.main(["run", "lsm-events", "--out", str(out), "--no-progress", "--set", "n_samples=120",
                     "--set", "n_pairs=60", "--set", "shape=6x3x3", "--duration", "150"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert printed["probe"] == summary["probe"]
    assert summary["liquid_neurons"] == 54 and summary["input_channels"] == 72
    assert summary["readout_times_ms"] == [30.0, 60.0, 90.0, 120.0, 150.0]
    for row in summary["probe"].values():
        # ten classes, chance 0.1: both probes learn something even on 120 samples
        assert 0.3 < row["liquid"]["mean"] <= 1.0 and 0.3 < row["raw"]["mean"] <= 1.0
    # separation: state distance grows with input distance (weakly in this small liquid with
    # dynamic synapses: r = 0.19 here, 0.36 at the full size; the static liquid's was above 0.3)
    assert summary["dynamic_synapses"] is True
    assert summary["separation"]["pearson_r"] > 0.1 and summary["separation"]["pairs"] > 50
    for name in ("probe", "separation", "raster"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG
    # figures are object-oriented: nothing left open in pyplot (a long sweep would leak memory)
    assert open_pyplot_figures() == []


@pytest.mark.slow  # over 4 s
def test_lsm_zero_shot_short_run(tmp_path, capsys):
    out = tmp_path / "zs"
    assert cli.main(["run", "lsm-zero-shot", "--out", str(out), "--no-progress", "--set", "n_samples=150",
                     "--set", "held_out=8,9;0,1", "--set", "epochs=20", "--duration", "150"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["held_out"] == [[8, 9], [0, 1]]
    assert summary["chance_zero_shot"] == 0.5 and summary["chance_seen"] == 0.125
    liquid = summary["summary"]["liquid"]
    assert len(liquid["zero_shot"]["per_split"]) == 2
    # seen classes: the heads match audio to image well above chance (1/8); probes learn
    assert liquid["seen_retrieval"]["mean"] > 0.4 and liquid["probe_image_seen"]["mean"] > 0.5
    assert liquid["probe_audio_seen"]["mean"] > 0.5
    row = summary["table"]["raw"][0]
    assert row["unseen"] == [8, 9] and row["zero_shot"]["n_queries"] == 30  # 15 audio samples per class
    assert (out / "zero_shot.png").read_bytes()[:8] == PNG
    assert open_pyplot_figures() == []


def test_lsm_examples_bad_parameters_are_named():
    from neurosim.examples.lsm_events import parse_shape
    from neurosim.examples.lsm_zero_shot import parse_pairs, split_seen

    assert parse_shape("15x3x3") == (15, 3, 3)
    with pytest.raises(ValueError, match="shape"):
        parse_shape("15x3")
    with pytest.raises(ValueError, match="shape"):
        parse_shape("ax3x3")
    assert parse_pairs("all")[-1] == (8, 9) and parse_pairs("8,9;0,1") == [(8, 9), (0, 1)]
    for bad in ("8", "8,8", "8,10", "a,b"):
        with pytest.raises(ValueError, match="held_out"):
            parse_pairs(bad)
    labels = np.arange(100) % 10
    train, test, unseen = split_seen(labels, (8, 9), 0.3, np.random.default_rng(0))
    assert set(labels[unseen]) == {8, 9} and not set(labels[train]) & {8, 9}
    assert len(test) == 24 and not set(train) & set(test) and len(train) + len(test) + len(unseen) == 100


def test_readout_times():
    from neurosim.examples.lsm_events import readout_times

    np.testing.assert_allclose(readout_times(30.0, 90.0), [30.0, 60.0, 90.0])
    for bad in ((0.0, 90.0), (100.0, 90.0)):
        with pytest.raises(ValueError, match="readout_ms"):
            readout_times(*bad)
