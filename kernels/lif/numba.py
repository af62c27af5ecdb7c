"""Fused Numba CPU kernels of the surrogate-gradient LIF layers.

``lif_forward`` and ``lif_backward`` compute the loops of ``lif.reference.lif_forward`` /
``lif_backward`` (the contract; its docstrings spell out the recurrence and the backward pass),
one compiled call per pass whatever T is. They take and return torch CPU tensors (float32 or
float64) and hand zero-copy numpy views of them to the compiled code; outputs are allocated
once with ``torch.empty`` and written in place. The backward pass saves nothing but ``u``:
s[t] and v[t-1] are recomputed from it.

Feed-forward layers (``w_rec`` None): every neuron is independent. The ``[B, N]`` plane is
flattened to ``B*N`` neurons and cut into contiguous blocks (which may span batch rows: long
contiguous runs per step stream well, and ``beta``/``threshold`` are laid out over the block
once); ``prange`` hands out the blocks and each runs all T steps with its state in block-sized
buffers, so threads never synchronise. The loops over a block's neurons run from index 0,
branch-free, so LLVM vectorises them (8 float32 per AVX2 instruction).

Recurrent layers: batch rows are independent in both passes (``w_rec`` mixes the neurons of a
row, never rows), so threads take groups of rows and run all T steps, again without
synchronisation. The products per step are computed in the kernel on the group, weight row
outermost so each row of ``w`` is loaded once per step for all the group's rows:
``s[t-1] @ w_rec.T`` sums only the rows of the neurons that spiked (0/1 spikes, ~85 % skipped
at 15 % firing); ``du[t+1] @ w_rec`` is dense, four weight rows per pass. Against one
``np.dot`` (BLAS) per step over all rows (``python -m neurosim.kernels.lif.numba``; T=100,
B=32, N=512, 19 % firing, 2 threads): forward 147 against 80 M neuron-steps/s, backward 99
against 75; BLAS called inside numba's parallel loop (its own spinning thread pool beside
numba's threads) had been 50x slower.

Exactness: the reset and the detach flag enter as 0/1 coefficients in the input's dtype
(``u - thr*(s*1)`` is exactly ``u - thr*s``, ``(u - thr*0)*(1 - s)`` exactly ``u*(1 - s)``), so
one loop body serves all variants without branches, and the element-wise maths does the
reference's operations in its order without FMA contraction: for feed-forward layers spikes
and u are bit-identical to the reference, and so are the gradients except with the sigmoid
surrogate (torch's sigmoid rounds differently from 1 / (1 + exp(-x))). Constants are cast to
the input's dtype (a Python float would promote float32 maths to float64). Only the recurrent
matrix products may fuse multiply-adds. The surrogate is the shared ``common.numba.surrogate_row``.

Compile time: functions are cached on disk (``cache=True``); only the variants used get
compiled (per dtype and layer kind; a precomputed ``surrogate_grad`` is a variant of its own,
an absent ``grad_u`` is passed as broadcast zeros so it is not). First use on a machine costs
about 3-5 s for the forward and 5-7 s for the backward pass (CPU, mostly numba's parallel
lowering); later processes load the cache in ~0.6 s.
"""

from __future__ import annotations

import ctypes
import sys

import numba
import numpy as np
import torch
from numba import types
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from ..common import FAST_SIGMOID, surrogate_constants
from ..common.numba import as_array, cast, check_sequence, surrogate_row
from .reference import RESET_NONE, RESET_SUBTRACT, RESET_ZERO

__all__ = ["lif_forward", "lif_backward"]

# error_model="numpy": a float division has no zero check (which kept LLVM from vectorising
# the surrogates' divisions).
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_pjit = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
# The innermost loops (one step of one block) are compiled without numba's reference counting:
# every call of a compiled function, and every slice, otherwise increfs and decrefs the arrays,
# an atomic operation each. They allocate nothing.
_leaf = numba.njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
# The recurrent matrix products may fuse multiply-adds (FMA: one rounding instead of two, ~2x
# the throughput); the LIF element-wise maths may not, it must round as the torch reference.
_leaf_fma = numba.njit(cache=True, nogil=True, error_model="numpy", _nrt=False, fastmath={"contract"})
# Scalar pieces of the step, inlined into the loops that call them (numba IR, so the loops
# vectorise as if written out).
_inline = numba.njit(cache=True, inline="always")

# Neurons per feed-forward block: each step of a block is one contiguous run per array, and
# longer runs stream better (single thread, T=100, B*N=16384: blocks of 1024 took 1.3x the time
# of blocks of 4096-16384), against enough blocks for the threads (about two each, handed out
# dynamically). A block's five buffers of 8192 float32 (160 KiB) stay in L2.
_MAX_BLOCK = 8192
_MIN_BLOCK = 1024


