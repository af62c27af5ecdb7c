"""Generated kernel modules: written once to a cache folder, then imported like any module.

Numba caches compiled functions next to their source file, and Triton reads a kernel's source
with ``inspect``: both need a real file. A generated module is stored under a name made from a
hash of its source, so the same model (and the same neurosim version of the generator) finds
its file, and Numba its compiled code, again in the next process: the first run of a model
compiles; later runs load. The folder is ``$NEUROSIM_CACHE_DIR`` or ``~/.cache/neurosim``
(a temporary folder where neither is writable).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

_LOADED: dict[str, object] = {}


def cache_dir() -> Path:
    """Folder of the generated kernel sources (created when missing)."""
    root = os.environ.get("NEUROSIM_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "neurosim")
    path = Path(root) / "kernels"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:  # a read-only home: fall back to a per-user temporary folder
        path = Path(tempfile.gettempdir()) / f"neurosim-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        path.mkdir(parents=True, exist_ok=True)
    return path


def load_source(prefix: str, source: str):
    """Import a module with this source (written to the cache folder once; atomically)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"neurosim_generated_{prefix}_{digest}"
    if name in _LOADED:
        return _LOADED[name]
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        # a temporary file renamed into place: a concurrent process never imports half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}-", suffix=".py")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache and triton look the module up by name
    spec.loader.exec_module(module)
    _LOADED[name] = module
    return module
