"""Fused Numba CPU LIF kernels against the torch specification (``kernels/lif/reference.py``).

The kernels (``kernels/lif/numba.py``) are compared value by value with the reference's
``lif_forward``/``lif_backward`` over every reset, detach flag, surrogate (and a precomputed
surrogate gradient), with and without a membrane gradient, float32 and float64, feed-forward and
recurrent, at odd sizes and at sizes that span several parallel blocks (block and group sizes
are forced small there, so the split does not depend on the machine's thread count), and end
to end through ``lif_sequence(..., backend="numba")`` against autograd through the reference
loop. The first run compiles the kernels (about a minute, cached on disk afterwards).
"""

import pytest
import torch

import neurosim.nn as snn
from neurosim.kernels import common
from neurosim.kernels.lif import numba as nb
from neurosim.kernels.lif import reference as ref
from neurosim.nn.functional import lif_sequence

DTYPES = [torch.float32, torch.float64]
RESETS = [ref.RESET_SUBTRACT, ref.RESET_ZERO, ref.RESET_NONE]
RESET_NAMES = {ref.RESET_SUBTRACT: "subtract", ref.RESET_ZERO: "zero", ref.RESET_NONE: "none"}
CUSTOM = "custom"  # a precomputed surrogate_grad tensor instead of a built-in id
SURROGATES = [(common.FAST_SIGMOID, 5.0), (common.ARCTAN, 2.0), (common.TRIANGLE, 0.7), (common.SIGMOID, 4.0),
              (CUSTOM, 0.0)]
ODD = (13, 3, 7)  # T, B, N
MANY_BLOCKS = (6, 9, 100)  # 900 neurons: blocks of 64 start mid-row; 9 rows in groups of 2


def _tol(dtype):
    # Feed-forward results are bit-identical; tolerances cover the different summation order of
    # the recurrent products (numba sums weight rows, torch calls BLAS) and accumulations.
    return dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.fixture
def many_blocks(monkeypatch):
    """Small blocks and groups, whatever the number of threads."""
    monkeypatch.setattr(nb, "_MAX_BLOCK", 64)
    monkeypatch.setattr(nb, "_MIN_BLOCK", 64)
    monkeypatch.setattr(nb, "_group_size", lambda B: 2)


def _inputs(T, B, N, recurrent, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, N, generator=g, dtype=dtype) * 0.8 + 0.4
    v0 = torch.rand(B, N, generator=g, dtype=dtype) * 0.5
    beta = torch.rand(N, generator=g, dtype=dtype) * 0.5 + 0.4
    thr = torch.rand(N, generator=g, dtype=dtype) * 0.5 + 0.8
    w = s0 = None
    if recurrent:
        # Multiples of 1/16: the recurrent sums are exact in any order, so u is bit-identical
        # to the reference's and spikes can be compared exactly even at float32.
        w = torch.randint(-8, 9, (N, N), generator=g).to(dtype) / 16
        s0 = (torch.rand(B, N, generator=g) > 0.5).to(dtype)
    return x, v0, s0, beta, thr, w


def _check_forward(shape, recurrent, dtype, reset, seed=0):
    x, v0, s0, beta, thr, w = _inputs(*shape, recurrent, dtype, seed)
    spikes, u = nb.lif_forward(x, v0, s0, beta, thr, w, reset)
    spikes_ref, u_ref = ref.lif_forward(x, v0, s0, beta, thr, w, reset)
    assert spikes.dtype == u.dtype == dtype and spikes.shape == u.shape == tuple(shape)
    assert torch.equal(spikes, spikes_ref)
    torch.testing.assert_close(u, u_ref, **_tol(dtype))
    assert 0 < spikes.sum() < spikes.numel()  # the comparison saw both spikes and silence


