"""neurosim.nn layers: the reference's gradients (gradcheck), the fused-kernel contract,
stateful and stateless use, dtype, the Izhikevich layer against the engine, bad input."""

import math

import numpy as np
import pytest
import torch

import neurosim as ns
import neurosim.nn as snn
from neurosim.kernels.common import reference as surrogate_ref
from neurosim.nn.functional import lif_sequence

# A surrogate that is exactly zero makes the reference's autograd gradient the true
# derivative of the (piecewise smooth) forward pass, which is what gradcheck can check.
ZERO = snn.surrogate.custom(torch.zeros_like, "zero")


def _inputs(T=12, B=3, N=5, seed=0, recurrent=False, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g, dtype=dtype) * 0.8 + 0.4).requires_grad_()
    v0 = (torch.rand(B, N, generator=g, dtype=dtype) * 0.5).requires_grad_()
    beta = (torch.rand(N, generator=g, dtype=dtype) * 0.5 + 0.4).requires_grad_()
    thr = (torch.rand(N, generator=g, dtype=dtype) * 0.5 + 0.8).requires_grad_()
    w = s0 = None
    if recurrent:
        w = (torch.randn(N, N, generator=g, dtype=dtype) * 0.4).requires_grad_()
        s0 = (torch.rand(B, N, generator=g, dtype=dtype) > 0.5).to(dtype).requires_grad_()
    return x, v0, beta, thr, w, s0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["reference", "torch"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_gradcheck_float64(backend, reset, recurrent):
    x, v0, beta, thr, w, s0 = _inputs(recurrent=recurrent)

    def f(x, v0, beta, thr, *rec):
        w, s0 = rec if rec else (None, None)
        s, u = lif_sequence(x, v0, beta, thr, ZERO, reset, w_rec=w, s0=s0, backend=backend)
        return s, u

    args = (x, v0, beta, thr) + ((w, s0) if recurrent else ())
    # No membrane may sit within the finite-difference step of a threshold.
    _, u = f(*[a.detach() for a in args])
    assert float((u - thr.detach()).abs().min()) > 1e-4
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["fast_sigmoid", "arctan", "triangle", "sigmoid"])
def test_surrogates_are_derivatives_of_their_primitives(name):
    x = torch.linspace(-2.5, 2.5, 1001, dtype=torch.float64).requires_grad_()
    primitives = {
        "fast_sigmoid": (snn.surrogate.fast_sigmoid(7.0), lambda x: x / (1 + 7.0 * x.abs())),
        "arctan": (snn.surrogate.arctan(3.0), lambda x: torch.atan(math.pi * 3.0 * x / 2) / math.pi),
        "triangle": (snn.surrogate.triangle(0.7), lambda x: 0.7 * torch.where(x.abs() < 1, x - x * x.abs() / 2, 0.5 * x.sign())),
        "sigmoid": (snn.surrogate.sigmoid(4.0), lambda x: torch.sigmoid(4.0 * x)),
    }
    surrogate, primitive = primitives[name]
    (grad,) = torch.autograd.grad(primitive(x).sum(), x)
    np.testing.assert_allclose(surrogate.derivative(x.detach()), grad, atol=1e-12)
    # The kernels' inline version (by id) is the same function.
    np.testing.assert_allclose(surrogate_ref.surrogate_derivative(surrogate.kernel_id, surrogate.param, x.detach()),
                               grad, atol=1e-12)
    # Forward is the strict Heaviside.
    assert torch.equal(surrogate(torch.tensor([-1.0, 0.0, 1e-9])), torch.tensor([0.0, 0.0, 1.0]))


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", [snn.surrogate.fast_sigmoid(5.0), snn.surrogate.arctan(),
                                       snn.surrogate.custom(lambda x: torch.exp(-x * x), "gauss")])
