"""The what-and-when learner: three-factor "what" × "when" readouts and a FORCE baseline on an
Izhikevich reservoir (Yamada & Chao 2025). Its settings are :class:`WhatWhenConfig`; the task is
:mod:`neurosim.examples.what_when_task`, the measures :mod:`neurosim.examples.what_when_measures`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from neurosim.circuits.reservoir import IzhikevichReservoir
from neurosim.examples.what_when_config import WhatWhenConfig
from neurosim.examples.what_when_measures import trial_metrics
from neurosim.examples.what_when_task import Trial, WhatWhenTask, bump
from neurosim.plasticity import FORCE, Readout, ThreeFactorHebbian
from neurosim.validation import as_rng, check_flag

__all__ = ["WhatWhenConfig", "WhatWhenLearner", "TrialRecord", "relative_error"]


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

    Per event channel ``c`` in (A, B):

    * a "when" readout on the filtered spike trains (optionally also slow traces of them), learnt
      ONLINE inside the trial at every 1 ms step by
      :class:`~neurosim.plasticity.ThreeFactorHebbian` (presynaptic activity × timing error ×
      attention gate). Its target is a Gaussian bump at the event time; the gate ``G_c(t)`` is
      open only on trials where ``c`` occurred (over the whole trial, or with ``gate_ms`` only
      inside ``c``'s latency window), so each channel learns *when* its event comes, whatever
      its probability;
    * a "what" readout, learnt OFFLINE at the end of each trial from the trial's average early
      post-cue activity × identity error (delta rule towards 1 if ``c`` occurred, else 0): it
      converges to ``p(c | cue)``. Its input is centred and carries a constant bias (see
      :class:`WhatWhenConfig`).

    The channel's prediction is ``what_c × when_c(t)``: a bump at the expected time whose height
    is the event's probability. A :class:`~neurosim.plasticity.FORCE` readout learns the same
    combined target online from the same reservoir states, never reset: the baseline that adapts
    slowly after a switch.

    Parameters
    ----------
    reservoir : :class:`~neurosim.circuits.IzhikevichReservoir` with ``dt = 1`` ms and
        ``n_inputs >= task.n_cues`` (input channel ``k`` carries cue ``k``).
    task : the :class:`~neurosim.examples.what_when_task.WhatWhenTask` (its trial length, ITI
        and cue count are used).
    config : a :class:`WhatWhenConfig` (default: its defaults).
    backend : the engine backend of the reservoir runs ("numba", "numpy", "triton").
    seed : int, Generator or None, for the feedback encoders.

    ::

        from neurosim.circuits import IzhikevichReservoir
        from neurosim.examples.what_when_learner import WhatWhenConfig, WhatWhenLearner
        from neurosim.examples.what_when_task import WhatWhenTask

        task = WhatWhenTask.switching(p_a=(0.1, 0.5, 0.9), latency_a=60.0, latency_b=120.0,
                                      n_trials=60, switches=("latency",), new_latency_a=100.0)
        res = IzhikevichReservoir(500, n_inputs=task.n_cues, **WhatWhenLearner.RESERVOIR_DEFAULTS, seed=0)
        learner = WhatWhenLearner(res, task, WhatWhenConfig(gate_ms=40.0))
        history = learner.train(task.trials(seed=0))
        test = learner.test(block=-1)            # learning off, cue only
    """

    #: reservoir settings that give a reproducible post-cue trajectory (see ``cue_tau_ms``); the
    #: readout's synaptic filter decays in 8 ms (not 20): consecutive states are less alike, which
    #: the local rule (no whitening, unlike FORCE) resolves into sharper timing (benchmarks/RESULTS.md)
    RESERVOIR_DEFAULTS = dict(noise_std=0.1, w_exc=0.5, w_inh=2.0, input_weight=40.0, input_fraction=0.3,
                              tau_decay=8.0)

    def __init__(self, reservoir, task: WhatWhenTask, config: WhatWhenConfig | None = None, *,
                 backend: str = "numba", seed=None):
        config = WhatWhenConfig() if config is None else config
        if not isinstance(config, WhatWhenConfig):
            raise TypeError(f"config must be a WhatWhenConfig, got {type(config).__name__}")
        if not isinstance(task, WhatWhenTask):
            raise TypeError(f"task must be a WhatWhenTask, got {type(task).__name__}")
        if not isinstance(reservoir, IzhikevichReservoir):
            raise TypeError(f"reservoir must be an IzhikevichReservoir, got {type(reservoir).__name__}")
        if reservoir.n_inputs < task.n_cues:
            raise ValueError(f"the reservoir has {reservoir.n_inputs} input channels but the task has {task.n_cues} "
                             "cues: build it with n_inputs >= n_cues")
        self.res, self.task, self.config = reservoir, task, config
        self.dt = reservoir.dt
        if not math.isclose(self.dt, 1.0):
            raise ValueError(f"the what-when learner works at 1 ms resolution: reservoir dt must be 1 ms, "
                             f"got {self.dt}")
        if config.what_window_ms > task.trial_ms:
            raise ValueError(f"config.what_window_ms ({config.what_window_ms}) must be <= the task's trial_ms "
                             f"({task.trial_ms})")
        # the settings the methods read, resolved against the task and the reservoir
        self.cue_amplitude, self.cue_tau_ms = config.cue_amplitude, config.cue_tau_ms
        self.cue_ms = task.trial_ms if config.cue_ms is None else config.cue_ms
        self.bump_ms, self.gate_ms, self.slow_ms = config.bump_ms, config.gate_ms, config.slow_ms
        self.what_window_ms, self.what_center_trials = config.what_window_ms, config.what_center_trials
        self.what_rule, self.what_rate, self.what_rate_min = config.what_rule, config.what_rate, config.what_rate_min
        self.what_change_window, self.what_change_z = config.what_change_window, config.what_change_z
        self.what_reset_k = config.what_reset_k
        n = reservoir.n
        # On the normalised state (rms ~ 1, so |x|^2 ~ n) a plain step lr = when_rate / n corrects
        # ~when_rate of the error; quiet states (below the floor) take proportionally smaller steps.
        # On the raw state the rule normalises each step itself (normalize=True).
        m = n if self.slow_ms is None else 2 * n  # readout features: fast (and slow) currents
        self.when = ThreeFactorHebbian(m, 2, learning_rate=config.when_rate / m, normalize=config.state_floor is None)
        # input [centred what-state / |.|, b] / sqrt(1 + b^2): unit length, so a step of `rate` (lr = 1, the
        # modulatory factor M = rate x identity error) corrects that fraction of the error.
        # "auto": the centred cue states form a near-regular simplex (cosines ~ -1 / (n_cues - 1)
        # between cues): a bias of this size makes the cues' inputs orthogonal, so an update for one
        # cue leaves the others' predictions alone (bias 1: they move by ~3/8 of it)
        self.what_bias = (1.0 / math.sqrt(max(task.n_cues - 1, 1)) if config.what_bias == "auto"
                          else config.what_bias)
        self.what = ThreeFactorHebbian(n + 1, 2, learning_rate=1.0)
        self._cue_k = np.zeros(task.n_cues)          # trials of each cue since its last detected change
        self._cue_surprise = np.zeros(task.n_cues)   # leaky mean of the signed surprise per cue
        self._what_mean, self._what_seen = np.zeros(n), 0
        # "auto": FORCE is exact RLS (stable for any lambda); lambda = n on the normalised state
        # (|x|^2 ~ n) gave it its best pre-switch error of the three tried, so the baseline is the
        # best-tuned FORCE, never reset
        reg = float(n) if config.force_regularization == "auto" else config.force_regularization
        self.force = None if reg is None else FORCE(m, 2, regularization=reg)
        slow_decay = None if self.slow_ms is None else math.exp(-self.dt / self.slow_ms)
        self._joint = _WhenAndForce(n, self.when, self.force, config.force_every, config.state_floor, slow_decay)
        self.feedback = config.feedback_weight > 0
        if self.feedback:
            w = config.feedback_weight
            enc = as_rng(seed).uniform(-w, w, (n, 2))
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
