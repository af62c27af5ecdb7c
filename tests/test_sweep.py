"""Sweeps on Dask: specification checks, the results store, and faults on a real LocalCluster
of 2 worker processes (a worker killed, the sweep's own process killed, no scheduler)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import neurosim as ns
from neurosim import cli
from neurosim.sweeps import TIMING_METRICS, Sweep, SweepError, SweepSpec, open_sweep

SMALL = {"n": 400, "duration": 100.0}  # a CUBA run of ~0.05 s


# ---- what to run (no cluster) -----------------------------------------------------------------
def test_points_are_the_grid_times_seeds_with_stable_keys():
    spec = SweepSpec.make("cuba", grid={"we": [1.0, 2.0], "wi": [-9, -5, -2]}, seeds=2, first_seed=7, fixed=SMALL)
    tasks = spec.tasks()
    assert len(tasks) == 12 and len({k for k, _, _ in tasks}) == 12
    assert tasks[0][1] == {"n": 400, "duration": 100.0, "we": 1.0, "wi": -9.0} and tasks[0][2] == 7
    assert isinstance(tasks[0][1]["wi"], float)  # coerced to the experiment's type
    assert [t[0] for t in SweepSpec.make("cuba", grid={"we": [1.0, 2.0], "wi": [-9, -5, -2]}, seeds=2, first_seed=7,
                                         fixed=SMALL).tasks()] == [t[0] for t in tasks]
    random = SweepSpec.make("cuba", random={"we": (0.5, 3.0), "n": (100, 200)}, samples=5, seeds=1)
    points = random.points()
    assert len(points) == 5 and all(0.5 <= p["we"] <= 3.0 and isinstance(p["n"], int) for p in points)
    assert points == SweepSpec.make("cuba", random={"we": (0.5, 3.0), "n": (100, 200)}, samples=5).points()


@pytest.mark.parametrize("kwargs, message", [
    ({"experiment": "no-such"}, "no experiment named 'no-such'; available: .*cuba"),
    ({"grid": {"tau": [1.0]}}, r"has no parameter 'tau'; its parameters are \['duration', 'backend', 'n', 'p', 'we', 'wi'\]"),
    ({"grid": {"n": ["many"]}}, r"parameter 'n' of experiment 'cuba' takes int; got 'many' \(str\)"),
    ({"grid": {"n": [10.5]}}, "takes int; got 10.5"),
    ({"grid": {"we": []}}, "grid parameter 'we' has no values"),
    ({"grid": {"we": [1.0]}}, "empty sweep: nothing varies"),
    ({"grid": {"we": [1.0, 2.0]}, "seeds": 0}, "seeds must be >= 1"),
    ({"grid": {"seed": [1, 2]}}, "'seed' cannot be swept or fixed"),
    ({"random": {"we": (0.5, 3.0)}}, "needs samples >= 1"),
    ({"random": {"we": (3.0, 0.5)}, "samples": 2}, "low must be <= high"),
    ({"grid": {"we": [1.0, 2.0]}, "fixed": {"we": 1.0}}, "both fixed and swept"),
])
def test_bad_specifications_are_refused(kwargs, message):
    kwargs = dict({"experiment": "cuba"}, **kwargs)
    with pytest.raises(SweepError, match=message):
        SweepSpec.make(**kwargs)


def test_cli_values_and_errors(capsys):
    exp = ns.experiments.get("cuba")
    assert cli._sweep_values(exp, "we", "0.5:3.0:6", "--param") == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    assert cli._sweep_values(exp, "n", "100,200", "--param") == [100, 200]
    assert cli._sweep_values(exp, "n", "100:300:3", "--param") == [100.0, 200.0, 300.0]
    for argv, message in [
        (["sweep", "nope"], "no experiment named 'nope'"),
        (["sweep", "cuba", "--param", "tau=1,2"], r"--param 'tau=1,2': expected NAME=VALUE with NAME among"),
        (["sweep", "cuba", "--param", "n=lots"], "--param n: cannot read 'lots' as int"),
        (["sweep", "cuba", "--param", "we=1,2", "--seeds", "0"], "argument --seeds: expected an integer >= 1"),
        (["sweep", "cuba", "--param", "we=1:2:0"], "NUM must be >= 1"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert re.search(message, err) and len(err.splitlines()) == 1, err


def test_help_lists_the_experiments_parameters(capsys):
    assert cli.main(["sweep", "cuba", "--help"]) == 0
    out = capsys.readouterr().out
    for line in ("n (int, default 4000)", "we (float, default", "duration (float, default 1000.0)",
                 "headline metrics (plotted): rate_hz, cv_isi", "--scheduler ADDRESS", "--retries", "--duration",
                 "--backend", "--debug"):
        assert line in out


# ---- the store --------------------------------------------------------------------------------
def test_a_folder_of_another_sweep_or_of_other_files_is_refused_untouched(tmp_path):
    spec = SweepSpec.make("cuba", grid={"we": [1.0, 2.0]}, fixed=SMALL)
    Sweep(spec, tmp_path / "s").store.create()
    manifest = (tmp_path / "s" / "sweep.json").read_text()
    other = SweepSpec.make("cuba", grid={"we": [1.0, 3.0]}, fixed=SMALL)
    with pytest.raises(SweepError, match="holds another sweep .*differs in grid"):
        Sweep(other, tmp_path / "s").run(workers=1)
    assert (tmp_path / "s" / "sweep.json").read_text() == manifest
    assert os.listdir(tmp_path / "s" / "points") == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="is not a neurosim sweep folder"):
        Sweep(spec, tmp_path / "other").run(workers=1)
    assert os.listdir(tmp_path / "other") == ["notes.txt"]


def test_unreachable_scheduler_fails_within_the_timeout_and_writes_nothing(tmp_path):
    spec = SweepSpec.make("cuba", grid={"we": [1.0, 2.0]}, fixed=SMALL)
    t0 = time.perf_counter()
    with pytest.raises(SweepError, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' within 1 s"):
        Sweep(spec, tmp_path / "s").run(scheduler="tcp://127.0.0.1:9", timeout=1.0)
    assert time.perf_counter() - t0 < 15.0
    assert not (tmp_path / "s").exists()


# ---- on a LocalCluster of 2 workers --------------------------------------------------------------
@pytest.mark.slow
def test_sweep_stores_every_run_once_records_failures_retries_and_resumes(tmp_path):
    """p = 1.5 is not a probability: those runs fail (recorded with traceback), the rest go on."""
    out = tmp_path / "s"
    seen = []
    spec = SweepSpec.make("cuba", grid={"we": [1.0, 2.0], "p": [0.05, 1.5]}, seeds=2, fixed=SMALL)
    sweep = Sweep(spec, out).run(workers=2, retries=1, progress=False, on_record=seen.append)
    records = {r["key"]: r for r in sweep.records()}
    assert sorted(records) == sorted(k for k, _, _ in spec.tasks()) and len(os.listdir(out / "points")) == 8
    for rec in records.values():
        if rec["params"]["p"] == 0.05:
            assert rec["status"] == "ok" and rec["attempt"] == 1 and rec["metrics"]["spike_count"] > 0
            assert rec["numba_threads"] == 1 and rec["worker"].startswith("tcp://")
            assert rec["neurosim_version"] == ns.__version__
        else:
            assert rec["status"] == "failed" and rec["attempt"] == 2  # one retry
            assert "p" in rec["error"] and "Traceback" in rec["traceback"]
    assert len(seen) == 12  # 8 first attempts + 4 retries, each stored as it arrived
    df = sweep.to_pandas()
    assert len(df) == 8 and set(df["status"]) == {"ok", "failed"}
    assert df.loc[df["status"] == "ok", "rate_hz"].notna().all()
    figures = sweep.write_figures()
    assert [os.path.basename(f) for f in figures] == ["rate_hz_vs_we.png", "rate_hz_we_p.png", "cv_isi_vs_we.png",
                                                      "cv_isi_we_p.png"]
    assert all(os.path.getsize(f) > 1000 for f in figures)
    # the same sweep again: nothing to do, nothing rewritten; more retries re-run the failed ones
    stamps = {k: r["finished"] for k, r in records.items()}
    again = Sweep(spec, out).run(workers=2, retries=1, progress=False)
    assert {r["key"]: r["finished"] for r in again.records()} == stamps
    failed = sorted(k for k, r in records.items() if r["status"] == "failed")
    assert sorted((k, attempt) for k, _, _, attempt in Sweep(spec, out).pending(retries=2)) == [(k, 3) for k in failed]
    assert open_sweep(out).to_pandas().equals(df)


@pytest.mark.slow
def test_killing_a_worker_mid_sweep_loses_no_run(tmp_path):
    spec = SweepSpec.make("cuba", grid={"we": ns.linspace(1.0, 2.0, 6)}, seeds=2, fixed={"n": 2000, "duration": 400.0})
    killed = []

    def kill_the_worker_of_the_first_record(record):
        if not killed:
            os.kill(record["pid"], signal.SIGKILL)  # it has probably started its next run already
            killed.append(record["pid"])

    sweep = Sweep(spec, tmp_path / "s").run(workers=2, progress=False, on_record=kill_the_worker_of_the_first_record)
    records = sweep.records()
    assert killed and len(records) == 12 and len(os.listdir(tmp_path / "s" / "points")) == 12
    assert all(r["status"] == "ok" for r in records)
    with pytest.raises(ProcessLookupError):  # the worker really died (its Nanny started a new one)
        os.kill(killed[0], 0)


def _metrics_without_timing(sweep):
    return {r["key"]: {k: v for k, v in r["metrics"].items() if k not in TIMING_METRICS} for r in sweep.records()}


@pytest.mark.slow
def test_killing_the_sweep_process_then_rerunning_gives_the_uninterrupted_results(tmp_path):
    # runs long enough (2 s of network time each) that the kill lands before the last of them
    # ends, also on a quiet machine (with 400 ms runs all 10 were sometimes done by then)
    args = ["sweep", "cuba", "--param", "we=1.0:2.0:5", "--seeds", "2", "--set", "n=2000", "--set", "duration=2000",
            "--workers", "2", "--no-progress"]
    command = [sys.executable, "-m", "neurosim", *args, "--out", str(tmp_path / "killed")]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    points = tmp_path / "killed" / "points"

    def finished():
        return [f for f in os.listdir(points) if f.endswith(".json")] if points.exists() else []

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(finished()) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    os.killpg(proc.pid, signal.SIGKILL)  # its orphaned worker processes
    n_before = len(finished())
    assert 2 <= n_before < 10, n_before
    assert all(json.loads((points / f).read_text())["status"] == "ok" for f in os.listdir(points) if f.endswith(".json"))
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{10 - n_before} of 10 runs to do" in rerun.stdout
    uninterrupted = subprocess.run([sys.executable, "-m", "neurosim", *args, "--out", str(tmp_path / "whole")],
                                   capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]
    a, b = open_sweep(tmp_path / "killed"), open_sweep(tmp_path / "whole")
    assert len(a.records()) == 10 and _metrics_without_timing(a) == _metrics_without_timing(b)
    assert os.path.exists(tmp_path / "whole" / "rate_hz_vs_we.png")


@pytest.mark.slow
def test_ensemble_of_seeds_gives_independent_replicates(tmp_path):
    sweep = ns.sweep("cuba", seeds=3, fixed=SMALL, out=tmp_path / "e", workers=2, progress=False)
    counts = [r["metrics"]["spike_count"] for r in sweep.records()]
    assert [r["seed"] for r in sweep.records()] == [1, 2, 3] and len(set(counts)) == 3
    assert np.isfinite(sweep.to_pandas()["cv_isi"]).all()


def test_every_registered_experiment_has_a_sweep_help():
    for name in ns.experiments.names():
        text = cli._sweep_parser(ns.experiments.get(name)).format_help()
        assert f"neurosim sweep {name}" in text and "parameters of this experiment" in text
        assert "  seed (" not in text and "  out (" not in text  # set by the sweep, not by the user


@pytest.mark.slow
def test_an_existing_cluster_through_dask_scheduler_address(tmp_path, monkeypatch):
    """The scheduler of a cluster started elsewhere (here: in this process) is used, not closed."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        sweep = ns.sweep("cuba", grid={"we": [1.0, 2.0]}, fixed=SMALL, out=tmp_path / "s", progress=False)
        assert [r["status"] for r in sweep.records()] == ["ok", "ok"]
        assert {r["worker"] for r in sweep.records()} == set(cluster.scheduler_info["workers"])
        with Client(cluster.scheduler_address) as client:  # still up
            assert client.submit(sum, [1, 2]).result() == 3
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        ns.sweep("cuba", grid={"we": [1.0, 2.0]}, fixed=SMALL, out=tmp_path / "t", timeout=1.0)
    assert not (tmp_path / "t").exists()


