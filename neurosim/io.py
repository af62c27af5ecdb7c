"""Atomic file writing (a temporary file in the same folder, then a rename) and sealed files
(a checksum over the content, checked before it is read)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import zipfile
from contextlib import contextmanager

from .errors import DamagedFileError


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix or os.path.splitext(path)[1])
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, data) -> str:
    """Write ``data`` as indented JSON, atomically. Returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
    return os.fspath(path)


# ---- sealed files: a SHA-256 over the content, checked before anything is read -------------
# A result (.npz) carries its seal as the zip archive's comment, which sits at the very end of
# the file: "neurosim-sha256:" + the hex digest of every byte before the comment. A checkpoint
# (a pickle) starts with a fixed-size header line holding the digest of the rest. Either way any
# damaged or missing byte -- a flipped bit, a truncated copy, a damaged member name that a zip
# reader would not notice -- is found before the content is interpreted, and reported naming
# the file, instead of surfacing as BadZipFile, UnpicklingError, a crash, or a silently missing
# variable.

SEAL = b"neurosim-sha256:"
_DIGEST_HEX = 64
_BLOCK = 1 << 20


def _sha256(fh, start: int, stop: int) -> str:
    digest = hashlib.sha256()
    fh.seek(start)
    left = stop - start
    while left > 0:
        block = fh.read(min(_BLOCK, left))
        if not block:
            break
        digest.update(block)
        left -= len(block)
    return digest.hexdigest()


def seal_zip(path) -> None:
    """Seal the zip file at ``path`` (just written, not yet visible to readers)."""
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = SEAL + b"0" * _DIGEST_HEX  # placeholder: the digest covers the bytes before it
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - _DIGEST_HEX)
        digest = _sha256(fh, 0, size - _DIGEST_HEX - len(SEAL))
        fh.seek(size - _DIGEST_HEX)
        fh.write(digest.encode())


def check_zip_seal(path, kind: str) -> None:
    """Raise DamagedFileError unless ``path`` is a sealed zip whose content matches its seal."""
    path = os.fspath(path)
    with _open_for_check(path, kind) as fh:
        size = fh.seek(0, os.SEEK_END)
        tail = size - _DIGEST_HEX - len(SEAL)
        if tail < 0:
            raise damaged(path, kind, f"it is too short ({size} bytes) to be one")
        fh.seek(tail)
        seal = fh.read(len(SEAL) + _DIGEST_HEX)
        if not seal.startswith(SEAL):
            raise damaged(path, kind, "its checksum is missing (truncated, damaged, or not written by this version "
                                      "of neurosim)")
        if _sha256(fh, 0, tail).encode() != seal[len(SEAL):]:
            raise damaged(path, kind, "its content does not match its checksum (damaged or modified)")


_HEADER = b"NEUROSIM-CHECKPOINT sha256:"
_HEADER_SIZE = len(_HEADER) + _DIGEST_HEX + 1  # + newline


def write_sealed_pickle(path, obj) -> None:
    """Pickle ``obj`` to ``path`` behind a header holding the payload's SHA-256 (not atomic by
    itself: write to a temporary path, see :func:`atomic_path`)."""
    with open(path, "w+b") as fh:
        fh.write(b"\0" * _HEADER_SIZE)
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        size = fh.tell()
        digest = _sha256(fh, _HEADER_SIZE, size)
        fh.seek(0)
        fh.write(_HEADER + digest.encode() + b"\n")


def read_sealed_pickle(path, kind: str):
    """Unpickle what :func:`write_sealed_pickle` wrote, after checking the payload against its
    digest; a file that fails the check raises DamagedFileError naming it. Unpickling runs code:
    the digest guards against damage, not against a malicious file."""
    path = os.fspath(path)
    with _open_for_check(path, kind) as fh:
        header = fh.read(_HEADER_SIZE)
        if len(header) < _HEADER_SIZE or not header.startswith(_HEADER) or header[-1:] != b"\n":
            raise damaged(path, kind, "it does not start with a neurosim checkpoint header (truncated, damaged, or "
                                      "not a neurosim checkpoint)")
        size = fh.seek(0, os.SEEK_END)
        if _sha256(fh, _HEADER_SIZE, size).encode() != header[len(_HEADER):-1]:
            raise damaged(path, kind, "its content does not match its checksum (damaged, truncated or modified)")
        fh.seek(_HEADER_SIZE)
        try:
            return pickle.load(fh)
        except Exception as err:  # noqa: BLE001 - a sealed file that still fails: written by other code
            raise damaged(path, kind, f"it cannot be unpickled ({type(err).__name__}: {err})") from None


@contextmanager
def _open_for_check(path: str, kind: str):
    try:
        fh = open(path, "rb")
    except IsADirectoryError:
        raise damaged(path, kind, "it is a folder") from None
    with fh:
        yield fh


def damaged(path, kind: str, why: str) -> DamagedFileError:
    """The error for a file ``path`` of ``kind`` ("result", "checkpoint", ...) that fails a check."""
    return DamagedFileError(f"{os.fspath(path)!r} is not a readable neurosim {kind}: {why}", path=os.fspath(path))
