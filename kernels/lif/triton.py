"""Fused Triton kernels for the surrogate-gradient LIF layers (CUDA; CPU under TRITON_INTERPRET=1).

Same contract as ``lif_forward`` / ``lif_backward`` in ``lif/reference.py`` (the
specification): same arguments, return values, shapes and semantics, for float32 and float64.
Each direction is ONE kernel launch that runs all T steps inside the kernel; the Python
wrappers only allocate outputs, pick block sizes and launch (no per-step work, no host sync).

Feed-forward layers (``w_rec is None``)
    Neurons are independent, so the grid is ``cdiv(B*N, BLOCK)`` programs over the flattened
    ``[B, N]`` neurons; each program keeps its neurons' state in registers and loops over t
    (forward ascending; backward descending, carrying ``u[t]`` and loading ``u[t-1]`` to
    recompute ``s[t-1]`` and ``v[t-1]``). Every load/store of a step is one contiguous,
    coalesced ``BLOCK`` slice of the ``[T, B, N]`` tensors. ``beta`` and ``threshold`` are
    gathered once (``offs % N``). ``dbeta`` / ``dthreshold`` accumulate in registers and are
    written once at the end.

Recurrent layers (``w_rec [N, N]``, row = target)
    Step t needs the spikes of all N neurons of its batch row from step t-1, so the grid is one
    program per batch row. The program loops over t; inside a step it walks the row in tiles:
    forward, for each target tile ``[BLOCK_N]`` a blocked mat-vec over source tiles
    ``[BLOCK_N, BLOCK_K]`` of ``w_rec`` (coalesced along the source axis, the contiguous one)
    with the previous step's spikes read back from the ``spikes`` output (``s0`` at t = 0) and
    ``v[t-1]`` recomputed from the ``u`` output; backward, for each neuron tile
    ``[BLOCK_C]`` the transposed mat-vec ``du[t+1] @ w_rec`` over tiles ``[BLOCK_R, BLOCK_C]``
    (reduced along rows), with ``du[t+1]`` read back from the ``du`` output (so ``gv = beta *
    du[t+1]`` needs no scratch) and ``dbeta`` / ``dthreshold`` accumulated in their ``[B, N]``
    outputs (first step overwrites, so no zero-fill launch). All state crossing a step thus
    lives in the kernel's own outputs; a ``tl.debug_barrier()`` (bar.sync) ends every step so
    that step t's global writes, made by other threads of the same program, are visible to
    step t+1's reads (CUDA: ``__syncthreads`` orders global memory within the block). The
    reads of data written by the kernel use ``cache_modifier=".cg"`` (L2, not L1) as an extra
    guard against stale lines. Only innermost (tile) loops can be software-pipelined and they
    never cross a barrier. ``w_rec`` is re-read every step from L2/L1 (an ``N x N`` float32
    matrix of N = 1024 is 4 MiB, well inside H100's 50 MiB L2).
    Limits of this design: B programs, so a GPU is only filled when B is at least a few times
    the SM count (132 on H100); with small B the kernel is latency-bound (still one launch
    instead of T). Splitting a row over several programs would need a grid-wide barrier per
    step, which Triton does not offer safely, so it is not done.

Numerics: the per-neuron operations are those of the reference, in its order
(``u = beta * v + x``, then ``+ recurrent input``), launched with ``enable_fp_fusion=False``
(no FMA contraction), so feed-forward membranes and spikes match the torch reference bit for
bit; the recurrent sums are accumulated in a different order than ``torch.matmul``, so there
``u`` can differ in the last bits (spikes then differ only for membranes within rounding of
the threshold). The surrogate is the shared ``common.triton.surrogate``; its float32 ``exp``
(sigmoid) is the GPU's fast one. Surrogate constants are ``tl.constexpr`` so they enter float64
kernels at full precision (a run-time float argument would be passed as float32); a new
parameter value compiles a new kernel, once.

Verification status: these kernels have been checked against the torch reference only in
Triton's interpreter (TRITON_INTERPRET=1, CPU tensors; ``tests/test_nn_triton.py``), and
compiled ahead of time for sm_90 (PTX, no spills), not yet run on a real GPU. Triton decides
between interpreter and compiler when this module is imported, so TRITON_INTERPRET must be set
before that (``common.triton.check_device`` says so when it was not).
"""

from __future__ import annotations

import torch

from ..common.triton import LAUNCH, block_config, check_device, neuron_block, surrogate, surrogate_meta, tl, triton

