"""Task sequences for continual learning: permuted and split digits, permuted MNIST.

A continual-learning benchmark is a list of :class:`Task` s learned one after the other;
forgetting is measured by testing on the earlier tasks after training on the later ones.

* :func:`permuted_digits` — scikit-learn's 8x8 digits, each task with its own fixed pixel
  permutation (all 10 classes in every task).
* :func:`split_digits` — the digits split into tasks of disjoint classes (0/1, 2/3, ...).
* :func:`permuted_mnist` — MNIST from local IDX files (torchvision's layout), one fixed
  pixel permutation per task, as in the HLOP paper (Xiao et al., ICLR 2024). neurosim never
  downloads data.
* :func:`read_idx` / :func:`write_idx` — LeCun's IDX format, plain or gzip-compressed.

Every permuted task, task 0 included, applies its permutation (as in the permuted-MNIST
protocol of the HLOP paper): pixel ``j`` of a task-``k`` image is pixel ``perm[k, j]`` of the
original image, with ``perm = pixel_permutations(n_tasks, n_pixels, seed)``.

Example
-------
>>> from neurosim.circuits.continual_data import permuted_digits, split_digits
>>> tasks = permuted_digits(3, seed=0)
>>> [t.name for t in tasks]
['permuted-0', 'permuted-1', 'permuted-2']
>>> tasks[0].x_train.shape, tasks[0].x_train.dtype
((1258, 64), dtype('float32'))
>>> [t.classes for t in split_digits()][:2]
[(0, 1), (2, 3)]
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neurosim.errors import DamagedFileError
from neurosim.io import atomic_path
from neurosim.memory import check_memory
from neurosim.validation import as_rng, check_int, check_number, host_values

__all__ = ["Task", "permuted_digits", "split_digits", "permuted_mnist", "pixel_permutations",
           "read_idx", "write_idx"]


class Task(NamedTuple):
    """One task of a continual-learning sequence.

    Attributes
    ----------
    name : e.g. ``"permuted-3"`` or ``"split-4-5"``.
    x_train : ``[n_train, d]`` float32 images in [0, 1], flattened (and permuted, for
        permuted tasks).
    y_train : ``[n_train]`` int64 labels, the original digits 0..9.
    x_test : ``[n_test, d]`` float32.
    y_test : ``[n_test]`` int64.
    classes : the labels this task uses: all 10 digits for permuted tasks, the task's
        classes (e.g. ``(4, 5)``) for split tasks.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple


# --------------------------------------------------------------------------------------------
# Permutations and the shared train/test split
# --------------------------------------------------------------------------------------------

def pixel_permutations(n_tasks: int, n_pixels: int, seed=0) -> np.ndarray:
    """The fixed pixel permutations of the permuted tasks.

    Parameters
    ----------
    n_tasks : number of tasks (>= 1).
    n_pixels : pixels per image (>= 1): 64 for digits, 784 for MNIST.
    seed : int, None or ``numpy.random.Generator``; permutation ``k`` is the ``k``-th
        ``rng.permutation(n_pixels)`` of ``numpy.random.default_rng(seed)``, so the first
        tasks do not change when ``n_tasks`` grows.

    Returns
    -------
    perm : ``[n_tasks, n_pixels]`` int64; task ``k`` shows ``x[:, perm[k]]`` for original
        images ``x [n, n_pixels]``, and ``x_k[:, np.argsort(perm[k])]`` undoes it.
    """
    n_tasks = check_int("n_tasks", n_tasks, minimum=1)
    n_pixels = check_int("n_pixels", n_pixels, minimum=1)
    check_memory(f"pixel_permutations: {n_tasks} x {n_pixels} indices", 16.0 * n_tasks * n_pixels,
                 "use fewer tasks or pixels")
    rng = as_rng(seed)
    return np.stack([rng.permutation(n_pixels) for _ in range(n_tasks)]).astype(np.int64)


def _check_test_fraction(test_fraction) -> float:
    test_fraction = check_number("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1) (exclusive), got {test_fraction}")
    return test_fraction


