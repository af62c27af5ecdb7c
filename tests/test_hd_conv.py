"""HeterogeneousDelayConv (HD-SNN): heterogeneous delays as a causal spatio-temporal convolution."""

import itertools

import pytest
import torch

from neurosim.nn import HeterogeneousDelayConv


def explicit(layer, x):
    """The defining sum, one output at a time."""
    w = (layer.weight * layer.mask).detach()
    steps, batch, _, height, width = x.shape
    s, p = layer.stride, layer.padding
    kh, kw = layer.kernel_size
    out_h, out_w = layer.output_size(height, width)
    v = torch.zeros(steps, batch, layer.out_channels, out_h, out_w, dtype=x.dtype)
    for t, y, xx, d, i, j in itertools.product(range(steps), range(out_h), range(out_w), range(layer.n_delays),
                                              range(kh), range(kw)):
        row, col = y * s + i - p, xx * s + j - p
        if t - d >= 0 and 0 <= row < height and 0 <= col < width:
            v[t, :, :, y, xx] += x[t - d, :, :, row, col] @ w[:, :, d, i, j].T
    return v + (0 if layer.bias is None else layer.bias.detach()[:, None, None])


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (3, 2)])
def test_forward_is_the_delayed_sum(stride, padding):
    torch.manual_seed(0)
    layer = HeterogeneousDelayConv(2, 3, 4, (3, 2), stride=stride, padding=padding).double()
    torch.nn.init.normal_(layer.bias)
    x = torch.poisson(torch.full((6, 2, 2, 7, 6), 0.4, dtype=torch.float64))
    torch.testing.assert_close(layer(x), explicit(layer, x))


def test_an_event_reaches_each_neuron_through_its_delays():
    layer = HeterogeneousDelayConv(2, 1, 5, 3, padding=1, bias=False).double()
    x = torch.zeros(12, 1, 2, 5, 5, dtype=torch.float64)
    x[3, 0, 1, 2, 2] = 1.0  # one OFF... channel-1 event at (y, x) = (2, 2), step 3
    v = layer(x)[:, 0, 0]
    assert torch.all(v[:3] == 0)  # causal: nothing before the event
    for d in range(5):  # the neuron at (1, 1) sees the pixel through kernel offset (1, 1) at every delay
        torch.testing.assert_close(v[3 + d, 1, 1], layer.weight[0, 1, d, 2, 2].detach())
    assert torch.all(v[3 + 5:] == 0)  # and nothing after the longest delay


def test_gradients_and_pruning():
    torch.manual_seed(1)
    layer = HeterogeneousDelayConv(2, 4, 3, 3, stride=2).double()
    x = torch.rand(5, 2, 2, 9, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: torch.nn.functional.conv3d(
        torch.nn.functional.pad(x.permute(1, 2, 0, 3, 4), (0, 0, 0, 0, 2, 0)), w.flip(2), stride=(1, 2, 2)).sum(),
        (x, layer.weight.detach().clone().requires_grad_()))
    big = layer.weight.detach().abs().flatten().topk(22).indices  # 22 = ceil(0.1 * 216)
    assert layer.prune_(0.1) == 22 == layer.n_synapses
    assert set(layer.weight.detach().flatten().nonzero()[:, 0].tolist()) == set(big.tolist())
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    layer(x).square().sum().backward()
    opt.step()  # the optimiser moves pruned weights, the forward still leaves them out
    torch.testing.assert_close(layer(x.detach()), explicit(layer, x.detach()))
    assert layer.n_synapses == 22
    assert layer.prune_(0.5) == 22  # a fraction of all weights: the 22 left stay
    assert layer.prune_(0.05) == 11


def test_synaptic_operations_count_each_event_times_its_fan_out():
    torch.manual_seed(2)
    layer = HeterogeneousDelayConv(2, 3, 4, 3, stride=2, padding=1).double()
    layer.prune_(0.3)
    x = torch.poisson(torch.full((6, 2, 2, 8, 7), 0.3, dtype=torch.float64))
    ops = torch.zeros(2, dtype=torch.float64)
    out_h, out_w = layer.output_size(8, 7)
    alive = layer.weight.detach() != 0
    for b, c, row, col in itertools.product(range(2), range(2), range(8), range(7)):
        fan = sum(int(alive[:, c, :, row - (y * 2 - 1), col - (xx * 2 - 1)].sum())
                  for y in range(out_h) for xx in range(out_w)
                  if 0 <= row - (y * 2 - 1) < 3 and 0 <= col - (xx * 2 - 1) < 3)
        ops[b] += fan * x[:, b, c, row, col].sum()
    torch.testing.assert_close(layer.synaptic_operations(x), ops)


def test_bad_input_is_refused_by_name():
    layer = HeterogeneousDelayConv(2, 3, 4, 3)
    with pytest.raises(ValueError, match="fewer than the kernel's n_delays = 4"):
        layer(torch.zeros(3, 1, 2, 5, 5))
    with pytest.raises(ValueError, match="in_channels = 2"):
        layer(torch.zeros(6, 1, 3, 5, 5))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        layer(torch.zeros(6, 1, 2, 2, 5))
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.zeros(6, 1, 2, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="n_delays"):
        HeterogeneousDelayConv(2, 3, 0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        HeterogeneousDelayConv(2, 3, 2, (3, 3, 3))
    with pytest.raises(ValueError, match="keep"):
        layer.prune_(1.5)
    with pytest.raises(ValueError, match="keep"):
        layer.prune_(0.0)
