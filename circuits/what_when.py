"""Joint "what" and "when" prediction in a spiking reservoir (Yamada & Chao 2025).

The task: a trial starts with one of ``n_cues`` cues; after cue ``k`` event A comes at
``latency_a[k]`` ms with probability ``p_a[k]``, otherwise event B at ``latency_b[k]`` ms.
These statistics hold for a block of trials, then switch (timing, probability or both).

The learner (:class:`WhatWhenLearner`) reads an :class:`IzhikevichReservoir` with, per event
channel ``c`` in (A, B):

* a "when" readout on the filtered spike trains (optionally also slow traces of them,
  ``slow_ms``), learnt ONLINE inside the trial at every time step by
  :class:`~neurosim.plasticity.ThreeFactorHebbian` (presynaptic activity × timing error ×
  attention gate). Its target is a Gaussian bump at the event time; the gate ``G_c(t)`` is
  open only on trials where ``c`` occurred (over the whole trial, or with ``gate_ms`` only
  inside ``c``'s latency window), so each channel learns *when* its event comes, whatever its
  probability;
* a "what" readout, learnt OFFLINE at the end of each trial from the trial's average early
  post-cue activity × identity error (delta rule towards 1 if ``c`` occurred, else 0): it
  converges to ``p(c | cue)``. Its input is centred (a running mean of past trials' what-states
  is subtracted) and carries a constant bias: the post-cue activity of different cues shares a
  large common part (cosine ~0.4 between cues), and a delta rule on the raw states lets
  one cue's updates move the others' predictions.

The channel's prediction is ``what_c × when_c(t)``: a bump at the expected time whose height
is the event's probability. A :class:`~neurosim.plasticity.FORCE` readout learns the same
combined target online from the same reservoir states, never reset: the baseline that adapts
slowly after a switch.

::

    from neurosim.circuits.reservoir import IzhikevichReservoir
    from neurosim.circuits.what_when import WhatWhenTask, WhatWhenLearner

    task = WhatWhenTask.switching(p_a=(0.1, 0.5, 0.9), latency_a=60.0, latency_b=120.0,
                                  n_trials=60, switch="latency", new_latency_a=100.0)
    res = IzhikevichReservoir(500, n_inputs=task.n_cues, **WhatWhenLearner.RESERVOIR_DEFAULTS, seed=0)
    learner = WhatWhenLearner(res, task)
    history = learner.train(task.trials(seed=0))
    test = learner.test(block=-1)            # learning off, cue only
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

from neurosim.plasticity import FORCE, Readout, ThreeFactorHebbian
from neurosim.validation import as_real_array, as_rng, check_flag, check_int, check_number

from .reservoir import IzhikevichReservoir

CHANNELS = ("A", "B")
WHAT_RULES = ("adaptive", "constant")


# ---------------------------------------------------------------- the task
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


# ---------------------------------------------------------------- the learner
class _WhenAndForce(Readout):
    """Two readouts on one state, so one reservoir run trains both: outputs ``[when_A, when_B,
    force_A, force_B]``. The gate reaches only the three-factor rule; FORCE learns on every
    ``force_every``-th call.

    Both read the features of the reservoir's filtered spike trains ``x`` (``[n]``, fast
    synaptic currents): ``x`` divisively normalised and, with ``slow_decay`` (``exp(-dt /
    tau_slow)``), a slow trace ``s <- a s + (1 - a) x`` of it, normalised the same way, side by
    side (``[2n]``). The reservoir calls :meth:`predict` once per step (advancing the trace)
    and then :meth:`partial_fit` with the same ``x``; :meth:`reset_trace` starts a trial."""

    def __init__(self, n: int, when: ThreeFactorHebbian, force: FORCE | None, force_every: int,
                 state_floor: float | None, slow_decay: float | None):
        super().__init__(n, 4)
        self.when, self.force, self.force_every, self.floor = when, force, force_every, state_floor
        self.slow_decay = slow_decay
        self.slow = np.zeros(n)
        self._last = (None, None)  # (x, its features) of the latest predict call
        self.calls = 0

    @property
    def n_features(self) -> int:
        return self.n_inputs * (1 if self.slow_decay is None else 2)

    def normalized(self, x):
        """Divisive normalisation ``x / (rms(x) + floor)`` (``[..., n]``), or ``x`` when off."""
        x = np.asarray(x, dtype=np.float64)
        if self.floor is None:
            return x
        return x / (np.sqrt(np.mean(x * x, axis=-1, keepdims=True)) + self.floor)

    def features(self, states) -> np.ndarray:
        """Features ``[T, n_features]`` of a whole trial's states ``[T, n]`` (the slow trace
        starting from zero at the trial's first step, as online)."""
        x = np.asarray(states, dtype=np.float64)
        if self.slow_decay is None:
            return self.normalized(x)
        from scipy.signal import lfilter

        a = self.slow_decay
        return np.concatenate([self.normalized(x), self.normalized(lfilter([1 - a], [1, -a], x, axis=0))], axis=-1)

    def reset_trace(self):
        self.slow[:] = 0.0

    def reset_eligibility(self):  # marks this readout as taking a gate (the reservoir checks for it)
        self.when.reset_eligibility()

    def _step_features(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self.slow_decay is None:
            return self.normalized(x)
        a = self.slow_decay
        self.slow = a * self.slow + (1 - a) * x
        return np.concatenate([self.normalized(x), self.normalized(self.slow)])

    def predict(self, x):
        f = self._step_features(x)
        self._last = (x, f)
        z_when = self.when.predict(f)
        z_force = np.zeros_like(z_when) if self.force is None else self.force.predict(f)
        return np.concatenate([z_when, z_force], axis=-1)

    def partial_fit(self, x, target=None, *, gate=None, dt=1.0, **kw):
        if self._last[0] is not x:
            raise RuntimeError("partial_fit must follow predict on the same state (one call each per step)")
        f = self._last[1]
        target = np.asarray(target, dtype=np.float64)
        gate = np.broadcast_to(np.asarray(1.0 if gate is None else gate, dtype=np.float64), (4,))
        if np.any(gate[:2] != 0):  # the gate is zero almost everywhere: skip the no-op updates
            self.when.partial_fit(f, target[:2], gate=gate[:2], dt=dt)
        if self.force is not None and gate[2] != 0 and self.calls % self.force_every == 0:
            self.force.partial_fit(f, target[2:])
        self.calls += 1
        return self


@dataclass
class TrialRecord:
    """What one trial produced (times are ms after cue onset, one sample per ms step).

    Attributes
    ----------
    trial : the :class:`Trial`.
    times : ``[T]`` ms.
    when : ``[T, 2]`` the when readouts' outputs (before each step's update).
    what : ``[2]`` the what readouts' predictions for this trial (before the trial's update).
    output : ``[T, 2]`` the channels' predictions ``what × when``.
    force : ``[T, 2]`` the FORCE baseline's outputs (zeros without a baseline).
    target : ``[T, 2]`` the realised target (bump at the event time in the event's channel).
    ideal : ``[T, 2]`` the expected target ``p(c | cue) × bump(t - latency_c)``.
    prediction, force_prediction : ``[T, 2]`` what the learner predicted for this trial BEFORE
        learning on it: the trial's states read with the weights of the trial's start (the
        online ``output`` / ``force`` are read while the weights change inside the trial, so
        they partly track the realised target).
    error, force_error : relative RMS error of ``prediction`` / ``force_prediction`` against ``ideal``.
    magnitude_error, force_magnitude_error : ``sum_c p_c |m_c - p_c|`` (probability units), with
        ``m_c`` the peak of the channel's prediction within ``latency_c ± 20`` ms and ``p_c`` its
        probability (:func:`trial_metrics`).
    timing_error, force_timing_error : ``sum_c p_c |peak_c - latency_c| / latency_c`` (relative),
        ``peak_c`` the time of the channel's largest prediction in the whole trial (three-factor:
        the "when" output; FORCE: its output).
    states : ``[T, n]`` filtered spike trains (only when recorded).
    result : the engine's RunResult of the trial (spikes).
    """

    trial: Trial
    times: np.ndarray
    when: np.ndarray
    what: np.ndarray
    output: np.ndarray
    force: np.ndarray
    target: np.ndarray
    ideal: np.ndarray
    prediction: np.ndarray
    force_prediction: np.ndarray
    error: float
    force_error: float
    magnitude_error: float
    force_magnitude_error: float
    timing_error: float
    force_timing_error: float
    states: np.ndarray | None = None
    result: object = field(default=None, repr=False)


def relative_error(output, ideal) -> float:
    """``sqrt(mean((output - ideal)^2) / mean(ideal^2))`` (0: perfect, 1: as bad as predicting 0)."""
    return float(np.sqrt(np.mean((output - ideal) ** 2) / max(np.mean(ideal**2), 1e-12)))


class WhatWhenLearner:
    """Three-factor "what" and "when" readouts (and a FORCE baseline) on an Izhikevich reservoir.

    Parameters
    ----------
    reservoir : :class:`~neurosim.circuits.IzhikevichReservoir` with ``n_inputs >= task.n_cues``
        (input channel ``k`` carries cue ``k``).
    task : the :class:`WhatWhenTask` (its trial length, ITI and cue count are used).
    cue_amplitude : peak of the cue current (times the input encoders' weights).
    cue_tau_ms : the cue current decays as ``exp(-t / cue_tau_ms)`` from trial start (ms; 0: a
        rectangular pulse of ``cue_ms``). A decaying cue drives the cue's neurons for times that
        depend on their input weight, which gives the reservoir a reproducible time code
        hundreds of ms long; a brief pulse dies out within ~60 ms in this reservoir.
    cue_ms : duration of the cue current, ms (default: the whole trial).
    bump_ms : standard deviation of the "when" target bump, ms.
    gate_ms : half-width of the latency window, ms: the gate of channel ``c`` is open for
        ``|t - t_event| <= gate_ms`` on trials where ``c`` occurred. None: the whole trial.
    when_rate : the "when" step: each 1 ms update corrects about this fraction of the error on
        the current state (``learning_rate = when_rate / n`` on the normalised state).
    what_rule : how the "what" step size is set, per trial:

        * "constant" (default): ``what_rate`` on every trial. Per cue the prediction is then about an
          exponential average of the outcomes over the last ``~1 / what_rate`` trials of that
          cue: smaller is less noisy, larger re-adapts faster after a probability switch;
        * "adaptive": a surprise-modulated rate, the third factor of the "what"
          update (Pearce-Hall stimulus-specific associability in the form of a change-point
          count; cf. volatility-modulated learning rates, Behrens et al. 2007). Per cue ``q``
          (associability belongs to the stimulus, as in Pearce & Hall 1980: the trial's cue
          indexes it) the learner counts ``k_q``, the trials of ``q`` since its statistics last
          changed, and steps with ``rate = max(what_rate_min, 1 / (k_q + 1))``: the prediction
          is the running MEAN of all outcomes since the change (the least-noisy estimate)
          until the floor. A change is detected from the signed surprise ``delta = y_A - z_A``
          (outcome minus prediction of channel A, before the update): its leaky mean
          ``d_q <- d_q + (delta - d_q) / what_change_window`` is compared with its expected
          spread under the prediction, ``what_change_z * sqrt(p (1 - p) / (2 m - 1))``
          (``p = z_A`` clipped to [0.1, 0.9], ``m = what_change_window``); beyond it ``k_q`` is
          set back to ``what_reset_k`` (large steps again) and ``d_q`` to 0, otherwise ``k_q``
          grows by one.
          Measured by replaying the learning on recorded states (n = 500, 5 cues, 100-trial
          blocks, seeds 1-4): it re-adapts faster after the probability reversal (mean
          probability error of the what estimate over the 25 trials after it 0.31 vs 0.38 for
          "constant") but is not more precise: Pearson r after the reversal min 0.887 vs 0.903
          over the four seeds, and worse in the first block on two seeds (the per-cue
          estimates are only 20 outcomes each; false change detections cost more than they
          save). So it is an option, not the default.
    what_rate : the constant rule's step: the fraction of the identity error corrected for the
        trial's input (normalised to unit length).
    what_bias : the constant input that the "what" readout reads beside the centred what-state
        (input ``[x_c / |x_c|, b] / sqrt(1 + b^2)``). "auto": ``1 / sqrt(n_cues - 1)``, which
        makes the inputs of different cues orthogonal when their centred states form a regular
        simplex (measured: cosines -0.22 .. -0.33 between cues for 5 cues, 0.99 between trials
        of one cue), so one cue's update leaves the others' predictions alone. With b = 1 they
        overlap by ~3/8: measured over seeds 1-4 (n = 500, constant rule), Pearson r after the
        reversal min 0.838 -> 0.903, the what estimate's error over the last 50 trials 0.135 -> 0.095.
    what_rate_min, what_change_window, what_change_z, what_reset_k : the adaptive rule's floor
        (rate), surprise window (trials of the cue), threshold (standard deviations) and the
        count after a detected change (see ``what_rule``).
    what_window_ms : the "what" readout reads the mean filtered activity over the first
        ``what_window_ms`` ms after cue onset (cue-specific, available early in the trial).
    what_center_trials : the "what" input is the what-state minus a running mean of past
        trials' what-states (time constant this many trials; 0: no centring), normalised to
        unit length, plus a constant bias input. Centring removes the activity common to all
        cues, so the rule learns the cue differences and the bias the base rate; without it
        one cue's updates move the other cues' predictions (measured: Pearson r of the "what"
        predictions after a probability reversal 0.90 -> 0.96 at what_rate 0.2), and the what
        weights align with the dominant activity direction that the "when" readouts also use.
    force_regularization : FORCE's lambda (``P(0) = I / lambda``); "auto": ``n``, the value of
        the three tried (1, 10, n) that gave FORCE its lowest pre-switch error (see the code
        comment); None: no FORCE baseline.
    force_every : FORCE updates every this many ms.
    state_floor : the "when" and FORCE readouts read the divisively normalised state
        ``x / (rms(x) + state_floor)`` (1/ms). The reservoir's activity falls by an order of
        magnitude over a trial (the decaying cue); without normalisation an update on a late,
        quiet state moves the output on the early, loud states far more than on its own,
        and the per-step rule cannot converge. None: read ``x`` as it is.
    slow_ms : the "when" and FORCE readouts also read a slow trace of the filtered spike trains
        (time constant ``slow_ms``, like NMDA-type currents beside the fast 8 ms ones), normalised
        the same way: ``[fast, slow]``, ``2n`` features. The fast currents alone code time
        ambiguously: right after cue onset and late in the trial the same most-driven neurons
        are the only ones firing, and after normalisation the two states look alike, so the
        "when" output rises at onset too. The slow trace tells them apart (how long the
        activity has lasted). Measured with the best linear readout (ridge on 20 trials per cue,
        peak time on 10 held-out trials, n = 300): mean relative peak error for a 60 ms latency
        0.26 -> 0.048, 100 ms 0.088 -> 0.041, 160 ms 0.070 -> 0.037. But the online rule does
        worse with it (the slow features change little from one ms to the next, so the per-step
        rule learns broad bumps and moves them slowly): at the example's default scale (n = 500,
        seeds 1, 2) the mean relative peak error 0.060 / 0.102 without, 0.121 / 0.124 with
        ``slow_ms = 50``, and re-convergence after the latency switch 15 / 21 vs 86 / 80 trials.
        So the default is None: fast currents only.
    feedback_weight : > 0 feeds the two "when" predictions back into the reservoir through
        random encoders uniform in ``[-feedback_weight, feedback_weight]`` (the paper's
        feedback); this replaces the reservoir's ``feedback_encoders``. 0 (default): no feedback.
    seed : for the feedback encoders.
    """

    #: reservoir settings that give a reproducible post-cue trajectory (see ``cue_tau_ms``); the
    #: readout's synaptic filter decays in 8 ms (not 20): consecutive states are less alike, which
    #: the local rule (no whitening, unlike FORCE) resolves into sharper timing (measured at
    #: n = 500: "when" peaks' mean relative error 0.058 -> 0.042, peak heights 0.67 -> 0.80)
    RESERVOIR_DEFAULTS = dict(noise_std=0.1, w_exc=0.5, w_inh=2.0, input_weight=40.0, input_fraction=0.3,
                              tau_decay=8.0)

    def __init__(self, reservoir, task: WhatWhenTask, *, cue_amplitude: float = 1.0, cue_tau_ms: float = 150.0,
                 cue_ms: float | None = None, bump_ms: float = 20.0, gate_ms: float | None = None,
                 when_rate: float = 0.05, what_rule: str = "constant", what_rate: float = 0.2,
                 what_rate_min: float = 0.12, what_change_window: float = 5.0, what_change_z: float = 1.5,
                 what_reset_k: float = 1.0, what_bias="auto", what_window_ms: float = 30.0,
                 what_center_trials: float = 20.0, force_regularization="auto", force_every: int = 1,
                 state_floor: float | None = 1e-3, slow_ms: float | None = None, feedback_weight: float = 0.0,
                 backend: str = "numba", seed=None):
        if not isinstance(task, WhatWhenTask):
            raise TypeError(f"task must be a WhatWhenTask, got {type(task).__name__}")
        if not isinstance(reservoir, IzhikevichReservoir):
            raise TypeError(f"reservoir must be an IzhikevichReservoir, got {type(reservoir).__name__}")
        if reservoir.n_inputs < task.n_cues:
            raise ValueError(f"the reservoir has {reservoir.n_inputs} input channels but the task has {task.n_cues} "
                             "cues: build it with n_inputs >= n_cues")
        self.res, self.task = reservoir, task
        self.dt = reservoir.dt
        if not math.isclose(self.dt, 1.0):
            raise ValueError(f"the what-when learner works at 1 ms resolution: reservoir dt must be 1 ms, "
                             f"got {self.dt}")
        self.cue_amplitude = check_number("cue_amplitude", cue_amplitude)
        self.cue_tau_ms = check_number("cue_tau_ms", cue_tau_ms, nonnegative=True)
        self.cue_ms = task.trial_ms if cue_ms is None else check_number("cue_ms", cue_ms, positive=True)
        self.bump_ms = check_number("bump_ms", bump_ms, positive=True)
        self.gate_ms = None if gate_ms is None else check_number("gate_ms", gate_ms, positive=True)
        self.what_window_ms = check_number("what_window_ms", what_window_ms, positive=True)
        if self.what_window_ms > task.trial_ms:
            raise ValueError(f"what_window_ms ({what_window_ms}) must be <= trial_ms ({task.trial_ms})")
        n = reservoir.n
        # On the normalised state (rms ~ 1, so |x|^2 ~ n) a plain step lr = when_rate / n corrects
        # ~when_rate of the error; quiet states (below the floor) take proportionally smaller steps.
        # On the raw state the rule normalises each step itself (normalize=True).
        floor = None if state_floor is None else check_number("state_floor", state_floor, nonnegative=True)
        self.slow_ms = None if slow_ms is None else check_number("slow_ms", slow_ms, positive=True)
        m = n if self.slow_ms is None else 2 * n  # readout features: fast (and slow) currents
        self.when = ThreeFactorHebbian(m, 2, learning_rate=check_number("when_rate", when_rate, nonnegative=True) / m,
                                       normalize=floor is None)
        # input [centred what-state / |.|, b] / sqrt(1 + b^2): unit length, so a step of `rate` (lr = 1, the
        # modulatory factor M = rate x identity error) corrects that fraction of the error
        if what_rule not in WHAT_RULES:
            raise ValueError(f"what_rule must be one of {WHAT_RULES}, got {what_rule!r}")
        self.what_rule = what_rule
        self.what_rate = check_number("what_rate", what_rate, nonnegative=True)
        self.what_rate_min = check_number("what_rate_min", what_rate_min, nonnegative=True)
        if self.what_rate_min > 1:
            raise ValueError(f"what_rate_min must lie in [0, 1], got {what_rate_min}")
        self.what_change_window = check_number("what_change_window", what_change_window, positive=True)
        if self.what_change_window < 1:
            raise ValueError(f"what_change_window must be >= 1 trial, got {what_change_window}")
        self.what_change_z = check_number("what_change_z", what_change_z, positive=True)
        self.what_reset_k = check_number("what_reset_k", what_reset_k, nonnegative=True)
        if isinstance(what_bias, str) and what_bias == "auto":
            # the centred cue states form a near-regular simplex (cosines ~ -1 / (n_cues - 1)
            # between cues, measured): a bias of this size makes the cues' inputs orthogonal, so an
            # update for one cue leaves the others' predictions alone (bias 1: they move by ~3/8 of it)
            what_bias = 1.0 / math.sqrt(max(task.n_cues - 1, 1))
        self.what_bias = check_number("what_bias", what_bias, nonnegative=True)
        self.what = ThreeFactorHebbian(n + 1, 2, learning_rate=1.0)
        self._cue_k = np.zeros(task.n_cues)          # trials of each cue since its last detected change
        self._cue_surprise = np.zeros(task.n_cues)   # leaky mean of the signed surprise per cue
        self.what_center_trials = check_number("what_center_trials", what_center_trials, nonnegative=True)
        if 0 < self.what_center_trials < 1:
            raise ValueError(f"what_center_trials must be 0 (off) or >= 1 trial, got {what_center_trials}")
        self._what_mean, self._what_seen = np.zeros(n), 0
        if isinstance(force_regularization, str) and force_regularization == "auto":
            # FORCE is exact RLS (stable for any lambda); lambda = n on the normalised state
            # (|x|^2 ~ n) gave it its best pre-switch error (measured at n = 500, seed 1, relative
            # shape error over trials 80-100: lambda 1: 0.65, 10: 0.62, n: 0.59; probability
            # error 0.13 for all three), so the baseline is the best-tuned FORCE, never reset
            force_regularization = float(n)
        self.force = None if force_regularization is None else FORCE(m, 2, regularization=force_regularization)
        slow_decay = None if self.slow_ms is None else math.exp(-self.dt / self.slow_ms)
        self._joint = _WhenAndForce(n, self.when, self.force, check_int("force_every", force_every, minimum=1), floor,
                                    slow_decay)
        self.feedback = check_number("feedback_weight", feedback_weight, nonnegative=True) > 0
        if self.feedback:
            enc = as_rng(seed).uniform(-feedback_weight, feedback_weight, (n, 2))
            reservoir.feedback_encoders = np.concatenate([enc, np.zeros((n, 2))], axis=1)  # FORCE is not fed back
        self.backend = backend
        self.steps = reservoir.steps(task.trial_ms)
        self.times = np.arange(self.steps) * self.dt  # ms after cue onset of each sample's step

    # ---- one trial
    def cue_current(self, cue: int) -> np.ndarray:
        """``[T, n_inputs]`` input currents of a trial with cue ``cue``."""
        u = np.zeros((self.steps, self.res.n_inputs))
        on = self.times < self.cue_ms
        decay = np.exp(-self.times / self.cue_tau_ms) if self.cue_tau_ms > 0 else np.ones(self.steps)
        u[on, cue] = self.cue_amplitude * decay[on]
        return u

    def what_state(self, states) -> np.ndarray:
        """The "what" state: mean filtered activity of the first ``what_window_ms`` ms,
        normalised to unit length. ``states [T, n]`` -> ``[n]``."""
        k = max(1, int(round(self.what_window_ms / self.dt)))
        x = np.asarray(states[:k], dtype=np.float64).mean(axis=0)
        return x / max(float(np.linalg.norm(x)), 1e-12)

    def what_input(self, states, *, update: bool = False) -> np.ndarray:
        """The "what" readout's input ``[n + 1]``: the what-state minus the running mean of past
        trials' what-states, normalised, and a bias, all over sqrt(2) (unit length). ``update``:
        fold this trial's what-state into the running mean afterwards (training trials only)."""
        x = self.what_state(states)
        if self.what_center_trials > 0:
            xc = x - self._what_mean if self._what_seen else np.zeros_like(x)
            if update:
                self._what_seen += 1
                self._what_mean += (x - self._what_mean) / min(self._what_seen, self.what_center_trials)
            x = xc
        x = x / max(float(np.linalg.norm(x)), 1e-12)
        return np.append(x, self.what_bias) / math.sqrt(1.0 + self.what_bias**2)

    def what_step(self, trial: Trial, prediction) -> float:
        """The "what" step size for ``trial`` given the readout's ``prediction [2]`` before the
        update (see ``what_rule``); updates the cue's change-point count and surprise."""
        if self.what_rule == "constant":
            return self.what_rate
        q = trial.cue
        delta = (1.0 if trial.event == 0 else 0.0) - float(prediction[0])
        m = self.what_change_window
        self._cue_surprise[q] += (delta - self._cue_surprise[q]) / m
        p = min(max(float(prediction[0]), 0.1), 0.9)
        spread = math.sqrt(p * (1 - p) / (2 * m - 1))  # of the leaky mean of delta under the prediction
        if self._cue_k[q] >= 1 and abs(self._cue_surprise[q]) > self.what_change_z * spread:
            self._cue_k[q] = self.what_reset_k
            self._cue_surprise[q] = 0.0
        rate = max(self.what_rate_min, 1.0 / (self._cue_k[q] + 1.0))
        self._cue_k[q] += 1.0
        return rate

    def learn_what(self, x_what, trial: Trial) -> float:
        """The offline "what" update at the end of ``trial`` from its input ``x_what [n + 1]``:
        ``dW = rate * (onehot(event) - W x) x^T`` (``|x| = 1``). Returns the rate used."""
        z = self.what.predict(x_what)
        rate = self.what_step(trial, z)
        self.what.partial_fit(x_what, error=rate * (np.eye(2)[trial.event] - z), dt=1.0)
        return rate

    def readout_state(self) -> dict:
        """A copy of everything the (learning-off) prediction depends on: what/when weights and
        the what-input's running mean (see :meth:`replay_test`)."""
        return {"what": self.what.weights.copy(), "when": self.when.weights.copy(),
                "what_mean": self._what_mean.copy(), "what_seen": self._what_seen}

    def replay_test(self, records: Sequence[TrialRecord], readout: dict, block: int) -> list[TrialRecord]:
        """Test records (with ``states``) read again with an earlier :meth:`readout_state` and
        ``block``'s statistics: what a test at that time would have given (exact without
        feedback, where the states do not depend on the weights). Only ``what``, ``when``,
        ``output``, ``ideal`` and ``trial`` are filled in."""
        if self.feedback:
            raise ValueError("replay_test needs a learner without feedback (the states depend on the weights)")
        saved = self.readout_state()
        out = []
        try:
            self.what.weights[...], self.when.weights[...] = readout["what"], readout["when"]
            self._what_mean, self._what_seen = readout["what_mean"].copy(), readout["what_seen"]
            for rec in records:
                if rec.states is None:
                    raise ValueError("replay_test needs records with states (test(record_states=True))")
                what = self.what.predict(self.what_input(rec.states))
                when = self.features(rec.states) @ self.when.weights.T
                trial = rec.trial._replace(block=block)
                ideal = self.task.expected_target(block, trial.cue, rec.times, self.bump_ms)
                out.append(TrialRecord(trial, rec.times, when, what, what[None, :] * when, rec.force, rec.target,
                                       ideal, rec.prediction, rec.force_prediction, float("nan"), float("nan"),
                                       float("nan"), float("nan"), float("nan"), float("nan"), rec.states))
        finally:
            self.what.weights[...], self.when.weights[...] = saved["what"], saved["when"]
            self._what_mean, self._what_seen = saved["what_mean"], saved["what_seen"]
        return out

    @property
    def what_weights(self) -> np.ndarray:
        """``[2, n]`` the "what" readouts' weights on the neurons (without the bias weight)."""
        return self.what.weights[:, :-1]

    def features(self, states) -> np.ndarray:
        """What the "when" and FORCE readouts read: ``[T, n_features]`` from a trial's filtered
        spike trains ``states [T, n]`` (normalised fast currents, then slow traces; see ``slow_ms``)."""
        return self._joint.features(states)

    def in_feature_space(self, what_w) -> np.ndarray:
        """"what" weights ``[2, n]`` placed in the feature space ``[2, n_features]`` of the "when"
        readouts (zero on the slow traces, which the "what" readout does not read), so the two
        can be compared (:func:`subspace_report`)."""
        what_w = np.asarray(what_w, dtype=np.float64)
        return np.concatenate([what_w, np.zeros((what_w.shape[0], self._joint.n_features - what_w.shape[1]))], axis=1)

    def run_trial(self, trial: Trial, *, learn: bool = True, record_states: bool = False) -> TrialRecord:
        """Run one trial (then the ITI) on the reservoir; with ``learn`` the "when" readouts and
        FORCE learn online and the "what" readouts at the end."""
        learn, record_states = check_flag("learn", learn), check_flag("record_states", record_states)
        if not 0 <= trial.cue < self.task.n_cues:
            raise ValueError(f"trial.cue must be in [0, {self.task.n_cues}), got {trial.cue}")
        if trial.event not in (0, 1):
            raise ValueError(f"trial.event must be 0 (A) or 1 (B), got {trial.event}")
        if not 0 < trial.event_ms < self.task.trial_ms:
            raise ValueError(f"trial.event_ms must lie in (0, {self.task.trial_ms:g}) ms, got {trial.event_ms}")
        t = self.times
        target = np.zeros((self.steps, 4))
        target[:, trial.event] = target[:, 2 + trial.event] = bump(t, trial.event_ms, self.bump_ms)
        gate = np.zeros((self.steps, 4))
        gate[:, trial.event] = 1.0 if self.gate_ms is None else (np.abs(t - trial.event_ms) <= self.gate_ms)
        gate[:, 2:] = 1.0
        w_when0 = self.when.weights.copy()
        w_force0 = None if self.force is None else self.force.weights.copy()
        self._joint.reset_trace()
        run = self.res.run(self.task.trial_ms, readout=self._joint, target=target, gate=gate, learn=learn,
                           inputs=self.cue_current(trial.cue), feedback=self.feedback, record_states=True,
                           backend=self.backend, progress=False)
        states = run.states
        x_what = self.what_input(states, update=learn)
        what = self.what.predict(x_what)  # before this trial's update
        if learn:
            self.learn_what(x_what, trial)
        if self.task.iti_ms > 0:
            self.res.run(self.task.iti_ms, backend=self.backend, progress=False)
        when, force = run.outputs[:, :2], run.outputs[:, 2:]
        output = what[None, :] * when
        # the prediction before learning on this trial: the states read with the start weights
        x = self.features(states)
        when0 = x @ w_when0.T
        force0 = x @ w_force0.T if self.force is not None else np.zeros_like(when0)
        prediction = what[None, :] * when0
        ideal = self.task.expected_target(trial.block, trial.cue, t, self.bump_ms)
        b = self.task.blocks[trial.block]
        lat = (b.latency_a[trial.cue], b.latency_b[trial.cue])
        p = (b.p_a[trial.cue], 1.0 - b.p_a[trial.cue])
        mag, tim = trial_metrics(t, prediction, when0, lat, p)
        fmag, ftim = trial_metrics(t, force0, force0, lat, p) if self.force else (float("nan"),) * 2
        return TrialRecord(trial, t.copy(), when, what, output, force, target[:, :2], ideal, prediction, force0,
                           relative_error(prediction, ideal),
                           relative_error(force0, ideal) if self.force else float("nan"), mag, fmag, tim, ftim,
                           states if record_states else None, run.result)

    # ---- many trials
    def train(self, trials: Sequence[Trial], *, progress=None, keep: int = 0) -> dict:
        """Run ``trials`` with learning on. Returns ``{"error", "force_error", "magnitude_error",
        "force_magnitude_error", "timing_error", "force_timing_error": [n] (see
        :class:`TrialRecord`), "cue": [n], "block": [n], "snapshots": [{"trial", "what", "when",
        "force"}] (weights ``[2, n]`` after the last trial of every block), "records": [the last
        ``keep`` TrialRecords]}``."""
        from tqdm.auto import tqdm

        keys = ("error", "force_error", "magnitude_error", "force_magnitude_error", "timing_error",
                "force_timing_error")
        hist = {k: [] for k in keys}
        cues, blocks, records, snapshots = [], [], [], []
        bar = tqdm(trials, desc="what-when trials", unit="trial", disable=None if progress is None else not progress,
                   leave=False)
        for i, trial in enumerate(bar):
            rec = self.run_trial(trial, learn=True)
            for k in keys:
                hist[k].append(getattr(rec, k))
            cues.append(trial.cue)
            blocks.append(trial.block)
            if i >= len(trials) - keep:
                records.append(rec)
            if i + 1 == len(trials) or trials[i + 1].block != trial.block:
                snapshots.append({"trial": i + 1, "block": trial.block, "what": self.what_weights.copy(),
                                  "when": self.when.weights.copy(),
                                  "force": None if self.force is None else self.force.weights.copy(),
                                  "readout": self.readout_state()})
            if i % 10 == 0:
                bar.set_postfix(err=f"{np.mean(hist['error'][-10:]):.3f}",
                                force=f"{np.mean(hist['force_error'][-10:]):.3f}")
        bar.close()
        out = {k: np.array(v) for k, v in hist.items()}
        out.update(cue=np.array(cues), block=np.array(blocks), snapshots=snapshots, records=records)
        return out

    def test(self, block: int = -1, *, record_states: bool = False) -> list[TrialRecord]:
        """Learning off, cue only: one trial per cue with ``block``'s statistics (the records'
        ``target`` is that of event A; compare ``output`` with ``ideal``)."""
        bi = range(len(self.task.blocks))[block]
        b = self.task.blocks[bi]
        return [self.run_trial(Trial(-1, bi, k, 0, b.latency_a[k]), learn=False, record_states=record_states)
                for k in range(self.task.n_cues)]


# ---------------------------------------------------------------- measures
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
    measures of ``history`` (from :meth:`WhatWhenLearner.train`): "magnitude" (probability
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
