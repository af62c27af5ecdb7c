"""Numba pieces shared by the surrogate-gradient kernels of every model family.

``surrogate_row`` is the built-in surrogate derivatives' one compiled loop (the torch version
is :func:`neurosim.kernels.common.reference.surrogate_derivative`); ``cast`` keeps float32
maths in float32 inside compiled code; ``as_array`` and ``check_sequence`` are the checks the
torch wrappers make before handing zero-copy numpy views to the compiled code.

Compiled functions are cached on disk (``cache=True``) next to this file; the kernels that call
them are cached with them inlined or linked in.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba.extending import overload

from . import ARCTAN, FAST_SIGMOID, TRIANGLE

__all__ = ["as_array", "cast", "check_sequence", "surrogate_row"]

# A leaf loop: no reference counting (it allocates nothing, and every array it is handed is kept
# alive by its caller) and error_model="numpy", i.e. no zero check on float division (which kept
# LLVM from vectorising the surrogates' divisions; no divisor here can be 0).
_leaf = numba.njit(cache=True, nogil=True, error_model="numpy", _nrt=False)


def cast(like, value):  # pragma: no cover - replaced by the overload inside compiled code
    pass


@overload(cast, inline="always")
def _cast_overload(like, value):
    """``value`` in the dtype of the array ``like`` (keeps float32 maths in float32: a Python
    float would promote it to float64)."""
    dtype = like.dtype
    return lambda like, value: dtype(value)


@_leaf
def surrogate_row(surrogate_id, c0, c1, a, b, out):
    """``out[i] = surrogate_derivative(id, param, a[i] - b[i])`` for the contiguous arrays ``a``
    (membrane), ``b`` (threshold), ``out`` of one length; ``c0``, ``c1`` are the id's constants
    (``neurosim.kernels.common.surrogate_constants``) in the arrays' dtype. The id is tested once,
    outside the loops, so each loop is branch-free and vectorises."""
    one, zero = cast(out, 1.0), cast(out, 0.0)
    n = out.shape[0]
    if surrogate_id == FAST_SIGMOID:  # 1 / (p |x| + 1)^2
        for i in range(n):
            d = c0 * abs(a[i] - b[i]) + one
            out[i] = one / (d * d)
    elif surrogate_id == ARCTAN:  # (p / 2) / (1 + (pi p / 2 x)^2); torch's scalar / tensor
        for i in range(n):           # multiplies by the reciprocal, and so do we
            z = c1 * (a[i] - b[i])
            out[i] = c0 * (one / (one + z * z))
    elif surrogate_id == TRIANGLE:  # p max(0, 1 - |x|)
        for i in range(n):
            out[i] = c0 * max(zero, one - abs(a[i] - b[i]))
    else:  # SIGMOID: p sig (1 - sig), sig = sigmoid(p x)
        for i in range(n):
            sig = one / (one + np.exp(-(c0 * (a[i] - b[i]))))
            out[i] = c0 * sig * (one - sig)


def check_sequence(owner: str, name: str, x) -> None:
    """``x`` must be a float32 or float64 ``[T, B, N]`` tensor (``owner`` and ``name`` say whose
    and which in the messages)."""
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{owner}: {name} must be float32 or float64, got {x.dtype}")
    if x.dim() != 3:
        raise ValueError(f"{owner}: {name} must be [T, B, N], got shape {tuple(x.shape)}")


def as_array(owner: str, name: str, t, dtype: torch.dtype, shape: tuple | None = None, flat: int = 0,
             like: str = "the input's"):
    """Zero-copy numpy view of the CPU tensor ``t`` of ``dtype`` (and ``shape`` unless None),
    copied only if not contiguous; None stays None. ``flat`` > 0 merges its last dimensions into
    one, leaving ``flat`` dimensions (``[T, B, N]`` -> ``[T, B*N]``). ``like`` names the tensor
    whose dtype is expected, for the message."""
    if t is None:
        return None
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{owner}: {name} must be a CPU tensor, got one on {t.device}")
    if t.dtype != dtype:
        raise TypeError(f"{owner}: {name} has dtype {t.dtype}, expected {dtype} ({like})")
    if shape is not None and tuple(t.shape) != shape:
        raise ValueError(f"{owner}: {name} has shape {tuple(t.shape)}, expected {shape}")
    a = t.detach().contiguous().numpy()  # contiguous() is free for contiguous tensors
    return a.reshape(a.shape[:flat - 1] + (-1,)) if flat else a
