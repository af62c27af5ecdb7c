"""neurosim.nn.CubaLIF, the current-based LIF layer (public; NIR's CubaLIF imports into it)."""

import pytest

torch = pytest.importorskip("torch")
import neurosim.nn as snn  # noqa: E402


def _euler_loop(x, alpha, beta, thr, syn_gain, mem_gain, mem_offset):
    """The per-step equations of the docstring, written out (reset to zero)."""
    i = v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        i = alpha * i + syn_gain * x[t]
        u = beta * v + mem_gain * i + mem_offset
        s = (u > thr).to(x.dtype)
        v = u * (1 - s)
        out.append(s)
    return torch.stack(out), i, v


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_cuba_lif_follows_its_equations(backend):
    torch.manual_seed(0)
    x = torch.rand(40, 3, 5) * 0.6
    layer = snn.CubaLIF(5, alpha=0.7, beta=torch.linspace(0.5, 0.95, 5), threshold=1.0, syn_gain=0.8,
                        mem_gain=1.2, mem_offset=0.01, backend=backend)
    spikes, state = layer(x)
    ref, i, v = _euler_loop(x, 0.7, torch.linspace(0.5, 0.95, 5), 1.0, 0.8, 1.2, 0.01)
    assert spikes.shape == (40, 3, 5) and spikes.sum() > 0
    assert torch.equal(spikes, ref)
    torch.testing.assert_close(state.i, i)
    torch.testing.assert_close(state.v, v)


def test_cuba_lif_recurrent_with_zero_weights_equals_feed_forward_and_trains():
    torch.manual_seed(1)
    x = (torch.rand(30, 2, 4) * 0.8).requires_grad_()
    rec = torch.nn.Linear(4, 4, bias=False)
    torch.nn.init.zeros_(rec.weight)
    ff = snn.CubaLIF(4, 0.6, 0.9, 1.0, backend="reference")
    rc = snn.CubaLIF(4, 0.6, 0.9, 1.0, recurrent=rec, backend="reference")
    a, _ = ff(x)
    b, _ = rc(x)
    assert torch.equal(a, b)
    b.sum().backward()  # the surrogate lets gradients through the spikes
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_cuba_lif_is_public_and_checks_its_arguments():
    assert "CubaLIF" in snn.__all__ and "CubaLIFState" in snn.__all__
    from neurosim.nn.nir import CubaLIF

    assert CubaLIF is snn.CubaLIF  # the NIR module re-exports the same class
    with pytest.raises(ValueError, match="recurrent"):
        snn.CubaLIF(4, 0.5, 0.9, 1.0, recurrent=torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="syn_gain"):
        snn.CubaLIF(4, 0.5, 0.9, 1.0, syn_gain=[1.0, 2.0])
