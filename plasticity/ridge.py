"""Ridge regression readout: the offline (batch) least-squares baseline.

``W = Y^T X (X^T X + alpha I)^{-1}`` from recorded states ``X [n_samples, n_inputs]`` and
targets ``Y [n_samples, n_outputs]``. ``partial_fit`` accumulates the sufficient
statistics ``X^T X`` and ``X^T Y`` one sample at a time (memory ``n_inputs^2``, not
``n_samples``), so the same readout can also be fed online while the network runs and solved
when read.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .readout import Readout, check_rate


class Ridge(Readout):
    """Least-squares readout with an L2 penalty ``alpha`` (> 0)."""

    def __init__(self, n_inputs: int, n_outputs: int = 1, alpha: float = 1.0):
        super().__init__(n_inputs, n_outputs)
        self.alpha = check_rate("alpha", alpha, positive=True)
        # X^T X, and the regularised copy the solve factorises
        self._check_matrix_memory("statistics X^T X", self.n_inputs, copies=2)
        self._xtx = np.zeros((self.n_inputs, self.n_inputs))
        self._xty = np.zeros((self.n_inputs, self.n_outputs))
        self._solved = True

    @property
    def weights(self) -> np.ndarray:
        """``[n_outputs, n_inputs]``, solved from the statistics gathered so far."""
        if not self._solved:
            self._weights = self._solve()
            self._solved = True
        return self._weights

    @weights.setter
    def weights(self, value) -> None:
        self._weights = np.asarray(value, dtype=np.float64)

    def fit(self, X, Y) -> "Ridge":
        """Solve from ``X [n_samples, n_inputs]`` and ``Y [n_samples, n_outputs]`` (replaces what was gathered)."""
        X = self._check_x(X, allow_batch=True, name="X")
        if X.ndim == 1:
            X = X[None]
        Y = self._check_target(Y, n_samples=X.shape[0], name="Y")
        self._xtx, self._xty = X.T @ X, X.T @ Y
        self.n_updates = X.shape[0]
        self._solved = False
        return self

    def partial_fit(self, x, target=None, **kw) -> "Ridge":
        """Add one sample ``x [n_inputs]``, ``target [n_outputs]`` to the statistics."""
        x = self._check_x(x)
        y = self._check_target(target)
        self._xtx += np.outer(x, x)
        self._xty += np.outer(x, y)
        self.n_updates += 1
        self._solved = False
        return self

    def _solve(self) -> np.ndarray:
        a = self._xtx + self.alpha * np.eye(self.n_inputs)
        try:
            return scipy.linalg.solve(a, self._xty, assume_a="pos").T
        except np.linalg.LinAlgError:
            # an alpha too small to lift rank-deficient statistics above rounding (e.g. 1e-160
            # with fewer samples than inputs): the minimum-norm least-squares solution, which
            # is the ridge solution's limit as alpha -> 0
            return np.linalg.lstsq(a, self._xty, rcond=None)[0].T