# ---- type-specialised helpers: one loop source for "array" and "absent (None)" --------------


def _seg(a, t, m, n):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(_seg, inline="always")
def _seg_overload(a, t, m, n):
    """``a[t, m:m+n]`` for a ``[T, B*N]`` array (``a[0, m:m+n]`` for a ``[1, B*N]`` one: a
    gradient broadcast over time), None for None (an absent optional input)."""
    if isinstance(a, types.Array):
        return lambda a, t, m, n: a[min(t, a.shape[0] - 1), m:m + n]
    return lambda a, t, m, n: None


def _plus(acc, a, i):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(_plus, inline="always")
def _plus_overload(acc, a, i):
    """``acc + a[i]`` for an array, ``acc`` for None (the reference adds nothing there)."""
    if isinstance(a, types.Array):
        return lambda acc, a, i: acc + a[i]
    return lambda acc, a, i: acc


def _surrogate_seg(surrogate_grad, t, m, n, surrogate_id, c0, c1, ut, thr, buf):  # pragma: no cover
    pass


@overload(_surrogate_seg, inline="always")
def _surrogate_seg_overload(surrogate_grad, t, m, n, surrogate_id, c0, c1, ut, thr, buf):
    """The surrogate derivative of step t, neurons m..m+n-1: the precomputed one's slice, or
    (None) the built-in one computed into ``buf``."""
    if isinstance(surrogate_grad, types.Array):
        return lambda surrogate_grad, t, m, n, surrogate_id, c0, c1, ut, thr, buf: surrogate_grad[t, m:m + n]

    def compute(surrogate_grad, t, m, n, surrogate_id, c0, c1, ut, thr, buf):
        surrogate_row(surrogate_id, c0, c1, ut, thr, buf)
        return buf

    return compute


@intrinsic
def _borrow_array(typingctx, arr):
    """The same array without its reference-count handle (``meminfo`` NULL)."""

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, value=args[0])
        out = make_array(sig.return_type)(context, builder)
        populate_array(out, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                       meminfo=None)
        return out._getvalue()

    return arr(arr), codegen


def _borrow(a):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(_borrow)
def _borrow_overload(a):
    """An argument array as a borrowed view, None as None.

    Every slice of an array and every call that takes one increfs and decrefs its reference
    count, an atomic operation; the threads share the input and output arrays, so each step of
    each block passed those counters' cache lines between the cores (~0.3 us per step with two
    threads, as much as a 1000-neuron step's arithmetic). A borrowed view's slices carry no
    counter (numba skips NULL ones). Only for arrays the caller keeps alive for the whole call:
    the kernels' arguments, never a local buffer."""
    if isinstance(a, types.Array):
        return lambda a: _borrow_array(a)
    return lambda a: a


# ---- element-wise steps on one segment (contiguous, indexed from 0) ---------------------------
# A segment is n neurons m..m+n-1 of the flattened [B*N] plane: a feed-forward block, or one
# batch row of a recurrent group. Its beta/threshold/state come as its own length-n arrays.


