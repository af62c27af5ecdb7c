"""The sweep store's read path under damage (no Dask here): every byte of a stored run and of
sweep.json damaged, every truncation, random bytes, well-formed files with wrong fields; the
recovery path (sweep.json deleted); leftover temporary files; the specification and engine
options across generated values. One end-to-end re-run of a real 2-run sweep is at the end."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurosim import cli
from neurosim.errors import DamagedFileError
from neurosim.sweeps import (MAX_RETRIES, MAX_RUNS, MAX_TIMEOUT_S, MAX_WORKERS_PER_CORE, DamagedRecordWarning, Sweep,
                             SweepError, SweepSpec, check_engine, open_sweep, read_manifest, write_checked_json)

FIXED = {"n": 40, "duration": 10.0}


def make_spec():
    return SweepSpec.make("cuba", grid={"we": [1.0, 2.0]}, fixed=FIXED)


def make_record(key, params, seed, status="ok"):
    """A record with the fields run_point writes (nested metrics, NaN, a multi-line traceback)."""
    record = {"key": key, "experiment": "cuba", "params": params, "seed": seed, "attempt": 1, "host": "node-1",
              "pid": 4242, "worker": "tcp://127.0.0.1:4321", "numba_threads": 1, "neurosim_version": "0.1.0",
              "started": "2026-01-01T00:00:00.000+00:00", "wall_s": 0.0123, "finished": "2026-01-01T00:00:01.000+00:00"}
    if status == "ok":
        record.update(status="ok", error=None, traceback=None,
                      metrics={"rate_hz": 12.5, "cv_isi": float("nan"), "spike_count": 123,
                               "rates_hz": {"exc": 11.25, "inh": 17.5}, "experiment": "cuba"})
    else:
        record.update(status="failed", metrics=None, error="ValueError: p must be in [0, 1], got 1.5",
                      traceback='Traceback (most recent call last):\n  File "x.py", line 1\nValueError: p\n')
    return record


@pytest.fixture
def stored(tmp_path):
    """A sweep folder holding both runs of make_spec(): one ok, one failed."""
    sweep = Sweep(make_spec(), tmp_path / "s")
    sweep.store.create()
    for (key, params, seed), status in zip(sweep.spec.tasks(), ("ok", "failed")):
        sweep.store.write(make_record(key, params, seed, status))
    return sweep


def same(a, b) -> bool:
    """Equal records (NaN equal to NaN)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def damages(data: bytes, rng):
    """``(what, damaged bytes)``: at every position a flipped bit and a random byte; a deleted
    byte and an inserted one at 250 random positions each."""
    for i in range(len(data)):
        yield f"bit {i}", data[:i] + bytes([data[i] ^ (1 << int(rng.integers(8)))]) + data[i + 1:]
        yield f"byte {i}", data[:i] + bytes([int(rng.integers(256))]) + data[i + 1:]
    for i in rng.integers(0, len(data), 250):
        yield f"deleted {i}", data[:i] + data[i + 1:]
    for i in rng.integers(0, len(data), 250):
        yield f"inserted {i}", data[:i] + bytes([int(rng.integers(256))]) + data[i:]


# ---- points/<key>.json -------------------------------------------------------------------------
def check_point_outcome(sweep, key, original, what=""):
    """A damaged record is refused naming its file, and its run is to do again (attempt 1); or it
    reads back unchanged. (That the refusal is reported, naming the file: test_damaged_points_...)"""
    path = sweep.store.record_path(key)
    try:
        record = sweep.store.read_record(key)
    except DamagedFileError as err:
        assert err.path == path and path in str(err), what
        records, damaged = sweep.store.scan()
        assert key in damaged and key not in records, what
        assert (key, 1) in [(k, attempt) for k, _, _, attempt in sweep._pending(records, retries=0)], what
        return "refused"
    assert same(record, original), what
    return "unchanged"


@pytest.mark.slow
def test_every_damaged_byte_and_truncation_of_a_point_is_refused_and_rerun_or_harmless(stored, within):
    rng = np.random.default_rng(5)
    outcomes = {"refused": 0, "unchanged": 0}
    (key, _, _), (failed_key, _, _) = stored.spec.tasks()  # the finished run: its metrics make the larger file
    os.remove(stored.store.record_path(failed_key))  # (one file for the store to scan per case)
    path = stored.store.record_path(key)
    data = Path(path).read_bytes()
    assert len(data) >= 500  # every byte position of a file of >= 500 bytes
    original = stored.store.read_record(key)
    with within(60):
        for what, damaged in damages(data, rng):
            with open(path, "wb") as fh:
                fh.write(damaged)
            outcomes[check_point_outcome(stored, key, original, what)] += 1
        for n in range(len(data)):
            with open(path, "wb") as fh:
                fh.write(data[:n])
            assert check_point_outcome(stored, key, original, f"truncated to {n}") == "refused"
    # whitespace swapped for whitespace, a digit appended to a float's zeros: same content
    assert outcomes["refused"] > 10 * outcomes["unchanged"] > 0, outcomes


