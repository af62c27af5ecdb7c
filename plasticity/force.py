"""FORCE: recursive least squares on the readout weights (Sussillo & Abbott 2009; spiking
networks: Nicola & Clopath 2017).

Each update, with the error measured before it (``e = W x - target``)::

    c = P x
    W <- W - e c^T / (1 + x^T c)        (update="rls", the default: exact recursive least squares)
    W <- W - e c^T                      (update="nicola-clopath": their code, IZFORCESINE.m)
    P <- P - c c^T / (1 + x^T c)

``P`` estimates the inverse correlation matrix of the states plus the regulariser; it
starts at ``I / regularization``. The exact form (Sussillo & Abbott 2009) makes the weights
after k updates the ridge solution of the k samples (alpha = regularization) and is stable
at any scale of ``x``; Nicola & Clopath's order steps ``1 + x^T P x`` times further, which
their network tolerates but which diverges on other states unless ``x^T P x`` stays small.
FORCE is a global least-squares method: once ``P`` has shrunk, the readout adapts slowly to
a change of task unless :meth:`reset` puts ``P`` back.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from neurosim.validation import check_int

from .readout import Readout, check_rate


UPDATES = ("rls", "nicola-clopath")


class RLSDivergedError(FloatingPointError):
    """``P`` lost positive definiteness (``1 + x^T P x <= 0`` or a non-positive diagonal)."""


class FORCE(Readout):
    """Online recursive-least-squares readout.

    Parameters
    ----------
    n_inputs, n_outputs : sizes (see :class:`Readout`).
    regularization : lambda > 0; ``P(0) = I / lambda`` (Nicola & Clopath: lambda = 0.5, ``P(0) = 2 I``).
        Smaller lambda learns faster and fits harder.
    check_every : updates between full health checks of ``P`` (its diagonal must stay > 0); 0: none.
    update : "rls" (exact recursive least squares, default) or "nicola-clopath" (the weight step
        of their code, without the ``1 / (1 + x^T P x)`` gain; see the module docstring).

    ``P`` is kept exactly symmetric: only its upper triangle is stored and updated (BLAS
    ``dsymv``/``dsyr``), which also halves the memory traffic of an update. Every update checks
    the denominator ``1 + x^T P x`` (>= 1 while ``P`` is positive definite); a value below
    ``1e-9`` or not finite raises :class:`RLSDivergedError` naming the update.

    Examples
    --------
    >>> force = FORCE(n_inputs=2000, n_outputs=1, regularization=0.5)
    >>> force.partial_fit(r, target=[np.sin(t)])      # every few steps while the network runs
    >>> z = force.predict(r)
    """

    def __init__(self, n_inputs: int, n_outputs: int = 1, regularization: float = 1.0, check_every: int = 1000,
                 update: str = "rls"):
        super().__init__(n_inputs, n_outputs)
        if not isinstance(update, str) or update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        self.update = update
        self.regularization = check_rate("regularization", regularization, positive=True)
        self.check_every = check_int("check_every", check_every, minimum=0)  # 0: never
        self._check_matrix_memory("P matrix", self.n_inputs)
        self.reset()

    def reset(self) -> None:
        """Put ``P`` back to ``I / regularization`` (the weights are kept): full plasticity again."""
        self._P = np.zeros((self.n_inputs, self.n_inputs), order="F")  # built in place: one n x n at a time
        np.fill_diagonal(self._P, 1.0 / self.regularization)

    @property
    def P(self) -> np.ndarray:
        """The inverse-correlation estimate, as a full symmetric matrix (a copy)."""
        upper = np.triu(self._P)
        return upper + np.triu(upper, 1).T

    def partial_fit(self, x, target=None, **kw) -> "FORCE":
        """One RLS update from state ``x [n_inputs]`` towards ``target [n_outputs]``."""
        x = self._check_x(x)
        target = self._check_target(target)
        error = self.weights @ x - target
        c = blas.dsymv(1.0, self._P, x, lower=0)
        denominator = 1.0 + float(x @ c)
        if not denominator >= 1e-9:  # also catches NaN
            raise RLSDivergedError(f"FORCE: P lost positive definiteness at update {self.n_updates} "
                                   f"(1 + x^T P x = {denominator:.3g}); increase regularization or call reset()")
        gain = c / denominator if self.update == "rls" else c
        self.weights -= np.outer(error, gain)
        self._P = blas.dsyr(-1.0 / denominator, c, a=self._P, lower=0, overwrite_a=1)
        self.n_updates += 1
        if self.check_every and self.n_updates % self.check_every == 0:
            diag = np.diagonal(self._P)
            if not (np.all(np.isfinite(diag)) and diag.min() > 0):
                raise RLSDivergedError(f"FORCE: P has a non-positive or non-finite diagonal after update "
                                       f"{self.n_updates}; increase regularization or call reset()")
        return self
