"""neurosim.nn.LIF/LI against the peers snnTorch (``Leaky``) and Norse (``LIFBoxCell``,
``LIBoxCell``): the same spikes (exactly), the same membrane and the same input gradients
(loss = random-weighted sum of the spikes, and separately of the membrane) on the same random
input, in float32 and float64, on the reference loop and the default (fused) backend.

Parameter mappings that match (checked below, snnTorch 1.0, Norse 1.1):

snnTorch ``Leaky(beta, threshold, reset_mechanism=..., spike_grad=...)``; its ``mem`` is
neurosim's ``u`` (before the reset) with the default ``reset_delay=True`` and ``v`` (after the
reset) with ``reset_delay=False``:

- ``reset_mechanism="zero"`` (``reset_delay=True``, reset detached inside snnTorch) =
  ``LIF(reset="zero", detach_reset=True)``: snnTorch zeroes ``mem`` at the start of the step
  after the spike, before the decay, which is the same recurrence.
- ``reset_mechanism="zero", reset_delay=False`` = ``LIF(reset="zero", detach_reset=False)``
  (what ``snntorch.import_nir`` builds for a NIR LIF).
- ``reset_mechanism="subtract", reset_delay=False`` = ``LIF(reset="subtract",
  detach_reset=False)`` as long as the membrane after a reset stays below the threshold
  (``u < 2 threshold``): otherwise snnTorch subtracts again in the next step (its reset signal
  is recomputed from the stored membrane). The inputs here keep ``u < 2 threshold``.
- ``reset_mechanism="none"`` = ``LIF(reset="none")``.
- NOT equal: snnTorch's default ``"subtract"`` with ``reset_delay=True`` computes
  ``u[t] = beta u[t-1] + x[t] - threshold s[t-1]``: the subtraction is not decayed, so it
  differs from neurosim's ``u[t] = beta (u[t-1] - threshold s[t-1]) + x[t]`` by
  ``(1 - beta) threshold`` after every spike (``test_snntorch_default_subtract_differs``).
- Surrogates: snnTorch ``fast_sigmoid(slope)`` = ``fast_sigmoid(slope)``, ``atan(alpha)`` (its
  default, alpha 2) = ``arctan(alpha)``, ``sigmoid(slope)`` = ``sigmoid(slope)`` (snnTorch's
  form ``k e^{-kx} / (e^{-kx} + 1)^2`` overflows to NaN for ``k x < -88`` in float32;
  neurosim's does not). snnTorch's ``triangular(threshold)`` is not a triangle (a constant
  ``+-threshold``) and has no neurosim counterpart.

Norse ``LIFBoxCell(LIFBoxParameters(tau_mem_inv, v_leak=0, v_th, v_reset=0, method, alpha,
reset_method), dt)`` steps ``v += dt tau_mem_inv (x - v)``: ``LIF(beta = 1 - dt tau_mem_inv)``
with the input multiplied by ``dt tau_mem_inv``; Norse's state ``v`` is neurosim's ``v``
(after the reset). ``reset_value`` = ``reset="zero"``, ``reset_subtract`` = ``"subtract"``,
both with ``detach_reset=False``. ``LIBoxCell`` likewise = ``LI``. Surrogates:

- ``method="super"`` = ``fast_sigmoid(slope=1)`` whatever ``alpha`` is: Norse 1.1's SuperSpike
  backward is ``1 / (|x| + 1)^2`` and ignores ``alpha`` (checked with two alphas).
- ``method="triangle"`` = ``triangle(alpha)``.
- ``method="tanh"`` (``1 - tanh(k x)^2``) = ``(2 / k) sigmoid(2 k)``: equal to neurosim's
  ``sigmoid(4)`` for ``k = 2`` only.

Precision: snnTorch's spike functions return float32 (``(x > 0).float()``) whatever the input
dtype, so in float64 its gradients pass through float32 and agree with neurosim's to ~1e-7
relative only. neurosim keeps ``beta`` and ``threshold`` in float32 even for float64 input; the
parameters here are exact in float32 (0.75, 1.25, k/16, ...) so float64 runs can be compared
tightly with Norse, which keeps them in the input's dtype.
"""

