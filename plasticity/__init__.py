"""neurosim.plasticity: learning rules and online readouts.

Readouts share one interface (:class:`Readout`: ``predict``, ``partial_fit``, ``fit``):

* :class:`FORCE` — recursive least squares (Sussillo & Abbott 2009; Nicola & Clopath 2017);
* :class:`ThreeFactorHebbian` — error-modulated, attention-gated Hebbian rule;
* :class:`Ridge` — offline least squares, the batch baseline.

Continual learning (torch): :class:`HLOP` — Hebbian lateral subspace neurons per layer and
orthogonal projection of the weight updates (:class:`HebbianSubspace` for one layer).

Plastic synapses of the event-driven engine (``Network.connect(..., synapse=...)``): :func:`STDP`,
:func:`IzhikevichSTDP` and :func:`TsodyksMarkram` (short-term plasticity), each a
:class:`neurosim.SynapseModel` definition (:mod:`neurosim.plasticity.synapses`).
"""

from .force import FORCE, RLSDivergedError
from .readout import Readout
from .ridge import Ridge
from .synapses import STDP, IzhikevichSTDP, TsodyksMarkram
from .three_factor import ThreeFactorHebbian

__all__ = ["STDP", "IzhikevichSTDP", "TsodyksMarkram", "Readout", "FORCE", "RLSDivergedError", "ThreeFactorHebbian", "Ridge", "HLOP", "HebbianSubspace"]


def __getattr__(name):  # HLOP needs torch: imported on first use only
    if name in ("HLOP", "HebbianSubspace"):
        from . import hlop

        return getattr(hlop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