def _stratified_split(y: np.ndarray, test_fraction: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``, each sorted: ``round(test_fraction * n_c)`` test samples of
    each class ``c`` (at least 1, and at least 1 left for training)."""
    rng = as_rng(seed)  # validates the seed's type
    if not isinstance(seed, np.random.Generator):
        # a stream independent of pixel_permutations(..., seed), which uses the seed itself
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = min(max(round(test_fraction * len(idx)), 1), len(idx) - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _digits_split(seed, test_fraction: float):
    """scikit-learn's digits as ``(x_train, y_train, x_test, y_test)``, x float32 in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits tasks need scikit-learn's load_digits: pip install scikit-learn") from None
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # intensities 0..16 -> [0, 1]
    y = y.astype(np.int64)
    train, test = _stratified_split(y, test_fraction, seed)
    return x[train], y[train], x[test], y[test]


def _permuted_tasks(x_train, y_train, x_test, y_test, n_tasks: int, seed) -> list[Task]:
    perms = pixel_permutations(n_tasks, x_train.shape[1], seed)
    classes = tuple(range(10))
    return [Task(f"permuted-{k}", x_train[:, p], y_train.copy(), x_test[:, p], y_test.copy(), classes)
            for k, p in enumerate(perms)]


# --------------------------------------------------------------------------------------------
# Digits (scikit-learn, 1797 images of 8x8 pixels)
# --------------------------------------------------------------------------------------------

def permuted_digits(n_tasks: int = 5, *, seed=0, test_fraction: float = 0.3) -> list[Task]:
    """Permuted digits: every task is all of scikit-learn's digits under its own fixed pixel
    permutation.

    One stratified train/test split (drawn from ``seed``) is shared by all tasks, so task
    ``k`` holds exactly the same images as task 0, only with pixels reordered. Task 0 is
    permuted too (as in the HLOP paper's permuted MNIST). With an int ``seed`` the
    permutations are ``pixel_permutations(n_tasks, 64, seed)``.

    Parameters
    ----------
    n_tasks : number of tasks (>= 1).
    seed : int, None or ``numpy.random.Generator`` (split first, then permutations).
    test_fraction : fraction of each class held out for testing, in (0, 1).

    Returns
    -------
    tasks : ``n_tasks`` :class:`Task` s named ``"permuted-0"``, ...; ``x`` of shape
        ``[n, 64]`` float32 in [0, 1] (1258 training and 539 test images at 0.3).
    """
    n_tasks = check_int("n_tasks", n_tasks, minimum=1)
    test_fraction = _check_test_fraction(test_fraction)
    return _permuted_tasks(*_digits_split(seed, test_fraction), n_tasks, seed)


def _check_pairs(pairs) -> list[tuple[int, ...]]:
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__len__") or len(pairs) == 0:
        raise ValueError(f"pairs must be a non-empty sequence of class tuples such as ((0, 1), (2, 3)), got {pairs!r}")
    tasks, seen = [], {}
    for i, group in enumerate(pairs):
        if isinstance(group, (str, bytes)) or not hasattr(group, "__iter__"):
            raise ValueError(f"pairs[{i}] must be a sequence of digit labels, got {group!r}")
        labels = tuple(check_int(f"pairs[{i}][{j}]", c) for j, c in enumerate(group))
        if len(set(labels)) < 2:
            raise ValueError(f"pairs[{i}] must hold at least 2 different classes, got {group!r}")
        for c in labels:
            if not 0 <= c <= 9:
                raise ValueError(f"pairs[{i}] holds label {c}; digit labels are 0..9")
            if c in seen:
                where = f"tasks {seen[c]} and {i}" if seen[c] != i else f"task {i} twice"
                raise ValueError(f"pairs: label {c} appears in {where}; each label may belong to one task only")
            seen[c] = i
        tasks.append(labels)
    return tasks


def split_digits(pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9)), *, seed=0,
                 test_fraction: float = 0.3) -> list[Task]:
    """Split digits: task ``i`` holds only the images of the classes ``pairs[i]``.

    Labels stay the original digits (a multi-head model maps them to its head's outputs).
    The train/test split is the one :func:`permuted_digits` draws from the same ``seed``.

    Parameters
    ----------
    pairs : sequence of label groups, each of >= 2 digits in 0..9, no digit in two groups.
    seed : int, None or ``numpy.random.Generator`` (draws the split).
    test_fraction : fraction of each class held out for testing, in (0, 1).

    Returns
    -------
    tasks : one :class:`Task` per group, named ``"split-0-1"``, ...; ``x`` of shape
        ``[n, 64]`` float32 in [0, 1], ``classes`` = the group.
    """
    groups = _check_pairs(pairs)
    test_fraction = _check_test_fraction(test_fraction)
    x_train, y_train, x_test, y_test = _digits_split(seed, test_fraction)
    tasks = []
    for labels in groups:
        tr, te = np.isin(y_train, labels), np.isin(y_test, labels)
        name = "split-" + "-".join(map(str, labels))
        tasks.append(Task(name, x_train[tr], y_train[tr], x_test[te], y_test[te], labels))
    return tasks


