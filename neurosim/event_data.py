"""Event datasets: generated offline here (nothing is downloaded) or loaded from tonic, and the
helpers that turn a dataset into arrays. Each dataset is ``(streams, labels)``: a list of
:class:`~neurosim.events.EventStream` and an ``[n]`` array.

* Vision: :func:`camera_events` moves an image over a simulated event camera (a DVS pixel
  emits an ON / OFF event each time its log intensity has risen / fallen by ``threshold``
  since its last event, as in N-MNIST's recording, Orchard et al. 2015);
  :func:`saccade_events` moves it along N-MNIST's three saccades and :func:`event_digits` does
  that for scikit-learn's digits; :func:`motion_events` slides it in a straight line and
  :func:`moving_textures` makes HD-SNN's motion classes (natural-image crops, 12 directions x
  3 speeds).
* Audio: :func:`cochlea_events` turns a sound into per-channel events of a cochlea-like
  filter bank; :func:`cochlear_digits` makes ten "spoken digit" classes of formant sounds
  (:func:`formant_sound`) with speaker-like variation.
* Loaded: :func:`from_tonic_dataset` reads samples of a tonic dataset (N-MNIST, SHD, ...).
* Features: :func:`binned_counts` counts each stream's events in equal time bins, ``[n, bins,
  channels]`` (the raw-input baseline the liquid-state-machine examples probe).
"""

from __future__ import annotations

import numpy as np

from neurosim.events import EventStream, check_sensor_size
from neurosim.memory import check_memory
from neurosim.validation import as_real_array, as_rng, check_int, check_number

#: the most harmonics :func:`formant_sound` sums (f0 >= 0.45 rate_hz / MAX_HARMONICS): far more
#: than any voice has, and few enough that a tiny f0 is refused rather than summed for hours
MAX_HARMONICS = 100_000

#: N-MNIST's three saccades: the sensor moves along a triangle (fractions of the amplitude)
SACCADE_CORNERS = np.array([[0.0, 0.0], [0.5, 1.0], [1.0, 0.0], [0.0, 0.0]])


def _rng(seed) -> np.random.Generator:
    """A Generator from an int >= 0, None, a Generator or a SeedSequence (what the datasets below
    hand each sample)."""
    return np.random.default_rng(seed) if isinstance(seed, np.random.SeedSequence) else as_rng(seed)


def _sample_seeds(seed, n: int):
    """The ``n`` per-sample SeedSequences of ``np.random.SeedSequence(seed).spawn(n)``, made one
    at a time (spawning a million up front would hold them all)."""
    parent = np.random.SeedSequence(check_int("seed", seed, minimum=0))
    return (np.random.SeedSequence(parent.entropy, spawn_key=(i,)) for i in range(n))


def saccade_path(n_steps: int, amplitude: float) -> np.ndarray:
    """``[n_steps, 2]`` image offsets (pixels, (dy, dx)) along the three-saccade triangle."""
    n_steps = check_int("n_steps", n_steps, minimum=2)
    amplitude = check_number("amplitude", amplitude, nonnegative=True)
    check_memory(f"saccade_path: {n_steps} steps", 48.0 * n_steps, "use fewer steps")
    s = np.linspace(0.0, len(SACCADE_CORNERS) - 1, n_steps)
    seg = np.minimum(s.astype(int), len(SACCADE_CORNERS) - 2)
    frac = (s - seg)[:, None]
    return amplitude * (SACCADE_CORNERS[seg] * (1 - frac) + SACCADE_CORNERS[seg + 1] * frac)


