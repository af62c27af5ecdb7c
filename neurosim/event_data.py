"""Offline event datasets, generated here: nothing is downloaded.

* Vision: :func:`saccade_events` moves an image over a simulated event camera (a DVS pixel
  emits an ON / OFF event each time its log intensity has risen / fallen by ``threshold``
  since its last event, as in N-MNIST's recording, Orchard et al. 2015); :func:`event_digits`
  does it for scikit-learn's digits, with three saccades as N-MNIST does.
* Audio: :func:`cochlea_events` turns a sound into per-channel events of a cochlea-like
  filter bank; :func:`cochlear_digits` makes ten "spoken digit" classes of formant sounds
  (:func:`formant_sound`) with speaker-like variation.
"""

from __future__ import annotations

import numpy as np

from neurosim.events import EventStream
from neurosim.validation import check_int, check_number

#: N-MNIST's three saccades: the sensor moves along a triangle (fractions of the amplitude)
SACCADE_CORNERS = np.array([[0.0, 0.0], [0.5, 1.0], [1.0, 0.0], [0.0, 0.0]])


def saccade_path(n_steps: int, amplitude: float) -> np.ndarray:
    """``[n_steps, 2]`` image offsets (pixels, (dy, dx)) along the three-saccade triangle."""
    n_steps = check_int("n_steps", n_steps, minimum=2)
    s = np.linspace(0.0, len(SACCADE_CORNERS) - 1, n_steps)
    seg = np.minimum(s.astype(int), len(SACCADE_CORNERS) - 2)
    frac = (s - seg)[:, None]
    return amplitude * (SACCADE_CORNERS[seg] * (1 - frac) + SACCADE_CORNERS[seg + 1] * frac)


