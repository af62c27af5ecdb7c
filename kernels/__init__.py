"""Compute kernels: the numpy reference (the specification) and the Numba CPU kernels.

``get_run_chunk(backend)`` returns the run-chunk function of a backend; all share the
argument layout of :mod:`neurosim.kernels.layout`.
"""

from __future__ import annotations

from . import layout, reference

BACKENDS = ("numpy", "numba")


def get_run_chunk(backend: str):
    """The ``run_chunk`` function of ``backend`` ("numpy" or "numba")."""
    if backend == "numpy":
        return reference.run_chunk
    if backend == "numba":
        from . import numba_cpu  # imported lazily: compiling is only paid by numba users

        return numba_cpu.run_chunk
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


__all__ = ["BACKENDS", "get_run_chunk", "layout", "reference"]
