"""Fused Triton kernels of the Izhikevich surrogate-gradient layer (CUDA; CPU under TRITON_INTERPRET=1).

Same contract as ``izhikevich_forward`` / ``izhikevich_backward`` in ``izhikevich/reference.py``
(recurrence and backward pass in its docstring): same arguments, return values, shapes and
semantics, for float32 and float64. Each direction is ONE kernel launch that runs all T steps
inside the kernel; the Python wrappers only allocate outputs, pick the block size and launch.

Neurons are independent, so the grid is ``cdiv(B*N, BLOCK)`` programs over the flattened
``[B, N]`` neurons; each program keeps its neurons' state (and, backward, the carried
gradients and the parameter-gradient accumulators) in registers and loops over t (forward
ascending, backward descending). Every load/store of a step is one contiguous, coalesced
``BLOCK`` slice of a ``[T, B, N]`` tensor; the parameters are gathered once (``offs % N``).
The backward pass recomputes a step's substeps from the saved start state together with the
Horner fold of their Jacobians, so it needs no per-substep storage.

Numerics: the operations are the contract's, in its order, launched with
``enable_fp_fusion=False`` (no FMA contraction); Python constants in the kernels take the
tensors' dtype (Triton's scalar promotion), and ``dt``, ``h = dt / substeps`` and the surrogate
constants are ``tl.constexpr`` so they enter float64 kernels at full precision (a run-time float
argument would be passed as float32). So spikes and states match the torch reference bit for
bit; a new ``dt`` or surrogate parameter compiles a new kernel, once. The surrogate is the
shared ``common.triton.surrogate``; exponentials (sigmoid surrogate) use the GPU's fast ``exp``
in float32.

Verification status: checked against the contract and the torch reference in Triton's
interpreter (TRITON_INTERPRET=1, CPU tensors; ``tests/test_nn_izhikevich_kernels.py``), not yet
on a real GPU.
"""

from __future__ import annotations

import torch

# The shared module is imported before the kernels below are decorated, so its device check
# (interpreter or compiler) holds for them too.
from ..common.triton import LAUNCH, block_config, check_device, neuron_block, surrogate, surrogate_meta, tl, triton

__all__ = ["check_device", "izhikevich_forward", "izhikevich_backward"]


