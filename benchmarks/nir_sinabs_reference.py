"""Record Sinabs's own execution of two NIR graphs, the references tests/test_nir_conv.py
compares neurosim with:

* the NIR paper's CNN (tests/data/cnn_sinabs.nir, exported from Sinabs), against
  ``import_nir(..., if_mode="sinabs")``;
* a CNN of neurosim layers with Sinabs's IF (``MultiSpikeIF``) exported by ``export_nir``
  (tests/data/neurosim_cnn_sinabs_mode.nir), against the neurosim network itself:
  neurosim -> NIR -> Sinabs. nir 1.0.4 (Sinabs's) predates IF's ``v_reset`` field, which later
  nir versions always write; the file is read with that field (0, nir 1.0.4's reset) left out.

Sinabs 3.1 pins nir <= 1.0.4 and its hardware package, which conflict with the test set-up
(nir 1.0.8 for snnTorch and Norse), so this runs in its own environment, e.g.

    python3.11 -m venv /tmp/venv_sinabs
    /tmp/venv_sinabs/bin/pip install torch==2.13.0 nir==1.0.4 "numpy<2.4" h5py pbr matplotlib
    /tmp/venv_sinabs/bin/pip install --no-deps sinabs==3.1.3 "nirtorch<2"
    /tmp/venv_sinabs/bin/python benchmarks/nir_sinabs_reference.py

and writes tests/data/cnn_sinabs_reference.npz: random event frames ``x`` [samples, T, 2, 34, 34]
(bit-packed) and Sinabs's output spikes ``y`` [samples, T, 10] (counts: Sinabs's IF may spike
several times in a step) for the first graph; ``x2`` [T, 2, 12, 12] and ``y2`` [T, 5] for the second.
"""

import os
import shutil
import tempfile

import h5py
import nir
import numpy as np
import sinabs
import torch
from sinabs import from_nir

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPH = os.path.join(HERE, "..", "tests", "data", "cnn_sinabs.nir")
OUT = os.path.join(HERE, "..", "tests", "data", "cnn_sinabs_reference.npz")
OURS = os.path.join(HERE, "..", "tests", "data", "neurosim_cnn_sinabs_mode.nir")
SAMPLES, STEPS, DENSITY = 3, 40, (0.05, 0.1, 0.2)


def _read_without_if_reset(path):
    """nir.read of a graph whose IF nodes carry v_reset (written by nir >= 1.0.5), for nir 1.0.4."""
    copy = os.path.join(tempfile.mkdtemp(), os.path.basename(path))
    shutil.copy(path, copy)

    def strip(group):
        for item in group.values():
            if isinstance(item, h5py.Group):
                kind = item.get("type")
                if kind is not None and kind[()] in (b"IF", "IF") and "v_reset" in item:
                    del item["v_reset"]
                strip(item)

    with h5py.File(copy, "r+") as f:
        strip(f)
    return nir.read(copy)


def main() -> None:
    rng = np.random.default_rng(25)
    xs, ys = [], []
    for density in DENSITY[:SAMPLES]:
        x = (rng.random((STEPS, 2, 34, 34)) < density).astype(np.float32)
        model = from_nir(nir.read(GRAPH), batch_size=1)  # a fresh network: state from zero
        with torch.no_grad():
            y = model(torch.as_tensor(x))
        y = y[0] if isinstance(y, tuple) else y
        xs.append(x.astype(bool))
        ys.append(y.numpy().astype(np.float32))
    x2 = (rng.random((20, 2, 12, 12)) < 0.3).astype(np.float32)
    model = from_nir(_read_without_if_reset(OURS), batch_size=1)
    with torch.no_grad():
        y2 = model(torch.as_tensor(x2))
    y2 = (y2[0] if isinstance(y2, tuple) else y2).numpy().astype(np.float32)
    np.savez_compressed(OUT, x=np.packbits(np.stack(xs)), shape=np.array([SAMPLES, STEPS, 2, 34, 34]),
                        y=np.stack(ys), x2=x2.astype(bool), y2=y2, sinabs=sinabs.__version__)
    print(f"neurosim's graph on Sinabs: {y2.sum():g} output spikes")
    print(f"wrote {OUT}: outputs {np.stack(ys).shape}, {np.stack(ys).sum():g} spikes, most in a step "
          f"{np.stack(ys).max():g} (sinabs {sinabs.__version__})")


if __name__ == "__main__":
    main()
