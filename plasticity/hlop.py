"""HLOP: Hebbian learning based orthogonal projection for continual learning (Xiao et al., ICLR 2024).

Each layer gets lateral "subspace" neurons ``H [M, N]`` that read the layer's presynaptic
activity ``x [N]`` (``y = H x``) and learn by Oja's subspace rule, a Hebbian / anti-Hebbian
rule (``dH = y (x - H^T y)^T``): after a task their rows span the principal subspace of that
task's activity. While a later task is learned, the weight updates of the layer use the
activity with that subspace removed, ``x - H^T H x``, so they leave the old tasks' responses
(almost) alone. The subspace is found by the Hebbian dynamics, not by an SVD.

As in the authors' code: the rule is batch-averaged and clamped to [-10, 10] elementwise,
smoothed by an exponential moving average (``m <- momentum m + (1 - momentum) dH``,
``H <- H + lr m``); each task adds new neurons whose rows start orthonormal among themselves;
only the newest task's rows learn (the old ones are frozen), and the reconstruction uses all
rows, so the new rows capture what the old ones miss.

::

    import torch
    from neurosim.plasticity import HLOP

    model = torch.nn.Sequential(torch.nn.Linear(64, 100, bias=False), ...)
    hlop = HLOP([model[0], model[2]], learning_rate=0.01, iterations=5)
    for task, neurons in enumerate((40, 20, 20)):
        hlop.begin_task(neurons)
        for x, y in batches(task):
            opt.zero_grad(); loss(model(x), y).backward()
            hlop.project_gradients()   # from the second task on: remove the old subspaces
            opt.step()
            hlop.hebbian_update()      # lateral neurons learn from the inputs just seen
        hlop.end_task()
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from neurosim.memory import check_memory
from neurosim.nn.functional import as_real_tensor
from neurosim.validation import check_flag, check_int

from .readout import check_rate


class HebbianSubspace:
    """Lateral subspace neurons of one layer: weights ``H [M, n_inputs]``.

    Parameters
    ----------
    n_inputs : presynaptic dimension ``N`` of the layer.
    learning_rate : step ``lr`` of the Hebbian rule (authors: 0.001 for a 784-d input layer,
        0.01 for 800-d hidden layers).
    momentum : the rule's exponential moving average factor, in [0, 1).
    clamp : elementwise bound of the batch-averaged update (> 0).
    seed : for the orthonormal initial rows of new neurons.
    orthonormalize : at the end of each task make the rows orthonormal (see :meth:`freeze`);
        the authors do not (False reproduces them).
    """

    def __init__(self, n_inputs: int, *, learning_rate: float = 0.01, momentum: float = 0.9, clamp: float = 10.0,
                 seed=None, orthonormalize: bool = True, dtype=torch.float32, device=None):
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=1)
        self.learning_rate = check_rate("learning_rate", learning_rate, positive=True)
        self.momentum = check_rate("momentum", momentum)
        if not self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.clamp = check_rate("clamp", clamp, positive=True)
        self.orthonormalize = check_flag("orthonormalize", orthonormalize)
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating torch.dtype (torch.float32, torch.float64), got {dtype!r:.40}")
        try:
            device = None if device is None else torch.device(device)
        except (TypeError, RuntimeError) as err:
            raise TypeError(f"device must be a torch.device or a device name such as 'cpu', got {device!r:.40} "
                            f"({err})") from None
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0) if seed is not None else
                                                       int(torch.randint(0, 2**31 - 1, ()).item()))
        self.weights = torch.zeros(0, n_inputs, dtype=dtype, device=device)
        self.n_frozen = 0  # rows of earlier tasks: read by the reconstruction, never updated
        self._velocity = torch.zeros(0, n_inputs, dtype=dtype, device=device)

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]

    def add_neurons(self, k: int) -> None:
        """Add ``k`` learning neurons (rows orthonormal among themselves) for a new task."""
        k = check_int("k", k, minimum=0)
        self._check_room(k)
        if k == 0:
            return
        # the float64 draw, its QR factors, and the rows and velocities in the subspace's dtype
        check_memory(f"{k} subspace neurons of {self.n_inputs} inputs", 8.0 * 4 * k * self.n_inputs,
                     "add fewer neurons")
        g = torch.randn(self.n_inputs, k, generator=self.generator, dtype=torch.float64)
        q, _ = torch.linalg.qr(g)  # [N, k], orthonormal columns
        self.append_rows(q.T)

    def _check_room(self, k: int) -> None:
        if self.n_neurons + k > self.n_inputs:
            raise ValueError(f"cannot add {k} subspace neurons: {self.n_neurons} exist and the layer has only "
                             f"{self.n_inputs} inputs (at most n_inputs neurons in all)")

    def append_rows(self, rows) -> None:
        """Append ``rows [k, n_inputs]`` as learning neurons (e.g. a basis found otherwise,
        as GPM does by SVD; :meth:`freeze` then fixes them)."""
        rows = as_real_tensor("rows", rows).to(self.weights)
        if rows.ndim != 2 or rows.shape[1] != self.n_inputs:
            raise ValueError(f"rows must have shape [k, n_inputs = {self.n_inputs}], got {tuple(rows.shape)}")
        if not bool(torch.isfinite(rows).all()):
            raise ValueError("rows must be finite (got NaN or inf)")
        self._check_room(rows.shape[0])
        self.weights = torch.cat([self.weights, rows])
        self._velocity = torch.cat([self._velocity, torch.zeros_like(rows)])

    def freeze(self) -> None:
        """End of a task: every current row becomes an old one (kept, no longer updated).

        With ``orthonormalize`` the new rows are first made orthonormal to the old ones and to
        each other (Gram-Schmidt in row order: old rows unchanged), which spans the same
        subspace: ``x - H^T H x`` is then exactly the projection onto its orthogonal complement.
        The Hebbian rows are only approximately orthonormal after finite training, and the
        errors add up over tasks: ``I - H^T H`` can then flip or amplify gradient directions
        (measured: permuted digits, 5 tasks, 500 of 512 hidden rows used: accuracy on task 1
        fell to 13 % at the fifth task without it)."""
        if self.orthonormalize and self.n_neurons > self.n_frozen:
            q, r = torch.linalg.qr(self.weights.T.to(torch.float64))
            q = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(q)  # keep each row's sign
            self.weights = q.T.to(self.weights)
        self.n_frozen = self.n_neurons
        self._velocity.zero_()

    def _activity(self, x) -> torch.Tensor:
        """``x [..., n_inputs]`` (a tensor or array-like of real numbers) as a floating tensor."""
        x = as_real_tensor("x", x)
        if x.dim() == 0 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"x must have last dimension n_inputs = {self.n_inputs}, got shape {tuple(x.shape)}")
        return x if x.is_floating_point() else x.to(self.weights.dtype)

    def hebbian_step(self, x, iterations: int = 1) -> None:
        """``iterations`` steps of Oja's subspace rule on presynaptic activity ``x [..., n_inputs]``
        (all leading dimensions, e.g. time and batch, are samples): ``dH = y^T (x - H^T y) / B``
        for the learning rows, clamped, smoothed and applied."""
        x = self._activity(x).reshape(-1, self.n_inputs).to(self.weights)
        iterations = check_int("iterations", iterations, minimum=0)
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x (the presynaptic activity) holds NaN or inf")
        if self.n_frozen == self.n_neurons or x.shape[0] == 0 or iterations == 0:
            return
        # the frozen rows do not change during the steps: their part of the reconstruction is
        # computed once (the same sum, regrouped; the steps then cost O(new rows), not O(all rows))
        old = self.weights[: self.n_frozen]
        outside_old = x - (x @ old.T) @ old           # [B, N]
        for _ in range(iterations):
            new = self.weights[self.n_frozen:]
            y = x @ new.T                             # [B, k]: the learning neurons' outputs
            residual = outside_old - y @ new          # [B, N]: what the whole subspace misses
            dh = (y.T @ residual / x.shape[0]).clamp_(-self.clamp, self.clamp)
            v = self._velocity[self.n_frozen:]
            v.mul_(self.momentum).add_(dh, alpha=1.0 - self.momentum)
            self.weights[self.n_frozen:] += self.learning_rate * v
        if not bool(torch.isfinite(self.weights).all()):
            raise FloatingPointError("the Hebbian subspace weights blew up (NaN or inf): lower learning_rate")

    def project(self, x, *, frozen_only: bool = True) -> torch.Tensor:
        """``x - H^T (H x)`` for ``x [..., n_inputs]`` (rows of ``x``): the part of ``x``
        outside the subspace of the old tasks (``frozen_only``) or of all neurons."""
        x = self._activity(x)
        h = (self.weights[: self.n_frozen] if check_flag("frozen_only", frozen_only) else self.weights).to(x)
        return x - (x @ h.T) @ h


class HLOP:
    """Hebbian orthogonal projection for the linear layers of a torch model.

    Parameters
    ----------
    layers : the ``torch.nn.Linear`` layers (weights ``[out, in]``) whose updates are
        projected; each gets a :class:`HebbianSubspace` on its input.
    learning_rate : Hebbian step, one value or one per layer.
    iterations : Hebbian steps per :meth:`hebbian_update` (authors: 5 per minibatch).
    momentum, clamp, orthonormalize : see :class:`HebbianSubspace`.
    seed : for the initial rows.

    The layers' inputs are recorded by forward hooks while the model runs (detached: the
    spikes of every time step when the layer is applied to ``[T, batch, in]``);
    :meth:`hebbian_update` learns from them and clears them. :meth:`project_gradients` turns each
    weight gradient ``G = sum delta x^T`` into ``sum delta x_orth^T = G (I - H^T H)`` with the old
    tasks' rows (exactly the update from the projected inputs, without storing them).
    """

    def __init__(self, layers: Sequence[torch.nn.Linear], *, learning_rate=0.01, iterations: int = 5,
                 momentum: float = 0.9, clamp: float = 10.0, orthonormalize: bool = True, seed=0):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one torch.nn.Linear")
        for i, layer in enumerate(layers):
            if not isinstance(layer, torch.nn.Linear):
                raise TypeError(f"layers[{i}] must be a torch.nn.Linear, got {type(layer).__name__}")
        rates = list(learning_rate) if isinstance(learning_rate, (list, tuple)) else [learning_rate] * len(layers)
        if len(rates) != len(layers):
            raise ValueError(f"learning_rate must be one number or one per layer ({len(layers)}), got {len(rates)}")
        self.layers = layers
        self.iterations = check_int("iterations", iterations, minimum=0)
        base = 0 if seed is None else check_int("seed", seed, minimum=0)
        self.subspaces = [HebbianSubspace(layer.in_features, learning_rate=r, momentum=momentum, clamp=clamp,
                                          orthonormalize=orthonormalize, seed=base + i, dtype=layer.weight.dtype,
                                          device=layer.weight.device)
                          for i, (layer, r) in enumerate(zip(layers, rates))]
        self._inputs = [[] for _ in layers]
        self.recording = True
        self.task = -1
        self._handles = [layer.register_forward_pre_hook(self._recorder(i)) for i, layer in enumerate(layers)]

    def _recorder(self, i):
        def hook(module, args):
            if self.recording and torch.is_grad_enabled():
                self._inputs[i].append(args[0].detach())
        return hook

    def record(self, i: int, x) -> None:
        """Record presynaptic activity ``x [..., in]`` of layer ``i`` for the next
        :meth:`hebbian_update` (for training loops that do not call the layer module, e.g.
        trace-based online rules, which apply the weights functionally)."""
        i = check_int("i", i, minimum=0)
        if i >= len(self.layers):
            raise ValueError(f"i must name one of the {len(self.layers)} layers (0 to {len(self.layers) - 1}), got {i}")
        layer = self.layers[i]
        x = as_real_tensor("x", x)
        if x.dim() == 0 or x.shape[-1] != layer.in_features:
            raise ValueError(f"x must have last dimension {layer.in_features} (layer {i}'s inputs), "
                             f"got shape {tuple(x.shape)}")
        self._inputs[i].append(x.detach())

    def begin_task(self, neurons) -> None:
        """Start a task: add ``neurons`` subspace neurons to every layer (one int, or one per layer)."""
        ks = list(neurons) if isinstance(neurons, (list, tuple)) else [neurons] * len(self.layers)
        if len(ks) != len(self.layers):
            raise ValueError(f"neurons must be one int or one per layer ({len(self.layers)}), got {len(ks)}")
        ks = [check_int("neurons", k, minimum=0) for k in ks]
        for s, k in zip(self.subspaces, ks):  # all checked first: no layer grows when another cannot
            s._check_room(k)
        for s, k in zip(self.subspaces, ks):
            s.add_neurons(k)
        self.task += 1

    def end_task(self) -> None:
        """End a task: its subspace neurons are frozen and projected out from now on."""
        for s in self.subspaces:
            s.freeze()
        self.clear()

    def clear(self) -> None:
        """Forget the recorded inputs."""
        self._inputs = [[] for _ in self.layers]

    def hebbian_update(self, iterations: int | None = None) -> None:
        """``iterations`` Hebbian steps per layer on the inputs recorded since the last call."""
        n = self.iterations if iterations is None else check_int("iterations", iterations, minimum=0)
        for s, xs in zip(self.subspaces, self._inputs):
            if not xs:
                continue
            s.hebbian_step(torch.cat([x.reshape(-1, s.n_inputs) for x in xs]), n)
        self.clear()

    @torch.no_grad()
    def project_gradients(self) -> None:
        """Remove the old tasks' subspaces from every layer's weight gradient (in place)."""
        for layer, s in zip(self.layers, self.subspaces):
            if layer.weight.grad is not None and s.n_frozen:
                layer.weight.grad.copy_(s.project(layer.weight.grad))

    def remove(self) -> None:
        """Detach the forward hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []


def principal_angles_deg(a, b) -> list[float]:
    """Principal angles (degrees, ascending) between the row spaces of ``a [k, N]`` and ``b [l, N]``."""
    a, b = (as_real_tensor(name, v).to(torch.float64) for name, v in (("a", a), ("b", b)))
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or 0 in (a.shape[0], b.shape[0]):
        raise ValueError(f"a and b must be non-empty [k, N] and [l, N] row sets, got shapes {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    qa, _ = torch.linalg.qr(a.T)
    qb, _ = torch.linalg.qr(b.T)
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return [math.degrees(math.acos(float(v))) for v in s]
