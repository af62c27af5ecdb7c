"""Fixed heterogeneous synaptic delays as a spatio-temporal convolution (HD-SNN).

Grimaldi & Perrinet (2023) give every synapse from an input pixel to an output neuron its own
delay: a neuron at ``(y, x)`` sums the input pixels around it, each seen through a whole set of
delays ``d = 0 .. n_delays - 1`` with a weight per delay. Over event frames (ON / OFF counts per
time step) that is a causal 3-D convolution over (time, y, x)::

    v[t, b, o, y, x] = bias[o] + sum_{c, d, i, j} w[o, c, d, i, j] * s[t - d, b, c, Y + i, X + j]

with ``Y = y * stride - padding``, ``X = x * stride - padding`` and the spikes ``s`` zero
before the sequence and outside the frame. Each weight ``w[o, c, d, i, j]`` is one synapse
with delay ``d``; a kernel that follows a moving edge (its weights move across space as ``d`` grows) makes
the neuron a detector of that motion. Pruning keeps the largest weights: the paper's claim is
that accuracy stays near its peak with a few per cent of them, so an event-driven
implementation does a few per cent of the operations.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..validation import check_int, check_number


def _pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return check_int(f"{name}[0]", value[0], minimum=1), check_int(f"{name}[1]", value[1], minimum=1)
    v = check_int(name, value, minimum=1)
    return v, v


class HeterogeneousDelayConv(nn.Module):
    """A causal convolution over (time, y, x) whose temporal taps are synaptic delays.

    Parameters
    ----------
    in_channels : input channels (2 for ON / OFF event frames).
    out_channels : output neurons per position (e.g. one per motion class).
    n_delays : delays per synapse, 0 .. n_delays - 1 steps (the kernel's temporal extent).
    kernel_size : spatial extent, an int or ``(height, width)`` pixels.
    stride, padding : spatial stride and zero padding (ints >= 1 and >= 0).
    bias : add a learnable bias per output channel.

    ``weight [out_channels, in_channels, n_delays, kh, kw]``: ``weight[:, :, d]`` is the weight
    of the synapses with delay ``d`` steps. Input ``x [T, B, in_channels, H, W]`` (time-major,
    like the other layers, ``T >= n_delays``); output the membrane potentials ``[T, B,
    out_channels, H', W']`` (``H' = (H + 2 padding - kh) // stride + 1``). Pruned weights
    (:meth:`prune_`) stay zero when training goes on.
    """

    def __init__(self, in_channels: int, out_channels: int, n_delays: int, kernel_size, *, stride: int = 1,
                 padding: int = 0, bias: bool = True):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.n_delays = check_int("n_delays", n_delays, minimum=1)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = check_int("stride", stride, minimum=1)
        self.padding = check_int("padding", padding, minimum=0)
        shape = (self.out_channels, self.in_channels, self.n_delays, *self.kernel_size)
        bound = 1.0 / math.sqrt(math.prod(shape[1:]))
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(self.out_channels)) if bias else None
        self.register_buffer("mask", torch.ones(shape, dtype=torch.bool))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(H', W')`` for an input of ``height x width`` pixels."""
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        return (height + 2 * p - kh) // s + 1, (width + 2 * p - kw) // s + 1

    def _check_input(self, x) -> None:
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f"{name} input must be a [T, batch, in_channels = {self.in_channels}, height, width] "
                             f"tensor, got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name} input must be floating point, got {x.dtype}")
        if x.shape[0] < self.n_delays:
            raise ValueError(f"{name}: the input has {x.shape[0]} time steps, fewer than the kernel's n_delays = "
                             f"{self.n_delays}; use longer sequences or fewer delays")
        if min(self.output_size(x.shape[3], x.shape[4])) < 1:
            raise ValueError(f"{name}: the input's {x.shape[3]} x {x.shape[4]} pixels are smaller than the kernel "
                             f"{self.kernel_size} with padding {self.padding}")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"{name} input must have the module's dtype {self.weight.dtype}, got {x.dtype}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        weight = self.weight * self.mask
        frames = F.pad(x.permute(1, 2, 0, 3, 4), (0, 0, 0, 0, self.n_delays - 1, 0))  # [B, C, T + D - 1, H, W]
        # conv3d correlates: the time-flipped kernel's tap k reads s[t - (D - 1 - k)]
        v = F.conv3d(frames, weight.flip(2), self.bias, stride=(1, self.stride, self.stride),
                     padding=(0, self.padding, self.padding))
        return v.permute(2, 0, 1, 3, 4)

    @property
    def n_synapses(self) -> int:
        """Synapses with a non-zero weight (one per weight and delay)."""
        return int(((self.weight.detach() != 0) & self.mask).sum())

    @torch.no_grad()
    def prune_(self, keep: float) -> int:
        """Keep the ``keep`` fraction (0 < keep <= 1) of the weights largest in magnitude (at
        least one), zero the rest, from now on. Returns the number kept."""
        keep = check_number("keep", keep, positive=True)
        if keep > 1:
            raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
        magnitude = (self.weight.abs() * self.mask).flatten()
        count = max(1, math.ceil(keep * magnitude.numel()))
        kept = torch.zeros_like(magnitude, dtype=torch.bool)
        kept[torch.topk(magnitude, count).indices] = True
        self.mask &= kept.view_as(self.mask)
        self.weight.mul_(self.mask)
        return int(self.mask.sum())

    @torch.no_grad()
    def synaptic_operations(self, x: torch.Tensor) -> torch.Tensor:
        """Operations an event-driven run does on ``x [T, B, in_channels, H, W]`` (event
        counts): each input event adds its weight to every non-zero synapse it feeds, so the
        count per sequence is ``sum over events of the pixel's fan-out`` (``[B]``, float)."""
        self._check_input(x)
        height, width = x.shape[3:]
        alive = ((self.weight != 0) & self.mask).sum(2).to(x.dtype)  # [out, in, kh, kw]: synapses over all delays
        out_h, out_w = self.output_size(height, width)
        ones = x.new_ones(1, self.out_channels, out_h, out_w)
        # the rows (columns) past the last full stride are covered too: output_padding restores them
        extra = ((height + 2 * self.padding - self.kernel_size[0]) % self.stride,
                 (width + 2 * self.padding - self.kernel_size[1]) % self.stride)
        fan_out = F.conv_transpose2d(ones, alive, stride=self.stride, padding=self.padding, output_padding=extra)[0]
        return torch.einsum("tbchw,chw->b", x, fan_out)  # fan_out: [in, H, W]