import zlib

import pytest
import torch

import neurosim.nn as snn
from neurosim.kernels.lif.reference import RESET_SUBTRACT, RESET_ZERO, apply_reset

snntorch = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
from norse.torch.functional.reset import reset_subtract, reset_value  # noqa: E402
from snntorch import surrogate as snt_surrogate  # noqa: E402

# "auto" is the fused kernel (Numba on CPU); "reference" the torch loop it is checked against.
BACKENDS = ["reference", "auto"]
DTYPES = [torch.float32, torch.float64]
T, B, N = 40, 4, 7
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}
# snnTorch's float32 spikes limit float64 agreement (module docstring).
TOL_SNNTORCH = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-6, atol=2e-6)}


def _seed(*names) -> int:
    return zlib.crc32("/".join(names).encode()) % 10_000


def _data(dtype, threshold, lo, hi, seed):
    """Input uniform in ``[lo, hi] * threshold`` and two loss weightings, ``[T, B, N]``."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, N, generator=g, dtype=dtype) * (hi - lo) + lo) * threshold
    w_spikes = torch.randn(T, B, N, generator=g, dtype=dtype)
    w_mem = torch.randn(T, B, N, generator=g, dtype=dtype)
    return x, w_spikes, w_mem


def _compare(run_a, run_b, x, w_spikes, w_mem, tol):
    """Run both models (``run(x) -> (spikes, membrane)``, each from a fresh state) and compare
    spikes exactly, membranes and the input gradients of both losses with ``allclose``."""
    results = []
    for run in (run_a, run_b):
        xs = x.clone().requires_grad_()
        spikes, mem = run(xs)
        (g_spikes,) = torch.autograd.grad((spikes.to(x.dtype) * w_spikes).sum(), xs)
        xm = x.clone().requires_grad_()
        _, mem2 = run(xm)
        (g_mem,) = torch.autograd.grad((mem2 * w_mem).sum(), xm)
        results.append((spikes.detach().to(x.dtype), mem.detach(), g_spikes, g_mem))
    (s_a, m_a, gs_a, gm_a), (s_b, m_b, gs_b, gm_b) = results
    assert torch.equal(s_a, s_b), f"{int((s_a != s_b).sum())} spikes differ"
    rate = float(s_a.mean())
    assert 0.03 < rate < 0.6, f"spike rate {rate} makes the comparison weak"
    assert m_a.dtype == m_b.dtype == x.dtype
    torch.testing.assert_close(m_a, m_b, **tol)
    torch.testing.assert_close(gs_a, gs_b, **tol)
    torch.testing.assert_close(gm_a, gm_b, **tol)
    assert float(gs_a.abs().max()) > 0.1 and float(gm_a.abs().max()) > 0.1  # gradients do flow
    return rate


# ---- snnTorch -------------------------------------------------------------------------------

BETA = torch.tensor([12, 13, 14, 15, 10, 11, 8]) / 16.0  # per neuron, exact in float32
THRESHOLD = 1.25


def _run_snntorch(make, dtype):
    def run(x):
        leaky = make().to(dtype)  # fresh state for every run
        mem = leaky.reset_mem()
        spikes, mems = [], []
        for t in range(x.shape[0]):
            s, mem = leaky(x[t], mem)
            spikes.append(s)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)
    return run


def _run_neurosim(layer, membrane):
    """``membrane``: "u" (before the reset) or "v" (after it, the reset differentiated as in the layer)."""
    def run(x):
        spikes, _, u = layer(x, return_membrane=True)
        if membrane == "u":
            return spikes, u
        thr = layer.threshold.to(x.dtype)
        s = spikes.detach() if layer.detach_reset else spikes
        return spikes, apply_reset(u, s, thr, {"subtract": RESET_SUBTRACT, "zero": RESET_ZERO}[layer.reset])
    return run


SURROGATES = {
    "fast_sigmoid": (lambda: snt_surrogate.fast_sigmoid(slope=5.0), lambda: snn.surrogate.fast_sigmoid(5.0)),
    "atan": (lambda: snt_surrogate.atan(alpha=2.0), lambda: snn.surrogate.arctan(2.0)),
    "sigmoid": (lambda: snt_surrogate.sigmoid(slope=4.0), lambda: snn.surrogate.sigmoid(4.0)),
}

# name: (snnTorch Leaky kwargs, neurosim LIF kwargs, which membrane snnTorch reports, input range / thr)
SNNTORCH_CASES = {
    "zero": (dict(reset_mechanism="zero"), dict(reset="zero", detach_reset=True), "u", (-0.5, 1.0)),
    "zero-no-delay": (dict(reset_mechanism="zero", reset_delay=False), dict(reset="zero", detach_reset=False), "v",
                      (-0.5, 1.0)),
    "subtract-no-delay": (dict(reset_mechanism="subtract", reset_delay=False),
                          dict(reset="subtract", detach_reset=False), "v", (-0.5, 0.9)),
    "none": (dict(reset_mechanism="none"), dict(reset="none"), "u", (-0.5, 0.6)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("surrogate", list(SURROGATES))
@pytest.mark.parametrize("case", list(SNNTORCH_CASES))
def test_lif_matches_snntorch_leaky(case, surrogate, dtype, backend):
    snt_kw, ns_kw, membrane, (lo, hi) = SNNTORCH_CASES[case]
    snt_sur, ns_sur = SURROGATES[surrogate]
    x, w_s, w_m = _data(dtype, THRESHOLD, lo, hi, seed=_seed(case, surrogate))
    make = lambda: snntorch.Leaky(beta=BETA.clone(), threshold=THRESHOLD, spike_grad=snt_sur(), **snt_kw)  # noqa: E731
    layer = snn.LIF(N, beta=BETA, threshold=THRESHOLD, surrogate=ns_sur(), backend=backend, **ns_kw)
    if case == "subtract-no-delay":  # the condition under which the two agree
        _, _, u = layer(x, return_membrane=True)
        assert float(u.max()) < 2 * THRESHOLD
    _compare(_run_snntorch(make, dtype), _run_neurosim(layer, membrane), x, w_s, w_m, TOL_SNNTORCH[dtype])


def test_lif_matches_snntorch_default_surrogate():
    """snnTorch's default spike_grad is atan(alpha=2): neurosim's arctan() default."""
    x, w_s, w_m = _data(torch.float32, THRESHOLD, -0.5, 1.0, seed=3)
    make = lambda: snntorch.Leaky(beta=BETA.clone(), threshold=THRESHOLD, reset_mechanism="zero")  # noqa: E731
    layer = snn.LIF(N, beta=BETA, threshold=THRESHOLD, reset="zero", detach_reset=True,
                    surrogate=snn.surrogate.arctan())
    _compare(_run_snntorch(make, torch.float32), _run_neurosim(layer, "u"), x, w_s, w_m, TOL[torch.float32])


def test_snntorch_default_subtract_differs():
    """snnTorch's default reset (subtract, reset_delay=True) subtracts the threshold after the
    decay, one step late: ``u[t] = beta u[t-1] + x[t] - threshold s[t-1]``."""
    x, _, _ = _data(torch.float64, THRESHOLD, -0.5, 0.9, seed=5)
    spikes, mem = _run_snntorch(lambda: snntorch.Leaky(beta=BETA.clone(), threshold=THRESHOLD), torch.float64)(x)
    beta, thr = BETA.double(), torch.tensor(THRESHOLD, dtype=torch.float64)
    u, s_prev, expected = torch.zeros(B, N, dtype=torch.float64), torch.zeros(B, N, dtype=torch.float64), []
    for t in range(T):
        u = beta * u + x[t] - thr * s_prev
        s_prev = (u > thr).double()
        expected.append(u)
    torch.testing.assert_close(mem, torch.stack(expected), rtol=0, atol=1e-12)
    _, _, ns_u = snn.LIF(N, beta=BETA, threshold=THRESHOLD, reset="subtract", backend="reference")(
        x, return_membrane=True)
    assert float(spikes.sum()) > 0
    assert not torch.allclose(ns_u, mem)  # differs by (1 - beta) threshold after each spike


# ---- Norse ----------------------------------------------------------------------------------

K = 0.25  # dt * tau_mem_inv: neurosim beta = 1 - K = 0.75, input scaled by K (exact in binary)
V_TH = 0.75


def _run_norse(make, dtype):
    def run(x):
        cell = make(dtype)
        state, spikes, vs = None, [], []
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            spikes.append(z)
            vs.append(state.v)
        return torch.stack(spikes), torch.stack(vs)
    return run


def _norse_lif(method, alpha, reset_method, dt=2.0):
    def make(dtype):
        p = norse.LIFBoxParameters(
            tau_mem_inv=torch.tensor(K / dt, dtype=dtype), v_leak=torch.tensor(0.0, dtype=dtype),
            v_th=torch.tensor(V_TH, dtype=dtype), v_reset=torch.tensor(0.0, dtype=dtype),
            method=method, alpha=torch.tensor(alpha), reset_method=reset_method)
        return norse.LIFBoxCell(p, dt=dt)
    return make


NORSE_SURROGATES = {
    "super-alpha100": ("super", 100.0, lambda: snn.surrogate.fast_sigmoid(1.0)),
    "super-alpha5": ("super", 5.0, lambda: snn.surrogate.fast_sigmoid(1.0)),
    "triangle": ("triangle", 0.5, lambda: snn.surrogate.triangle(0.5)),
    "tanh2": ("tanh", 2.0, lambda: snn.surrogate.sigmoid(4.0)),
}
NORSE_RESETS = {"value": (reset_value, "zero"), "subtract": (reset_subtract, "subtract")}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reset", list(NORSE_RESETS))
@pytest.mark.parametrize("surrogate", list(NORSE_SURROGATES))
def test_lif_matches_norse_lifbox(surrogate, reset, dtype, backend):
    method, alpha, ns_sur = NORSE_SURROGATES[surrogate]
    reset_method, ns_reset = NORSE_RESETS[reset]
    # Norse input i: neurosim gets K * i (its input is the per-step increment).
    x, w_s, w_m = _data(dtype, V_TH / K, -0.5, 0.9, seed=_seed(surrogate, reset))
    layer = snn.LIF(N, beta=1 - K, threshold=V_TH, reset=ns_reset, detach_reset=False, surrogate=ns_sur(),
                    backend=backend)
    ns_run = _run_neurosim(layer, "v")
    _compare(_run_norse(_norse_lif(method, alpha, reset_method), dtype), lambda x: ns_run(K * x), x, w_s, w_m,
             TOL[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_li_matches_norse_libox(dtype, backend):
    dt = 0.5
    x, _, w_m = _data(dtype, 1.0, -1.0, 1.0, seed=11)

    def norse_run(x):
        cell = norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=torch.tensor(K / dt, dtype=dtype),
                                                     v_leak=torch.tensor(0.0, dtype=dtype)), dt=dt)
        state, vs = None, []
        for t in range(x.shape[0]):
            v, state = cell(x[t], state)
            vs.append(v)
        return torch.stack(vs)

    layer = snn.LI(N, beta=1 - K, backend=backend)
    grads = []
    for run in (norse_run, lambda x: layer(K * x)[0]):
        xs = x.clone().requires_grad_()
        v = run(xs)
        (g,) = torch.autograd.grad((v * w_m).sum(), xs)
        grads.append((v.detach(), g))
    torch.testing.assert_close(grads[0][0], grads[1][0], **TOL[dtype])
    torch.testing.assert_close(grads[0][1], grads[1][1], **TOL[dtype])
