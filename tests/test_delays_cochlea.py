"""The `delays-cochlea` experiment: data, models at one parameter budget, the sigma schedule, short runs."""

import json

import numpy as np
import pytest
from neurosim.examples import delays_cochlea as dc

from neurosim import cli

PNG = b"\x89PNG\r\n\x1a\n"
SETTINGS = {"hidden_layers": 2, "max_delay": 6, "sigma": 3.0, "beta": 0.6, "beta_readout": 0.9, "backend": "auto"}


def test_cochlea_task_bins_pads_and_splits():
    task = dc.cochlea_task(40, steps=20, bin_ms=15.0, pad=6, test_fraction=0.25, seed=3)
    assert task.x_train.shape == (26, 30, 64) and task.x_test.shape == (26, 10, 64)
    assert task.x_train.dtype == np.float32 and task.n_classes == 10
    assert sorted(task.y_test.tolist()) == list(range(10))          # stratified: one word of each class
    assert not task.x_train[20:].any() and not task.x_test[20:].any()  # the appended empty bins
    assert task.x_train[:20].min() >= 0 and task.x_train[:20].max() > 1  # log1p of counts
    again = dc.cochlea_task(40, steps=20, bin_ms=15.0, pad=6, test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(task.x_train, again.x_train)


@pytest.mark.parametrize("kind", dc.MODELS)
def test_models_meet_the_budget_and_map_sequences_to_logits(kind):
    import torch

    settings = {"backend": "auto"} if kind == "elm" else SETTINGS
    width, params = dc.budget_width(kind, 64, 10, 1500, **settings)
    torch.manual_seed(0)
    model = dc.build_model(kind, 64, 10, width, **settings)
    assert dc.n_trainable(model) == params and abs(params - 1500) < 0.1 * 1500
    assert model(torch.rand(12, 3, 64)).shape == (3, 10)


def test_delays_cost_parameters_so_the_delay_free_networks_are_wider():
    import torch

    widths = {k: dc.budget_width(k, 64, 10, 3000, **SETTINGS) for k in ("delays", "fixed-delays", "no-delays")}
    # a learnt delay per synapse doubles the synapses' parameters; fixed delays are not trained
    assert widths["fixed-delays"] == widths["no-delays"]
    assert 1.3 < widths["no-delays"][0] / widths["delays"][0] < 2.0
    model = dc.build_model("fixed-delays", 64, 10, 8, **SETTINGS)
    layers = model.delay_layers()
    assert len(layers) == 3 and all(not layer.delay.requires_grad and layer.sigma == 0 for layer in layers)
    learnt = dc.build_model("delays", 64, 10, 8, **SETTINGS)
    assert all(layer.delay.requires_grad and layer.sigma == 3.0 for layer in learnt.delay_layers())
    assert dc.n_trainable(learnt) - dc.n_trainable(model) == sum(layer.delay.numel() for layer in layers)
    assert dc.build_model("no-delays", 64, 10, 8, **SETTINGS).delay_layers() == []
    with torch.no_grad():  # max_delay 6 needs at least 7 steps
        assert model(torch.rand(7, 2, 64)).shape == (2, 10)


def test_sigma_falls_linearly_to_zero_and_stays_there():
    sig = [dc.sigma_at(k, sigma_init=4.0, anneal_steps=8) for k in range(12)]
    assert sig[0] == 4.0 and sig[4] == 2.0 and sig[7] == 0.5 and sig[8:] == [0.0] * 4
    assert dc.sigma_at(0, sigma_init=4.0, anneal_steps=0) == 0.0
    # below SIGMA_MIN straight to 0: narrower windows can hold no tap (DelayedLinear's kernel is NaN then)
    assert 4.0 * (1 - 99 / 100) < dc.SIGMA_MIN and dc.sigma_at(99, sigma_init=4.0, anneal_steps=100) == 0.0
    assert dc.sigma_at(0, sigma_init=0.2, anneal_steps=100) == 0.0


def test_short_run_writes_table_summary_and_figure(tmp_path, capsys):
    out = tmp_path / "dc"
    assert cli.main(["run", "delays-cochlea", "--out", str(out), "--no-progress", "--duration", "200",
                     "--set", "seeds=2", "--set", "n_samples=60", "--set", "epochs=3", "--set", "final_epochs=1",
                     "--set", "budget=600", "--set", "max_delay=5", "--set", "bin_ms=20"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert printed["results"] == summary["results"] and summary["complete"]
    assert summary["models"] == list(dc.MODELS) and summary["chance"] == 0.1
    assert summary["task"]["steps"] == 10 + 5 and summary["task"]["n_test"] == 15
    assert summary["settings"]["sigma_init"] == 2.5 and summary["settings"]["duration_ms"] == 200.0
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    for m, row in summary["results"].items():
        assert abs(row["params"] - 600) < 0.15 * 600 and row["params"] == summary["params"][m]
        assert len(row["accuracy"]["per_seed"]) == 2 and 0 <= row["accuracy"]["mean"] <= 1
        assert row["accuracy"]["sd"] == pytest.approx(np.std(row["accuracy"]["per_seed"], ddof=1))
    for run in summary["runs"]:
        assert run["delays"]["sigma_per_epoch"][-1] == 0.0  # tested with integer delays
        assert len(run["delays"]["test_accuracy_per_epoch"]) == 3 and len(run["delays"]["delays"]) == 3
        for layer in run["delays"]["delays"]:
            assert 0 <= layer["mean"] <= 5
    # the gain is the paired difference per seed
    per_seed = [r["delays"]["accuracy"] - r["no-delays"]["accuracy"] for r in summary["runs"]]
    assert summary["gain_over_no_delays"]["delays"]["per_seed"] == pytest.approx(per_seed)
    assert summary["gain_mean"] == pytest.approx(np.mean(per_seed))
    assert summary["gain_sd"] == pytest.approx(np.std(per_seed, ddof=1))
    assert summary["accuracy_elm_mean"] == summary["results"]["elm"]["accuracy"]["mean"]
    table = (out / "table.md").read_text()
    assert table.count("| delays |") == 1 and "| elm |" in table and "chance: 0.10" in table
    assert (out / "delays_cochlea.png").read_bytes()[:8] == PNG
    assert set(summary["files"]) == {"delays_cochlea", "summary", "table"}
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_a_subset_without_no_delays_has_no_gain():
    metrics = dc.delays_cochlea(out=None, progress=False, seeds=1, models="elm", n_samples=40, epochs=1,
                                final_epochs=0, budget=400, duration=100.0, max_delay=3)
    assert list(metrics["results"]) == ["elm"] and metrics["gain_mean"] is None
    assert metrics["accuracy_delays_mean"] is None and metrics["gain_over_no_delays"] == {}


def test_delays_and_no_delays_learn_the_words():
    # 150 training words, 25 epochs: both networks far above chance (0.1); a broken training
    # (no gradient to the weights, delays that scramble the input, a readout of the wrong sign)
    # stays near chance. (sigma_init 1: from the default max_delay / 2 the delays network
    # needs more steps than this short run gives it.)
    metrics = dc.delays_cochlea(out=None, progress=False, seeds=1, models="delays,no-delays", n_samples=200,
                                epochs=25, final_epochs=2, budget=1500, duration=300.0, max_delay=8, sigma_init=1.0)
    for m in ("delays", "no-delays"):
        assert metrics["results"][m]["accuracy"]["mean"] > 0.5, metrics["results"][m]
        assert metrics["results"][m]["train_accuracy"]["mean"] > 0.5
    rates = metrics["runs"][0]["delays"]["hidden_rates"]
    assert len(rates) == 2 and all(0.005 < r < 0.9 for r in rates)  # the hidden layers spike, not saturate


@pytest.mark.parametrize("kw, match", [
    ({"models": "delays,dcls"}, "models: unknown name 'dcls'"),
    ({"models": ""}, "models must name at least one"),
    ({"seeds": 0}, "seeds"),
    ({"seed": -1}, "seed"),
    ({"n_samples": 10}, "n_samples"),
    ({"test_fraction": 1.0}, "test_fraction"),
    ({"test_fraction": 0.05, "n_samples": 100}, "test_fraction"),
    ({"bin_ms": 0.0}, "bin_ms"),
    ({"duration": 5.0}, "duration"),
    ({"budget": 50}, "budget"),
    ({"hidden_layers": 0}, "hidden_layers"),
    ({"max_delay": 0}, "max_delay"),
    ({"sigma_init": -1.0}, "sigma_init"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": 5, "final_epochs": 5}, "final_epochs"),
    ({"tau_mem": 0.0}, "tau_mem"),
    ({"tau_readout": -5.0}, "tau_readout"),
    ({"lr": 0.0}, "lr"),
    ({"delay_lr": -0.1}, "delay_lr"),
    ({"batch_size": 0}, "batch_size"),
    ({"threads": 0}, "threads"),
    ({"backend": "triton"}, "backend must be one of auto, numba, reference"),
])
def test_bad_parameters_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        dc.delays_cochlea(out=None, progress=False, **kw)


def test_wrong_types_are_named():
    with pytest.raises(TypeError, match="seeds"):
        dc.delays_cochlea(out=None, progress=False, seeds=2.5)
    with pytest.raises(TypeError, match="models"):
        dc.delays_cochlea(out=None, progress=False, models=["delays"])
