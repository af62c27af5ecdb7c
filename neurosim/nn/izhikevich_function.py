"""Fused Izhikevich sequences: one kernel call forward, one backward, whatever T is.

``izhikevich_sequence`` runs the Izhikevich recurrence of
``kernels/izhikevich/reference.izhikevich_sequence_reference`` (the specification) over a whole
sequence on the chosen backend:

- ``"numba"``: fused Numba CPU kernels (CPU tensors; the default there),
- ``"triton"``: fused Triton kernels (CUDA tensors; the default there; CPU tensors under
  ``TRITON_INTERPRET=1``, which is how CI tests them),
- ``"reference"``: the torch loop differentiated by autograd (the specification; slow, and it
  keeps every substep's intermediate tensors for the backward pass),
- ``"torch"``: the fused kernels' contract (``kernels/izhikevich/reference.py``) as torch loops,
  forward and explicit backward (for tests of the plumbing; slow).

The fused backends save the state at the start of every step (``v_start``, ``u_start``: two
values per neuron-step) and the input current; the backward kernel recomputes the substeps,
the spikes and the surrogate from them. Custom surrogates get their derivative evaluated by
torch over the whole sequence first (one vectorised pass), the built-ins inline in the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurosim.kernels.izhikevich import reference as contract
from neurosim.kernels.izhikevich.reference import izhikevich_sequence_reference
from neurosim.validation import check_flag, check_int, check_number

from .functional import as_real_tensor, check_input, check_tensor, load_kernel, resolve_backend
from .surrogate import CUSTOM, Surrogate, check_surrogate

__all__ = ["izhikevich_sequence"]


def _kernel_module(backend: str, device: torch.device):
    return load_kernel(backend, device, contract=contract, numba="izhikevich.numba", triton="izhikevich.triton")


@dataclass(frozen=True)
class _Config:
    kernel: object
    dt: float
    substeps: int
    detach_reset: bool
    surrogate: Surrogate


class _FusedIzhikevich(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, v0, u0, a, b, c, d, v_peak, config: _Config):
        spikes, v_start, u_start, v_last, u_last = config.kernel.izhikevich_forward(
            current, v0, u0, a, b, c, d, v_peak, config.dt, config.substeps)
        ctx.config = config
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(current, v_start, u_start, a, b, c, d, v_peak)
        return spikes, v_last, u_last

    @staticmethod
    def backward(ctx, grad_spikes, grad_v, grad_u):
        current, v_start, u_start, a, b, c, d, v_peak = ctx.saved_tensors
        config = ctx.config
        if grad_spikes is None and grad_v is None and grad_u is None:
            return (None,) * 9
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(current)
        surrogate = config.surrogate
        surrogate_grad = None
        if surrogate.kernel_id == CUSTOM:
            p = contract.izhikevich_membrane(current, v_start, u_start, config.dt, config.substeps)
            surrogate_grad = surrogate.derivative(p - v_peak).to(current.dtype).contiguous()
        d_current, d_v0, d_u0, da, db, dc, dd, dvp = config.kernel.izhikevich_backward(
            grad_spikes.contiguous(), None if grad_v is None else grad_v.contiguous(),
            None if grad_u is None else grad_u.contiguous(), current, v_start, u_start, a, b, c, d, v_peak,
            config.dt, config.substeps, config.detach_reset, surrogate.kernel_id, float(surrogate.param),
            surrogate_grad)
        needs = ctx.needs_input_grad
        sums = [g.sum(0) if needs[3 + i] else None for i, g in enumerate((da, db, dc, dd, dvp))]
        return (d_current if needs[0] else None, d_v0 if needs[1] else None, d_u0 if needs[2] else None,
                *sums, None)


def _parameter(name: str, value, n: int, like: torch.Tensor) -> torch.Tensor:
    """A scalar or ``[n]`` parameter in ``like``'s dtype/device, broadcast to ``[n]``, contiguous
    (differentiable: the gradient of a broadcast parameter is summed back by autograd)."""
    t = as_real_tensor(name, value).to(dtype=like.dtype, device=like.device)
    if t.dim() > 1 or (t.dim() == 1 and t.shape[0] not in (1, n)):
        raise ValueError(f"{name} must broadcast to ({n},) (a scalar or one value per neuron), got shape {tuple(t.shape)}")
    return t.expand(n).contiguous()


def izhikevich_sequence(
    current: torch.Tensor,
    v0: torch.Tensor,
    u0: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    d: torch.Tensor,
    v_peak: torch.Tensor,
    surrogate: Surrogate,
    dt: float,
    substeps: int,
    detach_reset: bool = False,
    backend: str = "auto",
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Izhikevich neurons over a sequence; returns ``(spikes [T, B, N], (v_last, u_last) [B, N])``.

    Parameters
    ----------
    current : input current per step ``[T, B, N]`` (float32 or float64; sets the dtype).
    v0, u0 : state at the start ``[B, N]`` (mV).
    a, b, c, d, v_peak : per-neuron parameters ``[N]`` (or scalars); may require grad.
    surrogate : derivative used for the spikes in the backward pass (at ``v - v_peak``).
    dt : step in ms (> 0); ``substeps``: Euler substeps of ``v`` per step (int >= 1).
    detach_reset : no gradient through the spike in the reset (``v = c``, ``u += d``).
    backend : ``"auto"`` (Numba on CPU, Triton on CUDA), ``"numba"``, ``"triton"``,
        ``"reference"`` or ``"torch"`` (see the module docs).

    ``(v_last, u_last)`` is the state after the last step's reset. All backends give the same
    spikes and states (bit for bit) and the same gradients up to rounding.
    """
    check_input("current", current)
    check_surrogate(surrogate)
    substeps = check_int("substeps", substeps, minimum=1)
    dt = check_number("dt", dt, positive=True)
    detach_reset = check_flag("detach_reset", detach_reset)
    backend = resolve_backend(backend, current.device)
    _, B, N = current.shape
    v0, u0 = (check_tensor(name, t, (B, N), current, cast=True).contiguous() for name, t in (("v0", v0), ("u0", u0)))
    a, b, c, d, v_peak = (_parameter(name, p, N, current) for name, p in
                          (("a", a), ("b", b), ("c", c), ("d", d), ("v_peak", v_peak)))
    if backend == "reference":
        spikes, _, (v, u) = izhikevich_sequence_reference(current, v0, u0, a, b, c, d, v_peak, surrogate,
                                                          dt, substeps, detach_reset)
        return spikes, (v, u)
    config = _Config(_kernel_module(backend, current.device), dt, substeps, detach_reset, surrogate)
    spikes, v, u = _FusedIzhikevich.apply(current.contiguous(), v0, u0, a, b, c, d, v_peak, config)
    return spikes, (v, u)
