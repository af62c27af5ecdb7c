"""neurosim.circuits: networks wired for a purpose — reservoirs, their readout loops, deep sequence models.

* :class:`IzhikevichReservoir` — heterogeneous Izhikevich network on the event-driven engine,
  read through a :class:`SynapticFilter` by online readouts (``neurosim.plasticity``).
* :class:`LiquidStateMachine` — Maass et al.'s random LIF column on a 3-D grid, driven by
  event streams, read from its filtered state (``neurosim.circuits.lsm``); contrastive
  projection heads for zero-shot matching across modalities in ``neurosim.circuits.contrastive``
  (needs torch).
* Deep sequence models (``neurosim.circuits.ssm``, need torch): :class:`DiagonalSSM` (LRU,
  Orvieto et al. 2023), :class:`SelectiveSSM` (Mamba, Gu & Dao 2023),
  :class:`SpikingSequenceModel` (stacked recurrent LIF layers) and :class:`HybridBlock`
  (SSM mixer + spiking channel). They are imported on first use, so ``import neurosim.circuits``
  does not pay torch's import.
"""

from .lsm import LiquidStateMachine
from .reservoir import IzhikevichReservoir, ReservoirRun
from .synaptic_filter import SynapticFilter

#: torch models, imported from their module on first attribute access
_LAZY = {"DiagonalSSM": "ssm", "SelectiveSSM": "ssm", "SpikingSequenceModel": "ssm", "HybridBlock": "ssm"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'neurosim.circuits' has no attribute {name!r}")


__all__ = ["DiagonalSSM", "HybridBlock", "IzhikevichReservoir", "LiquidStateMachine", "ReservoirRun",
           "SelectiveSSM", "SpikingSequenceModel", "SynapticFilter"]