def test_explicit_backward_matches_autograd_of_the_loop(recurrent, detach_reset, surrogate):
    """The kernels' contract (explicit backward) equals autograd through the reference loop,
    surrogate paths included."""
    for reset in ("subtract", "zero", "none"):
        args = _inputs(T=15, recurrent=recurrent, seed=3)
        x, v0, beta, thr, w, s0 = args
        g = torch.Generator().manual_seed(9)
        gs, gu = torch.randn(2, *x.shape, generator=g, dtype=x.dtype)
        grads = []
        for backend in ("reference", "torch"):
            s, u = lif_sequence(x, v0, beta, thr, surrogate, reset, detach_reset, w_rec=w, s0=s0, backend=backend)
            leaves = [a for a in args if a is not None]
            grads.append((s.detach(), torch.autograd.grad((s * gs).sum() + (u * gu).sum(), leaves)))
        assert torch.equal(grads[0][0], grads[1][0])
        for a, b in zip(grads[0][1], grads[1][1]):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_recurrent_gradient_reaches_back_through_the_recurrent_weights():
    """With the membrane path almost cut (tiny beta, detached reset), the gradient of the last
    step's spikes reaches earlier inputs only through s[t-1] @ W_rec.T."""
    T, B, N = 6, 2, 4
    x = torch.full((T, B, N), 0.8, dtype=torch.float64, requires_grad=True)
    beta = torch.full((N,), 1e-6, dtype=torch.float64)
    thr = torch.ones(N, dtype=torch.float64)
    v0 = torch.zeros(B, N, dtype=torch.float64)
    sur = snn.surrogate.fast_sigmoid(2.0)

    def grad_x(w):
        s, _ = lif_sequence(x, v0, beta, thr, sur, detach_reset=True, w_rec=w, backend="torch")
        return torch.autograd.grad(s[-1].sum(), x)[0]

    without = grad_x(torch.zeros(N, N, dtype=torch.float64))
    with_rec = grad_x(torch.full((N, N), 0.5, dtype=torch.float64))
    assert float(without[-2].abs().max()) < 1e-5
    assert float(with_rec[-2].abs().min()) > 1e-2
    assert float(with_rec[-3].abs().min()) > 1e-4  # two steps back, still through W


LAYERS = {
    "LIF": lambda: snn.LIF(6, beta=0.85, threshold=0.9, backend="torch"),
    "LIF-zero": lambda: snn.LIF(6, beta=0.85, reset="zero", backend="torch"),
    "RecurrentLIF": lambda: snn.RecurrentLIF(4, 6, backend="torch"),
    "LI": lambda: snn.LI(6, beta=0.8, backend="torch"),
}


