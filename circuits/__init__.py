"""neurosim.circuits: networks wired for a purpose — reservoirs and their readout loops.

* :class:`IzhikevichReservoir` — heterogeneous Izhikevich network on the event-driven engine,
  read through a :class:`SynapticFilter` by online readouts (``neurosim.plasticity``).
"""

from .reservoir import IzhikevichReservoir, ReservoirRun
from .synaptic_filter import SynapticFilter

__all__ = ["IzhikevichReservoir", "ReservoirRun", "SynapticFilter"]