__all__ = ["check_device", "lif_backward", "lif_forward"]


if triton is not None:

    @triton.jit
    def _reset(u, s, thr, RESET: tl.constexpr):
        """Membrane after the reset (``apply_reset`` of the reference)."""
        if RESET == 0:
            v = u - thr * s
        elif RESET == 1:
            v = u * (1.0 - s)
        else:
            v = u
        return v

    @triton.jit
    def _reset_from_u(u, thr, RESET: tl.constexpr):
        """Membrane after the reset recomputed from the membrane before it (spike: ``u > thr``)."""
        return _reset(u, (u > thr).to(u.dtype), thr, RESET)

    @triton.jit
    def _forward_step(v, x, rec, beta, thr, RECURRENT: tl.constexpr):
        """One step's membrane before the reset and spikes, ``(u, s)``: ``u = beta v + x``
        (``+ rec``, the recurrent input, when ``RECURRENT``), ``s = u > thr``."""
        u = beta * v + x
        if RECURRENT:
            u = u + rec
        s = (u > thr).to(u.dtype)
        return u, s

    @triton.jit
    def _backward_step(gv, gs, ut, thr, dthr, gu_p, sg_p, mask,
                       RESET: tl.constexpr, DETACH: tl.constexpr, HAS_GRAD_U: tl.constexpr,
                       HAS_SG: tl.constexpr, SURROGATE: tl.constexpr, C0: tl.constexpr, C1: tl.constexpr):
        """One backward step (``lif_backward``'s loop body) from ``gv`` = dL/dv[t] and ``gs`` =
        dL/ds[t] (output and recurrent gradient): returns dL/du[t] and the threshold gradient
        ``dthr`` with step t added. ``gu_p``, ``sg_p`` point at step t of ``grad_u`` and of the
        precomputed surrogate (read only when ``HAS_GRAD_U``, ``HAS_SG``)."""
        s = (ut > thr).to(ut.dtype)
        if HAS_SG:
            sg = tl.load(sg_p, mask=mask, other=0.0)
        else:
            sg = surrogate(ut - thr, SURROGATE, C0, C1)
        if RESET == 0:
            gu = gv
            if not DETACH:
                gs = gs - thr * gv
            dthr = dthr - s * gv
        elif RESET == 1:
            gu = gv * (1.0 - s)
            if not DETACH:
                gs = gs - ut * gv
        else:
            gu = gv
        if HAS_GRAD_U:
            gu = gu + tl.load(gu_p, mask=mask, other=0.0)
        gu = gu + gs * sg
        dthr = dthr - gs * sg
        return gu, dthr

    # ---- feed-forward ------------------------------------------------------------------

    @triton.jit
    def _lif_fwd_ff(x_ptr, v0_ptr, beta_ptr, thr_ptr, s_ptr, u_ptr, T, N, BN,
                    RESET: tl.constexpr, BLOCK: tl.constexpr):
        offs, mask = neuron_block(BN, BLOCK)
        n = offs % N
        beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
        thr = tl.load(thr_ptr + n, mask=mask, other=0.0)
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        # Pointers advance by one time slice (B*N) per step: 64-bit pointer arithmetic, so no
        # int32 overflow of t * B * N however long the sequence.
        x_p = x_ptr + offs
        s_p = s_ptr + offs
        u_p = u_ptr + offs
        for t in range(T):
            u, s = _forward_step(v, tl.load(x_p, mask=mask, other=0.0), v, beta, thr, False)
            tl.store(s_p, s, mask=mask)
            tl.store(u_p, u, mask=mask)
            v = _reset(u, s, thr, RESET)
            x_p += BN
            s_p += BN
            u_p += BN

    @triton.jit
    def _lif_bwd_ff(gs_ptr, gu_ptr, sg_ptr, u_ptr, v0_ptr, beta_ptr, thr_ptr,
                    du_ptr, dbeta_ptr, dthr_ptr, T, N, BN, last,
                    RESET: tl.constexpr, DETACH: tl.constexpr, HAS_GRAD_U: tl.constexpr,
                    HAS_SG: tl.constexpr, SURROGATE: tl.constexpr, C0: tl.constexpr,
                    C1: tl.constexpr, BLOCK: tl.constexpr):
        offs, mask = neuron_block(BN, BLOCK)
        n = offs % N
        beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
        thr = tl.load(thr_ptr + n, mask=mask, other=0.0)
        v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        # Pointers to step T-1 (``last`` = (T-1)*B*N), moved back one slice per step.
        u_p = u_ptr + last + offs
        gs_p = gs_ptr + last + offs
        du_p = du_ptr + last + offs
        gu_p = gu_ptr + last + offs
        sg_p = sg_ptr + last + offs
        ut = tl.load(u_p, mask=mask, other=0.0)
        zero = tl.zeros([BLOCK], dtype=u_ptr.dtype.element_ty)
        gv = zero  # dL/dv[t] from the future
        dbeta = zero
        dthr = zero
        for i in range(T):
            t = T - 1 - i
            # Step flags as blocks, not scalars: Triton's interpreter mis-types a scalar bool
            # broadcast into a block mask (the compiled kernel would not care).
            has_prev = (offs * 0 + t) > 0
            u_prev = tl.load(u_p - BN, mask=mask & has_prev, other=0.0)
            v_prev = tl.where(has_prev, _reset_from_u(u_prev, thr, RESET), v0)
            gs = tl.load(gs_p, mask=mask, other=0.0)
            gu, dthr = _backward_step(gv, gs, ut, thr, dthr, gu_p, sg_p, mask,
                                      RESET, DETACH, HAS_GRAD_U, HAS_SG, SURROGATE, C0, C1)
            tl.store(du_p, gu, mask=mask)
            dbeta = dbeta + gu * v_prev
            gv = beta * gu
            ut = u_prev
            u_p -= BN
            gs_p -= BN
            du_p -= BN
            gu_p -= BN
            sg_p -= BN
        tl.store(dbeta_ptr + offs, dbeta, mask=mask)
        tl.store(dthr_ptr + offs, dthr, mask=mask)

    # ---- recurrent: one program per batch row -----------------------------------------

    @triton.jit
    def _lif_fwd_rec(x_ptr, v0_ptr, s0_ptr, beta_ptr, thr_ptr, w_ptr, s_ptr, u_ptr, T, N, BN,
                     RESET: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        row = tl.program_id(0) * N
        ar_n = tl.arange(0, BLOCK_N)
        ar_k = tl.arange(0, BLOCK_K)
        x_row = x_ptr + row
        s_row = s_ptr + row
        u_row = u_ptr + row
        v_src = v0_ptr + row  # v0 at t = 0, then u[t-1] (reset applied below)
        s_src = s0_ptr + row  # s0 at t = 0, then spikes[t-1]
        for t in range(T):
            not_first = (ar_n * 0 + t) > 0  # a block, see _lif_bwd_ff
            for n0 in range(0, N, BLOCK_N):
                offs_n = n0 + ar_n
                mask_n = offs_n < N
                beta = tl.load(beta_ptr + offs_n, mask=mask_n, other=0.0)
                thr = tl.load(thr_ptr + offs_n, mask=mask_n, other=0.0)
                vp = tl.load(v_src + offs_n, mask=mask_n, other=0.0, cache_modifier=".cg")
                # v[t-1] = reset(u[t-1], s[t-1]); v0 is taken as it is.
                v = tl.where(not_first, _reset_from_u(vp, thr, RESET), vp)
                rec = tl.zeros([BLOCK_N], dtype=u_ptr.dtype.element_ty)
                w_rows = w_ptr + offs_n[:, None] * N
                for k0 in range(0, N, BLOCK_K):
                    offs_k = k0 + ar_k
                    mask_k = offs_k < N
                    s_k = tl.load(s_src + offs_k, mask=mask_k, other=0.0, cache_modifier=".cg")
                    w = tl.load(w_rows + offs_k[None, :], mask=mask_n[:, None] & mask_k[None, :], other=0.0)
                    rec += tl.sum(w * s_k[None, :], axis=1)
                u, s = _forward_step(v, tl.load(x_row + offs_n, mask=mask_n, other=0.0), rec, beta, thr, True)
                tl.store(s_row + offs_n, s, mask=mask_n)
                tl.store(u_row + offs_n, u, mask=mask_n)
            # Step t's spikes and membranes, written by all threads, are read by step t+1.
            tl.debug_barrier()
            v_src = u_row
            s_src = s_row
            x_row += BN
            s_row += BN
            u_row += BN

    @triton.jit
    def _lif_bwd_rec(gs_ptr, gu_ptr, sg_ptr, u_ptr, v0_ptr, beta_ptr, thr_ptr, w_ptr,
                     du_ptr, dbeta_ptr, dthr_ptr, T, N, BN, last,
                     RESET: tl.constexpr, DETACH: tl.constexpr, HAS_GRAD_U: tl.constexpr,
                     HAS_SG: tl.constexpr, SURROGATE: tl.constexpr, C0: tl.constexpr,
                     C1: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_R: tl.constexpr):
        row = tl.program_id(0) * N
        ar_c = tl.arange(0, BLOCK_C)
        ar_r = tl.arange(0, BLOCK_R)
        v0_row = v0_ptr + row
        dbeta_row = dbeta_ptr + row
        dthr_row = dthr_ptr + row
        # Row pointers at step T-1, moved back one time slice per step.
        u_row = u_ptr + last + row
        gs_row = gs_ptr + last + row
        gu_row = gu_ptr + last + row
        sg_row = sg_ptr + last + row
        du_row = du_ptr + last + row
        for i in range(T):
            t = T - 1 - i
            t_c = ar_c * 0 + t  # step flags as blocks, see _lif_bwd_ff
            has_prev = t_c > 0
            has_next = t_c < T - 1
            is_first = t_c == 0
            has_next_r = (ar_r * 0 + t) < T - 1
            for c0 in range(0, N, BLOCK_C):
                offs = c0 + ar_c
                mask = offs < N
                beta = tl.load(beta_ptr + offs, mask=mask, other=0.0)
                thr = tl.load(thr_ptr + offs, mask=mask, other=0.0)
                ut = tl.load(u_row + offs, mask=mask, other=0.0)
                u_prev = tl.load(u_row - BN + offs, mask=mask & has_prev, other=0.0)
                v0 = tl.load(v0_row + offs, mask=mask & is_first, other=0.0)
                v_prev = tl.where(has_prev, _reset_from_u(u_prev, thr, RESET), v0)
                # du[t+1] (0 past the end), written by the previous iteration: gv = beta * du[t+1].
                du_next = tl.load(du_row + BN + offs, mask=mask & has_next, other=0.0, cache_modifier=".cg")
                gv = beta * du_next
                # gs = grad_spikes[t] + du[t+1] @ w_rec  (column sums of w_rec rows weighted by du).
                rec = tl.zeros([BLOCK_C], dtype=u_ptr.dtype.element_ty)
                for r0 in range(0, N, BLOCK_R):
                    offs_r = r0 + ar_r
                    mask_r = (offs_r < N) & has_next_r
                    d_r = tl.load(du_row + BN + offs_r, mask=mask_r, other=0.0, cache_modifier=".cg")
                    w = tl.load(w_ptr + offs_r[:, None] * N + offs[None, :],
                                mask=mask_r[:, None] & mask[None, :], other=0.0)
                    rec += tl.sum(w * d_r[:, None], axis=0)
                gs = tl.load(gs_row + offs, mask=mask, other=0.0)
                gs = gs + rec
                dthr = tl.load(dthr_row + offs, mask=mask & has_next, other=0.0)
                gu, dthr = _backward_step(gv, gs, ut, thr, dthr, gu_row + offs, sg_row + offs, mask,
                                          RESET, DETACH, HAS_GRAD_U, HAS_SG, SURROGATE, C0, C1)
                tl.store(du_row + offs, gu, mask=mask)
                dbeta = tl.load(dbeta_row + offs, mask=mask & has_next, other=0.0)
                tl.store(dbeta_row + offs, dbeta + gu * v_prev, mask=mask)
                tl.store(dthr_row + offs, dthr, mask=mask)
            # du[t] (and the accumulators) must be visible to all threads before step t-1.
            tl.debug_barrier()
            u_row -= BN
            gs_row -= BN
            gu_row -= BN
            sg_row -= BN
            du_row -= BN


# ---- launch configuration -------------------------------------------------------------------

def _ff_config(numel: int) -> tuple[int, int]:
    """(BLOCK, num_warps) for the feed-forward kernels over ``numel = B * N`` neurons."""
    return block_config(numel, max_block=1024, per_warp=256)


def _rec_config(n: int) -> tuple[int, int, int]:
    """(tile rows, tile columns, num_warps) for the recurrent kernels: ~32 values a thread."""
    p = triton.next_power_of_2(n)
    rows, cols = min(p, 64), min(p, 128)
    return rows, cols, max(1, min(8, rows * cols // 1024))


def _check(x, v0, beta, threshold, w_rec):
    check_device(x.device)
    if x.dim() != 3:
        raise ValueError(f"x must be [T, B, N], got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"backend 'triton' takes float32 or float64 tensors, got {x.dtype}")
    _, b, n = x.shape
    for name, t, shape in (("v0", v0, (b, n)), ("beta", beta, (n,)), ("threshold", threshold, (n,)),
                           ("w_rec", w_rec, (n, n))):
        if t is not None and (tuple(t.shape) != shape or not t.is_contiguous()):
            raise ValueError(f"{name} must be a contiguous {shape} tensor, got {tuple(t.shape)}")


def lif_forward(x, v0, s0, beta, threshold, w_rec, reset):
    """Fused forward: ``(spikes, u)``, both ``[T, B, N]`` in ``x``'s dtype (see the reference)."""
    _check(x, v0, beta, threshold, w_rec)
    x = x.contiguous()
    dt = x.dtype
    v0, beta, threshold = (t if t.dtype == dt else t.to(dt) for t in (v0, beta, threshold))
    T, B, N = x.shape
    spikes, u = torch.empty_like(x), torch.empty_like(x)
    if x.numel() == 0:
        return spikes, u
    bn = B * N
    if w_rec is None:
        block, warps = _ff_config(bn)
        _lif_fwd_ff[(triton.cdiv(bn, block),)](x, v0, beta, threshold, spikes, u, T, N, bn,
                                              RESET=int(reset), BLOCK=block, num_warps=warps, **LAUNCH)
    else:
        w_rec = w_rec if w_rec.dtype == dt else w_rec.to(dt)
        s0 = torch.zeros_like(v0) if s0 is None else (s0 if s0.dtype == dt else s0.to(dt)).contiguous()
        rows, cols, warps = _rec_config(N)
        _lif_fwd_rec[(B,)](x, v0, s0, beta, threshold, w_rec, spikes, u, T, N, bn,
                           RESET=int(reset), BLOCK_N=rows, BLOCK_K=cols, num_warps=warps, **LAUNCH)
    return spikes, u


def lif_backward(grad_spikes, grad_u, u, v0, beta, threshold, w_rec, reset, detach_reset,
                 surrogate_id, surrogate_param, surrogate_grad):
    """Fused backward: ``(du [T, B, N], dbeta [B, N], dthreshold [B, N])`` (see the reference)."""
    _check(u, v0, beta, threshold, w_rec)
    dt = u.dtype
    v0, beta, threshold = (t if t.dtype == dt else t.to(dt) for t in (v0, beta, threshold))
    grad_spikes = grad_spikes.to(dt).contiguous()
    grad_u = None if grad_u is None else grad_u.to(dt).contiguous()
    surrogate_grad = None if surrogate_grad is None else surrogate_grad.to(dt).contiguous()
    T, B, N = u.shape
    du = torch.empty_like(u)
    dbeta = torch.empty_like(v0)
    dthr = torch.empty_like(v0)
    if u.numel() == 0:
        return du, dbeta.zero_(), dthr.zero_()
    bn = B * N
    has_sg = surrogate_grad is not None
    # Absent optional inputs: any valid tensor stands in; the kernels never read it.
    gu_arg = grad_u if grad_u is not None else u
    sg_arg = surrogate_grad if has_sg else u
    meta = dict(RESET=int(reset), DETACH=bool(detach_reset), HAS_GRAD_U=grad_u is not None, HAS_SG=has_sg,
                **surrogate_meta(surrogate_id, surrogate_param, has_sg))
    last = (T - 1) * bn
    if w_rec is None:
        block, warps = _ff_config(bn)
        _lif_bwd_ff[(triton.cdiv(bn, block),)](grad_spikes, gu_arg, sg_arg, u, v0, beta, threshold,
                                              du, dbeta, dthr, T, N, bn, last, BLOCK=block,
                                              num_warps=warps, **LAUNCH, **meta)
    else:
        w_rec = w_rec if w_rec.dtype == dt else w_rec.to(dt)
        rows, cols, warps = _rec_config(N)
        # Backward tiles are [rows reduced over, neuron columns]: columns along w_rec's contiguous axis.
        _lif_bwd_rec[(B,)](grad_spikes, gu_arg, sg_arg, u, v0, beta, threshold, w_rec,
                           du, dbeta, dthr, T, N, bn, last, BLOCK_C=cols, BLOCK_R=rows,
                           num_warps=warps, **LAUNCH, **meta)
    return du, dbeta, dthr
