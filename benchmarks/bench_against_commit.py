"""The engine's run loops now against an earlier commit, in one sitting: "speed kept?".

    python benchmarks/bench_against_commit.py c013419 --rounds 4 --runs 3

Installs the earlier commit into a temporary folder (``git worktree`` + ``pip install
--target``), then alternates processes -- earlier, now, earlier, now, ... -- each of which
compiles or loads its kernels and times ``simulate_s`` (the run loop) of ``--runs`` 1000 ms
runs of CUBA (``examples/cuba.build``, 4000 LIF) and the Izhikevich (2003) network
(``examples/izhikevich_2003.build``, 1000 neurons) on the numba backend. Prints min and median
per network and version and their ratios (now / earlier). Alternating processes spreads the
VM's load over both versions; a ratio is only meaningful from one sitting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# One timing process (run with the version to time first on sys.path).
_ROUND = """
import json, sys
from neurosim.examples import cuba, izhikevich_2003
out = {}
for name, build in (("cuba", cuba.build), ("izhikevich", izhikevich_2003.build)):
    build(seed=1).run(10.0, backend="numba", progress=False)  # compile or load the cache
    out[name] = [build(seed=1 + k).run(1000.0, backend="numba", progress=False).info["simulate_s"]
                 for k in range(int(sys.argv[1]))]
print(json.dumps(out))
"""


def install(commit: str, folder: Path) -> Path:
    """The earlier commit installed (not editable) under ``folder``; returns its site folder."""
    tree, site = folder / "tree", folder / "site"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(tree)], check=True)
    return site


def one_round(runs: int, site: Path | None, cache: Path) -> dict:
    env = dict(os.environ)
    if site is not None:  # the earlier version first on the path, with its own Numba cache
        env["PYTHONPATH"] = str(site)
        env["NUMBA_CACHE_DIR"] = str(cache)
    out = subprocess.run([sys.executable, "-c", _ROUND, str(runs)], env=env, cwd=tempfile.gettempdir(),
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations (default 4)")
    parser.add_argument("--runs", type=int, default=3, help="timed 1000 ms runs per network and process (default 3)")
    args = parser.parse_args(argv)
    times = {"earlier": {"cuba": [], "izhikevich": []}, "now": {"cuba": [], "izhikevich": []}}
    with tempfile.TemporaryDirectory(prefix="neurosim-bench-") as tmp:
        folder = Path(tmp)
        site = install(args.commit, folder)
        try:
            for r in range(args.rounds):
                for who, path in (("earlier", site), ("now", None)):
                    for name, values in one_round(args.runs, path, folder / "numba-cache").items():
                        times[who][name] += values
                print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder / "tree")],
                           capture_output=True)
    print(f"run loop (simulate_s) of 1000 ms, numba; {args.commit} against the working tree, {args.rounds} alternations")
    for name in ("cuba", "izhikevich"):
        a, b = np.array(times["earlier"][name]), np.array(times["now"][name])
        print(f"{name:11s} earlier min {a.min():.4f} median {np.median(a):.4f} s | now min {b.min():.4f} "
              f"median {np.median(b):.4f} s | now/earlier {b.min() / a.min():.3f} (min), "
              f"{np.median(b) / np.median(a):.3f} (median)")
    return times


if __name__ == "__main__":
    main()
