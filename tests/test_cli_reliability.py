"""The command line under bad input: every failure is one line on stderr, ``neurosim: error:
...`` naming what was wrong, exit status 2 (refused) or 1 (failed while running), never a
traceback, a hang or a silent acceptance. Most cases run in this process against a stub
experiment (fast); the issue's own examples also run the real experiments and, once, the
real entry point in a subprocess."""

import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from neurosim import cli, experiments, sweeps
from neurosim.errors import DamagedFileError, InsufficientMemoryError, SimulationError, SimulationInterrupted
from neurosim.sweeps import MAX_RETRIES, MAX_RUNS, MAX_TIMEOUT_S, MAX_WORKERS_PER_CORE, Sweep, SweepSpec


def stub_experiment(*, duration: float = 10.0, seed: int = 1, backend: str = "numpy", out: str | None = None,
                    progress: bool | None = None, x: float = 1.0, k: int = 2, mode: str = "a", flag: bool = False,
                    opt: float | None = None) -> dict:
    """A stand-in experiment that checks its values as real ones do, and writes a summary to ``out``."""
    for name, value in (("duration", duration), ("x", x)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if backend not in ("numpy", "numba"):
        raise ValueError(f"unknown backend {backend!r}; use numpy or numba")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    STUB_CALLS.append({"duration": duration, "seed": seed, "backend": backend, "out": out, "x": x, "k": k,
                       "mode": mode, "flag": flag, "opt": opt})
    if STUB_RAISES:
        raise STUB_RAISES[0]
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "summary.json"), "w") as fh:
            json.dump({"value": x * k}, fh)
    return {"value": x * k, "seed": seed, "rates": {"a": 1.0}}


STUB_CALLS: list[dict] = []
STUB_RAISES: list[BaseException] = []
STUB_KINDS = {"duration": float, "seed": int, "backend": str, "x": float, "k": int, "mode": str, "flag": bool,
              "opt": float}


@pytest.fixture
def stub(monkeypatch, tmp_path):
    """Experiment "stub" registered for the test; the working folder is ``tmp_path`` (so the
    default --out lands there); returns the list of the stub's calls."""
    monkeypatch.setitem(experiments._REGISTRY, "stub",
                        experiments.Experiment("stub", stub_experiment, "Stub experiment.", ("value",)))
    monkeypatch.chdir(tmp_path)
    STUB_CALLS.clear()
    STUB_RAISES.clear()
    yield STUB_CALLS
    STUB_RAISES.clear()


@pytest.fixture
def no_runs(monkeypatch):
    """Sweep.run records its sweep and options instead of running anything."""
    seen = []

    def run(self, **options):
        seen.append((self.spec, options))
        return self

    monkeypatch.setattr(sweeps.Sweep, "run", run)
    return seen


def command(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words, status=2):
    """``err`` is exactly one error line (warnings aside) holding every one of ``words``."""
    assert code == status, (code, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith("neurosim: warning: ")]
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), err
    for word in words:
        assert str(word).lower() in lines[0].lower(), (word, lines[0])
    return lines[0]


