"""Event streams: checks, binning, denoising and the N-MNIST binary format."""

import numpy as np
import pytest

from neurosim.events import EventStream, read_nmnist, write_nmnist


def random_events(n, seed, size=(34, 34), t_max=300_000):
    rng = np.random.default_rng(seed)
    return EventStream.from_arrays(rng.integers(0, size[0], n), rng.integers(0, size[1], n),
                                   np.sort(rng.integers(0, t_max, n)), rng.integers(0, 2, n), size)


def hand_written_file():
    """Two events written byte by byte in the 40-bit format, with an overflow marker between."""
    return bytes([
        3, 7, 0b1000_0000, 0x02, 0x03,        # x 3, y 7, p 1, t = 0x0203
        0, 240, 0, 0, 0,                       # overflow marker: later t += 2^13
        33, 0, 0b0000_0000, 0x00, 0x05,        # x 33, y 0, p 0, t = 5 + 8192
    ])


def test_nmnist_reader_parses_the_format(tmp_path):
    path = tmp_path / "00001.bin"
    path.write_bytes(hand_written_file())
    ev = read_nmnist(path)
    assert ev.sensor_size == (34, 34) and len(ev) == 2
    assert ev.x.tolist() == [3, 33] and ev.y.tolist() == [7, 0] and ev.p.tolist() == [1, 0]
    assert ev.t.tolist() == [0x0203, 5 + 8192]


def test_nmnist_round_trip_gives_the_same_events(tmp_path):
    ev = random_events(5000, 1, t_max=(1 << 23) - 1)
    path = tmp_path / "digit.bin"
    write_nmnist(path, ev)
    assert path.stat().st_size == 5 * len(ev)
    back = read_nmnist(path)
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ev, name))


def test_malformed_files_are_refused_whole(tmp_path):
    ev = random_events(10, 2)
    good = tmp_path / "good.bin"
    write_nmnist(good, ev)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(good.read_bytes()[:-2])
    with pytest.raises(ValueError, match="48 bytes is not a whole number of 5-byte events .9 events and 3 stray"):
        read_nmnist(truncated)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes([40, 1, 0, 0, 1]))  # x = 40 on a 34-wide sensor
    with pytest.raises(ValueError, match=r"outside.bin: x must lie in \[0, 34\)"):
        read_nmnist(outside)
    backwards = tmp_path / "backwards.bin"
    backwards.write_bytes(bytes([1, 1, 0, 0, 9, 1, 1, 0, 0, 2]))
    with pytest.raises(ValueError, match="t must be sorted"):
        read_nmnist(backwards)
    with pytest.raises(ValueError, match="23 bits"):
        write_nmnist(tmp_path / "late.bin", EventStream.from_arrays([0], [0], [1 << 23], [0], (34, 34)))


def test_unsorted_negative_and_outside_events():
    with pytest.raises(ValueError, match=r"t must be sorted \(event 2, t = 7 us, is earlier than event 1, t = 9 us\); pass sort=True"):
        EventStream.from_arrays([0, 1, 2], [0, 0, 0], [5, 9, 7], [0, 1, 0], (4, 4))
    ev = EventStream.from_arrays([0, 1, 2], [0, 1, 2], [5, 9, 7], [0, 1, 0], (4, 4), sort=True)
    assert ev.t.tolist() == [5, 7, 9] and ev.x.tolist() == [0, 2, 1]  # rows move together
    with pytest.raises(ValueError, match="t must be >= 0"):
        EventStream.from_arrays([0], [0], [-1], [0], (4, 4))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 4\).*event 1 has y = 4"):
        EventStream.from_arrays([0, 0], [0, 4], [0, 1], [0, 0], (4, 4))
    with pytest.raises(ValueError, match="same length"):
        EventStream.from_arrays([0, 1], [0], [0], [0], (4, 4))
    with pytest.raises(ValueError, match="whole numbers"):
        EventStream.from_arrays([0.5], [0], [0], [0], (4, 4))
    with pytest.raises(ValueError, match=r"sensor_size\[1\]"):
        EventStream.from_arrays([0], [0], [0], [0], (4, 0))


