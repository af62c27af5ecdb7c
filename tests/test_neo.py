"""Neo output (``RunResult.to_neo``): a SpikeTrain per recorded neuron and an AnalogSignal per
monitored variable, with the run's times, the models' units and PyNN's annotations; the Block
round-trips through Neo's file formats unchanged; the Elephant example (issue 24, point 2)."""

import json
import sys

import numpy as np
import pytest

import neurosim as ns
from neurosim.result import RunResult, Spikes, StateTrace

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")


def build(seed=3):
    """LIF and Izhikevich neurons driven by a Poisson source; a population that never fires."""
    net = ns.Network(dt=0.1, seed=seed)
    lif = net.population("lif", ns.LIF.cuba(30))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(12))
    silent = net.population("silent", ns.LIF(5, v_rest=-70.0))
    src = net.population("src", ns.PoissonSource(10, rate=60.0))
    net.connect(src, [lif, izh], ns.connect.all_to_all(), weight=3.0)
    net.connect(lif, izh, ns.connect.random(0.3), weight=1.0)
    net.add_current(izh, ns.ConstantCurrent(10.0))
    net.record_spikes(izh, [1, 4, 7, 11])  # a subset
    net.record_spikes(src)  # an input source's spikes, recorded on request
    net.monitor_state(lif, ["v", "i_exc"], indices=[0, 3, 29], every=0.5)
    net.monitor_state(izh, ["u"])
    net.monitor_state(silent, "v", every=1.0)
    return net


@pytest.fixture(scope="module")
def result():
    res = build().run(120.0, backend="numpy", progress=False)
    assert len(res.spikes["lif"]) > 30 and len(res.spikes["izh"]) > 3 and res.spike_count("silent") == 0
    return res


@pytest.fixture(scope="module")
def block(result):
    return result.to_neo()


def trains_of(segment, population):
    return [t for t in segment.spiketrains if t.annotations["source_population"] == population]


def signal_of(segment, population, variable):
    (sig,) = [s for s in segment.analogsignals
              if s.annotations.get("source_population") == population and s.name == variable]
    return sig


# ---- structure and content -----------------------------------------------------------------
def test_one_segment_per_run_with_the_runs_metadata(result, block):
    assert isinstance(block, neo.Block) and len(block.segments) == 1
    seg = block.segments[0]
    assert seg.block is block
    assert seg.annotations["dt"] == result.dt and seg.annotations["n_steps"] == result.n_steps
    assert seg.annotations["input_populations"] == ["src"]
    assert seg.annotations["backend"] == "numpy" and seg.annotations["seed"] == 3
    assert len(seg.analogsignals) == 4


def test_spike_times_equal_the_results_spikes_per_neuron(result, block):
    seg = block.segments[0]
    offsets = {"lif": 0, "izh": 30, "silent": 42, "src": 47}
    for name, recorded in (("lif", range(30)), ("izh", [1, 4, 7, 11]), ("silent", range(5)), ("src", range(10))):
        trains = trains_of(seg, name)
        assert [t.annotations["source_index"] for t in trains] == list(recorded)
        assert [t.annotations["source_id"] for t in trains] == [offsets[name] + i for i in recorded]
        own = result.spikes[name].trains(result.sizes[name])
        for t in trains:
            i = t.annotations["source_index"]
            assert t.units == pq.ms and t.dimensionality == pq.ms.dimensionality
            np.testing.assert_array_equal(t.magnitude, own[i])  # exactly
            assert float(t.t_start) == result.t_start and float(t.t_stop) == result.t_start + result.duration
            assert t.segment is seg
        assert sum(len(t) for t in trains) == len(result.spikes[name])
    assert len(seg.spiketrains) == 30 + 4 + 5 + 10
    assert all(len(t) == 0 for t in trains_of(seg, "silent"))
    # Neo's own filter selects a population
    assert len(seg.filter(source_population="izh", objects="SpikeTrain")) == 4


