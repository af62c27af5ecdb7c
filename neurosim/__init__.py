"""neurosim: spiking and neuromorphic simulation for Python.

Quick start::

    import neurosim as ns
    net = ns.Network(dt=0.5, seed=1)
    exc = net.population("exc", ns.Izhikevich.regular_spiking(800, heterogeneity=1.0))
    inh = net.population("inh", ns.Izhikevich.fast_spiking(200, heterogeneity=1.0))
    net.connect(exc, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(0.0, 0.5))
    net.connect(inh, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(-1.0, 0.0))
    net.add_current(exc, ns.NoiseCurrent(std=5.0))
    net.add_current(inh, ns.NoiseCurrent(std=2.0))
    result = net.run(1000.0)                       # ms, numba backend
    ns.plot.raster(result, path="raster.png")
"""

import os as _os

# In a source checkout run from the repository root (``python -m neurosim`` there puts the
# root on sys.path), this folder shadows the installed package, and the folders that
# pyproject maps into the namespace (kernels/, circuits/, ...) sit beside it: let the
# namespace find them there too, so the checkout behaves like the installed package.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "pyproject.toml")) and _os.path.isdir(_os.path.join(_root, "kernels")):
    __path__.append(_root)

from . import connect  # noqa: E402
from .errors import DamagedFileError, InsufficientMemoryError, SimulationError, SimulationInterrupted
from .hooks import Hook, HookContext
from .inputs import ConstantCurrent, NoiseCurrent
from .definition import ModelDefinitionError, NeuronModel, Parameter, State
from .synapse_definition import Synapse, SynapseModel
from .models import LIF, AdEx, CondLIF, CustomModel, Izhikevich, PoissonCounts, PoissonSource, SpikeTimes
from .network import Network, Population, Projection
from .random import Gamma, Normal, Uniform
from .result import RunResult, Spikes, StateTrace

__version__ = "0.1.0"


def __getattr__(name):
    # plot pulls in matplotlib, experiments the example registry, sweep dask: imported on first use.
    if name in ("plot", "experiments"):
        import importlib

        return importlib.import_module(f"neurosim.{name}")
    if name in ("sweep", "open_sweep", "linspace"):  # neurosim.sweeps
        import importlib

        return getattr(importlib.import_module("neurosim.sweeps"), name)
    raise AttributeError(f"module 'neurosim' has no attribute {name!r}")


__all__ = [
    "Network", "Population", "Projection", "SynapseModel", "Synapse", "LIF", "Izhikevich", "AdEx", "CondLIF", "PoissonSource", "PoissonCounts",
    "SpikeTimes",
    "NeuronModel", "Parameter", "State", "CustomModel", "ModelDefinitionError",
    "ConstantCurrent", "NoiseCurrent", "Uniform", "Normal", "Gamma", "RunResult", "Spikes", "StateTrace",
    "SimulationError", "SimulationInterrupted", "DamagedFileError", "InsufficientMemoryError", "Hook", "HookContext", "connect", "plot", "experiments", "__version__",
    "sweep", "open_sweep", "linspace",
]
