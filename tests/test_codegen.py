"""Code generated from model definitions: every construct of the language means the same on
every backend, and generated modules are cached like hand-written ones."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.kernels.codegen import modules

# Every function and construct of the language, in one (meaningless) model.
EVERYTHING = ns.NeuronModel(
    "Everything",
    # (no units: log(1 + |v|) and friends would be refused for a v in mV)
    parameters={"tau": ns.Parameter(8.0, positive=True), "theta": 1.0, "k": ns.Parameter(3, integer=True), "gain": 0.9},
    state={"v": 0.0, "x": 0.5, "g": 0.0, "flag": 0.0},
    derived={"decay": "exp(-dt / tau)", "h": "dt / k"},
    update="""
        drive = maximum(i_ext, 0.0) + minimum(g, 5.0)
        for _ in range(k):
            v = v + h * (drive - v) / tau
        x = where(v > x, sqrt(abs(x) + 1.0) * gain, tanh(x) + log(1.0 + abs(v)))
        flag = 1.0 if (v > 0.5 and not x > 2.0) or v < -1.0 else 0.0
        g *= decay
    """,
    threshold="v > theta or flag > 2.0",
    reset="v = -0.5 * theta; x += 0.25",
    refractory="2 * dt",
    frozen=("v", "x"),
    inputs={"exc": "g"},
)


def everything_network():
    net = ns.Network(dt=0.5, seed=4)
    pop = net.population("p", EVERYTHING(12, theta=ns.Uniform(0.8, 1.6), k=2))
    other = net.population("q", EVERYTHING(5))
    src = net.population("src", ns.PoissonSource(6, rate=150.0))
    net.connect(src, [pop, other], ns.connect.random(0.5), weight=ns.Uniform(0.5, 2.0), delay=ns.Uniform(0.5, 2.0))
    net.connect(pop, [pop, other], ns.connect.random(0.3), weight=0.7)
    net.add_current(pop, ns.NoiseCurrent(std=1.0, mean=1.5))
    net.add_current(other, ns.ConstantCurrent(np.linspace(-1.0, 3.0, 5)))
    net.monitor_state(pop, ["v", "x", "g", "flag"], indices=[0, 5, 11])
    return net


@pytest.mark.slow
def test_every_construct_means_the_same_on_every_backend():
    runs = {b: everything_network().run(40.0, backend=b, progress=False) for b in ("numpy", "numba", "triton")}
    assert runs["numpy"].spike_count() > 20
    flags = runs["numpy"].states["p.flag"].values
    assert set(np.unique(flags)) == {0.0, 1.0}  # both branches of the select were taken
    for backend in ("numba", "triton"):
        for name, spikes in runs["numpy"].spikes.items():
            np.testing.assert_array_equal(runs[backend].spikes[name].times, spikes.times, err_msg=f"{backend} {name}")
            np.testing.assert_array_equal(runs[backend].spikes[name].indices, spikes.indices, err_msg=f"{backend} {name}")
        for key, trace in runs["numpy"].states.items():
            # exp, log, sqrt, tanh may differ in the last bit between libm and numpy
            np.testing.assert_allclose(runs[backend].states[key].values, trace.values, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{backend} {key}")


def test_a_generated_module_is_written_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(modules, "_LOADED", {})
    source = "VALUE = 41 + 1\n"
    first = modules.load_source("test", source)
    assert first.VALUE == 42
    (path,) = (tmp_path / "kernels").glob("neurosim_generated_test_*.py")
    assert path.read_text() == source
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(modules, "_LOADED", {})  # as a new process: found on disk, not rewritten
    assert modules.load_source("test", source).VALUE == 42
    assert path.stat().st_mtime_ns == stamp
    other = modules.load_source("test", "VALUE = 7\n")
    assert other.VALUE == 7 and len(list((tmp_path / "kernels").glob("*.py"))) == 2


def test_an_unwritable_cache_folder_falls_back_to_a_temporary_one(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("NEUROSIM_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    assert not str(modules.cache_dir()).startswith(str(blocker))
