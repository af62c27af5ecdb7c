"""Fused Izhikevich kernels: the explicit contract (``kernels/izhikevich/reference.py``) against
autograd through the specification (``izhikevich_sequence_reference``, same module), and
the Numba and Triton kernels against the contract and the specification.

Random per-neuron a, b, c, d in the usual ranges, currents that make most neurons spike a few
times (and leave some silent), substeps 1 and 2, dt 0.5 and 1 ms, with and without
``detach_reset``, built-in and custom surrogates, float32 and float64. Spikes and states must
be equal (the kernels do the reference's operations in its order); gradients close (the backward
folds the substeps' Jacobians forwards, so its rounding differs from autograd's by a few ulps).

Without a CUDA GPU the Triton kernels run in Triton's interpreter on CPU tensors (``conftest.py``
sets TRITON_INTERPRET=1 before triton is imported): slow, so the Triton cases are few and small.
"""

import itertools

import pytest
import torch

import neurosim.nn as snn
from neurosim.kernels.izhikevich import numba as nb
from neurosim.kernels.izhikevich import reference as contract
from neurosim.kernels.izhikevich import triton as tr
from neurosim.nn.izhikevich_function import izhikevich_sequence

DTYPES = [torch.float32, torch.float64]
TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CUSTOM = snn.surrogate.custom(lambda x: 0.3 * torch.exp(-0.05 * x * x), "gauss")
SURROGATES = {"fast_sigmoid": snn.surrogate.fast_sigmoid(0.5), "arctan": snn.surrogate.arctan(0.4),
              "triangle": snn.surrogate.triangle(0.2), "sigmoid": snn.surrogate.sigmoid(0.5), "custom": CUSTOM}
NAMES = ("current", "v0", "u0", "a", "b", "c", "d", "v_peak")


