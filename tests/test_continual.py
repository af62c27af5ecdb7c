"""The continual-learning harness (accuracy matrix, methods) and the hlop-permuted-digits example."""

import json

import numpy as np
import pytest
import torch

from neurosim import experiments
from neurosim.circuits.continual import ContinualConfig, _Runner, accuracy_metrics, run_continual
from neurosim.circuits.continual_data import permuted_digits, split_digits


def test_accuracy_metrics_on_a_known_matrix():
    R = [[0.9, 0.1, 0.1],
         [0.7, 0.8, 0.1],
         [0.5, 0.6, 0.9]]
    m = accuracy_metrics(R)
    assert m["ACC"] == pytest.approx((0.5 + 0.6 + 0.9) / 3)
    assert m["BWT"] == pytest.approx(((0.5 - 0.9) + (0.6 - 0.8)) / 2)
    assert accuracy_metrics([[0.7]]) == {"ACC": 0.7, "BWT": 0.0}
    with pytest.raises(ValueError, match="square"):
        accuracy_metrics([[0.1, 0.2]])


@pytest.fixture(scope="module")
def small_tasks():
    return permuted_digits(2, seed=0)


@pytest.mark.slow  # over 4 s
def test_finetune_forgets_and_hlop_protects_the_first_task(small_tasks):
    cfg = ContinualConfig(epochs=2, hidden=(128,), hlop_neurons=((30, 60), (8, 30)), seed=0)
    res = run_continual(small_tasks, ("finetune", "hlop", "multitask"), cfg, progress=False)
    R = {m: np.array(r["R"]) for m, r in res.items()}
    for m in R:
        assert R[m].shape == (2, 2) and np.all((R[m] >= 0) & (R[m] <= 1))
        assert R[m][0, 0] > 0.5, (m, R[m])  # the first task is learnt (chance: 0.1)
    # the runs share the seed: identical until the second task
    assert R["finetune"][0, 0] == R["hlop"][0, 0]
    drop = {m: R[m][0, 0] - R[m][1, 0] for m in R}
    assert drop["hlop"] < drop["finetune"] - 0.05, drop
    assert res["hlop"]["BWT"] > res["finetune"]["BWT"]


@pytest.mark.slow  # over 4 s
def test_online_trace_rule_learns_and_hlop_protects(small_tasks):
    """rule="ottt": no backpropagation through time (presynaptic traces); HLOP learns the
    input spikes' subspace through HLOP.record."""
    cfg = ContinualConfig(epochs=3, hidden=(256,), hlop_neurons=((30, 60), (8, 30)), rule="ottt", seed=0)
    res = run_continual(small_tasks, ("finetune", "hlop"), cfg, progress=False)
    R = {m: np.array(r["R"]) for m, r in res.items()}
    assert R["finetune"][0, 0] > 0.5 and R["finetune"][1, 1] > 0.5, R
    drop = {m: R[m][0, 0] - R[m][1, 0] for m in R}
    assert drop["hlop"] < drop["finetune"] - 0.05, drop
    with pytest.raises(ValueError, match="rule"):
        _Runner("finetune", small_tasks, ContinualConfig(rule="eprop"))


def test_ottt_gradient_is_delta_times_trace():
    """One linear layer into the readout: the OTTT weight gradient equals
    sum_t dL_t/dI_t (x) a_t with a_t the presynaptic trace, computed by hand."""
    tasks = split_digits(((0, 1),), seed=0)
    cfg = ContinualConfig(hidden=(), steps=4, beta=0.5, rule="ottt", seed=3)
    runner = _Runner("finetune", tasks, cfg)
    w = runner.model.linears[0].weight
    x, y = torch.as_tensor(tasks[0].x_train[:5]), torch.as_tensor(tasks[0].y_train[:5])
    gen_state = runner.gen.get_state()
    runner.opt.zero_grad()
    runner._ottt_backward(x, y, np.zeros(5, dtype=int))
    got = w.grad.clone()
    runner.gen.set_state(gen_state)
    from neurosim.circuits.continual import rate_code
    s = rate_code(x, 4, runner.gen)
    a, v, expected = torch.zeros_like(s[0]), torch.zeros(5, 10), torch.zeros_like(w)
    for t in range(4):
        a = 0.5 * a + s[t]
        current = (s[t] @ w.T).detach().requires_grad_(True)
        v = 0.5 * v.detach() + current  # the LI readout, state detached between steps
        scores = v.masked_fill(torch.arange(10) >= 2, float("-inf"))
        (delta,) = torch.autograd.grad(torch.nn.functional.cross_entropy(scores, y) / 4, current)
        expected += delta.T @ a
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_ottt_equals_bptt_for_one_step_in_every_layer():
    """With a single time step there is no temporal credit to assign: the online rule's
    gradients must equal BPTT's in every layer (the hidden layer included: the error reaches
    it through the readout weights and the surrogate within the step)."""
    tasks = split_digits(((0, 1),), seed=0)
    x, y = torch.as_tensor(tasks[0].x_train[:16]), torch.as_tensor(tasks[0].y_train[:16])
    grads = {}
    for rule in ("bptt", "ottt"):
        runner = _Runner("finetune", tasks, ContinualConfig(hidden=(48, 24), steps=1, rule=rule, seed=5))
        runner.opt.zero_grad()
        if rule == "ottt":
            runner._ottt_backward(x, y, np.zeros(16, dtype=int))
        else:
            runner._loss(x, y, np.zeros(16, dtype=int)).backward()
        grads[rule] = [lin.weight.grad.clone() for lin in runner.model.linears]
    assert float(grads["ottt"][0].abs().sum()) > 0  # the input layer learns
    for g_online, g_bptt in zip(grads["ottt"], grads["bptt"]):
        torch.testing.assert_close(g_online, g_bptt, rtol=1e-5, atol=1e-7)