def read_int(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def read_float(text):
    try:
        return float(text)
    except ValueError:
        return None


def is_number(text):
    return read_float(text) is not None


def taken_for_an_option(text):
    """argparse reads a token that starts with "-" as an option (so the option before it misses
    its value) unless it is "-" alone, holds a space, or -- the CLI sees to it -- is a number."""
    return text.startswith("-") and len(text) > 1 and " " not in text and not is_number(text)


VALUE_TEXTS = st.one_of(
    st.integers(-10**25, 10**25).map(str), st.integers(-5, 50).map(str), st.floats().map(str), st.floats().map(repr),
    st.text(max_size=10),
    st.sampled_from(["", " ", "nan", "-nan", "inf", "-inf", "1e308", "1e309", "-1", "0", "-0", "2.0", "2.5", "1e3",
                     "-1e3", "true", "False", "none", "null", "--x", "-", "--", "1_000", "0x10", "numpy", "numba",
                     " 5 ", "- 1", "rate", "value", "x"]))


# ---- the examples -------------------------------------------------------------------------
def test_an_out_that_is_a_file_or_under_a_file_is_refused_before_running(stub, capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    for command_line in (["run", "stub"], ["sweep", "stub", "--param", "x=1,2"]):
        for out in ("file", os.path.join("file", "sub"), ""):
            code, _, err = command(capsys, command_line + ["--out", out])
            assert_one_line_error(code, err, "--out", repr(out) if out else "a folder")
    assert stub == [] and not os.path.exists(os.path.join("file", "sub"))


def test_an_out_in_a_folder_that_cannot_be_written_is_refused(stub, capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    places = ["/proc/neurosim-out"]  # not writable even by root
    if not os.access(locked, os.W_OK):  # (root writes anywhere on a normal file system)
        places.append(str(locked / "out"))
    try:
        for out in places:
            code, _, err = command(capsys, ["run", "stub", "--out", out])
            assert_one_line_error(code, err, "--out", out, "cannot write in folder")
            code, _, err = command(capsys, ["sweep", "stub", "--param", "x=1,2", "--out", out])
            assert_one_line_error(code, err, "--out", out, "cannot write in folder")
    finally:
        locked.chmod(0o700)
    assert stub == []


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow
@pytest.mark.skipif(has_cuda(), reason="a GPU runs the triton backend")
def test_triton_without_a_gpu_is_one_line_from_the_real_entry_point(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "neurosim", "run", "cuba", "--backend", "triton", "--set", "n=100",
                           "--duration", "5", "--no-progress", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert_one_line_error(proc.returncode, proc.stderr, "run cuba", "triton", "GPU", status=1)


@pytest.mark.parametrize("argv, words, status", [
    (["--set", "we=1e308", "--set", "n=200", "--duration", "20"], ["SimulationError", "NaN/inf", "exc"], 1),
    (["--set", "n=1000000000000"], ["memory", "available"], 2),
    (["--duration", "1e300", "--set", "n=200"], ["duration", "steps"], 2),
    (["--set", "p=1.5", "--set", "n=200", "--duration", "5"], ["p"], 2),
    (["--seed", "-1"], ["--seed", ">= 0"], 2),
])
def test_real_runs_that_blow_up_or_are_absurd_are_one_line(capsys, within, tmp_path, argv, words, status):
    with within(60):
        code, _, err = command(capsys, ["run", "cuba", "--no-progress", "--out", str(tmp_path / "o")] + argv)
    assert_one_line_error(code, err, "run cuba", *words, status=status)


@pytest.mark.parametrize("timeout", ["-1", "-1e3", "-inf", "0", "nan", "inf", f"{MAX_TIMEOUT_S * 2}", "soon"])
def test_sweep_timeout_is_parsed_then_refused_with_its_range(stub, capsys, timeout):
    for argv in (["--timeout", timeout], [f"--timeout={timeout}"]):
        code, _, err = command(capsys, ["sweep", "stub", "--param", "x=1,2"] + argv)
        assert_one_line_error(code, err, "argument --timeout", "> 0", repr(timeout))
    assert not os.path.exists("sweeps")


@pytest.mark.parametrize("argv, words", [
    (["--workers", "0"], ["--workers", ">= 1"]),
    (["--workers", str(MAX_WORKERS_PER_CORE * (os.cpu_count() or 1) + 1)], ["--workers", "<="]),
    (["--retries", "-1"], ["--retries", ">= 0"]), (["--retries", str(MAX_RETRIES + 1)], ["--retries"]),
    (["--seeds", "0"], ["--seeds", ">= 1"]), (["--seeds", "2.5"], ["--seeds"]),
    (["--samples", "0"], ["--samples", ">= 1"]), (["--samples", "3"], ["samples is for a random search"]),
    (["--first-seed", "-2"], ["--first-seed"]), (["--duration", "-5"], ["--duration"]),
    (["--plot", "zzz", "--param", "k=1,2"], ["--param k is given twice"]),
    (["--plot", "x"], ["cannot plot 'x': it is a parameter"]), (["--plot", ""], ["non-empty"]),
    (["--param", "x=1:2:0"], ["--param x=1:2:0: NUM must be >= 1"]), (["--scheduler", " "], ["--scheduler"]),
    (["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], ["leave workers out"]),
    (["--set", "seed=3"], ["--set 'seed=3'", "among"]), (["--set", "out=x"], ["--set 'out=x'"]),
    (["--duration", "5", "--set", "duration=6"], ["--duration 5.0 and --set duration=6.0 disagree"]),
])
def test_sweep_options_out_of_range_are_refused_before_any_run(stub, capsys, argv, words):
    code, _, err = command(capsys, ["sweep", "stub", "--param", "k=1,2"] + argv)
    assert_one_line_error(code, err, "sweep stub", *words)
    assert stub == [] and not os.path.exists("sweeps")


def test_plot_of_an_unknown_metric_is_refused_up_front_once_runs_are_stored(stub, capsys, tmp_path):
    spec = SweepSpec.make("stub", grid={"x": [1.0, 2.0]})
    sweep = Sweep(spec, tmp_path / "s")
    sweep.store.create()
    for key, params, seed in spec.tasks():
        sweep.store.write({"key": key, "experiment": "stub", "params": params, "seed": seed, "attempt": 1,
                           "status": "ok", "metrics": stub_experiment(**params, seed=seed), "error": None})
    base = ["sweep", "stub", "--param", "x=1,2", "--out", str(tmp_path / "s"), "--no-progress"]
    code, _, err = command(capsys, base + ["--plot", "rate"])
    assert_one_line_error(code, err, "cannot plot metric 'rate'", "rates.a", "value")
    code, out, err = command(capsys, base + ["--plot", "rates.a", "--plot", "value"])
    assert code == 0 and "all 2 runs are stored" in out and err == ""
    assert sorted(os.listdir(tmp_path / "s")) == ["points", "rates.a_vs_x.png", "sweep.json", "value_vs_x.png"]
    code, _, err = command(capsys, ["sweep", "stub", "--seeds", "2", "--plot", "value"])  # nothing swept
    assert_one_line_error(code, err, "cannot plot 'value': nothing is swept")


def test_run_and_sweep_take_the_duration_the_same_ways(stub, no_runs, capsys):
    for argv in (["--duration", "5"], ["--set", "duration=5"], ["--duration", "5", "--set", "duration=5.0"]):
        assert command(capsys, ["run", "stub", "--no-progress"] + argv)[0] == 0
        assert command(capsys, ["sweep", "stub", "--param", "x=1,2", "--no-progress"] + argv)[0] == 0
    assert [call["duration"] for call in stub] == [5.0] * 3
    assert [spec.fixed for spec, _ in no_runs] == [{"duration": 5.0}] * 3
    assert command(capsys, ["sweep", "stub", "--param", "x=1,2", "--backend", "numba"])[0] == 0
    assert no_runs[-1][0].fixed == {"backend": "numba"}
    code, _, err = command(capsys, ["run", "stub", "--duration", "5", "--set", "duration=6"])
    assert_one_line_error(code, err, "--duration 5.0 and --set duration=6.0 disagree")
    code, _, err = command(capsys, ["sweep", "stub", "--param", "duration=1,2", "--duration", "3"])
    assert_one_line_error(code, err, "'duration' is both fixed and swept")


def test_debug_shows_the_traceback(stub, capsys):
    STUB_RAISES.append(SimulationError("membrane potential became NaN/inf"))
    with pytest.raises(cli.CommandError) as info:
        cli.main(["run", "stub", "--debug"])
    assert isinstance(info.value.__cause__, SimulationError)
    proc = subprocess.run([sys.executable, "-m", "neurosim", "--debug", "run", "cuba", "--set", "n=abc"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "cannot read 'abc' as int" in proc.stderr


def test_list_takes_no_arguments_and_commands_are_checked(capsys):
    for argv, words in [(["list", "--all"], ["list takes no arguments"]), (["frobnicate"], ["unknown command"]),
                        (["run"], ["needs an experiment name"]), (["sweep", "--help"], ["needs an experiment name"]),
                        (["run", "nope"], ["no experiment named 'nope'"])]:
        code, _, err = command(capsys, argv)
        assert_one_line_error(code, err, *words)


# ---- generated input ----------------------------------------------------------------------------
RUN_OPTIONS = ["--seed", "--duration", "--backend", "--set x", "--set k", "--set flag", "--set opt", "--set mode",
               "--set duration", "--set seed", "--set backend"]


def run_value_is_valid(option, text):
    """What the CLI and the stub accept for ``option`` given ``text`` (the specification)."""
    if option.startswith("--") and " " not in option and taken_for_an_option(text):
        return False
    name = option.split()[-1].lstrip("-")
    if name == "seed":
        return read_int(text) is not None and read_int(text) >= 0
    if name == "duration":
        return read_float(text) is not None and math.isfinite(read_float(text)) and read_float(text) >= 0
    if name == "backend":
        return text in ("numpy", "numba")
    if name == "x":
        return read_float(text) is not None and math.isfinite(read_float(text))
    if name == "k":
        return read_int(text) is not None and read_int(text) >= 0
    if name == "flag":
        return text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off")
    if name == "opt":
        return text.strip().lower() in ("none", "null") or read_float(text) is not None
    return True  # mode: any text


@settings(max_examples=250)  # ~20 values per option
@given(option=st.sampled_from(RUN_OPTIONS), text=VALUE_TEXTS)
def test_every_run_option_value_is_taken_or_refused_naming_the_option(stub, capsys, within, option, text):
    argv = [option, text] if " " not in option else ["--set", f"{option.split()[1]}={text}"]
    STUB_CALLS.clear()
    with within(5):
        code, out, err = command(capsys, ["run", "stub", "--no-progress"] + argv)
    name = option.split()[-1].lstrip("-")
    event("taken" if code == 0 else "refused")
    if run_value_is_valid(option, text):
        assert code == 0 and len(STUB_CALLS) == 1, (code, err)
        value = STUB_CALLS[0][name]
        assert value is None or type(value) is STUB_KINDS[name], value
        assert json.loads(out)["seed"] == STUB_CALLS[0]["seed"]
    else:
        assert_one_line_error(code, err, name)


SWEEP_OPTIONS = ["--seeds", "--first-seed", "--samples", "--workers", "--retries", "--timeout", "--duration",
                 "--backend", "--scheduler", "--plot", "--set x", "--set k", "--set opt"]


def sweep_value_is_valid(option, text):
    if " " not in option and taken_for_an_option(text):
        return False
    cores = os.cpu_count() or 1
    number, integer = read_float(text), read_int(text)
    return {
        "--seeds": integer is not None and 1 <= integer <= MAX_RUNS // 2,  # (2 points)
        "--first-seed": integer is not None and integer >= 0,
        "--samples": False,  # no random search
        "--workers": integer is not None and 1 <= integer <= MAX_WORKERS_PER_CORE * cores,
        "--retries": integer is not None and 0 <= integer <= MAX_RETRIES,
        "--timeout": number is not None and 0 < number <= MAX_TIMEOUT_S,
        "--duration": number is not None and math.isfinite(number) and number >= 0,
        "--backend": bool(text.strip()), "--scheduler": bool(text.strip()),
        "--plot": bool(text.strip()) and text not in experiments.get("stub").parameters,
        "--set x": number is not None and not math.isnan(number),
        "--set k": integer is not None,
        "--set opt": text.strip().lower() in ("none", "null") or (number is not None and not math.isnan(number)),
    }[option]


@settings(max_examples=250)
@given(option=st.sampled_from(SWEEP_OPTIONS), text=VALUE_TEXTS)
def test_every_sweep_option_value_is_taken_or_refused_naming_it(stub, no_runs, capsys, within, option, text):
    argv = [option, text] if " " not in option else ["--set", f"{option.split()[1]}={text}"]
    no_runs.clear()
    with within(5):
        code, _, err = command(capsys, ["sweep", "stub", "--param", "mode=a,b", "--no-progress"] + argv)
    name = option.split()[-1].lstrip("-")
    event("taken" if code == 0 else "refused")
    if sweep_value_is_valid(option, text):
        assert code == 0 and len(no_runs) == 1, (code, err)
        spec, options = no_runs[0]
        taken = {"--seeds": lambda: len(spec.seeds) == read_int(text),
                 "--first-seed": lambda: spec.seeds[0] == read_int(text),
                 "--workers": lambda: options["workers"] == read_int(text),
                 "--retries": lambda: options["retries"] == read_int(text),
                 "--timeout": lambda: options["timeout"] == float(text),
                 "--scheduler": lambda: options["scheduler"] == text,
                 "--duration": lambda: spec.fixed["duration"] == float(text),
                 "--backend": lambda: spec.fixed["backend"] == text,
                 "--plot": lambda: True}  # (checked, then drawn after the runs: none here)
        assert taken.get(option, lambda: type(spec.fixed[name]) in (STUB_KINDS[name], type(None)))(), (option, text)
    else:
        assert_one_line_error(code, err, name)
        assert no_runs == []


TOKENS = st.one_of(
    st.sampled_from(["--seed", "--duration", "--backend", "--set", "--out", "--no-progress", "--param", "--random",
                     "--samples", "--seeds", "--first-seed", "--workers", "--retries", "--timeout", "--plot",
                     "--scheduler", "--help-me", "-x", "stub"]),
    st.builds(lambda name, text: f"{name}={text}",
              st.sampled_from(["x", "k", "mode", "flag", "opt", "duration", "seed", "backend", "out", "zz", ""]),
              VALUE_TEXTS),
    VALUE_TEXTS)


@given(command_name=st.sampled_from(["run", "sweep"]), tokens=st.lists(TOKENS, max_size=7))
def test_any_command_line_ends_cleanly(stub, no_runs, capsys, within, command_name, tokens):
    """Whatever the tokens: a result (exit 0, the stub's metrics printed for run), or one error
    line; never a traceback. (--out comes last, so that no token makes the stub write outside
    the test's folder: the last value of an option is the one taken.)"""
    with within(5):
        code, out, err = command(capsys, [command_name, "stub"] + tokens + ["--out", "o"])
    event(f"exit {code}")
    if code == 0:
        assert "Traceback" not in err
        if command_name == "run":
            assert json.loads(out)["value"] == STUB_CALLS[-1]["x"] * STUB_CALLS[-1]["k"]
    else:
        assert_one_line_error(code, err)


ERRORS = st.sampled_from([
    (ValueError, 2), (TypeError, 2), (InsufficientMemoryError, 2), (DamagedFileError, 2), (sweeps.SweepError, 2),
    (SimulationError, 1), (RuntimeError, 1), (OSError, 1), (MemoryError, 1), (KeyError, 1), (ZeroDivisionError, 1),
    (ImportError, 1), (SimulationInterrupted, 130), (KeyboardInterrupt, 130)])


@given(error=ERRORS, message=st.text(max_size=40))
def test_any_error_of_an_experiment_is_one_line_with_its_status(stub, capsys, within, error, message):
    kind, status = error
    STUB_RAISES[:] = [kind(message)]
    with within(5):
        code, _, err = command(capsys, ["run", "stub", "--no-progress"])
    if status == 130:
        assert code == 130 and err == "neurosim: interrupted\n"
    else:
        line = assert_one_line_error(code, err, "run stub", status=status)
        assert status == 2 or kind.__name__ in line


COMPONENTS = st.one_of(st.sampled_from(["file", "dir", "locked", "new", ".", "", "a" * 300, "nul\0", "\udcff"]),
                       st.text(alphabet=st.characters(blacklist_characters="/\0"), max_size=6))


@given(parts=st.lists(COMPONENTS, min_size=1, max_size=3))
def test_any_out_path_is_written_or_refused_naming_it(stub, capsys, within, tmp_path_factory, parts):
    base = tmp_path_factory.mktemp("out")
    (base / "file").write_text("x")
    (base / "dir").mkdir()
    (base / "locked").mkdir(mode=0o500)
    out = os.path.join(str(base), *parts)
    try:
        with within(5):
            code, _, err = command(capsys, ["run", "stub", "--no-progress", "--out", out])
        event(f"exit {code}")
        if code == 0:
            assert os.path.isfile(os.path.join(out, "summary.json"))
        else:
            assert_one_line_error(code, err, "--out")
            with pytest.raises((OSError, ValueError)):  # it really cannot be written
                os.makedirs(out, exist_ok=True)
                with open(os.path.join(out, "probe"), "w"):
                    pass
    finally:
        (base / "locked").chmod(0o700)