def level_crossings(signal, thresholds, step_us: float):
    """Delta modulation, as a DVS pixel or a silicon cochlea channel does it: each element of
    ``signal [T, H, W]`` emits an ON (OFF) event every time it has risen (fallen) by its
    ``thresholds [H, W]`` since its last event; ``k`` crossings within a step give ``k`` events
    spread evenly over the step. Returns ``x, y, t`` (us, float) and ``p`` (1 ON, 0 OFF)."""
    signal = as_real_array("signal", signal)
    if signal.ndim != 3 or len(signal) == 0 or not np.all(np.isfinite(signal)):
        raise ValueError(f"signal must be a finite [T, H, W] array with T >= 1, got shape {signal.shape}")
    thresholds = as_real_array("thresholds", thresholds)
    if thresholds.shape != signal.shape[1:] or not np.all(np.isfinite(thresholds)) or np.any(thresholds <= 0):
        raise ValueError(f"thresholds must be a finite [H, W] = {list(signal.shape[1:])} array of values > 0, "
                         f"got shape {thresholds.shape}")
    step_us = check_number("step_us", step_us, positive=True)
    # An element emits about (its total variation) / threshold events: refuse what cannot be held.
    with np.errstate(over="ignore"):
        expected = float((np.abs(np.diff(signal, axis=0)).sum(0) / thresholds).sum())
    if not expected < 2.0**62:
        raise ValueError("thresholds are too small for the signal: the events would not fit in memory")
    check_memory(f"level_crossings: about {expected:.3g} events", 64.0 * expected, "use larger thresholds")
    reference = signal[0].copy()
    xs, ys, ts, ps = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, np.int64)]
    for k in range(1, len(signal)):
        crossings = np.trunc((signal[k] - reference) / thresholds).astype(np.int64)
        y, x = np.nonzero(crossings)
        if not y.size:
            continue
        c = crossings[y, x]
        reference[y, x] += c * thresholds[y, x]
        count = np.abs(c)
        rep = np.repeat(np.arange(y.size), count)
        nth = np.arange(rep.size) - np.repeat(np.cumsum(count) - count, count) + 1   # 1..count per element
        within = nth / (count[rep] + 1)
        xs.append(x[rep])
        ys.append(y[rep])
        ts.append(((k - 1) + within) * step_us)
        ps.append((c[rep] > 0).astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), np.concatenate(ps)


def saccade_events(image, *, sensor_size=(24, 24), duration_ms: float = 300.0, step_ms: float = 1.0,
                   amplitude: float = 3.0, threshold: float = 0.25, threshold_sd: float = 0.03,
                   noise_hz: float = 0.5, seed=None) -> EventStream:
    """Events of an event camera looking at ``image [h, w]`` (intensities >= 0) while the image
    moves along :func:`saccade_path` (:func:`camera_events`, centred on the sensor).

    Each pixel has its own threshold (``threshold`` +- ``threshold_sd``, log-intensity units,
    fixed pattern mismatch); a change of ``k`` thresholds within a step gives ``k`` events
    spread evenly over the step. ``noise_hz`` adds background events per pixel (Poisson).
    Returns events with ``t`` in microseconds, ``p`` 1 = ON, 0 = OFF.
    """
    duration_ms = check_number("duration_ms", duration_ms, positive=True)
    step_ms = check_number("step_ms", step_ms, positive=True)
    amplitude = check_number("amplitude", amplitude, nonnegative=True)
    path = saccade_path(max(2, round(duration_ms / step_ms)), amplitude)
    return camera_events(image, path - path.mean(0), sensor_size=sensor_size, step_ms=step_ms, threshold=threshold,
                         threshold_sd=threshold_sd, noise_hz=noise_hz, seed=seed)


