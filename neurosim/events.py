"""Event streams from event cameras and cochleas: a checked container, binning, time surfaces,
denoising and the N-MNIST binary format.

An :class:`EventStream` holds ``n`` events as parallel arrays: ``x``, ``y`` (pixel or channel
coordinates, 0-based), ``t`` (timestamps in microseconds, int64) and ``p`` (polarity 0/1, or a
channel index), with the sensor size ``(width, height)``. Timestamps must be non-negative and
sorted: unsorted input is refused unless ``sort=True`` asks for a stable sort (so nothing is
reordered behind the user's back); coordinates outside the sensor are refused.

::

    from neurosim.events import read_nmnist
    ev = read_nmnist("Train/0/00002.bin")       # 34 x 34 sensor, t in us
    frames = ev.to_frames(bin_us=1000)          # [T, 2, 34, 34] event counts

tonic interop: :meth:`EventStream.from_tonic` / :meth:`EventStream.to_tonic` convert tonic's
structured event arrays. Datasets (generated, or loaded from tonic) are in
:mod:`neurosim.event_data`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from neurosim.errors import DamagedFileError
from neurosim.io import atomic_path
from neurosim.memory import check_memory
from neurosim.validation import check_flag, check_int, check_number, host_values

NMNIST_SENSOR = (34, 34)
_NMNIST_OVERFLOW_Y = 240          # an event with y == 240 marks a timestamp overflow ...
_NMNIST_OVERFLOW_US = 1 << 13     # ... that adds 2^13 us to every later timestamp (as tonic reads it)


_INT64_LIMIT = 2.0 ** 63  # whole numbers at or beyond it do not fit an int64 event field


def check_sensor_size(value, name: str = "sensor_size", lengths: tuple = (2,)) -> tuple:
    """``value`` as a tuple of positive ints, as many as ``lengths`` allows: ``(width, height)``
    by default; tonic's ``(width, height, polarities)`` or an audio ``(channels,)`` where told."""
    if not isinstance(value, (tuple, list, np.ndarray)) or np.ndim(value) != 1 or len(value) not in lengths:
        counts = " or ".join(map(str, lengths))
        raise TypeError(f"{name} must be a tuple of {counts} positive ints such as (width, height), "
                        f"got {type(value).__name__} {value!r:.60}")
    return tuple(check_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))


def _event_field(name: str, value) -> np.ndarray:
    """``value`` as a 1-D int64 array of whole numbers (a copy). Booleans, strings and numbers
    beyond int64 are refused: numpy would turn them into 0/1, fail naming nothing, or wrap."""
    value = host_values(name, value)
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array of whole numbers, got {type(value).__name__}")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting and the like
        raise TypeError(f"{name} must be a 1-D array of whole numbers, got {type(value).__name__}") from None
    if a.dtype.kind not in "iuf":
        what = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers"}.get(a.dtype.kind, a.dtype)
        raise TypeError(f"{name} must be a 1-D array of whole numbers, got an array of {what}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of events, got shape {a.shape}")
    if a.size and a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold whole numbers, got non-integer values")
        if np.abs(a).max() >= _INT64_LIMIT:
            raise ValueError(f"{name} must hold values below 2**63, got {np.abs(a).max():g}")
    if a.size and a.dtype.kind == "u" and a.max() >= _INT64_LIMIT:
        raise ValueError(f"{name} must hold values below 2**63, got {a.max()}")
    return a.astype(np.int64)


def _event_fields(x, y, t, p) -> dict:
    """The four fields as int64 arrays of one length."""
    arrays = {name: _event_field(name, value) for name, value in (("x", x), ("y", y), ("t", t), ("p", p))}
    n = len(arrays["t"])
    for name, a in arrays.items():
        if len(a) != n:
            raise ValueError(f"x, y, t, p must have the same length; {name} has {len(a)}, t has {n}")
    return arrays