def test_a_point_that_says_ok_with_garbage_metrics_is_not_done(stored):
    """Issue 1e: {"status": "ok", "metrics": "zzz"} counted as done -- without a checksum, or
    with a valid one over wrong fields."""
    key, params, seed = stored.spec.tasks()[0]
    path = stored.store.record_path(key)
    with open(path, "w") as fh:
        json.dump({"status": "ok", "metrics": "zzz"}, fh)
    with pytest.warns(DamagedRecordWarning, match="no checksum"):
        assert (key, params, seed, 1) in stored.pending()
    write_checked_json(path, dict(make_record(key, params, seed), metrics="zzz"))
    with pytest.warns(DamagedRecordWarning, match="metrics are not a dict"):
        assert (key, params, seed, 1) in stored.pending()
    write_checked_json(path, {"status": "ok", "metrics": "zzz"})
    with pytest.warns(DamagedRecordWarning, match="field 'key' is missing"):
        assert [r["key"] for r in stored.records()] == [stored.spec.tasks()[1][0]]


def test_a_record_of_another_run_under_this_runs_name_is_refused(stored):
    (key, params, seed), (other_key, _, _) = stored.spec.tasks()
    os.replace(stored.store.record_path(other_key), stored.store.record_path(key))
    with pytest.raises(DamagedFileError, match="record of another run"):
        stored.store.read_record(key)
    write_checked_json(stored.store.record_path(key), make_record(key, dict(params, n=41), seed))
    with pytest.raises(DamagedFileError, match="record of another run"):
        stored.store.read_record(key)


def test_damaged_points_are_moved_aside_and_temporary_files_removed(stored):
    key = stored.spec.tasks()[0][0]
    path = stored.store.record_path(key)
    Path(path).write_text(Path(path).read_text() + "x")
    leftovers = [os.path.join(stored.store.points_dir, ".tmp-k1ll3d.json"), os.path.join(stored.out, ".tmp-x.json")]
    for leftover in leftovers:
        Path(leftover).write_text('{"key": ')  # a write killed half-way
    records, damaged = stored.store.scan()  # the temporary files are never read
    assert list(damaged) == [key] and list(records) == [stored.spec.tasks()[1][0]]
    with pytest.warns(DamagedRecordWarning, match=f"{path}.*it is not JSON.*next run of this sweep"):
        assert [k for k, _, _, _ in stored.pending()] == [key]
    with pytest.warns(DamagedRecordWarning, match=f"{path}.*moved to '{path}.damaged'.*run again"):
        stored._prepare_store(damaged)
    assert not os.path.exists(path) and os.path.exists(path + ".damaged")
    assert not any(os.path.exists(p) for p in leftovers)
    assert [k for k, _, _, _ in stored.pending()] == [key]


@given(st.one_of(st.binary(max_size=1500), st.text(max_size=300).map(str.encode),
                 st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                              lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=4),
                              max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_random_bytes_as_a_point_are_refused_naming_it(tmp_path_factory, within, content):
    sweep = Sweep(make_spec(), tmp_path_factory.mktemp("s"))
    key = sweep.spec.tasks()[0][0]
    os.makedirs(sweep.store.points_dir)
    with open(sweep.store.record_path(key), "wb") as fh:
        fh.write(content)
    with within(5), pytest.raises(DamagedFileError) as info:
        sweep.store.read_record(key)
    assert info.value.path == sweep.store.record_path(key)


@given(st.dictionaries(st.sampled_from(["key", "experiment", "params", "seed", "attempt", "status", "metrics",
                                        "error"]),
                       st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=8)
                       | st.just({}) | st.just({"rate_hz": 1.0}) | st.sampled_from(["ok", "failed", "cuba"])))
