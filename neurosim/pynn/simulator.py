"""The simulator state of ``neurosim.pynn``: PyNN's objects, run on a neurosim engine network.

PyNN builds a model step by step (populations, projections, recordings) and runs it in any
number of ``run()`` calls, changing parameters in between. neurosim's engine lays a network out
once, at its first run. So PyNN's objects keep their own parameters and connections, and the
first ``run()`` builds one :class:`neurosim.Network` from them; later runs continue it. After a
change the engine cannot take in place (a neuron parameter, a delay, a new population or
projection, ``initialize``), the next run builds a new network that starts from the state the
old one left: membrane potentials, synaptic variables and weights carry over; spikes still in
flight along their delays, refractory clocks and the traces of plastic synapses do not (a
warning says so). Weight changes (``Projection.set(weight=...)``) go into the running network.
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
from pyNN import common

from neurosim.errors import SimulationError, SimulationInterrupted
from neurosim.hooks import Hook
from neurosim.network import Network

name = "neurosim"
logger = logging.getLogger("PyNN")

#: Runs at least this many steps long show neurosim's progress bar (on a terminal).
PROGRESS_MIN_STEPS = 100_000


class ID(int, common.IDMixin):
    """A neuron's global id (PyNN's cell object)."""

    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """Everything ``setup()`` starts afresh: the network's objects, time and the engine network."""

    def __init__(self):
        common.control.BaseState.__init__(self)
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self._min_delay = "auto"
        self.max_delay = "auto"
        self.backend = "numba"
        self.rng = np.random.default_rng()
        self.segment_counter = -1
        self.clear()

    # ---- what PyNN's common code asks of a State ------------------------------------------
    @property
    def t(self) -> float:
        return self.step * self.dt

    def run(self, simtime: float) -> None:
        self.run_until(self.t + simtime)

    def run_until(self, tstop: float) -> None:
        n_steps = round((tstop - self.t) / self.dt)
        if n_steps > 0:
            self._advance(n_steps)

    def clear(self) -> None:
        """Forget every population, projection, recorder and current source (``setup()``)."""
        self.recorders = set()
        self.populations = []
        self.projections = []
        self.current_sources = []
        self.id_counter = 0
        self.segment_counter = -1
        self.network = None
        self.reset()

    def reset(self) -> None:
        """Back to t = 0 with the initial state and weights; a new segment of recordings."""
        for prj in self.projections:
            prj._restore_initial_weights()
        for recorder in self.recorders:  # the segment just ended is in the recorder's cache now
            recorder._clear_data()
        self.network = None
        self._stale = None  # why the engine network must be rebuilt (None: it need not)
        self.build_step = 0  # the PyNN step at which the engine network started
        self.running = False
        self.step = 0
        self.t_start = 0
        self.segment_counter += 1

    @property
    def min_delay(self) -> float:
        """PyNN's min_delay, ms: as set up, or ("auto") the smallest delay of any projection
        (one time step while there is none)."""
        if self._min_delay != "auto":
            return float(self._min_delay)
        delays = [prj._min_delay() for prj in self.projections if len(prj)]
        return min(delays) if delays else self.dt

    @min_delay.setter
    def min_delay(self, value) -> None:
        self._min_delay = value

    def resolved_min_delay(self) -> float:
        """The default delay of synapses, ms: min_delay, or one time step when it is "auto"."""
        return self.dt if self._min_delay == "auto" else float(self._min_delay)

    def mark_changed(self, what: str) -> None:
        """Something the running engine network cannot take in place changed: the next run
        builds a new network (see the module docstring)."""
        if self.network is not None and not self._stale:
            for prj in self.projections:  # what plasticity did so far, before anything else is set
                prj._read_weights()
            self._stale = what

    # ---- running ----------------------------------------------------------------------
    def _advance(self, n_steps: int) -> None:
        for recorder in self.recorders:
            recorder._check_ready()
        if self.network is None or self._stale:
            self._build()
        self.running = True
        end = self.step + n_steps
        for pop in self.populations:  # Poisson sources that start later and never stop, drawn as time goes
            pop._extend_poisson(end, self.build_step, self.dt)
        for first, last in self._segments(self.step, end):
            hooks = [_Electrodes(self, first, last)] if self.current_sources else None
            progress = None if last - first >= PROGRESS_MIN_STEPS else False
            try:
                result = self.network.run((last - first) * self.dt, backend=self.backend, progress=progress,
                                          hooks=hooks)
            except (SimulationError, SimulationInterrupted) as err:
                # keep what was recorded up to the failure or Ctrl-C: get_data() still returns it
                if err.result is not None:
                    self._collect(err.result, first)
                raise
            self._collect(result, first)

    def _collect(self, result, first: int) -> None:
        for recorder in self.recorders:
            recorder._collect(result, self.build_step * self.dt)
        self.step = first + result.n_steps

    def _segments(self, first: int, end: int) -> list[tuple[int, int]]:
        """[first, end) split where an electrode switches (its current is constant in each piece)."""
        cuts = {first, end}
        for source in self.current_sources:
            cuts.update(s for s in source._switch_steps(self.dt) if first < s < end)
        cuts = sorted(cuts)
        return list(itertools.pairwise(cuts))

    def _build(self) -> None:
        previous = self.network
        if previous is not None:
            warnings.warn(f"neurosim.pynn: {self._stale} at t = {self.t:g} ms; the engine network is rebuilt from "
                          "the current state (spikes in flight, refractory clocks and plastic synapses' traces "
                          "start afresh)", stacklevel=4)
        net = Network(dt=self.dt, seed=self.rng.integers(2**63), delay_convention="brian2")
        for pop in self.populations:
            pop._build(net, previous, self.t)
        for prj in self.projections:
            prj._build(net)
        self.network, self._stale, self.build_step = net, None, self.step
        for recorder in self.recorders:
            recorder._build(net)


class _Electrodes(Hook):
    """Sets the current of every electrode (nA) for the next step: once at the start of a run
    piece for piecewise-constant sources (see _segments), every step while a streaming source
    (ACSource, NoisyCurrentSource) is on."""

    def __init__(self, state: State, first: int, last: int):
        dt = state.dt
        streaming = any(s.streaming and s._window(dt)[0] < last and s._window(dt)[1] > first
                        for s in state.current_sources)
        super().__init__(every=1 if streaming else 2**62)
        self.state = state

    def start(self, ctx) -> None:
        self._set(ctx)

    def __call__(self, ctx) -> None:
        self._set(ctx)

    def _set(self, ctx) -> None:
        step = ctx.step + self.state.build_step  # PyNN's step (the engine network may be newer)
        totals = {}
        for source in self.state.current_sources:
            amplitude = float(source._amplitudes(np.array([step]), self.state.dt)[0])
            for pop, indices in source._targets:
                totals.setdefault(id(pop), (pop, np.zeros(pop.size)))[1][indices] += amplitude
        for pop, current in totals.values():
            ctx.set_current(pop._ns, current)


state = State()
