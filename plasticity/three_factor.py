"""Three-factor Hebbian readout: error-modulated, attention-gated, local in space and time.

For output ``i`` and input ``j`` (Yamada & Chao 2025's rule, in the general form of
neurosim's PAPERS.md)::

    dw_ij / dt = lr * M_i(t) * A_i(t) * e_ij(t)
    tau_e de_ij / dt = -e_ij + x_j(t) * g(post_i(t))

``M`` is the modulatory error (``target - output`` unless the caller supplies it), ``A`` the
attention gate (which outputs may learn now, e.g. only the active channel inside its
latency window), ``e`` the eligibility trace of pre-synaptic activity ``x`` times a
post-synaptic term ``g``. With ``tau_e = 0`` and ``g = 1`` it is pre-synaptic activity ×
error × gate, the paper's rule. Everything an update uses is available at the synapse or
broadcast (M, A): no matrix inverse, no global correlation estimate — which is why it
re-adapts at a fixed pace after the task changes, where FORCE slows down.
"""

from __future__ import annotations

import math

import numpy as np

from neurosim.validation import as_real_array, check_flag, host_values

from .readout import Readout, check_rate

POST_TERMS = ("none", "output")


class ThreeFactorHebbian(Readout):
    """Online readout learnt by ``lr × error × gate × eligibility``.

    Parameters
    ----------
    n_inputs, n_outputs : sizes (see :class:`Readout`).
    learning_rate : lr, per ms of simulated time (>= 0, finite); an update over ``dt`` ms
        changes the weights by ``lr * dt * M * A * e``.
    tau_eligibility : tau_e, ms (>= 0). 0: the eligibility is the instantaneous product.
    post : the post-synaptic term g: "none" (g = 1, the default), "output" (g = the output
        ``z_i``, Hebbian in the output) or a function ``g(z) -> [n_outputs]``.
    normalize : divide each update by the squared norm of the input ``x^T x + eps`` (normalised
        LMS), so ``learning_rate`` does not depend on the scale or size of the state: an update
        with ``lr * dt = 1`` (and A = 1, tau_e = 0, g = 1) removes the error on that state, and
        ``lr * dt < 2`` is stable. ``eps = 1e-12 * n_inputs`` guards silent states.
    """

    def __init__(self, n_inputs: int, n_outputs: int = 1, learning_rate: float = 1e-3, tau_eligibility: float = 0.0,
                 post="none", normalize: bool = False):
        super().__init__(n_inputs, n_outputs)
        self.learning_rate = check_rate("learning_rate", learning_rate)
        self.tau_eligibility = check_rate("tau_eligibility", tau_eligibility)
        if not callable(post) and not (isinstance(post, str) and post in POST_TERMS):
            raise ValueError(f"post must be one of {POST_TERMS} or a function g(z), got {post!r:.60}")
        self.post, self.normalize = post, check_flag("normalize", normalize)
        if self.post != "none":
            self._check_matrix_memory("eligibility traces", self.n_outputs)
        self.reset_eligibility()

    def reset_eligibility(self) -> None:
        """Clear the eligibility traces (e.g. between trials)."""
        shape = (self.n_inputs,) if self.post == "none" else (self.n_outputs, self.n_inputs)
        self.eligibility = np.zeros(shape)

    def partial_fit(self, x, target=None, *, error=None, gate=None, dt: float = 1.0, **kw) -> "ThreeFactorHebbian":
        """Advance the eligibility by ``dt`` ms with state ``x [n_inputs]`` and update the weights.

        Parameters
        ----------
        x : pre-synaptic activity, ``[n_inputs]``.
        target : ``[n_outputs]``; the error is ``target - predict(x)``. Give ``target`` or ``error``.
        error : the modulatory factor M ``[n_outputs]`` itself (overrides ``target``).
        gate : attention gate A, a scalar or ``[n_outputs]`` (default 1: every output learns).
        dt : ms elapsed since the previous update (> 0).
        """
        x = self._check_x(x)
        dt = check_rate("dt", dt, positive=True)
        z = self.weights @ x
        if error is None:
            if target is None:
                raise ValueError("give target or error: the third factor needs one of them")
            M = self._check_target(target) - z
        else:
            M = self._check_target(error, name="error")
        A = as_real_array("gate", host_values("gate", 1.0 if gate is None else gate))
        if A.ndim > 1 or (A.ndim == 1 and A.size != self.n_outputs):
            raise ValueError(f"gate must be a scalar or have shape [{self.n_outputs}] (the readout's n_outputs), got {A.shape}")
        A = np.broadcast_to(A, (self.n_outputs,))
        if not np.all(np.isfinite(A)):
            raise ValueError("gate must be finite")
        if self.post == "none":
            hebb = x
        else:
            g = z if self.post == "output" else self._post_term(z)
            hebb = np.outer(g, x)
        if self.tau_eligibility > 0:
            keep = math.exp(-dt / self.tau_eligibility)  # exact for activity held over dt
            self.eligibility *= keep
            self.eligibility += (1.0 - keep) * hebb
        else:
            self.eligibility = np.array(hebb, dtype=np.float64)
        step = self.learning_rate * dt * M * A
        if self.normalize:
            step = step / (float(x @ x) + 1e-12 * self.n_inputs)
        if self.post == "none":
            weights = self.weights + np.outer(step, self.eligibility)
        else:
            weights = self.weights + step[:, None] * self.eligibility
        if not np.all(np.isfinite(weights)):  # the weights keep their last finite values
            raise FloatingPointError(f"ThreeFactorHebbian: weights became NaN/inf at update {self.n_updates}; "
                                     "lower learning_rate (or use normalize=True)")
        self.weights[...] = weights
        self.n_updates += 1
        return self

    def _post_term(self, z: np.ndarray) -> np.ndarray:
        """The user's ``post(z)``, checked: ``[n_outputs]`` finite real numbers."""
        g = as_real_array("post(z)", self.post(z))
        if g.size != self.n_outputs or not np.all(np.isfinite(g)):
            raise ValueError(f"post(z) must return {self.n_outputs} finite numbers (one per output), "
                             f"got shape {g.shape}")
        return g.reshape(self.n_outputs)
