"""Compiled helpers for building networks: steps whose numpy form would sort or copy every
synapse, written as one pass instead (``neurosim.connect`` calls them)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _scatter_rows(sources, cursor, k, target):
    # fixed row length k: entry j belongs to row (target) j // k; visiting entries in order keeps
    # every source's targets ascending
    for j in range(sources.shape[0]):
        s = sources[j]
        target[cursor[s]] = j // k
        cursor[s] += 1


def transpose_rows(sources: np.ndarray, indptr: np.ndarray, k: int) -> np.ndarray:
    """Targets (int32) of the CSR over sources, from ``sources`` (int32 [n_targets * k]: the k
    sources of target 0, then of target 1, ...) and its row pointers ``indptr``: a counting
    sort, one pass, no permutation array. Within a row the targets are ascending."""
    target = np.empty(sources.size, dtype=np.int32)
    if sources.size:
        _scatter_rows(sources, indptr[:-1].copy(), k, target)
    return target
