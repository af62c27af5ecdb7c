"""Fused Numba CPU kernels of the Izhikevich surrogate-gradient layer.

``izhikevich_forward`` and ``izhikevich_backward`` compute exactly the loops of
``izhikevich.reference`` (the contract; its module docstring has the recurrence and the backward
pass), one compiled call per pass whatever T is. They take and return torch CPU tensors
(float32 or float64) and hand zero-copy numpy views of them to the compiled code; outputs are
allocated once with ``torch.empty`` and written in place.

Layout and parallelism: every neuron is independent, so the ``B*N`` neurons are cut into blocks
(a block never spans two batch rows, so its parameters are one contiguous slice) and
``prange`` runs the blocks; each block runs all T steps itself with its state in small
buffers, so threads never synchronise. Inside a step the substep loop is outside the neuron
loop, so every inner loop runs over the contiguous neurons of the block, branch-free (spikes
and the reset are arithmetic selects), and LLVM vectorises it. The backward pass recomputes a
step's substeps from the saved start state together with the Horner fold of their Jacobians
(``S``, ``P``; see the contract), so it needs no per-substep storage.

Numerics: the operations and their order are the contract's (and the reference's), without
fast-math (no FMA contraction), and constants are cast to the input's dtype (a Python float
would promote float32 maths to float64), so spikes and states equal the torch reference bit
for bit (the surrogate's arithmetic is the shared ``common.numba.surrogate_row``, which rounds as
torch does). The surrogate id is tested once per block row, outside the loops. A precomputed
``surrogate_grad`` (custom surrogates) and an absent one use the same compiled function (an
empty stand-in array and a flag), so each dtype compiles one forward and one backward kernel;
they are cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from ..common import FAST_SIGMOID, surrogate_constants
from ..common.numba import as_array, cast, check_sequence, surrogate_row

__all__ = ["izhikevich_forward", "izhikevich_backward"]

_jit = numba.njit(cache=True, nogil=True)
_pjit = numba.njit(cache=True, nogil=True, parallel=True)
# Scalar pieces of the step, inlined into the loops that call them (numba IR, so the loops
# vectorise as if written out).
_inline = numba.njit(cache=True, inline="always")

_MAX_BLOCK = 512
_MIN_BLOCK = 64


# ---- one step of one block row (contiguous neurons, indexed from 0) ---------------------------


@_inline
def _substep(v, u, i, h, k004, k5, k140):
    """One Euler substep of ``h`` ms of the membrane, ``v + h (0.04 v^2 + 5 v + 140 - u + I)`` in
    the reference's order; ``k004``, ``k5``, ``k140`` are the constants in the dtype."""
    return v + h * ((k004 * v * v + k5 * v + k140 - u) + i)


@_jit
def _substeps(v, us, it, h, substeps):
    """``substeps`` Euler steps of v in place: ``v += h (0.04 v^2 + 5 v + 140 - u + I)``."""
    k004, k5, k140 = cast(v, 0.04), cast(v, 5.0), cast(v, 140.0)
    for _ in range(substeps):
        for i in range(v.shape[0]):
            vi = v[i]
            v[i] = _substep(vi, us[i], it[i], h, k004, k5, k140)


@_jit
def _substeps_horner(w, S, P, vs, us, it, h, substeps):
    """``w`` = the membrane before the reset recomputed from ``vs``; ``S``, ``P`` = the Horner
    fold of the substeps' Jacobians (``dp/dI = h S``, ``dp/dv_start = P``)."""
    one, zero = cast(w, 1.0), cast(w, 0.0)
    k004, k008, k5, k140 = cast(w, 0.04), cast(w, 0.08), cast(w, 5.0), cast(w, 140.0)
    for i in range(w.shape[0]):
        w[i] = vs[i]
        S[i] = zero
        P[i] = one
    for _ in range(substeps):
        for i in range(w.shape[0]):
            wi = w[i]
            J = one + h * (k008 * wi + k5)
            S[i] = S[i] * J + one
            P[i] = P[i] * J
            w[i] = _substep(wi, us[i], it[i], h, k004, k5, k140)


