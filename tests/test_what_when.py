"""The what-and-when task and learner (Yamada & Chao 2025) at reduced scale."""

import json

import numpy as np
import pytest

from neurosim import experiments
from neurosim.circuits.reservoir import IzhikevichReservoir
from neurosim.examples.what_when_config import WhatWhenConfig
from neurosim.examples.what_when_learner import WhatWhenLearner
from neurosim.examples.what_when_measures import (adaptation_report, magnitudes, peak_timing, subspace_report,
                                                  trial_metrics)
from neurosim.examples.what_when_task import Block, Trial, WhatWhenTask, bump

P_A = (0.1, 0.5, 0.9)
BLOCK = 90


def _train(seed):
    """n = 300, three cues, 90-trial blocks: a latency switch (A 60 -> 100 ms, B 120 -> 160 ms),
    then a probability reversal (p(A) -> 1 - p(A))."""
    task = WhatWhenTask.switching(P_A, 60.0, 120.0, n_trials=BLOCK, switches=("latency", "probability"),
                                  new_latency_a=100.0, new_latency_b=160.0)
    rng = np.random.default_rng(seed)
    res = IzhikevichReservoir(300, n_inputs=task.n_cues, seed=rng, **WhatWhenLearner.RESERVOIR_DEFAULTS)
    res.run(300.0, progress=False)
    learner = WhatWhenLearner(res, task, seed=rng)
    history = learner.train(task.trials(rng), progress=False)
    test = learner.test(-1, record_states=True)
    return task, learner, history, test


@pytest.fixture(scope="module")
def trained():
    return _train(0)


@pytest.mark.slow
def test_timing_peak_at_event_time(trained):
    """The "when" output peaks at the event time: the relative peak error over the whole trial,
    weighted by how often each event comes after its cue, has a median below 0.2 over seeds 0-2
    at this scale, and the events each cue makes likely (p >= 0.5) are timed within 30 %
    (median over the seeds).

    One seed is not enough: the reservoir is chaotic, so a different CPU (BLAS kernels, rounding)
    gives a different network history. Measured: seeds 0-5 on the first dev VM 0.06-0.17; on
    the 2026-12-06 VM seeds 0, 1, 2: 0.336, 0.055, 0.067 (seed 0's likely event A peaked at
    169 ms for a 100 ms latency). At the example's scale (n = 500, 100-trial blocks): 0.06-0.10."""
    weighted, per_event = [], []
    for seed in (0, 1, 2):
        task, _, _, test = trained if seed == 0 else _train(seed)
        t = peak_timing(test, task)  # the whole trial: the peak, wherever it is
        rel = np.array(t["A"]["relative_error"] + t["B"]["relative_error"])
        p = np.array(list(task.blocks[-1].p_a) + [1 - v for v in task.blocks[-1].p_a])
        weighted.append(np.sum(p * rel) / np.sum(p))
        per_event.append(rel)
    assert np.median(weighted) < 0.2, weighted
    likely = p >= 0.5  # the same blocks for every seed
    assert np.all(np.median(np.array(per_event), axis=0)[likely] < 0.3), per_event


@pytest.mark.slow
def test_magnitudes_track_probabilities(trained):
    """After the probability reversal (the last block), magnitudes follow the new p."""
    task, _, _, test = trained
    m = magnitudes(test, task)
    assert task.blocks[-1].p_a == tuple(1 - p for p in P_A)
    assert m["A"]["pearson_r"] >= 0.9 and m["B"]["pearson_r"] >= 0.9, m


@pytest.mark.slow
def test_replay_test_reads_earlier_weights(trained):
    """The test states read with the first block's end weights follow the first block's p; with
    the final weights replay_test gives what test() gave."""
    task, learner, history, test = trained
    snap = history["snapshots"][0]
    assert snap["trial"] == BLOCK and snap["block"] == 0
    m = magnitudes(learner.replay_test(test, snap["readout"], 0), task)
    assert m["A"]["probability"] == list(P_A)
    assert m["A"]["pearson_r"] >= 0.9 and m["B"]["pearson_r"] >= 0.9, m
    again = learner.replay_test(test, history["snapshots"][-1]["readout"], len(task.blocks) - 1)
    for a, b in zip(again, test):
        # exact up to the float32 in which the states are recorded (the run reads them in float64)
        np.testing.assert_allclose(a.output, b.output, rtol=1e-5, atol=1e-9)