# --------------------------------------------------------------------------------------------
# IDX files (LeCun's MNIST format)
# --------------------------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), a byte with the number of dimensions, one big-endian uint32
    size per dimension, then the data, big-endian, C order.

    Returns
    -------
    array : shaped as the header says, in native byte order (writable).

    Raises
    ------
    DamagedFileError (a ValueError) : bad magic, unknown type byte, a broken gzip stream, or a
        file whose size does not match its header; the message names the file.
    InsufficientMemoryError : the header asks for more memory than is available.
    """
    path = _path("path", path)
    gz = path.name.endswith(".gz")
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        try:
            return _read_idx_stream(path, f, None if gz else path.stat().st_size)
        except (EOFError, OSError, zlib.error) as e:  # only a gzip stream raises these while reading
            if not gz:
                raise
            raise DamagedFileError(f"{path}: not a valid gzip file ({e})", path=str(path)) from None


def _read_idx_stream(path: Path, f, file_size: int | None) -> np.ndarray:
    """The array of an open IDX stream ``f`` (``file_size``: its length when known, so that a
    header promising more than the file holds is refused before anything is allocated)."""
    def damaged(message):
        return DamagedFileError(f"{path}: {message}", path=str(path))

    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise damaged(f"not an IDX file (the magic number must start with two zero bytes, "
                      f"got {head.hex() or 'an empty file'})")
    type_byte, ndim = head[2], head[3]
    if type_byte not in _IDX_TYPES:
        raise damaged(f"unknown IDX type byte 0x{type_byte:02X}; known: {', '.join(f'0x{c:02X}' for c in _IDX_TYPES)}")
    dtype = _IDX_TYPES[type_byte]
    header = 4 + 4 * ndim
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise damaged(f"truncated header ({4 + len(dims)} bytes, a {ndim}-d header needs {header})")
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
    n_bytes = math.prod(shape) * dtype.itemsize  # Python ints: a damaged header cannot overflow them
    mismatch = (f"does not match its header (shape {shape}, {dtype.newbyteorder('=').name}: {header + n_bytes} "
                "bytes); the file is truncated or corrupted")
    if file_size is not None and file_size != header + n_bytes:
        raise damaged(f"size {file_size} bytes {mismatch}")
    check_memory(f"read_idx({str(path)!r}): an array of shape {shape}", 2.0 * n_bytes)  # the data and its native copy
    data = f.read(n_bytes + 1)  # one more: trailing bytes are damage too
    if len(data) != n_bytes:
        raise damaged(f"size {header + len(data)}{'+' if len(data) > n_bytes else ''} bytes {mismatch}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__} {value!r:.40}")
    return Path(value)


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    The file is written atomically (a temporary file next to ``path``, renamed into place).

    Parameters
    ----------
    path : destination file.
    array : array of 1 to 255 dimensions, dtype uint8, int8, int16, int32, float32 or float64
        (convert other dtypes first; IDX has no int64).
    """
    path = _path("path", path)
    array = np.asarray(host_values("array", array))
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array has dtype {array.dtype}; IDX holds uint8, int8, int16, int32, float32 or float64")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    if any(s >= 2**32 for s in array.shape):
        raise ValueError(f"array shape {array.shape} has a size >= 2**32, which IDX cannot store")
    raw = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
           + np.ascontiguousarray(array, dtype=_IDX_TYPES[code]).tobytes())
    if path.name.endswith(".gz"):
        raw = gzip.compress(raw)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(raw)


