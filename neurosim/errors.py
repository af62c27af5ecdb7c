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


class InsufficientMemoryError(MemoryError, ValueError):
    """Refused up front: what was asked would need more memory than the machine has available.

    The message says what needs how much and how much is available. It is a ``MemoryError``
    and, since the request itself is what has to change, also a ``ValueError``.
    """

    def __init__(self, message, needed: int | None = None, available: int | None = None):
        super().__init__(message)
        self.needed, self.available = needed, available


class DamagedFileError(ValueError):
    """A file neurosim wrote (a result, a checkpoint, a sweep record) failed its checks on
    load: truncated, damaged, or not a neurosim file at all. ``path`` names it."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path
