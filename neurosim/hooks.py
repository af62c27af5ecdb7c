"""Hooks: code that runs inside ``Network.run`` every few steps, without re-simulating.

Online learning rules, closed-loop inputs and readouts with feedback need to see the spikes
as they happen and to change what drives the network. A :class:`Hook` is called by the run
loop every ``every`` time steps (the kernel runs the steps in between at full speed); it
reads the spikes of the steps just simulated and may set an external current that holds
from the next step on::

    class Feedback(ns.Hook):
        def __init__(self, pop):
            super().__init__(every=10, populations=[pop])
            self.pop = pop

        def __call__(self, ctx):
            steps, ids = ctx.spikes(self.pop)          # spikes of the last 10 steps
            ctx.set_current(self.pop, 0.1 * ids.size)  # held for the next 10 steps

    net.run(1000.0, hooks=[Feedback(exc)])

The spikes of a hook's ``populations`` are recorded during the run whatever
``record_spikes`` says (the result still holds only the spikes asked for).
"""

from __future__ import annotations

import abc

import numpy as np

from .validation import check_int


class Hook(abc.ABC):
    """Base class of run-loop hooks.

    Parameters
    ----------
    every : steps between calls (>= 1). The hook is called after every ``every`` steps of a
        run (counted from the run's start), and the currents it sets hold until it sets new ones.
    populations : the populations whose spikes the hook reads through ``ctx.spikes``.
    """

    def __init__(self, every: int = 1, populations=()):
        self.every = check_int("every", every, minimum=1)
        self.populations = tuple(populations)

    def start(self, ctx: "HookContext") -> None:
        """Called once before the first step of a run (may set currents)."""

    @abc.abstractmethod
    def __call__(self, ctx: "HookContext") -> None:
        """Called after every ``every`` steps."""

    def finish(self, ctx: "HookContext") -> None:
        """Called once when the run ends (also after an error or interruption)."""


class HookContext:
    """What a hook sees: the time, the spikes of the last steps, and the external currents.

    Attributes
    ----------
    step : the next step to simulate (steps ``< step`` are done); ``t = step * dt`` ms.
    first_step : the first step of the steps simulated since this hook's previous call (in
        ``start``: ``step``; in ``finish``: the steps after the hook's last call).
    dt : time step, ms.
    """

    def __init__(self, sim, recording):
        self._sim, self._rec = sim, recording
        self.dt = sim.net.dt
        self.step = self.first_step = 0
        self._lo = self._hi = 0  # slice of the recorder's spike buffer of the last steps

    @property
    def t(self) -> float:
        """Current time, ms."""
        return self.step * self.dt

    @property
    def n_steps(self) -> int:
        """Steps simulated since the previous call."""
        return self.step - self.first_step

    def spikes(self, population) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, indices)`` of ``population``'s spikes since this hook's previous call, in time
        order: absolute step numbers (int64) and indices within the population. ``population``
        must be among the hook's ``populations`` (or have all its spikes recorded)."""
        off = self._offset(population)
        if not self._rec.spike_record[off : off + len(population)].all():
            # unrecorded neurons would silently read as silent
            raise ValueError(f"population {population.name!r} is not among the hooks' populations and its spikes "
                             "are not all recorded; list it in Hook(populations=[...]) to read its spikes")
        steps = self._rec.spike_step[self._lo:self._hi]
        ids = self._rec.spike_id[self._lo:self._hi]
        mine = (ids >= off) & (ids < off + len(population))
        return steps[mine], ids[mine] - off

    def set_current(self, population, current) -> None:
        """External current into ``population`` from the next step on: a scalar or one value per
        neuron, in the model's current units. It replaces the hook current set before (hooks
        share one such current per neuron) and adds to the population's ``add_current`` inputs."""
        off = self._offset(population)
        if population.is_source:
            raise ValueError(f"population {population.name!r} is a spike source; currents go into neuron populations")
        value = np.asarray(current, dtype=np.float64)
        if value.ndim > 1 or (value.ndim == 1 and value.size != len(population)):
            raise ValueError(f"current must be a scalar or have one value per neuron ({len(population)}), got shape {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"current into population {population.name!r} must be finite at step {self.step}")
        self._sim.hook_current[off : off + len(population)] = value

    def _window(self, first_step: int, step: int, lo: int, hi: int) -> None:
        """Set what the next hook call sees: steps ``first_step .. step - 1`` and the spike buffer
        slice ``lo:hi`` recorded during them."""
        self.first_step, self.step, self._lo, self._hi = first_step, step, lo, hi

    def _offset(self, population) -> int:
        if getattr(population, "network", None) is not self._sim.net:
            raise ValueError(f"population must belong to the network being run, got {population!r}")
        return self._sim.offset[population.name]


def check_hooks(net, hooks) -> list[Hook]:
    """The hooks as a list, validated against ``net``."""
    if hooks is None:
        return []
    hooks = [hooks] if isinstance(hooks, Hook) else list(hooks)
    for h in hooks:
        if not isinstance(h, Hook):
            raise TypeError(f"hooks must be neurosim.Hook instances, got {type(h).__name__}")
        for p in h.populations:
            net._check_own("hook population", p)
    return hooks