def camera_events(image, offsets, *, sensor_size=(24, 24), step_ms: float = 1.0, threshold: float = 0.25,
                  threshold_sd: float = 0.03, noise_hz: float = 0.5, seed=None) -> EventStream:
    """Events of an event camera looking at ``image [h, w]`` (intensities >= 0) displaced by
    ``offsets [T, 2]`` pixels (``(dy, dx)``, one row every ``step_ms``; bilinear resampling).

    With offset 0 the image's centre lies on the sensor's centre; image pixel ``(i, j)`` is seen
    at sensor position ``(i, j) + offset`` (plus the centring), dark (0) outside the image.
    Pixel thresholds, events and noise as :func:`saccade_events`. Returns an
    :class:`~neurosim.events.EventStream` (``t`` in us, ``p`` 1 = ON, 0 = OFF).
    """
    from scipy.ndimage import map_coordinates

    image = as_real_array("image", image)
    if image.ndim != 2 or image.size == 0 or not np.all(np.isfinite(image)) or image.min() < 0:
        raise ValueError(f"image must be a finite non-empty 2-D array of intensities >= 0, got shape {image.shape}")
    offsets = as_real_array("offsets", offsets)
    if offsets.ndim != 2 or offsets.shape[1] != 2 or len(offsets) < 2 or not np.all(np.isfinite(offsets)):
        raise ValueError(f"offsets must be a finite [T, 2] array of (dy, dx) pixels with T >= 2, got shape "
                         f"{offsets.shape}")
    width, height = check_sensor_size(sensor_size)
    step_ms = check_number("step_ms", step_ms, positive=True)
    threshold = check_number("threshold", threshold, positive=True)
    threshold_sd = check_number("threshold_sd", threshold_sd, nonnegative=True)
    noise_hz = check_number("noise_hz", noise_hz, nonnegative=True)
    rng = _rng(seed)
    n_steps = len(offsets)
    # coordinates [2, T, H, W], frames, log intensities and level-crossing work, float64
    check_memory(f"camera_events: {n_steps} steps of a {width} x {height} sensor", 64.0 * n_steps * width * height,
                 "use fewer steps (a shorter duration or a larger step_ms) or a smaller sensor")
    offset = offsets + [(height - image.shape[0]) / 2.0, (width - image.shape[1]) / 2.0]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    coords = np.stack([yy[None] - offset[:, 0, None, None], xx[None] - offset[:, 1, None, None]])  # [2, T, H, W]
    frames = np.stack([map_coordinates(image, coords[:, k], order=1, cval=0.0) for k in range(n_steps)])
    log_i = np.log(frames / max(image.max(), 1e-12) + 0.05)   # [T, H, W]; 0.05: the dark floor
    thresholds = np.clip(rng.normal(threshold, threshold_sd, (height, width)), threshold / 4, None)
    events = level_crossings(log_i, thresholds, step_ms * 1000.0)
    return _with_noise(events, noise_hz, (n_steps - 1) * step_ms, (width, height), rng)


def motion_events(image, *, direction_deg: float, speed: float, duration_ms: float = 40.0, step_ms: float = 1.0,
                  **camera) -> EventStream:
    """Events of ``image`` sliding across the sensor in a straight line: ``speed`` pixels per ms
    in direction ``direction_deg`` (0 = +x, 90 = +y, i.e. down the sensor's rows), centred on
    the sensor half-way through ``duration_ms``. ``camera``: the options of :func:`camera_events`.
    The image should be at least the sensor plus ``speed * duration_ms`` pixels across, or its
    dark border enters the view."""
    direction = np.deg2rad(check_number("direction_deg", direction_deg))
    speed = check_number("speed", speed, nonnegative=True)
    duration_ms = check_number("duration_ms", duration_ms, positive=True)
    step_ms = check_number("step_ms", step_ms, positive=True)
    n_steps = max(2, round(duration_ms / step_ms))
    travel = speed * step_ms * (np.arange(n_steps) - (n_steps - 1) / 2.0)
    offsets = np.stack([travel * np.sin(direction), travel * np.cos(direction)], 1)
    return camera_events(image, offsets, step_ms=step_ms, **camera)


def natural_images() -> list:
    """scikit-learn's two sample photographs (china, flower) as grey-level float arrays in
    [0, 1] (427 x 640): the natural textures :func:`moving_textures` crops."""
    from sklearn.datasets import load_sample_images

    return [img.astype(np.float64).mean(-1) / 255.0 for img in load_sample_images().images]


