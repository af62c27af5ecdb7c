"""A PyNN backend on neurosim's engine: ``import neurosim.pynn as sim``.

PyNN (https://neuralensemble.org/PyNN/) is the simulator-independent API that NEST, NEURON,
Brian2 and the neuromorphic systems share; a PyNN script runs on neurosim by changing its
import line::

    import neurosim.pynn as sim

    sim.setup(timestep=0.1)
    cells = sim.Population(100, sim.IF_cond_exp(tau_m=20.0), initial_values={"v": -65.0})
    noise = sim.Population(20, sim.SpikeSourcePoisson(rate=50.0))
    sim.Projection(noise, cells, sim.FixedProbabilityConnector(0.2), sim.StaticSynapse(weight=0.01, delay=1.0))
    cells.record(["spikes", "v"])
    sim.run(1000.0)
    block = cells.get_data()   # a Neo Block
    sim.end()

What it provides: ``setup/run/run_until/reset/end``; ``Population``, ``PopulationView``,
``Assembly``, ``Projection`` and all of PyNN's connectors; the standard cells
``IF_curr_exp``, ``IF_cond_exp``, ``EIF_cond_exp_isfa_ista``, ``Izhikevich``,
``SpikeSourcePoisson``, ``SpikeSourceArray``; ``StaticSynapse``, ``STDPMechanism``
(``SpikePairRule`` with ``AdditiveWeightDependence`` or ``MultiplicativeWeightDependence``)
and ``TsodyksMarkramSynapse``; ``DCSource`` and ``StepCurrentSource``; recording spikes and
state variables as Neo. Other standard models raise :class:`pyNN.errors.NoModelAvailableError`
when created; unsupported options raise ``NotImplementedError`` naming them. How PyNN's objects
map onto the engine network, and what a parameter change between runs does, is in
:mod:`neurosim.pynn.simulator`.
"""

from pyNN import errors, random, space  # noqa: F401
from pyNN.network import Network  # noqa: F401
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.recording import *
from pyNN.space import Space  # noqa: F401
from pyNN.standardmodels import StandardCellType

from .connectors import *
from .control import (  # noqa: F401
    end,
    get_current_time,
    get_max_delay,
    get_min_delay,
    get_time_step,
    initialize,
    num_processes,
    rank,
    reset,
    run,
    run_for,
    run_until,
    setup,
)
from .populations import Assembly, Population, PopulationView  # noqa: F401
from .procedural_api import connect, create, record, record_gsyn, record_v  # noqa: F401
from .projections import Projection  # noqa: F401
from .standardmodels import *
from .standardmodels import engine_synapse  # noqa: F401


def list_standard_models():
    """The names of the standard cell types neurosim.pynn simulates."""
    from . import standardmodels

    return [name for name, obj in vars(standardmodels).items()
            if isinstance(obj, type) and issubclass(obj, StandardCellType) and obj.__module__ == standardmodels.__name__
            and "Not provided" not in (obj.__doc__ or "")]
