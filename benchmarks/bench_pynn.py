"""PyNN's own example scripts on neurosim.pynn and on pyNN.brian2: results and wall times.

Runs, from a PyNN 0.13 checkout's ``examples/`` folder, the scripts the PyNN interface
promises to run unchanged but for the import line:

* ``VAbenchmarks.py CUBA`` and ``VAbenchmarks.py COBA`` (Vogels-Abbott, 4000 neurons): the
  excitatory and inhibitory rates they print;
* ``simple_STDP.py`` (``--dendritic-delay-fraction 0``, the only value pyNN.brian2 accepts):
  the final weights it prints, and the post-synaptic spike count;
* ``Izhikevich.py``: the spike count of each of its three neurons (from the saved v traces).

Each script gets one edit: its ``from pyNN.utility import get_simulator, ...`` line imports
``get_simulator`` from ``neurosim.pynn.utility`` instead (which also knows "neurosim"). To vary
the seed of the VA benchmarks, their ``rngseed = 98765`` line is set to each seed (connectivity
and initial potentials; the simulators draw their own Poisson input). Both simulators run the
same edited file, alternating seed by seed, each in its own process, timed from start to exit.

pyNN 0.13's connectors fail on NumPy >= 2.1 when a population has one neuron (used by
simple_STDP and Izhikevich); ``--brian2-python`` runs pyNN.brian2 with another interpreter,
e.g. a virtual environment with numpy 2.0 (neurosim.pynn carries a fix for it).

    python benchmarks/bench_pynn.py --pynn-examples PyNN-0.13.0/examples --seeds 3 \\
        --brian2-python /tmp/venv_b2/bin/python --out pynn.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

IMPORT = re.compile(r"^from pyNN\.utility import get_simulator, (.*)$", re.MULTILINE)
SEED = re.compile(r"^rngseed\s*=\s*\d+", re.MULTILINE)
EXAMPLES = {
    "CUBA": ("VAbenchmarks.py", ["CUBA"]),
    "COBA": ("VAbenchmarks.py", ["COBA"]),
    "simple_STDP": ("simple_STDP.py", ["--dendritic-delay-fraction", "0"]),
    "Izhikevich": ("Izhikevich.py", []),
}


def edited(source: str, seed: int) -> str:
    """The script with its import line changed (and its seed set, where it has one)."""
    text, n = IMPORT.subn(r"from neurosim.pynn.utility import get_simulator\nfrom pyNN.utility import \1", source)
    if n != 1:
        raise ValueError("the script has no 'from pyNN.utility import get_simulator, ...' line")
    return SEED.sub(f"rngseed = {seed}", text)


def run_one(example: str, simulator: str, python: str, folder: str, seed: int) -> dict:
    script, args = EXAMPLES[example]
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, script)
        with open(os.path.join(folder, script)) as f:
            text = edited(f.read(), seed)
        with open(path, "w") as f:
            f.write(text)
        start = time.perf_counter()
        proc = subprocess.run([python, path, simulator, *args], cwd=work, capture_output=True, text=True, check=False,
                              env=dict(os.environ, MPLBACKEND="Agg"))
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{example} on {simulator} failed:\n{proc.stderr[-3000:]}")
        out = proc.stdout
        row = {"wall_s": wall}
        if example in ("CUBA", "COBA"):
            for key, pattern in [("exc_rate_hz", r"Excitatory rate\s*:\s*([\d.eE+-]+)"),
                                 ("inh_rate_hz", r"Inhibitory rate\s*:\s*([\d.eE+-]+)"),
                                 ("build_s", r"Build time\s*:\s*([\d.eE+-]+)"),
                                 ("simulation_s", r"Simulation time\s*:\s*([\d.eE+-]+)")]:
                row[key] = float(re.search(pattern, out).group(1))
        elif example == "simple_STDP":
            weights = re.search(r"Final weights: \[([^\]]*)\]", out, re.DOTALL).group(1)
            row["final_weights"] = [float(w) for w in weights.split()]
            train = re.search(r"Post-synaptic spike times: \[([^\]]*)\]", out, re.DOTALL).group(1)
            row["post_spikes"] = len(train.split())
        else:
            import neo

            pkl = glob.glob(os.path.join(work, "Results", "**", "Izhikevich_*.pkl"), recursive=True)[0]
            v = np.asarray(neo.io.PickleIO(pkl).read_block().segments[0].analogsignals[0])
            row["spike_counts"] = [int(np.sum(np.diff(v[:, i]) < -40.0)) for i in range(v.shape[1])]
        return row


def summary(example: str, rows: dict) -> list[str]:
    lines = []
    ns, b2 = rows["neurosim"], rows["brian2"]
    mean = lambda key, side: float(np.mean([r[key] for r in side]))
    if example in ("CUBA", "COBA"):
        for key in ("exc_rate_hz", "inh_rate_hz"):
            a, b = mean(key, ns), mean(key, b2)
            per_seed = ", ".join(f"{x[key]:.2f}/{y[key]:.2f}" for x, y in zip(ns, b2))
            lines.append(f"{example} {key}: neurosim {a:.3f}, brian2 {b:.3f}, difference {100 * (a - b) / b:+.1f} % "
                         f"(per seed neurosim/brian2: {per_seed})")
        for key in ("build_s", "simulation_s"):
            lines.append(f"{example} {key}: neurosim {mean(key, ns):.2f}, brian2 {mean(key, b2):.2f}")
    elif example == "simple_STDP":
        a, b = np.mean([r["final_weights"] for r in ns], 0), np.mean([r["final_weights"] for r in b2], 0)
        change_a, change_b = a - 5e-8, b - 5e-8  # the script's initial weight
        rel = np.max(np.abs(change_a - change_b)) / np.max(np.abs(change_b))
        lines.append(f"simple_STDP weight changes: largest difference {100 * rel:.2f} % of the largest change; "
                     f"post-synaptic spikes neurosim {ns[0]['post_spikes']}, brian2 {b2[0]['post_spikes']}")
    else:
        lines.append(f"Izhikevich spike counts: neurosim {ns[0]['spike_counts']}, brian2 {b2[0]['spike_counts']}")
    walls = [mean("wall_s", ns), mean("wall_s", b2)]
    lines.append(f"{example} wall time per script run (min/median over seeds): neurosim "
                 f"{min(r['wall_s'] for r in ns):.1f}/{np.median([r['wall_s'] for r in ns]):.1f} s, brian2 "
                 f"{min(r['wall_s'] for r in b2):.1f}/{np.median([r['wall_s'] for r in b2]):.1f} s "
                 f"(brian2/neurosim {walls[1] / walls[0]:.1f}x)")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pynn-examples", required=True, help="the examples/ folder of a PyNN 0.13 checkout")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(EXAMPLES), default=sorted(EXAMPLES))
    parser.add_argument("--brian2-python", default=sys.executable, help="interpreter for the pyNN.brian2 runs")
    parser.add_argument("--out", default=None, help="write every run's figures here (JSON)")
    args = parser.parse_args(argv)
    results = {}
    for example in args.only:
        rows = {"neurosim": [], "brian2": []}
        for seed in range(1, args.seeds + 1):
            order = [("neurosim", sys.executable), ("brian2", args.brian2_python)]
            for simulator, python in order if seed % 2 else order[::-1]:
                rows[simulator].append(run_one(example, simulator, python, args.pynn_examples, seed))
                print(f"{example} seed {seed} {simulator}: {rows[simulator][-1]}", flush=True)
        results[example] = rows
        for line in summary(example, rows):
            print(line, flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