def test_adaptive_what_rate_counts_and_detects_changes():
    """what_rule="adaptive": per cue the rate is 1 / (k + 1) down to the floor (a running mean
    of the cue's outcomes), and a run of surprising outcomes sets k back (large steps again)."""
    task = WhatWhenTask.switching((0.5, 0.5), n_trials=5, switches=())
    learner = WhatWhenLearner(IzhikevichReservoir(20, n_inputs=2, seed=0), task,
                              WhatWhenConfig(what_rule="adaptive", what_rate_min=0.1, what_change_z=1.5,
                                             what_reset_k=1.0))
    rates = [learner.what_step(Trial(i, 0, 0, i % 2, 60.0), np.array([0.5, 0.5])) for i in range(12)]
    np.testing.assert_allclose(rates[:9], [1 / (k + 1) for k in range(9)])
    assert rates[9:] == [0.1] * 3
    assert learner.what_step(Trial(0, 0, 1, 0, 60.0), np.array([0.5, 0.5])) == 1.0  # cue 1 counts separately
    # the prediction says p(A) = 0.9 but B keeps coming: detected within a few trials
    rates = [learner.what_step(Trial(0, 0, 0, 1, 60.0), np.array([0.9, 0.1])) for _ in range(5)]
    assert max(rates) == pytest.approx(0.5), rates
    const = WhatWhenLearner(IzhikevichReservoir(20, n_inputs=2, seed=0), task, WhatWhenConfig(what_rate=0.3))
    assert const.what_rule == "constant" and const.what_bias == pytest.approx(1.0)  # 2 cues: 1 / sqrt(1)
    assert const.what_step(Trial(0, 0, 0, 1, 60.0), np.array([0.9, 0.1])) == 0.3
    with pytest.raises(ValueError, match="what_rule"):
        WhatWhenConfig(what_rule="fast")
    with pytest.raises(ValueError, match="what_rate_min"):
        WhatWhenConfig(what_rate_min=1.5)
    with pytest.raises(ValueError, match="what_change_window"):
        WhatWhenConfig(what_change_window=0.5)


@pytest.mark.slow
def test_three_factor_readapts_to_probabilities_faster_than_force(trained):
    task, _, history, test = trained
    s = task.switch_trials[1]  # the probability reversal
    e, fe = history["magnitude_error"], history["force_magnitude_error"]
    # over the second half of the reversed block the three-factor probability error is lower ...
    half = s + BLOCK // 2
    assert np.mean(e[half:]) < np.mean(fe[half:]), (np.mean(e[half:]), np.mean(fe[half:]))
    # ... and at test its magnitudes follow the new probabilities while FORCE's follow the old
    m, fm = magnitudes(test, task), magnitudes(test, task, source="force")
    assert m["A"]["pearson_r"] > 0.8 and m["B"]["pearson_r"] > 0.8, m
    assert fm["A"]["pearson_r"] < 0.5, fm
    # back to the better pre-reversal level within the block (seeds 0-5: 21-78 trials); FORCE never
    rep = adaptation_report(history, task)[1]["magnitude"]
    assert rep["three_factor"]["trials_to_common_level"] is not None, rep
    assert rep["force"]["trials_to_common_level"] is None, rep


@pytest.mark.slow
def test_three_factor_timing_recovers_after_latency_switch(trained):
    """Back to its own pre-switch timing error within 40 trials (seeds 0-5: 6-27), FORCE later
    or never (9-82). By the common level (the better of the two pre-switch errors) the two are
    comparable after a latency switch: FORCE's timing was better before it."""
    task, _, history, _ = trained
    rep = adaptation_report(history, task, window=6, before=15)[0]["timing"]
    k, fk = rep["three_factor"]["trials_to_reconverge"], rep["force"]["trials_to_reconverge"]
    assert k is not None and k <= 40, rep
    assert fk is None or fk > k, rep


