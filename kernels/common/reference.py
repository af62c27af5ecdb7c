"""Spikes and the built-in surrogate derivatives in torch: what the Numba and Triton kernels
compute inline.

The models' written-out passes (the fused kernels' contracts) use ``heaviside`` for the spikes
and ``surrogate_derivative`` in the backward, so every family's reference evaluates them the
same way.
"""

from __future__ import annotations

import math

import torch

from . import ARCTAN, FAST_SIGMOID, SIGMOID, TRIANGLE

__all__ = ["heaviside", "surrogate_derivative"]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Spikes ``H(x)`` (strict: ``x > 0``) in ``x``'s dtype, without a gradient: the forward of
    every surrogate, as the kernels compute it."""
    return (x > 0).to(x.dtype)


def surrogate_derivative(surrogate_id: int, param: float, x: torch.Tensor) -> torch.Tensor:
    """The built-in surrogate ``surrogate_id`` with shape parameter ``param`` at ``x`` (the
    membrane minus the threshold, any shape), as ``neurosim.nn.surrogate``'s built-ins."""
    if surrogate_id == FAST_SIGMOID:
        return 1.0 / (param * x.abs() + 1.0) ** 2
    if surrogate_id == ARCTAN:
        return (param / 2.0) / (1.0 + (math.pi / 2.0 * param * x) ** 2)
    if surrogate_id == TRIANGLE:
        return param * torch.relu(1.0 - x.abs())
    if surrogate_id == SIGMOID:
        sig = torch.sigmoid(param * x)
        return param * sig * (1.0 - sig)
    raise ValueError(f"unknown surrogate id {surrogate_id}")
