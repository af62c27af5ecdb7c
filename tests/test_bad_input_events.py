"""Bad input to neurosim.events and neurosim.event_data (reliability issue, points 7 and 8):
EventStream and its readers, frames, surfaces, spike times and the generated datasets either
work and give a correct result, or refuse with a ValueError/TypeError (or a neurosim error)
naming the argument or file; never a crash, a hang or an allocation that cannot be held.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.errors import DamagedFileError, InsufficientMemoryError
from neurosim.event_data import cochlea_events, formant_sound, level_crossings, saccade_events
from neurosim.events import EventStream, read_nmnist, write_nmnist

#: values a careless or hostile caller passes where a number or an array is expected
ODD = [True, False, None, "3", b"1", "", [1, "a"], [], {}, object(), 1 + 2j, float("nan"), float("inf"),
       -float("inf"), 0, -1, 0.0, 1e-300, 1e300, 10**12, 2**70, np.bool_(True), np.int64(3), np.float32(0.5),
       np.array(["a"]), np.array([True, False]), (34,), (34, 34, 2), (0, 34), (34.0, 34), [34, 34], (-1, 5)]
values = st.one_of(st.sampled_from(ODD), st.floats(), st.integers(-(10**20), 10**20))


@pytest.fixture(autouse=True)
def small_memory(monkeypatch):
    """64 MiB "available": what the memory checks refuse does not depend on the machine, and the
    generated cases stay quick (what is accepted is small)."""
    monkeypatch.setenv("NEUROSIM_MEMORY_BYTES", str(2**26))


def _events(n=5, size=(6, 4), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, size[0], n), rng.integers(0, size[1], n), np.sort(rng.integers(0, 1000, n)),
            rng.integers(0, 2, n))


# ---- the examples ---------------------------------------------------------------------

def test_sensor_size_of_one_number_is_named(refuses):
    """8: EventStream(sensor_size=(34,)) and read_nmnist(sensor_size=34) failed naming nothing."""
    with refuses("sensor_size", "(width, height)"):
        EventStream(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), sensor_size=(34,))
    with refuses("sensor_size", "got int 34"):
        read_nmnist("any.bin", sensor_size=34)


def test_frames_of_a_billion_polarities_are_refused_up_front(within):
    """7: a polarity of 1e9 made to_frames try to allocate terabytes."""
    ev = EventStream.from_arrays([0, 1], [0, 1], [0, 10], [0, 10**9], (34, 34))
    with within(2.0), pytest.raises(InsufficientMemoryError, match=r"to_frames: 11 x 1000000001 x 34 x 34.*"
                                                                   r"needs about 46\.3 TiB.*64\.0 MiB is available"):
        ev.to_frames(bin_us=1)
    with within(2.0), pytest.raises(InsufficientMemoryError, match="time_surface"):
        ev.time_surface(5, 10.0)


def test_the_constructor_checks_like_from_arrays(refuses):
    """The dataclass constructor itself used to store anything."""
    with refuses("x must lie in [0, 6)"):
        EventStream([6], [0], [0], [0], (6, 4))
    with refuses("t", "booleans"):
        EventStream([0], [0], [True], [0], (6, 4))
    ev = EventStream([1, 2], [0, 3], [5.0, 7.0], np.array([1, 0], dtype=np.uint8), (6, 4))
    assert ev.t.dtype == np.int64 and not ev.t.flags.writeable and ev.sensor_size == (6, 4)


def test_nmnist_file_damage_is_a_damaged_file_error_naming_it(tmp_path, refuses):
    path = tmp_path / "digit.bin"
    path.write_bytes(bytes([40, 1, 0, 0, 1]))  # x = 40 on a 34 x 34 sensor
    with refuses(str(path), "x must lie in [0, 34)") as info:
        read_nmnist(path)
    assert isinstance(info.value, DamagedFileError) and info.value.path == str(path)
    with refuses("path", "str or os.PathLike"):
        read_nmnist(3)
    with refuses("events", "EventStream"):
        write_nmnist(tmp_path / "out.bin", [1, 2, 3])


# ---- generated --------------------------------------------------------------------------------

@settings(max_examples=150)
@given(blob=st.binary(max_size=400))
def test_random_bytes_as_nmnist(outcome, tmp_path_factory, blob):
    """Random bytes: refused naming the file, or (if they happen to be valid) events on the sensor."""
    path = tmp_path_factory.mktemp("nmnist") / "sample.bin"
    path.write_bytes(blob)
    ok, result = outcome(lambda: read_nmnist(path), str(path))
    if ok:
        assert result.sensor_size == (34, 34) and np.all(result.x < 34) and np.all(result.y < 34)
        assert np.all(np.diff(result.t) >= 0)
    else:
        assert isinstance(result, DamagedFileError) and result.path == str(path)


@settings(max_examples=150)
@given(field=st.sampled_from(["x", "y", "t", "p", "sensor_size"]),
       value=st.one_of(values, st.lists(st.one_of(st.integers(-5, 10), st.floats(-5, 10)), min_size=0, max_size=6)))
def test_generated_event_fields(outcome, field, value):
    args = dict(zip("xytp", _events()), sensor_size=(6, 4))
    args[field] = value
    ok, ev = outcome(lambda: EventStream.from_arrays(**args, sort=True), field, "same length")
    if ok:  # stored as checked int64 events on the sensor, sorted by time
        assert len({len(ev.x), len(ev.y), len(ev.t), len(ev.p)}) == 1
        width, height = ev.sensor_size
        assert np.all((0 <= ev.x) & (ev.x < width)) and np.all((0 <= ev.y) & (ev.y < height))
        assert np.all(ev.t >= 0) and np.all(np.diff(ev.t) >= 0) and np.all(ev.p >= 0)


EVENT_CALLS = {
    "to_frames": (lambda ev, v: ev.to_frames(bin_us=v), ("bin_us",)),
    "to_frames_n_bins": (lambda ev, v: ev.to_frames(n_bins=v), ("n_bins",)),
    "to_frames_duration": (lambda ev, v: ev.to_frames(n_bins=2, duration_us=v), ("duration_us",)),
    "to_frames_pool": (lambda ev, v: ev.to_frames(bin_us=100, pool=v), ("pool",)),
    "channels": (lambda ev, v: ev.channels(v), ("pool",)),
    "to_spike_times": (lambda ev, v: ev.to_spike_times(v), ("dt_ms",)),
    "time_surface_t": (lambda ev, v: ev.time_surface(v, 10.0), ("t_us",)),
    "time_surface_tau": (lambda ev, v: ev.time_surface(500, v), ("tau_us",)),
    "denoise": (lambda ev, v: ev.denoise(v), ("filter_us",)),
}


@pytest.mark.parametrize("call", EVENT_CALLS)
@settings(max_examples=60)
@given(value=values, polarity=st.sampled_from([1, 7, 10**6, 10**9, 2**62]))
def test_generated_event_methods(outcome, call, value, polarity):
    x, y, t, p = _events()
    p[-1] = polarity
    ev = EventStream.from_arrays(x, y, t, p, (6, 4))
    fn, names = EVENT_CALLS[call]
    ok, result = outcome(lambda: fn(ev, value), *names, "polarities", "duration_us")
    if not ok:
        return
    if call.startswith("to_frames"):
        assert result.sum() == len(ev)  # every event in exactly one bin
    elif call == "to_spike_times":
        indices, times, info = result
        assert len(indices) == len(ev) and np.all(np.isfinite(times)) and np.all(np.diff(times) >= 0)
    elif call.startswith("time_surface"):
        assert np.all((result >= 0) & (result <= 1))


@settings(max_examples=40)
@given(sensor=st.tuples(st.integers(1, 2**40), st.integers(1, 2**40)))
def test_huge_sensors_are_refused_up_front_not_allocated(outcome, sensor):
    ev = EventStream.from_arrays([0], [0], [0], [0], sensor)
    for fn in (lambda: ev.to_frames(n_bins=1), lambda: ev.time_surface(0, 1.0), lambda: ev.denoise(5)):
        ok, result = outcome(fn, "sensor")
        if ok:
            assert np.prod(sensor) * 8 < 2**26


@settings(max_examples=40)
@given(name=st.sampled_from(["duration_ms", "step_ms", "amplitude", "threshold", "threshold_sd", "noise_hz",
                             "sensor_size", "seed", "image"]), value=values)
def test_generated_saccade_events(outcome, name, value):
    kw = dict(image=np.ones((4, 4)), sensor_size=(8, 8), duration_ms=20.0, noise_hz=0.0, seed=0)
    kw[name] = value
    ok, ev = outcome(lambda: saccade_events(**kw), name, "n_steps")
    if ok:
        assert isinstance(ev, EventStream) and ev.sensor_size == tuple(kw["sensor_size"])


@settings(max_examples=40)
@given(name=st.sampled_from(["rate_hz", "channels", "f_min", "f_max", "step_ms", "threshold", "noise_hz", "sound"]),
       value=values)
def test_generated_cochlea_events(outcome, name, value):
    kw = dict(sound=np.sin(np.arange(800) / 5.0), rate_hz=8000, channels=4, f_min=100.0, f_max=3000.0, noise_hz=0.0,
              seed=0)
    kw[name] = value
    ok, ev = outcome(lambda: cochlea_events(**kw), name, "f_min")
    if ok:
        assert isinstance(ev, EventStream) and ev.sensor_size == (kw["channels"], 1)


@settings(max_examples=40)
@given(name=st.sampled_from(["formants", "f0", "duration_ms", "rate_hz", "bandwidth_hz"]), value=values)
def test_generated_formant_sound(outcome, name, value):
    kw = dict(formants=[[500.0, 600.0]], f0=120.0, duration_ms=20.0, rate_hz=4000, seed=0)
    kw[name] = value
    ok, sound = outcome(lambda: formant_sound(**kw), name)
    if ok:
        assert sound.ndim == 1 and np.all(np.isfinite(sound))


@settings(max_examples=40)
@given(thresholds=st.one_of(st.floats().map(lambda v: np.full((2, 2), v)), st.sampled_from(ODD)),
       signal=st.sampled_from([np.zeros((3, 2, 2)), np.ones((2, 2)), np.full((3, 2, 2), np.nan),
                               np.linspace(0, 1e300, 12).reshape(3, 2, 2), np.zeros((0, 2, 2))]))
def test_generated_level_crossings(outcome, thresholds, signal):
    ok, result = outcome(lambda: level_crossings(signal, thresholds, 1000.0), "thresholds", "signal")
    if ok:
        x, y, t, p = result
        assert len(x) == len(y) == len(t) == len(p) and np.all(np.isfinite(t))
