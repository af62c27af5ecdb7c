"""neurosim.circuits: networks wired for a purpose — reservoirs and their readout loops.

* :class:`IzhikevichReservoir` — heterogeneous Izhikevich network on the event-driven engine,
  read through a :class:`SynapticFilter` by online readouts (``neurosim.plasticity``).
* :class:`LiquidStateMachine` — Maass et al.'s random LIF column on a 3-D grid, driven by
  event streams, read from its filtered state (``neurosim.circuits.lsm``); contrastive
  projection heads for zero-shot matching across modalities in ``neurosim.circuits.contrastive``
  (needs torch).
"""

from .lsm import LiquidStateMachine
from .reservoir import IzhikevichReservoir, ReservoirRun
from .synaptic_filter import SynapticFilter

__all__ = ["IzhikevichReservoir", "LiquidStateMachine", "ReservoirRun", "SynapticFilter"]
