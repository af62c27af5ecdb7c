"""Plots: written only where asked, one colour per population, every spike and neuron
accounted for, robust to edge cases (no spikes, no steps, unrecorded populations, many spikes)."""

import os

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import neurosim as ns
from neurosim import plot
from neurosim.result import RunResult, Spikes, StateTrace

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    net = ns.Network(dt=1.0, seed=1)
    exc = net.population("exc", ns.Izhikevich.regular_spiking(80, heterogeneity=1.0))
    inh = net.population("inh", ns.Izhikevich.fast_spiking(20, heterogeneity=1.0))
    net.population("silent", ns.LIF(10, v_rest=-70.0))
    net.connect(exc, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(0.0, 0.5))
    net.add_current([exc, inh], ns.NoiseCurrent(std=5.0))
    net.monitor_state(exc, ["v", "u"], indices=[0, 1, 2])
    res = net.run(300.0, progress=False)
    assert res.spike_count("silent") == 0 and len(res.spikes["exc"]) > 20 and len(res.spikes["inh"]) > 5
    return res


def synthetic(sizes, spikes, n_steps=1000, dt=0.5, t_start=0.0, record=None, states=None):
    """A RunResult made by hand: ``spikes[name] = (times ms, indices)``; counts follow from them.
    Populations not in ``record`` (default all) are left out of ``result.spikes``."""
    names = list(sizes)
    counts = np.zeros((n_steps, len(names)), dtype=np.int64)
    recorded = {}
    for col, name in enumerate(names):
        times, idx = (np.asarray(a) for a in spikes.get(name, ([], [])))
        steps = np.round((times - t_start) / dt).astype(np.int64)
        np.add.at(counts[:, col], steps, 1)
        if record is None or name in record:
            order = np.argsort(times, kind="stable")
            recorded[name] = Spikes(times[order].astype(float), idx[order].astype(np.int64))
    return RunResult(dt=dt, t_start=t_start, n_steps=n_steps, sizes=dict(sizes), spikes=recorded,
                     counts=counts, states=states or {})


def rgb(hex_color):
    return np.array(to_rgb(hex_color))


