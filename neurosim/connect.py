"""Connectivity rules and the CSR projection they build.

A rule says *which* pairs are connected; ``Network.connect`` draws them with the network's
generator and attaches weights and delays::

    net.connect(exc, inh, ns.connect.random(p=0.1), weight=0.5, delay=1.0)
    net.connect(exc, exc, ns.connect.fixed_in_degree(100), weight=ns.Uniform(0, 0.5))
    net.connect(exc, inh, ns.connect.fixed_out_degree(20), weight=0.5)  # 20 targets per source
    net.connect(inp, exc, ns.connect.one_to_one(), weight=2.0)          # source i -> target i
    net.connect(src, exc, ns.connect.all_to_all(), weight=0.1)
    net.connect(exc, exc, ns.connect.from_matrix(W))       # dense or scipy.sparse; weights from W
    pos = ns.connect.grid_positions((15, 3, 3))            # a 3-D column, as in Maass et al. 2002
    net.connect(col, col, ns.connect.distance(pos, pos, C=0.3, lam=2.0), weight=30.0)

``connect`` stores the synapses by (source, target), which fixes the summation order of inputs.
Rules draw their synapses straight into that order (one CSR row per source, no sort of all
synapses), in int32, so building needs little more memory than the projection itself.
A per-synapse array (weights, delays) follows the order of the rule's pairs: for
``from_matrix`` the order of the matrix's entries (row-major non-zeros of a dense matrix, the
stored order of a sparse one), for the other rules the (source, target) order.
"""

from __future__ import annotations

import abc

from dataclasses import dataclass

import numpy as np

from .memory import check_memory
from .validation import as_real_array, check_int, check_number, host_values


#: Peak bytes per synapse while ``connect`` builds a projection with the rules that draw CSR rows
#: directly (int32 sources and targets, then the weights); the up-front memory check uses it.
BUILD_BYTES_PER_SYNAPSE = 16
#: The same for rules that draw (source, target) pairs and sort them (``from_matrix``,
#: ``distance``): int64 pairs, the sorting permutation and sorted copies.
PAIR_BUILD_BYTES_PER_SYNAPSE = 100
#: Rows drawn at once by the CSR rules (bounds their temporary memory: ~32 MB).
_BLOCK_ENTRIES = 1 << 22


class Rule(abc.ABC):
    """Base class of connectivity rules: ``pairs(n_pre, n_post, rng, allow_self)``."""

    #: whether the rule carries its own weights (``from_matrix``)
    has_weights = False

    @abc.abstractmethod
    def pairs(self, n_pre: int, n_post: int, rng: np.random.Generator, allow_self: bool):
        """(source indices, target indices) of the connected pairs (any order: connect sorts them)."""

    #: peak bytes per synapse while building (see BUILD_BYTES_PER_SYNAPSE)
    build_bytes = PAIR_BUILD_BYTES_PER_SYNAPSE

    def expected_synapses(self, n_pre: int, n_post: int) -> float | None:
        """About how many synapses (an upper estimate) ``pairs`` makes, so that ``connect`` can
        refuse one that cannot fit in memory before drawing it; None if unknown up front."""
        return None

    def csr(self, n_pre: int, n_post: int, rng: np.random.Generator, allow_self: bool) -> tuple[np.ndarray, np.ndarray]:
        """The synapses as CSR rows: ``(indptr int64 [n_pre + 1], targets int32)``, rows by
        source, targets ascending within a row (repeated pairs stay in the rule's order).
        Rules that can draw in this order override it; this default sorts ``pairs``."""
        pre, post = self.pairs(n_pre, n_post, rng, allow_self)
        order = np.lexsort((post, pre))
        return _indptr(pre, n_pre), post[order].astype(np.int32)


def _drop_self(pre, post, allow_self):
    if allow_self:
        return pre, post
    keep = pre != post
    return pre[keep], post[keep]


