"""The delay layer's Triton kernels (``kernels/delays_triton.py``) against torch's conv1d.

Without a CUDA GPU the kernels run in Triton's interpreter on CPU tensors (``conftest.py`` sets
TRITON_INTERPRET=1 before triton is imported), so these tests run, and are not skipped, on
every machine; with a GPU they run the compiled kernels on CUDA tensors. The interpreter is
slow, hence the small sizes; the block sizes are made small too (``small_blocks``) so that
T * B = 69 columns span several blocks, the last one partial, and wide windows span several
tap blocks of the kernel gradient.
"""

import pytest
import torch

import neurosim.nn as snn
from neurosim.kernels import delays
from neurosim.kernels import delays_triton as tr
from neurosim.kernels.common import triton as launch
from neurosim.kernels.delays import conv1d_reference, windowed_delay_conv

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
T, B, N_IN, N_OUT = 23, 3, 5, 4  # T * B = 69: not a multiple of any block size


def _tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(tr, "MAX_BLOCK", 32)
    monkeypatch.setattr(tr, "MAX_BLOCK_SUM", 16)
    monkeypatch.setattr(tr, "MAX_TAPS", 4)


def _windows(kind, n_taps, g):
    """int64 ``lo, hi [N_OUT, N_IN]`` of one kind of window shape."""
    shape = (N_OUT, N_IN)
    if kind == "one_tap":  # sigma = 0: each synapse its rounded delay
        lo = torch.randint(0, n_taps, shape, generator=g)
        return lo, lo + 1
    if kind == "wide":  # most taps; several synapses every tap
        lo = torch.randint(0, 2, shape, generator=g)
        hi = n_taps - torch.randint(0, 2, shape, generator=g)
        lo[0], hi[0] = 0, n_taps
        return lo, hi
    if kind == "mixed":  # random windows, some empty (lo == hi) and one row all empty
        lo = torch.randint(0, n_taps + 1, shape, generator=g)
        hi = torch.minimum(lo + torch.randint(0, 4, shape, generator=g), torch.tensor(n_taps))
        lo[1] = hi[1] = 3
        return lo, hi
    if kind == "empty":
        lo = torch.randint(0, n_taps + 1, shape, generator=g)
        return lo, lo.clone()
    raise AssertionError(kind)


CASES = [("one_tap", 8), ("wide", 8), ("mixed", 8), ("empty", 8), ("one_tap", 1), ("empty", 1), ("wide", 11)]
CASE_IDS = [f"{kind}-max_delay{taps - 1}" for kind, taps in CASES]


