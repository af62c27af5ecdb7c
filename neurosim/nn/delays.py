"""Learnable synaptic delays: a linear layer whose every synapse has its own delay (DCLS).

Hammouamri, Khalfaoui-Hassani & Masquelier (ICLR 2024) learn a real-valued delay per synapse
by spreading the synapse's weight over time as a Gaussian centred on the delay: the layer is a
causal 1-D convolution over time whose kernel for synapse (i -> j) is

    W[j, i, k] = w[j, i] * g(k; d[j, i], sigma),   g = exp(-(k - d)^2 / (2 sigma^2)), normalised over k,

for k = 0 .. max_delay steps. The gradient reaches ``d`` through the Gaussian; ``sigma`` is
annealed towards 0 during training (set ``layer.sigma``), and ``sigma = 0`` uses the rounded
integer delays exactly (a one-hot kernel), as the event-driven engine does.

Memory: the kernel is ``[n_out, n_in, max_delay + 1]``; the convolution never forms a
``[T, batch, n_in, n_out]`` tensor (torch's conv1d unfolds the input to
``[batch, n_in * (max_delay + 1), T]`` at most).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..validation import check_int, check_number
from .layers import check_sequence


class DelayedLinear(nn.Module):
    """``y[t, b, j] = sum_i w[j, i] x[t - d[j, i], b, i] (+ bias[j])`` with a learnable delay
    ``d[j, i]`` (steps) per synapse, smoothed by a Gaussian of width ``sigma``.

    Parameters
    ----------
    n_in, n_out : input and output features.
    max_delay : longest delay, steps (>= 0); delays are kept in ``[0, max_delay]``.
    sigma : width of the Gaussian (steps, >= 0); 0 uses the rounded integer delays.
    bias : add a learnable bias.
    delay_init : "uniform" (default: uniform over ``[0, max_delay]``) or a number (every delay).

    Input ``x [T, B, n_in]`` with ``T >= max_delay + 1``; output ``[T, B, n_out]`` (the first
    steps see zeros before the sequence).
    """

    def __init__(self, n_in: int, n_out: int, max_delay: int, *, sigma: float = 1.0, bias: bool = True,
                 delay_init="uniform"):
        super().__init__()
        self.n_in = check_int("n_in", n_in, minimum=1)
        self.n_out = check_int("n_out", n_out, minimum=1)
        self.max_delay = check_int("max_delay", max_delay, minimum=0)
        self.sigma = sigma  # checked by the setter
        bound = 1.0 / math.sqrt(self.n_in)
        self.weight = nn.Parameter(torch.empty(self.n_out, self.n_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(self.n_out).uniform_(-bound, bound)) if bias else None
        if isinstance(delay_init, str):
            if delay_init != "uniform":
                raise ValueError(f"delay_init must be 'uniform' or a number of steps, got {delay_init!r}")
            delay = torch.rand(self.n_out, self.n_in) * self.max_delay
        else:
            d = check_number("delay_init", delay_init, nonnegative=True)
            if d > self.max_delay:
                raise ValueError(f"delay_init must be within [0, max_delay = {self.max_delay}] steps, got {d}")
            delay = torch.full((self.n_out, self.n_in), float(d))
        self.delay = nn.Parameter(delay)

    @property
    def sigma(self) -> float:
        return self._sigma

    @sigma.setter
    def sigma(self, value) -> None:
        self._sigma = check_number("sigma", value, nonnegative=True)

    def integer_delays(self) -> torch.Tensor:
        """The delays rounded to whole steps (int64 ``[n_out, n_in]``), as ``sigma = 0`` uses them."""
        return self.delay.detach().clamp(0, self.max_delay).round().long()

    def kernel(self) -> torch.Tensor:
        """The convolution kernel ``[n_out, n_in, max_delay + 1]`` (tap k: delay of k steps)."""
        taps = torch.arange(self.max_delay + 1, dtype=self.delay.dtype, device=self.delay.device)
        delay = self.delay.clamp(0, self.max_delay)
        if self._sigma == 0:
            shape = F.one_hot(self.integer_delays(), self.max_delay + 1).to(self.weight.dtype)
        else:
            shape = torch.softmax(-((taps - delay[..., None]) ** 2) / (2 * self._sigma**2), dim=-1)
        return self.weight[..., None] * shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        check_sequence(name, x, self.n_in)
        if x.shape[0] < self.max_delay + 1:
            raise ValueError(f"{name}: the input has {x.shape[0]} time steps, fewer than the kernel's max_delay + 1 = "
                             f"{self.max_delay + 1}; use longer sequences or a smaller max_delay")
        if not torch.isfinite(self.delay).all():
            raise ValueError(f"{name}: delay holds NaN or inf (check the learning rate)")
        # conv1d correlates: tap k of the flipped kernel reads x[t - (max_delay - k)] after the
        # causal padding, so flipping puts delay k at x[t - k]
        inputs = F.pad(x.permute(1, 2, 0), (self.max_delay, 0))  # [B, n_in, T + max_delay]
        y = F.conv1d(inputs, self.kernel().flip(-1), self.bias)  # [B, n_out, T]
        return y.permute(2, 0, 1)
