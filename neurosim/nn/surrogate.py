"""Surrogate derivatives for the spike threshold.

A spike is the Heaviside step ``s = H(x)`` of ``x = u - threshold`` (strictly: ``x > 0``).
Its true derivative is zero almost everywhere, so training replaces it in the backward pass
by a smooth bump ``ds/dx ~= derivative(x)``.

The built-ins (``fast_sigmoid``, ``arctan``, ``triangle``, ``sigmoid``) carry a ``kernel_id``
so the fused Numba/Triton kernels evaluate them inline. To add one, subclass ``Surrogate`` and
implement ``derivative`` (a torch function of ``x``), or call ``custom(fn)``; the fused kernels
then take the derivative precomputed by torch over the whole sequence (one extra pass, still
no Python loop over time steps).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch

from neurosim.kernels.common import ARCTAN, FAST_SIGMOID, SIGMOID, TRIANGLE  # the ids the fused kernels switch on
from neurosim.kernels.common.reference import surrogate_derivative
from ..validation import check_number

CUSTOM = -1


class Surrogate(ABC):
    """Base class: Heaviside forward, ``derivative(x)`` backward.

    ``param`` is the surrogate's one shape parameter (slope or width); ``kernel_id`` is the
    inline id of a built-in, ``CUSTOM`` for user surrogates.
    """

    kernel_id: int = CUSTOM
    param: float = 0.0

    @abstractmethod
    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Surrogate of dH/dx at ``x = u - threshold`` (same shape as ``x``)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``(x > 0)`` as ``x``'s dtype, with this surrogate as their gradient."""
        return _SpikeFunction.apply(x, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.param:g})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.param == other.param

    def __hash__(self) -> int:
        return hash((type(self), self.param))


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_spikes):
        (x,) = ctx.saved_tensors
        return grad_spikes * ctx.surrogate.derivative(x), None


class _BuiltIn(Surrogate):
    """A built-in surrogate: its formula is the one the fused kernels' references use
    (``neurosim.kernels.common.reference.surrogate_derivative``), written once."""

    def derivative(self, x):
        return surrogate_derivative(self.kernel_id, self.param, x)


class FastSigmoid(_BuiltIn):
    """SuperSpike (Zenke & Ganguli 2018): ``1 / (slope |x| + 1)^2``; snnTorch's
    ``fast_sigmoid(slope)`` and Norse's ``"super"`` with ``alpha = slope``."""

    kernel_id = FAST_SIGMOID

    def __init__(self, slope: float = 25.0):
        self.param = check_number("slope", slope, positive=True)


class ArcTan(_BuiltIn):
    """``(alpha / 2) / (1 + (pi alpha x / 2)^2)``, the derivative of ``atan(pi alpha x / 2) / pi``
    (snnTorch's and SpikingJelly's ``ATan``)."""

    kernel_id = ARCTAN

    def __init__(self, alpha: float = 2.0):
        self.param = check_number("alpha", alpha, positive=True)


class Triangle(_BuiltIn):
    """Piecewise linear ``alpha * max(0, 1 - |x|)`` (Esser 2016, Bellec 2020; Norse's
    ``"triangle"``)."""

    kernel_id = TRIANGLE

    def __init__(self, alpha: float = 0.3):
        self.param = check_number("alpha", alpha, positive=True)


class Sigmoid(_BuiltIn):
    """Derivative of ``sigmoid(slope x)``: ``slope * sig * (1 - sig)`` (snnTorch's ``sigmoid``;
    HLOP uses slope 4)."""

    kernel_id = SIGMOID

    def __init__(self, slope: float = 4.0):
        self.param = check_number("slope", slope, positive=True)


class Custom(Surrogate):
    """A user surrogate from a function ``fn(x) -> dH/dx`` written in torch."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str = "custom"):
        if not callable(fn):
            raise TypeError(f"surrogate function must be callable, got {type(fn).__name__}")
        self.fn, self.name = fn, name

    def derivative(self, x):
        return self.fn(x)

    def __repr__(self) -> str:
        return f"Custom({self.name})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Custom) and self.fn is other.fn

    def __hash__(self) -> int:
        return hash(self.fn)


def fast_sigmoid(slope: float = 25.0) -> FastSigmoid:
    return FastSigmoid(slope)


def arctan(alpha: float = 2.0) -> ArcTan:
    return ArcTan(alpha)


def triangle(alpha: float = 0.3) -> Triangle:
    return Triangle(alpha)


def sigmoid(slope: float = 4.0) -> Sigmoid:
    return Sigmoid(slope)


def custom(fn: Callable[[torch.Tensor], torch.Tensor], name: str = "custom") -> Custom:
    """Wrap ``fn(x) -> surrogate dH/dx`` (x = u - threshold) as a surrogate."""
    return Custom(fn, name)


def check_surrogate(surrogate) -> Surrogate:
    if not isinstance(surrogate, Surrogate):
        raise TypeError(
            "surrogate must be a neurosim.nn.surrogate.Surrogate (fast_sigmoid(), arctan(), triangle(), "
            f"sigmoid() or custom(fn)), got {type(surrogate).__name__}"
        )
    return surrogate
