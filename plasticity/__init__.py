"""neurosim.plasticity: learning rules and online readouts.

Readouts share one interface (:class:`Readout`: ``predict``, ``partial_fit``, ``fit``):

* :class:`FORCE` — recursive least squares (Sussillo & Abbott 2009; Nicola & Clopath 2017);
* :class:`ThreeFactorHebbian` — error-modulated, attention-gated Hebbian rule;
* :class:`Ridge` — offline least squares, the batch baseline.
"""

from .force import FORCE, RLSDivergedError
from .readout import Readout
from .ridge import Ridge
from .three_factor import ThreeFactorHebbian

__all__ = ["Readout", "FORCE", "RLSDivergedError", "ThreeFactorHebbian", "Ridge"]