@_leaf
def _copy(src, dst):
    """``dst[:] = src`` as a loop: numba's array-to-slice assignment compiles a shape-mismatch
    error path that took ~10 s of the first compile (and needs reference counting)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@_leaf
def _fill(dst, value):
    for i in range(dst.shape[0]):
        dst[i] = value


@_inline
def _spike(ui, th, one, zero):
    """``s = H(u - thr)`` (strict: ``u > thr``) as 0/1 in the dtype."""
    return one if ui > th else zero


@_inline
def _after_reset(ui, th, si, one, k_sub, k_zero):
    """The membrane after the reset, ``reset(u, s)``, with the reset as 0/1 coefficients (see the
    module docstring: exactly the reference's ``u - thr s``, ``u (1 - s)`` or ``u``)."""
    return (ui - th * (si * k_sub)) * (one - si * k_zero)


@_leaf
def _forward_row(xt, rec, v, beta, thr, st, ut, k_sub, k_zero):
    """One step: ``u = beta v + x (+ rec)``, ``s = u > thr``, ``v = reset(u, s)``; writes s, u
    and the new v. ``rec`` is the recurrent input or None."""
    one, zero = cast(v, 1.0), cast(v, 0.0)
    for i in range(v.shape[0]):
        ui = _plus(beta[i] * v[i] + xt[i], rec, i)
        th = thr[i]
        si = _spike(ui, th, one, zero)
        ut[i] = ui
        st[i] = si
        v[i] = _after_reset(ui, th, si, one, k_sub, k_zero)


@_leaf
def _reset_row(ut, thr, out, k_sub, k_zero):
    """``out = reset(u, u > thr)``: the membrane after the reset, recomputed from u."""
    one, zero = cast(out, 1.0), cast(out, 0.0)
    for i in range(out.shape[0]):
        ui = ut[i]
        th = thr[i]
        out[i] = _after_reset(ui, th, _spike(ui, th, one, zero), one, k_sub, k_zero)


@_leaf
def _backward_row(gs_row, rec, gu_row, ut, v_prev, sg, beta, thr, gv, du_row, dbeta, dthr,
                  k_sub, k_zero, kg_sub, kg_zero):
    """One backward step (``lif.reference.lif_backward``'s loop body) on one segment.

    ``gv`` holds dL/dv[t] from the future and is replaced by dL/dv[t-1]; ``rec`` (dL/ds from
    the recurrent input) and ``gu_row`` (dL/du from the membrane output) may be None."""
    one, zero = cast(gv, 1.0), cast(gv, 0.0)
    for i in range(gv.shape[0]):
        ui = ut[i]
        th = thr[i]
        si = _spike(ui, th, one, zero)
        g = gv[i]
        gs = _plus(gs_row[i], rec, i)
        gs = gs - (th * kg_sub + ui * kg_zero) * g  # the spike in the reset term
        gu = g * (one - si * k_zero)
        dt = dthr[i] - (si * k_sub) * g  # the threshold in the subtractive reset
        gu = _plus(gu, gu_row, i)
        gss = gs * sg[i]
        gu = gu + gss
        dthr[i] = dt - gss
        du_row[i] = gu
        dbeta[i] = dbeta[i] + gu * v_prev[i]
        gv[i] = beta[i] * gu


@_jit
def _forward_segment(t, m, n, x, rec, v, beta, thr, spikes, u, k_sub, k_zero):
    """Step t of neurons m..m+n-1 of the [B*N] plane; ``v``, ``beta``, ``thr`` (and ``rec``, the
    recurrent input, or None) are the segment's own length-n arrays."""
    _forward_row(x[t, m:m + n], rec, v, beta, thr, spikes[t, m:m + n], u[t, m:m + n], k_sub, k_zero)


@_jit
def _backward_segment(t, m, n, grad_spikes, rec, grad_u, u, v_prev, beta, thr, surrogate_grad, surrogate_id, c0, c1,
                      gv, sg_buf, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero):
    """Backward step t of neurons m..m+n-1, given ``v_prev`` = v[t-1]: the surrogate, then
    ``_backward_row``. ``beta``, ``thr``, ``v_prev``, ``gv``, ``sg_buf`` are the segment's own
    length-n arrays."""
    ut = u[t, m:m + n]
    sg = _surrogate_seg(surrogate_grad, t, m, n, surrogate_id, c0, c1, ut, thr, sg_buf)
    _backward_row(_seg(grad_spikes, t, m, n), rec, _seg(grad_u, t, m, n), ut, v_prev, sg, beta, thr,
                  gv, du[t, m:m + n], dbeta[m:m + n], dthr[m:m + n], k_sub, k_zero, kg_sub, kg_zero)


# ---- whole-sequence kernels -----------------------------------------------------------------
# Arrays come flattened: x, spikes, u, grads [T, B*N]; v0, s0, dbeta, dthr [B*N]; beta, thr [N].


@_jit
def _per_neuron(p, m0, m1):
    """``p[m % N]`` for m in m0..m1-1: a per-neuron parameter laid out over a block of the
    [B*N] plane, so that one loop per step covers the block even where it spans batch rows
    (a loop and a call per row and step made small N slow: +40 % at N=128, 3x at N=32)."""
    N = p.shape[0]
    out = np.empty(m1 - m0, p.dtype)
    j = m0 % N
    for i in range(m1 - m0):
        out[i] = p[j]
        j = j + 1 if j + 1 < N else 0
    return out


@_jit
def _forward_block(m0, m1, x, v0, beta, thr, spikes, u, k_sub, k_zero):
    """All T steps of neurons m0..m1-1 (a contiguous range of the [B*N] plane, which may span
    batch rows: long contiguous runs per step stream better than one row's), the state in a
    block-sized buffer."""
    x, v0, spikes, u = _borrow(x), _borrow(v0), _borrow(spikes), _borrow(u)
    v = np.empty(m1 - m0, x.dtype)
    _copy(v0[m0:m1], v)
    be, th = _per_neuron(beta, m0, m1), _per_neuron(thr, m0, m1)
    for t in range(x.shape[0]):
        _forward_segment(t, m0, m1 - m0, x, None, v, be, th, spikes, u, k_sub, k_zero)


@_jit
def _backward_block(m0, m1, grad_spikes, grad_u, u, v0, beta, thr, surrogate_grad, surrogate_id, c0, c1,
                    du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero):
    """All T steps, backwards, of neurons m0..m1-1 (as ``_forward_block``)."""
    grad_spikes, grad_u, u, v0 = _borrow(grad_spikes), _borrow(grad_u), _borrow(u), _borrow(v0)
    surrogate_grad, du, dbeta, dthr = _borrow(surrogate_grad), _borrow(du), _borrow(dbeta), _borrow(dthr)
    gv = np.zeros(m1 - m0, u.dtype)
    v_prev = np.empty_like(gv)
    sg_buf = np.empty_like(gv)
    be, th = _per_neuron(beta, m0, m1), _per_neuron(thr, m0, m1)
    _fill(dbeta[m0:m1], 0.0)
    _fill(dthr[m0:m1], 0.0)
    n = m1 - m0
    for t in range(u.shape[0] - 1, -1, -1):
        if t > 0:  # v[t-1] recomputed from u[t-1]
            _reset_row(u[t - 1, m0:m1], th, v_prev, k_sub, k_zero)
        else:
            _copy(v0[m0:m1], v_prev)
        _backward_segment(t, m0, n, grad_spikes, None, grad_u, u, v_prev, be, th, surrogate_grad, surrogate_id,
                          c0, c1, gv, sg_buf, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero)


@_pjit
def _forward_feedforward(x, v0, beta, thr, spikes, u, k_sub, k_zero, block):
    """Feed-forward forward pass, parallel over blocks of ``block`` neurons. The loop body is
    one call: a larger parallel body cost seconds more of compile time."""
    M = x.shape[1]
    for k in numba.prange((M + block - 1) // block):
        m0 = k * block
        _forward_block(m0, min(m0 + block, M), x, v0, beta, thr, spikes, u, k_sub, k_zero)


@_pjit
def _backward_feedforward(grad_spikes, grad_u, u, v0, beta, thr, surrogate_grad, surrogate_id, c0, c1,
                          du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero, block):
    """Feed-forward backward pass, parallel over the same blocks as the forward pass."""
    M = u.shape[1]
    for k in numba.prange((M + block - 1) // block):
        m0 = k * block
        _backward_block(m0, min(m0 + block, M), grad_spikes, grad_u, u, v0, beta, thr, surrogate_grad,
                        surrogate_id, c0, c1, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero)


# Recurrent layers: batch rows are independent in both passes (``w_rec`` mixes the neurons of a
# row, never rows), so threads take groups of rows and run all T steps with no synchronisation.
# The matrix products per step are done in-kernel on a group of R rows, weight row outermost:
# each weight row (contiguous) is loaded once per step and used for the R rows from L1.


@_leaf_fma
def _spikes_times_matrix(s, w, out, R, N):
    """``out[r] = s[r] @ w`` for the R rows of ``s``/``out`` (flat ``[R*N]``), ``w`` ``[N, N]``
    C-contiguous: ``out[r] += s[r, j] * w[j]`` over the j with ``s[r, j] != 0`` only (0/1 spikes:
    ~85 % of the terms skipped at 15 % firing). Each weight row is loaded once and used for all
    R rows. The sum runs in the order of j (BLAS may differ in the last bits)."""
    _fill(out, 0.0)
    for j in range(N):
        wj = w[j]
        for r in range(R):
            c = s[r * N + j]
            if c != 0.0:
                o = out[r * N:(r + 1) * N]
                for i in range(N):
                    o[i] += c * wj[i]


@_leaf_fma
def _rows_times_matrix(a, w, out, R, N):
    """``out[r] = a[r] @ w`` for dense rows (the backward's ``du[t+1] @ w_rec``): four weight
    rows at a time, so each pass over ``out`` (load + store) carries four multiply-adds."""
    _fill(out, 0.0)
    j = 0
    while j + 4 <= N:
        w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        for r in range(R):
            m = r * N + j
            c0, c1, c2, c3 = a[m], a[m + 1], a[m + 2], a[m + 3]
            o = out[r * N:(r + 1) * N]
            for i in range(N):
                o[i] += (c0 * w0[i] + c1 * w1[i]) + (c2 * w2[i] + c3 * w3[i])
        j += 4
    while j < N:
        wj = w[j]
        for r in range(R):
            c = a[r * N + j]
            o = out[r * N:(r + 1) * N]
            for i in range(N):
                o[i] += c * wj[i]
        j += 1


@_jit
def _forward_recurrent_group(b0, b1, x, v0, s0, beta, thr, w_t, spikes, u, k_sub, k_zero):
    """All T steps of batch rows b0..b1-1 of a recurrent layer; ``w_t = w_rec.T``."""
    x, v0, s0, beta, thr = _borrow(x), _borrow(v0), _borrow(s0), _borrow(beta), _borrow(thr)
    w_t, spikes, u = _borrow(w_t), _borrow(spikes), _borrow(u)
    N = beta.shape[0]
    R = b1 - b0
    m0, m1 = b0 * N, b1 * N
    v = np.empty(m1 - m0, x.dtype)
    _copy(v0[m0:m1], v)
    rec = np.empty_like(v)
    for t in range(x.shape[0]):
        _spikes_times_matrix(s0[m0:m1] if t == 0 else spikes[t - 1, m0:m1], w_t, rec, R, N)
        for r in range(R):
            a = r * N
            _forward_segment(t, m0 + a, N, x, rec[a:a + N], v[a:a + N], beta, thr, spikes, u, k_sub, k_zero)


@_jit
def _backward_rows(t, m0, R, grad_spikes, rec, grad_u, u, v0, beta, thr, surrogate_grad, surrogate_id, c0, c1,
                   gv, v_prev, sg_buf, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero):
    """Backward step t of the R batch rows from neuron m0 on (flat buffers of R*N values)."""
    N = beta.shape[0]
    m1 = m0 + R * N
    if t > 0:  # v[t-1] recomputed from u[t-1]
        for r in range(R):
            a = r * N
            _reset_row(u[t - 1, m0 + a:m0 + a + N], thr, v_prev[a:a + N], k_sub, k_zero)
    else:
        _copy(v0[m0:m1], v_prev)
    for r in range(R):
        a = r * N
        _backward_segment(t, m0 + a, N, grad_spikes, rec[a:a + N], grad_u, u, v_prev[a:a + N], beta, thr,
                          surrogate_grad, surrogate_id, c0, c1, gv[a:a + N], sg_buf[a:a + N], du, dbeta, dthr,
                          k_sub, k_zero, kg_sub, kg_zero)


@_jit
def _backward_recurrent_group(b0, b1, grad_spikes, grad_u, u, v0, beta, thr, w_rec, surrogate_grad, surrogate_id,
                              c0, c1, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero):
    """All T steps, backwards, of batch rows b0..b1-1: dL/ds[t] gets ``du[t+1] @ w_rec``."""
    grad_spikes, grad_u, u, v0, beta, thr = _borrow(grad_spikes), _borrow(grad_u), _borrow(u), _borrow(v0), \
        _borrow(beta), _borrow(thr)
    w_rec, surrogate_grad, du, dbeta, dthr = _borrow(w_rec), _borrow(surrogate_grad), _borrow(du), _borrow(dbeta), \
        _borrow(dthr)
    N = beta.shape[0]
    R = b1 - b0
    m0, m1 = b0 * N, b1 * N
    gv = np.zeros(m1 - m0, u.dtype)
    v_prev = np.empty_like(gv)
    sg_buf = np.empty_like(gv)
    rec = np.zeros_like(gv)  # nothing flows back into the last step through the recurrence
    _fill(dbeta[m0:m1], 0.0)
    _fill(dthr[m0:m1], 0.0)
    T = u.shape[0]
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            _rows_times_matrix(du[t + 1, m0:m1], w_rec, rec, R, N)
        _backward_rows(t, m0, R, grad_spikes, rec, grad_u, u, v0, beta, thr, surrogate_grad, surrogate_id, c0, c1,
                       gv, v_prev, sg_buf, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero)


@_pjit
def _forward_recurrent(x, v0, s0, beta, thr, w_t, spikes, u, k_sub, k_zero, group):
    """Recurrent forward pass, parallel over groups of ``group`` batch rows."""
    B = x.shape[1] // beta.shape[0]
    for k in numba.prange((B + group - 1) // group):
        _forward_recurrent_group(k * group, min(k * group + group, B), x, v0, s0, beta, thr, w_t, spikes, u,
                                 k_sub, k_zero)


@_pjit
def _backward_recurrent(grad_spikes, grad_u, u, v0, beta, thr, w_rec, surrogate_grad, surrogate_id, c0, c1,
                        du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero, group):
    """Recurrent backward pass, parallel over groups of ``group`` batch rows."""
    B = u.shape[1] // beta.shape[0]
    for k in numba.prange((B + group - 1) // group):
        _backward_recurrent_group(k * group, min(k * group + group, B), grad_spikes, grad_u, u, v0, beta, thr, w_rec,
                                  surrogate_grad, surrogate_id, c0, c1, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero)


# The same two passes with one BLAS gemm per step (np.dot, all rows at once), serial outside
# BLAS: the alternative measured by the benchmark (``python -m neurosim.kernels.lif.numba``).


@_jit
def _forward_recurrent_blas(x, v0, s0, beta, thr, w_t, spikes, u, k_sub, k_zero):
    """``_forward_recurrent`` with ``s[t-1] @ w_rec.T`` as one np.dot per step (benchmark only)."""
    T, M = x.shape
    N = beta.shape[0]
    B = M // N
    v = v0.copy()
    rec = np.empty((B, N), x.dtype)
    for t in range(T):
        np.dot((s0 if t == 0 else spikes[t - 1]).reshape((B, N)), w_t, rec)
        for b in range(B):
            m = b * N
            _forward_segment(t, m, N, x, rec[b], v[m:m + N], beta, thr, spikes, u, k_sub, k_zero)


@_jit
def _backward_recurrent_blas(grad_spikes, grad_u, u, v0, beta, thr, w_rec, surrogate_grad, surrogate_id, c0, c1,
                             du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero):
    """``_backward_recurrent`` with ``du[t+1] @ w_rec`` as one np.dot per step (benchmark only)."""
    T, M = u.shape
    N = beta.shape[0]
    B = M // N
    gv = np.zeros(M, u.dtype)
    v_prev = np.empty_like(gv)
    sg_buf = np.empty_like(gv)
    rec = np.zeros(M, u.dtype)
    _fill(dbeta, 0.0)
    _fill(dthr, 0.0)
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            np.dot(du[t + 1].reshape((B, N)), w_rec, rec.reshape((B, N)))
        _backward_rows(t, 0, B, grad_spikes, rec, grad_u, u, v0, beta, thr, surrogate_grad, surrogate_id, c0, c1,
                       gv, v_prev, sg_buf, du, dbeta, dthr, k_sub, k_zero, kg_sub, kg_zero)


# ---- torch wrappers ---------------------------------------------------------------------------


# Outputs from this size on are backed by transparent huge pages where the kernel offers them
# (Linux, THP "madvise" mode): a fresh large allocation is mmapped by malloc, and touching it
# page by page (4 KiB faults) cost more than the kernels themselves at T=1000 (50 ms for 64 MiB
# against 14 ms with huge pages). It is a hint for our own allocations only; failures are ignored.
_HUGE_PAGE_BYTES = 8 << 20
_MADV_HUGEPAGE = 14
_PAGE = 4096
_libc = None


def _advise_huge_pages(t: torch.Tensor) -> None:
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        start = -(-t.data_ptr() // _PAGE) * _PAGE
        end = (t.data_ptr() + t.numel() * t.element_size()) // _PAGE * _PAGE
        if end > start:
            _libc.madvise(start, end - start, _MADV_HUGEPAGE)
    except (OSError, AttributeError):
        pass


def _empty(shape, dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty``, with a huge-page hint for large outputs (see ``_HUGE_PAGE_BYTES``)."""
    t = torch.empty(shape, dtype=dtype)
    if t.numel() * t.element_size() >= _HUGE_PAGE_BYTES:
        _advise_huge_pages(t)
    return t


def _group_size(B: int) -> int:
    """Batch rows per recurrent group: one group per thread when B allows (the weight rows are
    reused across a group's rows), else one row each."""
    return max(1, -(-B // numba.get_num_threads()))


def _block_size(M: int) -> int:
    """Neurons per feed-forward block: about two blocks per thread, within
    ``[_MIN_BLOCK, _MAX_BLOCK]``, a multiple of 16 (blocks start on 64-byte boundaries)."""
    block = -(-M // (2 * numba.get_num_threads()))
    block = max(_MIN_BLOCK, min(_MAX_BLOCK, block))
    return -(-block // 16) * 16


# Gradients may come with any strides (a gradient broadcast over time is read without copying);
# neurosim.nn.functional checks this flag before handing them over unmaterialised.
ACCEPTS_BROADCAST_GRADS = True


_OWNER = "neurosim.kernels.lif.numba"  # who complains, in the messages


def _array(name: str, t: torch.Tensor | None, dtype: torch.dtype, shape: tuple | None = None, flat: int = 0):
    """Zero-copy numpy view of a CPU tensor of ``dtype`` (None stays None); ``flat`` > 0 merges
    its last dimensions into one, leaving ``flat`` dimensions ([T, B, N] -> [T, B*N])."""
    return as_array(_OWNER, name, t, dtype, shape, flat)


def _grad_array(name: str, g: torch.Tensor | None, dtype: torch.dtype, shape: tuple):
    """A gradient ``[T, B, N]`` as a ``[T, B*N]`` view, or ``[1, B*N]`` when it is broadcast
    over time (stride 0 over T, as ``spikes.sum()`` or ``spikes.sum(0)`` give): its one step
    is used for every step instead of materialising T copies."""
    if g is not None and g.dim() == 3 and g.shape[0] > 1 and g.stride(0) == 0 and tuple(g.shape) == shape:
        return _array(name, g[:1], dtype, (1,) + shape[1:], flat=2)
    return _array(name, g, dtype, shape, flat=2)


def _reset_coefficients(reset: int, detach_reset: bool, np_dtype) -> tuple:
    """0/1 coefficients in the dtype: subtractive reset, reset to zero, and the same two where
    the spike in the reset term carries gradient (not detached)."""
    if reset not in (RESET_SUBTRACT, RESET_ZERO, RESET_NONE):
        raise ValueError(f"{_OWNER}: unknown reset id {reset}")
    k_sub, k_zero = float(reset == RESET_SUBTRACT), float(reset == RESET_ZERO)
    grad = 0.0 if detach_reset else 1.0
    return tuple(np_dtype.type(k) for k in (k_sub, k_zero, k_sub * grad, k_zero * grad))


def lif_forward(x, v0, s0, beta, threshold, w_rec, reset):
    """Forward pass: ``(spikes, u)``, both ``[T, B, N]`` in ``x``'s dtype (see
    ``lif.reference.lif_forward``). ``s0`` and ``w_rec`` are None for a feed-forward layer."""
    check_sequence(_OWNER, "the input", x)
    T, B, N = x.shape
    dtype = x.dtype
    xa = _array("x", x, dtype, flat=2)
    k_sub, k_zero, _, _ = _reset_coefficients(reset, False, xa.dtype)
    v0a = _array("v0", v0, dtype, (B, N), flat=1)
    beta_a = _array("beta", beta, dtype, (N,))
    thr_a = _array("threshold", threshold, dtype, (N,))
    spikes, u = _empty(x.shape, dtype), _empty(x.shape, dtype)
    out = (spikes.numpy().reshape(T, B * N), u.numpy().reshape(T, B * N))
    if w_rec is None:
        with numba.parallel_chunksize(1):
            _forward_feedforward(xa, v0a, beta_a, thr_a, *out, k_sub, k_zero, _block_size(B * N))
    else:
        if s0 is None:
            raise ValueError(f"{_OWNER}: a recurrent layer (w_rec given) needs s0")
        s0a = _array("s0", s0, dtype, (B, N), flat=1)
        w_t = _array("w_rec", w_rec, dtype, (N, N)).T.copy()  # rows = source neurons
        with numba.parallel_chunksize(1):
            _forward_recurrent(xa, v0a, s0a, beta_a, thr_a, w_t, *out, k_sub, k_zero, _group_size(B))
    return spikes, u


def lif_backward(grad_spikes, grad_u, u, v0, beta, threshold, w_rec, reset, detach_reset,
                 surrogate_id, surrogate_param, surrogate_grad):
    """Backward pass: ``(du [T, B, N], dbeta [B, N], dthreshold [B, N])`` (see
    ``lif.reference.lif_backward``). ``grad_u`` and ``surrogate_grad`` may be None."""
    check_sequence(_OWNER, "the input", u)
    T, B, N = u.shape
    dtype = u.dtype
    ua = _array("u", u, dtype, flat=2)
    gsa = _grad_array("grad_spikes", grad_spikes, dtype, (T, B, N))
    # No grad_u is passed as zeros broadcast over time ([1, B*N], a few KiB): one compiled
    # variant fewer per layer kind and dtype (~5 s of first-call compile); the cost is an add
    # of a cached zero per neuron-step.
    gua = _grad_array("grad_u", grad_u, dtype, (T, B, N)) if grad_u is not None else np.zeros((1, B * N), ua.dtype)
    sga = _array("surrogate_grad", surrogate_grad, dtype, (T, B, N), flat=2)
    v0a = _array("v0", v0, dtype, (B, N), flat=1)
    beta_a = _array("beta", beta, dtype, (N,))
    thr_a = _array("threshold", threshold, dtype, (N,))
    if sga is None:
        c0, c1 = (ua.dtype.type(c) for c in surrogate_constants(int(surrogate_id), float(surrogate_param)))
    else:
        c0 = c1 = ua.dtype.type(0.0)
    du = _empty(u.shape, dtype)
    dbeta = torch.empty((B, N), dtype=dtype)
    dthr = torch.empty((B, N), dtype=dtype)
    args = (int(surrogate_id), c0, c1, du.numpy().reshape(T, B * N), dbeta.numpy().reshape(-1),
            dthr.numpy().reshape(-1), *_reset_coefficients(reset, bool(detach_reset), ua.dtype))
    with numba.parallel_chunksize(1):
        if w_rec is None:
            _backward_feedforward(gsa, gua, ua, v0a, beta_a, thr_a, sga, *args, _block_size(B * N))
        else:
            wa = _array("w_rec", w_rec, dtype, (N, N))
            _backward_recurrent(gsa, gua, ua, v0a, beta_a, thr_a, wa, sga, *args, _group_size(B))
    return du, dbeta, dthr


# ---- benchmark: python -m neurosim.kernels.lif.numba [--quick] --------------------------------


def _benchmark(argv=None) -> None:
    """Print the throughput of ``neurosim.nn.LIF(n, backend="numba")`` (float32, forward and
    forward+backward through the autograd Function, loss = spikes.sum(), input
    ``randn * 0.5 + 0.2``: ~15 % firing at beta 0.9, threshold 1), best of several runs, and
    the recurrent kernels' spike-driven input against a BLAS gemm per step."""
    import argparse
    import time

    import neurosim.nn as snn
    from neurosim.kernels.lif import numba as kernels  # the package's module, not __main__

    parser = argparse.ArgumentParser(description=_benchmark.__doc__)
    parser.add_argument("--quick", action="store_true", help="T=100 only, fewer repeats")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats

    def best(fn):
        fn()  # warm-up (compile or cache load, first-touch of memory)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    print(f"numba {numba.__version__}, torch {torch.__version__}, {numba.get_num_threads()} threads; "
          f"M/s = million neuron-steps per second, best of {repeats}")
    print(f"{'T':>5} {'B':>3} {'N':>5}  {'fwd M/s':>9} {'fwd+bwd M/s':>12} {'fwd+bwd ms':>11} {'firing':>7}")
    sizes = [(100, 32, 512), (100, 32, 2048)] + ([] if args.quick else [(1000, 32, 512), (1000, 32, 2048)])
    torch.manual_seed(0)
    for T, B, N in sizes:
        layer = snn.LIF(N, backend="numba")
        x = (torch.randn(T, B, N) * 0.5 + 0.2).requires_grad_()

        def forward():
            with torch.no_grad():
                return layer(x)[0]

        def train_step():
            spikes, _ = layer(x)
            spikes.sum().backward()
            x.grad = None

        t_fwd, t_step = best(forward), best(train_step)
        rate = float(forward().mean())
        n = T * B * N
        print(f"{T:5d} {B:3d} {N:5d}  {n / t_fwd / 1e6:9.0f} {n / t_step / 1e6:12.0f} {t_step * 1e3:11.1f} "
              f"{rate:7.3f}")

    # Recurrent: the kernels alone, spike-driven sums / in-kernel products against np.dot (BLAS).
    T, B, N = 100, 32, 512
    g = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, N, generator=g) * 0.5 + 0.2
    w = torch.randn(N, N, generator=g) * (0.5 / N ** 0.5)
    v0, s0 = torch.zeros(B, N), torch.zeros(B, N)
    beta, thr = torch.full((N,), 0.9), torch.ones(N)
    spikes, u = kernels.lif_forward(x, v0, s0, beta, thr, w, RESET_SUBTRACT)
    one, zero = np.float32(1.0), np.float32(0.0)
    M = B * N
    outs = (np.empty((T, M), np.float32), np.empty((T, M), np.float32))
    fwd_args = (x.numpy().reshape(T, M), v0.numpy().reshape(M), s0.numpy().reshape(M), beta.numpy(), thr.numpy(),
                w.T.contiguous().numpy(), *outs, one, zero)
    grads = (np.empty((T, M), np.float32), np.empty(M, np.float32), np.empty(M, np.float32))
    bwd_args = (np.ones((T, M), np.float32), None, u.numpy().reshape(T, M), v0.numpy().reshape(M), beta.numpy(),
                thr.numpy(), w.numpy(), None, FAST_SIGMOID, np.float32(25.0), zero, *grads, one, zero, one, zero)
    group = _group_size(B)
    n = T * M
    print(f"\nrecurrent T={T} B={B} N={N}, firing {float(spikes.mean()):.3f}, kernels only (M neuron-steps/s):")
    runs = [("forward,  spike-driven sum of w rows", lambda: kernels._forward_recurrent(*fwd_args, group)),
            ("forward,  np.dot (BLAS) per step", lambda: kernels._forward_recurrent_blas(*fwd_args)),
            ("backward, in-kernel du @ w_rec", lambda: kernels._backward_recurrent(*bwd_args, group)),
            ("backward, np.dot (BLAS) per step", lambda: kernels._backward_recurrent_blas(*bwd_args))]
    for name, run in runs:
        print(f"  {name:38s} {n / best(run) / 1e6:7.0f}")

if __name__ == "__main__":
    _benchmark()