def test_ewc_and_gpm_run_and_stay_finite(small_tasks):
    cfg = ContinualConfig(epochs=1, hidden=(64,), hlop_neurons=((20, 20), (8, 10)), seed=1)
    runner = _Runner("ewc", small_tasks, cfg)
    runner.train_task(0)
    f0 = [f.clone() for f in runner.fisher]
    assert runner._ewc_penalty().item() == 0.0  # at the anchor
    runner.train_task(1)
    assert all(bool(torch.isfinite(p).all()) for p in runner.model.parameters())
    # online EWC: the Fisher information adds up, the anchor moves to the latest weights
    assert all(bool((f >= f_old).all()) and bool((f > f_old).any()) for f, f_old in zip(runner.fisher, f0))
    assert all(torch.equal(a, p.detach()) for a, p in zip(runner.anchors, runner.model.parameters()))
    with torch.no_grad():
        runner.model.linears[1].weight.add_(0.1)
    assert runner._ewc_penalty().item() > 0.0
    gpm = _Runner("gpm", small_tasks, cfg)
    gpm.train_task(0)
    sub = gpm.hlop.subspaces[0]
    assert sub.n_frozen == 20
    np.testing.assert_allclose((sub.weights @ sub.weights.T).numpy(), np.eye(20), atol=1e-4)


def test_split_digits_are_task_incremental():
    tasks = split_digits(((0, 1), (2, 3)), seed=0)
    runner = _Runner("finetune", tasks, ContinualConfig(epochs=1, hidden=(32,), seed=0))
    runner.train_task(0)
    # masked to the task's two classes: chance is 0.5, and never a class outside the pair
    assert runner.evaluate(0) > 0.5
    with pytest.raises(ValueError, match="method"):
        _Runner("replay", tasks, ContinualConfig())


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": float("nan")}, "lr"), ({"lr": 0}, "lr"), ({"epochs": 0}, "epochs"), ({"batch_size": 2.5}, "batch_size"),
    ({"steps": 0}, "steps"), ({"hidden": (64, -1)}, r"hidden\[1\]"), ({"beta": 1.0}, "beta"),
    ({"hlop_neurons": ((4, -2),)}, r"hlop_neurons\[0\]\[1\]"), ({"hlop_neurons": ()}, "hlop_neurons"),
    ({"hlop_lr": (0.01, 0.0)}, r"hlop_lr\[1\]"), ({"hlop_iterations": -1}, "hlop_iterations"),
    ({"rule": "eprop"}, "rule"),
])
def test_bad_settings_are_refused_by_name(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ContinualConfig(**kwargs)


def test_lr_default_depends_on_the_rule_and_hlop_rows_must_fit_the_layers(small_tasks):
    assert ContinualConfig().lr == 0.1 and ContinualConfig(rule="ottt").lr == 0.2
    cfg = ContinualConfig(hidden=(32, 16), hlop_neurons=((4, 4),))  # 3 linear layers, 2 counts
    _Runner("finetune", small_tasks, cfg)  # counts unused: fine
    with pytest.raises(ValueError, match="hlop_neurons must hold rows of 3"):
        _Runner("hlop", small_tasks, cfg)


@pytest.mark.slow
def test_example_writes_figures_and_table(tmp_path):
    out = tmp_path / "hlop"
    m = experiments.run("hlop-permuted-digits", out=str(out), progress=False, n_tasks=2, epochs=1, hidden=32,
                        methods="finetune,hlop", hlop_neurons="10,8;4,4")
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["table"]) == {"finetune", "hlop"} and m["n_tasks"] == 2
    assert np.array(summary["R"]["hlop"]).shape == (2, 2)
    for name in ("accuracy_matrix", "accuracy_curves"):
        data = (out / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="methods"):
        experiments.run("hlop-permuted-digits", methods="finetune,bogus")
