"""The what-and-when task and learner (Yamada & Chao 2025) at reduced scale."""

import json

import numpy as np
import pytest

from neurosim import experiments
from neurosim.circuits.reservoir import IzhikevichReservoir
from neurosim.circuits.what_when import (Block, Trial, WhatWhenLearner, WhatWhenTask, magnitudes, peak_timing,
                                         subspace_report, trials_to_converge)

P_A = (0.1, 0.5, 0.9)
BLOCK = 30


@pytest.fixture(scope="module")
def trained():
    """n = 300, three cues, one latency switch (A 60 -> 100 ms, B 120 -> 160 ms) after 30 trials."""
    task = WhatWhenTask.switching(P_A, 60.0, 120.0, n_trials=BLOCK, switches=("latency",), new_latency_a=100.0,
                                  new_latency_b=160.0)
    rng = np.random.default_rng(0)
    res = IzhikevichReservoir(300, n_inputs=task.n_cues, seed=rng, **WhatWhenLearner.RESERVOIR_DEFAULTS)
    res.run(300.0, progress=False)
    learner = WhatWhenLearner(res, task, seed=rng)
    history = learner.train(task.trials(rng), progress=False)
    test = learner.test(-1, record_states=True)
    return task, learner, history, test


@pytest.mark.xfail(strict=True, reason="known gap: after 30 post-switch trials the when peaks sit between the old and "
                   "new latencies (measured mean relative error 0.235 at n = 300, seed 0), not within 10 %")
def test_timing_peak_at_event_time(trained):
    task, _, _, test = trained
    t = peak_timing(test, task, window_ms=40.0)  # peak within the channel's latency window
    rel = np.array(t["A"]["relative_error"] + t["B"]["relative_error"])
    assert np.mean(rel) < 0.10, t


def test_magnitudes_track_probabilities(trained):
    task, _, _, test = trained
    m = magnitudes(test, task)
    assert m["A"]["pearson_r"] >= 0.9 and m["B"]["pearson_r"] >= 0.9, m


def test_three_factor_readapts_faster_than_force(trained):
    task, _, history, _ = trained
    s = task.switch_trials[0]
    err, ferr = history["error"], history["force_error"]
    K = 15
    # within K trials of the switch the three-factor error is back below its bound ...
    assert trials_to_converge(err, s, threshold=1.5 * np.mean(err[s - 10:s])) is not None
    assert trials_to_converge(err, s, threshold=1.5 * np.mean(err[s - 10:s])) <= K
    # ... while FORCE (P never reset) stays higher over the same trials
    assert np.mean(err[s + 5:s + K]) < np.mean(ferr[s + 5:s + K])


def test_what_and_when_weights_near_orthogonal_euclidean(trained):
    _, learner, _, _ = trained
    e = subspace_report(learner.what.weights, learner.when.weights)["euclidean"]
    # random vectors in R^300 have |cos| ~ 0.05, so this only says "well below 1"
    assert e["mean_abs_what_vs_when"] < 0.5, e


@pytest.mark.xfail(strict=True, reason="known gap: in the activity metric what and when readouts are strongly "
                   "aligned (mean |cos| 0.72 vs 0.35 for random pairs at n = 300, seed 0)")
def test_what_and_when_weights_near_orthogonal(trained):
    _, learner, _, test = trained
    states = np.concatenate([learner._joint.normalized(r.states) for r in test])
    g = subspace_report(learner.what.weights, learner.when.weights, states)
    e = g["euclidean"]
    # Euclidean: random vectors in R^300 have |cos| ~ 0.05, so only "well below 1" is learnt
    assert e["mean_abs_what_vs_when"] < 0.5, e
    # activity metric (what the readouts see): below random pairs in the same metric
    a = g["activity"]
    assert a["mean_abs_what_vs_when"] < a["random_abs_cos"], a


def test_trials_are_seeded_and_balanced():
    task = WhatWhenTask.switching((0.0, 1.0), 50.0, 100.0, n_trials=20, switches=("probability",))
    a, b = task.trials(3), task.trials(3)
    assert a == b and len(a) == 40 and task.switch_trials == [20]
    first = [t for t in a if t.block == 0]
    assert sorted(np.bincount([t.cue for t in first])) == [10, 10]
    assert all(t.event == (0 if t.cue == 1 else 1) for t in first)  # p(A) = 0 for cue 0, 1 for cue 1
    assert all(t.event == (0 if t.cue == 0 else 1) for t in a if t.block == 1)  # swapped
    assert all(t.event_ms == (50.0 if t.event == 0 else 100.0) for t in a)


def test_bad_task_input_is_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        WhatWhenTask((Block((0.5, 1.2), 50.0, 100.0, 10),))
    with pytest.raises(ValueError, match="latency_b"):
        WhatWhenTask((Block((0.5,), 50.0, 250.0, 10),), trial_ms=250.0)
    with pytest.raises(ValueError, match="latency_a"):
        WhatWhenTask((Block((0.5,), -5.0, 100.0, 10),))
    with pytest.raises(ValueError, match="n_trials"):
        WhatWhenTask((Block((0.5,), 50.0, 100.0, 0),))
    with pytest.raises(ValueError, match="one probability per cue"):
        WhatWhenTask((Block((0.5, 0.5), 50.0, 100.0, 5), Block((0.5,), 50.0, 100.0, 5)))
    with pytest.raises(ValueError, match="switches"):
        WhatWhenTask.switching((0.5,), switches=("timing",))
    with pytest.raises(ValueError, match="trial_ms"):
        WhatWhenTask((Block((0.5,), 50.0, 100.0, 5),), trial_ms=0.0)
    task = WhatWhenTask.switching((0.5, 0.5), n_trials=5, switches=())
    res = IzhikevichReservoir(20, n_inputs=1, seed=0)
    with pytest.raises(ValueError, match="n_inputs"):
        WhatWhenLearner(res, task)
    res = IzhikevichReservoir(20, n_inputs=2, seed=0)
    learner = WhatWhenLearner(res, task)
    with pytest.raises(ValueError, match="cue"):
        learner.run_trial(Trial(0, 0, 5, 0, 60.0))
    with pytest.raises(ValueError, match="event_ms"):
        learner.run_trial(Trial(0, 0, 0, 0, 300.0))


def test_example_runs_end_to_end(tmp_path):
    out = tmp_path / "ww"
    m = experiments.run("what-when", out=str(out), progress=False, n=60, block_trials=5, p_a="0.2,0.8",
                        switches="probability", seed=2)
    summary = json.loads((out / "summary.json").read_text())
    for name in ("raster", "outputs", "adaptation", "subspaces"):
        data = (out / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert summary["trials"] == 10 and len(summary["error"]) == 10 and m["n_cues"] == 2
    assert set(summary["timing"]) >= {"whole_trial", "within_40ms_window"} and "subspaces" in summary
    assert summary["adaptation"][0]["switch_trial"] == 5
