"""The `digits` example: a spiking classifier on scikit-learn's digits that learns."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from neurosim import cli, experiments  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
KEYS = {"test_accuracy", "train_accuracy", "epochs", "hidden", "steps", "training_s", "hidden_rate_per_step",
        "hidden_rate_hz", "hidden_silent_fraction", "wall_time_s", "history", "seed", "backend"}


def _valid_png(path):
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5000, path
    img = mpimg.imread(path)  # decodes the whole image
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05  # not a blank canvas


@pytest.mark.slow
def test_short_run_learns_and_writes_figures(tmp_path, capsys):
    out = tmp_path / "digits"
    # Default backend (fused kernels), few epochs and a small hidden layer: ~93 % after 3 epochs.
    assert cli.main(["run", "digits", "--out", str(out), "--seed", "3", "--no-progress",
                     "--set", "epochs=3", "--set", "hidden=64"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert KEYS <= set(printed) and KEYS <= set(summary)
    assert printed["test_accuracy"] == summary["test_accuracy"]
    assert summary["test_accuracy"] > 0.70  # chance is 0.10; 0.85 to 0.95 over seeds 0-7
    assert summary["epochs"] == 3 and summary["hidden"] == 64 and summary["steps"] == 25 and summary["seed"] == 3
    assert summary["n_train"] + summary["n_test"] == 1797
    h = summary["history"]
    assert len(h["train_loss"]) == len(h["test_accuracy"]) == 3 and h["train_loss"][-1] < h["train_loss"][0]
    assert h["test_accuracy"][-1] == summary["test_accuracy"]
    assert 0.0 < summary["hidden_rate_per_step"] < 1.0
    assert summary["hidden_rate_hz"] == pytest.approx(1000.0 * summary["hidden_rate_per_step"])
    assert summary["training_s"] > 0 and summary["wall_time_s"] >= summary["training_s"]
    for name in ("learning_curve.png", "hidden_raster.png"):
        _valid_png(out / name)
    assert set(summary["files"]) == {"learning_curve", "hidden_raster", "summary"}


def test_registered_with_typed_parameters(capsys):
    assert cli.main(["list"]) == 0
    assert "digits" in capsys.readouterr().out
    params = experiments.get("digits").parameters
    for name, kind in (("seed", int), ("epochs", int), ("hidden", int), ("steps", int), ("lr", float),
                       ("batch_size", int), ("backend", str)):
        assert params[name][0] is kind, name
    assert params["steps"][1] >= 25 and params["backend"][1] == "auto"


def test_same_seed_same_result_and_global_rng_untouched():
    run = dict(out=None, progress=False, epochs=1, hidden=16, steps=5, batch_size=256, backend="torch")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = experiments.run("digits", seed=5, **run)
    after = torch.rand(1)
    b = experiments.run("digits", seed=5, **run)
    assert torch.equal(before, after)  # the experiment seeds its own generators
    assert a["history"] == b["history"] and a["hidden_rate_per_step"] == b["hidden_rate_per_step"]


def test_encodings():
    from neurosim.examples.digits import encode, load_split

    x_tr, x_te, y_tr, y_te = load_split(seed=0)
    assert x_tr.shape == (1437, 64) and x_te.shape == (360, 64) and float(x_tr.max()) == 1.0
    assert torch.bincount(y_te).min() >= 35  # stratified: every class in the test set
    x = x_tr[:200]
    rate = encode(x, 400, torch.Generator().manual_seed(0), "rate")
    assert rate.shape == (400, 200, 64) and set(rate.unique().tolist()) <= {0.0, 1.0}
    assert (rate.mean(0) - x).abs().max() < 0.1  # firing probability = intensity
    assert rate[:, x == 0].sum() == 0
    lat = encode(x, 25, None, "latency")
    assert torch.equal(lat.sum(0), (x > 0).float())  # one spike per non-blank pixel
    first = lat.argmax(0)
    bright, dim = x == 1.0, (x > 0) & (x < 0.5)
    assert (first[bright] == 0).all() and (first[dim] > 12).all()  # brighter is earlier


def test_duration_sets_steps_and_bad_parameters_are_rejected():
    m = experiments.run("digits", duration=6.0, out=None, progress=False, epochs=1, hidden=8, batch_size=512,
                        backend="torch")
    assert m["steps"] == 6
    with pytest.raises(ValueError, match="encoding"):
        experiments.run("digits", out=None, progress=False, encoding="phase")
    with pytest.raises(ValueError, match="epochs"):
        experiments.run("digits", out=None, progress=False, epochs=0)