#: the least texture a crop of :func:`moving_textures` has: mean absolute log-intensity step
#: between neighbouring pixels (a fifth of the photographs' crops, sky and blurred background,
#: fall below it and would give a movie of almost no events)
MIN_TEXTURE = 0.05


def _textured_crop(photos, size: int, rng) -> np.ndarray:
    """A ``size x size`` crop of a random photograph with at least :data:`MIN_TEXTURE`."""
    for _ in range(1000):
        photo = photos[rng.integers(len(photos))]
        y0, x0 = rng.integers(0, photo.shape[0] - size + 1), rng.integers(0, photo.shape[1] - size + 1)
        patch = photo[y0:y0 + size, x0:x0 + size]
        log_p = np.log(patch + 0.05)
        if np.abs(np.diff(log_p, axis=0)).mean() + np.abs(np.diff(log_p, axis=1)).mean() >= MIN_TEXTURE:
            return patch
    raise RuntimeError(f"no {size}-pixel crop of the photographs has texture >= {MIN_TEXTURE}")  # pragma: no cover


def moving_textures(n: int, *, directions: int = 12, speeds=(0.25, 0.5, 1.0), sensor_size=(24, 24),
                    duration_ms: float = 40.0, seed: int = 0, **camera) -> tuple[list, np.ndarray]:
    """A motion dataset as HD-SNN's (Grimaldi & Perrinet 2023): random crops of natural images
    (:func:`natural_images`, textured ones: :data:`MIN_TEXTURE`; each randomly flipped and
    rotated by a multiple of 90 degrees)
    sliding across the sensor (:func:`motion_events`) in one of ``directions`` equally spaced
    directions at one of ``speeds`` (pixels per ms). Sample ``i`` has class ``i % (directions *
    len(speeds))``, class ``c`` = direction ``c // len(speeds)`` (at ``360 c // len(speeds) /
    directions`` degrees) and speed ``speeds[c % len(speeds)]``. Returns ``(streams, labels)``."""
    n = check_int("n", n, minimum=1)
    directions = check_int("directions", directions, minimum=1)
    speeds = as_real_array("speeds", speeds)
    if speeds.ndim != 1 or speeds.size == 0 or not np.all(np.isfinite(speeds)) or np.any(speeds <= 0):
        raise ValueError(f"speeds must be a non-empty 1-D list of speeds > 0 (pixels per ms), got {speeds!r:.80}")
    width, height = check_sensor_size(sensor_size)
    duration_ms = check_number("duration_ms", duration_ms, positive=True)
    photos = natural_images()
    crop = int(np.ceil(max(width, height) + speeds.max() * duration_ms)) + 4  # the view never leaves the crop
    if crop > min(photos[0].shape):
        raise ValueError(f"sensor_size {tuple(sensor_size)} with speed {speeds.max():g} px/ms for {duration_ms:g} ms "
                         f"needs {crop}-pixel crops; the photographs are {min(photos[0].shape)} pixels high")
    n_classes = directions * len(speeds)
    labels = np.arange(n) % n_classes
    streams = []
    for label, s in zip(labels, _sample_seeds(seed, n)):
        rng = np.random.default_rng(s)
        patch = _textured_crop(photos, crop, rng)
        patch = np.rot90(patch, rng.integers(4))
        patch = patch[:, ::-1] if rng.integers(2) else patch
        direction, speed = divmod(int(label), len(speeds))
        streams.append(motion_events(patch, direction_deg=360.0 * direction / directions, speed=speeds[speed],
                                     duration_ms=duration_ms, sensor_size=sensor_size, seed=rng, **camera))
    return streams, labels


