"""FORCE: recursive least squares on the readout weights (Sussillo & Abbott 2009; spiking
networks: Nicola & Clopath 2017).

Each update, with the error measured before it (``e = W x - target``)::

    c = P x
    W <- W - e c^T
    P <- P - c c^T / (1 + x^T c)

``P`` estimates the inverse correlation matrix of the states plus the regulariser; it
starts at ``I / regularization``. This is the order of Nicola & Clopath's code
(IZFORCESINE.m). FORCE is a global least-squares method: once ``P`` has shrunk, the readout
adapts slowly to a change of task unless :meth:`reset` puts ``P`` back.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from neurosim.validation import check_int

from .readout import Readout, check_rate


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

    def __init__(self, n_inputs: int, n_outputs: int = 1, regularization: float = 1.0, check_every: int = 1000):
        super().__init__(n_inputs, n_outputs)
        self.regularization = check_rate("regularization", regularization, positive=True)
        self.check_every = check_int("check_every", check_every, minimum=0)  # 0: never
        self.reset()

    def reset(self) -> None:
        """Put ``P`` back to ``I / regularization`` (the weights are kept): full plasticity again."""
        self._P = np.asfortranarray(np.eye(self.n_inputs) / self.regularization)

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
        self.weights -= np.outer(error, c)
        self._P = blas.dsyr(-1.0 / denominator, c, a=self._P, lower=0, overwrite_a=1)
        self.n_updates += 1
        if self.check_every and self.n_updates % self.check_every == 0:
            diag = np.diagonal(self._P)
            if not (np.all(np.isfinite(diag)) and diag.min() > 0):
                raise RLSDivergedError(f"FORCE: P has a non-positive or non-finite diagonal after update "
                                       f"{self.n_updates}; increase regularization or call reset()")
        return self