def test_signals_equal_the_recorded_arrays_with_units_and_sampling_period(result, block):
    seg = block.segments[0]
    cases = {("lif", "v"): (pq.mV, 0.5), ("lif", "i_exc"): (pq.mV, 0.5), ("izh", "u"): (pq.mV / pq.ms, 0.1),
             ("silent", "v"): (pq.mV, 1.0)}
    for (pop, var), (unit, every) in cases.items():
        trace, sig = result.states[f"{pop}.{var}"], signal_of(seg, pop, var)
        assert sig.shape == trace.values.shape
        np.testing.assert_array_equal(sig.magnitude, trace.values)
        assert np.shares_memory(sig.magnitude, trace.values)  # a view, not a copy
        assert sig.dimensionality == unit.dimensionality
        assert float(sig.sampling_period.rescale(pq.ms)) == pytest.approx(every, rel=1e-12)
        assert float(sig.t_start.rescale(pq.ms)) == trace.times[0]
        np.testing.assert_allclose(sig.times.rescale(pq.ms).magnitude, trace.times, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(sig.array_annotations["channel_index"], trace.indices)
        assert sig.annotations["variable"] == var and sig.segment is seg
    np.testing.assert_array_equal(signal_of(seg, "lif", "v").array_annotations["channel_index"], [0, 3, 29])
    np.testing.assert_array_equal(signal_of(seg, "izh", "u").array_annotations["source_id"], 30 + np.arange(12))


def test_a_second_run_is_a_second_segment_of_the_same_block():
    net = build()
    first = net.run(40.0, backend="numpy", progress=False)
    second = net.run(40.0, backend="numpy", progress=False)
    blk = second.to_neo(block=first.to_neo())
    assert [s.index for s in blk.segments] == [0, 1]
    t0, t1 = (trains_of(s, "lif")[0] for s in blk.segments)
    assert (float(t0.t_start), float(t0.t_stop), float(t1.t_start), float(t1.t_stop)) == (0.0, 40.0, 40.0, 80.0)
    sig = signal_of(blk.segments[1], "lif", "v")
    assert float(sig.t_start) == pytest.approx(40.0)
    for s, r in zip(blk.segments, (first, second)):
        assert sum(len(t) for t in trains_of(s, "lif")) == len(r.spikes["lif"])


# ---- round trips through Neo's files -----------------------------------------------------
def assert_same_block(a, b):
    assert len(a.segments) == len(b.segments)
    for sa, sb in zip(a.segments, b.segments):
        assert len(sa.spiketrains) == len(sb.spiketrains) and len(sa.analogsignals) == len(sb.analogsignals)
        for ta, tb in zip(sa.spiketrains, sb.spiketrains):
            np.testing.assert_array_equal(ta.magnitude, tb.magnitude)
            assert ta.units == tb.units and ta.t_start == tb.t_start and ta.t_stop == tb.t_stop
            for key in ("source_population", "source_index", "source_id"):
                assert ta.annotations[key] == tb.annotations[key]
        for ga, gb in zip(sa.analogsignals, sb.analogsignals):
            np.testing.assert_array_equal(ga.magnitude, gb.magnitude)
            assert ga.dimensionality == gb.dimensionality and ga.name == gb.name
            assert ga.t_start == gb.t_start and ga.sampling_period == gb.sampling_period
            assert ga.annotations["source_population"] == gb.annotations["source_population"]
            np.testing.assert_array_equal(ga.array_annotations["channel_index"], gb.array_annotations["channel_index"])


def test_pickle_io_round_trip(block, tmp_path):
    path = str(tmp_path / "run.pkl")
    neo.io.PickleIO(path).write_block(block)
    assert_same_block(block, neo.io.PickleIO(path).read_block())


def test_nix_io_round_trip(block, tmp_path):
    pytest.importorskip("nixio")
    path = str(tmp_path / "run.nix")
    with neo.io.NixIO(path, mode="ow") as io:
        io.write_block(block)
    with neo.io.NixIO(path, mode="ro") as io:
        assert_same_block(block, io.read_block())


def test_a_saved_result_converts_the_same(result, block, tmp_path):
    """What to_neo needs (recorded subsets, units, sampling intervals) survives save/load."""
    loaded = RunResult.load(result.save(tmp_path / "r.npz"))
    np.testing.assert_array_equal(loaded.spikes["izh"].recorded, [1, 4, 7, 11])
    assert loaded.spikes["lif"].recorded is None
    assert loaded.states["izh.u"].unit == "mV/ms" and loaded.states["lif.v"].every == 0.5
    assert_same_block(block, loaded.to_neo())


# ---- edge cases --------------------------------------------------------------------------
def test_no_spikes_recorded_and_an_empty_run():
    net = build()
    net.record_spikes(net.populations["lif"], False)
    empty = net.run(0.0, backend="numpy", progress=False).to_neo()
    seg = empty.segments[0]
    assert trains_of(seg, "lif") == []
    assert len(trains_of(seg, "izh")) == 4 and all(len(t) == 0 for t in seg.spiketrains)
    assert all(float(t.t_stop) == 0.0 for t in seg.spiketrains)
    sig = signal_of(seg, "lif", "v")
    assert sig.shape == (0, 3) and sig.dimensionality == pq.mV.dimensionality


def test_unknown_units_are_dimensionless_and_synapse_traces_name_their_projection():
    states = {"p.w": StateTrace(np.array([0.0, 2.0]), np.array([0, 5]), np.ones((2, 2)), unit=None, every=2.0),
              # an old result's trace: no unit, no every
              "a.x": StateTrace(np.array([1.0, 1.5, 2.0]), np.array([1]), np.zeros((3, 1)))}
    res = RunResult(dt=0.5, t_start=0.0, n_steps=8, sizes={"a": 3}, spikes={"a": Spikes(np.array([0.5, 1.0, 1.0]),
                    np.array([2, 0, 2]))}, counts=np.zeros((8, 1), np.int32), states=states)
    seg = res.to_neo().segments[0]
    w, x = seg.analogsignals
    assert w.annotations == {"source_projection": "p", "variable": "w"}
    np.testing.assert_array_equal(w.array_annotations["synapse_index"], [0, 5])
    assert w.dimensionality == pq.dimensionless.dimensionality and float(w.sampling_period) == 2.0
    assert x.dimensionality == pq.dimensionless.dimensionality and float(x.sampling_period) == 0.5
    assert [list(t.magnitude) for t in seg.spiketrains] == [[1.0], [], [0.5, 1.0]]


def test_a_synapse_monitor_is_a_signal_of_its_projection():
    from neurosim.plasticity import STDP

    net = ns.Network(dt=0.1, seed=1)
    src, lif = net.population("src", ns.PoissonSource(20, rate=30.0)), net.population("lif", ns.LIF(4))
    proj = net.connect(src, lif, ns.connect.all_to_all(), weight=2.0, synapse=STDP(w_max=3.0, a_pre=0.1, a_post=-0.1))
    net.monitor_synapses(proj, ["w", "apre"], indices=[0, 3, 17], every=2.0)
    result = net.run(20.0, backend="numpy", progress=False)
    for sig in result.to_neo().segments[0].analogsignals:
        assert sig.annotations == {"source_projection": proj.name, "variable": sig.name}
        np.testing.assert_array_equal(sig.magnitude, result.states[f"{proj.name}.{sig.name}"].values)
        np.testing.assert_array_equal(sig.array_annotations["synapse_index"], [0, 3, 17])
        assert float(sig.sampling_period) == 2.0 and sig.shape == (10, 3)


def test_without_neo_the_error_says_how_to_install_it(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match="pip install neo"):
        result.to_neo()


# ---- the Elephant example ----------------------------------------------------------------
def test_elephant_example_at_reduced_scale(tmp_path):
    pytest.importorskip("elephant")
    from neurosim import experiments

    m = experiments.run("neo-elephant", duration=200.0, n=800, out=str(tmp_path), progress=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (tmp_path / "elephant.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["files"]["elephant"].endswith("elephant.png") and summary["rate_hz"] == m["rate_hz"]
    assert set(m["populations"]) == {"exc", "inh"}
    for p in m["populations"].values():
        # Elephant's mean_firing_rate, averaged over the neurons, is neurosim's rate of the same spikes
        assert p["mean_rate_hz"] > 1.0
        assert p["mean_rate_hz"] == pytest.approx(p["neurosim_mean_rate_hz"], rel=1e-12)
        assert p["mean_cv_isi"] == pytest.approx(p["neurosim_cv_isi"], rel=1e-9)
        assert p["population_rate_max_diff_hz"] < 1e-6
    assert m["rate_hz"] == pytest.approx(m["rates_hz"]["exc"] * 0.8 + m["rates_hz"]["inh"] * 0.2, rel=1e-12)
    c = m["cch"]
    assert c["total_count"] > 0 and -50.0 <= c["peak_lag_ms"] <= 50.0