# ---- files -----------------------------------------------------------------------------
def test_nothing_written_without_path(result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    figs = [plot.raster(result), plot.voltage(result), plot.rate_histogram(result)]
    assert all(isinstance(f, Figure) for f in figs)
    assert list(tmp_path.iterdir()) == []
    # object-oriented figures: nothing left open in pyplot's figure manager
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_png_written_atomically_into_new_folders(result, tmp_path):
    folder = tmp_path / "a" / "b"
    for name, fn in (("r.png", plot.raster), ("v.png", plot.voltage), ("h.png", plot.rate_histogram)):
        fig = fn(result, path=folder / name)
        assert isinstance(fig, Figure)
        data = (folder / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000
    plot.raster(result, path=str(folder / "r.png"), dpi=50)  # str path; overwrites in place
    assert (folder / "r.png").read_bytes()[:8] == PNG
    assert sorted(os.listdir(folder)) == ["h.png", "r.png", "v.png"]  # no temporary files left
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_failed_save_leaves_no_file(result, tmp_path):
    with pytest.raises(ValueError, match="dpi"):
        plot.raster(result, path=tmp_path / "r.png", dpi=0)
    assert list(tmp_path.iterdir()) == []


# ---- raster ----------------------------------------------------------------------------
def test_raster_plots_every_recorded_spike_stacked_in_population_colours(result):
    fig = plot.raster(result)
    top, bottom = fig.axes
    colors = plot.population_colors(result)
    assert len(set(colors.values())) == 3
    scatters = top.collections
    assert len(scatters) == 3  # one per recorded population, the silent one empty
    offset = 0
    for coll, name in zip(scatters, result.sizes):
        xy = coll.get_offsets()
        s = result.spikes[name]
        assert xy.shape[0] == len(s)  # spikes plotted == spikes recorded
        np.testing.assert_array_equal(xy[:, 0], s.times)
        np.testing.assert_array_equal(xy[:, 1], s.indices + offset)  # stacked in creation order
        assert np.allclose(coll.get_facecolor()[0][:3], rgb(colors[name]))
        offset += result.sizes[name]
    labels = [t.get_text() for t in top.get_yticklabels()]
    assert [lab.split("\n")[0] for lab in labels] == ["exc", "inh", "silent"]
    assert top.get_ylim() == (-0.5, 109.5)
    assert bottom.get_xlim() == (0.0, 300.0)


def test_raster_rate_panel_one_line_per_population(result):
    fig = plot.raster(result, bin_ms=10.0)
    bottom = fig.axes[1]
    assert len(bottom.lines) == 3
    colors = plot.population_colors(result)
    for line, name in zip(bottom.lines, result.sizes):
        x, y = line.get_data()
        assert np.allclose(rgb(line.get_color()), rgb(colors[name]))
        assert x.size == 30 and np.allclose(np.diff(x), 10.0) and x[0] == 5.0  # bin centres
        assert np.isclose(np.mean(y), result.mean_rate(name))  # bins tile the run exactly
    assert np.all(bottom.lines[2].get_ydata() == 0)
    # default bin: a whole number of steps, from 1 to 50 ms
    width = plot.default_bin_ms(result)
    assert 1.0 <= width <= 50.0
    x = plot.raster(result).axes[1].lines[0].get_xdata()
    assert np.allclose(np.diff(x), width)


def test_raster_population_selection_and_subsampling(result):
    fig = plot.raster(result, populations=["inh"], title="inh only")
    top, bottom = fig.axes
    assert len(top.collections) == 1 and len(bottom.lines) == 1
    np.testing.assert_array_equal(top.collections[0].get_offsets()[:, 1], result.spikes["inh"].indices)
    assert top.get_title() == "inh only"
    # the same population keeps its colour whatever else is shown, in every plot
    inh_color = rgb(plot.population_colors(result)["inh"])
    assert np.allclose(top.collections[0].get_facecolor()[0][:3], inh_color)
    assert np.allclose(rgb(bottom.lines[0].get_color()), inh_color)
    bars = plot.rate_histogram(result, populations=["inh"]).axes[0].containers[0]
    assert np.allclose(bars.patches[0].get_facecolor()[:3], inh_color)
    fig = plot.raster(result, max_points=7, populations="exc")
    xy = fig.axes[0].collections[0].get_offsets()
    assert xy.shape[0] == 7 and set(map(tuple, xy)) <= set(zip(result.spikes["exc"].times, result.spikes["exc"].indices))
    with pytest.raises(KeyError, match="no population 'zzz'"):
        plot.raster(result, populations=["zzz"])
    with pytest.raises(ValueError, match="bin_ms"):
        plot.raster(result, bin_ms=-1.0)
    with pytest.raises(ValueError, match="max_points"):
        plot.raster(result, max_points=-3)


def test_raster_zero_steps_and_zero_spikes():
    net = ns.Network(dt=0.1, seed=0)
    net.population("a", ns.LIF(5))
    empty = net.run(0.0, progress=False)
    assert empty.n_steps == 0
    fig = plot.raster(empty)
    assert fig.axes[0].collections[0].get_offsets().shape[0] == 0
    assert len(fig.axes[1].lines) == 1
    fig.savefig(__import__("io").BytesIO(), format="png")  # and it renders
    plot.rate_histogram(empty)
    silent = synthetic({"x": 3, "y": 4}, {})
    fig = plot.raster(silent, max_points=0)
    assert [c.get_offsets().shape[0] for c in fig.axes[0].collections] == [0, 0]


def test_raster_unrecorded_population_still_gets_its_rate():
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.PoissonSource(10, rate=50.0))
    b = net.population("b", ns.PoissonSource(5, rate=20.0))
    net.record_spikes(a, False)
    res = net.run(200.0, progress=False)
    assert "a" not in res.spikes and res.spike_count("a") > 0
    fig = plot.raster(res)
    top, bottom = fig.axes
    assert len(top.collections) == 1 and top.collections[0].get_offsets().shape[0] == len(res.spikes["b"])
    np.testing.assert_array_equal(top.collections[0].get_offsets()[:, 1], res.spikes["b"].indices + 10)
    assert len(bottom.lines) == 2 and bottom.lines[0].get_ydata().sum() > 0
    assert "not recorded" in top.get_yticklabels()[0].get_text()
    with pytest.raises(ValueError, match="not recorded"):
        plot.rate_histogram(res, populations=["a"])
    assert len(plot.rate_histogram(res).axes[0].containers) == 1  # default: recorded ones only


def test_raster_many_spikes_and_time_offset(tmp_path):
    rng = np.random.default_rng(0)
    n_spikes, n = 300_000, 2000
    times = 5000.0 + rng.integers(0, 2000, n_spikes) * 0.5  # a run continued from 5 s
    res = synthetic({"big": n}, {"big": (times, rng.integers(0, n, n_spikes))}, n_steps=2000, t_start=5000.0)
    fig = plot.raster(res, path=tmp_path / "big.png")
    coll = fig.axes[0].collections[0]
    assert coll.get_offsets().shape[0] == n_spikes and coll.get_rasterized()
    assert fig.axes[1].get_xlim() == (5000.0, 6000.0)
    assert fig.axes[1].lines[0].get_xdata()[0] > 5000.0
    assert (tmp_path / "big.png").stat().st_size > 5000


def test_raster_into_callers_axes(result, tmp_path):
    fig = Figure()
    axes = fig.subplots(2, 1)
    out = plot.raster(result, axes=axes, path=tmp_path / "mine.png")
    assert out is fig and len(axes[0].collections) == 3 and len(axes[1].lines) == 3
    assert (tmp_path / "mine.png").read_bytes()[:8] == PNG


# ---- voltage ---------------------------------------------------------------------------
def test_voltage_traces(result):
    fig = plot.voltage(result)  # first recorded trace
    ax = fig.axes[0]
    trace = result.states["exc.v"]
    assert len(ax.lines) == 3 and ax.get_title() == "exc.v" and "mV" in ax.get_ylabel()
    for k, line in enumerate(ax.lines):
        np.testing.assert_array_equal(line.get_xdata(), trace.times)
        np.testing.assert_array_equal(line.get_ydata(), trace.values[:, k])
    fig = plot.voltage(result, "exc.u", indices=[2, 0])
    lines = fig.axes[0].lines
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0].get_ydata(), result.states["exc.u"].values[:, 2])
    assert plot.voltage(result, "exc.v", indices=1).axes[0].lines[0].get_label() == "neuron 1"


