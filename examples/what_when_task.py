"""The what-and-when task (Yamada & Chao 2025): cues, trials and blocks of switching statistics.

A trial starts with one of ``n_cues`` cues; after cue ``k`` event A comes at ``latency_a[k]`` ms
with probability ``p_a[k]``, otherwise event B at ``latency_b[k]`` ms. These statistics hold for
a block of trials, then switch (timing, probability or both). Times are ms after cue onset.
The learner is in :mod:`neurosim.examples.what_when_learner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from neurosim.validation import as_real_array, as_rng, check_int, check_number

#: the two event channels, in the order of every ``[..., 2]`` array
CHANNELS = ("A", "B")


@dataclass(frozen=True)
class Block:
    """Statistics that hold for ``n_trials`` consecutive trials.

    Attributes
    ----------
    p_a : ``[n_cues]`` probability of event A after each cue (B otherwise), each in [0, 1].
    latency_a, latency_b : ``[n_cues]`` ms after cue onset at which A / B comes.
    n_trials : trials in the block (>= 1).
    """

    p_a: tuple
    latency_a: tuple
    latency_b: tuple
    n_trials: int


class Trial(NamedTuple):
    """One trial: its index in the run, its block, the cue, the event that came (0 = A, 1 = B)
    and the event's time (ms after cue onset)."""

    index: int
    block: int
    cue: int
    event: int
    event_ms: float