@pytest.mark.slow
def test_what_and_when_subspaces_become_orthogonal(trained):
    """In the activity metric (what the readouts see) span(what) and span(when) end up further
    apart than random 2-D subspaces. (At this scale they are already so after the first block:
    the test does not show near-orthogonality *emerging*; the example reports it per block.)"""
    _, learner, history, test = trained
    states = np.concatenate([learner.features(r.states) for r in test])
    g = subspace_report(learner.in_feature_space(learner.what_weights), learner.when.weights, states,
                        force_w=learner.force.weights)
    a = g["activity"]
    assert min(a["principal_angles_deg"]) > min(a["random_principal_angles_deg"]), a
    assert a["mean_abs_what_vs_when"] < a["random_abs_cos"], a
    # Euclidean: random vectors in R^300 have |cos| ~ 0.05, so this only says "well below 1"
    assert g["euclidean"]["mean_abs_what_vs_when"] < 0.3, g["euclidean"]


def test_trial_metrics_and_adaptation_report_on_known_input():
    t = np.arange(250.0)
    pred = np.stack([0.3 * bump(t, 60.0, 20.0), 0.7 * bump(t, 150.0, 20.0)], axis=1)
    timing = np.stack([bump(t, 60.0, 20.0), bump(t, 180.0, 20.0)], axis=1)  # B's peak 30 ms late
    mag, tim = trial_metrics(t, pred, timing, (60.0, 150.0), (0.3, 0.7))
    assert mag == pytest.approx(0.0, abs=1e-9)
    assert tim == pytest.approx(0.7 * 30.0 / 150.0)
    mag, _ = trial_metrics(t, 0.5 * pred, timing, (60.0, 150.0), (0.3, 0.7))
    assert mag == pytest.approx(0.3 * 0.15 + 0.7 * 0.35)
    task = WhatWhenTask.switching((0.5,), n_trials=40, switches=("probability",))
    e = np.r_[np.full(40, 0.1), np.linspace(0.5, 0.1, 20), np.full(20, 0.1)]
    hist = {k: e for k in ("error", "magnitude_error", "timing_error")}
    hist.update({k: np.r_[np.full(40, 0.1), np.full(40, 0.5)] for k in ("force_error", "force_magnitude_error",
                                                                         "force_timing_error")})
    rep = adaptation_report(hist, task, window=5, before=10, factor=1.5)[0]
    for measure in ("magnitude", "timing", "shape"):
        # the 5-trial running mean of the ramp first reaches <= 0.15 at the 20th trial after the switch
        assert rep[measure]["three_factor"]["trials_to_reconverge"] == 20
        assert rep[measure]["force"]["trials_to_reconverge"] is None
        assert rep[measure]["three_factor"]["trials_to_common_level"] == 20
    # the common level is 1.5 x the better of the two pre-switch means: FORCE's 0.05 here
    hist["force_error"] = np.r_[np.full(40, 0.05), np.full(40, 0.5)]
    shape = adaptation_report(hist, task, window=5, before=10, factor=1.5)[0]["shape"]
    assert shape["three_factor"]["trials_to_reconverge"] == 20  # its own level: 0.15
    assert shape["three_factor"]["trials_to_common_level"] is None  # never <= 0.075
    with pytest.raises(ValueError, match="window"):
        adaptation_report(hist, task, window=0)


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
    with pytest.raises(ValueError, match="what_center_trials"):
        WhatWhenConfig(what_center_trials=0.5)
    with pytest.raises(ValueError, match="what_window_ms"):  # checked against the task by the learner
        WhatWhenLearner(IzhikevichReservoir(20, n_inputs=2, seed=0), task, WhatWhenConfig(what_window_ms=300.0))
    with pytest.raises(TypeError, match="config"):
        WhatWhenLearner(IzhikevichReservoir(20, n_inputs=2, seed=0), task, {"bump_ms": 10.0})
    res = IzhikevichReservoir(20, n_inputs=2, seed=0)
    learner = WhatWhenLearner(res, task)
    with pytest.raises(ValueError, match="cue"):
        learner.run_trial(Trial(0, 0, 5, 0, 60.0))
    with pytest.raises(ValueError, match="event_ms"):
        learner.run_trial(Trial(0, 0, 0, 0, 300.0))


