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


def test_cochlea_puts_a_formant_in_its_channel():
    from neurosim.event_data import cochlea_events, formant_sound

    sound = formant_sound([[1000.0, 1000.0]], f0=100.0, duration_ms=300, seed=0)
    ev = cochlea_events(sound, channels=32, noise_hz=0.0, seed=0)
    edges = np.geomspace(100.0, 6000.0, 34)
    centre = int(np.argmin(np.abs(edges[1:-1] - 1000.0)))
    counts = np.bincount(ev.x, minlength=32)
    assert abs(int(np.argmax(counts)) - centre) <= 1, (np.argmax(counts), centre)
    assert counts[np.abs(np.arange(32) - centre) <= 3].sum() > 0.6 * counts.sum()
    assert ev.sensor_size == (32, 1) and np.all(ev.y == 0) and 250_000 < ev.t[-1] < 310_000
    rising = cochlea_events(formant_sound([[500.0, 3000.0]], seed=1), noise_hz=0.0, seed=0)
    early, late = rising.x[rising.t < 100_000], rising.x[rising.t > 200_000]
    assert late.mean() > early.mean() + 5  # a rising formant moves up the channels


def test_cochlear_digits_are_labelled_seeded_and_separable():
    from neurosim.event_data import cochlear_digits, formant_sound

    streams, labels = cochlear_digits(30, seed=0)
    assert labels.tolist() == list(range(10)) * 3
    again, _ = cochlear_digits(2, seed=0)
    np.testing.assert_array_equal(again[1].t, streams[1].t)
    # the classes differ in their spectra: nearest class mean of channel histograms (held out)
    h = np.array([np.bincount(s.x, minlength=32) / len(s) for s in streams])
    centroids = np.array([h[:20][labels[:20] == k].mean(0) for k in range(10)])
    pred = np.argmin(((h[20:, None] - centroids[None]) ** 2).sum(-1), 1)
    assert np.mean(pred == labels[20:]) >= 0.4  # chance 0.1; measured 0.6 (spectra only, no timing)
    with pytest.raises(ValueError, match="formants"):
        formant_sound([[1000.0]])


def test_binned_counts_counts_events_per_bin_and_channel():
    import numpy as np
    import pytest

    from neurosim.event_data import binned_counts
    from neurosim.events import EventStream

    # 4 x 2 sensor; events at 5 ms (pixel 0, ON), 15 ms (pixel 0, ON), 25 ms (pixel 3, OFF), 40 ms (dropped)
    ev = EventStream.from_arrays([0, 0, 3, 1], [0, 0, 1, 0], [5000, 15000, 25000, 40000], [1, 1, 0, 1], (4, 2))
    counts = binned_counts([ev, ev[:1]], [10.0, 20.0, 30.0])
    assert counts.shape == (2, 3, 2 * 4 * 2)
    assert counts.sum(axis=2).tolist() == [[1, 1, 1], [1, 0, 0]]
    assert binned_counts([ev], np.array([10.0, 20.0, 30.0]), pool=2).shape == (1, 3, 2 * 2 * 1)
    with pytest.raises(ValueError, match="times_ms"):
        binned_counts([ev], [10.0, 25.0])
    with pytest.raises(TypeError, match=r"streams\[0\]"):
        binned_counts([np.zeros(3)], [10.0])
