"""Izhikevich surrogate-gradient layer in torch: the specification and the fused kernels' contract.

``izhikevich_sequence_reference`` runs Izhikevich (2003) neurons over a sequence as a plain
loop, differentiated by torch autograd (the specification; the event-driven engine's update).
``izhikevich_forward`` / ``izhikevich_backward`` compute what autograd computes through it, with
the backward pass written out (no autograd): the contract of the fused Numba
(``izhikevich/numba.py``) and Triton (``izhikevich/triton.py``) kernels, which compute exactly
these loops; these functions take and return plain tensors. Both run the one step function
``izhikevich_step`` (its membrane substep ``membrane_substep`` also serves the backward's
recomputation). Units: ms, mV.

Forward, per step t, from the state ``(v, u)`` at the start of the step (``v_start[t]``,
``u_start[t]``; ``(v0, u0)`` at t = 0), ``h = dt / substeps``, ``K = substeps``:

    w_0 = v_start[t]
    w_{k+1} = w_k + h * (0.04 w_k^2 + 5 w_k + 140 - u_start[t] + I[t])      k = 0 .. K-1
    p = w_K                                   (membrane before the reset)
    q = u_start[t] + dt * (a * (b * p - u_start[t]))
    s = H(p - v_peak)                         (strict: p - v_peak > 0)
    v_start[t+1] = p * (1 - s) + c * s,  u_start[t+1] = q + d * s

in the reference's operation order (``((((0.04 w) w + 5 w) + 140) - u) + I``), so spikes and
states agree bit for bit with the reference in either dtype. Memory saved for the backward:
``v_start`` and ``u_start`` (2 values per neuron-step); ``p``, the surrogate and the spikes
are recomputed from them.

Backward, from ``t = T-1`` down to 0, with ``gv``, ``gu`` = dL/dv_start[t+1], dL/du_start[t+1]
(``grad_v_last``, ``grad_u_last`` at the end; zero when None), ``sg`` the surrogate derivative
at ``p - v_peak`` (``surrogate_grad[t]`` when given, else inline by ``surrogate_id``):

    recompute w_k with, in the same pass, the Jacobians J_k = dw_{k+1}/dw_k = 1 + h (0.08 w_k + 5)
    folded forwards (Horner):  S <- S J_k + 1,  P <- P J_k   (S = 0, P = 1 before k = 0), so
    S = sum_k prod_{j>k} J_j = (dp/dI) / h  and  P = prod_k J_k = dp/dv_start[t]
    gs  = grad_spikes[t] + gv (c - p) + gu d        (without the last two if detach_reset)
    dc += gv s;  dd += gu s
    gp  = gv (1 - s) + gs sg;  dv_peak -= gs sg
    r   = dt gu                                      (gradient of a (b p - u_start))
    da += r (b p - u_start);  db += r a p;  gp += r a b
    d_current[t] = gI = h gp S
    gv <- gp P;  gu <- gu - r a - gI               (dL/dv_start[t], dL/du_start[t])

and at the end ``d_v0 = gv``, ``d_u0 = gu``. ``da .. dv_peak`` are summed over time, not yet
over the batch (``[B, N]``). The Horner fold equals the chain rule through the substeps exactly
in real arithmetic; its rounding differs from autograd's reverse-order products by a few ulps.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..common.reference import heaviside, surrogate_derivative

__all__ = ["izhikevich_backward", "izhikevich_forward", "izhikevich_membrane", "izhikevich_sequence_reference",
           "izhikevich_step", "membrane_substep"]


def membrane_substep(v, u, current, h):
    """One Euler substep of ``h`` ms of the membrane: ``v + h (0.04 v^2 + 5 v + 140 - u + I)``,
    in the reference's operation order (any shapes that broadcast)."""
    return v + h * (0.04 * v * v + 5.0 * v + 140.0 - u + current)


def izhikevich_membrane(current, v_start, u_start, dt, substeps):
    """The membrane before the reset ``p`` after the ``substeps`` Euler substeps of a step of
    ``dt`` ms from the start states (any shapes that broadcast): one step's (``[B, N]``, in
    ``izhikevich_step``), or all steps' at once from the saved ``[T, B, N]`` start states (same
    operations, hence same rounding, as the forward pass), for custom surrogates (their
    derivative at ``p - v_peak`` is computed in torch before the backward)."""
    h = dt / substeps
    v = v_start
    for _ in range(substeps):
        v = membrane_substep(v, u_start, current, h)
    return v


