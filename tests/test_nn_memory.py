"""What neurosim's fused LIF keeps for backward (issue point 8), checked through autograd's
``saved_tensors_hooks``: no per-step tensors (the number of saved tensors does not grow with
T), the membrane ``u`` as the only per-neuron-step storage (plus the spikes when recurrent),
and never more bytes per neuron-step than the reference torch loop. Behavioural, no timing."""

import importlib.util
import weakref

import pytest
import torch

import neurosim.nn as snn

B, N = 4, 16


def _backends():
    out = ["torch"]  # the fused path's autograd Function with the kernels written in torch
    if importlib.util.find_spec("neurosim.kernels.lif.numba") is not None:
        out.append("numba")
    return out


def _saved(fn, x):
    """(number of saved tensors, bytes of their distinct storages, the same without the storage
    of the input ``x``, ``fn()``) once ``fn()`` has built the graph. A view keeps its whole
    storage alive, so whole storages are counted, each once; only tensors the graph still holds
    count (a dropped branch frees what it saved, and a later tensor may reuse the memory)."""
    packed = []

    def pack(t):
        packed.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    alive = [t for t in (r() for r in packed) if t is not None]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in alive}
    total = sum(storages.values())
    return len(alive), total, total - storages.get(x.untyped_storage().data_ptr(), 0), out


def _ff(backend, T, dtype=torch.float32):
    g = torch.Generator().manual_seed(T)
    x = (0.3 + 0.5 * torch.randn(T, B, N, generator=g, dtype=dtype)).requires_grad_()
    layer = snn.LIF(N, beta=0.9, threshold=1.0, backend=backend)
    return _saved(lambda: layer(x)[0], x) + (x,)


def _rec(backend, T, dtype=torch.float32):
    g = torch.Generator().manual_seed(T)
    x = (0.5 + torch.randn(T, B, N, generator=g, dtype=dtype)).requires_grad_()
    layer = snn.RecurrentLIF(N, N, beta=0.9, threshold=1.0, bias=False, backend=backend).to(dtype)
    return _saved(lambda: layer(x)[0], x) + (x,)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("case", [_ff, _rec])
def test_saved_tensor_count_does_not_grow_with_T(backend, case):
    counts = [case(backend, T)[0] for T in (3, 30, 300)]
    assert counts[0] == counts[1] == counts[2], counts
    ref = [case("reference", T)[0] for T in (3, 30)]
    assert ref[1] > ref[0]  # the torch loop saves tensors per step (the hook sees them)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_feed_forward_saves_only_the_membrane(backend, dtype):
    T = 200
    _, total, without_x, spikes, x = _ff(backend, T, dtype)
    u_bytes = T * B * N * dtype.itemsize
    small = 8 * (B * N + N) * dtype.itemsize  # v0, beta, threshold: O(B N + N), not growing with T
    assert u_bytes <= without_x <= u_bytes + small
    assert total == without_x  # the input itself is not kept
    spikes.backward(torch.ones_like(spikes))  # the graph is complete
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("backend", _backends())
def test_recurrent_saves_membrane_and_spikes(backend):
    # Per neuron-step: u and the spikes (for dL/dW_rec); the input Linear keeps its input x,
    # which the caller holds anyway and is left out here. The weights do not grow with T.
    T1, T2 = 50, 250
    growth = _rec(backend, T2)[2] - _rec(backend, T1)[2]
    assert growth <= 2 * 4 * (T2 - T1) * B * N


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("case", [_ff, _rec])
def test_no_more_bytes_per_neuron_step_than_the_reference_loop(backend, case):
    T1, T2 = 20, 120
    fused = case(backend, T2)[1] - case(backend, T1)[1]
    ref = case("reference", T2)[1] - case("reference", T1)[1]
    assert fused <= ref, (fused / ((T2 - T1) * B * N), ref / ((T2 - T1) * B * N))
