"""Current-based LIF neurons (``CubaLIF``): a synaptic current filters the input, the membrane
integrates the current.

    import neurosim.nn as snn
    layer = snn.CubaLIF(128, alpha=0.8, beta=0.9, threshold=1.0)
    spikes, state = layer(x)            # x: [T, batch, 128], time-major

NIR's ``CubaLIF`` node imports into this layer (:func:`neurosim.nn.import_nir`) and it exports
back to one (:func:`neurosim.nn.export_nir`); it is an ordinary layer too, trained like ``LIF``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurosim.validation import as_real_array

from .layers import (FLOAT32_MAX, LI, LIF, LIFState, check_finite_result, check_finite_state, check_sequence,
                     check_size, check_state)

__all__ = ["CubaLIF", "CubaLIFState"]


def _host(value):
    """A tensor as a numpy array (other values as they are), for the numpy-side checks."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def _vector(name: str, value, n: int) -> torch.Tensor:
    """A finite scalar or ``[n]`` value as a float32 ``[n]`` tensor (NaN fails ``<=`` too)."""
    arr = as_real_array(name, _host(value))
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n) or not np.all(np.abs(arr) <= FLOAT32_MAX):
        raise ValueError(f"{name} must be a finite scalar or have shape [{n}], within float32's range, "
                         f"got {value!r:.80}")
    return torch.as_tensor(np.broadcast_to(arr, (n,)).copy()).float()


class CubaLIFState(NamedTuple):
    """State of a :class:`CubaLIF` layer, each ``[B, n]``: synaptic current ``i``, membrane after
    the reset ``v`` and the spikes of the last step ``s`` (0/1; they drive the recurrence)."""

    i: torch.Tensor
    v: torch.Tensor
    s: torch.Tensor


class CubaLIF(nn.Module):
    """Current-based LIF neurons, discrete time, optionally recurrent (NIR's ``CubaLIF``).

    Per step (all ``[B, n]``; ``rec = s[t-1] @ W_rec.T + b_rec`` when ``recurrent`` is given,
    else 0; ``s[-1] = 0``)::

        i[t] = alpha i[t-1] + syn_gain (x[t] + rec)          synaptic current
        u[t] = beta v[t-1] + mem_gain i[t] + mem_offset       membrane before the reset
        s[t] = H(u[t] - threshold);   v[t] = u[t] (1 - s[t])  (reset to zero)

    Time is counted in steps, so the decays are per step: with a step ``dt`` and time
    constants ``tau_syn``, ``tau_mem`` (same unit, e.g. ms), ``alpha = 1 - dt / tau_syn`` and
    ``beta = 1 - dt / tau_mem`` (forward Euler, NIR's and snnTorch's convention; ``exp(-dt /
    tau)`` for the exact decay). Input, current and membrane are dimensionless, in units of
    the threshold's scale, as in :class:`neurosim.nn.LIF`.

    Parameters
    ----------
    n : number of neurons (>= 1).
    alpha, beta : current and membrane decay per step in (0, 1], scalars or ``[n]``.
    threshold : firing threshold (> 0), scalar or ``[n]``.
    syn_gain, mem_gain, mem_offset : input gain into the current, gain of the current into the
        membrane, and a constant membrane drive per step; scalars or ``[n]`` (a NIR node gives
        ``w_in dt / tau_syn``, ``r dt / tau_mem``, ``(dt / tau_mem) v_leak``).
    recurrent : ``torch.nn.Linear(n, n)`` from the spikes back into the current, or None.
    surrogate, detach_reset, backend : as :class:`neurosim.nn.LIF`. The feed-forward layer runs
        as a neurosim ``LI`` (the current) followed by a ``LIF`` over the whole sequence (the
        fused kernels); the recurrent one loops over time steps in torch (``backend`` is not
        used there).

    ``forward(x [T, B, n], state=None)`` returns ``(spikes [T, B, n], CubaLIFState)``; the
    initial state is all zeros; ``x``'s dtype and device are kept.

    Example
    -------
    >>> import torch, neurosim.nn as snn
    >>> layer = snn.CubaLIF(3, alpha=0.5, beta=0.9, threshold=1.0)
    >>> spikes, state = layer(torch.ones(10, 2, 3))
    >>> spikes.shape, state.i.shape
    (torch.Size([10, 2, 3]), torch.Size([2, 3]))
    """

    def __init__(self, n: int, alpha, beta, threshold, *, syn_gain=1.0, mem_gain=1.0, mem_offset=0.0,
                 recurrent: nn.Linear | None = None, surrogate=None, detach_reset: bool = False,
                 backend: str = "auto"):
        super().__init__()
        n = check_size("n (number of neurons)", n)
        self.synapse = LI(n, alpha, backend=backend)
        self.neuron = LIF(n, beta, threshold, reset="zero", surrogate=surrogate, detach_reset=detach_reset,
                          backend=backend)
        self.n = n
        for name, value in (("syn_gain", syn_gain), ("mem_gain", mem_gain), ("mem_offset", mem_offset)):
            self.register_buffer(name, _vector(name, value, n))
        if recurrent is not None and (not isinstance(recurrent, nn.Linear)
                                      or recurrent.in_features != n or recurrent.out_features != n):
            raise ValueError(f"recurrent must be a torch.nn.Linear({n}, {n}), got {recurrent!r}")
        self.recurrent = recurrent

    def forward(self, x: torch.Tensor, state: CubaLIFState | None = None):
        check_sequence(type(self).__name__, x, self.n)
        if state is None:
            zeros = torch.zeros(x.shape[1], self.n, dtype=x.dtype, device=x.device)
            state = CubaLIFState(zeros, zeros, zeros)
        else:  # checked here, [B, n], so that a message names CubaLIF's field, not an inner layer's
            state = check_state(type(self).__name__, state, CubaLIFState, x, self.n)
            check_finite_state(type(self).__name__, state)
        i0, v0, s0 = state
        syn_gain, mem_gain, mem_offset = (b.to(x) for b in (self.syn_gain, self.mem_gain, self.mem_offset))
        if self.recurrent is None:
            i, si = self.synapse(x * syn_gain, LIFState(i0))
            s, sv = self.neuron(i * mem_gain + mem_offset, LIFState(v0))
            return s, CubaLIFState(si.v, sv.v, s[-1])
        # Recurrent: the spikes feed the current of the next step, so step through time.
        alpha = self.synapse._vector(self.synapse.beta, x)
        beta, threshold = self.neuron._params(x)
        if isinstance(self.synapse.beta, nn.Parameter):
            alpha = alpha.clamp(1e-6, 1.0)
        w = self.recurrent.weight.to(x)
        b = None if self.recurrent.bias is None else self.recurrent.bias.to(x)
        i, v, s = i0, v0, s0
        spikes = []
        for t in range(x.shape[0]):
            i = alpha * i + syn_gain * (x[t] + F.linear(s, w, b))
            u = beta * v + mem_gain * i + mem_offset
            s = self.neuron.surrogate(u - threshold)
            v = u * (1.0 - (s.detach() if self.neuron.detach_reset else s))
            spikes.append(s)
        check_finite_result(type(self).__name__, x, v)
        return torch.stack(spikes), CubaLIFState(i, v, s)

    def extra_repr(self) -> str:
        return f"{self.n}, recurrent={self.recurrent is not None}"