def test_voltage_errors_name_the_recorded_keys(result):
    with pytest.raises(KeyError, match=r"exc\.u.*exc\.v|exc\.v.*exc\.u"):
        plot.voltage(result, "inh.v")
    with pytest.raises(ValueError, match=r"\[50\] were not recorded.*\[0, 1, 2\]"):
        plot.voltage(result, "exc.v", indices=[1, 50])
    with pytest.raises(ValueError, match="monitor_state"):
        plot.voltage(synthetic({"a": 2}, {}))


# ---- rate histogram --------------------------------------------------------------------
def test_rate_histogram_counts_every_neuron_once(result):
    fig = plot.rate_histogram(result)
    bars = fig.axes[0].containers
    assert [int(sum(b.datavalues)) for b in bars] == [80, 20, 10]
    colors = plot.population_colors(result)
    for b, name in zip(bars, result.sizes):
        assert np.allclose(b.patches[0].get_facecolor()[:3], rgb(colors[name]))
    # every population on the same bin edges
    edges = [tuple(p.get_x() for p in b.patches) for b in bars]
    assert edges[0] == edges[1] == edges[2]


def test_rate_histogram_puts_each_neuron_in_its_rate_bin():
    # 4 neurons over 1 s: 0, 0, 3 and 10 spikes -> 0, 0, 3 and 10 Hz
    times = np.concatenate([[10.0, 20.0, 30.0], np.arange(10) * 50.0 + 1.0])
    idx = np.array([2, 2, 2] + [3] * 10)
    res = synthetic({"p": 4, "q": 2}, {"p": (times, idx)}, n_steps=2000, dt=0.5)
    np.testing.assert_allclose(plot.neuron_rates(res, "p"), [0, 0, 3, 10])
    fig = plot.rate_histogram(res, populations=["p"], bins=11)
    (bars,) = fig.axes[0].containers
    centres = np.array([p.get_x() + p.get_width() / 2 for p in bars.patches])
    heights = np.array(bars.datavalues)
    assert heights.sum() == 4
    assert dict(zip(np.round(centres).astype(int), heights))[0] == 2
    assert heights[np.argmin(abs(centres - 3))] == 1 and heights[np.argmin(abs(centres - 10))] == 1
    # integer rates never fall between bins: no empty bin between two occupied levels of 1 Hz
    fig = plot.rate_histogram(res, populations=["p"], bins=30)
    assert all(p.get_width() == pytest.approx(1.0) for p in fig.axes[0].containers[0].patches)
