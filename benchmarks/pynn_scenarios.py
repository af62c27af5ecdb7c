"""PyNN's backend scenario tests (``test/system/scenarios`` of a PyNN 0.13 checkout) on neurosim.pynn.

Every backend of PyNN runs these system tests; each test is marked with the backends it runs
on (``@run_with_simulators("nest", "neuron", "brian2")``). This script copies the folder, swaps
its ``fixtures.py`` for one that gives the tests ``neurosim.pynn`` as ``sim``, runs them with
pytest, and prints the pass count, and why each of the others failed.

    python benchmarks/pynn_scenarios.py --scenarios PyNN-0.13.0/test/system/scenarios
    python benchmarks/pynn_scenarios.py --scenarios ... --all   # also tests not marked for brian2

By default only the tests marked for brian2 run (the backend neurosim.pynn is compared with);
``--all`` also runs those written for NEST or NEURON only (some use what only they have).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

FIXTURES = '''
import importlib
import pytest


def run_with_simulators(*sim_names):
    if not {ALL} and "brian2" not in sim_names:
        return pytest.mark.skip(reason="not marked for brian2")
    return pytest.mark.parametrize("sim", [pytest.param(importlib.import_module("neurosim.pynn"), id="neurosim")])
'''


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", required=True, help="test/system/scenarios of a PyNN 0.13 checkout")
    parser.add_argument("--all", action="store_true", help="also the tests not marked for brian2")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k recording)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        folder = os.path.join(work, "scenarios")
        shutil.copytree(args.scenarios, folder)
        with open(os.path.join(folder, "fixtures.py"), "w") as f:
            f.write(FIXTURES.replace("{ALL}", str(args.all)))
        proc = subprocess.run([sys.executable, "-m", "pytest", folder, "-q", "-rfE", "-p", "no:cacheprovider",
                               "-W", "ignore", "--tb=line", "--rootdir", work, *args.pytest_args],
                              cwd=work, capture_output=True, text=True, check=False, env=dict(os.environ, MPLBACKEND="Agg"))
    out = proc.stdout.replace(work, "")
    for line in out.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            print(line[:300])
    summary = [line for line in out.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    print(summary[-1] if summary else out[-3000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
