"""neurosim.nn.ELM: the Expressive Leaky Memory neuron against a step-by-step reference written
from the paper's equations, its state, gradients and bad input."""

import math

import pytest
import torch

import neurosim.nn as snn


def reference_elm(elm: snn.ELM, x: torch.Tensor, b=None, m=None):
    """The ELM equations one step at a time, with plain tensors (the specification)."""
    steps, batch, _ = x.shape
    w_s = torch.relu(elm._w_s)
    per_branch = elm.n_in // elm.n_branch
    tau_lo, tau_hi = elm.tau_m_range
    tau_m = (tau_hi - tau_lo) * torch.sigmoid(elm._tau_m) + tau_lo
    kappa_m = torch.exp(-elm.dt / tau_m)
    kappa_lambda = torch.exp(-elm.dt * elm.lambda_value / tau_m)
    kappa_b = elm.kappa_b
    b = torch.zeros(batch, elm.n_branch, dtype=x.dtype) if b is None else b
    m = torch.zeros(batch, elm.n_memory, dtype=x.dtype) if m is None else m
    ys = []
    for t in range(steps):
        inputs = torch.stack([(w_s * x[t])[:, k * per_branch : (k + 1) * per_branch].sum(1)
                              for k in range(elm.n_branch)], dim=1)
        b = kappa_b * b + inputs
        hidden = torch.cat([b, kappa_m * m], dim=1)
        for layer in elm.mlp:
            hidden = layer(hidden)
        dm = 1.7159 * torch.tanh(2.0 / 3.0 * hidden)
        m = kappa_m * m + (1 - kappa_lambda) * dm
        ys.append(elm.readout(m))
    return torch.stack(ys), b, m


def _elm(**kw):
    torch.manual_seed(0)
    return snn.ELM(**{"n_in": 12, "n_out": 3, "n_memory": 7, **kw}).double()


@pytest.mark.parametrize("n_branch", [None, 3, 1])
def test_elm_follows_the_equations(n_branch):
    elm = _elm(n_branch=n_branch, mlp_layers=2, tau_m=(2.0, 300.0), dt=0.5)
    x = torch.rand(40, 5, 12, dtype=torch.float64) * 2
    y, state = elm(x)
    y_ref, b_ref, m_ref = reference_elm(elm, x)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state.b, b_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state.m, m_ref, rtol=1e-12, atol=1e-12)
    assert y.shape == (40, 5, 3) and state.b.shape == (5, elm.n_branch) and state.m.shape == (5, 7)


def test_a_sequence_in_two_parts_is_the_whole_sequence():
    elm = _elm()
    x = torch.rand(60, 2, 12, dtype=torch.float64)
    y, state = elm(x)
    y1, s1 = elm(x[:25])
    y2, s2 = elm(x[25:], s1)
    torch.testing.assert_close(torch.cat([y1, y2]), y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s2.m, state.m, rtol=1e-12, atol=1e-12)


def test_memory_time_constants_are_log_spaced_and_stay_in_range_when_learnt():
    elm = snn.ELM(4, 1, n_memory=4, tau_m=(1.0, 1000.0), learn_tau_m=True)
    torch.testing.assert_close(elm.tau_m, torch.tensor([1.0, 10.0, 100.0, 1000.0]), rtol=1e-4, atol=1e-4)
    assert not snn.ELM(4, 1)._tau_m.requires_grad  # frozen by default, as in the paper
    opt = torch.optim.SGD(elm.parameters(), lr=1e4)
    y, _ = elm(torch.rand(30, 2, 4))
    (y ** 2).sum().backward()
    assert elm._tau_m.grad is not None and elm._tau_m.grad.abs().sum() > 0
    opt.step()
    assert torch.all(elm.tau_m >= 1.0) and torch.all(elm.tau_m <= 1000.0)


def test_gradients_match_finite_differences():
    elm = _elm(n_in=4, n_out=2, n_memory=3, n_branch=2, learn_tau_m=True, tau_m=(1.0, 50.0))
    x = torch.rand(12, 2, 4, dtype=torch.float64, requires_grad=True)
    params = [elm._w_s, elm._tau_m, elm.mlp[0].weight, elm.readout.bias]

    def run(x, *p):
        return elm(x)[0]

    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-6)


def test_elm_learns_to_hold_a_cue():
    # a value shown for the first 5 steps must be reported 25-55 steps later, after the input
    # has gone silent: memory, not the 5-step synapse trace
    torch.manual_seed(1)
    elm = snn.ELM(1, 1, n_memory=20, tau_m=(1.0, 200.0))
    opt = torch.optim.Adam(elm.parameters(), lr=1e-2)
    losses = []
    for _ in range(120):
        cue = torch.rand(1, 32, 1) * 2 - 1
        x = torch.cat([cue.expand(5, 32, 1), torch.zeros(55, 32, 1)])
        y, _ = elm(x)
        loss = ((y[30:] - cue) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    baseline = 1.0 / 3.0  # the variance of the cue: the loss of the best constant output
    assert sum(losses[-10:]) / 10 < 0.1 * baseline, (losses[-10:], baseline)


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="n_branch must divide n_in = 12"):
        snn.ELM(12, 1, n_branch=5)
    with pytest.raises(ValueError, match="tau_m must be"):
        snn.ELM(12, 1, tau_m=(10.0, 5.0))
    with pytest.raises(ValueError, match="tau_m must be a"):
        snn.ELM(12, 1, tau_m=5.0)
    with pytest.raises(ValueError, match="lambda_value"):
        snn.ELM(12, 1, lambda_value=0.0)
    with pytest.raises(ValueError, match="n_memory"):
        snn.ELM(12, 1, n_memory=0)
    elm = snn.ELM(12, 2, n_memory=5)
    with pytest.raises(ValueError):
        elm(torch.rand(10, 3, 11))  # wrong number of inputs
    with pytest.raises(TypeError, match="module's dtype"):
        elm(torch.rand(10, 3, 12, dtype=torch.float64))
    _, state = elm(torch.rand(10, 3, 12))
    with pytest.raises(ValueError, match=r"state.b must have shape \(2, 12\)"):
        elm(torch.rand(10, 2, 12), state)
    with pytest.raises(TypeError, match="ELMState"):
        elm(torch.rand(10, 3, 12), (state.b, state.m, 1))
    x = torch.rand(10, 3, 12)
    x[4, 1, 0] = math.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        elm(x)
