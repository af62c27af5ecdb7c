"""Up-front memory checks: refuse a request the machine cannot hold, before allocating it.

A population of 10^9 neurons or an all-to-all projection between two 10^6 populations would
otherwise be attempted, and end minutes later in swapping, an out-of-memory kill or a bare
``MemoryError`` naming nothing. ``check_memory`` compares an estimate with the memory
available now and raises :class:`neurosim.errors.InsufficientMemoryError` saying what needs
how much, what is available, and what to change.
"""

from __future__ import annotations

import functools
import os

from .errors import InsufficientMemoryError


def available_bytes() -> int:
    """Memory available to a new allocation now, bytes (Linux MemAvailable: free + reclaimable).

    ``NEUROSIM_MEMORY_BYTES`` (an integer) overrides the reading, to cap a run below what
    the machine has (shared nodes, tests)."""
    override = os.environ.get("NEUROSIM_MEMORY_BYTES")
    if override:
        return int(override)
    try:
        import psutil  # a dependency of dask.distributed, so normally present

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - fallback for a stripped-down install
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps the number >= 1 (``'1.5 GiB'``)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(what: str, nbytes: float, hint: str = "") -> None:
    """Raise InsufficientMemoryError if ``what`` needs more than the available memory.

    ``nbytes`` is an estimate of the peak (may be a float: products of huge sizes overflow
    no int64 here); ``hint`` says what to change."""
    available = available_bytes()
    if nbytes > available:
        raise InsufficientMemoryError(
            f"{what} needs about {format_bytes(nbytes)} of memory and {format_bytes(available)} is available"
            + (f"; {hint}" if hint else ""), needed=int(min(nbytes, 2**63 - 1)), available=available)


@functools.cache
def _libc_malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere (macOS, musl, Windows); looked up on first use,
    not at import."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand memory that was freed back to the operating system (glibc only; a no-op elsewhere).

    glibc keeps freed blocks under its adaptive mmap threshold (up to 32 MiB) in the process's
    heap, so the temporaries of building a network (the sources of a fixed in-degree draw, the
    projections copied into the engine's pool) would stay resident for the whole run;
    ``malloc_trim`` returns their pages. Called after each ``connect`` and after the first
    run's flattening: a few milliseconds."""
    trim = _libc_malloc_trim()
    if trim is not None:
        trim(0)