def _per_cue(name, value, n_cues):
    arr = as_real_array(name, value)
    if arr.ndim == 0:
        arr = np.full(n_cues, float(arr))
    if arr.ndim != 1 or arr.size != n_cues:
        raise ValueError(f"{name} must be a number or one value per cue ({n_cues}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class WhatWhenTask:
    """Cue -> (A at ``latency_a`` with probability ``p_a``, else B at ``latency_b``), in blocks.

    Parameters
    ----------
    blocks : sequence of :class:`Block` (or dicts with its fields); every block has the same
        number of cues.
    trial_ms : length of a trial, ms (every latency must be < ``trial_ms``).
    iti_ms : silent interval after each trial, ms (>= 0), for the reservoir to settle.
    """

    blocks: tuple
    trial_ms: float = 250.0
    iti_ms: float = 200.0

    def __post_init__(self):
        trial_ms = check_number("trial_ms", self.trial_ms, positive=True)
        check_number("iti_ms", self.iti_ms, nonnegative=True)
        if not len(self.blocks):
            raise ValueError("blocks must hold at least one block")
        blocks = []
        n_cues = None
        for i, b in enumerate(self.blocks):
            b = Block(**b) if isinstance(b, dict) else b
            if not isinstance(b, Block):
                raise TypeError(f"blocks[{i}] must be a Block or a dict of its fields, got {type(b).__name__}")
            p = np.atleast_1d(as_real_array(f"blocks[{i}].p_a", b.p_a))
            n_cues = p.size if n_cues is None else n_cues
            if p.ndim != 1 or p.size != n_cues or p.size == 0:
                raise ValueError(f"blocks[{i}].p_a must hold one probability per cue ({n_cues}), got shape {p.shape}")
            if not np.all((p >= 0) & (p <= 1)):
                raise ValueError(f"blocks[{i}].p_a: probabilities must lie in [0, 1], got {p.tolist()}")
            la = _per_cue(f"blocks[{i}].latency_a", b.latency_a, n_cues)
            lb = _per_cue(f"blocks[{i}].latency_b", b.latency_b, n_cues)
            for name, lat in (("latency_a", la), ("latency_b", lb)):
                if min(lat) <= 0 or max(lat) >= trial_ms:
                    raise ValueError(f"blocks[{i}].{name} must lie in (0, trial_ms = {trial_ms:g}) ms, got {list(lat)}")
            blocks.append(Block(tuple(float(v) for v in p), la, lb, check_int(f"blocks[{i}].n_trials", b.n_trials,
                                                                           minimum=1)))
        object.__setattr__(self, "blocks", tuple(blocks))

    @classmethod
    def switching(cls, p_a: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), latency_a=60.0, latency_b=120.0, *,
                  n_trials: int = 80, switches: Sequence[str] = ("latency",), new_latency_a=None,
                  new_latency_b=None, new_p_a=None, trial_ms: float = 250.0, iti_ms: float = 200.0) -> "WhatWhenTask":
        """Blocks of ``n_trials`` trials; after each block the next entry of ``switches``
        ("latency", "probability" or "both") changes the statistics: latencies become
        ``new_latency_a`` / ``new_latency_b`` (then back, alternately), probabilities become
        ``new_p_a`` (default ``1 - p_a``; then back). One block per switch plus the first."""
        p_a = tuple(np.atleast_1d(np.asarray(p_a, dtype=np.float64)).tolist())
        lat = [latency_a, latency_b]
        new_lat = [latency_a if new_latency_a is None else new_latency_a,
                   latency_b if new_latency_b is None else new_latency_b]
        new_p = tuple(1.0 - v for v in p_a) if new_p_a is None else tuple(np.atleast_1d(new_p_a).tolist())
        current_p, current_lat = p_a, list(lat)
        blocks = [dict(p_a=current_p, latency_a=current_lat[0], latency_b=current_lat[1], n_trials=n_trials)]
        for i, s in enumerate(switches):
            if s not in ("latency", "probability", "both"):
                raise ValueError(f"switches[{i}] must be 'latency', 'probability' or 'both', got {s!r}")
            if s in ("latency", "both"):
                current_lat = list(new_lat) if current_lat == list(lat) else list(lat)
            if s in ("probability", "both"):
                current_p = new_p if current_p == p_a else p_a
            blocks.append(dict(p_a=current_p, latency_a=current_lat[0], latency_b=current_lat[1], n_trials=n_trials))
        return cls(tuple(blocks), trial_ms=trial_ms, iti_ms=iti_ms)

    @property
    def n_cues(self) -> int:
        return len(self.blocks[0].p_a)

    @property
    def n_trials(self) -> int:
        return sum(b.n_trials for b in self.blocks)

    @property
    def switch_trials(self) -> list[int]:
        """Index of the first trial of every block after the first."""
        return list(np.cumsum([b.n_trials for b in self.blocks])[:-1].astype(int))

    def trials(self, seed=None) -> list[Trial]:
        """The seeded sequence of trials: within each block the cues come in shuffled rounds
        (every cue once per round, so all cues are seen equally often), the event is A with
        probability ``p_a[cue]``."""
        rng = as_rng(seed)
        out = []
        for bi, b in enumerate(self.blocks):
            cues = np.concatenate([rng.permutation(self.n_cues) for _ in range(-(-b.n_trials // self.n_cues))])
            for cue in cues[: b.n_trials]:
                event = 0 if rng.random() < b.p_a[cue] else 1
                t = b.latency_a[cue] if event == 0 else b.latency_b[cue]
                out.append(Trial(len(out), bi, int(cue), event, float(t)))
        return out

    def expected_target(self, block: int, cue: int, times, width_ms: float) -> np.ndarray:
        """The ideal prediction ``[len(times), 2]``: ``p(c | cue) × bump(t - latency_c)`` for
        c = A, B (``times`` in ms after cue onset, ``width_ms`` the bump's standard deviation)."""
        b = self.blocks[block]
        t = np.asarray(times, dtype=np.float64)
        return np.stack([b.p_a[cue] * bump(t, b.latency_a[cue], width_ms),
                         (1 - b.p_a[cue]) * bump(t, b.latency_b[cue], width_ms)], axis=1)


def bump(t, center_ms: float, width_ms: float) -> np.ndarray:
    """Gaussian timing bump of height 1 at ``center_ms`` with standard deviation ``width_ms`` (ms)."""
    return np.exp(-0.5 * ((np.asarray(t, dtype=np.float64) - center_ms) / width_ms) ** 2)

