"""The interface every linear readout shares: ``z = W x``, learnt online or offline.

A readout maps a state vector ``x`` (``n_inputs`` values, e.g. a reservoir's filtered
spike trains) to ``n_outputs`` values through a weight matrix ``weights`` of shape
``[n_outputs, n_inputs]``. Following scikit-learn:

* ``predict(x)``: ``x`` is ``[n_inputs]`` or ``[n_samples, n_inputs]``; returns ``[n_outputs]`` or
  ``[n_samples, n_outputs]``;
* ``partial_fit(x, target, ...)``: one online update from one sample (the rule's own step);
* ``fit(X, Y)``: learn from recorded samples ``X [n_samples, n_inputs]``,
  ``Y [n_samples, n_outputs]``.
"""

from __future__ import annotations

import abc

import numpy as np

from neurosim.memory import check_memory
from neurosim.validation import as_real_array, check_int, check_number, host_values


class Readout(abc.ABC):
    """Base class of linear readouts (see the module docstring).

    Parameters
    ----------
    n_inputs : size of the state vector read (>= 1).
    n_outputs : number of outputs (>= 1).
    """

    def __init__(self, n_inputs: int, n_outputs: int = 1):
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=1)
        self.n_outputs = check_int("n_outputs", n_outputs, minimum=1)
        self._check_matrix_memory("weights", self.n_outputs)
        self.weights = np.zeros((self.n_outputs, self.n_inputs))
        self.n_updates = 0

    def predict(self, x) -> np.ndarray:
        """Output ``W x`` for one state ``[n_inputs]`` or many ``[n_samples, n_inputs]``."""
        x = self._check_x(x, allow_batch=True)
        return x @ self.weights.T

    @abc.abstractmethod
    def partial_fit(self, x, target=None, **kw) -> "Readout":
        """One online update from the state ``x [n_inputs]``."""

    def fit(self, X, Y) -> "Readout":
        """Learn from recorded states ``X [n_samples, n_inputs]`` and targets ``Y [n_samples, n_outputs]``
        (online rules replay the samples in order through ``partial_fit``)."""
        X = self._check_x(X, allow_batch=True, name="X")
        Y = self._check_target(Y, n_samples=X.shape[0], name="Y")
        for x, y in zip(X, Y):
            self.partial_fit(x, y)
        return self

    # ---- validation shared by the readouts ----
    def _check_matrix_memory(self, what: str, rows: int, copies: int = 1) -> None:
        """Refuse up front a float64 ``[rows, n_inputs]`` matrix (``copies`` at once) that cannot be held."""
        check_memory(f"{type(self).__name__}({self.n_inputs}, {self.n_outputs})'s {what} [{rows}, {self.n_inputs}]",
                     8.0 * copies * rows * self.n_inputs, "use fewer inputs (a smaller state vector)")

    def _check_x(self, x, allow_batch: bool = False, name: str = "x") -> np.ndarray:
        x = as_real_array(name, host_values(name, x))
        ok = x.ndim == 1 or (allow_batch and x.ndim == 2)
        if not ok or x.shape[-1] != self.n_inputs:
            want = f"[{self.n_inputs}]" + (f" or [n_samples, {self.n_inputs}]" if allow_batch else "")
            raise ValueError(f"{name} must have shape {want} (the readout's n_inputs), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be finite (got NaN or inf in the state the readout reads)")
        return x

    def _check_target(self, y, n_samples: int | None = None, name: str = "target") -> np.ndarray:
        if y is None:
            raise ValueError(f"{name} is required by {type(self).__name__}")
        y = as_real_array(name, host_values(name, y))
        if n_samples is None:
            y = y.reshape(self.n_outputs) if y.size == self.n_outputs else y
            if y.shape != (self.n_outputs,):
                raise ValueError(f"{name} must have shape [{self.n_outputs}] (the readout's n_outputs), got {y.shape}")
        else:
            if y.ndim == 1 and self.n_outputs == 1:
                y = y[:, None]
            if y.shape != (n_samples, self.n_outputs):
                raise ValueError(f"{name} must have shape [{n_samples}, {self.n_outputs}] (samples, outputs), got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} must be finite")
        return y


def check_rate(name: str, value, *, positive: bool = False) -> float:
    """A finite learning rate (``positive``: > 0, else >= 0); booleans and strings refused."""
    return check_number(name, value, positive=positive, nonnegative=True)