def _with_noise(events, noise_hz, duration_ms, sensor_size, rng) -> EventStream:
    """``events`` (x, y, t us, p) plus Poisson background events at ``noise_hz`` per element."""
    width, height = sensor_size
    mean = noise_hz * duration_ms / 1000.0 * width * height
    check_memory(f"{mean:.3g} noise events", 64.0 * mean, "lower noise_hz")
    n_noise = rng.poisson(mean)
    noise = (rng.integers(0, width, n_noise), rng.integers(0, height, n_noise),
             rng.uniform(0, duration_ms * 1000.0, n_noise), rng.integers(0, 2, n_noise))
    x, y, t, p = (np.concatenate([a, b]) for a, b in zip(events, noise))
    return EventStream.from_arrays(x, y, np.floor(t).astype(np.int64), p, sensor_size, sort=True)


def event_digits(n: int | None = None, *, seed: int = 0, upsample: int = 2, **camera) -> tuple[list, np.ndarray]:
    """scikit-learn's 8x8 digits (the first ``n``, or all 1797) seen by :func:`saccade_events`
    after ``upsample``-fold enlargement (2: 16x16 digits on a 24x24 sensor). Each sample gets
    its own noise seed derived from ``seed``. Returns ``(streams, labels)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    count = len(digits.target) if n is None else check_int("n", n, minimum=1)
    if count > len(digits.target):
        raise ValueError(f"n must be <= {len(digits.target)} (the number of digits), got {count}")
    upsample = check_int("upsample", upsample, minimum=1)
    check_memory(f"event_digits: digits upsampled {upsample}-fold", 8.0 * (8 * upsample) ** 2, "use a smaller upsample")
    streams = []
    for img, s in zip(digits.images[:count], _sample_seeds(seed, count)):
        streams.append(saccade_events(np.kron(img, np.ones((upsample, upsample))), seed=s, **camera))
    return streams, digits.target[:count].copy()


def formant_sound(formants, *, f0: float = 120.0, duration_ms: float = 300.0, rate_hz: int = 16000,
                  bandwidth_hz: float = 120.0, seed=None) -> np.ndarray:
    """A vowel-like sound: harmonics of ``f0`` (Hz, with slow jitter) weighted by Gaussian
    resonances around formant trajectories. ``formants [k, 2]``: start and end frequency (Hz)
    of each formant, moved linearly over the sound. Returns ``[n_samples]`` at ``rate_hz``."""
    formants = as_real_array("formants", formants)
    if formants.ndim != 2 or formants.shape[1] != 2 or not np.all(np.isfinite(formants)) or np.any(formants <= 0):
        raise ValueError(f"formants must be [k, 2] finite positive frequencies (start, end), got shape {formants.shape}")
    f0 = check_number("f0", f0, positive=True)
    rate_hz = check_int("rate_hz", rate_hz, minimum=1)
    bandwidth_hz = check_number("bandwidth_hz", bandwidth_hz, positive=True)
    rng = _rng(seed)
    n = max(1, round(check_number("duration_ms", duration_ms, positive=True) * rate_hz / 1000.0))
    n_harmonics = int(0.45 * rate_hz / f0)
    if n_harmonics > MAX_HARMONICS:
        raise ValueError(f"f0 = {f0:g} Hz gives {n_harmonics} harmonics below 0.45 rate_hz (at most {MAX_HARMONICS}); "
                         f"use f0 >= {0.45 * rate_hz / MAX_HARMONICS:g} Hz")
    check_memory(f"formant_sound: {n} samples x {len(formants)} formants", 8.0 * n * (len(formants) + 8),
                 "use a shorter duration_ms or a lower rate_hz")
    t = np.arange(n) / rate_hz
    frac = t / t[-1] if n > 1 else t
    pitch = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(pitch) / rate_hz
    tracks = formants[:, 0, None] * (1 - frac) + formants[:, 1, None] * frac       # [k, n]
    sound = np.zeros(n)
    for h in range(1, n_harmonics):
        with np.errstate(over="ignore"):  # a harmonic far outside a narrow resonance: exp(-inf) = 0, as it should
            gain = np.exp(-0.5 * ((h * pitch - tracks) / bandwidth_hz) ** 2).sum(0)
        sound += gain * np.sin(h * phase)
    envelope = np.sin(np.pi * frac) ** 0.5                                        # onset and offset
    return sound * envelope / max(np.abs(sound).max(), 1e-12)


def cochlea_events(sound, *, rate_hz: int = 16000, channels: int = 32, f_min: float = 100.0, f_max: float = 6000.0,
                   step_ms: float = 1.0, threshold: float = 0.4, threshold_sd: float = 0.05, noise_hz: float = 0.5,
                   seed=None) -> EventStream:
    """Events of a silicon-cochlea-like front end: a bank of ``channels`` band-pass filters
    (triangular on a log-frequency axis from ``f_min`` to ``f_max`` Hz, over short-time
    spectra every ``step_ms``), log energy per channel, and level-crossing events per channel
    (:func:`level_crossings`). Events have ``x`` = channel, ``y`` = 0, ``t`` in us."""
    sound = as_real_array("sound", sound)
    if sound.ndim != 1 or sound.size == 0 or not np.all(np.isfinite(sound)):
        raise ValueError(f"sound must be a finite non-empty 1-D array of samples, got shape {sound.shape}")
    rate_hz = check_int("rate_hz", rate_hz, minimum=1)
    channels = check_int("channels", channels, minimum=1)
    f_min = check_number("f_min", f_min, positive=True)
    f_max = check_number("f_max", f_max, positive=True)
    if not f_min < f_max:
        raise ValueError(f"f_min must be < f_max, got f_min = {f_min} Hz, f_max = {f_max} Hz")
    threshold = check_number("threshold", threshold, positive=True)
    threshold_sd = check_number("threshold_sd", threshold_sd, nonnegative=True)
    noise_hz = check_number("noise_hz", noise_hz, nonnegative=True)
    rng = _rng(seed)
    hop = max(1, round(check_number("step_ms", step_ms, positive=True) * rate_hz / 1000.0))
    win = 4 * hop
    n_frames = (len(sound) + win) // hop + 1
    # windowed frames and their spectra [n_frames, win], the filter bank [channels, win / 2 + 1]
    # and the energies [n_frames, channels], float64 (complex spectra: twice that)
    check_memory(f"cochlea_events: {n_frames} frames of {win} samples, {channels} channels",
                 8.0 * (4 * n_frames * win + channels * (win // 2 + 1) + 4 * n_frames * channels),
                 "use fewer channels, a smaller step_ms or a shorter sound")
    padded = np.concatenate([np.zeros(win), sound, np.zeros(win)])
    starts = np.arange(0, len(padded) - win, hop)
    frames = padded[starts[:, None] + np.arange(win)] * np.hanning(win)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2                               # [T, win/2 + 1]
    freqs = np.fft.rfftfreq(win, 1.0 / rate_hz)
    edges = np.geomspace(f_min, f_max, channels + 2)
    bank = np.clip(np.minimum((freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
                              (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])), 0, None)
    energy = power @ bank.T                                                        # [T, channels]
    log_e = np.log(energy / max(energy.max(), 1e-30) + 1e-3)[:, None, :]          # [T, 1, channels]
    thresholds = np.clip(rng.normal(threshold, threshold_sd, (1, channels)), threshold / 4, None)
    hop_ms = hop * 1000.0 / rate_hz
    events = level_crossings(log_e, thresholds, hop_ms * 1000.0)
    return _with_noise(events, noise_hz, (len(log_e) - 1) * hop_ms, (channels, 1), rng)


def cochlear_digits(n: int = 500, *, seed: int = 0, n_formants: int = 3, **cochlea) -> tuple[list, np.ndarray]:
    """Spoken-digit-like cochlear event streams: each class 0-9 has its own formant
    trajectories (drawn once from a fixed class seed); each sample varies them like a new
    speaker (formants scaled by +-8 %, pitch 90-220 Hz, duration 250-350 ms) and passes the
    sound through :func:`cochlea_events`. Classes cycle 0, 1, ..., 9. Returns ``(streams, labels)``."""
    n = check_int("n", n, minimum=1)
    n_formants = check_int("n_formants", n_formants, minimum=1)
    check_memory(f"cochlear_digits: {n_formants} formants", 8.0 * 20 * n_formants, "use fewer formants")
    class_rng = np.random.default_rng(12345)  # the "language": fixed whatever the sample seed
    low, high = np.geomspace(250, 3500, n_formants + 1)[:-1], np.geomspace(250, 3500, n_formants + 1)[1:]
    words = [np.stack([class_rng.uniform(low, high, n_formants), class_rng.uniform(low, high, n_formants)], 1)
             for _ in range(10)]
    streams, labels = [], np.arange(n) % 10
    for label, s in zip(labels, _sample_seeds(seed, n)):
        rng = np.random.default_rng(s)
        formants = words[label] * rng.uniform(0.92, 1.08)
        sound = formant_sound(formants, f0=rng.uniform(90, 220), duration_ms=rng.uniform(250, 350), seed=rng)
        streams.append(cochlea_events(sound, seed=rng, **cochlea))
    return streams, labels


def from_tonic_dataset(dataset, n: int | None = None) -> tuple[list, np.ndarray]:
    """The first ``n`` (default all) samples of a tonic dataset (or any sequence of
    ``(events, label)`` with tonic's structured events and a ``sensor_size`` attribute) as
    ``(streams, labels)``; a sample that fails the checks of :meth:`EventStream.from_tonic`
    stops the loading with its index in the message."""
    sensor_size = getattr(dataset, "sensor_size", None)
    if sensor_size is None or not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError("dataset must be indexable, with a length and a sensor_size attribute, as tonic's "
                        f"datasets are; got {type(dataset).__name__}")
    count = len(dataset) if n is None else min(check_int("n", n, minimum=1), len(dataset))
    streams, labels = [], []
    for i in range(count):
        sample = dataset[i]
        if not (isinstance(sample, (tuple, list)) and len(sample) == 2):
            raise TypeError(f"dataset sample {i} must be an (events, label) pair, got {type(sample).__name__}")
        events, label = sample
        try:
            streams.append(EventStream.from_tonic(events, sensor_size))
        except (TypeError, ValueError) as err:
            raise type(err)(f"dataset sample {i}: {err}") from None
        labels.append(label)
    return streams, np.asarray(labels)


def binned_counts(streams, times_ms, pool: int = 1) -> np.ndarray:
    """Event counts per pooled channel in equal bins ending at each of ``times_ms``.

    ``streams``: a sequence of :class:`~neurosim.events.EventStream`; ``times_ms``: ``[n_times]``
    increasing bin ends in ms, equally spaced from ``times_ms[0]`` (the bin width); ``pool``:
    pixels pooled per side, as :meth:`~neurosim.events.EventStream.to_frames`. Returns float
    ``[len(streams), n_times, channels]`` with ``channels = 2 * ceil(width / pool) * ceil(height /
    pool)`` for a camera; events after ``times_ms[-1]`` are left out."""
    times = as_real_array("times_ms", times_ms)
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)) or times[0] <= 0 \
            or not np.allclose(np.diff(times), times[0]):
        raise ValueError(f"times_ms must be equally spaced bin ends [w, 2w, ...] with w > 0 ms, got {times_ms!r:.80}")
    pool = check_int("pool", pool, minimum=1)
    width_us, end_us = int(round(times[0] * 1000)), int(round(times[-1] * 1000))
    frames = []
    for i, ev in enumerate(streams):
        if not isinstance(ev, EventStream):
            raise TypeError(f"streams[{i}] must be an EventStream, got {type(ev).__name__}")
        ev = ev[ev.t < end_us]
        f = ev.to_frames(bin_us=width_us, duration_us=end_us, pool=pool)
        frames.append(f.reshape(len(f), -1)[: len(times)])
    if not frames:
        raise ValueError("streams must hold at least one EventStream")
    return np.stack(frames)
