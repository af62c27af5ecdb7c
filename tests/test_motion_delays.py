"""`motion-delays` (HD-SNN): moving-texture event movies, a heterogeneous-delay layer, pruning."""

import json

import numpy as np
import pytest

from neurosim import cli
from neurosim.event_data import MIN_TEXTURE, motion_events, moving_textures

PNG = b"\x89PNG\r\n\x1a\n"


def best_shift(movies, lag: int) -> tuple[int, int]:
    """The (dy, dx) that best maps ON events at step t onto those at t + lag (``movies``:
    ``[n, T, 2, H, W]``, summed over the movies)."""
    a = movies[:, :-lag, 0, 6:-6, 6:-6]
    h, w = movies.shape[3:]
    scores = {(dy, dx): float((a * movies[:, lag:, 0, 6 + dy:h - 6 + dy, 6 + dx:w - 6 + dx]).sum())
              for dy in range(-5, 6) for dx in range(-5, 6)}
    return max(scores, key=scores.get)


def test_moving_textures_move_each_class_its_way():
    speeds = (0.5, 1.0)
    streams, labels = moving_textures(24, directions=4, speeds=speeds, sensor_size=(24, 24), duration_ms=24.0,
                                      seed=3)
    assert labels.tolist() == list(range(8)) * 3
    movies = np.stack([np.minimum(s.to_frames(bin_us=1000, duration_us=24_000), 1) for s in streams])
    lag = 4
    for label in range(8):
        direction, speed = divmod(label, 2)
        step = speeds[speed] * lag
        expected = {0: (0, step), 1: (step, 0), 2: (0, -step), 3: (-step, 0)}[direction]  # 0 deg = +x, 90 = +y
        assert best_shift(movies[labels == label], lag) == expected, f"class {label}"
    again, _ = moving_textures(2, directions=4, speeds=speeds, duration_ms=24.0, seed=3)
    np.testing.assert_array_equal(again[1].t, streams[1].t)


def test_motion_events_of_a_still_image_are_noise_only():
    image = np.random.default_rng(0).uniform(0.1, 1, (40, 40))
    assert len(motion_events(image, direction_deg=30, speed=0.0, duration_ms=20, noise_hz=0.0, seed=0)) == 0
    moving = motion_events(image, direction_deg=30, speed=0.5, duration_ms=20, noise_hz=0.0, seed=0)
    assert len(moving) > 500 and moving.t.max() < 20_000
    assert MIN_TEXTURE > 0


@pytest.mark.parametrize("kw,match", [({"speeds": (0.0,)}, "speeds"), ({"speeds": ()}, "speeds"),
                                      ({"directions": 0}, "directions"), ({"n": 0}, "n"),
                                      ({"speeds": (20.0,), "duration_ms": 40.0}, "photographs")])
def test_moving_textures_bad_input(kw, match):
    args = {"n": 2, "seed": 0} | kw
    with pytest.raises(ValueError, match=match):
        moving_textures(**args)


@pytest.mark.slow  # about 10 s
def test_motion_delays_learns_directions_and_prunes(tmp_path, capsys):
    out = tmp_path / "motion"
    sets = ["seeds=2", "directions=4", "speeds=1", "sensor=16", "n_train=256", "n_test=96", "epochs=6", "lr=0.03",
            "n_delays=4", "kernel=5", "keep=1,0.1,0.01", "retrain_epochs=1"]
    args = ["run", "motion-delays", "--out", str(out), "--no-progress", "--duration", "16", "--seed", "0"]
    assert cli.main(args + [a for s in sets for a in ("--set", s)]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert printed["accuracy_mean"] == summary["accuracy_mean"]
    assert summary["classes"] == 4 and summary["chance"] == 0.25
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    # 96 test movies per run, chance 0.25 (s.d. 0.044): learnt direction selectivity, both runs
    assert all(r["accuracy"] > 0.45 for r in summary["runs"])
    curve = summary["pruning"]
    assert [p["keep"] for p in curve] == [1.0, 0.1, 0.01]
    assert curve[0]["accuracy_mean"] == summary["accuracy_mean"]  # keeping everything changes nothing
    synapses = summary["settings"]["synapses"]
    assert synapses == 4 * 2 * 4 * 5 * 5
    kept = [p["synapses"] for p in summary["runs"][0]["pruning"]]
    assert kept == [synapses, int(np.ceil(0.1 * synapses)), int(np.ceil(0.01 * synapses))]
    # retraining after pruning keeps the pruned weights at zero
    assert [p["synapses_retrained"] for p in summary["runs"][0]["pruning"]] == kept
    assert all(0 <= p["accuracy_retrained_mean"] <= 1 for p in curve)
    ops = [p["operations_per_movie_mean"] for p in curve]
    assert ops[0] > ops[1] > ops[2] > 0
    short = summary["runs"][0]["shortening"]  # the control: the 4, 3, 2, 1 shortest delays
    assert [p["keep"] for p in short] == [1.0, 0.75, 0.5, 0.25]
    assert [p["synapses"] for p in short] == [synapses, synapses * 3 // 4, synapses // 2, synapses // 4]
    assert short[0]["accuracy"] == summary["runs"][0]["accuracy"]
    for name in ("kernels", "pruning"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("setting,match", [("keep=1,2", "keep"), ("speeds=a", "speeds"), ("kernel=30", "kernel"),
                                           ("n_delays=40", "n_delays"), ("backend=gpu", "backend"),
                                           ("n_train=3", "n_train")])
def test_motion_delays_bad_input(setting, match):
    from neurosim.experiments import run

    name, value = setting.split("=")
    params = {name: value if name in ("keep", "speeds", "backend") else int(value)}
    with pytest.raises(ValueError, match=match):
        run("motion-delays", **params)
