"""Contrastive projection heads: align two modalities' features in a shared space, so classes
never trained on can be recognised by matching one modality against the other (zero-shot).

The software side of Lin et al. (2025), "Resistive memory-based zero-shot liquid state
machine": each modality's frozen encoder (here a liquid state machine's states) feeds a
trainable head, one linear layer + GELU into a 64-d space; the heads are trained with a
CLIP-style symmetric InfoNCE loss on pairs matched by class, with Adam. At test time an
audio sample is assigned the class of the image it is most similar to (top-1 retrieval).

Because the pairs are matched by *class* only, two samples of the same class in a batch are
both positives: :func:`clip_loss` takes the labels and spreads the target over every
same-class partner (without labels it is the plain one-positive-per-row CLIP loss).

::

    heads = ContrastiveHeads(n_a=image_states.shape[1], n_b=audio_states.shape[1])
    heads.fit(image_states, image_labels, audio_states, audio_labels, epochs=100)
    acc = heads.retrieval_accuracy(audio_test, audio_labels_test, image_test, image_labels_test)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurosim.memory import check_memory
from neurosim.validation import as_real_array, check_int, check_number, host_values


def clip_loss(za: torch.Tensor, zb: torch.Tensor, labels_a=None, labels_b=None, *,
              temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between embeddings ``za [n, d]`` and ``zb [m, d]`` (L2-normalised
    here). Without labels, row ``i`` of ``za`` and of ``zb`` are the positive pair (n == m);
    with labels, every pair of equal labels is positive and the target of a row is spread
    evenly over its positives."""
    for name, z in (("za", za), ("zb", zb)):
        if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.dim() != 2 or 0 in z.shape:
            raise TypeError(f"{name} must be a non-empty floating-point tensor [n, d], got "
                            f"{type(z).__name__} {tuple(getattr(z, 'shape', ()))}")
    if za.shape[1] != zb.shape[1]:
        raise ValueError(f"za and zb must have the same embedding size d, got {za.shape[1]} and {zb.shape[1]}")
    if za.dtype != zb.dtype or za.device != zb.device:
        raise TypeError(f"za and zb must have one dtype and device, got {za.dtype} on {za.device} and "
                        f"{zb.dtype} on {zb.device}")
    temperature = check_number("temperature", temperature, positive=True)
    if (labels_a is None) != (labels_b is None):
        raise ValueError("give both labels_a and labels_b, or neither")
    za, zb = F.normalize(za, dim=-1), F.normalize(zb, dim=-1)
    logits = za @ zb.T / temperature
    if labels_a is None:
        if za.shape[0] != zb.shape[0]:
            raise ValueError("without labels za and zb need the same number of rows, "
                             f"got {za.shape[0]} and {zb.shape[0]}")
        target = torch.arange(za.shape[0], device=za.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    labels_a = torch.as_tensor(_labels("labels_a", labels_a, za.shape[0]), device=za.device)
    labels_b = torch.as_tensor(_labels("labels_b", labels_b, zb.shape[0]), device=za.device)
    same = (labels_a[:, None] == labels_b[None]).to(logits.dtype)
    if not (same.sum(1).all() and same.sum(0).all()):
        raise ValueError("with labels, every row of za and zb needs at least one partner of its class")
    loss_a = -(same / same.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    loss_b = -(same / same.sum(0, keepdim=True) * F.log_softmax(logits, 0)).sum(0).mean()
    return 0.5 * (loss_a + loss_b)


class ProjectionHead(nn.Module):
    """Standardise the features (mean / SD of the training set, fixed by :meth:`set_scaling`),
    then one linear layer + GELU into ``dim`` dimensions (Lin et al.: 64)."""

    def __init__(self, n_inputs: int, dim: int = 64):
        super().__init__()
        n_inputs, dim = check_int("n_inputs", n_inputs, minimum=1), check_int("dim", dim, minimum=1)
        check_memory(f"ProjectionHead({n_inputs}, {dim})'s weights", 4.0 * (n_inputs + 3) * dim,
                     "use fewer features or a smaller dim")
        self.linear = nn.Linear(n_inputs, dim)
        self.register_buffer("mean", torch.zeros(n_inputs))
        self.register_buffer("scale", torch.ones(n_inputs))

    def set_scaling(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.scale.copy_(1.0 / x.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.linear((x - self.mean) * self.scale))


def _features(name: str, x, n_inputs: int | None = None) -> torch.Tensor:
    x = torch.as_tensor(as_real_array(name, host_values(name, x)).astype(np.float32))
    if x.ndim != 2 or (n_inputs is not None and x.shape[1] != n_inputs):
        want = "[n_samples, n_features]" if n_inputs is None else f"[n_samples, {n_inputs}]"
        raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf")
    return x


def _labels(name: str, y, n: int) -> np.ndarray:
    y = np.asarray(host_values(name, y))
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integer class labels, got shape {y.shape}, dtype {y.dtype}")
    return y


class ContrastiveHeads:
    """Two :class:`ProjectionHead` s (modality a, modality b) trained together by
    :func:`clip_loss` on class-matched batches.

    Parameters
    ----------
    n_a, n_b : feature sizes of the two modalities. dim : shared-space size (64).
    temperature : of the softmax over similarities. lr : Adam's step size.
    seed : initial weights and batch order.
    """

    def __init__(self, n_a: int, n_b: int, *, dim: int = 64, temperature: float = 0.1, lr: float = 1e-3,
                 weight_decay: float = 1e-4, seed: int = 0):
        seed = check_int("seed", seed, minimum=0)
        with torch.random.fork_rng(devices=[]):  # the heads' initial weights, leaving torch's generator alone
            torch.manual_seed(seed)
            self.head_a, self.head_b = ProjectionHead(n_a, dim), ProjectionHead(n_b, dim)
        self.temperature = check_number("temperature", temperature, positive=True)
        self.lr = check_number("lr", lr, positive=True)
        self.weight_decay = check_number("weight_decay", weight_decay, nonnegative=True)
        self.rng = np.random.default_rng(seed)
        self.losses: list[float] = []

    def fit(self, xa, ya, xb, yb, *, epochs: int = 100, batch_size: int = 128) -> "ContrastiveHeads":
        """Train on features ``xa [n, n_a]`` (labels ``ya``) and ``xb [m, n_b]`` (``yb``): each
        batch takes ``batch_size`` samples of ``a`` and, for each, a random ``b`` of the same
        class. One epoch sees every ``a`` sample once. Classes must appear in both."""
        xa = _features("xa", xa, self.head_a.linear.in_features)
        xb = _features("xb", xb, self.head_b.linear.in_features)
        ya, yb = _labels("ya", ya, len(xa)), _labels("yb", yb, len(xb))
        if set(ya.tolist()) != set(yb.tolist()):
            raise ValueError(f"ya and yb must hold the same classes, got {sorted(set(ya.tolist()))} "
                             f"and {sorted(set(yb.tolist()))}")
        epochs, batch_size = check_int("epochs", epochs, minimum=1), check_int("batch_size", batch_size, minimum=2)
        self.head_a.set_scaling(xa)
        self.head_b.set_scaling(xb)
        by_class = {c: np.flatnonzero(yb == c) for c in np.unique(yb)}
        params = list(self.head_a.parameters()) + list(self.head_b.parameters())
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(epochs):
            order = self.rng.permutation(len(xa))
            for start in range(0, len(order), batch_size):
                ia = order[start:start + batch_size]
                ib = np.array([self.rng.choice(by_class[c]) for c in ya[ia]])
                loss = clip_loss(self.head_a(xa[ia]), self.head_b(xb[ib]), ya[ia], yb[ib], temperature=self.temperature)
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(loss.item())
        return self

    @torch.no_grad()
    def embed(self, x, modality: str) -> np.ndarray:
        """L2-normalised embeddings ``[n, dim]`` of features ``x`` of ``modality`` ("a" or "b")."""
        if not isinstance(modality, str) or modality not in ("a", "b"):
            raise ValueError(f"modality must be 'a' or 'b', got {modality!r:.40}")
        head = self.head_a if modality == "a" else self.head_b
        return F.normalize(head(_features("x", x, head.linear.in_features)), dim=-1).numpy()

    def retrieval_accuracy(self, query, query_labels, gallery, gallery_labels, *, query_modality: str = "b",
                           trials: int = 20) -> dict:
        """Top-1 retrieval among the classes of ``gallery_labels``: each query (modality
        ``query_modality``) is compared with one random gallery sample of every class and takes
        the class of the most similar one (chance: 1 / number of classes), averaged over
        ``trials`` draws of the gallery samples; ``"prototype"`` compares with each class's mean
        gallery embedding instead."""
        if not isinstance(query_modality, str) or query_modality not in ("a", "b"):
            raise ValueError(f"query_modality must be 'a' or 'b', got {query_modality!r:.40}")
        other = "a" if query_modality == "b" else "b"
        q, g = self.embed(query, query_modality), self.embed(gallery, other)
        yq, yg = _labels("query_labels", query_labels, len(q)), _labels("gallery_labels", gallery_labels, len(g))
        classes = np.unique(yg)
        if not set(yq.tolist()) <= set(classes.tolist()):
            raise ValueError("every query class must appear in the gallery")
        members = [np.flatnonzero(yg == c) for c in classes]
        hits = []
        for _ in range(check_int("trials", trials, minimum=1)):
            pick = np.array([self.rng.choice(m) for m in members])
            hits.append(classes[np.argmax(q @ g[pick].T, 1)] == yq)
        protos = np.stack([g[m].mean(0) for m in members])
        return {"sample": float(np.mean(hits)), "prototype": float(np.mean(classes[np.argmax(q @ protos.T, 1)] == yq)),
                "chance": 1.0 / len(classes), "n_classes": int(len(classes)), "n_queries": int(len(q))}
