"""neurosim.plasticity: learning rules and online readouts.

Readouts share one interface (:class:`Readout`: ``predict``, ``partial_fit``, ``fit``):

* :class:`FORCE` — recursive least squares (Sussillo & Abbott 2009; Nicola & Clopath 2017);
* :class:`ThreeFactorHebbian` — error-modulated, attention-gated Hebbian rule;
* :class:`Ridge` — offline least squares, the batch baseline.

Continual learning (torch): :class:`HLOP` — Hebbian lateral subspace neurons per layer and
orthogonal projection of the weight updates (:class:`HebbianSubspace` for one layer).
"""

from .force import FORCE, RLSDivergedError
from .readout import Readout
from .ridge import Ridge
from .three_factor import ThreeFactorHebbian

__all__ = ["Readout", "FORCE", "RLSDivergedError", "ThreeFactorHebbian", "Ridge", "HLOP", "HebbianSubspace"]


def __getattr__(name):  # HLOP needs torch: imported on first use only
    if name in ("HLOP", "HebbianSubspace"):
        from . import hlop

        return getattr(hlop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