def level_crossings(signal, thresholds, step_us: float):
    """Delta modulation, as a DVS pixel or a silicon cochlea channel does it: each element of
    ``signal [T, H, W]`` emits an ON (OFF) event every time it has risen (fallen) by its
    ``thresholds [H, W]`` since its last event; ``k`` crossings within a step give ``k`` events
    spread evenly over the step. Returns ``x, y, t`` (us, float) and ``p`` (1 ON, 0 OFF)."""
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
    moves along :func:`saccade_path` (bilinear resampling each ``step_ms``).

    Each pixel has its own threshold (``threshold`` +- ``threshold_sd``, log-intensity units,
    fixed pattern mismatch); a change of ``k`` thresholds within a step gives ``k`` events
    spread evenly over the step. ``noise_hz`` adds background events per pixel (Poisson).
    Returns events with ``t`` in microseconds, ``p`` 1 = ON, 0 = OFF.
    """
    from scipy.ndimage import map_coordinates

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or not np.all(np.isfinite(image)) or image.min() < 0:
        raise ValueError(f"image must be a finite 2-D array of intensities >= 0, got shape {image.shape}")
    width, height = (check_int(f"sensor_size[{i}]", v, minimum=1) for i, v in enumerate(sensor_size))
    duration_ms = check_number("duration_ms", duration_ms, positive=True)
    step_ms = check_number("step_ms", step_ms, positive=True)
    threshold = check_number("threshold", threshold, positive=True)
    threshold_sd = check_number("threshold_sd", threshold_sd, nonnegative=True)
    noise_hz = check_number("noise_hz", noise_hz, nonnegative=True)
    rng = np.random.default_rng(seed)
    n_steps = max(2, int(round(duration_ms / step_ms)))
    path = saccade_path(n_steps, check_number("amplitude", amplitude, nonnegative=True))
    # image pixel (i, j) sits at sensor position (i, j) + offset(t): centred, moved by the path
    offset = path - path.mean(0) + [(height - image.shape[0]) / 2.0, (width - image.shape[1]) / 2.0]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    coords = np.stack([yy[None] - offset[:, 0, None, None], xx[None] - offset[:, 1, None, None]])  # [2, T, H, W]
    frames = np.stack([map_coordinates(image, coords[:, k], order=1, cval=0.0) for k in range(n_steps)])
    log_i = np.log(frames / max(image.max(), 1e-12) + 0.05)   # [T, H, W]; 0.05: the dark floor
    thresholds = np.clip(rng.normal(threshold, threshold_sd, (height, width)), threshold / 4, None)
    events = level_crossings(log_i, thresholds, step_ms * 1000.0)
    return _with_noise(events, noise_hz, (n_steps - 1) * step_ms, (width, height), rng)


def _with_noise(events, noise_hz, duration_ms, sensor_size, rng) -> EventStream:
    """``events`` (x, y, t us, p) plus Poisson background events at ``noise_hz`` per element."""
    width, height = sensor_size
    n_noise = rng.poisson(noise_hz * duration_ms / 1000.0 * width * height)
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
    upsample = check_int("upsample", upsample, minimum=1)
    seeds = np.random.SeedSequence(seed).spawn(count)
    streams = []
    for img, s in zip(digits.images[:count], seeds):
        streams.append(saccade_events(np.kron(img, np.ones((upsample, upsample))), seed=s, **camera))
    return streams, digits.target[:count].copy()


def formant_sound(formants, *, f0: float = 120.0, duration_ms: float = 300.0, rate_hz: int = 16000,
                  bandwidth_hz: float = 120.0, seed=None) -> np.ndarray:
    """A vowel-like sound: harmonics of ``f0`` (Hz, with slow jitter) weighted by Gaussian
    resonances around formant trajectories. ``formants [k, 2]``: start and end frequency (Hz)
    of each formant, moved linearly over the sound. Returns ``[n_samples]`` at ``rate_hz``."""
    formants = np.asarray(formants, dtype=np.float64)
    if formants.ndim != 2 or formants.shape[1] != 2 or np.any(formants <= 0):
        raise ValueError(f"formants must be [k, 2] positive frequencies (start, end), got {formants.shape}")
    f0 = check_number("f0", f0, positive=True)
    rng = np.random.default_rng(seed)
    n = int(round(check_number("duration_ms", duration_ms, positive=True) * rate_hz / 1000.0))
    t = np.arange(n) / rate_hz
    frac = t / t[-1] if n > 1 else t
    pitch = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(pitch) / rate_hz
    tracks = formants[:, 0, None] * (1 - frac) + formants[:, 1, None] * frac       # [k, n]
    sound = np.zeros(n)
    for h in range(1, int(0.45 * rate_hz / f0)):
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
    sound = np.asarray(sound, dtype=np.float64)
    if sound.ndim != 1 or not np.all(np.isfinite(sound)):
        raise ValueError("sound must be a finite 1-D array of samples")
    channels = check_int("channels", channels, minimum=1)
    rng = np.random.default_rng(seed)
    hop = max(1, int(round(check_number("step_ms", step_ms, positive=True) * rate_hz / 1000.0)))
    win = 4 * hop
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
    class_rng = np.random.default_rng(12345)  # the "language": fixed whatever the sample seed
    low, high = np.geomspace(250, 3500, n_formants + 1)[:-1], np.geomspace(250, 3500, n_formants + 1)[1:]
    words = [np.stack([class_rng.uniform(low, high, n_formants), class_rng.uniform(low, high, n_formants)], 1)
             for _ in range(10)]
    seeds = np.random.SeedSequence(seed).spawn(n)
    streams, labels = [], np.arange(n) % 10
    for label, s in zip(labels, seeds):
        rng = np.random.default_rng(s)
        formants = words[label] * rng.uniform(0.92, 1.08)
        sound = formant_sound(formants, f0=rng.uniform(90, 220), duration_ms=rng.uniform(250, 350), seed=rng)
        streams.append(cochlea_events(sound, seed=rng, **cochlea))
    return streams, labels
