"""Fused Triton LIF kernels against the torch specification (``kernels/lif/reference.py``).

Without a CUDA GPU the kernels run in Triton's interpreter on CPU tensors (``conftest.py`` sets
TRITON_INTERPRET=1 before triton is imported), so these tests run, and are not skipped, on
every machine; with a GPU they run the compiled kernels on CUDA tensors. The interpreter is
slow, hence the small sizes: odd ones (T=9, B=3, N=7) and a few that span several blocks/tiles.
"""

import itertools

import pytest
import torch

import neurosim.nn as snn
from neurosim.kernels import common
from neurosim.kernels.common import triton as launch
from neurosim.kernels.lif import reference as ref
from neurosim.kernels.lif import triton as tr
from neurosim.nn.functional import lif_sequence

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float64]
RESETS = [ref.RESET_SUBTRACT, ref.RESET_ZERO, ref.RESET_NONE]
RESET_NAMES = {ref.RESET_SUBTRACT: "subtract", ref.RESET_ZERO: "zero", ref.RESET_NONE: "none"}
# (surrogate id, param); CUSTOM means a precomputed surrogate_grad tensor.
CUSTOM = "custom"
SURROGATES = [(common.FAST_SIGMOID, 5.0), (common.ARCTAN, 2.0), (common.TRIANGLE, 0.7), (common.SIGMOID, 4.0),
              (CUSTOM, 0.0)]
SURROGATE_NAMES = ["fast_sigmoid", "arctan", "triangle", "sigmoid", "custom"]


def _tol(dtype):
    # Both implementations round differently (summation order, sums with cancellation);
    # against a float64 evaluation both are off by a few float32 ulps.
    return dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)


def _inputs(T, B, N, recurrent, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, N, generator=g, dtype=dtype) * 0.8 + 0.4
    v0 = torch.rand(B, N, generator=g, dtype=dtype) * 0.5
    beta = torch.rand(N, generator=g, dtype=dtype) * 0.5 + 0.4
    thr = torch.rand(N, generator=g, dtype=dtype) * 0.5 + 0.8
    w = s0 = None
    if recurrent:
        # Multiples of 1/16: the recurrent sums are exact in any order, so the kernel's u is
        # bit-identical to the reference's and the spikes can be compared exactly.
        w = torch.randint(-8, 9, (N, N), generator=g).to(dtype) / 16
        s0 = (torch.rand(B, N, generator=g) > 0.5).to(dtype)
    to = lambda t: None if t is None else t.to(DEVICE)  # noqa: E731
    return tuple(map(to, (x, v0, s0, beta, thr, w)))


def _check_forward(T, B, N, recurrent, dtype, reset, seed=0):
    x, v0, s0, beta, thr, w = _inputs(T, B, N, recurrent, dtype, seed)
    spikes, u = tr.lif_forward(x, v0, s0, beta, thr, w, reset)
    spikes_ref, u_ref = ref.lif_forward(x, v0, s0, beta, thr, w, reset)
    assert spikes.dtype == u.dtype == dtype and spikes.shape == u.shape == (T, B, N)
    assert torch.equal(spikes, spikes_ref)
    torch.testing.assert_close(u, u_ref, **_tol(dtype))
    assert 0 < spikes.sum() < spikes.numel()  # the comparison saw both spikes and silence


def _check_backward(T, B, N, recurrent, dtype, reset, detach, surrogate, with_grad_u, seed=0):
    x, v0, s0, beta, thr, w = _inputs(T, B, N, recurrent, dtype, seed)
    _, u = ref.lif_forward(x, v0, s0, beta, thr, w, reset)
    g = torch.Generator().manual_seed(seed + 1)
    grad_spikes = torch.randn(T, B, N, generator=g, dtype=dtype).to(DEVICE)
    grad_u = torch.randn(T, B, N, generator=g, dtype=dtype).to(DEVICE) if with_grad_u else None
    sid, param = surrogate
    surrogate_grad = None
    if sid == CUSTOM:
        surrogate_grad = torch.exp(-3.0 * (u - thr) ** 2).contiguous()
        sid = common.FAST_SIGMOID  # ignored when surrogate_grad is given
    args = (grad_spikes, grad_u, u, v0, beta, thr, w, reset, detach, sid, param, surrogate_grad)
    out = tr.lif_backward(*args)
    expected = ref.lif_backward(*args)
    for name, got, want in zip(("du", "dbeta", "dthreshold"), out, expected):
        assert got.dtype == dtype and got.shape == want.shape, name
        torch.testing.assert_close(got, want, **_tol(dtype), msg=lambda m: f"{name}: {m}")


# ---- forward ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reset", RESETS, ids=RESET_NAMES.get)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
def test_forward_matches_reference(recurrent, dtype, reset):
    _check_forward(9, 3, 7, recurrent, dtype, reset)


