"""Currents injected into populations (``Network.add_current``).

Currents are held constant over a time step. Units are those of the target model: mV
(``R * I``) for LIF, the 2003 paper's units for Izhikevich.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import Param
from .random import draw


@dataclass(frozen=True, eq=False)
class ConstantCurrent:
    """A constant current ``amplitude`` (scalar, per-neuron array or distribution)."""

    amplitude: Param


@dataclass(frozen=True, eq=False)
class NoiseCurrent:
    """White Gaussian current, redrawn every step: ``mean + std * N(0, 1)``.

    This is the thalamic input of Izhikevich (2003) (``std`` 5 excitatory, 2 inhibitory at
    dt = 1 ms). Note the variance is per step, so it does not rescale with dt.
    """

    std: Param
    mean: Param = 0.0


def combine(currents: list, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the constant parts and combined noise std (independent noises add variance)."""
    mean = np.zeros(n)
    var = np.zeros(n)
    for cur in currents:
        if isinstance(cur, ConstantCurrent):
            mean += draw("ConstantCurrent.amplitude", cur.amplitude, n, rng)
        else:
            mean += draw("NoiseCurrent.mean", cur.mean, n, rng)
            var += draw("NoiseCurrent.std", cur.std, n, rng, nonnegative=True) ** 2
    return mean, np.sqrt(var)
