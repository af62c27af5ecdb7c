"""What the surrogate-gradient kernels of every model family share, one module per backend.

The kernels of ``neurosim.nn`` are grouped by model family (:mod:`neurosim.kernels.lif`,
:mod:`neurosim.kernels.izhikevich`), each with a torch ``reference`` (the specification and
the fused kernels' contract), a ``numba`` (CPU) and a ``triton`` (GPU) module. This package
holds, once per backend, what they all use:

- ``reference``: the built-in surrogate derivatives in torch (``surrogate_derivative``);
- ``numba``: the same derivatives as a compiled loop (``surrogate_row``), the dtype-keeping
  constant cast and the checks that turn torch tensors into zero-copy numpy views;
- ``triton``: the derivatives as a ``triton.jit`` function (``surrogate``), the device check
  (CUDA, or CPU under ``TRITON_INTERPRET=1``), the launch options and block sizes.

This module itself imports neither torch, numba nor triton: it holds the surrogate ids the
kernels switch on (``neurosim.nn.surrogate`` gives them to its built-ins) and the constants
each id needs, computed once for every backend.
"""

from __future__ import annotations

import math

FAST_SIGMOID, ARCTAN, TRIANGLE, SIGMOID = 0, 1, 2, 3  # ids of the built-in surrogates
BUILT_IN = (FAST_SIGMOID, ARCTAN, TRIANGLE, SIGMOID)


def surrogate_constants(surrogate_id: int, param: float) -> tuple[float, float]:
    """The two constants ``(c0, c1)`` a kernel needs for surrogate ``surrogate_id`` with shape
    parameter ``param``, computed in double as the torch reference does (a kernel rounds them to
    its dtype): arctan uses ``(param / 2, pi / 2 * param)``, the others ``(param, 0)``.

    The derivatives at ``x`` (``u - threshold``) are then
        fast sigmoid  1 / (c0 |x| + 1)^2
        arctan        c0 / (1 + (c1 x)^2)
        triangle      c0 max(0, 1 - |x|)
        sigmoid       c0 sig (1 - sig),  sig = 1 / (1 + exp(-c0 x))
    """
    if surrogate_id == ARCTAN:
        return param / 2.0, math.pi / 2.0 * param
    if surrogate_id not in BUILT_IN:
        raise ValueError(f"unknown surrogate id {surrogate_id} and no surrogate_grad given")
    return float(param), 0.0
