"""Fused LIF sequences: one kernel call forward, one backward, whatever T is.

``lif_sequence`` runs the recurrence of ``kernels/lif/reference.py`` over a whole
sequence on the chosen backend:

- ``"numba"``: fused Numba CPU kernels (CPU tensors; the default there),
- ``"triton"``: fused Triton kernels (CUDA tensors; the default there; CPU tensors under
  ``TRITON_INTERPRET=1``, which is how CI tests them),
- ``"reference"``: the torch loop differentiated by autograd (the specification; slow),
- ``"torch"``: the fused kernels' contract written as torch loops (forward and explicit
  backward; for tests of the plumbing, slow).

The fused backends save only the membrane ``u`` (one value per neuron-step, plus the
spikes for recurrent layers) and recompute everything else in the backward kernel.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from neurosim.kernels.lif import reference
from neurosim.kernels.lif.reference import RESET_NONE, RESET_SUBTRACT, RESET_ZERO
from neurosim.validation import as_real_array, check_flag

from .surrogate import CUSTOM, Surrogate, check_surrogate

RESETS = {"subtract": RESET_SUBTRACT, "zero": RESET_ZERO, "none": RESET_NONE}
BACKENDS = ("auto", "numba", "triton", "reference", "torch")


def load_kernel(backend: str, device: torch.device, *, contract, numba: str, triton: str):
    """The kernel module of ``backend`` for tensors on ``device``: ``contract`` (the torch
    version of the kernels) for ``"torch"``, else ``neurosim.kernels.<numba>`` or ``<triton>``,
    imported on first use so that numba/triton load only when asked for."""
    if backend == "torch":
        return contract
    if backend == "numba":
        if device.type != "cpu":
            raise ValueError(f"backend 'numba' runs on CPU tensors, got a tensor on {device}")
        return importlib.import_module(f"neurosim.kernels.{numba}")
    if backend == "triton":
        module = importlib.import_module(f"neurosim.kernels.{triton}")
        module.check_device(device)
        return module
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def _kernel_module(backend: str, device: torch.device):
    return load_kernel(backend, device, contract=reference, numba="lif.numba", triton="lif.triton")


def check_reset(reset) -> str:
    """One of the reset names of ``RESETS``."""
    if not isinstance(reset, str) or reset not in RESETS:
        raise ValueError(f"reset must be one of {tuple(RESETS)}, got {reset!r:.40}")
    return reset


def check_input(name: str, x, n: int | None = None) -> None:
    """``x`` must be a float32 or float64 ``[T, batch, n]`` tensor with ``T >= 1`` (any ``n`` when
    None); ``name`` says whose input it is in the messages."""
    want = f"[T, batch, {'n' if n is None else n}]"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {want}, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got {x.dtype}")
    if x.dim() != 3:
        raise ValueError(f"{name} must be time-major {want}, got shape {tuple(x.shape)}")
    if n is not None and x.shape[-1] != n:
        raise ValueError(f"{name} has {x.shape[-1]} features, the layer has {n} neurons: expected {want}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one time step, got shape {tuple(x.shape)}")


def as_real_tensor(name: str, value) -> torch.Tensor:
    """``value`` (a number, array-like or tensor) as a real tensor. Booleans, strings and
    complex numbers are refused: ``beta=True`` or ``beta='0.9'`` is a mistake, not a value."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a {value.dtype} tensor")
        return value
    return torch.as_tensor(as_real_array(name, value))


def check_tensor(name: str, t, shape: tuple, like: torch.Tensor, *, axes: tuple = (), cast: bool = False,
                 complex_ok: bool = False) -> torch.Tensor:
    """``t`` must be a floating (or, with ``complex_ok``, complex) tensor of exactly ``shape``
    (``axes`` names its axes in the messages) on ``like``'s device. ``cast``: returned in
    ``like``'s dtype (a complex tensor keeps its own); otherwise its dtype must be ``like``'s.

    Nothing is broadcast: a state without the batch axis is a mistake, not a state shared by
    the batch (and broadcasting would hide which sequences it belongs to)."""
    want = "[" + ", ".join(map(str, shape)) + "]"
    if axes:
        want = f"[{', '.join(axes)}] = {want}"
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {want}, got {type(t).__name__}")
    if not (t.is_floating_point() or (complex_ok and t.is_complex())):
        kinds = "a floating-point or complex" if complex_ok else "a floating-point"
        raise TypeError(f"{name} must be {kinds} tensor, got {t.dtype}")
    if tuple(t.shape) != tuple(shape):
        hint = ""
        if tuple(t.shape) == tuple(shape[1:]):
            hint = f" (the batch axis is missing: expand it to {list(shape)} to give every sequence the same state)"
        raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}{hint}")
    if t.device != like.device:
        raise TypeError(f"{name} is on {t.device} and the input on {like.device}: pass them on one device")
    if cast:
        return t.to(t.dtype if t.is_complex() else like.dtype)
    if t.dtype != like.dtype:
        raise TypeError(f"{name} must have the input's dtype ({like.dtype}), got {t.dtype}")
    return t


