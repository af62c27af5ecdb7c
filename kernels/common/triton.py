"""Triton pieces shared by the surrogate-gradient kernels of every model family.

``surrogate`` is the built-in surrogate derivatives' one ``triton.jit`` function (the torch
version is :func:`neurosim.kernels.common.reference.surrogate_derivative`), ``neuron_block``
the neurons of one program of a kernel over independent neurons; ``check_device``
says whether the kernels can run on a device; ``LAUNCH``, ``block_config`` and
``surrogate_meta`` are the launch options, block sizes and surrogate arguments the wrappers pass.

``triton`` and ``tl`` are None where triton is not installed (``check_device`` then says how to
get it). Triton decides between interpreter and compiler when a kernel is decorated, i.e. when
the module defining it is imported; the families' Triton modules import this one first, so
``INTERPRETED`` holds for their kernels too, and TRITON_INTERPRET must be set before any of
them is imported.
"""

from __future__ import annotations

import os

import torch

from . import BUILT_IN, surrogate_constants

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised only where triton is missing
    triton = None
    tl = None

__all__ = ["INTERPRETED", "LAUNCH", "NO_SURROGATE", "block_config", "check_device", "neuron_block", "surrogate",
           "surrogate_meta", "tl", "triton"]

# Whether the kernels were built for Triton's interpreter (see the module docstring).
INTERPRETED = triton is not None and os.environ.get("TRITON_INTERPRET") == "1"

NO_SURROGATE = -1  # surrogate_grad is given: the kernel loads it instead

# No FMA contraction: ``beta * v + x`` and the like round as in torch, so membranes (and hence
# spikes) are bit-identical to the torch reference; these kernels are memory-bound.
LAUNCH = dict(enable_fp_fusion=False)
_TARGET_PROGRAMS = 512  # ~4 per SM on an H100 (132 SMs): enough to fill the GPU and hide latency


def check_device(device) -> None:
    """Raise unless the Triton kernels can run on ``device``.

    CUDA devices are fine; CPU tensors only run in Triton's interpreter (``TRITON_INTERPRET=1``,
    set before triton is imported).
    """
    if triton is None:
        raise ImportError("backend 'triton' needs the triton package: pip install triton")
    device = torch.device(device)
    if device.type == "cuda":
        return
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1":
        if not INTERPRETED:
            raise ValueError(
                "backend 'triton' on CPU tensors needs TRITON_INTERPRET=1 set before "
                "neurosim's Triton kernels (and triton) are imported")
        return
    raise ValueError(
        f"backend 'triton' needs a CUDA tensor or TRITON_INTERPRET=1 (Triton's CPU interpreter), "
        f"got a tensor on {device}")


def block_config(numel: int, max_block: int, per_warp: int) -> tuple[int, int]:
    """(BLOCK, num_warps) of a kernel with one program per ``BLOCK`` of ``numel`` independent
    neurons: about ``_TARGET_PROGRAMS`` programs, ``BLOCK`` a power of two in ``[128,
    max_block]``, one warp per ``per_warp`` neurons (1 to 4). Kernels that keep more values a
    neuron in registers take a smaller ``max_block`` and ``per_warp``."""
    block = triton.next_power_of_2(max(1, triton.cdiv(numel, _TARGET_PROGRAMS)))
    block = min(max(block, 128), max_block)
    return block, max(1, min(4, block // per_warp))


def surrogate_meta(surrogate_id, surrogate_param, has_surrogate_grad: bool) -> dict:
    """The ``SURROGATE``, ``C0``, ``C1`` constexpr arguments of a backward kernel: the built-in
    id and its constants, or ``NO_SURROGATE`` when ``surrogate_grad`` is given (one compiled
    variant for all custom surrogates). The constants are constexpr so that they enter float64
    kernels at full precision (a run-time float argument would be passed as float32); a new
    value compiles a new kernel, once."""
    if has_surrogate_grad:
        return dict(SURROGATE=NO_SURROGATE, C0=0.0, C1=0.0)
    sid = int(surrogate_id)
    if sid not in BUILT_IN:
        raise ValueError(f"unknown surrogate id {surrogate_id} and no surrogate_grad given")
    c0, c1 = surrogate_constants(sid, float(surrogate_param))
    return dict(SURROGATE=sid, C0=c0, C1=c1)


if triton is not None:

    @triton.jit
    def neuron_block(BN, BLOCK: tl.constexpr):
        """``(offs, mask)``: this program's ``BLOCK`` neurons of the flattened ``[B*N]`` plane
        (``BN = B*N``; grid ``cdiv(BN, BLOCK)``, see ``block_config``) and which of them exist."""
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        return offs, offs < BN

    @triton.jit
    def surrogate(x, SURROGATE: tl.constexpr, C0: tl.constexpr, C1: tl.constexpr):
        """``surrogate_derivative`` of the reference at ``x`` (membrane minus threshold);
        ``C0``, ``C1`` are the id's constants (``surrogate_constants``)."""
        if SURROGATE == 0:  # fast sigmoid
            q = C0 * tl.abs(x) + 1.0
            g = 1.0 / (q * q)
        elif SURROGATE == 1:  # arctan
            z = C1 * x
            g = C0 / (1.0 + z * z)
        elif SURROGATE == 2:  # triangle
            g = C0 * tl.maximum(1.0 - tl.abs(x), 0.0)
        else:  # sigmoid
            sig = 1.0 / (1.0 + tl.exp(-(C0 * x)))
            g = C0 * sig * (1.0 - sig)
        return g