def test_checksummed_records_with_wrong_fields_are_refused(tmp_path_factory, within, fields):
    """A file with a valid checksum (as if written by other code) over fields that are not a
    record of this run: refused, whatever the fields hold."""
    sweep = Sweep(make_spec(), tmp_path_factory.mktemp("s"))
    key = sweep.spec.tasks()[0][0]
    write_checked_json(sweep.store.record_path(key), fields)
    with within(5), pytest.raises(DamagedFileError, match="not a readable neurosim sweep record"):
        sweep.store.read_record(key)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                min_size=1, max_size=6),
       st.one_of(st.none(), st.integers(0, 10**6)))
def test_random_damage_to_a_stored_point_is_refused_or_harmless(stored, within, edits, cut):
    key = stored.spec.tasks()[0][0]
    path = stored.store.record_path(key)
    original = make_record(key, *stored.spec.tasks()[0][1:])
    write_checked_json(path, original)
    data = bytearray(Path(path).read_bytes())
    for position, value, how in edits:
        i = position % len(data)
        if how == "set":
            data[i] = value
        elif how == "insert":
            data.insert(i, value)
        elif len(data) > 1:
            del data[i]
    if cut is not None:
        data = data[:cut % len(data)]
    with open(path, "wb") as fh:
        fh.write(bytes(data))
    with within(5):
        check_point_outcome(stored, key, original, f"{edits} {cut}")


# ---- sweep.json --------------------------------------------------------------------------------
def check_manifest_outcome(sweep, original, what=""):
    """A damaged sweep.json is refused naming it and saying how to recover; or reads unchanged.
    (read_manifest is what SweepStore.check and open_sweep read it with.)"""
    try:
        manifest = read_manifest(sweep.out)
    except DamagedFileError as err:
        message = str(err)
        assert err.path == sweep.store.manifest_path and sweep.store.manifest_path in message, what
        assert "delete" in message and "run the same sweep command again" in message, what
        return "refused"
    assert manifest == original, what
    return "unchanged"


def test_every_damaged_byte_and_truncation_of_sweep_json_is_refused_naming_it(stored, within):
    path = stored.store.manifest_path
    data = Path(path).read_bytes()
    original = read_manifest(stored.out)
    rng = np.random.default_rng(6)
    outcomes = {"refused": 0, "unchanged": 0}
    with within(60):
        for what, damaged in damages(data, rng):
            with open(path, "wb") as fh:
                fh.write(damaged)
            outcomes[check_manifest_outcome(stored, original, what)] += 1
        for n in range(len(data)):
            with open(path, "wb") as fh:
                fh.write(data[:n])
            assert check_manifest_outcome(stored, original, f"truncated to {n}") == "refused"
    assert len(data) >= 250 and outcomes["refused"] > 10 * outcomes["unchanged"], outcomes


@given(st.one_of(st.binary(max_size=1000), st.text(max_size=200).map(str.encode)))
def test_random_bytes_as_sweep_json_are_refused_naming_it(tmp_path_factory, within, content):
    out = tmp_path_factory.mktemp("s")
    (out / "sweep.json").write_bytes(content)
    with within(5):
        for reader in (lambda: Sweep(make_spec(), out).store.check(), lambda: open_sweep(out)):
            with pytest.raises(DamagedFileError, match="sweep.json.*To recover: delete .*sweep.json' and run the "
                                                       "same sweep command again"):
                reader()


def test_a_truncated_sweep_json_is_refused_then_deleting_it_recovers_the_stored_runs(stored):
    data = Path(stored.store.manifest_path).read_bytes()
    Path(stored.store.manifest_path).write_bytes(data[: len(data) // 2])
    for reader in (stored.store.check, lambda: open_sweep(stored.out)):
        with pytest.raises(DamagedFileError, match="sweep.json' is not a readable neurosim sweep manifest: it is "
                                                   "not JSON.*To recover: delete"):
            reader()
    os.remove(stored.store.manifest_path)
    again = Sweep(make_spec(), stored.out)
    again.store.check()  # a folder with points/ and no sweep.json is this sweep's
    assert [r["key"] for r in again.records()] == [k for k, _, _ in stored.spec.tasks()]
    again._prepare_store({})
    assert read_manifest(stored.out)["n_runs"] == 2 and open_sweep(stored.out).to_pandas().shape[0] == 2
    other = Sweep(SweepSpec.make("cuba", grid={"we": [1.0, 3.0]}, fixed=FIXED), stored.out)
    with pytest.raises(SweepError, match="holds another sweep"):
        other.store.check()


def test_a_sweep_json_of_another_store_format_is_refused(stored):
    manifest = read_manifest(stored.out)
    write_checked_json(stored.store.manifest_path, dict(manifest, format=1))
    with pytest.raises(SweepError, match="store format 1; this neurosim reads format 2"):
        stored.store.check()


# ---- what a sweep accepts -------------------------------------------------------------------------
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=6),
                   st.lists(st.floats(allow_nan=False), max_size=3), st.just({"a": 1}), st.just(np.float64(2.0)),
                   st.just(np.arange(3)))


