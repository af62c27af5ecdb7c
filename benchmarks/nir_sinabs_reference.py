"""Record Sinabs's own execution of the NIR paper's CNN graph (tests/data/cnn_sinabs.nir), the
reference tests/test_nir_conv.py compares ``import_nir(..., if_mode="sinabs")`` with.

Sinabs 3.1 pins nir <= 1.0.4 and its hardware package, which conflict with the test set-up
(nir 1.0.8 for snnTorch and Norse), so this runs in its own environment, e.g.

    python3.11 -m venv /tmp/venv_sinabs
    /tmp/venv_sinabs/bin/pip install torch==2.13.0 nir==1.0.4 "numpy<2.4" h5py pbr matplotlib
    /tmp/venv_sinabs/bin/pip install --no-deps sinabs==3.1.3 "nirtorch<2"
    /tmp/venv_sinabs/bin/python benchmarks/nir_sinabs_reference.py

and writes tests/data/cnn_sinabs_reference.npz: random event frames ``x`` [samples, T, 2, 34, 34]
(bit-packed) and Sinabs's output spikes ``y`` [samples, T, 10] (counts: Sinabs's IF may spike
several times in a step).
"""

import os

import nir
import numpy as np
import sinabs
import torch
from sinabs import from_nir

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPH = os.path.join(HERE, "..", "tests", "data", "cnn_sinabs.nir")
OUT = os.path.join(HERE, "..", "tests", "data", "cnn_sinabs_reference.npz")
SAMPLES, STEPS, DENSITY = 3, 40, (0.05, 0.1, 0.2)


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
    np.savez_compressed(OUT, x=np.packbits(np.stack(xs)), shape=np.array([SAMPLES, STEPS, 2, 34, 34]),
                        y=np.stack(ys), sinabs=sinabs.__version__)
    print(f"wrote {OUT}: outputs {np.stack(ys).shape}, {np.stack(ys).sum():g} spikes, most in a step "
          f"{np.stack(ys).max():g} (sinabs {sinabs.__version__})")


if __name__ == "__main__":
    main()