@_jit
def _forward_row(v, u, a, b, c, d, vpk, st, dt):
    """After the substeps: u's step, the spike, the reset (v, u in place; spikes to ``st``)."""
    one, zero = cast(v, 1.0), cast(v, 0.0)
    for i in range(v.shape[0]):
        vi = v[i]
        ui = u[i]
        ui = ui + dt * (a[i] * (b[i] * vi - ui))
        si = one if vi - vpk[i] > zero else zero
        st[i] = si
        v[i] = vi * (one - si) + c[i] * si
        u[i] = ui + d[i] * si


@_jit
def _backward_row(gs_row, sg, w, S, P, us, a, b, c, d, vpk, gv, gu, dcur, da, db, dc, dd, dvp,
                  h, dt, kg):
    """One backward step (the contract's loop body); ``gv``, ``gu`` are replaced by the
    gradients of the state at the start of the step. ``kg`` = 0 when the reset is detached."""
    one, zero = cast(gv, 1.0), cast(gv, 0.0)
    for i in range(gv.shape[0]):
        p = w[i]
        si = one if p - vpk[i] > zero else zero
        g_v = gv[i]
        g_u = gu[i]
        ci = c[i]
        di = d[i]
        ai = a[i]
        bi = b[i]
        gs = gs_row[i] + kg * (g_v * (ci - p)) + kg * (g_u * di)
        dc[i] = dc[i] + g_v * si
        dd[i] = dd[i] + g_u * si
        gss = gs * sg[i]
        gp = g_v * (one - si) + gss
        dvp[i] = dvp[i] - gss
        r = dt * g_u
        da[i] = da[i] + r * (bi * p - us[i])
        db[i] = db[i] + r * ai * p
        gp = gp + r * ai * bi
        gi = h * gp * S[i]
        dcur[i] = gi
        gv[i] = gp * P[i]
        gu[i] = g_u - r * ai - gi


# ---- whole-sequence kernels -------------------------------------------------------------------


@_jit
def _block_bounds(k, n_chunks, block, N):
    """Batch row and neuron range of block k (blocks never span two rows)."""
    b = k // n_chunks
    lo = (k - b * n_chunks) * block
    return b, lo, min(lo + block, N)


@_jit
def _forward_block(bi, lo, hi, cur, v0, u0, a, b, c, d, vpk, spikes, vs, us, v_last, u_last, h, dt, substeps):
    """All T steps of neurons ``lo:hi`` of batch row ``bi``."""
    v = v0[bi, lo:hi].copy()
    u = u0[bi, lo:hi].copy()
    a_, b_, c_, d_, p_ = a[lo:hi], b[lo:hi], c[lo:hi], d[lo:hi], vpk[lo:hi]
    for t in range(cur.shape[0]):
        vs_t = vs[t, bi, lo:hi]
        us_t = us[t, bi, lo:hi]
        for i in range(v.shape[0]):
            vs_t[i] = v[i]
            us_t[i] = u[i]
        _substeps(v, u, cur[t, bi, lo:hi], h, substeps)
        _forward_row(v, u, a_, b_, c_, d_, p_, spikes[t, bi, lo:hi], dt)
    vl = v_last[bi, lo:hi]
    ul = u_last[bi, lo:hi]
    for i in range(v.shape[0]):
        vl[i] = v[i]
        ul[i] = u[i]


@_pjit
def _forward(cur, v0, u0, a, b, c, d, vpk, spikes, vs, us, v_last, u_last, h, dt, substeps, block):
    """Forward pass, parallel over blocks. The prange body is one call: the parallel lowering
    of a large body costs seconds of compile time."""
    T, B, N = cur.shape
    n_chunks = (N + block - 1) // block
    for k in numba.prange(B * n_chunks):
        bi, lo, hi = _block_bounds(k, n_chunks, block, N)
        _forward_block(bi, lo, hi, cur, v0, u0, a, b, c, d, vpk, spikes, vs, us, v_last, u_last, h, dt, substeps)


