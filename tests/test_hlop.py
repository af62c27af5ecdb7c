"""HLOP's Hebbian subspace neurons and gradient projection (Xiao et al. 2024)."""

import numpy as np
import pytest
import torch

from neurosim.plasticity import HLOP, HebbianSubspace
from neurosim.plasticity.hlop import principal_angles_deg


def structured(n_samples, basis, scales, noise, seed):
    """Samples ``sum_k c_k scales_k basis_k + noise`` with known principal subspace ``basis``."""
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(n_samples, len(scales), generator=g) * torch.tensor(scales)
    return c @ basis + noise * torch.randn(n_samples, basis.shape[1], generator=g)


def orthonormal_rows(k, n, seed):
    q, _ = torch.linalg.qr(torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q.T.float()


def test_hebbian_rule_finds_the_top_principal_subspace():
    """Oja's subspace rule (no SVD) on data with a known 4-D principal subspace in R^50."""
    basis = orthonormal_rows(4, 50, 1)
    x = structured(4000, basis, [3.0, 2.5, 2.0, 1.5], 0.2, 2)
    s = HebbianSubspace(50, learning_rate=0.05, seed=0)
    s.add_neurons(4)
    assert max(principal_angles_deg(s.weights, basis)) > 45  # random start
    for epoch in range(30):
        for batch in x.split(100):
            s.hebbian_step(batch)
    angles = principal_angles_deg(s.weights, basis)
    assert max(angles) < 3.0, angles
    # Oja's rule also makes the rows orthonormal
    np.testing.assert_allclose((s.weights @ s.weights.T).numpy(), np.eye(4), atol=0.05)


def test_new_neurons_capture_what_old_ones_miss():
    """Task 1's data lies in span(b1), task 2's in span(b1, b2): the frozen task-1 rows stay,
    the new rows learn span(b2) (orthogonal to the old)."""
    basis = orthonormal_rows(6, 40, 3)
    b1, b2 = basis[:3], basis[3:]
    s = HebbianSubspace(40, learning_rate=0.05, seed=1)
    s.add_neurons(3)
    for _ in range(30):
        for batch in structured(2000, b1, [2.0, 2.0, 2.0], 0.1, 4).split(100):
            s.hebbian_step(batch)
    s.freeze()
    old = s.weights.clone()
    s.add_neurons(3)
    for _ in range(30):
        for batch in structured(2000, basis, [2.0] * 6, 0.1, 5).split(100):
            s.hebbian_step(batch)
    assert torch.equal(s.weights[:3], old)
    assert max(principal_angles_deg(s.weights[3:], b2)) < 5.0
    # the projection removes the old subspace (frozen rows only) and, with all rows, both
    v = b1[0] + b2[0]
    assert torch.linalg.vector_norm(s.project(v) - b2[0]) < 0.1
    assert torch.linalg.vector_norm(s.project(v, frozen_only=False)) < 0.15
    learnt = s.weights[3:].clone()
    s.freeze()  # orthonormalises the new rows against the old: same span, exact projector
    torch.testing.assert_close(s.weights[:3], old, atol=1e-6, rtol=0)
    torch.testing.assert_close(s.weights @ s.weights.T, torch.eye(6), atol=1e-5, rtol=0)
    assert max(principal_angles_deg(s.weights[3:], learnt)) < 1.0


def test_several_steps_equal_the_plain_rule_with_frozen_rows():
    """hebbian_step(x, n) caches the frozen rows' reconstruction; it must equal n steps of the
    plain rule dH_new = y_new^T (x - H^T H x) / B (EMA, clamp) with all rows in H."""
    x = torch.randn(64, 20, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    s = HebbianSubspace(20, learning_rate=0.05, seed=2, dtype=torch.float64)
    s.add_neurons(3)
    s.hebbian_step(x, 4)
    s.freeze()
    s.add_neurons(2)
    w, v = s.weights.clone(), torch.zeros(2, 20, dtype=torch.float64)
    for _ in range(5):
        dh = ((x @ w[3:].T).T @ (x - (x @ w.T) @ w) / 64).clamp(-10, 10)
        v = 0.9 * v + 0.1 * dh
        w[3:] += 0.05 * v
    s.hebbian_step(x, 5)
    torch.testing.assert_close(s.weights, w, rtol=1e-12, atol=1e-12)


def test_projected_gradients_leave_old_task_outputs_alone():
    """After task 1 (inputs in a 5-D subspace of R^30), training on task 2 with projected
    gradients keeps the layer's outputs on task-1 inputs; without projection they move."""
    torch.manual_seed(0)
    basis = orthonormal_rows(5, 30, 6)
    x1 = structured(512, basis, [2.0] * 5, 0.01, 7)
    x2 = torch.randn(512, 30)
    y2 = torch.randn(512, 8)
    outs = {}
    for use_hlop in (True, False):
        layer = torch.nn.Linear(30, 8, bias=False)
        layer.weight.data = torch.randn(8, 30, generator=torch.Generator().manual_seed(8))
        hlop = HLOP([layer], learning_rate=0.05, iterations=5)
        hlop.begin_task(5)
        for _ in range(20):
            for batch in x1.split(64):
                layer(batch)  # recorded by the forward hook
                hlop.hebbian_update()
        hlop.end_task()
        before = layer(x1).detach()
        opt = torch.optim.SGD(layer.parameters(), lr=0.05)
        hlop.begin_task(0)
        for _ in range(50):
            opt.zero_grad()
            torch.nn.functional.mse_loss(layer(x2), y2).backward()
            if use_hlop:
                hlop.project_gradients()
            opt.step()
        outs[use_hlop] = float((layer(x1).detach() - before).abs().mean() / before.abs().mean())
        hlop.remove()
    assert outs[True] < 0.02, outs
    assert outs[False] > 0.2, outs


def test_gradient_projection_equals_projecting_the_inputs():
    layer = torch.nn.Linear(12, 3, bias=False)
    hlop = HLOP([layer], seed=3)
    hlop.begin_task(4)
    hlop.end_task()
    x = torch.randn(7, 5, 12)  # [T, batch, in]: every time step's input
    layer.zero_grad()
    (layer(x) ** 2).sum().backward()
    hlop.project_gradients()
    delta = 2 * layer(x).detach()
    x_orth = hlop.subspaces[0].project(x)
    expected = torch.einsum("tbo,tbi->oi", delta, x_orth)
    torch.testing.assert_close(layer.weight.grad, expected, rtol=1e-4, atol=1e-5)


def test_bad_input_is_rejected():
    s = HebbianSubspace(10)
    with pytest.raises(ValueError, match="at most n_inputs"):
        s.add_neurons(11)
    s.add_neurons(6)
    with pytest.raises(ValueError, match="at most n_inputs"):
        s.add_neurons(5)
    with pytest.raises(ValueError, match="n_inputs = 10"):
        s.project(torch.zeros(4, 9))
    with pytest.raises(ValueError, match="n_inputs = 10"):
        s.hebbian_step(torch.zeros(4, 12))
    x = torch.zeros(4, 10)
    x[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        s.hebbian_step(x)
    with pytest.raises(ValueError, match="learning_rate"):
        HebbianSubspace(10, learning_rate=float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        HebbianSubspace(10, momentum=1.0)
    with pytest.raises(TypeError, match="torch.nn.Linear"):
        HLOP([torch.nn.Conv1d(2, 2, 3)])
    layer = torch.nn.Linear(5, 2)
    with pytest.raises(ValueError, match="one per layer"):
        HLOP([layer]).begin_task([1, 2])
    with pytest.raises(ValueError, match="learning_rate"):
        HLOP([layer], learning_rate=[0.1, 0.1])