# ---- backward ----------------------------------------------------------------------------------
# Every reset x detach x dtype x layer-kind case runs two surrogates (one with grad_u, one without),
# rotating through the list so that every surrogate meets both layer kinds with grad_u given and
# None (checked by the next test) while the cost stays at 48 interpreted backward passes.


def _backward_cases():
    cases = []
    grid = itertools.product([False, True], DTYPES, RESETS, [False, True])
    for i, (recurrent, dtype, reset, detach) in enumerate(grid):
        for k, with_grad_u in ((i % 5, True), ((i + 2) % 5, False)):
            name = "-".join([
                "rec" if recurrent else "ff", str(dtype)[6:], RESET_NAMES[reset],
                "detach" if detach else "attached", SURROGATE_NAMES[k], "grad_u" if with_grad_u else "no_grad_u"])
            cases.append(pytest.param(recurrent, dtype, reset, detach, SURROGATES[k], with_grad_u, id=name))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("recurrent, dtype, reset, detach, surrogate, with_grad_u", _backward_cases())
def test_backward_matches_reference(recurrent, dtype, reset, detach, surrogate, with_grad_u):
    _check_backward(9, 3, 7, recurrent, dtype, reset, detach, surrogate, with_grad_u)


def test_backward_cases_cover_every_surrogate_with_and_without_grad_u():
    pairs = {(p.values[0], p.values[4], p.values[5]) for p in _backward_cases()}
    assert pairs == set(itertools.product([False, True], SURROGATES, [True, False]))


def test_backward_surrogate_grad_overrides_id():
    x, v0, s0, beta, thr, w = _inputs(6, 2, 5, False, torch.float64)
    _, u = ref.lif_forward(x, v0, s0, beta, thr, w, ref.RESET_SUBTRACT)
    gs = torch.ones_like(u)
    sg = torch.full_like(u, 0.25)
    outs = [tr.lif_backward(gs, None, u, v0, beta, thr, None, ref.RESET_SUBTRACT, False, sid, 3.0, sg)
            for sid in (common.FAST_SIGMOID, common.SIGMOID)]
    for a, b in zip(*outs):
        assert torch.equal(a, b)


# ---- sizes spanning several blocks / tiles ------------------------------------------------------