def test_frames_count_every_event_once():
    ev = random_events(2000, 3)
    frames = ev.to_frames(bin_us=10_000)
    assert frames.shape == (-(-ev.duration_us // 10_000), 2, 34, 34)
    assert frames.sum() == len(ev)
    i = 123
    assert frames[ev.t[i] // 10_000, ev.p[i], ev.y[i], ev.x[i]] >= 1
    by_count = ev.to_frames(n_bins=7)
    assert by_count.shape[0] == 7 and by_count.sum() == len(ev)
    with pytest.raises(ValueError, match="duration_us"):
        ev.to_frames(n_bins=3, duration_us=int(ev.t[-1]))
    with pytest.raises(ValueError, match="exactly one"):
        ev.to_frames()
    # pooled frames: 4x4 blocks summed, 34 -> 9 per side, the same cells as channels(pool=4)
    pooled = ev.to_frames(n_bins=7, pool=4)
    assert pooled.shape == (7, 2, 9, 9)
    np.testing.assert_array_equal(pooled.sum(0).ravel(), np.bincount(ev.channels(4)[0], minlength=2 * 81))


def test_denoise_drops_isolated_events_only():
    # a burst at (5, 5) and its neighbour, and one isolated event far away and late
    ev = EventStream.from_arrays([5, 6, 5, 20, 30], [5, 5, 6, 20, 30], [0, 100, 200, 50_000, 50_100],
                                 [1, 1, 0, 1, 1], (34, 34))
    kept = ev.denoise(filter_us=1000)
    # the first event has no predecessor; the next two follow a neighbour within 1 ms; the
    # last two have no neighbour at all
    assert kept.t.tolist() == [100, 200]
    assert len(ev.denoise(filter_us=50)) == 0  # the burst's gaps (100 us) exceed the window


def test_spike_times_keep_every_event_and_respect_one_spike_per_step():
    import neurosim as ns

    # channel (x=1, y=0, p=1) gets three events within one 0.1 ms step, then one later
    ev = EventStream.from_arrays([1, 1, 1, 0, 1], [0, 0, 0, 1, 0], [1000, 1010, 1040, 1020, 5000], [1, 1, 1, 0, 1],
                                 (2, 2), sort=True)
    idx, times, info = ev.to_spike_times(0.1)
    assert info["n_channels"] == 8 and len(idx) == len(ev)
    ch_on = (1 * 2 + 0) * 2 + 1
    np.testing.assert_allclose(np.sort(times[idx == ch_on]), [1.0, 1.1, 1.2, 5.0])
    assert info["max_shift_ms"] == pytest.approx(0.2)
    assert np.all(np.diff(times) >= 0)
    ns.SpikeTimes(info["n_channels"], indices=idx, times=times).steps(0.1)  # accepted by the engine
    pooled_idx, _, pooled = random_events(3000, 4).to_spike_times(1.0, pool=4)
    assert pooled["n_channels"] == 2 * 9 * 9 and pooled_idx.max() < pooled["n_channels"]
    with pytest.raises(ValueError, match="pool"):
        ev.to_spike_times(0.1, pool=0)


def test_tonic_reads_our_files_as_we_do_and_its_arrays_convert(tmp_path):
    """tonic (a test dependency) is the field's reader: on the same bytes, hand-written with an
    overflow marker and written by write_nmnist, it must yield exactly our events."""
    import tonic
    from tonic.io import read_mnist_file

    from neurosim.event_data import from_tonic_dataset

    hand = tmp_path / "hand.bin"
    hand.write_bytes(hand_written_file())
    ours = random_events(3000, 5, t_max=(1 << 23) - 1)
    written = tmp_path / "written.bin"
    write_nmnist(written, ours)
    for path in (hand, written):
        theirs = read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
        np.testing.assert_array_equal(read_nmnist(path).to_tonic(), theirs.astype(ours.to_tonic().dtype))
        back = EventStream.from_tonic(theirs, tonic.datasets.NMNIST.sensor_size)
        assert back.sensor_size == (34, 34)
        np.testing.assert_array_equal(back.to_tonic(), read_nmnist(path).to_tonic())
    # audio-style arrays (SHD: x, t, p) sit on a (width, 1) sensor
    shd = np.zeros(3, dtype=[("t", "<f8"), ("x", "<i8"), ("p", "<i8")])
    shd["t"], shd["x"] = [10.0, 20.0, 30.0], [0, 699, 5]
    audio = EventStream.from_tonic(shd, (700, 1, 1))
    assert audio.sensor_size == (700, 1) and audio.y.tolist() == [0, 0, 0] and audio.t.tolist() == [10, 20, 30]
    with pytest.raises(TypeError, match="structured array with fields x, t, p"):
        EventStream.from_tonic(np.zeros((3, 4)), (34, 34, 2))

    class Dataset(list):  # what a tonic dataset offers: indexing to (events, label) and sensor_size
        sensor_size = (34, 34, 2)

    data = Dataset([(ours.to_tonic(), 3), (random_events(10, 6).to_tonic(), 7)])
    streams, labels = from_tonic_dataset(data)
    assert labels.tolist() == [3, 7] and np.array_equal(streams[0].x, ours.x)
    bad = ours.to_tonic()
    bad["x"][5] = 40
    with pytest.raises(ValueError, match=r"dataset sample 1: x must lie in \[0, 34\)"):
        from_tonic_dataset(Dataset([data[0], (bad, 1)]))


def test_time_surface_decays_from_each_pixels_last_event():
    ev = EventStream.from_arrays([1, 1, 2, 0], [0, 0, 1, 1], [100, 300, 400, 900], [1, 1, 0, 1], (3, 2))
    surface = ev.time_surface(500, tau_us=200.0)
    assert surface.shape == (2, 2, 3)
    expected = np.zeros((2, 2, 3))
    expected[1, 0, 1] = np.exp(-(500 - 300) / 200)   # the later of the two events at (1, 0)
    expected[0, 1, 2] = np.exp(-(500 - 400) / 200)
    np.testing.assert_allclose(surface, expected, rtol=1e-6)   # the event at 900 us is in the future
    assert ev.time_surface(900, tau_us=200.0)[1, 1, 0] == 1.0
    with pytest.raises(ValueError, match="tau_us"):
        ev.time_surface(500, tau_us=0.0)