def _x(layer, T=20, B=3, seed=1):
    n = getattr(layer, "n_in", layer.n)
    return torch.randn(T, B, n, generator=torch.Generator().manual_seed(seed)) * 0.7 + 0.4


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_state_carried_between_calls_equals_one_call(name):
    torch.manual_seed(0)
    layer = LAYERS[name]()
    x = _x(layer)
    whole, _ = layer(x)
    first, state = layer(x[:7])
    second, _ = layer(x[7:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    layer.stateful = True
    a, _ = layer(x[:12])
    b, _ = layer(x[12:])
    torch.testing.assert_close(torch.cat([a, b]), whole)
    layer.reset_state()
    again, _ = layer(x)
    torch.testing.assert_close(again, whole)  # stateless start after reset_state


def test_gradient_flows_across_calls_through_carried_state():
    layer = snn.LIF(5, beta=0.9, backend="torch")
    x = _x(layer).requires_grad_()
    _, state = layer(x[:10])
    out, _ = layer(x[10:], state)
    (g,) = torch.autograd.grad(out.sum(), x)
    assert float(g[:10].abs().sum()) > 0  # the first call's inputs get gradient
    layer.stateful = True
    layer(x[:10])
    layer.detach_state()
    out, _ = layer(x[10:])
    (g,) = torch.autograd.grad(out.sum(), x)
    assert float(g[:10].abs().sum()) == 0  # truncated BPTT


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_follow_input_dtype_and_learnable_parameters_get_gradients(dtype):
    layer = snn.LIF(5, beta=[0.8, 0.85, 0.9, 0.95, 1.0], threshold=1.0, learn_beta=True, learn_threshold=True,
                    backend="torch")
    x = _x(layer).to(dtype)
    spikes, state = layer(x)
    assert spikes.dtype == dtype and state.v.dtype == dtype and spikes.shape == x.shape
    assert 0 < float(spikes.detach().mean()) < 1
    spikes.sum().backward()
    assert layer.beta.grad.shape == (5,) and layer.threshold.grad.shape == ()
    assert float(layer.threshold.grad) != 0 and bool((layer.beta.grad != 0).any())
    assert [n for n, _ in layer.named_parameters()] == ["beta", "threshold"]
    assert [n for n, _ in snn.LIF(3).named_parameters()] == []  # fixed ones are buffers


def test_li_is_a_leaky_integrator():
    layer = snn.LI(3, beta=0.5, backend="torch")
    x = torch.zeros(4, 1, 3)
    x[0] = 1.0
    v, _ = layer(x)
    torch.testing.assert_close(v[:, 0, 0], torch.tensor([1.0, 0.5, 0.25, 0.125]))


def test_reset_modes():
    x = torch.tensor([1.5, 0.0, 0.0]).reshape(3, 1, 1)
    for reset, after in (("subtract", 0.5), ("zero", 0.0), ("none", 1.5)):
        spikes, state, u = snn.LIF(1, beta=1.0, threshold=1.0, reset=reset, backend="torch")(x, return_membrane=True)
        assert spikes[0, 0, 0] == 1 and float(u[1, 0, 0]) == after
    assert float(state.v) == 1.5


def test_izhikevich_layer_matches_the_engine():
    """The same neurons simulated by the event-driven engine and by the nn layer spike at the
    same steps (the engine delivers the constant current every step)."""
    n, dt, steps = 12, 1.0, 400
    rng = np.random.default_rng(4)
    model = ns.Izhikevich(n, a=rng.uniform(0.02, 0.1, n), b=rng.uniform(0.2, 0.25, n), c=rng.uniform(-65, -50, n),
                          d=rng.uniform(2, 8, n))
    current = rng.uniform(4.0, 15.0, n)
    net = ns.Network(dt=dt, seed=0)
    pop = net.population("izh", model)
    net.add_current(pop, ns.ConstantCurrent(current))
    result = net.run(steps * dt, progress=False)
    engine = np.zeros((steps, n), dtype=bool)
    engine[np.round(result.spikes["izh"].times / dt).astype(int), result.spikes["izh"].indices] = True

    layer = snn.Izhikevich.from_model(model, dt=dt)
    x = torch.tensor(current, dtype=torch.float64).expand(steps, 1, n).contiguous()
    spikes, _ = layer(x)
    assert engine.sum() > 3 * n
    np.testing.assert_array_equal(spikes[:, 0].numpy().astype(bool), engine)


def test_izhikevich_layer_trains_its_parameters():
    layer = snn.Izhikevich(4, learn=("a", "d"))
    x = torch.full((200, 2, 4), 10.0)
    spikes, state = layer(x)
    spikes.sum().backward()
    assert layer.d.grad is not None and float(layer.d.grad.abs().sum()) > 0
    assert state.v.shape == (2, 4)


# ---- bad input: clear errors naming the argument -------------------------------------------

@pytest.mark.parametrize("make, x, exc, match", [
    (lambda: snn.LIF(4), torch.zeros(5, 4), ValueError, r"time-major \[T, batch, 4\]"),
    (lambda: snn.LIF(4), torch.zeros(5, 2, 3), ValueError, "3 features.*4 neurons"),
    (lambda: snn.LIF(4), torch.zeros(5, 2, 4, dtype=torch.int64), TypeError, "floating-point"),
    (lambda: snn.LIF(4), [[0.0]], TypeError, "torch.Tensor"),
    (lambda: snn.LIF(4), torch.zeros(0, 2, 4), ValueError, "at least one time step"),
    (lambda: snn.RecurrentLIF(3, 4), torch.zeros(5, 2, 4), ValueError, "4 features.*3 neurons"),
    (lambda: snn.LI(4), torch.zeros(2, 4), ValueError, "time-major"),
])
def test_bad_input_shapes_and_dtypes(make, x, exc, match):
    with pytest.raises(exc, match=match):
        make()(x)


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_nan_input_names_the_step(backend):
    x = torch.rand(10, 2, 4)
    x[6, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf.*time step 6"):
        snn.LIF(4, backend=backend)(x)
    x[6, 1, 2] = float("inf")
    with pytest.raises(ValueError, match="time step 6"):
        snn.LIF(4, reset="zero", backend=backend)(x)


@pytest.mark.parametrize("kw, match", [
    (dict(beta=0.0), r"beta must lie in \(0, 1\]"),
    (dict(beta=1.2), r"beta must lie in \(0, 1\]"),
    (dict(beta=[0.5, float("nan")]), "beta must lie"),
    (dict(beta=[0.5, 0.5, 0.5]), r"beta must be a scalar or have shape \[2\]"),
    (dict(threshold=0.0), r"threshold must lie in \(0, 3.40282e\+38\]"),
    (dict(threshold=-1.0), "threshold"),
    (dict(reset="soft"), "reset must be one of"),
    (dict(backend="cuda"), "backend must be one of"),
])
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        snn.LIF(2, **kw)


def test_bad_surrogate_and_sizes():
    with pytest.raises(TypeError, match="surrogate must be"):
        snn.LIF(2, surrogate=lambda x: x)
    with pytest.raises(ValueError, match="slope must be > 0"):
        snn.surrogate.fast_sigmoid(0.0)
    with pytest.raises(ValueError, match="n .* positive int"):
        snn.LIF(0)
    with pytest.raises(ValueError, match="learn must name"):
        snn.Izhikevich(2, learn=("v_peak",))
    with pytest.raises(ValueError, match="runs on CPU tensors"):
        from neurosim.nn.functional import _kernel_module
        _kernel_module("numba", torch.device("meta"))
