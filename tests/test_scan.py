"""The linear-recurrence scan ``h[t] = a[t] h[t-1] + b[t]``: Numba and Triton kernels against the
torch reference (``kernels/scan_reference.py``), forward and backward, real and complex.

Without a CUDA GPU the Triton kernels run in Triton's interpreter on CPU tensors (``conftest.py``
sets TRITON_INTERPRET=1 before triton is imported), so they are tested on every machine.
"""

import pytest
import torch

import neurosim.nn as snn
from neurosim.kernels import scan_reference
from neurosim.kernels.scan import linear_scan
from neurosim.nn.functional import lif_sequence

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]
FUSED = ["numba", "triton"] if DEVICE == "cpu" else ["triton"]


def _inputs(shape, dtype, seed=0, radius=0.98):
    """Random stable coefficients (|a| <= radius), inputs, start state and an output gradient."""
    g = torch.Generator().manual_seed(seed)
    real = dtype.to_real()
    mag = torch.rand(shape, generator=g, dtype=torch.float64) * radius
    if dtype.is_complex:
        phase = torch.rand(shape, generator=g, dtype=torch.float64) * 6.3
        a = torch.polar(mag, phase).to(dtype)
        b = torch.complex(torch.randn(shape, generator=g, dtype=real), torch.randn(shape, generator=g, dtype=real))
        h0 = torch.complex(torch.randn(shape[1:], generator=g, dtype=real),
                           torch.randn(shape[1:], generator=g, dtype=real))
        grad = torch.complex(torch.randn(shape, generator=g, dtype=real), torch.randn(shape, generator=g, dtype=real))
    else:
        a = (mag * torch.sign(torch.randn(shape, generator=g, dtype=torch.float64))).to(dtype)
        b = torch.randn(shape, generator=g, dtype=dtype)
        h0 = torch.randn(shape[1:], generator=g, dtype=dtype)
        grad = torch.randn(shape, generator=g, dtype=dtype)
    return [t.to(DEVICE) for t in (a, b, h0, grad)]


def _run(backend, a, b, h0, grad):
    """Forward output and the gradients of ``Re(sum(conj(grad) * h))`` in a, b, h0."""
    a, b, h0 = (t.detach().clone().requires_grad_() for t in (a, b, h0))
    h = linear_scan(a, b, h0, backend=backend)
    loss = (grad.conj() * h).real.sum()
    return (h.detach(), *torch.autograd.grad(loss, (a, b, h0)))


def _reference64(a, b, h0, grad):
    """The reference in double precision (complex128 / float64)."""
    wide = torch.complex128 if b.is_complex() else torch.float64
    return _run("reference", *(t.to(wide) for t in (a, b, h0, grad)))


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype in (torch.float32, torch.complex64) else dict(rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", FUSED + ["torch"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 3), (9, 2, 5), pytest.param((67, 3, 7), marks=pytest.mark.slow),
                                   pytest.param((5, 300), marks=pytest.mark.slow)], ids=str)
def test_fused_backends_match_reference(backend, dtype, shape):
    # (67, 3, 7): two time chunks, the last one partial; (5, 300): several channel blocks.
    # (Triton's interpreter runs the scan as a Python loop per element, so sizes stay small.)
    a, b, h0, grad = _inputs(shape, dtype, seed=sum(shape))
    got = _run(backend, a, b, h0, grad)
    want = _reference64(a, b, h0, grad)
    for name, x, y in zip(("h", "grad_a", "grad_b", "grad_h0"), got, want):
        assert x.dtype == dtype and x.shape == y.shape, name
        torch.testing.assert_close(x.to(y.dtype), y, **_tol(dtype), msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64], ids=str)
def test_long_sequences_T4096(backend, dtype):
    a, b, h0, grad = _inputs((4096, 1 if backend == "triton" else 32), dtype, seed=4, radius=0.999)
    got = _run(backend, a, b, h0, grad)
    want = _reference64(a, b, h0, grad)
    for name, x, y in zip(("h", "grad_a", "grad_b", "grad_h0"), got, want):
        # float32 over 4096 steps with |a| up to 0.999: errors grow with the memory length
        torch.testing.assert_close(x.to(y.dtype), y, rtol=1e-3, atol=1e-3, msg=name)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=str)
def test_gradcheck_reference(dtype):
    a, b, h0, _ = _inputs((6, 2, 3), dtype, seed=1)
    inputs = tuple(t.detach().requires_grad_() for t in (a, b, h0))
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_scan(a, b, h0, backend="reference"), inputs)


# gradcheck in Triton's interpreter takes seconds per case: the quick tier checks the Numba kernel
@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.slow) if b == "triton" else b for b in FUSED])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=str)
def test_gradcheck_fused(backend, dtype):
    a, b, h0, _ = _inputs((5, 3), dtype, seed=2)
    inputs = tuple(t.detach().requires_grad_() for t in (a, b, h0))
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_scan(a, b, h0, backend=backend), inputs)


