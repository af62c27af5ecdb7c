"""The Expressive Leaky Memory (ELM) neuron (Spieler et al., ICLR 2024), time-major.

One ELM neuron (or a layer of them sharing nothing but the input) per module: synaptic
inputs are weighted, summed per dendritic branch and low-pass filtered; a small MLP reads the
branch traces and the decayed memory and drives a bank of leaky memory units whose time
constants are log-spaced over three decades; the output is linear in the memory. Per step
(``kappa = exp(-dt / tau)``, as the authors' code ``AaronSpieler/elmneuron``, v2)::

    b[t]  = kappa_b * b[t-1] + sum over each branch's synapses of  w_s * x[t]     (w_s = ReLU(.))
    dm[t] = 1.7159 * tanh(2/3 * MLP([b[t], kappa_m * m[t-1]]))
    m[t]  = kappa_m * m[t-1] + (1 - kappa_lambda) * dm[t],    kappa_lambda = exp(-lambda dt / tau_m)
    y[t]  = W_y m[t] + bias

The branch traces are a diagonal linear recurrence: they run on :func:`neurosim.kernels.linear_scan`
(one fused kernel call over all T, forward and backward). The memory's drive is a non-linear
function of the memory itself, so it is a loop over steps, differentiated by autograd (memory
grows with T: about ``T * batch * (n_memory * 4 + mlp_hidden) * 4`` bytes in float32).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ..validation import check_flag, check_int, check_number
from .layers import check_finite_result, check_sequence


class ELMState(NamedTuple):
    """State of an :class:`ELM` after a sequence: branch traces and memory units."""

    b: torch.Tensor  # [B, n_branch]
    m: torch.Tensor  # [B, n_memory]


def _scaled_sigmoid(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return (high - low) * torch.sigmoid(x) + low


def _inverse_scaled_sigmoid(y: torch.Tensor, low: float, high: float) -> torch.Tensor:
    y = y.clamp(low + 1e-6, high - 1e-6)
    return torch.log((y - low) / (high - y))


class ELM(nn.Module):
    """Expressive Leaky Memory neuron(s): ``(y [T, B, n_out], ELMState)`` from ``x [T, B, n_in]``.

    Parameters
    ----------
    n_in : synaptic inputs per step.
    n_out : outputs (e.g. 2 for NeuronIO's spike and soma, the classes of a classifier).
    n_memory : memory units ``d_m`` (the paper: 15 to 100).
    n_branch : dendritic branches; the inputs are split into ``n_branch`` contiguous groups of
        ``n_in / n_branch`` synapses each (must divide). Default: ``n_in`` (one synapse each).
    mlp_hidden : width of the MLP's hidden layers (default ``2 * n_memory``).
    mlp_layers : hidden layers of the MLP (ReLU), >= 1.
    lambda_value : the memory's drive scale ``lambda`` (> 0; 5 in the paper).
    tau_b : branch time constant, same unit as ``dt`` (default 5; fixed).
    tau_m : ``(min, max)`` of the memory time constants, log-spaced (default 1 to 1000).
    learn_tau_m : train the memory time constants (kept within ``tau_m``); default frozen.
    w_s : initial synaptic weight (``w_s = ReLU(parameter)``, > 0).
    dt : time step (same unit as the time constants).
    scan_backend : backend of the branch traces' :func:`linear_scan` (``"auto"``: Numba on
        CPU, Triton on CUDA).

    Examples
    --------
    >>> import torch
    >>> elm = ELM(n_in=8, n_out=2, n_memory=15)
    >>> y, state = elm(torch.rand(100, 4, 8))
    >>> y.shape, state.m.shape
    (torch.Size([100, 4, 2]), torch.Size([4, 15]))
    """

    def __init__(self, n_in: int, n_out: int, n_memory: int = 100, *, n_branch: int | None = None,
                 mlp_hidden: int | None = None, mlp_layers: int = 1, lambda_value: float = 5.0, tau_b: float = 5.0,
                 tau_m: tuple = (1.0, 1000.0), learn_tau_m: bool = False, w_s: float = 0.5, dt: float = 1.0,
                 scan_backend: str = "auto"):
        super().__init__()
        self.n_in = check_int("n_in", n_in, minimum=1)
        self.n_out = check_int("n_out", n_out, minimum=1)
        self.n_memory = check_int("n_memory", n_memory, minimum=1)
        self.n_branch = self.n_in if n_branch is None else check_int("n_branch", n_branch, minimum=1)
        if self.n_in % self.n_branch:
            raise ValueError(f"n_branch must divide n_in = {self.n_in} (each branch takes n_in / n_branch contiguous "
                             f"inputs), got {self.n_branch}")
        hidden = 2 * self.n_memory if mlp_hidden is None else check_int("mlp_hidden", mlp_hidden, minimum=1)
        layers = check_int("mlp_layers", mlp_layers, minimum=1)
        self.lambda_value = check_number("lambda_value", lambda_value, positive=True)
        self.dt = check_number("dt", dt, positive=True)
        tau_b = check_number("tau_b", tau_b, positive=True)
        if not (isinstance(tau_m, (tuple, list)) and len(tau_m) == 2):
            raise ValueError(f"tau_m must be a (min, max) pair of time constants, got {tau_m!r}")
        low = check_number("tau_m[0]", tau_m[0], positive=True)
        high = check_number("tau_m[1]", tau_m[1], positive=True)
        if not high > low:
            raise ValueError(f"tau_m must be (min, max) with max > min, got {tau_m!r}")
        self.tau_m_range = (low, high)
        learn_tau_m = check_flag("learn_tau_m", learn_tau_m)
        check_number("w_s", w_s, positive=True)
        self.scan_backend = scan_backend

        self._w_s = nn.Parameter(torch.full((self.n_in,), float(w_s)))
        self.register_buffer("kappa_b", torch.full((self.n_branch,), math.exp(-self.dt / tau_b)))
        # log-spaced over [min, max], stored through a scaled sigmoid so training keeps them inside
        tau = torch.logspace(math.log10(low + 1e-6), math.log10(high - 1e-6), self.n_memory)
        self._tau_m = nn.Parameter(_inverse_scaled_sigmoid(tau, low, high), requires_grad=learn_tau_m)
        sizes = [self.n_branch + self.n_memory] + [hidden] * layers
        mlp = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            mlp += [nn.Linear(a, b), nn.ReLU()]
        self.mlp = nn.Sequential(*mlp, nn.Linear(hidden, self.n_memory))
        self.readout = nn.Linear(self.n_memory, self.n_out)

    @property
    def w_s(self) -> torch.Tensor:
        """Synaptic weights ``[n_in]`` (ReLU of their parameter: never negative)."""
        return torch.relu(self._w_s)

    @property
    def tau_m(self) -> torch.Tensor:
        """Memory time constants ``[n_memory]`` (within ``tau_m_range``)."""
        return _scaled_sigmoid(self._tau_m, *self.tau_m_range)

    def forward(self, x: torch.Tensor, state: ELMState | None = None) -> tuple[torch.Tensor, ELMState]:
        """Run the sequence ``x [T, B, n_in]`` from ``state`` (zeros when None)."""
        name = type(self).__name__
        check_sequence(name, x, self.n_in)
        if x.dtype != self._w_s.dtype:
            raise TypeError(f"{name} input must have the module's dtype {self._w_s.dtype} (convert the module with "
                            f".to(dtype) or the input), got {x.dtype}")
        n_steps, batch = x.shape[0], x.shape[1]
        if state is not None:
            if not isinstance(state, ELMState):
                raise TypeError(f"state must be an ELMState (from a previous call) or None, got {type(state).__name__}")
            for field, n in (("b", self.n_branch), ("m", self.n_memory)):
                t = getattr(state, field)
                if tuple(t.shape) != (batch, n):
                    raise ValueError(f"state.{field} must have shape {(batch, n)}, got {tuple(t.shape)}")
        b0 = x.new_zeros(batch, self.n_branch) if state is None else state.b
        m = x.new_zeros(batch, self.n_memory) if state is None else state.m

        from neurosim.kernels import linear_scan  # imported on use: the engine does not pay torch's kernels

        drive = (x * self.w_s).reshape(n_steps, batch, self.n_branch, -1).sum(-1)
        b = linear_scan(self.kappa_b.to(x.dtype), drive, b0, backend=self.scan_backend)
        tau_m = self.tau_m
        kappa_m = torch.exp(-self.dt / tau_m)
        gain = 1.0 - torch.exp(-self.lambda_value * self.dt / tau_m)
        memory = []
        for t in range(n_steps):
            decayed = kappa_m * m
            dm = 1.7159 * torch.tanh(self.mlp(torch.cat([b[t], decayed], dim=-1)) * (2.0 / 3.0))
            m = decayed + gain * dm
            memory.append(m)
        y = self.readout(torch.stack(memory))
        check_finite_result(name, x, m, state, what="memory")
        return y, ELMState(b[-1], m)
