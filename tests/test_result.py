"""Monitors and the result object: subsets, strides, rates, save/load."""

import numpy as np
import pytest

import neurosim as ns


def small_net(seed=2):
    net = ns.Network(dt=0.1, seed=seed)
    a = net.population("a", ns.LIF(100, v_rest=-45.0, v_init=ns.Uniform(-65.0, -50.0)))
    b = net.population("b", ns.Izhikevich.regular_spiking(50, heterogeneity=1.0))
    net.add_current(b, ns.NoiseCurrent(std=3.0, mean=5.0))
    net.connect(a, b, ns.connect.random(0.2), weight=2.0)
    return net, a, b


def test_spike_subset_and_off():
    net, a, b = small_net()
    full = small_net()[0].run(100.0, progress=False)
    net.record_spikes(a, np.array([3, 10, 50]))
    net.record_spikes(b, False)
    res = net.run(100.0, progress=False)
    assert set(np.unique(res.spikes["a"].indices)) <= {3, 10, 50} and len(res.spikes["a"]) > 0
    assert "b" not in res.spikes
    keep = np.isin(full.spikes["a"].indices, [3, 10, 50])
    np.testing.assert_array_equal(res.spikes["a"].times, full.spikes["a"].times[keep])
    # population counts cover every neuron, recorded or not
    np.testing.assert_array_equal(res.counts, full.counts)


def test_state_stride_and_times():
    net, a, b = small_net()
    net.monitor_state(b, ["v", "u"], indices=[1, 2], every=2.0)
    net.monitor_state(a, "v", indices=[0])
    res = net.run(50.0, progress=False)
    tr = res.states["b.v"]
    assert tr.values.shape == (25, 2) and res.states["b.u"].values.shape == (25, 2)
    np.testing.assert_allclose(tr.times, np.arange(25) * 2.0)
    assert res.states["a.v"].values.shape == (500, 1)
    # the strided trace is the every-step trace subsampled
    net2, _, b2 = small_net()
    net2.monitor_state(b2, "v", indices=[1, 2])
    np.testing.assert_array_equal(net2.run(50.0, progress=False).states["b.v"].values[::20], tr.values)


def test_state_times_continue_across_runs():
    net, a, _ = small_net()
    net.monitor_state(a, "v", indices=[0], every=0.3)
    net.run(1.0, progress=False)  # steps 0..9: samples at 0, 3, 6, 9
    res = net.run(1.0, progress=False)  # steps 10..19: samples at 12, 15, 18
    np.testing.assert_allclose(res.states["a.v"].times, [1.2, 1.5, 1.8])


def test_rates():
    net = ns.Network(dt=0.5, seed=0)
    net.population("p", ns.PoissonSource(200, rate=50.0))
    res = net.run(2000.0, progress=False)
    assert res.mean_rate("p") == pytest.approx(50.0, rel=0.05)
    t, r = res.rate("p", bin_ms=10.0)
    assert len(t) == 200 and t[1] - t[0] == 10.0
    assert r.mean() == pytest.approx(res.mean_rate("p"))
    assert res.spike_count("p") == len(res.spikes["p"])


def test_save_load_roundtrip(tmp_path):
    net, a, b = small_net()
    net.monitor_state(b, ["v"], indices=[0, 4])
    res = net.run(50.0, progress=False)
    path = res.save(tmp_path / "run")
    assert path.endswith(".npz") and [p.name for p in tmp_path.iterdir()] == ["run.npz"]
    back = ns.RunResult.load(path)
    assert back.sizes == res.sizes and back.dt == res.dt and back.n_steps == res.n_steps
    for name in res.spikes:
        np.testing.assert_array_equal(back.spikes[name].times, res.spikes[name].times)
        np.testing.assert_array_equal(back.spikes[name].indices, res.spikes[name].indices)
    np.testing.assert_array_equal(back.states["b.v"].values, res.states["b.v"].values)
    np.testing.assert_array_equal(back.counts, res.counts)
    assert back.info["backend"] == "numba" and back.summary()["rates_hz"] == res.summary()["rates_hz"]


def test_spike_trains_per_neuron():
    net, a, _ = small_net()
    res = net.run(100.0, progress=False)
    trains = res.spikes["a"].trains(100)
    assert len(trains) == 100 and sum(len(t) for t in trains) == len(res.spikes["a"])
    i = int(res.spikes["a"].indices[0])
    np.testing.assert_array_equal(trains[i], res.spikes["a"].times[res.spikes["a"].indices == i])


def test_summary_is_json_ready():
    import json

    res = small_net()[0].run(20.0, progress=False)
    s = json.loads(json.dumps(res.summary()))
    assert set(s["rates_hz"]) == {"a", "b"} and s["spike_count"] == res.spike_count() and s["wall_time_s"] > 0


def test_unknown_population_in_result():
    res = small_net()[0].run(5.0, progress=False)
    with pytest.raises(KeyError, match="no population 'zzz'"):
        res.mean_rate("zzz")


def test_bad_monitor_arguments():
    net, a, _ = small_net()
    with pytest.raises(ValueError, match="variables of a LIF population must be among"):
        net.monitor_state(a, "w")
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 100\)"):
        net.monitor_state(a, "v", indices=[100])
    with pytest.raises(ValueError, match="every must be at least dt"):
        net.monitor_state(a, "v", every=0.01)
