"""Surrogate-gradient spiking layers (torch), fused over time on Numba (CPU) and Triton (GPU).

    import neurosim.nn as snn
    layer = snn.LIF(512, beta=0.9, threshold=1.0, surrogate=snn.surrogate.fast_sigmoid(slope=25))
    spikes, state = layer(x)            # x: [T, batch, 512], time-major
    layer = snn.from_model(ns.AdEx(64), dt=0.1)   # any neuron model, user-defined ones too

Needs torch (``pip install -c constraints.txt ".[torch]"``).
"""

from . import surrogate
from .cuba_lif import CubaLIF, CubaLIFState
from .delays import DelayedLinear, delays_to_network
from .elm import ELM, ELMState
from .hd_conv import HeterogeneousDelayConv
from .functional import lif_sequence
from .layers import LI, LIF, Izhikevich, IzhikevichState, LIFState, RecurrentLIF, RecurrentLIFState
from .model_layer import ModelLayer, from_model
from .nir_export import export_nir
from .nir_import import import_nir
from .nir_layers import MultiSpikeIF, PerStep, Shaped

__all__ = ["surrogate", "lif_sequence", "LIF", "RecurrentLIF", "LI", "Izhikevich", "LIFState",
           "RecurrentLIFState", "IzhikevichState", "export_nir", "import_nir",
           "CubaLIF", "CubaLIFState", "ModelLayer", "from_model", "ELM", "ELMState",
           "DelayedLinear", "delays_to_network", "HeterogeneousDelayConv", "PerStep", "Shaped", "MultiSpikeIF"]