@_jit
def _backward_block(bi, lo, hi, grad_spikes, gvl, gul, cur, vs, us, a, b, c, d, vpk, sg_pre, has_sg,
                    surrogate_id, c0, c1, h, dt, substeps, kg, dcur, dv0, du0, da, db, dc, dd, dvp):
    """All T steps, backwards, of neurons ``lo:hi`` of batch row ``bi``."""
    gv = gvl[bi, lo:hi].copy()
    gu = gul[bi, lo:hi].copy()
    w = np.empty_like(gv)
    S = np.empty_like(gv)
    P = np.empty_like(gv)
    sg_buf = np.empty_like(gv)
    a_, b_, c_, d_, p_ = a[lo:hi], b[lo:hi], c[lo:hi], d[lo:hi], vpk[lo:hi]
    da_, db_, dc_, dd_, dp_ = da[bi, lo:hi], db[bi, lo:hi], dc[bi, lo:hi], dd[bi, lo:hi], dvp[bi, lo:hi]
    for i in range(gv.shape[0]):
        da_[i] = 0.0
        db_[i] = 0.0
        dc_[i] = 0.0
        dd_[i] = 0.0
        dp_[i] = 0.0
    for t in range(cur.shape[0] - 1, -1, -1):
        us_t = us[t, bi, lo:hi]
        _substeps_horner(w, S, P, vs[t, bi, lo:hi], us_t, cur[t, bi, lo:hi], h, substeps)
        if has_sg:
            sg = sg_pre[t, bi, lo:hi]
        else:
            surrogate_row(surrogate_id, c0, c1, w, p_, sg_buf)
            sg = sg_buf[:]
        _backward_row(grad_spikes[t, bi, lo:hi], sg, w, S, P, us_t, a_, b_, c_, d_, p_, gv, gu,
                      dcur[t, bi, lo:hi], da_, db_, dc_, dd_, dp_, h, dt, kg)
    v_out = dv0[bi, lo:hi]
    u_out = du0[bi, lo:hi]
    for i in range(gv.shape[0]):
        v_out[i] = gv[i]
        u_out[i] = gu[i]


@_pjit
def _backward(grad_spikes, gvl, gul, cur, vs, us, a, b, c, d, vpk, sg_pre, has_sg, surrogate_id, c0, c1,
              h, dt, substeps, kg, dcur, dv0, du0, da, db, dc, dd, dvp, block):
    """Backward pass, parallel over the same blocks as the forward pass."""
    T, B, N = cur.shape
    n_chunks = (N + block - 1) // block
    for k in numba.prange(B * n_chunks):
        bi, lo, hi = _block_bounds(k, n_chunks, block, N)
        _backward_block(bi, lo, hi, grad_spikes, gvl, gul, cur, vs, us, a, b, c, d, vpk, sg_pre, has_sg,
                        surrogate_id, c0, c1, h, dt, substeps, kg, dcur, dv0, du0, da, db, dc, dd, dvp)


# ---- torch wrappers -----------------------------------------------------------------------------


