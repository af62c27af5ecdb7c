"""LIF surrogate-gradient layers in torch: the specification and the fused kernels' contract.

``lif_sequence_reference`` is a plain loop over time steps, differentiated by torch autograd
(the specification); ``lif_forward`` / ``lif_backward`` are the same recurrence with its
backward pass written out, the contract of the fused Numba (``lif/numba.py``) and Triton
(``lif/triton.py``) kernels, which must give the same outputs and the same gradients on any
input. Both run the one step function ``lif_step``. Feed-forward LIF, recurrent LIF and the
leaky integrator (LI, ``RESET_NONE``) are this one family.

LIF recurrence, per step t (``v[-1] = v0``, ``s[-1] = s0``):

    u[t] = beta * v[t-1] + x[t]  (+ s[t-1] @ w_rec.T  when recurrent)
    s[t] = H(u[t] - threshold)                         (strict: u > threshold)
    v[t] = u[t] - threshold * s[t]      reset = RESET_SUBTRACT
         = u[t] * (1 - s[t])            reset = RESET_ZERO
         = u[t]                         reset = RESET_NONE (leaky integrator)

``u`` is the membrane before the reset (what snnTorch reports as ``mem``); with
``detach_reset`` the spike in the reset term carries no gradient (the threshold in the
subtractive reset still does). Shapes: ``x [T, B, N]``, ``v0, s0 [B, N]``,
``beta, threshold [N]``, ``w_rec [N, N]`` (torch ``Linear`` layout: row = target).
"""

from __future__ import annotations

from typing import Callable

import torch

from ..common.reference import heaviside, surrogate_derivative

__all__ = ["RESET_NONE", "RESET_SUBTRACT", "RESET_ZERO", "apply_reset", "lif_backward", "lif_forward",
           "lif_sequence_reference", "lif_step"]

RESET_SUBTRACT, RESET_ZERO, RESET_NONE = 0, 1, 2


def apply_reset(u: torch.Tensor, s: torch.Tensor, threshold: torch.Tensor, reset: int) -> torch.Tensor:
    """Membrane after the reset, ``v = reset(u, s)`` (``s`` already detached if wanted)."""
    if reset == RESET_SUBTRACT:
        return u - threshold * s
    if reset == RESET_ZERO:
        return u * (1.0 - s)
    return u


def lif_step(x_t, v, s_prev, beta, threshold, w_rec, spike_fn, reset, detach_reset=False):
    """One LIF step from the membrane ``v [B, N]`` after the previous step's reset and its
    spikes ``s_prev`` (None, like ``w_rec``, for a feed-forward layer): return ``(s, u, v)``,
    the spikes ``spike_fn(u - threshold)``, the membrane before the reset and after it."""
    u = beta * v + x_t
    if w_rec is not None:
        u = u + s_prev @ w_rec.T
    s = spike_fn(u - threshold)
    v = apply_reset(u, s.detach() if detach_reset else s, threshold, reset)
    return s, u, v