@given(grid=st.dictionaries(st.sampled_from(["we", "n", "p", "backend", "seed", "tau"]),
                            st.one_of(VALUES, st.lists(VALUES, max_size=4)), max_size=3),
       random=st.one_of(st.none(), st.dictionaries(st.sampled_from(["wi", "n", "backend"]),
                                                   st.one_of(VALUES, st.tuples(VALUES, VALUES)), max_size=2)),
       samples=st.one_of(st.none(), VALUES, st.integers(-5, 5)),
       seeds=st.one_of(VALUES, st.integers(-3, 4), st.lists(st.integers(-2, 5), max_size=4)),
       fixed=st.one_of(st.none(), VALUES, st.dictionaries(st.sampled_from(["duration", "p", "out"]), VALUES,
                                                          max_size=2)))
def test_sweep_specifications_are_refused_cleanly_or_well_formed(within, grid, random, samples, seeds, fixed):
    with within(5):
        try:
            spec = SweepSpec.make("cuba", grid, random=random, samples=samples, seeds=seeds, fixed=fixed)
        except SweepError:
            return
    tasks = spec.tasks()
    assert 1 <= len(tasks) <= MAX_RUNS and len({k for k, _, _ in tasks}) == len(tasks)
    kinds = {"we": float, "wi": float, "p": float, "n": int, "backend": str, "duration": float}
    for _, params, seed in tasks:
        assert isinstance(seed, int) and seed >= 0
        for name, value in params.items():
            assert type(value) is kinds[name], (name, value)
            assert not (isinstance(value, float) and math.isnan(value))
        assert math.isfinite(params.get("duration", 0.0)) and params.get("duration", 0.0) >= 0
        assert all(math.isfinite(params[name]) for name in spec.random)


@pytest.mark.parametrize("kwargs, message", [
    ({"grid": {"we": [1.0, 1.0]}}, "repeats the value 1.0"),
    ({"grid": {"we": [1.0, float("nan")]}}, "NaN is not a value"),
    ({"grid": {"we": [1.0, 2.0]}, "fixed": {"duration": -1.0}}, "duration .* finite number >= 0"),
    ({"grid": {"we": np.linspace(0, 1, MAX_RUNS + 1)}}, f"at most {MAX_RUNS}"),
    ({"grid": {"we": [1.0, 2.0]}, "seeds": MAX_RUNS}, f"{2 * MAX_RUNS} runs"),
    ({"grid": {"we": [1.0, 2.0]}, "seeds": 2.0}, "seeds must be a count"),
    ({"grid": {"we": [1.0, 2.0]}, "first_seed": -1}, "first_seed must be >= 0"),
    ({"random": {"wi": (0.0, float("inf"))}, "samples": 2}, "finite bounds"),
    ({"random": {"wi": (-1e308, 1e308)}, "samples": 2}, "wider than the largest float"),
    ({"random": {"n": (1, 10**30)}, "samples": 2}, "64-bit integers"),
    ({"random": {"n": (1, 5)}, "samples": 10**12}, "samples must be >= 1 and <= "),
    ({"grid": [1.0, 2.0]}, "grid must be a dict"),
    ({"experiment": ["cuba"]}, "experiment must be a name"),
])
def test_sweep_limits_are_refused_up_front(within, kwargs, message):
    kwargs = dict({"experiment": "cuba"}, **kwargs)
    with within(5), pytest.raises(SweepError, match=message):
        SweepSpec.make(**kwargs)


def test_a_random_point_drawn_twice_is_one_run():
    spec = SweepSpec.make("cuba", random={"n": (10, 11)}, samples=20)
    assert sorted(p["n"] for p in spec.points()) == [10, 11] and len(spec.tasks()) == 2


@given(scheduler=st.one_of(st.none(), st.text(max_size=12), st.integers()),
       workers=st.one_of(st.none(), st.integers(-2, 10**6), st.floats(), st.booleans(), st.text(max_size=3)),
       timeout=st.one_of(st.floats(), st.integers(-5, 10**6), st.booleans(), st.text(max_size=3)))
