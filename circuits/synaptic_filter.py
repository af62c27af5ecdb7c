"""Filtered spike trains: what a readout (or a downstream neuron) sees of a population.

A spike of neuron ``j`` at step ``s`` contributes ``k(t - s dt)`` to ``r_j(t)``, with the
double-exponential kernel of unit area (ms^-1)::

    k(t) = (exp(-t / tau_decay) - exp(-t / tau_rise)) / (tau_decay - tau_rise)

(``tau_rise = 0``: the single exponential ``exp(-t / tau_decay) / tau_decay``). This is the
synaptic filter of Nicola & Clopath (2017) in its closed form, sampled like the engine's
synaptic currents: the value after step ``t`` includes the spikes of step ``t`` at full
height. Advancing over many steps at once is exact, so a readout can look every ``k`` steps.
"""

from __future__ import annotations

import math

import numpy as np

from neurosim.memory import check_memory
from neurosim.validation import check_int, check_number


class SynapticFilter:
    """Double-exponential traces of ``n`` spike trains.

    Parameters
    ----------
    n : number of neurons.
    dt : time step, ms.
    tau_rise : rise time constant, ms (>= 0, < tau_decay).
    tau_decay : decay time constant, ms (> 0).
    """

    def __init__(self, n: int, dt: float, tau_rise: float, tau_decay: float):
        self.n = check_int("n", n, minimum=1)
        check_memory(f"SynapticFilter({self.n})'s traces", 32.0 * self.n, "use fewer neurons")
        self.dt = check_number("dt", dt, positive=True)
        self.tau_rise = check_number("tau_rise", tau_rise, nonnegative=True)
        self.tau_decay = check_number("tau_decay", tau_decay, positive=True)
        if self.tau_rise >= self.tau_decay:
            raise ValueError(f"tau_rise must be < tau_decay, got tau_rise = {tau_rise} ms, tau_decay = {tau_decay} ms")
        self.height = 1.0 / (self.tau_decay - self.tau_rise)  # jump of each exponential at a spike, 1/ms
        self.keep_slow = math.exp(-self.dt / self.tau_decay)
        self.keep_fast = math.exp(-self.dt / self.tau_rise) if self.tau_rise > 0 else 0.0
        self.reset()

    def reset(self) -> None:
        """Forget all spikes."""
        self.slow = np.zeros(self.n)
        self.fast = np.zeros(self.n)

    @property
    def value(self) -> np.ndarray:
        """The filtered spike trains ``r [n]``, 1/ms (a copy)."""
        return self.slow - self.fast

    def advance(self, n_steps: int, spike_steps: np.ndarray, spike_ids: np.ndarray, last_step: int) -> np.ndarray:
        """Advance over ``n_steps`` steps ending with step ``last_step`` (inclusive), during which
        neurons ``spike_ids`` spiked at steps ``spike_steps``; return the new value."""
        age = (last_step - np.asarray(spike_steps)).astype(np.float64)
        self.slow *= self.keep_slow**n_steps
        np.add.at(self.slow, spike_ids, self.height * self.keep_slow**age)
        if self.tau_rise > 0:
            self.fast *= self.keep_fast**n_steps
            np.add.at(self.fast, spike_ids, self.height * self.keep_fast**age)
        return self.value
