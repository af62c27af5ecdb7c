"""Plots: written only where asked, one colour per population, robust to edge cases."""

import numpy as np
import pytest

import neurosim as ns
from neurosim import plot

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    net = ns.Network(dt=1.0, seed=1)
    exc = net.population("exc", ns.Izhikevich.regular_spiking(80, heterogeneity=1.0))
    inh = net.population("inh", ns.Izhikevich.fast_spiking(20, heterogeneity=1.0))
    silent = net.population("silent", ns.LIF(10, v_rest=-70.0))
    net.connect(exc, [exc, inh], ns.connect.all_to_all(), weight=ns.Uniform(0.0, 0.5))
    net.add_current([exc, inh], ns.NoiseCurrent(std=5.0))
    net.monitor_state(exc, ["v", "u"], indices=[0, 1, 2])
    res = net.run(300.0, progress=False)
    assert res.spike_count("silent") == 0
    return res


def test_nothing_written_without_path(result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plot.raster(result)
    plot.voltage(result)
    plot.rate_histogram(result)
    assert list(tmp_path.iterdir()) == []


def test_png_written_atomically(result, tmp_path):
    for name, fn in (("r.png", plot.raster), ("v.png", plot.voltage), ("h.png", plot.rate_histogram)):
        fn(result, path=tmp_path / "sub" / name)
        data = (tmp_path / "sub" / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["h.png", "r.png", "v.png"]  # no temp files


def test_raster_plots_every_recorded_spike_in_population_colours(result):
    fig = plot.raster(result)
    top, bottom = fig.axes
    colors = plot.population_colors(result)
    scatters = top.collections
    assert len(scatters) == 3  # one per population, the silent one empty
    for coll, name in zip(scatters, result.sizes):
        assert coll.get_offsets().shape[0] == len(result.spikes[name])
        assert np.allclose(coll.get_facecolor()[0][:3], np.array([int(colors[name][i:i + 2], 16) for i in (1, 3, 5)]) / 255)
    # stacked: inh above exc
    assert scatters[1].get_offsets()[:, 1].min() >= 80
    assert len(bottom.lines) == 3


def test_raster_edge_cases(result):
    empty = ns.Network(dt=0.1, seed=0)
    empty.population("a", ns.LIF(5))
    plot.raster(empty.run(0.0, progress=False))
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.PoissonSource(10, rate=50.0))
    net.record_spikes(a, False)
    fig = plot.raster(net.run(50.0, progress=False))
    assert len(fig.axes[1].lines) == 1 and len(fig.axes[0].collections) == 0
    fig = plot.raster(result, max_points=100, populations=["exc"])
    assert fig.axes[0].collections[0].get_offsets().shape[0] == 100
    with pytest.raises(KeyError, match="no population 'zzz'"):
        plot.raster(result, populations=["zzz"])


def test_voltage_errors_name_the_recorded_keys(result):
    with pytest.raises(KeyError, match="exc.u"):
        plot.voltage(result, "inh.v")
    with pytest.raises(ValueError, match="were not recorded"):
        plot.voltage(result, "exc.v", indices=[50])
    fig = plot.voltage(result, "exc.v", indices=[1])
    assert len(fig.axes[0].lines) == 1


def test_rate_histogram_counts_every_neuron_once(result):
    fig = plot.rate_histogram(result)
    patches = fig.axes[0].containers
    assert [int(sum(p.datavalues)) for p in patches] == [80, 20, 10]
