"""Spike recordings streamed to disk chunk by chunk, so a long run's memory stays flat.

``Network.run(..., stream_spikes_to=folder)`` appends each chunk's spikes to two raw files per
recorded population, ``<population>.times.f64`` (ms, float64) and ``<population>.indices.i64``
(neuron index in the population, int64), and forgets them; the run's result reads them back
as read-only ``numpy.memmap`` arrays (pages come from the file on demand, not from RAM). Read
the files later with :func:`load_spikes`.
"""

from __future__ import annotations

import errno
import os

import numpy as np

from .result import Spikes

TIMES, INDICES = ".times.f64", ".indices.i64"


class SpikeStream:
    """Append-only spike files of the populations ``names`` in ``folder`` (created if needed).
    ``written[name]``: spikes on disk. Files already there are never overwritten: an earlier
    run's result may still be reading them through memory maps."""

    def __init__(self, folder, names):
        self.folder = os.fspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.written = {name: 0 for name in names}
        for name in names:
            for path in self._paths(name):
                if os.path.exists(path):
                    raise FileExistsError(f"stream_spikes_to: {path!r} already exists (an earlier run's spikes?); "
                                          "stream each run into a new folder, or delete the old files first")
        for name in names:
            for path in self._paths(name):
                open(path, "xb").close()

    def _paths(self, name: str) -> tuple[str, str]:
        return spike_files(self.folder, name)

    def append(self, name: str, times: np.ndarray, indices: np.ndarray) -> None:
        """Append one chunk's spikes of population ``name``. If a write fails (a full disk),
        both files are cut back to the spikes written before, so they always pair up, and the
        OSError names the file."""
        n = self.written[name]
        for path, values, dtype in zip(self._paths(name), (times, indices), (np.float64, np.int64)):
            try:
                # Python's file object, not ndarray.tofile: tofile's C buffering can lose a failed
                # small write without an error. The size check catches any short write left.
                with open(path, "ab") as fh:
                    fh.write(np.ascontiguousarray(values, dtype=dtype).data)
                    fh.flush()
                    if os.fstat(fh.fileno()).st_size != 8 * (n + len(values)):
                        raise OSError(errno.EIO, "the file does not have the expected size after the write")
            except OSError as err:
                for other in self._paths(name):
                    try:
                        os.truncate(other, 8 * n)
                    except OSError:  # pragma: no cover - the file vanished too: the reader will say so
                        pass
                raise OSError(err.errno, f"stream_spikes_to: cannot append the spikes of population {name!r} "
                                         f"({err.strerror or err}); its spike files keep the {n} spikes written "
                                         "before", path) from err
        self.written[name] += len(times)

    def truncate(self) -> None:
        """Cut the files back to ``written`` (after resuming from a checkpoint, drop what the
        stopped run appended after it)."""
        for name, n in self.written.items():
            for path in self._paths(name):
                os.truncate(path, 8 * n)

    def spikes(self) -> dict[str, Spikes]:
        """Every population's spikes so far, as read-only memory maps."""
        return {name: Spikes(_map(self._paths(name)[0], np.float64, n), _map(self._paths(name)[1], np.int64, n))
                for name, n in self.written.items()}


def spike_files(folder, name: str) -> tuple[str, str]:
    """The paths of population ``name``'s spike times and indices in ``folder``."""
    folder = os.fspath(folder)
    return os.path.join(folder, name + TIMES), os.path.join(folder, name + INDICES)


def _map(path: str, dtype, n: int) -> np.ndarray:
    return np.memmap(path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype=dtype)


def load_spikes(folder, name: str) -> Spikes:
    """The spikes of population ``name`` streamed to ``folder`` (memory-mapped, read-only)."""
    times_path, indices_path = spike_files(folder, name)
    if not os.path.exists(times_path) or not os.path.exists(indices_path):
        raise FileNotFoundError(f"no spikes of population {name!r} streamed to {os.fspath(folder)!r} "
                                f"(expected {name + TIMES} and {name + INDICES})")
    n = os.path.getsize(times_path) // 8
    if os.path.getsize(indices_path) // 8 != n:
        raise ValueError(f"{times_path} and {indices_path} hold different numbers of spikes (an interrupted write?)")
    return Spikes(_map(times_path, np.float64, n), _map(indices_path, np.int64, n))
