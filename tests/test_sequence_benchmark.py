"""The `sequence-benchmark` experiment: task generators, the parameter budget, a short CLI run."""

import json

import numpy as np
import pytest

from neurosim import cli
from neurosim.examples import sequence_benchmark as sb

PNG = b"\x89PNG\r\n\x1a\n"


def test_delayed_recall_places_cue_delay_and_go():
    x, labels, delays = sb.delayed_recall(50, n_symbols=3, max_delay=40, cue_steps=4, noise=0.0, seed=1)
    assert x.shape == (4 + 40 + 1, 50, 4) and x.dtype == np.float32
    assert labels.min() >= 0 and labels.max() < 3 and delays.min() >= 1 and delays.max() <= 40
    for k in range(50):
        on = np.nonzero(x[:-1, k, :3])
        # the cue is the label's channel for exactly cue_steps steps, then `delay` silent steps
        assert set(on[1]) == {labels[k]} and len(on[0]) == 4
        assert on[0].max() + 1 + delays[k] == x.shape[0] - 1
        assert x[-1, k, 3] == 1.0 and not x[-1, k, :3].any() and not x[:-1, k, 3].any()
    noisy, _, _ = sb.delayed_recall(5, noise=0.1, seed=1)
    assert noisy[:-1, :, :-1].std() > 0.05  # noise on the cue channels, not on the go channel
    # same seed, same data
    np.testing.assert_array_equal(sb.delayed_recall(10, seed=3)[0], sb.delayed_recall(10, seed=3)[0])


def test_sequential_digits_reads_pixels_in_order():
    from sklearn.datasets import load_digits

    task = sb.sequential_digits(n_samples=300, seed=2)
    assert task.steps == 64 and task.d_in == 1 and task.n_classes == 10
    assert len(task.y_train) == 200 and len(task.y_test) == 100
    assert 0.0 <= task.x_train.min() and task.x_train.max() <= 1.0
    X, y = load_digits(return_X_y=True)
    # every training sequence is one image's pixels, row by row
    first = task.x_train[:, 0, 0] * 16.0
    match = np.nonzero((np.abs(X - first) < 1e-4).all(1))[0]
    assert len(match) >= 1 and task.y_train[0] in y[match]


def test_readout_steps_end_at_the_last_step():
    assert sb.readout_steps(64, 4).tolist() == [15, 31, 47, 63]
    assert sb.readout_steps(506, 1).tolist() == [505]


def test_width_for_budget_picks_the_closest_count():
    assert sb.width_for_budget(lambda w: w * w, 50) == (7, 49)
    assert sb.width_for_budget(lambda w: 10 * w, 55) == (5, 50)  # a tie goes to the smaller width
    assert sb.width_for_budget(lambda w: 10 * w, 10**9, high=64) == (64, 640)
    with pytest.raises(ValueError, match="high"):
        sb.width_for_budget(lambda w: w, 5, low=10, high=3)


@pytest.mark.parametrize("kind", sb.TRAINABLE)
def test_trainable_models_meet_the_budget_and_map_sequences_to_logits(kind):
    import torch

    width, params = sb.budget_width(kind, 5, 4, 3000)
    torch.manual_seed(0)
    model = sb.build_model(kind, 5, 4, width)
    assert sb.n_trainable(model) == params and abs(params - 3000) < 0.2 * 3000
    assert model(torch.randn(12, 3, 5)).shape == (3, 4)


@pytest.mark.slow
def test_short_run_writes_table_summary_and_plot(tmp_path, capsys):
    out = tmp_path / "seq"
    assert cli.main(["run", "sequence-benchmark", "--out", str(out), "--no-progress",
                     "--set", "n_digits=200", "--set", "n_recall=90", "--set", "max_delay=30",
                     "--set", "epochs=2", "--set", "budget=2000", "--set", "reservoir_samples=20",
                     "--set", "reservoir_size=45"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["tasks"] == ["digits", "recall"]
    assert len(summary["table"]) == 2 * len(sb.MODELS)
    assert summary["task_info"]["recall"]["steps"] == 5 + 30 + 1
    for row in summary["table"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["throughput_samples_s"] > 0 and row["params"] > 0
        if row["model"] in sb.TRAINABLE:
            assert abs(row["params"] - 2000) < 0.25 * 2000
        else:
            assert row["n_train"] == 20
            # ridge weights + intercepts on the states at 4 (digits) or 1 (recall) readout times
            reads, classes = (4, 10) if row["task"] == "digits" else (1, 4)
            assert row["params"] == reads * 45 * classes + classes
    table = (out / "table.md").read_text()
    assert table.count("\n") == 2 + 2 * len(sb.MODELS) and "| recall | selective-ssm |" in table
    assert (out / "sequence_benchmark.png").read_bytes()[:8] == PNG
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_subset_of_models_and_tasks(tmp_path):
    metrics = sb.sequence_benchmark(out=None, progress=False, tasks="recall", models="gru,diagonal-ssm",
                                    n_recall=60, max_delay=20, epochs=3, budget=1500)
    assert [r["model"] for r in metrics["table"]] == ["gru", "diagonal-ssm"]
    row = metrics["results"]["recall"]["gru"]
    assert row["accuracy_short_delays"] is not None and len(row["loss_per_epoch"]) == 3


@pytest.mark.parametrize("kw, match", [
    (dict(tasks="digits,speech"), "tasks: unknown name 'speech'"),
    (dict(models=""), "models must name at least one"),
    (dict(models="gru,transformer"), "models: unknown name 'transformer'"),
    (dict(budget=10), "budget"),
    (dict(epochs=0), "epochs"),
    (dict(lr=-1.0), "lr"),
    (dict(max_delay=0), "max_delay"),
    (dict(n_recall=3), "n_recall"),
    (dict(backend="triton"), "backend must be 'numba' or 'numpy'"),
])
def test_bad_parameters_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        sb.sequence_benchmark(out=None, progress=False, **kw)
