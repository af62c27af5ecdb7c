"""The fused selective scan (Mamba's recurrence) against its reference, the materialised
``exp(Δ A)`` / ``Δ u B`` form through ``linear_scan``: forward, backward, gradcheck, bad input."""

import pytest
import torch

from neurosim.kernels.selective import selective_scan, selective_scan_reference

NAMES = ("delta", "A", "u", "B", "C", "h0")


def _inputs(T, batch, E, N, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    delta = torch.rand(T, batch, E, generator=g, dtype=dtype) * 0.5 + 0.01
    A = -torch.rand(E, N, generator=g, dtype=dtype) * 3
    u, B, C = (torch.randn(T, batch, k, generator=g, dtype=dtype) for k in (E, N, N))
    h0 = torch.randn(batch, E, N, generator=g, dtype=dtype)
    return [t.requires_grad_() for t in (delta, A, u, B, C, h0)]


def _outputs_and_grads(fn, xs, seed=1):
    y, h_last = fn(*xs)
    g = torch.Generator().manual_seed(seed)
    gy, gh = torch.randn(y.shape, generator=g, dtype=y.dtype), torch.randn(h_last.shape, generator=g, dtype=y.dtype)
    grads = torch.autograd.grad((y * gy).sum() + (h_last * gh).sum(), xs)
    return (y, h_last) + grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (9, 2, 5, 3), (64, 3, 7, 16), (1024, 2, 3, 4)], ids=str)
def test_fused_matches_reference_forward_and_backward(shape, dtype):
    xs = _inputs(*shape, dtype=dtype, seed=sum(shape))
    got = _outputs_and_grads(lambda *a: selective_scan(*a, backend="numba"), xs)
    want = _outputs_and_grads(selective_scan_reference, xs)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for name, x, y in zip(("y", "h_last") + NAMES, got, want):
        torch.testing.assert_close(x, y, **tol, msg=lambda m: f"{name}: {m}")


def test_gradcheck_fused_and_reference():
    xs = _inputs(6, 2, 3, 4, seed=3)
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, backend="numba"), xs)
    assert torch.autograd.gradcheck(selective_scan_reference, xs)


@pytest.mark.parametrize("backend", ["auto", "triton", "reference", "torch"])
def test_other_backends_agree(backend):
    xs = _inputs(12, 2, 3, 4, seed=4)
    got = _outputs_and_grads(lambda *a: selective_scan(*a, backend=backend), xs)
    want = _outputs_and_grads(selective_scan_reference, xs)
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y)


def test_default_state_and_unused_outputs():
    delta, A, u, B, C, _ = _inputs(10, 2, 3, 4, seed=5)
    y, h_last = selective_scan(delta, A, u, B, C)
    y_ref, h_ref = selective_scan_reference(delta, A, u, B, C)
    torch.testing.assert_close(y, y_ref)
    # only y in the loss (h_last's gradient is None), then only h_last
    (g_fused,) = torch.autograd.grad(y.sum(), delta)
    (g_ref,) = torch.autograd.grad(y_ref.sum(), delta)
    torch.testing.assert_close(g_fused, g_ref)
    y, h_last = selective_scan(delta, A, u, B, C)
    (g_fused,) = torch.autograd.grad(h_last.sum(), A)
    (g_ref,) = torch.autograd.grad(selective_scan_reference(delta, A, u, B, C)[1].sum(), A)
    torch.testing.assert_close(g_fused, g_ref)


def test_split_sequence_equals_whole():
    delta, A, u, B, C, h0 = (t.detach() for t in _inputs(20, 2, 3, 4, seed=6))
    y, h = selective_scan(delta, A, u, B, C, h0)
    y1, h1 = selective_scan(delta[:7], A, u[:7], B[:7], C[:7], h0)
    y2, h2 = selective_scan(delta[7:], A, u[7:], B[7:], C[7:], h1)
    torch.testing.assert_close(torch.cat([y1, y2]), y)
    torch.testing.assert_close(h2, h)


def test_empty_sequence_returns_the_start_state():
    delta, A, u, B, C, h0 = (t.detach()[:0] if t.dim() == 3 and i != 5 else t.detach()
                             for i, t in enumerate(_inputs(5, 2, 3, 4)))
    y, h = selective_scan(delta, A, u, B, C, h0)
    assert y.shape == (0, 2, 3)
    torch.testing.assert_close(h, h0)


@pytest.mark.parametrize("change, error, match", [
    (lambda xs: xs.__setitem__(0, xs[0].int()), TypeError, "delta must be float32 or float64"),
    (lambda xs: xs.__setitem__(2, xs[2].float()), TypeError, "u must have delta's dtype"),
    (lambda xs: xs.__setitem__(1, xs[1][:2]), ValueError, r"A must be \[E=3, N\]"),
    (lambda xs: xs.__setitem__(3, xs[3][:, :, :2]), ValueError, r"B must have shape \(8, 2, 4\)"),
    (lambda xs: xs.__setitem__(5, xs[5][:1]), ValueError, r"h0 must have shape \(2, 3, 4\)"),
    (lambda xs: xs.__setitem__(0, xs[0][0]), ValueError, r"delta must be \[T, batch, E\]"),
    (lambda xs: xs.__setitem__(4, xs[4].numpy()), TypeError, "C must be a torch.Tensor"),
])
def test_bad_inputs_raise(change, error, match):
    xs = [t.detach() for t in _inputs(8, 2, 3, 4)]
    change(xs)
    with pytest.raises(error, match=match):
        selective_scan(*xs)


def test_unknown_backend_raises():
    with pytest.raises(ValueError, match="backend must be one of"):
        selective_scan(*[t.detach() for t in _inputs(3, 1, 2, 2)], backend="cuda")


def test_lazy_exports_from_neurosim_kernels():
    import neurosim.kernels as kernels

    assert kernels.selective_scan is selective_scan
    from neurosim.kernels.scan import linear_scan

    assert kernels.linear_scan is linear_scan
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        kernels.nothing
