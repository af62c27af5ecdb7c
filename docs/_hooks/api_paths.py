"""mkdocs hook: let mkdocstrings find the whole ``neurosim`` namespace.

pyproject installs ``circuits/``, ``plasticity/``, ``kernels/`` and ``examples/`` as
``neurosim.circuits`` and so on, but mkdocstrings (griffe) reads the source tree statically and
finds only ``neurosim/``. Before mkdocstrings starts, this hook builds a temporary folder whose
``neurosim/`` holds links to every entry of ``neurosim/`` and to the mapped folders, and points
the Python handler's ``paths`` there: ``::: neurosim.circuits`` then resolves like any module.
Wired in through ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

# folder of the repository -> its name inside the neurosim package (as pyproject maps them)
MAPPED = {"circuits": "circuits", "plasticity": "plasticity", "kernels": "kernels", "examples": "examples"}
_state: dict = {}


@event_priority(100)  # before mkdocstrings reads its handler options
def on_config(config):
    root = os.path.dirname(os.path.abspath(config.config_file_path))
    tmp = tempfile.mkdtemp(prefix="neurosim-docs-api-")
    _state["tmp"] = tmp
    package = os.path.join(tmp, "neurosim")
    os.mkdir(package)
    for entry in os.listdir(os.path.join(root, "neurosim")):
        if entry != "__pycache__":
            os.symlink(os.path.join(root, "neurosim", entry), os.path.join(package, entry))
    for folder, name in MAPPED.items():
        if name in os.listdir(package):
            raise PluginError(f"docs api: neurosim/{name} exists and {folder}/ maps onto it too")
        os.symlink(os.path.join(root, folder), os.path.join(package, name))
    try:
        python = config.plugins["mkdocstrings"].config["handlers"]["python"]
    except KeyError as err:
        raise PluginError("docs api: mkdocs.yml configures no mkdocstrings python handler") from err
    python["paths"] = [tmp]
    return config


def on_shutdown():
    tmp = _state.pop("tmp", None)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
