"""Offline event datasets made from scikit-learn's digits: nothing is downloaded.

:func:`saccade_events` moves an image over a simulated event camera (a DVS pixel emits an
ON / OFF event each time its log intensity has risen / fallen by ``threshold`` since its last
event, as in N-MNIST's recording, Orchard et al. 2015); :func:`event_digits` does it for the
digits, with three saccades as N-MNIST does.
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
    reference = log_i[0].copy()
    xs, ys, ts, ps = [], [], [], []
    step_us = step_ms * 1000.0
    for k in range(1, n_steps):
        crossings = np.trunc((log_i[k] - reference) / thresholds).astype(np.int64)
        y, x = np.nonzero(crossings)
        if y.size:
            c = crossings[y, x]
            reference[y, x] += c * thresholds[y, x]
            count = np.abs(c)
            rep = np.repeat(np.arange(y.size), count)
            within = np.concatenate([np.arange(1, m + 1) / (m + 1) for m in count])  # spread over the step
            xs.append(x[rep])
            ys.append(y[rep])
            ts.append(((k - 1) + within) * step_us)
            ps.append((c[rep] > 0).astype(np.int64))
    n_noise = rng.poisson(noise_hz * duration_ms / 1000.0 * width * height)
    xs.append(rng.integers(0, width, n_noise))
    ys.append(rng.integers(0, height, n_noise))
    ts.append(rng.uniform(0, (n_steps - 1) * step_us, n_noise))
    ps.append(rng.integers(0, 2, n_noise))
    t = np.floor(np.concatenate(ts)).astype(np.int64)
    return EventStream.from_arrays(np.concatenate(xs), np.concatenate(ys), t, np.concatenate(ps), (width, height),
                                   sort=True)


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