def _check_backward(shape, recurrent, dtype, reset, detach, surrogate, with_grad_u, seed=0):
    x, v0, s0, beta, thr, w = _inputs(*shape, recurrent, dtype, seed)
    _, u = ref.lif_forward(x, v0, s0, beta, thr, w, reset)
    g = torch.Generator().manual_seed(seed + 1)
    grad_spikes = torch.randn(*shape, generator=g, dtype=dtype)
    grad_u = torch.randn(*shape, generator=g, dtype=dtype) if with_grad_u else None
    sid, param = surrogate
    surrogate_grad = None
    if sid == CUSTOM:
        surrogate_grad = torch.exp(-3.0 * (u - thr) ** 2).contiguous()
        sid = common.FAST_SIGMOID  # ignored when surrogate_grad is given
    args = (grad_spikes, grad_u, u, v0, beta, thr, w, reset, detach, sid, param, surrogate_grad)
    got = nb.lif_backward(*args)
    want = ref.lif_backward(*args)
    for name, a, b in zip(("du", "dbeta", "dthreshold"), got, want):
        assert a.dtype == dtype and a.shape == b.shape, name
        torch.testing.assert_close(a, b, **_tol(dtype), msg=lambda m: f"{name}: {m}")


# ---- the kernels against the contract -------------------------------------------------------


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reset", RESETS, ids=RESET_NAMES.get)
def test_forward_matches_reference(reset, dtype, recurrent, many_blocks):
    _check_forward(ODD, recurrent, dtype, reset)
    _check_forward(MANY_BLOCKS, recurrent, dtype, reset, seed=1)


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reset", RESETS, ids=RESET_NAMES.get)
def test_backward_matches_reference(reset, dtype, recurrent):
    """Every surrogate (and a precomputed one) x detach_reset x with/without grad_u."""
    for surrogate in SURROGATES:
        for detach in (False, True):
            for with_grad_u in (False, True):
                _check_backward(ODD, recurrent, dtype, reset, detach, surrogate, with_grad_u)


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_backward_across_blocks(dtype, recurrent, many_blocks):
    for reset in RESETS:
        _check_backward(MANY_BLOCKS, recurrent, dtype, reset, False, (common.ARCTAN, 2.0), True, seed=2)
    _check_backward(MANY_BLOCKS, recurrent, dtype, ref.RESET_ZERO, True, (CUSTOM, 0.0), False, seed=3)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_default_block_split(dtype):
    """The blocks the wrapper picks by itself (several for this size on any thread count up to
    8, spanning rows at odd offsets)."""
    shape = (7, 11, 1003)
    _check_forward(shape, False, dtype, ref.RESET_SUBTRACT)
    _check_backward(shape, False, dtype, ref.RESET_SUBTRACT, False, (common.FAST_SIGMOID, 5.0), False)


def test_gradients_broadcast_over_time():
    """Expanded gradients (``spikes.sum()`` gives stride 0 everywhere, ``spikes.sum(0)`` stride 0
    over T) are used without being materialised, with the same result."""
    x, v0, _, beta, thr, _ = _inputs(*ODD, False, torch.float64)
    _, u = ref.lif_forward(x, v0, None, beta, thr, None, ref.RESET_SUBTRACT)
    T, B, N = ODD
    per_neuron = torch.randn(B, N, dtype=torch.float64)
    for grad in (torch.ones((), dtype=torch.float64).expand(T, B, N), per_neuron.expand(T, B, N)):
        assert grad.stride(0) == 0
        args = (grad, grad, u, v0, beta, thr, None, ref.RESET_SUBTRACT, False, common.ARCTAN, 2.0, None)
        got = nb.lif_backward(*args)
        dense = (grad.contiguous(), grad.contiguous()) + args[2:]
        for a, b in zip(got, ref.lif_backward(*dense)):
            torch.testing.assert_close(a, b, **_tol(torch.float64))