def _block_size(B: int, N: int) -> int:
    """Neurons per block: ~4 blocks per thread when the layer is small (load balance), at most
    ``_MAX_BLOCK``, at least ``_MIN_BLOCK`` (vector loops), a multiple of 16."""
    want = 4 * numba.get_num_threads()
    per_row = max(1, -(-want // max(B, 1)))
    block = max(_MIN_BLOCK, min(_MAX_BLOCK, -(-N // per_row)))
    return -(-block // 16) * 16


_OWNER = "neurosim.kernels.izhikevich.numba"  # who complains, in the messages


def _array(name: str, t: torch.Tensor, dtype: torch.dtype, shape: tuple):
    """Zero-copy numpy view of a CPU tensor of ``dtype`` and ``shape`` (copied only if not
    contiguous)."""
    return as_array(_OWNER, name, t, dtype, shape, like="the current's")


def _check_steps(dt, substeps) -> tuple[float, int]:
    if isinstance(substeps, bool) or int(substeps) != substeps or substeps < 1:
        raise ValueError(f"{_OWNER}: substeps must be a positive int, got {substeps!r}")
    if not dt > 0:
        raise ValueError(f"{_OWNER}: dt must be > 0, got {dt!r}")
    return float(dt), int(substeps)


def _params(dtype, N, **params):
    return [_array(name, t, dtype, (N,)) for name, t in params.items()]


def izhikevich_forward(current, v0, u0, a, b, c, d, v_peak, dt, substeps):
    """Forward pass: ``(spikes, v_start, u_start [T, B, N], v_last, u_last [B, N])`` in the
    current's dtype (see ``izhikevich.reference.izhikevich_forward``)."""
    check_sequence(_OWNER, "the current", current)
    dt, substeps = _check_steps(dt, substeps)
    T, B, N = current.shape
    dtype = current.dtype
    cur = _array("current", current, dtype, (T, B, N))
    v0a = _array("v0", v0, dtype, (B, N))
    u0a = _array("u0", u0, dtype, (B, N))
    pa = _params(dtype, N, a=a, b=b, c=c, d=d, v_peak=v_peak)
    spikes, vs, us = torch.empty_like(current), torch.empty_like(current), torch.empty_like(current)
    v_last, u_last = torch.empty((B, N), dtype=dtype), torch.empty((B, N), dtype=dtype)
    f = cur.dtype.type
    _forward(cur, v0a, u0a, *pa, spikes.numpy(), vs.numpy(), us.numpy(), v_last.numpy(), u_last.numpy(),
             f(dt / substeps), f(dt), substeps, _block_size(B, N))
    return spikes, vs, us, v_last, u_last


def izhikevich_backward(grad_spikes, grad_v_last, grad_u_last, current, v_start, u_start, a, b, c, d, v_peak,
                        dt, substeps, detach_reset, surrogate_id, surrogate_param, surrogate_grad):
    """Backward pass: ``(d_current [T, B, N], d_v0, d_u0, da, db, dc, dd, dv_peak [B, N])`` (see
    ``izhikevich.reference.izhikevich_backward``). ``grad_v_last``, ``grad_u_last`` and
    ``surrogate_grad`` may be None."""
    check_sequence(_OWNER, "the current", current)
    dt, substeps = _check_steps(dt, substeps)
    T, B, N = current.shape
    dtype = current.dtype
    cur = _array("current", current, dtype, (T, B, N))
    gsa = _array("grad_spikes", grad_spikes, dtype, (T, B, N))
    vsa = _array("v_start", v_start, dtype, (T, B, N))
    usa = _array("u_start", u_start, dtype, (T, B, N))
    zeros = torch.zeros((B, N), dtype=dtype)
    gvl = _array("grad_v_last", zeros if grad_v_last is None else grad_v_last, dtype, (B, N))
    gul = _array("grad_u_last", zeros if grad_u_last is None else grad_u_last, dtype, (B, N))
    pa = _params(dtype, N, a=a, b=b, c=c, d=d, v_peak=v_peak)
    f = cur.dtype.type
    has_sg = surrogate_grad is not None
    if has_sg:
        sga = _array("surrogate_grad", surrogate_grad, dtype, (T, B, N))
        c0 = c1 = f(0.0)
        sid = FAST_SIGMOID
    else:
        sga = np.empty((1, 1, 1), dtype=cur.dtype)  # stand-in, never read
        sid = int(surrogate_id)
        c0, c1 = (f(c) for c in surrogate_constants(sid, float(surrogate_param)))
    dcur = torch.empty_like(current)
    outs = [torch.empty((B, N), dtype=dtype) for _ in range(7)]  # dv0, du0, da, db, dc, dd, dv_peak
    _backward(gsa, gvl, gul, cur, vsa, usa, *pa, sga, has_sg, sid, c0, c1, f(dt / substeps), f(dt), substeps,
              f(0.0 if detach_reset else 1.0), dcur.numpy(), *(o.numpy() for o in outs), _block_size(B, N))
    return (dcur, *outs)