def _inputs(T, B, N, dtype, seed=0, device="cpu"):
    """Regular-spiking to chattering neurons; per-neuron drive from ~0 (silent or rare) to 15."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    a, b = 0.02 + 0.08 * r(N), 0.2 + 0.05 * r(N)
    c, d = -65.0 + 15.0 * r(N), 2.0 + 6.0 * r(N)
    v_peak = 30.0 + 2.0 * r(N)
    drive = 15.0 * r(B, N)
    current = drive * (0.5 + r(T, B, N))
    v0 = -70.0 + 10.0 * r(B, N)
    u0 = b * v0 + r(B, N)
    return tuple(t.to(dtype=dtype, device=device) for t in (current, v0, u0, a, b, c, d, v_peak))


def _upstream(T, B, N, dtype, seed=1, device="cpu"):
    """Random dL/dspikes and small dL/dv_last, dL/du_last (the state's gradient goes through
    every step, so it dominates when large)."""
    g = torch.Generator().manual_seed(seed)
    gs = torch.randn(T, B, N, generator=g, dtype=torch.float64)
    gv = 0.01 * torch.randn(B, N, generator=g, dtype=torch.float64)
    gu = 0.01 * torch.randn(B, N, generator=g, dtype=torch.float64)
    return tuple(t.to(dtype=dtype, device=device) for t in (gs, gv, gu))


def _close(got, want, dtype, name, rel):
    """Element-wise close, with the absolute tolerance scaled by the tensor's largest value
    (gradients through Izhikevich dynamics span many orders of magnitude)."""
    scale = float(want.abs().max()) if want.numel() else 0.0
    atol = rel * max(scale, 1e-30)
    torch.testing.assert_close(got.cpu(), want.cpu(), rtol=rel, atol=atol, msg=lambda m: f"{name}: {m}")


def _autograd(inputs, surrogate, dt, substeps, detach, upstream):
    """Gradients of ``<gs, spikes> + <gv, v_last> + <gu, u_last>`` by autograd through the
    specification, for all eight inputs (parameter gradients summed over the batch)."""
    leaves = [t.clone().requires_grad_() for t in inputs]
    spikes, _, (v, u) = contract.izhikevich_sequence_reference(*leaves, surrogate, dt, substeps, detach)
    gs, gv, gu = upstream
    loss = (spikes * gs).sum() + (v * gv).sum() + (u * gu).sum()
    return spikes.detach(), v.detach(), u.detach(), torch.autograd.grad(loss, leaves)


def _kernel_backward(module, inputs, fwd, surrogate, dt, substeps, detach, upstream):
    """Call ``module.izhikevich_backward`` as the autograd Function does."""
    current, v0, u0, a, b, c, d, v_peak = inputs
    _, v_start, u_start, _, _ = fwd
    sg = None
    if surrogate.kernel_id == snn.surrogate.CUSTOM:
        p = contract.izhikevich_membrane(current, v_start, u_start, dt, substeps)
        sg = surrogate.derivative(p - v_peak).contiguous()
    gs, gv, gu = upstream
    return module.izhikevich_backward(gs, gv, gu, current, v_start, u_start, a, b, c, d, v_peak, dt, substeps,
                                      detach, surrogate.kernel_id, float(surrogate.param), sg)


def _tol_autograd(dtype):
    return 1e-4 if dtype == torch.float32 else 1e-9


def _tol_kernel(dtype):
    # The kernels do the contract's operations in its order: equal up to exp/sigmoid rounding.
    return 1e-5 if dtype == torch.float32 else 1e-12


def _check_spiking(spikes):
    n = spikes.numel()
    assert 0.01 * n < float(spikes.detach().sum()) < 0.3 * n  # the comparison saw spikes, resets and silence


GRID = list(itertools.product(DTYPES, [1, 2], [0.5, 1.0], [False, True]))
GRID_IDS = [f"{'f32' if t == torch.float32 else 'f64'}-K{k}-dt{dt}-{'detach' if det else 'attached'}"
            for t, k, dt, det in GRID]


# ---- the contract against autograd --------------------------------------------------------------


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "custom"])
@pytest.mark.parametrize("dtype, substeps, dt, detach", GRID, ids=GRID_IDS)
def test_contract_equals_autograd(dtype, substeps, dt, detach, surrogate):
    sur = SURROGATES[surrogate]
    T, B, N = 60, 3, 9
    inputs = _inputs(T, B, N, dtype)
    upstream = _upstream(T, B, N, dtype)
    spikes_ref, v_ref, u_ref, grads = _autograd(inputs, sur, dt, substeps, detach, upstream)
    fwd = contract.izhikevich_forward(*inputs, dt, substeps)
    spikes, v_start, u_start, v_last, u_last = fwd
    _check_spiking(spikes)
    assert torch.equal(spikes, spikes_ref) and torch.equal(v_last, v_ref) and torch.equal(u_last, u_ref)
    assert torch.equal(v_start[0], inputs[1]) and torch.equal(u_start[0], inputs[2])
    out = _kernel_backward(contract, inputs, fwd, sur, dt, substeps, detach, upstream)
    got = list(out[:3]) + [g.sum(0) for g in out[3:]]
    for name, x, y in zip(NAMES, got, grads):
        _close(x, y, dtype, name, _tol_autograd(dtype))


# ---- Numba ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, substeps, dt, detach", GRID, ids=GRID_IDS)
def test_numba_equals_contract(dtype, substeps, dt, detach):
    T, B, N = 50, 3, 70  # 70: blocks of 64 plus a ragged tail
    inputs = _inputs(T, B, N, dtype, seed=2)
    upstream = _upstream(T, B, N, dtype, seed=3)
    want = contract.izhikevich_forward(*inputs, dt, substeps)
    got = nb.izhikevich_forward(*inputs, dt, substeps)
    _check_spiking(want[0])
    for x, y in zip(got, want):
        assert x.dtype == dtype and torch.equal(x, y)
    for name, sur in SURROGATES.items():
        g_want = _kernel_backward(contract, inputs, want, sur, dt, substeps, detach, upstream)
        g_got = _kernel_backward(nb, inputs, got, sur, dt, substeps, detach, upstream)
        for gname, x, y in zip(("d_current", "d_v0", "d_u0", "da", "db", "dc", "dd", "dv_peak"), g_got, g_want):
            assert x.dtype == dtype and x.shape == y.shape
            _close(x, y, dtype, f"{name} {gname}", _tol_kernel(dtype))


def _function_vs_autograd(backend, dtype, substeps, dt, detach, surrogate, T, B, N, device="cpu", seed=4):
    """``izhikevich_sequence`` on ``backend`` against autograd through the specification, all
    eight gradients, with parameters given as ``[N]`` leaves that require grad."""
    sur = SURROGATES[surrogate]
    inputs = _inputs(T, B, N, dtype, seed=seed, device=device)
    upstream = _upstream(T, B, N, dtype, seed=seed + 1, device=device)
    spikes_ref, v_ref, u_ref, grads = _autograd(inputs, sur, dt, substeps, detach, upstream)
    leaves = [t.clone().requires_grad_() for t in inputs]
    spikes, (v, u) = izhikevich_sequence(*leaves, sur, dt, substeps, detach, backend=backend)
    _check_spiking(spikes)
    assert torch.equal(spikes, spikes_ref) and torch.equal(v, v_ref) and torch.equal(u, u_ref)
    gs, gv, gu = upstream
    got = torch.autograd.grad((spikes * gs).sum() + (v * gv).sum() + (u * gu).sum(), leaves)
    for name, x, y in zip(NAMES, got, grads):
        _close(x, y, dtype, name, _tol_autograd(dtype))


@pytest.mark.parametrize("dtype, substeps, dt, detach, surrogate", [
    (torch.float32, 1, 1.0, False, "fast_sigmoid"),
    (torch.float32, 2, 0.5, True, "custom"),
    (torch.float64, 2, 1.0, False, "custom"),
    (torch.float64, 1, 0.5, True, "arctan"),
])
def test_numba_function_equals_autograd(dtype, substeps, dt, detach, surrogate):
    _function_vs_autograd("numba", dtype, substeps, dt, detach, surrogate, 60, 3, 20)


@pytest.mark.parametrize("backend", ["numba", "torch", "auto"])
def test_function_partial_losses(backend):
    """Loss on the spikes only (no gradient for the final state) and on the final state only
    (no gradient for the spikes), and ``a`` alone requiring grad."""
    dtype, dt, substeps = torch.float64, 1.0, 2
    inputs = _inputs(40, 2, 6, dtype, seed=7)
    sur = SURROGATES["fast_sigmoid"]
    for which in ("spikes", "state"):
        leaves = [t.clone().requires_grad_() for t in inputs]
        spikes_r, _, (v_r, u_r) = contract.izhikevich_sequence_reference(*leaves, sur, dt, substeps)
        loss_r = spikes_r.sum() if which == "spikes" else (v_r.sum() + 0.5 * u_r.sum())
        want = torch.autograd.grad(loss_r, leaves)
        leaves2 = [t.clone().requires_grad_() for t in inputs]
        spikes, (v, u) = izhikevich_sequence(*leaves2, sur, dt, substeps, backend=backend)
        loss = spikes.sum() if which == "spikes" else (v.sum() + 0.5 * u.sum())
        got = torch.autograd.grad(loss, leaves2)
        for name, x, y in zip(NAMES, got, want):
            _close(x, y, dtype, f"{which} {name}", 1e-9)
    current, v0, u0, a, b, c, d, v_peak = inputs
    a = a.clone().requires_grad_()
    spikes, _ = izhikevich_sequence(current, v0, u0, a, b, c, d, v_peak, sur, dt, substeps, backend=backend)
    (ga,) = torch.autograd.grad(spikes.sum(), [a])
    assert ga.shape == a.shape and bool(torch.isfinite(ga).all())


def test_function_scalar_parameters_and_reference_backend():
    """Scalar parameters broadcast (their gradient is summed over neurons); the "reference"
    backend returns the same as the fused ones."""
    current, v0, u0, *_ = _inputs(30, 2, 5, torch.float64, seed=8)
    outs = {}
    for backend in ("reference", "numba", "torch"):
        d = torch.tensor(6.0, dtype=torch.float64, requires_grad=True)
        spikes, (v, u) = izhikevich_sequence(current, v0, u0, 0.02, 0.2, -60.0, d, 30.0, SURROGATES["arctan"],
                                             1.0, 2, backend=backend)
        (gd,) = torch.autograd.grad(spikes.sum() + v.sum(), [d])
        outs[backend] = (spikes, v, u, gd)
    for backend in ("numba", "torch"):
        for x, y in zip(outs[backend][:3], outs["reference"][:3]):
            assert torch.equal(x, y)
        _close(outs[backend][3], outs["reference"][3], torch.float64, "d", 1e-9)


def test_function_bad_arguments():
    inputs = _inputs(5, 2, 3, torch.float32)
    sur = SURROGATES["fast_sigmoid"]
    with pytest.raises(ValueError, match="substeps"):
        izhikevich_sequence(*inputs, sur, 1.0, 0)
    with pytest.raises(ValueError, match="dt"):
        izhikevich_sequence(*inputs, sur, -1.0, 1)
    with pytest.raises(ValueError, match="backend"):
        izhikevich_sequence(*inputs, sur, 1.0, 1, backend="cuda")
    with pytest.raises(TypeError, match="Surrogate"):
        izhikevich_sequence(*inputs, lambda x: x, 1.0, 1)
    with pytest.raises(ValueError, match="a must broadcast"):
        izhikevich_sequence(inputs[0], inputs[1], inputs[2], torch.zeros(4), *inputs[4:], sur, 1.0, 1)
    with pytest.raises(TypeError, match="dtype"):
        nb.izhikevich_forward(inputs[0], inputs[1].double(), *inputs[2:], 1.0, 1)


# ---- Triton (interpreted on CPU without a GPU: few, small cases) ----------------------------------


@pytest.mark.parametrize("dtype, substeps, dt, detach, surrogates", [
    (torch.float32, 1, 1.0, False, ("fast_sigmoid", "custom")),
    (torch.float64, 2, 0.5, True, ("sigmoid", "custom")),
    (torch.float32, 2, 1.0, True, ("arctan",)),
    (torch.float64, 1, 0.5, False, ("triangle",)),
])
@pytest.mark.slow
def test_triton_equals_contract(dtype, substeps, dt, detach, surrogates):
    T, B, N = 40, 3, 50  # 150 neurons: two programs of 128, the second ragged
    inputs = _inputs(T, B, N, dtype, seed=5, device=TRITON_DEVICE)
    upstream = _upstream(T, B, N, dtype, seed=6, device=TRITON_DEVICE)
    want = contract.izhikevich_forward(*inputs, dt, substeps)
    got = tr.izhikevich_forward(*inputs, dt, substeps)
    _check_spiking(want[0])
    for x, y in zip(got, want):
        assert x.dtype == dtype and torch.equal(x, y)
    for name in surrogates:
        sur = SURROGATES[name]
        g_want = _kernel_backward(contract, inputs, want, sur, dt, substeps, detach, upstream)
        g_got = _kernel_backward(tr, inputs, got, sur, dt, substeps, detach, upstream)
        for gname, x, y in zip(("d_current", "d_v0", "d_u0", "da", "db", "dc", "dd", "dv_peak"), g_got, g_want):
            assert x.dtype == dtype and x.shape == y.shape
            _close(x, y, dtype, f"{name} {gname}", _tol_kernel(dtype))


def test_triton_function_equals_autograd():
    _function_vs_autograd("triton", torch.float32, 2, 1.0, False, "custom", 30, 2, 20, device=TRITON_DEVICE)


def test_triton_check_device():
    tr.check_device(TRITON_DEVICE)
    with pytest.raises(ValueError, match="CUDA"):
        tr.check_device("meta")