def test_sweep_figures_show_means_and_spread_over_seeds(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"we": [1, 1, 2, 2, 1, 1, 2], "wi": [-5, -5, -5, -5, -2, -2, -2],
                       "rate": [1.0, 3.0, 5.0, 9.0, 2.0, 2.0, np.nan]})
    fig = ns.plot.sweep_curve(df, "rate", "we", "wi", path=tmp_path / "c.png")
    ax = fig.axes[0]
    first = ax.containers[0]  # wi = -5: means 2 and 7, s.d. sqrt(2) and sqrt(8)
    np.testing.assert_allclose(np.asarray(first.lines[0].get_ydata(), float), [2.0, 7.0])
    segments = first.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1][1] - s[0][1] for s in segments], [2 * np.sqrt(2), 2 * np.sqrt(8)])
    np.testing.assert_allclose(np.asarray(ax.containers[1].lines[0].get_ydata(), float), [2.0])  # NaN left out
    heat = ns.plot.sweep_heatmap(df, "rate", "we", "wi", path=tmp_path / "h.png")
    image = heat.axes[0].images[0].get_array()
    np.testing.assert_allclose(image.filled(np.nan), [[2.0, 7.0], [2.0, np.nan]])  # rows wi -5, -2
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "h.png").stat().st_size > 1000