@dataclass(frozen=True)
class random(Rule):  # noqa: N801 - reads as ns.connect.random(p)
    """Each (source, target) pair independently with probability ``p``."""

    p: float

    def __post_init__(self):
        p = check_number("p", self.p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")

    build_bytes = BUILD_BYTES_PER_SYNAPSE

    def pairs(self, n_pre, n_post, rng, allow_self):
        indptr, target = self.csr(n_pre, n_post, rng, allow_self)
        return np.repeat(np.arange(n_pre, dtype=np.int64), np.diff(indptr)), target.astype(np.int64)

    def csr(self, n_pre, n_post, rng, allow_self):
        # Bernoulli(p) for every pair, drawn as geometric gaps between successive connected
        # pairs in the flattened (source, target) index space: O(synapses) work and memory,
        # not O(n_pre * n_post), and the pairs come out sorted. Drawn in bounded batches, kept
        # as int32 targets and per-source counts.
        n, p = n_pre * n_post, self.p
        counts = np.zeros(n_pre, dtype=np.int64)
        targets, last = [], -1
        if n > 0 and p > 0.0:
            batch = int(min(n * p + 5 * np.sqrt(n * p) + 16, _BLOCK_ENTRIES))
            while True:
                if p == 1.0:
                    flat = np.arange(last + 1, min(last + 1 + batch, n), dtype=np.int64)
                else:
                    # A gap past the end ends the draw; capping it keeps the cumulative sum from
                    # overflowing int64 when p is tiny (numpy returns 2^63 - 1 for p = 1e-300).
                    flat = last + np.cumsum(np.minimum(rng.geometric(p, batch), n + 1))
                inside = flat[flat < n]
                pre, post = inside // n_post, inside % n_post
                if not allow_self:
                    keep = pre != post
                    pre, post = pre[keep], post[keep]
                counts += np.bincount(pre, minlength=n_pre)
                targets.append(post.astype(np.int32))
                if flat.size == 0 or flat[-1] >= n - 1:
                    break
                last = int(flat[-1])
        indptr = np.zeros(n_pre + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, np.concatenate(targets) if targets else np.zeros(0, dtype=np.int32)

    def expected_synapses(self, n_pre, n_post):
        n = float(n_pre) * n_post
        return n * self.p + 5 * np.sqrt(n * self.p) + 16


def _indptr(pre: np.ndarray, n_pre: int) -> np.ndarray:
    """CSR row pointers (int64 [n_pre + 1]) of synapses whose sources are ``pre`` (any order)."""
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
    return indptr


def _distinct_rows(rows: int, k: int, n: int, rng, first_row: int | None = None) -> np.ndarray:
    """``k`` distinct values in [0, n) for each of ``rows`` rows, ascending: int64 [rows, k].

    With ``first_row`` set (a population connected to itself without self-connections), row r
    never holds ``first_row + r``. Each row is a uniformly drawn k-subset: repeated values are
    redrawn until a row has none; the process treats every value alike, so every k-subset is
    equally likely. When k is over half the choices, random keys are ranked instead (the
    redraws would take long)."""
    pool = n - (first_row is not None)
    if 2 * k > pool:
        keys = rng.random((rows, pool))
        x = np.argpartition(keys, k - 1, axis=1)[:, :k] if 0 < k < pool else np.argsort(keys, axis=1)[:, :k]
        x.sort(axis=1)
    else:
        x = rng.integers(0, pool, (rows, k))
        while True:
            x.sort(axis=1)
            repeated = x[:, 1:] == x[:, :-1]
            n_repeated = int(np.count_nonzero(repeated))
            if n_repeated == 0:
                break
            x[:, 1:][repeated] = rng.integers(0, pool, n_repeated)
    if first_row is not None:  # skip the neuron itself: values from it on move up by one (order kept)
        x += x >= (first_row + np.arange(rows))[:, None]
    return x


def _check_degree(k: int, n_choices: int, allow_self: bool, rule: str, what: str) -> None:
    pool = max(n_choices if allow_self else n_choices - 1, 0)
    if k > pool:
        raise ValueError(f"{rule}: k={k} exceeds the {pool} available {what}"
                         + ("" if allow_self else " (self-connections excluded)"))


def _fixed_degree_rows(k: int, n_fixed: int, n_choices: int, rng, allow_self: bool):
    """Blocks ``(first, partners int64 [rows, k])``: the ``k`` distinct partners of each of
    ``n_fixed`` neurons (rows), drawn a block of rows at a time (bounded memory)."""
    per_block = max(1, _BLOCK_ENTRIES // max(k, 1))
    for first in range(0, n_fixed, per_block):
        rows = min(per_block, n_fixed - first)
        if allow_self:
            yield first, _distinct_rows(rows, k, n_choices, rng)
        else:  # rows past the partner population cannot pick themselves: nothing to skip there
            inside = max(0, min(rows, n_choices - first))
            parts = [_distinct_rows(inside, k, n_choices, rng, first_row=first)] if inside else []
            if rows > inside:
                parts.append(_distinct_rows(rows - inside, k, n_choices, rng))
            yield first, np.concatenate(parts) if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class fixed_in_degree(Rule):  # noqa: N801
    """Every target receives exactly ``k`` connections from distinct sources."""

    k: int

    def __post_init__(self):
        check_int("k", self.k, minimum=0)

    build_bytes = BUILD_BYTES_PER_SYNAPSE

    def pairs(self, n_pre, n_post, rng, allow_self):
        indptr, target = self.csr(n_pre, n_post, rng, allow_self)
        return np.repeat(np.arange(n_pre, dtype=np.int64), np.diff(indptr)), target.astype(np.int64)

    def csr(self, n_pre, n_post, rng, allow_self):
        # drawn target by target (int32 sources: 4 bytes a synapse), then turned into source rows
        # by a counting sort, which visits targets in ascending order: rows come out sorted
        _check_degree(self.k, n_pre, allow_self, "fixed_in_degree", "sources per target")
        sources = np.empty(n_post * self.k, dtype=np.int32)
        for first, rows in _fixed_degree_rows(self.k, n_post, n_pre, rng, allow_self):
            sources[first * self.k : (first + len(rows)) * self.k] = rows.ravel()
        from neurosim.kernels.build import transpose_rows  # compiled: numba imported only when needed

        indptr = _indptr(sources, n_pre)
        return indptr, transpose_rows(sources, indptr, self.k)

    def expected_synapses(self, n_pre, n_post):
        return float(self.k) * n_post


@dataclass(frozen=True)
class fixed_out_degree(Rule):  # noqa: N801
    """Every source makes exactly ``k`` connections onto distinct targets (drawn uniformly,
    without replacement; with ``allow_self=False`` a neuron of a population connected to itself
    never picks itself). The mirror of :class:`fixed_in_degree`."""

    k: int

    def __post_init__(self):
        object.__setattr__(self, "k", check_int("k", self.k, minimum=0))

    build_bytes = BUILD_BYTES_PER_SYNAPSE

    def pairs(self, n_pre, n_post, rng, allow_self):
        indptr, target = self.csr(n_pre, n_post, rng, allow_self)
        return np.repeat(np.arange(n_pre, dtype=np.int64), self.k), target.astype(np.int64)

    def csr(self, n_pre, n_post, rng, allow_self):
        _check_degree(self.k, n_post, allow_self, "fixed_out_degree", "targets per source")
        target = np.empty(n_pre * self.k, dtype=np.int32)
        for first, rows in _fixed_degree_rows(self.k, n_pre, n_post, rng, allow_self):
            target[first * self.k : (first + len(rows)) * self.k] = rows.ravel()
        return np.arange(n_pre + 1, dtype=np.int64) * self.k, target

    def expected_synapses(self, n_pre, n_post):
        return float(self.k) * n_pre


@dataclass(frozen=True)
class one_to_one(Rule):  # noqa: N801
    """Source ``i`` to target ``i``, for populations of equal size (Brian2's ``connect(j='i')``).

    Connecting a population to itself this way makes only self-connections, so it needs
    ``allow_self=True``; without it ``pairs`` refuses rather than return no synapses.
    """

    def pairs(self, n_pre, n_post, rng, allow_self):
        if n_pre != n_post:
            raise ValueError(f"one_to_one: the source and target populations must have the same size, got "
                             f"{n_pre} sources and {n_post} targets")
        if not allow_self and n_pre > 0:
            raise ValueError("one_to_one: connecting a population to itself one-to-one makes only self-connections "
                             "(i -> i), which allow_self=False drops; pass allow_self=True")
        idx = np.arange(n_pre, dtype=np.int64)
        return idx, idx.copy()

    def csr(self, n_pre, n_post, rng, allow_self):
        self.pairs(n_pre, n_post, rng, allow_self)  # the checks
        return np.arange(n_pre + 1, dtype=np.int64), np.arange(n_pre, dtype=np.int32)

    def expected_synapses(self, n_pre, n_post):
        return float(min(n_pre, n_post))


@dataclass(frozen=True)
class all_to_all(Rule):  # noqa: N801
    """Every source to every target."""

    def pairs(self, n_pre, n_post, rng, allow_self):
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        return _drop_self(pre, post, allow_self)

    build_bytes = BUILD_BYTES_PER_SYNAPSE

    def csr(self, n_pre, n_post, rng, allow_self):
        row = np.arange(n_post, dtype=np.int32)
        if allow_self:
            return np.arange(n_pre + 1, dtype=np.int64) * n_post, np.tile(row, n_pre)
        # row i without i (i < n_post): everything but the diagonal of the [n_pre, n_post] grid
        keep = np.ones((n_pre, n_post), dtype=bool)
        m = min(n_pre, n_post)
        keep[np.arange(m), np.arange(m)] = False
        indptr = np.zeros(n_pre + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=indptr[1:])
        return indptr, np.broadcast_to(row, (n_pre, n_post))[keep]

    def expected_synapses(self, n_pre, n_post):
        return float(n_pre) * n_post


@dataclass(frozen=True, eq=False)
class from_matrix(Rule):  # noqa: N801
    """Connections and weights from a dense array or scipy.sparse matrix of shape
    ``[n_source, n_target]``: every non-zero entry (dense) or stored entry (sparse) is a synapse.
    Diagonal entries are kept only with ``allow_self=True``.

    A per-synapse ``delay`` array given to ``connect`` follows the order of the entries: the
    row-major order of a dense matrix's non-zeros, the stored order of a sparse matrix (the
    ``row``, ``col``, ``data`` of its COO form), one value per entry, diagonal ones included
    when ``allow_self=False`` drops them. A delay matrix of the same shape as ``matrix`` is read at
    the entries' positions.
    """

    matrix: object

    has_weights = True

    def pairs(self, n_pre, n_post, rng, allow_self):
        pre, post, _ = self.entries(n_pre, n_post)
        return _drop_self(pre, post, allow_self)

    def expected_synapses(self, n_pre, n_post):
        m = self.matrix
        if hasattr(m, "nnz"):
            return float(m.nnz)
        return float(np.count_nonzero(as_real_array("from_matrix: matrix", host_values("from_matrix: matrix", m))))

    def entries(self, n_pre, n_post):
        """(sources, targets, weights) of every entry, diagonal included, in the matrix's order."""
        m = self.matrix
        try:
            import scipy.sparse as sp
        except ImportError:  # pragma: no cover - scipy is a dependency
            sp = None
        if sp is not None and sp.issparse(m):
            coo = sp.coo_matrix(m)
            pre, post = coo.row.astype(np.int64), coo.col.astype(np.int64)
            w, shape = as_real_array("from_matrix: matrix", coo.data), coo.shape
        else:
            dense = as_real_array("from_matrix: matrix", host_values("from_matrix: matrix", m))
            if dense.ndim != 2:
                raise ValueError(f"from_matrix: matrix must be 2-D [n_source, n_target], got shape {dense.shape}")
            pre, post = np.nonzero(dense)
            w, shape = dense[pre, post], dense.shape
        if tuple(shape) != (n_pre, n_post):
            raise ValueError(f"from_matrix: matrix shape {tuple(shape)} does not match (n_source, n_target) = ({n_pre}, {n_post})")
        return pre.astype(np.int64), post.astype(np.int64), w


@dataclass(frozen=True, eq=False)
class distance(Rule):  # noqa: N801
    """Each pair independently with probability ``C * exp(-(D / lam)^2)``, ``D`` the Euclidean
    distance between the source's and the target's positions (Maass et al. 2002's liquid).

    ``pre_positions [n_source, d]`` and ``post_positions [n_target, d]`` are in grid units (any
    ``d``); ``C`` in [0, 1]; ``lam`` >= 0 (0: only pairs at distance 0 may connect).
    """

    pre_positions: object
    post_positions: object
    C: float
    lam: float

    def __post_init__(self):
        c = check_number("C", self.C)
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"C must be a probability in [0, 1], got {c}")
        check_number("lam", self.lam, nonnegative=True)
        for name in ("pre_positions", "post_positions"):
            pos = np.asarray(getattr(self, name), dtype=np.float64)
            if pos.ndim != 2 or not np.all(np.isfinite(pos)):
                raise ValueError(f"{name} must be a finite [n, d] array of coordinates, got shape {pos.shape}")
            object.__setattr__(self, name, pos)
        if self.pre_positions.shape[1] != self.post_positions.shape[1]:
            raise ValueError(f"pre_positions and post_positions must have the same dimension d, got "
                             f"{self.pre_positions.shape[1]} and {self.post_positions.shape[1]}")

    def probability(self, d):
        """Connection probability at distance(s) ``d``."""
        d = np.asarray(d, dtype=np.float64)
        if self.lam == 0:
            return np.where(d == 0, float(self.C), 0.0)
        return float(self.C) * np.exp(-((d / float(self.lam)) ** 2))

    def pairs(self, n_pre, n_post, rng, allow_self):
        for name, pos, n in (("pre_positions", self.pre_positions, n_pre),
                             ("post_positions", self.post_positions, n_post)):
            if len(pos) != n:
                raise ValueError(f"distance: {name} has {len(pos)} rows for a population of {n}")
        pre, post, found = [], [], 0
        block = max(1, 2**22 // max(n_post, 1))  # rows per block: bounded memory for big populations
        for start in range(0, n_pre, block):
            a = self.pre_positions[start:start + block]
            d = np.sqrt(((a[:, None, :] - self.post_positions[None, :, :]) ** 2).sum(-1))
            i, j = np.nonzero(rng.random(d.shape) < self.probability(d))
            pre.append(i + start)
            post.append(j)
            found += i.size
            # the count is known only as the blocks are drawn: stop as soon as it cannot fit
            check_memory(f"connect.distance: the synapses drawn so far ({found}, sources 0..{start + len(a) - 1} "
                         f"of {n_pre})", found * BUILD_BYTES_PER_SYNAPSE, "lower C or lam")
        pre = np.concatenate(pre).astype(np.int64) if pre else np.zeros(0, np.int64)
        post = np.concatenate(post).astype(np.int64) if post else np.zeros(0, np.int64)
        return _drop_self(pre, post, allow_self)


def grid_positions(shape) -> np.ndarray:
    """Integer grid points ``[prod(shape), len(shape)]`` of a ``shape`` grid (e.g. ``(15, 3, 3)``),
    in C order: the last coordinate varies fastest."""
    shape = tuple(check_int(f"shape[{i}]", s, minimum=1) for i, s in enumerate(shape))
    check_memory(f"grid_positions({shape})", 3 * 8.0 * float(np.prod(shape, dtype=float)) * len(shape),
                 "use a smaller grid")
    return np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, len(shape)).astype(
        np.float64)
