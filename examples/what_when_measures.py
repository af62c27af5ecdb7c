"""Measures of the what-and-when learner: peak timing, magnitudes against probabilities,
per-trial errors, trials to re-converge after a switch, and the geometry of the "what" and
"when" weights. Records are :class:`~neurosim.examples.what_when_learner.TrialRecord` s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from neurosim.examples.what_when_task import CHANNELS, WhatWhenTask
from neurosim.validation import as_rng, check_int, check_number

if TYPE_CHECKING:  # the learner imports this module (trial_metrics): no import cycle at run time
    from neurosim.examples.what_when_learner import TrialRecord


def peak_timing(records: Sequence[TrialRecord], task: WhatWhenTask, window_ms: float | None = None) -> dict:
    """Where each channel's "when" output peaks, per test record. ``window_ms``: search only
    within ``latency ± window_ms`` (default: the whole trial). Returns ``{"A": {"peak_ms": [..],
    "latency_ms": [..], "abs_error_ms": [..], "relative_error": [..]}, "B": ...}``."""
    out = {}
    for c, name in enumerate(CHANNELS):
        peaks, lats = [], []
        for rec in records:
            b = task.blocks[rec.trial.block]
            lat = (b.latency_a if c == 0 else b.latency_b)[rec.trial.cue]
            z = rec.when[:, c].copy()
            if window_ms is not None:
                z[np.abs(rec.times - lat) > window_ms] = -np.inf
            peaks.append(float(rec.times[int(np.argmax(z))]))
            lats.append(lat)
        peaks, lats = np.array(peaks), np.array(lats)
        out[name] = {"peak_ms": peaks.tolist(), "latency_ms": lats.tolist(),
                     "abs_error_ms": np.abs(peaks - lats).tolist(),
                     "relative_error": (np.abs(peaks - lats) / lats).tolist()}
    return out


def magnitudes(records: Sequence[TrialRecord], task: WhatWhenTask, source: str = "output",
               window_ms: float = 20.0) -> dict:
    """Peak of each channel's prediction within ``latency ± window_ms`` per cue, against the
    cue's probability, and Pearson's r over cues. ``source``: "output" (what × when) or "force"."""
    out = {}
    for c, name in enumerate(CHANNELS):
        mags, probs = [], []
        for rec in records:
            b = task.blocks[rec.trial.block]
            lat = (b.latency_a if c == 0 else b.latency_b)[rec.trial.cue]
            z = getattr(rec, source)[:, c]
            mags.append(float(z[np.abs(rec.times - lat) <= window_ms].max()))
            p = b.p_a[rec.trial.cue]
            probs.append(p if c == 0 else 1 - p)
        r = float(np.corrcoef(mags, probs)[0, 1]) if np.std(mags) > 0 and np.std(probs) > 0 else float("nan")
        out[name] = {"magnitude": mags, "probability": probs, "pearson_r": r}
    return out


def trial_metrics(times, prediction, timing, latency, probability, window_ms: float = 20.0) -> tuple:
    """Per-trial probability and timing errors of a prediction ``[T, 2]`` (channels A, B).

    ``latency`` (ms) and ``probability`` ``(p_A, p_B)`` are the trial's cue's; ``timing [T, 2]``
    is the signal whose peak gives the predicted time (the "when" output, or the prediction).
    Returns ``(magnitude_error, timing_error)``: ``sum_c p_c |m_c - p_c|`` with ``m_c`` the
    largest prediction within ``latency_c ± window_ms``, and ``sum_c p_c |peak_c - latency_c| /
    latency_c`` with ``peak_c`` the time of ``timing``'s maximum over the whole trial. Weighting
    by ``p_c`` counts each channel as often as its event comes."""
    t = np.asarray(times, dtype=np.float64)
    mag = tim = 0.0
    for c in range(2):
        inside = np.abs(t - latency[c]) <= window_ms
        mag += probability[c] * abs(float(prediction[inside, c].max()) - probability[c])
        tim += probability[c] * abs(float(t[int(np.argmax(timing[:, c]))]) - latency[c]) / latency[c]
    return float(mag), float(tim)


def trials_to_converge(errors, switch: int, *, threshold: float, window: int = 5) -> int | None:
    """Trials after ``switch`` until the running mean of ``window`` errors first falls to
    ``threshold`` (counted to the window's last trial, 1-based); None if it never does."""
    e = np.asarray(errors, dtype=np.float64)[switch:]
    if e.size < window:
        return None
    run = np.convolve(e, np.ones(window) / window, mode="valid")
    hit = np.flatnonzero(run <= threshold)
    return None if hit.size == 0 else int(hit[0] + window)


def adaptation_report(history: dict, task: WhatWhenTask, *, window: int = 10, before: int = 20,
                      factor: float = 1.5) -> list[dict]:
    """Trials to re-converge after every switch, three-factor vs FORCE, for three per-trial
    measures of ``history`` (from :meth:`~neurosim.examples.what_when_learner.WhatWhenLearner.train`): "magnitude" (probability
    error), "timing" (relative peak-time error) and "shape" (relative RMS error of the whole
    prediction).

    Two criteria, per method and measure, both on the ``window``-trial running mean after the
    switch and counted to the window's last trial (None: not within the block):

    * ``trials_to_reconverge``: it first falls to ``factor`` × the method's own mean over the
      ``before`` trials before the switch (back to its own pre-switch level). A method that
      was poor before the switch gets an easy target here;
    * ``trials_to_common_level``: it first falls to ``factor`` × the better of the two methods'
      pre-switch means (one target for both: back to the best level reached before).

    Also reported: the pre-switch level and the mean over the first 10 and over the last
    ``window`` trials of the block after the switch."""
    window = check_int("window", window, minimum=1)
    before = check_int("before", before, minimum=1)
    factor = check_number("factor", factor, positive=True)
    names = {"magnitude": ("magnitude_error", "force_magnitude_error"),
             "timing": ("timing_error", "force_timing_error"), "shape": ("error", "force_error")}
    ends = list(task.switch_trials[1:]) + [task.n_trials]
    out = []
    for s, end in zip(task.switch_trials, ends):
        entry = {"switch_trial": int(s),
                 "criterion": f"{window}-trial running mean <= {factor:g} x own mean of the {before} trials before "
                              f"the switch (trials_to_reconverge) or <= {factor:g} x the lower of the two methods' "
                              f"means (trials_to_common_level)"}
        for measure, keys in names.items():
            errors = {m: np.asarray(history[k], dtype=np.float64)[:end]
                      for m, k in zip(("three_factor", "force"), keys)}
            levels = {m: float(np.mean(e[max(0, s - before):s])) for m, e in errors.items()}
            common = factor * np.nanmin(list(levels.values()))
            entry[measure] = {}
            for method, e in errors.items():
                entry[measure][method] = {
                    "pre_switch": levels[method], "first10": float(np.mean(e[s:s + 10])),
                    "last": float(np.mean(e[max(s, end - window):end])),
                    "trials_to_reconverge": trials_to_converge(e, s, threshold=factor * levels[method], window=window),
                    "trials_to_common_level": trials_to_converge(e, s, threshold=common, window=window)}
        out.append(entry)
    return out


def _cos(u, v, metric=None) -> float:
    if metric is not None:
        return float(u @ metric @ v / np.sqrt(max((u @ metric @ u) * (v @ metric @ v), 1e-300)))
    return float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-300))