if triton is not None:

    @triton.jit
    def _substep(v, u, it, H: tl.constexpr):
        """One Euler substep of ``H`` ms of the membrane (``membrane_substep`` of the reference)."""
        return v + H * (0.04 * v * v + 5.0 * v + 140.0 - u + it)

    @triton.jit
    def _params(a_ptr, b_ptr, c_ptr, d_ptr, vpk_ptr, n, mask):
        """The parameters ``(a, b, c, d, v_peak)`` of neurons ``n``."""
        a = tl.load(a_ptr + n, mask=mask, other=0.0)
        b = tl.load(b_ptr + n, mask=mask, other=0.0)
        c = tl.load(c_ptr + n, mask=mask, other=0.0)
        d = tl.load(d_ptr + n, mask=mask, other=0.0)
        vpk = tl.load(vpk_ptr + n, mask=mask, other=0.0)
        return a, b, c, d, vpk

    @triton.jit
    def _izh_fwd(cur_ptr, v0_ptr, u0_ptr, a_ptr, b_ptr, c_ptr, d_ptr, vpk_ptr,
                 s_ptr, vs_ptr, us_ptr, vl_ptr, ul_ptr, T, N, BN, SUBSTEPS,
                 H: tl.constexpr, DT: tl.constexpr, BLOCK: tl.constexpr):
        offs, mask = neuron_block(BN, BLOCK)
        a, b, c, d, vpk = _params(a_ptr, b_ptr, c_ptr, d_ptr, vpk_ptr, offs % N, mask)
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        u = tl.load(u0_ptr + offs, mask=mask, other=0.0)
        # Pointers advance by one time slice (B*N) per step: 64-bit pointer arithmetic, so no
        # int32 overflow of t * B * N however long the sequence.
        cur_p = cur_ptr + offs
        s_p = s_ptr + offs
        vs_p = vs_ptr + offs
        us_p = us_ptr + offs
        for t in range(T):
            tl.store(vs_p, v, mask=mask)
            tl.store(us_p, u, mask=mask)
            it = tl.load(cur_p, mask=mask, other=0.0)
            for k in range(SUBSTEPS):
                v = _substep(v, u, it, H)
            u = u + DT * (a * (b * v - u))
            s = ((v - vpk) > 0.0).to(v.dtype)
            tl.store(s_p, s, mask=mask)
            v = v * (1.0 - s) + c * s
            u = u + d * s
            cur_p += BN
            s_p += BN
            vs_p += BN
            us_p += BN
        tl.store(vl_ptr + offs, v, mask=mask)
        tl.store(ul_ptr + offs, u, mask=mask)

    @triton.jit
    def _izh_bwd(gs_ptr, gvl_ptr, gul_ptr, cur_ptr, vs_ptr, us_ptr, sg_ptr,
                 a_ptr, b_ptr, c_ptr, d_ptr, vpk_ptr,
                 dcur_ptr, dv0_ptr, du0_ptr, da_ptr, db_ptr, dc_ptr, dd_ptr, dvp_ptr,
                 T, N, BN, last, SUBSTEPS,
                 H: tl.constexpr, DT: tl.constexpr, DETACH: tl.constexpr, HAS_SG: tl.constexpr,
                 SURROGATE: tl.constexpr, C0: tl.constexpr, C1: tl.constexpr, BLOCK: tl.constexpr):
        offs, mask = neuron_block(BN, BLOCK)
        a, b, c, d, vpk = _params(a_ptr, b_ptr, c_ptr, d_ptr, vpk_ptr, offs % N, mask)
        gv = tl.load(gvl_ptr + offs, mask=mask, other=0.0)
        gu = tl.load(gul_ptr + offs, mask=mask, other=0.0)
        zero = tl.zeros([BLOCK], dtype=cur_ptr.dtype.element_ty)
        da = zero
        db = zero
        dc = zero
        dd = zero
        dvp = zero
        # Pointers to step T-1 (``last`` = (T-1)*B*N), moved back one slice per step.
        gs_p = gs_ptr + last + offs
        cur_p = cur_ptr + last + offs
        vs_p = vs_ptr + last + offs
        us_p = us_ptr + last + offs
        sg_p = sg_ptr + last + offs
        dcur_p = dcur_ptr + last + offs
        for i in range(T):
            us = tl.load(us_p, mask=mask, other=0.0)
            it = tl.load(cur_p, mask=mask, other=0.0)
            w = tl.load(vs_p, mask=mask, other=0.0)
            S = zero
            PJ = zero + 1.0
            for k in range(SUBSTEPS):
                J = 1.0 + H * (0.08 * w + 5.0)
                S = S * J + 1.0
                PJ = PJ * J
                w = _substep(w, us, it, H)
            x = w - vpk
            s = (x > 0.0).to(w.dtype)
            if HAS_SG:
                sg = tl.load(sg_p, mask=mask, other=0.0)
            else:
                sg = surrogate(x, SURROGATE, C0, C1)
            gs = tl.load(gs_p, mask=mask, other=0.0)
            if not DETACH:
                gs = gs + gv * (c - w) + gu * d
            dc = dc + gv * s
            dd = dd + gu * s
            gss = gs * sg
            gp = gv * (1.0 - s) + gss
            dvp = dvp - gss
            r = DT * gu
            da = da + r * (b * w - us)
            db = db + r * a * w
            gp = gp + r * a * b
            gi = H * gp * S
            tl.store(dcur_p, gi, mask=mask)
            gv = gp * PJ
            gu = gu - r * a - gi
            gs_p -= BN
            cur_p -= BN
            vs_p -= BN
            us_p -= BN
            sg_p -= BN
            dcur_p -= BN
        tl.store(dv0_ptr + offs, gv, mask=mask)
        tl.store(du0_ptr + offs, gu, mask=mask)
        tl.store(da_ptr + offs, da, mask=mask)
        tl.store(db_ptr + offs, db, mask=mask)
        tl.store(dc_ptr + offs, dc, mask=mask)
        tl.store(dd_ptr + offs, dd, mask=mask)
        tl.store(dvp_ptr + offs, dvp, mask=mask)


# ---- launch configuration -------------------------------------------------------------------

def _config(numel: int) -> tuple[int, int]:
    """(BLOCK, num_warps) over ``numel = B * N`` neurons. The backward keeps ~12 values a
    neuron in registers, so blocks stay moderate."""
    return block_config(numel, max_block=512, per_warp=128)


