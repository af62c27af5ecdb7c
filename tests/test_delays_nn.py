"""neurosim.nn.DelayedLinear: learnable per-synapse delays (DCLS) against explicit sums, their
gradients, learning a delay, and bad input."""

import math

import pytest
import torch

import neurosim.nn as snn


def explicit(layer: snn.DelayedLinear, x: torch.Tensor) -> torch.Tensor:
    """y[t, b, j] = sum_i sum_k w[j, i] g_ji(k) x[t - k, b, i] (+ bias), one term at a time."""
    kernel = layer.kernel().detach()
    steps = x.shape[0]
    y = torch.zeros(steps, x.shape[1], layer.n_out, dtype=x.dtype)
    for t in range(steps):
        for k in range(layer.max_delay + 1):
            if t - k >= 0:
                y[t] += x[t - k] @ kernel[:, :, k].T
    return y + (0 if layer.bias is None else layer.bias.detach())


@pytest.mark.parametrize("sigma", [0.0, 0.7, 3.0])
def test_delayed_linear_is_the_delayed_weighted_sum(sigma):
    torch.manual_seed(0)
    layer = snn.DelayedLinear(5, 3, max_delay=6, sigma=sigma).double()
    x = torch.randn(20, 2, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x).detach(), explicit(layer, x), rtol=1e-12, atol=1e-12)


