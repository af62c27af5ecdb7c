"""Offline event digits: a simulated event camera over moving images."""

import numpy as np
import pytest

from neurosim.event_data import event_digits, saccade_events, saccade_path


def test_path_is_the_three_saccade_triangle():
    path = saccade_path(301, amplitude=3.0)
    np.testing.assert_allclose(path[[0, 100, 200, 300]], [[0, 0], [1.5, 3.0], [3.0, 0.0], [0, 0]])
    assert np.all(np.abs(np.diff(path, axis=0)) < 0.05)  # smooth motion, no jumps


def test_a_bright_edge_moving_right_gives_on_events_ahead_and_off_behind():
    image = np.zeros((8, 8))
    image[:, 2:6] = 1.0  # a bright vertical bar
    ev = saccade_events(image, sensor_size=(16, 16), duration_ms=100, amplitude=3.0, threshold_sd=0.0,
                        noise_hz=0.0, seed=0)
    first = ev[ev.t < 33_000]  # first saccade: moving down and to the right
    assert len(first) > 50
    on_x, off_x = first.x[first.p == 1], first.x[first.p == 0]
    assert on_x.mean() > off_x.mean() + 2  # leading (right) edge brightens, trailing darkens
    # no motion, no events: amplitude 0 and no noise
    still = saccade_events(image, sensor_size=(16, 16), duration_ms=50, amplitude=0.0, noise_hz=0.0, seed=0)
    assert len(still) == 0


def test_threshold_noise_and_seeding():
    image = np.kron(np.eye(4), np.ones((3, 3))) * 16
    kw = dict(sensor_size=(20, 20), duration_ms=150, noise_hz=0.0, seed=3)
    fine, coarse = saccade_events(image, threshold=0.1, **kw), saccade_events(image, threshold=0.4, **kw)
    assert len(fine) > 2.5 * len(coarse)  # events scale roughly with 1 / threshold
    blank = saccade_events(np.zeros((8, 8)), sensor_size=(20, 20), duration_ms=1000, noise_hz=5.0, seed=1)
    assert 0.5 * 2000 < len(blank) < 1.5 * 2000  # only background noise: 5 Hz x 400 pixels x 1 s
    a, b = saccade_events(image, **kw), saccade_events(image, **kw)
    np.testing.assert_array_equal(a.t, b.t)
    assert np.all(np.diff(a.t) >= 0) and a.t.max() < 150_000


def test_event_digits_are_labelled_and_bad_images_refused():
    streams, labels = event_digits(12, seed=0)
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert all(s.sensor_size == (24, 24) and 1000 < len(s) < 20_000 for s in streams)
    again, _ = event_digits(2, seed=0)
    np.testing.assert_array_equal(again[1].x, streams[1].x)
    with pytest.raises(ValueError, match="image must be"):
        saccade_events(-np.ones((4, 4)))
    with pytest.raises(ValueError, match="threshold"):
        saccade_events(np.ones((4, 4)), threshold=0.0)
