"""Learnable synaptic delays: a linear layer whose every synapse has its own delay (DCLS).

Hammouamri, Khalfaoui-Hassani & Masquelier (ICLR 2024) learn a real-valued delay per synapse
by spreading the synapse's weight over time as a Gaussian centred on the delay: the layer is a
causal 1-D convolution over time whose kernel for synapse (i -> j) is

    W[j, i, k] = w[j, i] * g(k; d[j, i], sigma),   g = exp(-(k - d)^2 / (2 sigma^2)), normalised over k,

for the taps k = 0 .. max_delay within 4 sigma of the delay (the window; the tail beyond holds
6e-5 of the Gaussian's mass). The gradient reaches ``d`` through the Gaussian; ``sigma`` is
annealed towards 0 during training (set ``layer.sigma``), and ``sigma = 0`` uses the rounded
integer delays exactly (one tap), as the event-driven engine does.

The convolution (:func:`neurosim.kernels.delays.windowed_delay_conv`) runs on fused kernels
that visit only each synapse's window (work ``T * B * synapses * window``: 4x faster than a
dense conv1d at sigma = 0 here) when the windows are narrow, Numba on the CPU and Triton on
CUDA, and on torch's conv1d when they are wide. None forms a ``[T, batch, n_in, n_out]`` tensor;
the kernel is ``[n_out, n_in, max_delay + 1]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

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
    backend : "auto" (for narrow windows Numba on CPU, Triton on CUDA; else conv1d), "numba",
        "triton" or "conv1d" (the reference); see :mod:`neurosim.kernels.delays`.

    Input ``x [T, B, n_in]`` with ``T >= max_delay + 1``; output ``[T, B, n_out]`` (the first
    steps see zeros before the sequence).
    """

    def __init__(self, n_in: int, n_out: int, max_delay: int, *, sigma: float = 1.0, bias: bool = True,
                 delay_init="uniform", backend: str = "auto"):
        super().__init__()
        from neurosim.kernels.delays import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
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

    @torch.no_grad()
    def clamp_delays_(self) -> None:
        """Put the delays back into ``[0, max_delay]``. Call it after each optimiser step: the
        forward pass clamps them, so a delay pushed outside gets no gradient and would stay."""
        self.delay.clamp_(0, self.max_delay)

    def integer_delays(self) -> torch.Tensor:
        """The delays rounded to whole steps (int64 ``[n_out, n_in]``), as ``sigma = 0`` uses them."""
        return self.delay.detach().clamp(0, self.max_delay).round().long()

    def windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each synapse's taps ``lo:hi`` (int64 ``[n_out, n_in]``): within 4 sigma of its delay,
        and always its rounded delay (alone at ``sigma = 0``)."""
        if self._sigma == 0:
            lo = self.integer_delays()
            return lo, lo + 1
        delay = self.delay.detach().clamp(0, self.max_delay)
        radius = 4.0 * self._sigma
        nearest = delay.round().long()  # in every window: below sigma = 1/8 the radius may hold no whole step
        lo = torch.minimum(torch.ceil(delay - radius).clamp(min=0).long(), nearest)
        hi = torch.maximum((torch.floor(delay + radius) + 1).clamp(max=self.max_delay + 1).long(), nearest + 1)
        return lo, hi

    def kernel(self, windows=None) -> torch.Tensor:
        """The convolution kernel ``[n_out, n_in, max_delay + 1]`` (tap k: delay of k steps),
        zero outside each synapse's window."""
        lo, hi = self.windows() if windows is None else windows
        taps = torch.arange(self.max_delay + 1, dtype=self.delay.dtype, device=self.delay.device)
        inside = (taps >= lo[..., None]) & (taps < hi[..., None])
        if self._sigma == 0:
            shape = inside.to(self.weight.dtype)
        else:
            delay = self.delay.clamp(0, self.max_delay)
            logits = -((taps - delay[..., None]) ** 2) / (2 * self._sigma**2)
            shape = torch.softmax(logits.masked_fill(~inside, -torch.inf), dim=-1)
        return self.weight[..., None] * shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from neurosim.kernels.delays import windowed_delay_conv

        name = type(self).__name__
        check_sequence(name, x, self.n_in)
        if x.shape[0] < self.max_delay + 1:
            raise ValueError(f"{name}: the input has {x.shape[0]} time steps, fewer than the kernel's max_delay + 1 = "
                             f"{self.max_delay + 1}; use longer sequences or a smaller max_delay")
        if not torch.isfinite(self.delay).all():
            raise ValueError(f"{name}: delay holds NaN or inf (check the learning rate)")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"{name} input must have the module's dtype {self.weight.dtype} (convert the module with "
                            f".to(dtype) or the input), got {x.dtype}")
        windows = self.windows()
        y = windowed_delay_conv(x, self.kernel(windows), *windows, backend=self.backend)
        return y if self.bias is None else y + self.bias