@pytest.mark.slow
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
    assert set(summary["adaptation"][0]) >= {"magnitude", "timing", "shape", "criterion"}
    assert len(summary["magnitude_error"]) == 10 and len(summary["subspaces"]["over_training"]) == 2
    assert [b["block"] for b in summary["magnitude_per_block"]] == [0, 1]


def test_slow_trace_features_match_online_and_offline():
    """slow_ms: the readouts read [fast, slow] (2n features); the trace the reservoir run
    advances step by step equals the one computed from the recorded states afterwards."""
    task = WhatWhenTask.switching((0.5, 0.5), n_trials=5, switches=())
    res = IzhikevichReservoir(40, n_inputs=2, seed=0, **WhatWhenLearner.RESERVOIR_DEFAULTS)
    learner = WhatWhenLearner(res, task, WhatWhenConfig(slow_ms=30.0, force_regularization=None))
    assert learner.when.n_inputs == 80 and learner.in_feature_space(learner.what_weights).shape == (2, 80)
    learner.when.weights[...] = np.random.default_rng(1).standard_normal((2, 80))
    rec = learner.run_trial(Trial(0, 0, 1, 0, 60.0), learn=False, record_states=True)
    f = learner.features(rec.states)
    assert f.shape == (len(rec.times), 80) and np.abs(f[:, 40:]).sum() > 0
    np.testing.assert_allclose(rec.when, f @ learner.when.weights.T, rtol=1e-5, atol=1e-6)
    # the slow half is smoother in time than the fast half
    assert np.abs(np.diff(f[:, 40:], axis=0)).mean() < np.abs(np.diff(f[:, :40], axis=0)).mean()
    with pytest.raises(ValueError, match="slow_ms"):
        WhatWhenConfig(slow_ms=-1.0)


@pytest.mark.parametrize("field, value, error, words", [
    ("bump_ms", 0.0, ValueError, "bump_ms"), ("gate_ms", -5.0, ValueError, "gate_ms"),
    ("when_rate", float("nan"), ValueError, "when_rate"), ("cue_tau_ms", "long", TypeError, "cue_tau_ms"),
    ("what_bias", "big", ValueError, "what_bias"), ("what_bias", -1.0, ValueError, "what_bias"),
    ("force_regularization", 0.0, ValueError, "force_regularization"),
    ("force_every", 1.5, TypeError, "force_every"), ("force_every", 0, ValueError, "force_every"),
    ("feedback_weight", True, TypeError, "feedback_weight"), ("state_floor", -1e-3, ValueError, "state_floor"),
])
def test_config_refuses_bad_values_naming_the_field(field, value, error, words):
    with pytest.raises(error, match=words):
        WhatWhenConfig(**{field: value})


def test_config_is_frozen_and_resolved_by_the_learner():
    config = WhatWhenConfig(bump_ms=15, force_every=2)
    assert config.bump_ms == 15.0 and isinstance(config.bump_ms, float)
    with pytest.raises(Exception, match="bump_ms"):
        config.bump_ms = 3.0
    assert config.replace(gate_ms=30).gate_ms == 30.0 and config.gate_ms is None
    task = WhatWhenTask.switching((0.2, 0.5, 0.8), n_trials=5, switches=())
    learner = WhatWhenLearner(IzhikevichReservoir(20, n_inputs=3, seed=0), task, config)
    assert learner.config is config and learner.cue_ms == task.trial_ms  # None: the whole trial
    assert learner.what_bias == pytest.approx(1 / np.sqrt(2)) and learner.force.regularization == 20.0
