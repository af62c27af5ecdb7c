"""``setup``, ``run``, ``reset``, ``end`` and the state queries of ``neurosim.pynn``."""

from __future__ import annotations

import numpy as np
from pyNN import common
from pyNN.common.control import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from neurosim.network import _check_backend

from . import simulator


def setup(timestep=DEFAULT_TIMESTEP, min_delay=DEFAULT_MIN_DELAY, **extra_params):
    """Start a new simulation: forget every population, projection and recording.

    Parameters
    ----------
    timestep : time step, ms.
    min_delay, max_delay : PyNN's delay bounds, ms ("auto": one time step, and no maximum).
    rng_seed : seed of the simulator's own random numbers (Poisson sources; the connectivity and
        distributions are drawn by PyNN's RNGs); default: fresh entropy.
    backend : neurosim engine backend, "numba" (default), "numpy" (the reference) or "triton".
    Other extra keyword arguments other simulators take (``threads``, ``label``, ...) are ignored.
    """
    common.setup(timestep, min_delay, **extra_params)
    backend = extra_params.get("backend", "numba")
    _check_backend(backend, None)
    state = simulator.state
    state.clear()
    state.dt = float(timestep)
    state.min_delay = min_delay
    state.max_delay = extra_params.get("max_delay", DEFAULT_MAX_DELAY)
    state.backend = backend
    state.rng = np.random.default_rng(extra_params.get("rng_seed"))
    return rank()


def end(compatible_output=True):
    """Write the data asked for with ``write_data`` at the end, and finish."""
    for population, variables, filename in simulator.state.write_on_end:
        population.write_data(get_io(filename), variables)
    simulator.state.write_on_end = []


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize

get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)