def subspace_report(what_w, when_w, states=None, *, force_w=None, seed=0, n_random: int = 200) -> dict:
    """Geometry of the "what" (``[2, n]``) and "when" (``[2, n]``) weight vectors.

    * ``cos``: Euclidean cosines what_c vs when_c (c = A, B), within-type cosines, and the
      principal angles (degrees) between span(what) and span(when);
    * ``random_abs_cos``: mean |cosine| of random Gaussian vector pairs (about sqrt(2/(pi n)):
      near-orthogonality is trivial in high dimension in this metric);
    * with ``states [samples, n]``, the same in the activity metric ``C = E[x x^T]``
      (``cos_C(u, v)``: the uncentred correlation of the two readouts' outputs over the
      recorded activity), with the random baseline in that metric — the meaningful comparison,
      because readouts only ever see the low-dimensional space the activity spans;
    * baselines for the principal angles in each metric: ``random_principal_angles_deg`` (mean
      over random pairs of 2-D subspaces) and, with ``force_w [2, n]``,
      ``force_vs_what_principal_angles_deg`` (FORCE learns the combined target, what x when).
    """
    from scipy.linalg import subspace_angles

    what_w, when_w = np.asarray(what_w, dtype=np.float64), np.asarray(when_w, dtype=np.float64)
    rng = as_rng(seed)
    n = what_w.shape[1]
    rand = rng.standard_normal((n_random, 2, n))

    def report(metric):
        r = {f"what_{a}_vs_when_{a}": _cos(what_w[i], when_w[i], metric) for i, a in enumerate(CHANNELS)}
        r.update({"what_A_vs_when_B": _cos(what_w[0], when_w[1], metric),
                  "what_B_vs_when_A": _cos(what_w[1], when_w[0], metric),
                  "what_A_vs_what_B": _cos(what_w[0], what_w[1], metric),
                  "when_A_vs_when_B": _cos(when_w[0], when_w[1], metric)})
        r["mean_abs_what_vs_when"] = float(np.mean([abs(r[k]) for k in ("what_A_vs_when_A", "what_B_vs_when_B",
                                                                       "what_A_vs_when_B", "what_B_vs_when_A")]))
        r["random_abs_cos"] = float(np.mean([abs(_cos(a, b, metric)) for a, b in rand]))
        if metric is None:
            L = np.eye(n)
        else:
            L = np.linalg.cholesky(metric + 1e-12 * np.trace(metric) / n * np.eye(n))  # C-inner product

        def angles(a, b):
            return np.degrees(subspace_angles(L.T @ a.T, L.T @ b.T)).tolist()

        r["principal_angles_deg"] = angles(what_w, when_w)
        r["random_principal_angles_deg"] = np.mean([angles(rand[i], rand[-1 - i]) for i in range(n_random // 2)],
                                                   axis=0).tolist()
        if force_w is not None:
            r["force_vs_what_principal_angles_deg"] = angles(what_w, np.asarray(force_w, dtype=np.float64))
        return r

    out = {"euclidean": report(None)}
    if states is not None:
        X = np.asarray(states, dtype=np.float64)
        out["activity"] = report(X.T @ X / len(X))
        ev = np.linalg.eigvalsh(X.T @ X / len(X))
        out["activity_participation_ratio"] = float(ev.sum() ** 2 / max((ev**2).sum(), 1e-300))
    return out