def _compare(x, kernel, lo, hi, grad_y, dtype):
    out = {}
    for backend in ("triton", "conv1d"):
        xx = x.detach().clone().requires_grad_(True)
        kk = kernel.detach().clone().requires_grad_(True)
        y = windowed_delay_conv(xx, kk, lo, hi, backend=backend) if backend == "triton" else \
            conv1d_reference(xx, kk, lo, hi)
        gx, gk = torch.autograd.grad(y, (xx, kk), grad_y)
        out[backend] = (y.detach(), gx, gk)
    for name, a, b in zip(("y", "grad x", "grad kernel"), out["triton"], out["conv1d"]):
        assert a.dtype == dtype and a.shape == b.shape, name
        torch.testing.assert_close(a, b, **_tol(dtype), msg=lambda m, name=name: f"{name}: {m}")
    # outside the windows the kernel gradient is exactly zero
    taps = torch.arange(kernel.shape[-1], device=kernel.device)
    outside = (taps < lo[..., None]) | (taps >= hi[..., None])
    assert torch.all(out["triton"][2][outside] == 0)
    return out["triton"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind, n_taps", CASES, ids=CASE_IDS)
def test_triton_equals_conv1d_forward_and_backward(small_blocks, dtype, kind, n_taps):
    g = torch.Generator().manual_seed(n_taps * 10 + len(kind))
    lo, hi = _windows(kind, n_taps, g)
    x = torch.randn(T, B, N_IN, generator=g, dtype=dtype)
    kernel = torch.randn(N_OUT, N_IN, n_taps, generator=g, dtype=dtype)
    grad_y = torch.randn(T, B, N_OUT, generator=g, dtype=dtype)
    y, gx, gk = _compare(*(t.to(DEVICE) for t in (x, kernel, lo, hi, grad_y)), dtype)
    if kind == "empty":
        assert not y.any() and not gx.any() and not gk.any()
    else:
        assert y.abs().max() > 0 and gx.abs().max() > 0 and gk.abs().max() > 0


def test_default_blocks_and_a_non_contiguous_input():
    """The blocks the wrappers pick themselves (one column block here), x as a transposed view."""
    g = torch.Generator().manual_seed(7)
    lo, hi = _windows("mixed", 6, g)
    x = torch.randn(B, T, N_IN, generator=g, dtype=torch.float64).transpose(0, 1)
    kernel = torch.randn(N_OUT, N_IN, 6, generator=g, dtype=torch.float64)
    grad_y = torch.randn(T, B, N_OUT, generator=g, dtype=torch.float64)
    assert not x.is_contiguous()
    _compare(*(t.to(DEVICE) for t in (x, kernel, lo, hi, grad_y)), torch.float64)


def test_gradient_of_x_only_and_of_the_kernel_only():
    g = torch.Generator().manual_seed(3)
    lo, hi = (t.to(DEVICE) for t in _windows("mixed", 5, g))
    x = torch.randn(T, B, N_IN, generator=g, dtype=torch.float64).to(DEVICE)
    kernel = torch.randn(N_OUT, N_IN, 5, generator=g, dtype=torch.float64).to(DEVICE)
    for leaf in ("x", "kernel"):
        xx = x.clone().requires_grad_(leaf == "x")
        kk = kernel.clone().requires_grad_(leaf == "kernel")
        got = torch.autograd.grad(windowed_delay_conv(xx, kk, lo, hi, backend="triton").sum(),
                                  xx if leaf == "x" else kk)[0]
        xr = x.clone().requires_grad_(leaf == "x")
        kr = kernel.clone().requires_grad_(leaf == "kernel")
        want = torch.autograd.grad(conv1d_reference(xr, kr, lo, hi).sum(), xr if leaf == "x" else kr)[0]
        torch.testing.assert_close(got, want, **_tol(torch.float64))


@pytest.mark.parametrize("sigma", [0.0, 0.8])
def test_delayed_linear_trains_a_step_equal_to_conv1d(sigma):
    torch.manual_seed(5)
    layers = {b: snn.DelayedLinear(N_IN, N_OUT, max_delay=6, sigma=sigma, backend=b).double() for b in ("triton",
                                                                                                       "conv1d")}
    layers["conv1d"].load_state_dict(layers["triton"].state_dict())
    x = torch.randn(T, B, N_IN, dtype=torch.float64)
    target = torch.randn(T, B, N_OUT, dtype=torch.float64)
    for layer in layers.values():
        layer.to(DEVICE)
        opt = torch.optim.SGD(layer.parameters(), lr=0.1)
        loss = ((layer(x.to(DEVICE)) - target.to(DEVICE)) ** 2).mean()
        loss.backward()
        opt.step()
        layer.loss = loss.detach()
    torch.testing.assert_close(layers["triton"].loss, layers["conv1d"].loss, **_tol(torch.float64))
    for (name, a), (_, b) in zip(layers["triton"].named_parameters(), layers["conv1d"].named_parameters()):
        torch.testing.assert_close(a, b, **_tol(torch.float64), msg=lambda m, name=name: f"{name}: {m}")
    if sigma > 0:  # the step moved the delays too (at sigma = 0 they get no gradient)
        assert layers["triton"].delay.grad.abs().max() > 0


def test_auto_takes_the_fused_kernels_of_the_device(monkeypatch):
    """Narrow windows: Numba on CPU tensors, Triton on CUDA tensors; wide windows: conv1d."""
    used = []
    real = delays._launch
    monkeypatch.setattr(delays, "_launch", lambda backend, *a, **k: (used.append(backend), real(backend, *a, **k)))
    x = torch.randn(T, B, N_IN, dtype=torch.float64, device=DEVICE)
    kernel = torch.randn(N_OUT, N_IN, 10, dtype=torch.float64, device=DEVICE)
    lo = torch.randint(0, 10, (N_OUT, N_IN), device=DEVICE)
    windowed_delay_conv(x, kernel, lo, lo + 1, backend="auto")
    assert used == ["numba" if DEVICE == "cpu" else "triton"]
    used.clear()
    windowed_delay_conv(x, kernel, torch.zeros_like(lo), torch.full_like(lo, 10), backend="auto")
    assert used == []  # conv1d
    assert not delays._triton_runs(torch.zeros(1))  # CPU tensors never take Triton by themselves


@pytest.mark.parametrize("value", [None, "0"])
def test_cpu_tensor_without_interpreter_is_refused(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    else:
        monkeypatch.setenv("TRITON_INTERPRET", value)
    x = torch.zeros(4, 1, N_IN)
    kernel = torch.zeros(N_OUT, N_IN, 3)
    lo = torch.zeros(N_OUT, N_IN, dtype=torch.int64)
    with pytest.raises(ValueError, match="needs a CUDA tensor or TRITON_INTERPRET=1"):
        windowed_delay_conv(x, kernel, lo, lo + 1, backend="triton")
    with pytest.raises(ValueError, match="needs a CUDA tensor or TRITON_INTERPRET=1"):
        snn.DelayedLinear(N_IN, N_OUT, max_delay=2, backend="triton")(x)
    with pytest.raises(ValueError, match="needs a CUDA tensor or TRITON_INTERPRET=1"):
        tr.forward(x[0].T.contiguous(), kernel, lo, lo + 1, 1, torch.zeros(N_OUT, 1))


def test_bad_dtype_is_refused():
    x = torch.zeros(4, 1, N_IN, dtype=torch.float16, device=DEVICE)
    lo = torch.zeros(N_OUT, N_IN, dtype=torch.int64, device=DEVICE)
    with pytest.raises(ValueError, match="float32 or float64"):
        windowed_delay_conv(x, torch.zeros(N_OUT, N_IN, 3, dtype=torch.float16, device=DEVICE), lo, lo + 1,
                            backend="triton")
    with pytest.raises(ValueError, match="float32 or float64"):
        windowed_delay_conv(x.double(), torch.zeros(N_OUT, N_IN, 3, device=DEVICE), lo, lo + 1, backend="triton")


def test_tests_run_the_kernels():
    """Guard against testing nothing: on a CPU-only machine the kernels run in the interpreter."""
    if DEVICE == "cpu":
        assert launch.INTERPRETED
