"""Settings of the what-and-when learner, as one frozen, validated dataclass.

::

    from neurosim.examples.what_when_config import WhatWhenConfig

    config = WhatWhenConfig(what_rule="adaptive", gate_ms=40.0)
    learner = WhatWhenLearner(reservoir, task, config)
    WhatWhenConfig(bump_ms=-1.0)   # ValueError: bump_ms must be > 0, got -1.0

The measurements behind the defaults are in ``benchmarks/RESULTS.md`` ("What-and-when
learner: the measurements behind its defaults").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neurosim.validation import check_int, check_number

WHAT_RULES = ("adaptive", "constant")


def _optional(name: str, value, **kw) -> float | None:
    """None, or ``value`` checked as a number (``kw``: positive / nonnegative)."""
    return None if value is None else check_number(name, value, **kw)


def _auto_or(name: str, value, **kw) -> float | str:
    """The string ``"auto"``, or ``value`` checked as a number."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be 'auto' or a number, got {value!r}")
        return value
    return check_number(name, value, **kw)


@dataclass(frozen=True)
class WhatWhenConfig:
    """What the what-and-when learner does (times in ms; the learner steps at 1 ms).

    Checked on construction: a bad value raises ``ValueError`` / ``TypeError`` naming the
    field. Values that depend on the task or the reservoir ("auto", ``cue_ms=None``) are
    resolved by the learner. ``dataclasses.replace(config, field=value)`` makes a variant.

    Cue
    ---
    cue_amplitude : peak of the cue current (times the input encoders' weights).
    cue_tau_ms : the cue current decays as ``exp(-t / cue_tau_ms)`` from trial start (ms, >= 0;
        0: a rectangular pulse of ``cue_ms``). A decaying cue drives the cue's neurons for times
        that depend on their input weight, which gives the reservoir a reproducible time code
        hundreds of ms long; a brief pulse dies out within ~60 ms in this reservoir.
    cue_ms : duration of the cue current, ms (> 0; None: the whole trial).

    "When" readouts (three-factor, online, every 1 ms)
    ---------------------------------------------------
    bump_ms : standard deviation of the "when" target bump, ms (> 0).
    gate_ms : half-width of the latency window, ms (> 0): the gate of channel ``c`` is open for
        ``|t - t_event| <= gate_ms`` on trials where ``c`` occurred. None: the whole trial.
    when_rate : the "when" step (>= 0): each 1 ms update corrects about this fraction of the
        error on the current state (``learning_rate = when_rate / n_features``).
    state_floor : the "when" and FORCE readouts read the divisively normalised state
        ``x / (rms(x) + state_floor)`` (1/ms, >= 0). The reservoir's activity falls by an order
        of magnitude over a trial (the decaying cue); without normalisation an update on a late,
        quiet state moves the output on the early, loud states far more than on its own, and
        the per-step rule cannot converge. None: read ``x`` as it is.
    slow_ms : > 0: the "when" and FORCE readouts also read a slow trace of the filtered spike
        trains (time constant ``slow_ms``, like NMDA-type currents beside the fast 8 ms ones),
        normalised the same way: ``[fast, slow]``, ``2n`` features. The slow trace tells apart
        states right after cue onset and late in the trial, which the fast currents code alike;
        a linear readout fitted offline times events better with it, the online rule worse
        (the slow features change little per ms). None (default): fast currents only.

    "What" readouts (offline, at the end of each trial)
    ----------------------------------------------------
    what_rule : how the "what" step size is set, per trial:

        * "constant" (default): ``what_rate`` on every trial. Per cue the prediction is then
          about an exponential average of the outcomes over the last ``~1 / what_rate``
          trials of that cue: smaller is less noisy, larger re-adapts faster after a switch;
        * "adaptive": a surprise-modulated rate, the third factor of the "what" update
          (Pearce-Hall stimulus-specific associability in the form of a change-point count;
          cf. volatility-modulated learning rates, Behrens et al. 2007). Per cue ``q`` the
          learner counts ``k_q``, the trials of ``q`` since its statistics last changed, and
          steps with ``rate = max(what_rate_min, 1 / (k_q + 1))``: the prediction is the
          running MEAN of all outcomes since the change until the floor. A change is detected
          from the signed surprise ``delta = y_A - z_A`` (outcome minus prediction of channel A,
          before the update): its leaky mean ``d_q <- d_q + (delta - d_q) / what_change_window``
          is compared with its expected spread under the prediction, ``what_change_z *
          sqrt(p (1 - p) / (2 m - 1))`` (``p = z_A`` clipped to [0.1, 0.9], ``m =
          what_change_window``); beyond it ``k_q`` is set back to ``what_reset_k`` (large steps
          again) and ``d_q`` to 0, otherwise ``k_q`` grows by one. It re-adapts faster after a
          probability reversal but is not more precise, so it is an option, not the default.
    what_rate : the constant rule's step (>= 0): the fraction of the identity error corrected
        for the trial's input (normalised to unit length).
    what_rate_min : the adaptive rule's floor, in [0, 1].
    what_change_window : the adaptive rule's surprise window, trials of the cue (>= 1).
    what_change_z : the adaptive rule's threshold, standard deviations (> 0).
    what_reset_k : the adaptive rule's count after a detected change (>= 0).
    what_bias : the constant input that the "what" readout reads beside the centred what-state
        (input ``[x_c / |x_c|, b] / sqrt(1 + b^2)``, ``b >= 0``). "auto": ``1 / sqrt(n_cues -
        1)``, which makes the inputs of different cues orthogonal when their centred states form
        a regular simplex, so one cue's update leaves the others' predictions alone.
    what_window_ms : the "what" readout reads the mean filtered activity over the first
        ``what_window_ms`` ms after cue onset (> 0, at most the trial length).
    what_center_trials : the "what" input is the what-state minus a running mean of past
        trials' what-states (time constant this many trials, >= 1; 0: no centring), normalised
        to unit length, plus the bias input. Centring removes the activity common to all cues
        (cosine ~0.4 between cues), so the rule learns the cue differences and the bias the base
        rate; without it one cue's updates move the other cues' predictions.

    FORCE baseline and feedback
    ---------------------------
    force_regularization : FORCE's lambda (``P(0) = I / lambda``, > 0); "auto": ``n``, the value
        of the three tried (1, 10, n) that gave FORCE its lowest pre-switch error; None: no
        FORCE baseline.
    force_every : FORCE updates every this many ms (>= 1).
    feedback_weight : > 0 feeds the two "when" predictions back into the reservoir through
        random encoders uniform in ``[-feedback_weight, feedback_weight]`` (the paper's
        feedback); this replaces the reservoir's ``feedback_encoders``. 0 (default): none.
    """

    cue_amplitude: float = 1.0
    cue_tau_ms: float = 150.0
    cue_ms: float | None = None
    bump_ms: float = 20.0
    gate_ms: float | None = None
    when_rate: float = 0.05
    state_floor: float | None = 1e-3
    slow_ms: float | None = None
    what_rule: str = "constant"
    what_rate: float = 0.2
    what_rate_min: float = 0.12
    what_change_window: float = 5.0
    what_change_z: float = 1.5
    what_reset_k: float = 1.0
    what_bias: float | str = "auto"
    what_window_ms: float = 30.0
    what_center_trials: float = 20.0
    force_regularization: float | str | None = "auto"
    force_every: int = 1
    feedback_weight: float = 0.0

    def __post_init__(self):
        checked = {
            "cue_amplitude": check_number("cue_amplitude", self.cue_amplitude),
            "cue_tau_ms": check_number("cue_tau_ms", self.cue_tau_ms, nonnegative=True),
            "cue_ms": _optional("cue_ms", self.cue_ms, positive=True),
            "bump_ms": check_number("bump_ms", self.bump_ms, positive=True),
            "gate_ms": _optional("gate_ms", self.gate_ms, positive=True),
            "when_rate": check_number("when_rate", self.when_rate, nonnegative=True),
            "state_floor": _optional("state_floor", self.state_floor, nonnegative=True),
            "slow_ms": _optional("slow_ms", self.slow_ms, positive=True),
            "what_rate": check_number("what_rate", self.what_rate, nonnegative=True),
            "what_rate_min": check_number("what_rate_min", self.what_rate_min, nonnegative=True),
            "what_change_window": check_number("what_change_window", self.what_change_window, positive=True),
            "what_change_z": check_number("what_change_z", self.what_change_z, positive=True),
            "what_reset_k": check_number("what_reset_k", self.what_reset_k, nonnegative=True),
            "what_bias": _auto_or("what_bias", self.what_bias, nonnegative=True),
            "what_window_ms": check_number("what_window_ms", self.what_window_ms, positive=True),
            "what_center_trials": check_number("what_center_trials", self.what_center_trials, nonnegative=True),
            "force_every": check_int("force_every", self.force_every, minimum=1),
            "feedback_weight": check_number("feedback_weight", self.feedback_weight, nonnegative=True),
        }
        if not isinstance(self.what_rule, str) or self.what_rule not in WHAT_RULES:
            raise ValueError(f"what_rule must be one of {WHAT_RULES}, got {self.what_rule!r}")
        if checked["what_rate_min"] > 1:
            raise ValueError(f"what_rate_min must lie in [0, 1], got {self.what_rate_min}")
        if checked["what_change_window"] < 1:
            raise ValueError(f"what_change_window must be >= 1 trial, got {self.what_change_window}")
        if 0 < checked["what_center_trials"] < 1:
            raise ValueError(f"what_center_trials must be 0 (off) or >= 1 trial, got {self.what_center_trials}")
        if self.force_regularization is not None:
            checked["force_regularization"] = _auto_or("force_regularization", self.force_regularization,
                                                       positive=True)
        for name, value in checked.items():  # the checked values (floats) replace what was given
            object.__setattr__(self, name, value)

    def replace(self, **changes) -> "WhatWhenConfig":
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)
