"""Compute kernels: the numpy/torch references (the specification), Numba CPU and Triton kernels.

``get_run_chunk(backend, definitions)`` returns the run-chunk function of a CPU backend for a
network of those neuron models (definitions, :mod:`neurosim.definition`); all share the
argument layout of :mod:`neurosim.kernels.layout`. The GPU backend keeps the network on the
device between calls, so it is an object built for one network
(:class:`neurosim.kernels.engine.triton.TritonEngine`) called with the same arguments. ``linear_scan`` (torch) is the
differentiable linear-recurrence scan ``h[t] = a[t] * h[t-1] + b[t]`` of the state-space
layers (:mod:`neurosim.kernels.scan`), ``selective_scan`` the fused recurrence of a Mamba
layer (:mod:`neurosim.kernels.selective`); both are imported on first use so that the
engine does not pay torch's import.
"""

from __future__ import annotations

from . import layout
from .engine import reference

BACKENDS = ("numpy", "numba", "triton")


def get_run_chunk(backend: str, definitions=(), synapse_definitions=(), parallel: int = 1):
    """The ``run_chunk`` function of a CPU ``backend`` ("numpy" or "numba") for a network whose
    neuron models are ``definitions`` (in layout order) and whose plastic kinds run the synapse
    models ``synapse_definitions``; ``parallel`` (numba): the number of threads (> 1: the
    multi-threaded variant, for networks without plastic synapses)."""
    if backend == "numpy":
        import functools

        return functools.partial(reference.run_chunk, definitions=tuple(definitions),
                                 synapse_definitions=tuple(synapse_definitions))
    if backend == "numba":
        from .engine import numba as numba_engine  # imported lazily: compiling is only paid by numba users

        return numba_engine.run_chunk_for(tuple(definitions), tuple(synapse_definitions), parallel)
    if backend == "triton":
        raise ValueError("backend 'triton' runs through a TritonEngine built for one network, not get_run_chunk")
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def __getattr__(name):
    if name == "linear_scan":
        from .scan import linear_scan

        return linear_scan
    if name == "selective_scan":
        from .selective import selective_scan

        return selective_scan
    raise AttributeError(f"module 'neurosim.kernels' has no attribute {name!r}")


__all__ = ["BACKENDS", "get_run_chunk", "layout", "linear_scan", "reference", "selective_scan"]