def test_engine_options_are_refused_naming_them_or_kept(within, scheduler, workers, timeout):
    with within(5):
        try:
            address, n, seconds = check_engine(scheduler, workers, timeout)
        except SweepError as err:
            assert any(word in str(err) for word in ("scheduler", "workers", "timeout")), err
            return
    assert 0 < seconds <= MAX_TIMEOUT_S and (n is None or 1 <= n <= MAX_WORKERS_PER_CORE * os.cpu_count())
    assert address == (scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None)
    assert n is None or address is None


@pytest.mark.parametrize("kwargs, message", [
    ({"retries": -1}, "retries must be >= 0"), ({"retries": MAX_RETRIES + 1}, f"<= {MAX_RETRIES}"),
    ({"retries": 1.5}, "retries must be an integer"), ({"workers": 0}, "workers must be >= 1"),
    ({"timeout": -1.0}, "timeout must be a number of seconds > 0"), ({"timeout": float("nan")}, "timeout"),
    ({"scheduler": "tcp://127.0.0.1:9", "workers": 2}, "leave workers out"), ({"scheduler": ""}, "scheduler must"),
])
def test_run_options_are_refused_before_anything_is_written(tmp_path, kwargs, message):
    with pytest.raises(SweepError, match=message):
        Sweep(make_spec(), tmp_path / "s").run(**kwargs)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("out, message", [("", "must name a folder"), (None, "out must be a folder path")])
def test_an_out_that_is_no_folder_is_refused(tmp_path, out, message):
    (tmp_path / "file").write_text("x")
    with pytest.raises((SweepError, ValueError, TypeError), match=message):
        Sweep(make_spec(), out).run()
    with pytest.raises(ValueError, match="exists and is not a folder"):
        Sweep(make_spec(), tmp_path / "file").run()
    with pytest.raises(ValueError, match="is a file, and a file holds no folders"):
        Sweep(make_spec(), tmp_path / "file" / "s").run()


# ---- end to end: a real 2-run sweep re-run after damage ------------------------------------------
@pytest.mark.slow
def test_rerunning_a_damaged_sweep_reports_and_reruns_the_damaged_point_and_recovers_sweep_json(tmp_path, capsys):
    out = str(tmp_path / "s")
    command = ["sweep", "cuba", "--param", "we=1,2", "--set", "n=100", "--duration", "20", "--workers", "1",
               "--no-progress", "--out", out]
    assert cli.main(command + ["--plot", "no_such_metric"]) == 2  # known only after the runs, which stay stored
    err = capsys.readouterr().err
    assert err.startswith("neurosim: error: sweep cuba: cannot plot metric 'no_such_metric': it is neither a headline "
                          "metric of 'cuba' nor a number its stored runs returned (they stay stored)")
    assert len(err.splitlines()) == 1 and "rate_hz" in err
    sweep = open_sweep(out)
    first = {r["key"]: r for r in sweep.records()}
    assert len(first) == 2 and all(r["status"] == "ok" for r in first.values())

    damaged_key, kept_key = list(first)
    damaged = sweep.store.record_path(damaged_key)
    text = Path(damaged).read_text()
    Path(damaged).write_text(text.replace('"spike_count": ', '"spike_count": 1'))  # valid JSON, wrong count
    Path(sweep.store.points_dir, ".tmp-abandoned.json").write_text("{")
    assert cli.main(command) == 0
    captured = capsys.readouterr()
    assert "1 of 2 runs to do" in captured.out and "2 runs stored" in captured.out
    warning = [line for line in captured.err.splitlines() if line.startswith("neurosim: warning:")]
    assert len(warning) == 1 and damaged in warning[0] and "does not match its checksum" in warning[0]
    assert os.path.exists(damaged + ".damaged") and not os.path.exists(
        os.path.join(sweep.store.points_dir, ".tmp-abandoned.json"))
    again = {r["key"]: r for r in open_sweep(out).records()}
    assert again[kept_key]["finished"] == first[kept_key]["finished"]  # not re-run
    assert again[damaged_key]["metrics"]["spike_count"] == first[damaged_key]["metrics"]["spike_count"]
    assert again[damaged_key]["finished"] != first[damaged_key]["finished"]

    manifest = os.path.join(out, "sweep.json")
    Path(manifest).write_text(Path(manifest).read_text()[:40])
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and manifest in err and "delete" in err
    os.remove(manifest)
    assert cli.main(command) == 0  # recovered: sweep.json written again, both runs kept
    assert "all 2 runs are stored" in capsys.readouterr().out
    assert {r["key"]: r["finished"] for r in open_sweep(out).records()} == {k: r["finished"] for k, r in again.items()}