def izhikevich_step(current_t, v, u, a, b, c, d, v_peak, spike_fn, dt, substeps, detach_reset=False):
    """One step of ``dt`` ms from the state ``(v, u)`` ``[B, N]``: ``v`` takes ``substeps`` Euler
    substeps of ``dt / substeps``, then ``u += dt a (b v - u)`` with the new ``v``;
    ``s = spike_fn(v - v_peak)``; spiking neurons get ``v = c``, ``u = u + d`` (with
    ``detach_reset`` the spike in the reset carries no gradient). Returns ``(s, p, v, u)``: the
    spikes, the membrane before the reset ``p`` and the state after the reset."""
    p = izhikevich_membrane(current_t, v, u, dt, substeps)
    u = u + dt * (a * (b * p - u))
    s = spike_fn(p - v_peak)
    r = s.detach() if detach_reset else s
    return s, p, p * (1.0 - r) + c * r, u + d * r


def izhikevich_sequence_reference(
    current: torch.Tensor,
    v0: torch.Tensor,
    u0: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    d: torch.Tensor,
    v_peak: torch.Tensor,
    spike_fn: Callable[[torch.Tensor], torch.Tensor],
    dt: float,
    substeps: int,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Izhikevich (2003) neurons driven by ``current [T, B, N]``, the engine's update: the
    specification, differentiated by autograd.

    ``izhikevich_step`` per step (``spike_fn`` gives the spikes with the surrogate gradient, a
    ``neurosim.nn.surrogate.Surrogate``); ``v0, u0 [B, N]``, ``a, b, c, d, v_peak [N]``.
    Units: ms, mV. Returns ``(spikes, v_before_reset, (v, u) after the last step)``.
    """
    v, u = v0, u0
    spikes, trace = [], []
    for current_t in current.unbind(0):
        s, p, v, u = izhikevich_step(current_t, v, u, a, b, c, d, v_peak, spike_fn, dt, substeps, detach_reset)
        spikes.append(s)
        trace.append(p)
    return torch.stack(spikes), torch.stack(trace), (v, u)


# ---- The same recurrence with its backward pass written out (no autograd) ----------------
# This is the contract of the fused kernels: they compute exactly these loops.


def izhikevich_forward(current, v0, u0, a, b, c, d, v_peak, dt, substeps):
    """Forward of the fused kernels.

    ``current [T, B, N]``, ``v0, u0 [B, N]``, ``a, b, c, d, v_peak [N]``, all one dtype.
    Returns ``(spikes, v_start, u_start, v_last, u_last)``: spikes and the state at the start
    of every step ``[T, B, N]`` (what the backward needs) and the state after the last step's
    reset ``[B, N]``.
    """
    spikes = torch.empty_like(current)
    v_start, u_start = torch.empty_like(current), torch.empty_like(current)
    v, u = v0, u0
    for t in range(current.shape[0]):
        v_start[t], u_start[t] = v, u
        spikes[t], _, v, u = izhikevich_step(current[t], v, u, a, b, c, d, v_peak, heaviside, dt, substeps)
    return spikes, v_start, u_start, v.clone(), u.clone()


def izhikevich_backward(grad_spikes, grad_v_last, grad_u_last, current, v_start, u_start, a, b, c, d, v_peak,
                        dt, substeps, detach_reset, surrogate_id, surrogate_param, surrogate_grad):
    """Backward of the fused kernels (see the module docstring for the recurrence).

    ``grad_spikes [T, B, N]``; ``grad_v_last``, ``grad_u_last [B, N]`` or None; ``surrogate_grad
    [T, B, N]`` (the derivative at ``p - v_peak``, precomputed for custom surrogates) or None.
    Returns ``(d_current [T, B, N], d_v0, d_u0, da, db, dc, dd, dv_peak)``, the last seven
    ``[B, N]``; the parameter gradients are summed over time, not over the batch.
    """
    T = current.shape[0]
    h = dt / substeps
    zeros = torch.zeros_like(v_start[0])
    gv = zeros.clone() if grad_v_last is None else grad_v_last.clone()
    gu = zeros.clone() if grad_u_last is None else grad_u_last.clone()
    da, db, dc, dd, dvp = (zeros.clone() for _ in range(5))
    d_current = torch.empty_like(current)
    for t in range(T - 1, -1, -1):
        us, it = u_start[t], current[t]
        w = v_start[t]
        S, P = zeros, zeros + 1.0
        for _ in range(substeps):
            J = 1.0 + h * (0.08 * w + 5.0)
            S = S * J + 1.0
            P = P * J
            w = membrane_substep(w, us, it, h)
        p = w
        x = p - v_peak
        s = (x > 0).to(current.dtype)
        sg = surrogate_grad[t] if surrogate_grad is not None else surrogate_derivative(surrogate_id, surrogate_param, x)
        gs = grad_spikes[t]
        if not detach_reset:
            gs = gs + gv * (c - p) + gu * d
        dc = dc + gv * s
        dd = dd + gu * s
        gss = gs * sg
        gp = gv * (1.0 - s) + gss
        dvp = dvp - gss
        r = dt * gu
        da = da + r * (b * p - us)
        db = db + r * a * p
        gp = gp + r * a * b
        gi = h * gp * S
        d_current[t] = gi
        gv = gp * P
        gu = gu - r * a - gi
    return d_current, gv, gu, da, db, dc, dd, dvp
