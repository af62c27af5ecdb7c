"""Exceptions that keep what was recorded before things went wrong."""

from __future__ import annotations


class SimulationError(RuntimeError):
    """A run stopped because the numbers blew up (NaN/inf membrane).

    ``result`` holds everything recorded up to the failing step; ``population``,
    ``neuron`` (index within the population) and ``step`` say where it happened.
    """

    def __init__(self, message, result=None, population=None, neuron=None, step=None):
        super().__init__(message)
        self.result, self.population, self.neuron, self.step = result, population, neuron, step


class SimulationInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C); ``result`` holds everything recorded so far."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result