def test_zero_width_uses_the_integer_delays_exactly():
    torch.manual_seed(1)
    layer = snn.DelayedLinear(4, 2, max_delay=9, sigma=0.0, bias=False).double()
    x = torch.randn(30, 3, 4, dtype=torch.float64)
    d = layer.integer_delays()
    want = torch.zeros(30, 3, 2, dtype=torch.float64)
    for j in range(2):
        for i in range(4):
            shift = int(d[j, i])
            want[shift:, :, j] += layer.weight[j, i].detach() * x[: 30 - shift, :, i]
    torch.testing.assert_close(layer(x).detach(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("sigma", [0.0, 0.6, 2.5])
def test_fused_kernels_equal_the_conv1d_reference_forward_and_backward(dtype, tol, sigma):
    from neurosim.kernels.delays import windowed_delay_conv

    torch.manual_seed(4)
    layer = snn.DelayedLinear(6, 5, max_delay=9, sigma=sigma).to(dtype)
    windows = layer.windows()
    assert torch.all(windows[1] - windows[0] <= (1 if sigma == 0 else 8 * sigma + 1))  # only the window's taps
    x = torch.randn(25, 3, 6, dtype=dtype, requires_grad=True)
    grad_y = torch.randn(25, 3, 5, dtype=dtype)
    out = {}
    for backend in ("numba", "conv1d"):
        kernel = layer.kernel(windows).detach().requires_grad_(True)
        y = windowed_delay_conv(x, kernel, *windows, backend=backend)
        gx, gk = torch.autograd.grad(y, (x, kernel), grad_y)
        out[backend] = (y.detach(), gx, gk)
    for a, b in zip(out["numba"], out["conv1d"]):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["numba", "conv1d"])
def test_gradients_match_finite_differences(backend):
    torch.manual_seed(2)
    layer = snn.DelayedLinear(3, 2, max_delay=5, sigma=1.2, backend=backend).double()
    x = torch.randn(12, 2, 3, dtype=torch.float64, requires_grad=True)

    def run(x, w, d, b):
        return layer(x)

    assert torch.autograd.gradcheck(run, (x, layer.weight, layer.delay, layer.bias), eps=1e-6, atol=1e-6)


def test_a_delay_is_learnt_through_the_gaussian():
    # one synapse must learn that the target is the input 7 steps later; it starts at 3
    torch.manual_seed(3)
    layer = snn.DelayedLinear(1, 1, max_delay=12, sigma=3.0, bias=False, delay_init=3.0)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    opt = torch.optim.Adam([layer.delay], lr=0.1)
    for epoch in range(300):
        layer.sigma = max(0.5, 3.0 * (1 - epoch / 200))  # annealed, as in DCLS
        x = torch.randn(64, 8, 1)
        target = torch.cat([torch.zeros(7, 8, 1), x[:-7]])
        loss = ((layer(x) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert int(layer.integer_delays()) == 7, float(layer.delay)


@pytest.mark.parametrize("reset, bias", [("subtract", False), ("zero", True)])
def test_integer_delays_export_to_the_engine_with_the_same_spikes(reset, bias):
    import numpy as np

    torch.manual_seed(5)
    steps, n_in, n_out = 200, 20, 15
    layer = snn.DelayedLinear(n_in, n_out, max_delay=6, sigma=0.0, bias=bias).double()
    with torch.no_grad():  # multiples of 1/16: every sum exact in any order, so the spikes must match
        layer.weight.copy_(torch.randint(-16, 24, (n_out, n_in)).double() / 16)
        if bias:
            layer.bias.copy_(torch.randint(-2, 4, (n_out,)).double() / 16)
    beta = torch.tensor([0.875, 0.75, 0.5] * 5, dtype=torch.float64)
    lif = snn.LIF(n_out, beta=beta, threshold=1.0, reset=reset).double()
    x = (torch.rand(steps, 1, n_in) < 0.1).double()
    spikes, _ = lif(layer(x))
    net, _, _ = snn.delays_to_network(layer, lif, x[:, 0])
    result = net.run((steps + 1) * 1.0, progress=False)
    raster = np.zeros((steps + 1, n_out))
    raster[np.rint(result.spikes["lif"].times).astype(int), result.spikes["lif"].indices] = 1
    assert spikes.sum() > 100
    np.testing.assert_array_equal(raster[1:], spikes[:, 0].detach().numpy())  # one step later in the engine
    assert not raster[0].any()


def test_export_refuses_what_the_engine_cannot_run():
    layer = snn.DelayedLinear(4, 3, max_delay=5, sigma=0.5)
    lif = snn.LIF(3)
    x = torch.zeros(10, 4)
    with pytest.raises(ValueError, match="sigma must be 0"):
        snn.delays_to_network(layer, lif, x)
    layer.sigma = 0.0
    with pytest.raises(ValueError, match="lif has 4 neurons"):
        snn.delays_to_network(layer, snn.LIF(4), x)
    with pytest.raises(ValueError, match="binary"):
        snn.delays_to_network(layer, lif, x + 0.5)
    with pytest.raises(TypeError, match="DelayedLinear"):
        snn.delays_to_network(torch.nn.Linear(4, 3), lif, x)


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="max_delay"):
        snn.DelayedLinear(3, 2, max_delay=-1)
    with pytest.raises(ValueError, match="sigma"):
        snn.DelayedLinear(3, 2, max_delay=4, sigma=-0.5)
    with pytest.raises(ValueError, match="backend must be one of"):
        snn.DelayedLinear(3, 2, max_delay=4, backend="cuda")
    with pytest.raises(TypeError, match="module's dtype"):
        snn.DelayedLinear(3, 2, max_delay=4)(torch.randn(10, 1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="delay_init must be within"):
        snn.DelayedLinear(3, 2, max_delay=4, delay_init=9.0)
    with pytest.raises(ValueError, match="delay_init"):
        snn.DelayedLinear(3, 2, max_delay=4, delay_init=-1.0)
    with pytest.raises(ValueError, match="delay_init"):
        snn.DelayedLinear(3, 2, max_delay=4, delay_init=math.nan)
    layer = snn.DelayedLinear(3, 2, max_delay=4)
    with pytest.raises(ValueError, match="fewer than the kernel's max_delay"):
        layer(torch.randn(4, 1, 3))
    with pytest.raises(ValueError):
        layer(torch.randn(10, 1, 2))  # wrong number of inputs
    with torch.no_grad():
        layer.delay[0, 0] = math.inf
    with pytest.raises(ValueError, match="delay holds NaN or inf"):
        layer(torch.randn(10, 1, 3))


def test_same_layer_as_the_dcls_authors_package():
    """DCLS's own Dcls1d (version "gauss", one kernel element per synapse) with the same weights,
    delays and width gives our output and delay gradients (up to the Gaussian's tail beyond 4
    sigma, which we leave out: 6e-5 of its mass)."""
    from DCLS.construct.modules import Dcls1d

    torch.manual_seed(0)
    n_in, n_out, max_delay, sigma = 5, 3, 14, 1.3
    ours = snn.DelayedLinear(n_in, n_out, max_delay, sigma=sigma, bias=False, backend="numba").double()
    taps = max_delay + 1
    peer = Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=taps, bias=False, version="gauss").double()
    with torch.no_grad():
        ours.delay.copy_(torch.rand(n_out, n_in) * (max_delay - 10) + 5)  # inside: DCLS does not clamp
        peer.weight.copy_(ours.weight[..., None])
        # DCLS centres its kernel position P on the middle tap; conv1d correlates, so tap k is a delay of taps - 1 - k
        peer.P.copy_(((taps - 1 - ours.delay) - taps // 2)[None, ..., None])
        peer.SIG.fill_(sigma - 0.27)  # its width is |SIG| + 0.27
    x = torch.randn(40, 2, n_in, dtype=torch.float64)
    y_ours = ours(x)
    y_peer = peer(torch.nn.functional.pad(x.permute(1, 2, 0), (taps - 1, 0))).permute(2, 0, 1)
    torch.testing.assert_close(y_ours, y_peer, rtol=0, atol=3e-4)
    g = torch.randn_like(y_ours)
    (y_ours * g).sum().backward()
    (y_peer * g).sum().backward()
    # the tail left out moves gradients by < 1e-3 of their largest (a wrong sign or tap would not)
    for mine, theirs in ((ours.delay.grad, -peer.P.grad[0, ..., 0]), (ours.weight.grad, peer.weight.grad[..., 0])):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-3 * float(theirs.abs().max()))


def test_narrow_sigma_keeps_the_nearest_tap_and_clamping():
    """Below sigma = 1/8 the 4-sigma window around a delay half-way between steps holds no whole
    step: the window keeps the rounded delay's tap, so annealing towards 0 never gives NaN."""
    layer = snn.DelayedLinear(2, 1, 5, sigma=0.05, delay_init=2.5)
    kernel = layer.kernel()
    assert torch.isfinite(kernel).all()
    torch.testing.assert_close(kernel.detach().sum(-1), layer.weight.detach())  # all weight on one tap
    layer(torch.randn(8, 1, 2)).sum().backward()
    assert torch.isfinite(layer.delay.grad).all()
    with torch.no_grad():
        layer.delay[0, 0], layer.delay[0, 1] = -3.0, 9.0
    layer.clamp_delays_()
    assert layer.delay.detach().tolist() == [[0.0, 5.0]]
