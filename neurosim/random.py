"""Random parameter specifications drawn with the network's generator.

Wherever neurosim takes a per-neuron parameter, a weight or a delay, you may pass a
scalar, an array with one value per element, or one of these distributions; it is drawn
from the network's seeded generator when the population or projection is created::

    net.connect(exc, inh, ns.connect.random(0.1), weight=ns.Uniform(0.0, 0.5), delay=ns.Uniform(1.0, 5.0))
"""

from __future__ import annotations

import abc

from dataclasses import dataclass

import numpy as np

from .validation import as_float_array, check_number


class Distribution(abc.ABC):
    """Base class: ``sample(rng, n)`` returns ``n`` float64 values."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` values drawn with ``rng``."""


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[low, high)``."""

    low: float
    high: float

    def __post_init__(self):
        low, high = check_number("Uniform.low", self.low), check_number("Uniform.high", self.high)
        if high < low:
            raise ValueError(f"Uniform needs low <= high, got low={low}, high={high}")

    def sample(self, rng, n):
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Normal(Distribution):
    """Gaussian with ``mean`` and standard deviation ``std``."""

    mean: float
    std: float

    def __post_init__(self):
        check_number("Normal.mean", self.mean)
        check_number("Normal.std", self.std, nonnegative=True)

    def sample(self, rng, n):
        return rng.normal(self.mean, self.std, n)


@dataclass(frozen=True)
class Gamma(Distribution):
    """Gamma distribution given by its ``mean`` and standard deviation ``std`` (both > 0)."""

    mean: float
    std: float

    def __post_init__(self):
        check_number("Gamma.mean", self.mean, positive=True)
        check_number("Gamma.std", self.std, positive=True)

    def sample(self, rng, n):
        shape = (self.mean / self.std) ** 2
        return rng.gamma(shape, self.mean / shape, n)


def draw(name: str, spec, n: int, rng: np.random.Generator, **checks) -> np.ndarray:
    """Resolve ``spec`` (scalar, array or Distribution) to a validated float64 array of length n."""
    if isinstance(spec, Distribution):
        spec = spec.sample(rng, n)
    return as_float_array(name, spec, n, **checks)
