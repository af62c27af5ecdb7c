"""Contrastive projection heads (CLIP-style loss, class-matched pairs, zero-shot retrieval)."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from neurosim.circuits.contrastive import ContrastiveHeads, clip_loss


def test_clip_loss_is_symmetric_infonce():
    g = torch.Generator().manual_seed(0)
    za, zb = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    logits = F.normalize(za, dim=1) @ F.normalize(zb, dim=1).T / 0.1
    target = torch.arange(6)
    expected = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    assert torch.allclose(clip_loss(za, zb), expected)
    # distinct labels: each row has one partner, as without labels (rows permuted consistently)
    labels = np.array([3, 1, 4, 0, 5, 2])
    assert torch.allclose(clip_loss(za, zb, labels, labels), expected, atol=1e-6)
    perm = np.array([2, 0, 5, 1, 4, 3])
    assert torch.allclose(clip_loss(za, zb[perm], labels, labels[perm]), expected, atol=1e-6)


def test_clip_loss_spreads_the_target_over_same_class_partners():
    za = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    zb = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # both rows of the same class: the target is uniform, and so is the softmax -> loss = log 2
    assert clip_loss(za, zb, [7, 7], [7, 7]).item() == pytest.approx(np.log(2), abs=1e-6)
    # told they differ, the same embeddings cost more
    assert clip_loss(za, zb, [0, 1], [0, 1]).item() > np.log(2)
    with pytest.raises(ValueError, match="partner"):
        clip_loss(za, zb, [0, 1], [0, 2])
    with pytest.raises(ValueError, match="same number of rows"):
        clip_loss(za, zb[:1])


def two_views(n_per_class, classes, seed):
    """Two modalities seeing the same latent class structure through different random maps
    plus noise: a and b share structure, so alignment learnt on some classes can carry over."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(10, 6)) * 2.0
    map_a, map_b = np.random.default_rng(1).normal(size=(6, 40)), np.random.default_rng(2).normal(size=(6, 30))
    y = np.repeat(classes, n_per_class)
    latent_a = centres[y] + 0.3 * rng.normal(size=(len(y), 6))
    latent_b = centres[y] + 0.3 * rng.normal(size=(len(y), 6))
    return np.tanh(latent_a @ map_a), np.tanh(latent_b @ map_b), y


def test_heads_align_modalities_and_transfer_to_unseen_classes():
    xa, xb, y = two_views(40, np.arange(8), seed=0)
    heads = ContrastiveHeads(40, 30, lr=3e-3, seed=0).fit(xa, y, xb, y, epochs=40, batch_size=64)
    # ~8 same-class partners per row in a batch of 64: the loss cannot fall below about log 8
    assert heads.losses[0] - heads.losses[-1] > 1.5
    ta, tb, ty = two_views(20, np.arange(8), seed=1)
    seen = heads.retrieval_accuracy(tb, ty, ta, ty)
    assert seen["chance"] == pytest.approx(1 / 8) and seen["prototype"] > 0.9 and seen["sample"] > 0.7
    ua, ub, uy = two_views(30, np.array([8, 9]), seed=2)
    unseen = heads.retrieval_accuracy(ub, uy, ua, uy)
    assert unseen["chance"] == 0.5 and unseen["prototype"] > 0.8
    # untrained heads do not match classes across the modalities
    fresh = ContrastiveHeads(40, 30, seed=0)
    fresh.head_a.set_scaling(torch.as_tensor(xa, dtype=torch.float32))
    fresh.head_b.set_scaling(torch.as_tensor(xb, dtype=torch.float32))
    assert fresh.retrieval_accuracy(tb, ty, ta, ty)["prototype"] < 0.6


def test_heads_bad_input_is_named():
    xa, xb, y = two_views(5, np.arange(3), seed=0)
    heads = ContrastiveHeads(40, 30, dim=8)
    with pytest.raises(ValueError, match=r"xa must be \[n_samples, 40\]"):
        heads.fit(xb, y, xb, y)
    with pytest.raises(ValueError, match="same classes"):
        heads.fit(xa, y, xb[:10], y[:10])
    with pytest.raises(ValueError, match="ya must be 15 integer"):
        heads.fit(xa, y.astype(float), xb, y)
    with pytest.raises(ValueError, match="NaN"):
        heads.fit(np.full_like(xa, np.nan), y, xb, y)
    with pytest.raises(ValueError, match="epochs"):
        heads.fit(xa, y, xb, y, epochs=0)
    with pytest.raises(ValueError, match="modality"):
        heads.embed(xa, "c")
    with pytest.raises(ValueError, match="query class"):
        heads.retrieval_accuracy(xb, y, xa[y < 2], y[y < 2])