def test_bad_inputs():
    x, v0, _, beta, thr, _ = _inputs(*ODD, False, torch.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        nb.lif_forward(x.half(), v0.half(), None, beta.half(), thr.half(), None, 0)
    with pytest.raises(TypeError, match="dtype torch.float64"):
        nb.lif_forward(x, v0.double(), None, beta, thr, None, 0)
    with pytest.raises(ValueError, match="shape"):
        nb.lif_forward(x, v0[:, :3], None, beta, thr, None, 0)
    with pytest.raises(ValueError, match="needs s0"):
        nb.lif_forward(x, v0, None, beta, thr, torch.zeros(7, 7), 0)
    with pytest.raises(ValueError, match="reset"):
        nb.lif_forward(x, v0, None, beta, thr, None, 5)
    _, u = nb.lif_forward(x, v0, None, beta, thr, None, 0)
    with pytest.raises(ValueError, match="surrogate id"):
        nb.lif_backward(torch.ones_like(u), None, u, v0, beta, thr, None, 0, False, -1, 0.0, None)


# ---- end to end: lif_sequence(backend="numba") against autograd through the reference loop -----


def _leaves(recurrent, dtype, shape=ODD, seed=5):
    x, v0, s0, beta, thr, w = _inputs(*shape, recurrent, dtype, seed)
    if recurrent:
        w = torch.randn(w.shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 0.3
    return [None if t is None else t.clone().requires_grad_() for t in (x, v0, s0, beta, thr, w)]


def _run(backend, leaves, surrogate, reset, detach_reset, loss_kind):
    x, v0, s0, beta, thr, w = leaves
    spikes, u = lif_sequence(x, v0, beta, thr, surrogate, reset, detach_reset, w_rec=w, s0=s0, backend=backend)
    g = torch.Generator().manual_seed(11)
    if loss_kind == "spikes":
        loss = spikes.sum()  # grad_u None, grad_spikes broadcast
    else:  # spikes and membrane, different weights per element
        loss = (spikes * torch.randn(spikes.shape, generator=g, dtype=x.dtype)).sum() \
            + (u * torch.randn(u.shape, generator=g, dtype=x.dtype)).sum()
    used = [t for t in leaves if t is not None]
    return spikes.detach(), u.detach(), torch.autograd.grad(loss, used)


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("surrogate", [snn.surrogate.fast_sigmoid(5.0), snn.surrogate.sigmoid(),
                                       snn.surrogate.custom(lambda x: torch.exp(-x * x), "gauss")],
                         ids=["fast_sigmoid", "sigmoid", "custom"])
def test_lif_sequence_matches_reference_gradients(surrogate, dtype, recurrent):
    """Gradients of x, v0, beta, threshold (and w_rec, s0) through the autograd Function."""
    names = ["x", "v0", "s0", "beta", "threshold", "w_rec"]
    for reset in ("subtract", "zero", "none"):
        for detach_reset, loss_kind in ((False, "both"), (True, "spikes")):
            leaves = _leaves(recurrent, dtype)
            s_nb, u_nb, g_nb = _run("numba", leaves, surrogate, reset, detach_reset, loss_kind)
            s_ref, u_ref, g_ref = _run("reference", leaves, surrogate, reset, detach_reset, loss_kind)
            assert torch.equal(s_nb, s_ref)
            torch.testing.assert_close(u_nb, u_ref, **_tol(dtype))
            used = [n for n, t in zip(names, leaves) if t is not None]
            assert len(g_nb) == len(used) == (6 if recurrent else 4)
            for name, a, b in zip(used, g_nb, g_ref):
                assert float(b.abs().max()) > 0, name  # the gradient is exercised
                torch.testing.assert_close(a, b, **_tol(dtype), msg=lambda m: f"{reset} {name}: {m}")


def test_layer_backend_numba_matches_reference():
    """``neurosim.nn.LIF(backend="numba")`` (the default on CPU) against backend="reference"."""
    torch.manual_seed(0)
    x = torch.randn(20, 4, 9, dtype=torch.float64) * 0.6 + 0.3
    outs = []
    for backend in ("numba", "reference"):
        layer = snn.LIF(9, beta=0.8, threshold=0.9, learn_beta=True, learn_threshold=True, backend=backend)
        xi = x.clone().requires_grad_()
        spikes, state = layer(xi.double())
        (spikes.sum() + state.v.sum()).backward()
        outs.append((spikes.detach(), state.v.detach(), xi.grad, layer.beta.grad, layer.threshold.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1:], outs[1][1:]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