def resolve_backend(backend: str, device: torch.device) -> str:
    """``"auto"`` -> ``"triton"`` on CUDA, ``"numba"`` on CPU; others are checked."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "triton" if device.type == "cuda" else "numba"
    return backend


@dataclass(frozen=True)
class _Config:
    kernel: object
    reset: int
    detach_reset: bool
    surrogate: Surrogate


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, s0, beta, threshold, w_rec, config: _Config):
        spikes, u = config.kernel.lif_forward(x, v0, s0, beta, threshold, w_rec, config.reset)
        ctx.config = config
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u, v0, s0, beta, threshold, w_rec, spikes if w_rec is not None else None)
        return spikes, u

    @staticmethod
    def backward(ctx, grad_spikes, grad_u):
        u, v0, s0, beta, threshold, w_rec, spikes = ctx.saved_tensors
        config = ctx.config
        if grad_spikes is None and grad_u is None:
            return (None,) * 7
        # The Numba kernels read a gradient broadcast over time in place (``spikes.sum()`` gives
        # one): materialising it would cost a full [T, B, N] write, as much as a kernel pass.
        strided_ok = getattr(config.kernel, "ACCEPTS_BROADCAST_GRADS", False)
        if grad_spikes is None:
            grad_spikes = u.new_zeros(()).expand_as(u) if strided_ok else torch.zeros_like(u)
        if not strided_ok:
            grad_spikes = grad_spikes.contiguous()
            grad_u = None if grad_u is None else grad_u.contiguous()
        surrogate = config.surrogate
        surrogate_grad = None
        if surrogate.kernel_id == CUSTOM:
            surrogate_grad = surrogate.derivative(u - threshold).contiguous()
        du, dbeta, dthr = config.kernel.lif_backward(
            grad_spikes, grad_u, u, v0, beta, threshold,
            w_rec, config.reset, config.detach_reset, surrogate.kernel_id, float(surrogate.param), surrogate_grad,
        )
        grad_v0 = beta * du[0] if ctx.needs_input_grad[1] else None
        grad_beta = dbeta.sum(0) if ctx.needs_input_grad[3] else None
        grad_thr = dthr.sum(0) if ctx.needs_input_grad[4] else None
        grad_s0 = grad_w = None
        if w_rec is not None:
            n = u.shape[-1]
            if ctx.needs_input_grad[2]:
                grad_s0 = du[0] @ w_rec
            if ctx.needs_input_grad[5]:
                # sum_t du[t].T @ s[t-1], as two products so the spikes are not copied.
                grad_w = du[0].T @ s0 + du[1:].reshape(-1, n).T @ spikes[:-1].reshape(-1, n)
        return du, grad_v0, grad_s0, grad_beta, grad_thr, grad_w, None


def lif_sequence(
    x: torch.Tensor,
    v0: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    surrogate: Surrogate,
    reset: str = "subtract",
    detach_reset: bool = False,
    w_rec: torch.Tensor | None = None,
    s0: torch.Tensor | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """LIF neurons over a sequence; returns ``(spikes, u)``, both ``[T, B, N]``.

    Parameters
    ----------
    x : input per step ``[T, B, N]`` (already weighted: the output of a ``Linear``), float.
    v0 : membrane at the start ``[B, N]``.
    beta : decay per step ``[N]`` in (0, 1] (``exp(-dt / tau_mem)``).
    threshold : firing threshold ``[N]``, > 0.
    surrogate : derivative used for the spikes in the backward pass.
    reset : ``"subtract"`` (v -= threshold), ``"zero"`` (v = 0) or ``"none"``.
    detach_reset : no gradient through the spike in the reset term.
    w_rec : recurrent weights ``[N, N]`` (row = target), ``s0 [B, N]`` the spikes of the step
        before; the recurrent input ``s[t-1] @ w_rec.T`` is added inside the time loop.
    backend : ``"auto"``, ``"numba"``, ``"triton"`` or ``"reference"`` (see module docs).

    The state after the sequence is ``v = reset(u[-1], spikes[-1])`` (and ``spikes[-1]``).
    """
    check_input("x", x)
    reset_id = RESETS[check_reset(reset)]
    check_surrogate(surrogate)
    _, B, N = x.shape
    for name, t, shape in (("v0", v0, (B, N)), ("beta", beta, (N,)), ("threshold", threshold, (N,))):
        check_tensor(name, t, shape, x)
    for name, t, shape in (("w_rec", w_rec, (N, N)), ("s0", s0, (B, N))):  # optional
        if t is not None:
            check_tensor(name, t, shape, x)
    backend = resolve_backend(backend, x.device)
    if w_rec is not None and s0 is None:
        s0 = torch.zeros_like(v0)
    if backend == "reference":
        return reference.lif_sequence_reference(x, v0, beta, threshold, surrogate, reset_id, detach_reset, w_rec, s0)
    config = _Config(_kernel_module(backend, x.device), reset_id, check_flag("detach_reset", detach_reset), surrogate)
    return _FusedLIF.apply(x.contiguous(), v0.contiguous(), None if s0 is None else s0.contiguous(),
                           beta.contiguous(), threshold.contiguous(),
                           None if w_rec is None else w_rec.contiguous(), config)