# --------------------------------------------------------------------------------------------
# MNIST (local IDX files only)
# --------------------------------------------------------------------------------------------

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find_mnist_files(root: Path) -> list[Path]:
    found, missing = [], []
    for name in _MNIST_FILES:
        tried = [folder / (name + ext) for folder in (root / "MNIST" / "raw", root) for ext in ("", ".gz")]
        hit = next((p for p in tried if p.is_file()), None)
        if hit is None:
            missing.extend(tried)
        found.append(hit)
    if missing:
        listing = "\n  ".join(map(str, missing))
        raise FileNotFoundError(
            f"MNIST IDX files not found under {root}; tried:\n  {listing}\n"
            "neurosim never downloads data. Put the four MNIST IDX files there (plain or .gz); if you "
            "have MNIST from torchvision (torchvision.datasets.MNIST(root, download=True)), pass the "
            "same root: neurosim reads root/MNIST/raw/.")
    return found


def _limit(name: str, limit, n: int) -> int:
    if limit is None:
        return n
    limit = check_int(name, limit, minimum=1)
    if limit > n:
        raise ValueError(f"{name} must be <= {n} (the number of images in the file), got {limit}")
    return limit


def permuted_mnist(root, n_tasks: int = 10, *, seed=0, train_limit: int | None = None,
                   test_limit: int | None = None) -> list[Task]:
    """Permuted MNIST from local IDX files: every task is MNIST under its own fixed pixel
    permutation (task 0 permuted too, as in the HLOP paper).

    The files are looked up in torchvision's layout, ``root/MNIST/raw/<name>``, then directly
    in ``root/<name>``, each plain or with ``.gz``, for ``<name>`` in
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``. Nothing is downloaded.

    Parameters
    ----------
    root : folder holding the files (the ``root`` given to ``torchvision.datasets.MNIST``).
    n_tasks : number of tasks (>= 1).
    seed : int, None or ``numpy.random.Generator``; the permutations are
        ``pixel_permutations(n_tasks, 784, seed)``.
    train_limit, test_limit : keep only the first ``n`` training / test images (>= 1, at most
        the number in the file); None keeps all (60000 / 10000).

    Returns
    -------
    tasks : ``n_tasks`` :class:`Task` s named ``"permuted-0"``, ...; ``x`` of shape
        ``[n, 784]`` float32 in [0, 1] (intensities / 255), ``y`` int64.

    Raises
    ------
    FileNotFoundError : a file is missing (the message lists the paths tried).
    ValueError : bad arguments or malformed files.
    """
    n_tasks = check_int("n_tasks", n_tasks, minimum=1)
    for name, limit in (("train_limit", train_limit), ("test_limit", test_limit)):
        if limit is not None:
            check_int(name, limit, minimum=1)
    as_rng(seed)  # check the seed's type before reading files (a Generator is returned as is)
    paths = _find_mnist_files(_path("root", root))

    def load(images_path: Path, labels_path: Path, limit_name: str, limit):
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3:
            raise ValueError(f"{images_path}: expected images [n, rows, cols], got shape {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"{labels_path}: expected {images.shape[0]} labels (one per image in "
                             f"{images_path.name}), got shape {labels.shape}")
        n = _limit(limit_name, limit, images.shape[0])
        x = (images[:n].reshape(n, -1) / 255.0).astype(np.float32)
        return x, labels[:n].astype(np.int64)

    x_train, y_train = load(paths[0], paths[1], "train_limit", train_limit)
    x_test, y_test = load(paths[2], paths[3], "test_limit", test_limit)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"training images have {x_train.shape[1]} pixels but test images {x_test.shape[1]}")
    return _permuted_tasks(x_train, y_train, x_test, y_test, n_tasks, seed)