_STEP_LIF = {}


def _step_lif(reset: str):
    """The engine model of ``neurosim.nn.LIF`` (one definition per reset mode): per step
    ``v = beta v + input`` with the synaptic input a one-step pulse, spike ``v > threshold``."""
    if reset not in _STEP_LIF:
        import neurosim as ns

        after = {"subtract": "v = v - threshold", "zero": "v = 0.0", "none": ""}[reset]
        _STEP_LIF[reset] = ns.NeuronModel(
            f"StepLIF_{reset}",
            parameters={"beta": ns.Parameter(0.9, positive=True), "threshold": ns.Parameter(1.0, positive=True)},
            state={"v": ns.State(0.0), "i_in": ns.State(0.0)},
            update="v = beta * v + (i_in + i_ext)\ni_in = 0.0",
            threshold="v > threshold", reset=after or None, inputs={"exc": "i_in"})
    return _STEP_LIF[reset]


def delays_to_network(delays: DelayedLinear, lif, input_spikes, dt: float = 1.0):
    """The event-driven engine's network of ``lif(delays(x))``: a trained delay layer with
    integer delays (``sigma = 0``) feeding a ``neurosim.nn.LIF`` layer, driven by the binary
    input ``input_spikes [T, n_in]`` (one sequence).

    Returns ``(network, source, neurons)``. The engine's delay counts the step a spike takes to
    arrive, so each synapse gets ``delay + 1`` steps and the network lags the layers by one
    step: run it for ``(T + 1) * dt`` ms; its spikes at step ``t + 1`` are the layers' at step
    ``t``. With weights, bias, ``beta`` and ``threshold`` that add exactly (multiples of a
    power of two, float64 layers) the spikes are identical; otherwise sums in another order
    may round differently near the threshold.
    """
    import numpy as np

    import neurosim as ns

    from .layers import LIF

    if not isinstance(delays, DelayedLinear):
        raise TypeError(f"delays must be a neurosim.nn.DelayedLinear, got {type(delays).__name__}")
    if not isinstance(lif, LIF):
        raise TypeError(f"lif must be a neurosim.nn.LIF, got {type(lif).__name__}")
    if delays.sigma != 0:
        raise ValueError(f"delays.sigma must be 0 (integer delays, as the engine has) to export, got {delays.sigma}; "
                         "anneal it to 0 and fine-tune first")
    if lif.n != delays.n_out:
        raise ValueError(f"lif has {lif.n} neurons but delays has n_out = {delays.n_out}")
    spikes = np.asarray(input_spikes.detach().cpu() if hasattr(input_spikes, "detach") else input_spikes)
    if spikes.ndim != 2 or spikes.shape[1] != delays.n_in or not np.all((spikes == 0) | (spikes == 1)):
        raise ValueError(f"input_spikes must be a binary [T, n_in = {delays.n_in}] array, got shape {spikes.shape}")
    weight = delays.weight.detach().double().cpu().numpy()  # [n_out, n_in]
    steps = delays.integer_delays().cpu().numpy() + 1  # the engine's delay includes the arrival step
    net = ns.Network(dt=dt)
    step_times, neurons = np.nonzero(spikes)
    source = net.population("input", ns.SpikeTimes(delays.n_in, indices=neurons, times=step_times * dt))
    per_neuron = lambda p: np.broadcast_to(torch.as_tensor(p).detach().double().cpu().numpy(), (lif.n,)).copy()  # noqa: E731
    target = net.population("lif", _step_lif(lif.reset)(lif.n, beta=per_neuron(lif.beta),
                                                         threshold=per_neuron(lif.threshold)))
    if np.any(weight != 0):
        net.connect(source, target, ns.connect.from_matrix(weight.T), delay=steps.T * dt, receptor="exc")
    if delays.bias is not None and torch.any(delays.bias != 0):
        net.add_current(target, ns.ConstantCurrent(delays.bias.detach().double().cpu().numpy()))
    return net, source, target