def test_explicit_reference_backward_matches_autograd():
    a, b, h0, grad = _inputs((11, 4), torch.complex128, seed=3)
    h = scan_reference.scan_forward(a, b, h0)
    got = scan_reference.scan_backward(grad, a, h, h0)
    want = _run("reference", a, b, h0, grad)[1:]
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("backend", FUSED + ["torch", "reference"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=str)
@pytest.mark.parametrize("a_shape", [(4,), (3, 4), (1, 3, 4), (1, 1, 4), (20, 1, 4)], ids=str)
def test_broadcast_coefficients_and_default_state(backend, dtype, a_shape):
    """Coefficients shared over time (``[D]``, ``[B, D]``, ``[1, B, D]``: the kernels' one-row path)
    or over the batch, and no h0: the gradient of ``a`` sums what it was broadcast over."""
    a, x, _, grad = _inputs((20, 3, 4), dtype, seed=5)
    a = a[(0,) * (3 - len(a_shape)) + tuple(slice(0, n) for n in a_shape)].detach().requires_grad_()
    h = linear_scan(a, x, backend=backend)
    full = a.detach().expand(20, 3, 4).clone().requires_grad_()
    want = linear_scan(full, x, torch.zeros(3, 4, dtype=dtype, device=DEVICE), backend="reference")
    torch.testing.assert_close(h, want)
    (grad_a,) = torch.autograd.grad((grad.conj() * h).real.sum(), a)
    (grad_full,) = torch.autograd.grad((grad.conj() * want).real.sum(), full)
    assert grad_a.shape == a_shape
    torch.testing.assert_close(grad_a, grad_full.sum_to_size(a_shape))


@pytest.mark.parametrize("backend", FUSED)
def test_non_contiguous_inputs(backend):
    a, b, h0, grad = _inputs((8, 6, 5), torch.float64, seed=6)
    a_t, b_t, grad_t = (t.transpose(1, 2) for t in (a, b, grad))  # [8, 5, 6], strided
    got = _run(backend, a_t, b_t, h0.T, grad_t)
    want = _run("reference", a_t.contiguous(), b_t.contiguous(), h0.T.contiguous(), grad_t.contiguous())
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y)


def test_one_dimensional_and_empty_sequences():
    x = torch.ones(4, dtype=torch.float64)
    torch.testing.assert_close(linear_scan(torch.tensor(0.5, dtype=torch.float64), x),
                               torch.tensor([1.0, 1.5, 1.75, 1.875], dtype=torch.float64))
    empty = linear_scan(torch.ones(3), torch.zeros(0, 3))
    assert empty.shape == (0, 3)


def test_lif_membrane_without_reset_is_a_linear_scan():
    """The premise of the SSM layers: a LIF membrane between resets is this scan."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(30, 2, 5, generator=g, dtype=torch.float64)
    beta = torch.rand(5, generator=g, dtype=torch.float64) * 0.5 + 0.4
    v0 = torch.randn(2, 5, generator=g, dtype=torch.float64)
    _, u = lif_sequence(x, v0, beta, torch.ones(5, dtype=torch.float64), snn.surrogate.fast_sigmoid(),
                        reset="none", backend="numba")
    torch.testing.assert_close(u, linear_scan(beta, x, v0))


# ---- bad input ---------------------------------------------------------------------------
def test_bad_inputs_are_named():
    b = torch.zeros(5, 2, 3)
    with pytest.raises(TypeError, match="b must be float32, float64, complex64 or complex128, got torch.int64"):
        linear_scan(torch.ones(3), torch.zeros(5, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="a must be float32.*torch.int32"):
        linear_scan(torch.ones(3, dtype=torch.int32), b)
    with pytest.raises(TypeError, match="a must have b's dtype"):
        linear_scan(torch.ones(3, dtype=torch.float64), b)
    with pytest.raises(ValueError, match=r"a must have b's shape \(5, 2, 3\) or broadcast to it"):
        linear_scan(torch.ones(4), b)
    with pytest.raises(ValueError, match=r"a must have b's shape"):
        linear_scan(torch.ones(6, 2, 3), b)  # broadcasts b up, not to b
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 3\)"):
        linear_scan(torch.ones(3), b, torch.zeros(3))
    with pytest.raises(TypeError, match="h0 must have b's dtype"):
        linear_scan(torch.ones(3), b, torch.zeros(2, 3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="b must be a torch.Tensor, got list"):
        linear_scan(torch.ones(3), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"b must be time-major \[T, ...\]"):
        linear_scan(torch.ones(()), torch.zeros(()))
    with pytest.raises(ValueError, match="backend must be one of"):
        linear_scan(torch.ones(3), b, backend="cuda")
    with pytest.raises(TypeError, match="float16"):
        linear_scan(torch.ones(3, dtype=torch.float16), b.half())