@dataclass(frozen=True)
class EventStream:
    """Events ``x, y, t, p`` (each ``[n]``) on a ``sensor_size = (width, height)`` sensor.

    Every construction is checked (the constructor converts the fields to read-only int64
    copies); :meth:`from_arrays` can also sort unsorted events. ``t`` is in microseconds.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    sensor_size: tuple

    def __post_init__(self):
        width, height = check_sensor_size(self.sensor_size)
        arrays = _event_fields(self.x, self.y, self.t, self.p)
        n = len(arrays["t"])
        if n and arrays["t"].min() < 0:
            raise ValueError(f"t must be >= 0 (microseconds), got {arrays['t'].min()} at event "
                             f"{int(np.argmin(arrays['t']))}")
        for name, size in (("x", width), ("y", height)):
            bad = np.flatnonzero((arrays[name] < 0) | (arrays[name] >= size))
            if bad.size:
                raise ValueError(f"{name} must lie in [0, {size}) for sensor_size {(width, height)}; event {bad[0]} "
                                 f"has {name} = {arrays[name][bad[0]]} ({bad.size} events outside)")
        if n and arrays["p"].min() < 0:
            raise ValueError(f"p (polarity / channel) must be >= 0, got {arrays['p'].min()}")
        unsorted = np.flatnonzero(np.diff(arrays["t"]) < 0)
        if unsorted.size:
            i = unsorted[0]
            raise ValueError(f"t must be sorted (event {i + 1}, t = {arrays['t'][i + 1]} us, is earlier than "
                             f"event {i}, t = {arrays['t'][i]} us); pass sort=True to sort the events by time")
        for name, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        object.__setattr__(self, "sensor_size", (width, height))

    @classmethod
    def from_arrays(cls, x, y, t, p, sensor_size, *, sort: bool = False) -> "EventStream":
        """Check and store events. ``sort``: stably sort unsorted timestamps instead of raising."""
        if check_flag("sort", sort):
            arrays = _event_fields(x, y, t, p)
            if np.any(np.diff(arrays["t"]) < 0):
                order = np.argsort(arrays["t"], kind="stable")
                arrays = {k: a[order] for k, a in arrays.items()}
            x, y, t, p = arrays.values()
        return cls(x, y, t, p, sensor_size)

    @classmethod
    def from_tonic(cls, events, sensor_size, *, sort: bool = False) -> "EventStream":
        """Events from tonic's structured array (fields ``x``, ``y``, ``t`` in us, ``p``; as
        tonic's datasets and transforms give them). ``sensor_size``: tonic's ``(width, height,
        polarities)`` or ``(width, height)``. Audio-style arrays without ``y`` (e.g. SHD, fields
        ``x, t, p``) get ``y = 0`` on a ``(width, 1)`` sensor. Checked as :meth:`from_arrays`."""
        names = getattr(getattr(events, "dtype", None), "names", None)
        if not names or not {"x", "t", "p"} <= set(names):
            raise TypeError("events must be a structured array with fields x, t, p (and y), as tonic gives; "
                            f"got {type(events).__name__} with fields {names}")
        size = check_sensor_size(sensor_size, lengths=(1, 2, 3))
        size = size[:2] if len(size) >= 2 else (size[0], 1)
        y = events["y"] if "y" in names else np.zeros(len(events), dtype=np.int64)
        p = events["p"]
        if p.dtype.kind == "b":  # tonic's polarity may be a bool field: on / off, as 1 / 0
            p = p.astype(np.int64)
        return cls.from_arrays(events["x"], y, events["t"], p, size, sort=sort)

    def to_tonic(self) -> np.ndarray:
        """The events as tonic's structured array (fields ``x, y, t, p``, int64)."""
        out = np.zeros(len(self), dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
        for name in "xytp":
            out[name] = getattr(self, name)
        return out

    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_polarities(self) -> int:
        """Number of polarity values / channels (at least 2: on and off)."""
        return max(2, int(self.p.max()) + 1) if len(self) else 2

    @property
    def duration_us(self) -> int:
        return int(self.t[-1]) + 1 if len(self) else 0

    def __getitem__(self, index) -> "EventStream":
        """A subset of the events (slice, boolean mask or index array), order kept."""
        return EventStream.from_arrays(self.x[index], self.y[index], self.t[index], self.p[index], self.sensor_size,
                                       sort=True)

    def to_frames(self, *, bin_us: int | None = None, n_bins: int | None = None,
                  duration_us: int | None = None, pool: int = 1) -> np.ndarray:
        """Event counts per time bin ``[T, n_polarities, height, width]`` (float32).

        Give either ``bin_us`` (bin width in us) or ``n_bins`` (equal bins over ``duration_us``,
        by default up to the last event). Every event falls in exactly one bin; events at or
        after ``duration_us`` are refused rather than dropped. ``pool``: sum ``pool x pool``
        pixel blocks (height and width become ``ceil(h / pool)``, ``ceil(w / pool)``), the
        channels of :meth:`channels`.
        """
        pool = self._check_pool(pool)
        if (bin_us is None) == (n_bins is None):
            raise ValueError("give exactly one of bin_us and n_bins")
        total = self.duration_us if duration_us is None else check_int("duration_us", duration_us, minimum=1)
        if len(self) and self.t[-1] >= total:
            raise ValueError(f"duration_us = {total} ends before the last event (t = {self.t[-1]} us)")
        if bin_us is not None:
            bin_us = min(check_int("bin_us", bin_us, minimum=1), total)  # wider than everything: one bin
            n_bins = max(1, -(-total // bin_us))
        else:
            n_bins = check_int("n_bins", n_bins, minimum=1)
        width, height = self.sensor_size
        shape = (n_bins, self.n_polarities, -(-height // pool), -(-width // pool))
        check_memory(f"to_frames: {' x '.join(map(str, shape))} float32 frames (bins x polarities x height x width)",
                     4.0 * math.prod(shape), "use wider bins, fewer polarities or pool pixels")
        if bin_us is not None:
            index = self.t // bin_us
        elif total * n_bins < 2**63:
            index = (self.t * n_bins) // max(total, 1)
        else:  # t * n_bins would overflow int64: the same floor division on Python ints
            index = np.array([t * n_bins // total for t in self.t.tolist()], dtype=np.int64)
        frames = np.zeros(shape, dtype=np.float32)
        np.add.at(frames, (index, self.p, self.y // pool, self.x // pool), 1.0)
        return frames

    def _check_pool(self, pool) -> int:
        """``pool`` (>= 1), capped at the sensor's size: a larger block is the same single block
        (and would not fit the int64 arithmetic on the coordinates)."""
        return min(check_int("pool", pool, minimum=1), max(self.sensor_size))

    def channels(self, pool: int = 1) -> tuple[np.ndarray, int]:
        """Channel index of every event after pooling ``pool x pool`` pixel blocks:
        ``(p * ceil(h / pool) + y // pool) * ceil(w / pool) + x // pool``; returns
        ``(channel [n], n_channels)``."""
        pool = self._check_pool(pool)
        width, height = self.sensor_size
        w, h = -(-width // pool), -(-height // pool)
        n_channels = self.n_polarities * h * w
        if n_channels >= 2**63:
            raise ValueError(f"{self.n_polarities} polarities x {h} x {w} pixels is too many channels to number "
                             "in int64; pool pixels or use fewer polarities")
        return (self.p * h + self.y // pool) * w + self.x // pool, n_channels

    def to_spike_times(self, dt_ms: float, *, pool: int = 1):
        """Spike-source input for a network: ``(indices, times_ms, info)``, one channel per
        pooled pixel and polarity (:meth:`channels`), for ``ns.SpikeTimes(info["n_channels"],
        indices, times_ms)``. A source spikes at most once per time step, so an event landing on
        a step its channel already uses moves to the channel's next free step: no event is
        dropped (one spike each); ``info["max_shift_ms"]`` reports the largest move."""
        dt_ms = check_number("dt_ms", dt_ms, positive=True)
        channel, n_channels = self.channels(pool)
        last_step = self.duration_us / 1000.0 / dt_ms
        if last_step + len(self) >= 2.0**53:  # beyond it steps are no longer exact in float64
            raise ValueError(f"dt_ms = {dt_ms:g} is too small for events up to t = {self.duration_us} us "
                             f"({last_step:.3g} steps)")
        step = np.rint(self.t / 1000.0 / dt_ms).astype(np.int64)
        order = np.lexsort((step, channel))
        ch, st = channel[order], step[order]
        # within a channel, steps sorted: step_k' = max(step_k, step_{k-1}' + 1), i.e. a running max
        # of (step_k - k) plus k, with k counted within the channel. One running max over all
        # channels: each channel's values are lifted above every earlier channel's by an offset
        # larger than their spread (the channel's rank times the span, which cannot overflow int64:
        # span < 2^53 + n and there are at most n channels in use).
        first = np.r_[0, np.flatnonzero(np.diff(ch)) + 1]
        counts = np.diff(np.r_[first, ch.size])
        k = np.arange(ch.size) - np.repeat(first, counts)
        if st.size:
            span = int(st.max()) - int(st.min()) + ch.size + 1
            if span * first.size >= 2**63:
                raise ValueError(f"dt_ms = {dt_ms:g} makes too many time steps ({span}) for {first.size} channels "
                                 "to place in int64; use a larger dt_ms")
            lift = span * np.repeat(np.arange(first.size), counts)
        else:
            lift = 0
        shifted = np.maximum.accumulate(st - k + lift) - lift + k
        times = shifted * dt_ms
        info = {"n_channels": int(n_channels), "max_shift_ms": float(((shifted - st) * dt_ms).max()) if st.size else 0.0}
        resort = np.argsort(times, kind="stable")
        return ch[resort], times[resort], info

    def time_surface(self, t_us: int, tau_us: float) -> np.ndarray:
        """Time surface at time ``t_us`` (Lagorce et al. 2017, HOTS): per polarity and pixel,
        ``exp(-(t_us - t_last) / tau_us)`` of the pixel's last event at or before ``t_us`` (0
        where it has none). Returns ``[n_polarities, height, width]`` (float32)."""
        t_us = check_int("t_us", t_us, minimum=0)
        tau_us = check_number("tau_us", tau_us, positive=True)
        width, height = self.sensor_size
        shape = (self.n_polarities, height, width)
        check_memory(f"time_surface: {' x '.join(map(str, shape))} surface (polarities x height x width)",
                     20.0 * math.prod(shape), "use fewer polarities or a smaller sensor")  # float64 work, float32 out
        past = self.t <= min(t_us, 2**63 - 1)
        last = np.full(shape, -np.inf)
        np.maximum.at(last, (self.p[past], self.y[past], self.x[past]), self.t[past].astype(np.float64))
        return np.exp(-(t_us - last) / tau_us).astype(np.float32)

    def denoise(self, filter_us: int) -> "EventStream":
        """Keep the events that have another event at the same or a neighbouring pixel (3x3)
        within the preceding ``filter_us`` microseconds (isolated events are sensor noise).
        tonic's ``Denoise`` differs: it looks at the four edge neighbours only, not at the same
        pixel or the diagonals, so it keeps fewer events."""
        filter_us = min(check_int("filter_us", filter_us, minimum=1), 2**62)  # beyond: every earlier event counts
        width, height = self.sensor_size
        check_memory(f"denoise: the last event time of each of {width} x {height} pixels",
                     8.0 * (width + 2) * (height + 2), "use a smaller sensor")
        last = np.full((height + 2, width + 2), -np.iinfo(np.int64).max // 2, dtype=np.int64)  # padded
        keep = np.zeros(len(self), dtype=bool)
        for i, (x, y, t) in enumerate(zip(self.x, self.y, self.t)):
            keep[i] = t - last[y:y + 3, x:x + 3].max() <= filter_us
            last[y + 1, x + 1] = t
        return self[keep]


def read_nmnist(path, *, sensor_size=NMNIST_SENSOR) -> EventStream:
    """Read one N-MNIST / N-Caltech101 ``.bin`` file (Orchard et al. 2015): 40 bits per event,
    big-endian bytes ``x``, ``y``, then polarity (1 bit) and a 23-bit timestamp in us.
    Events with ``y == 240`` are timestamp-overflow markers (each adds 2^13 us to the later
    events) and are not returned. A file whose length is not a multiple of 5 bytes is refused
    (a truncated event is never dropped silently). A file that is not N-MNIST raises
    :class:`neurosim.errors.DamagedFileError` naming it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__} {path!r:.40}")
    sensor_size = check_sensor_size(sensor_size)
    path = os.fspath(path)
    # the file's bytes as int64 columns, then x, y, t, p and their checks: about 24 bytes per byte
    check_memory(f"read_nmnist({path!r})", 24.0 * os.path.getsize(path))
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise DamagedFileError(f"{path}: {raw.size} bytes is not a whole number of 5-byte events "
                               f"({raw.size // 5} events and {raw.size % 5} stray bytes): truncated or not N-MNIST",
                               path=path)
    ev = raw.reshape(-1, 5).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    overflow = y == _NMNIST_OVERFLOW_Y
    t = t + _NMNIST_OVERFLOW_US * np.cumsum(overflow)
    real = ~overflow
    try:
        return EventStream.from_arrays(x[real], y[real], t[real], p[real], sensor_size)
    except ValueError as err:
        raise DamagedFileError(f"{path}: {err}", path=path) from None


def write_nmnist(path, events: EventStream) -> None:
    """Write ``events`` atomically in the N-MNIST binary format (see :func:`read_nmnist`);
    coordinates must fit a byte (y < 240), polarities be 0/1 and timestamps below 2^23 us."""
    if not isinstance(events, EventStream):
        raise TypeError(f"events must be an EventStream, got {type(events).__name__}")
    if len(events) and (events.x.max() > 255 or events.y.max() >= _NMNIST_OVERFLOW_Y):
        raise ValueError("N-MNIST stores x < 256 and y < 240")
    if len(events) and events.p.max() > 1:
        raise ValueError(f"N-MNIST stores polarities 0/1, got {events.p.max()}")
    if len(events) and events.t[-1] >= 1 << 23:
        raise ValueError(f"N-MNIST timestamps have 23 bits (< {1 << 23} us), got {events.t[-1]}")
    out = np.empty((len(events), 5), dtype=np.uint8)
    out[:, 0] = events.x
    out[:, 1] = events.y
    out[:, 2] = (events.p << 7) | (events.t >> 16)
    out[:, 3] = (events.t >> 8) & 0xFF
    out[:, 4] = events.t & 0xFF
    with atomic_path(path) as tmp:
        out.tofile(tmp)