@pytest.mark.parametrize("reset", RESETS, ids=RESET_NAMES.get)
def test_feedforward_several_blocks(reset):
    # B * N = 350 neurons: three programs of the smallest block (128), the last one partial.
    assert tr._ff_config(5 * 70)[0] == 128
    _check_forward(5, 5, 70, False, torch.float32, reset, seed=1)
    _check_backward(5, 5, 70, False, torch.float32, reset, False, SURROGATES[reset], True, seed=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
def test_recurrent_several_tiles(dtype):
    # N = 150: three target tiles of 64 and two source tiles of 128, both partial at the end.
    assert tr._rec_config(150)[:2] == (64, 128)
    _check_forward(4, 2, 150, True, dtype, ref.RESET_SUBTRACT, seed=2)
    _check_backward(4, 2, 150, True, dtype, ref.RESET_SUBTRACT, False, SURROGATES[1], True, seed=2)


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
def test_single_step_and_empty(recurrent):
    _check_forward(1, 3, 7, recurrent, torch.float64, ref.RESET_SUBTRACT, seed=4)
    _check_backward(1, 3, 7, recurrent, torch.float64, ref.RESET_ZERO, False, SURROGATES[0], True, seed=4)
    x, v0, s0, beta, thr, w = _inputs(0, 3, 7, recurrent, torch.float32)
    spikes, u = tr.lif_forward(x, v0, s0, beta, thr, w, ref.RESET_SUBTRACT)
    assert spikes.shape == u.shape == (0, 3, 7)
    du, dbeta, dthr = tr.lif_backward(u, None, u, v0, beta, thr, w, 0, False, 0, 1.0, None)
    assert du.shape == (0, 3, 7) and not dbeta.any() and not dthr.any()


# ---- end to end through the autograd Function ---------------------------------------------------

_E2E = [
    ("ff", "subtract", False, snn.surrogate.fast_sigmoid(10.0)),
    ("ff", "zero", True, snn.surrogate.sigmoid(4.0)),
    ("rec", "subtract", False, snn.surrogate.arctan(2.0)),
    ("rec", "zero", False, snn.surrogate.triangle(0.8)),
    ("rec", "none", True, snn.surrogate.custom(lambda x: torch.exp(-x * x), "gauss")),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind, reset, detach, surrogate", _E2E, ids=[f"{k}-{r}-{d}-{s}" for k, r, d, s in _E2E])
def test_lif_sequence_triton_matches_reference(kind, reset, detach, surrogate):
    dtype = torch.float64
    x, v0, s0, beta, thr, w = _inputs(9, 3, 7, kind == "rec", dtype, seed=5)
    leaves = [t.clone().requires_grad_() for t in (x, v0, beta, thr) + ((w, s0) if kind == "rec" else ())]
    g = torch.Generator().manual_seed(6)
    weight_s = torch.randn(9, 3, 7, generator=g, dtype=dtype).to(DEVICE)
    weight_u = torch.randn(9, 3, 7, generator=g, dtype=dtype).to(DEVICE)
    results = {}
    for backend in ("reference", "triton"):
        inputs = [t.detach().clone().requires_grad_() for t in leaves]
        xx, vv, bb, tt, *rec = inputs
        ww, ss = rec if rec else (None, None)
        spikes, u = lif_sequence(xx, vv, bb, tt, surrogate, reset, detach, w_rec=ww, s0=ss, backend=backend)
        ((spikes * weight_s).sum() + (u * weight_u).sum()).backward()
        results[backend] = (spikes.detach(), u.detach(), [t.grad for t in inputs])
    (s_ref, u_ref, g_ref), (s_tr, u_tr, g_tr) = results["reference"], results["triton"]
    assert torch.equal(s_tr, s_ref)
    torch.testing.assert_close(u_tr, u_ref, **_tol(dtype))
    names = ["x", "v0", "beta", "threshold", "w_rec", "s0"]
    for name, a, b in zip(names, g_tr, g_ref):
        torch.testing.assert_close(a, b, **_tol(dtype), msg=lambda m: f"grad of {name}: {m}")


def test_lif_sequence_triton_spikes_only_loss():
    # Only the spikes enter the loss: the backward gets grad_u None.
    x, v0, s0, beta, thr, w = _inputs(9, 3, 7, True, torch.float64, seed=7)
    grads = {}
    for backend in ("reference", "triton"):
        leaves = [t.clone().requires_grad_() for t in (x, v0, beta, thr, w, s0)]
        spikes, _ = lif_sequence(*leaves[:4], snn.surrogate.fast_sigmoid(5.0), w_rec=leaves[4], s0=leaves[5],
                                 backend=backend)
        (spikes * torch.arange(9, dtype=x.dtype, device=x.device)[:, None, None]).sum().backward()
        grads[backend] = [t.grad for t in leaves]
    for a, b in zip(grads["triton"], grads["reference"]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_lif_layer_on_triton_backend():
    torch.manual_seed(0)
    layer = snn.LIF(7, beta=0.8, threshold=1.0, backend="triton").to(DEVICE)
    x = (torch.randn(9, 3, 7) + 0.5).to(DEVICE)
    spikes, _ = layer(x)
    spikes_ref, _ = lif_sequence(x, torch.zeros(3, 7, device=DEVICE), torch.full((7,), 0.8, device=DEVICE),
                                 torch.ones(7, device=DEVICE), snn.surrogate.fast_sigmoid(), backend="reference")
    assert torch.equal(spikes, spikes_ref)


# ---- device checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "0", ""])
def test_check_device_rejects_cpu_without_interpreter(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    else:
        monkeypatch.setenv("TRITON_INTERPRET", value)
    with pytest.raises(ValueError, match="needs a CUDA tensor or TRITON_INTERPRET=1"):
        tr.check_device(torch.device("cpu"))
    x = torch.zeros(2, 1, 3)
    with pytest.raises(ValueError, match="needs a CUDA tensor or TRITON_INTERPRET=1"):
        lif_sequence(x, x[0], torch.ones(3), torch.ones(3), snn.surrogate.fast_sigmoid(), backend="triton")
    with pytest.raises(ValueError, match="needs a CUDA tensor or TRITON_INTERPRET=1"):
        tr.lif_forward(x, x[0], None, torch.ones(3), torch.ones(3), None, 0)


def test_check_device_accepts_cpu_under_interpreter_and_cuda(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    if launch.INTERPRETED:
        tr.check_device(torch.device("cpu"))
    else:  # kernels compiled for the GPU: the interpreter flag came too late
        with pytest.raises(ValueError, match="before"):
            tr.check_device(torch.device("cpu"))
    tr.check_device(torch.device("cuda"))  # a device, not a tensor: no GPU needed to check it
    tr.check_device("cuda:0")


def test_check_device_without_triton(monkeypatch):
    monkeypatch.setattr(launch, "triton", None)
    with pytest.raises(ImportError, match="pip install triton"):
        tr.check_device(torch.device("cuda"))


def test_bad_surrogate_id_and_dtype():
    x, v0, s0, beta, thr, w = _inputs(3, 2, 4, False, torch.float64)
    _, u = ref.lif_forward(x, v0, s0, beta, thr, w, 0)
    with pytest.raises(ValueError, match="unknown surrogate id"):
        tr.lif_backward(u, None, u, v0, beta, thr, None, 0, False, 7, 1.0, None)
    with pytest.raises(ValueError, match="float32 or float64"):
        tr.lif_forward(x.half(), v0.half(), None, beta.half(), thr.half(), None, 0)


def test_tests_run_the_kernels():
    """Guard against testing nothing: on a CPU-only machine the kernels run in the interpreter."""
    if DEVICE == "cpu":
        assert launch.INTERPRETED