def _prepare(current, states, params, dt, substeps):
    """Check the inputs (``states``: name -> ``[B, N]``, ``params``: name -> ``[N]``); return the
    current and them contiguous in the current's dtype, and (h, dt, substeps)."""
    check_device(current.device)
    if current.dim() != 3:
        raise ValueError(f"current must be [T, B, N], got shape {tuple(current.shape)}")
    if current.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"backend 'triton' takes float32 or float64 tensors, got {current.dtype}")
    if isinstance(substeps, bool) or int(substeps) != substeps or substeps < 1:
        raise ValueError(f"substeps must be a positive int, got {substeps!r}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    _, B, N = current.shape
    out = []
    for name, t, shape in (*((k, v, (B, N)) for k, v in states.items()), *((k, p, (N,)) for k, p in params.items())):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if t.device != current.device:
            raise ValueError(f"{name} is on {t.device}, the current on {current.device}")
        out.append(t.to(current.dtype).contiguous())
    substeps = int(substeps)
    return current.contiguous(), out, (float(dt) / substeps, float(dt), substeps)


def izhikevich_forward(current, v0, u0, a, b, c, d, v_peak, dt, substeps):
    """Fused forward: ``(spikes, v_start, u_start [T, B, N], v_last, u_last [B, N])`` (see the
    contract ``izhikevich.reference.izhikevich_forward``)."""
    current, (v0, u0, *params), (h, dt, substeps) = _prepare(
        current, dict(v0=v0, u0=u0), dict(a=a, b=b, c=c, d=d, v_peak=v_peak), dt, substeps)
    T, B, N = current.shape
    spikes, vs, us = (torch.empty_like(current) for _ in range(3))
    v_last, u_last = torch.empty_like(v0), torch.empty_like(u0)
    bn = B * N
    if bn == 0:
        return spikes, vs, us, v_last, u_last
    block, warps = _config(bn)
    _izh_fwd[(triton.cdiv(bn, block),)](current, v0, u0, *params, spikes, vs, us, v_last, u_last,
                                        T, N, bn, substeps, H=h, DT=dt, BLOCK=block, num_warps=warps, **LAUNCH)
    return spikes, vs, us, v_last, u_last


def izhikevich_backward(grad_spikes, grad_v_last, grad_u_last, current, v_start, u_start, a, b, c, d, v_peak,
                        dt, substeps, detach_reset, surrogate_id, surrogate_param, surrogate_grad):
    """Fused backward: ``(d_current [T, B, N], d_v0, d_u0, da, db, dc, dd, dv_peak [B, N])`` (see
    the contract ``izhikevich.reference.izhikevich_backward``)."""
    T, B, N = current.shape
    zeros = torch.zeros((B, N), dtype=current.dtype, device=current.device)
    gvl = zeros if grad_v_last is None else grad_v_last
    gul = zeros if grad_u_last is None else grad_u_last
    current, (gvl, gul, *params), (h, dt, substeps) = _prepare(
        current, dict(grad_v_last=gvl, grad_u_last=gul), dict(a=a, b=b, c=c, d=d, v_peak=v_peak), dt, substeps)
    dtype = current.dtype
    big = []
    for name, t in (("grad_spikes", grad_spikes), ("v_start", v_start), ("u_start", u_start),
                    ("surrogate_grad", surrogate_grad)):
        if t is None:
            big.append(None)
            continue
        if tuple(t.shape) != (T, B, N):
            raise ValueError(f"{name} must have shape {(T, B, N)}, got {tuple(t.shape)}")
        big.append(t.to(dtype).contiguous())
    grad_spikes, v_start, u_start, surrogate_grad = big
    has_sg = surrogate_grad is not None
    meta = surrogate_meta(surrogate_id, surrogate_param, has_sg)
    dcur = torch.empty_like(current)
    outs = [torch.empty_like(gvl) for _ in range(7)]  # dv0, du0, da, db, dc, dd, dv_peak
    bn = B * N
    if bn == 0:
        return (dcur, *outs)
    block, warps = _config(bn)
    _izh_bwd[(triton.cdiv(bn, block),)](
        grad_spikes, gvl, gul, current, v_start, u_start, surrogate_grad if has_sg else current, *params,
        dcur, *outs, T, N, bn, (T - 1) * bn if T > 0 else 0, substeps,
        H=h, DT=dt, DETACH=bool(detach_reset), HAS_SG=has_sg, **meta, BLOCK=block, num_warps=warps, **LAUNCH)
    return (dcur, *outs)