def lif_sequence_reference(
    x: torch.Tensor,
    v0: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    spike_fn: Callable[[torch.Tensor], torch.Tensor],
    reset: int = RESET_SUBTRACT,
    detach_reset: bool = False,
    w_rec: torch.Tensor | None = None,
    s0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the LIF recurrence over ``x [T, B, N]``; return ``(spikes, u)``, both ``[T, B, N]``.

    ``spike_fn(u - threshold)`` gives the spikes with the surrogate gradient
    (a ``neurosim.nn.surrogate.Surrogate``). The state after the last step is
    ``apply_reset(u[-1], s[-1], ...)`` and, for recurrent layers, ``s[-1]``.
    """
    v = v0
    s_prev = s0 if s0 is not None else torch.zeros_like(v0)
    spikes, membrane = [], []
    # unbind, not x[t]: indexing would make every step's backward write a full [T, B, N] gradient.
    for x_t in x.unbind(0):
        s, u, v = lif_step(x_t, v, s_prev, beta, threshold, w_rec, spike_fn, reset, detach_reset)
        spikes.append(s)
        membrane.append(u)
        s_prev = s
    return torch.stack(spikes), torch.stack(membrane)


# ---- The same recurrence with its backward pass written out (no autograd) ----------------
# This is the contract of the fused kernels: ``lif_forward`` / ``lif_backward`` take and return
# plain tensors, and the Numba and Triton versions compute exactly these loops.


def lif_forward(x, v0, s0, beta, threshold, w_rec, reset):
    """Forward of the fused kernels: return ``(spikes, u)``, both ``[T, B, N]``, ``x``'s dtype.

    ``s0`` and ``w_rec`` are None for a feed-forward layer.
    """
    spikes, membrane = torch.empty_like(x), torch.empty_like(x)
    v = v0
    s_prev = s0
    for t in range(x.shape[0]):
        s, u, v = lif_step(x[t], v, s_prev, beta, threshold, w_rec, heaviside, reset)
        spikes[t], membrane[t] = s, u
        s_prev = s
    return spikes, membrane


def lif_backward(grad_spikes, grad_u, u, v0, beta, threshold, w_rec, reset, detach_reset,
                 surrogate_id, surrogate_param, surrogate_grad):
    """Backward of the fused kernels.

    Inputs: ``grad_spikes [T, B, N]`` (dL/ds), ``grad_u [T, B, N]`` or None (dL/du when the
    membrane trace is used), the saved ``u`` and ``v0``. The surrogate derivative at
    ``u - threshold`` is ``surrogate_grad[t]`` when given (custom surrogates, precomputed),
    else ``surrogate_derivative(surrogate_id, surrogate_param, u[t] - threshold)``. Returns
    ``(du [T, B, N], dbeta [B, N], dthreshold [B, N])``:
    ``du`` is dL/dx (and dL/d(recurrent input)); ``dbeta``, ``dthreshold`` are summed over
    time, not yet over the batch. dL/dv0 = ``beta * du[0]``; for recurrent layers
    dL/ds0 = ``du[0] @ w_rec`` and dL/dw_rec = sum_t ``du[t].T @ s[t-1]``.

    Per step, from ``t = T-1`` down to 0, with ``gv`` = dL/dv[t] from the future (0 at the end:
    the final state's gradient reaches ``u[-1]``, ``s[-1]`` through the outputs):
        gs  = grad_spikes[t] + (du[t+1] @ w_rec  if recurrent and t < T-1)
        subtract: gu = gv;          gs -= threshold * gv (unless detached); dthr -= s * gv
        zero:     gu = gv * (1 - s); gs -= u * gv         (unless detached)
        none:     gu = gv
        gu += grad_u[t] + gs * sg;   dthr -= gs * sg;   du[t] = gu
        dbeta += gu * v[t-1];        gv = beta * gu
    with ``v[t-1] = reset(u[t-1], s[t-1])`` recomputed from ``u`` (``v0`` at t = 0).
    """
    T = u.shape[0]
    du = torch.empty_like(u)
    dbeta = torch.zeros_like(v0)
    dthr = torch.zeros_like(v0)
    gv = torch.zeros_like(v0)
    for t in range(T - 1, -1, -1):
        ut = u[t]
        s = (ut > threshold).to(u.dtype)
        if surrogate_grad is not None:
            sg = surrogate_grad[t]
        else:
            sg = surrogate_derivative(surrogate_id, surrogate_param, ut - threshold)
        gs = grad_spikes[t].clone()
        if w_rec is not None and t < T - 1:
            gs = gs + du[t + 1] @ w_rec
        if reset == RESET_SUBTRACT:
            gu = gv.clone()
            if not detach_reset:
                gs = gs - threshold * gv
            dthr = dthr - s * gv
        elif reset == RESET_ZERO:
            gu = gv * (1.0 - s)
            if not detach_reset:
                gs = gs - ut * gv
        else:
            gu = gv.clone()
        if grad_u is not None:
            gu = gu + grad_u[t]
        gu = gu + gs * sg
        dthr = dthr - gs * sg
        du[t] = gu
        if t > 0:
            prev = u[t - 1]
            v_prev = apply_reset(prev, (prev > threshold).to(u.dtype), threshold, reset)
        else:
            v_prev = v0
        dbeta = dbeta + gu * v_prev
        gv = beta * gu
    return du, dbeta, dthr
