"""Checkpoint and resume: a run stopped after a checkpoint and resumed gives the same spikes and
states as the run that never stopped; checkpoints are written atomically. Spikes streamed to disk
equal the in-memory recording, also across a resume."""

import pickle

import numpy as np
import pytest

import neurosim as ns
from neurosim import network
from neurosim.hooks import Hook



def mixed_network(seed=3):
    """Noise, Poisson input, drawn delays, LIF and Izhikevich, a state monitor: every random
    stream and buffer a checkpoint has to carry."""
    net = ns.Network(dt=0.1, seed=seed)
    lif = net.population("lif", ns.LIF(100, tau_m=ns.Uniform(10.0, 30.0), v_rest=-65.0, v_threshold=-50.0,
                                        v_reset=-65.0, t_ref=2.0, v_init=ns.Uniform(-65.0, -50.0)))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(40, heterogeneity=1.0))
    poisson = net.population("poisson", ns.PoissonSource(30, rate=ns.Uniform(20.0, 80.0)))
    net.connect(poisson, [lif, izh], ns.connect.random(0.2), weight=ns.Uniform(2.0, 6.0), delay=ns.Uniform(0.1, 3.0))
    net.connect(lif, [lif, izh], ns.connect.fixed_in_degree(10), weight=ns.Normal(1.0, 0.5), delay=ns.Uniform(0.1, 5.0))
    net.connect(izh, lif, ns.connect.random(0.1), weight=-2.0, delay=0.7)
    net.add_current(lif, ns.NoiseCurrent(std=2.0, mean=12.0))
    net.add_current(izh, ns.NoiseCurrent(std=3.0, mean=4.0))
    net.monitor_state(lif, ["v", "i_exc"], indices=[0, 7, 99], every=0.5)
    return net


def _interrupt_after(monkeypatch, n_chunks):
    """Ctrl-C at the start of kernel chunk number ``n_chunks + 1`` (the warm-up call not counted)."""
    real_drive, calls = network._Flattened.drive, []

    def drive(self, first_step, k):
        if k > 0:
            calls.append(k)
            if len(calls) == n_chunks + 1:
                raise KeyboardInterrupt
        return real_drive(self, first_step, k)

    monkeypatch.setattr(network._Flattened, "drive", drive)
    return monkeypatch


@pytest.mark.parametrize("backend, resume_backend", [("numba", "numba"), ("numba", "numpy"), ("numpy", "numba")])
def test_interrupted_run_resumes_spike_for_spike(tmp_path, monkeypatch, backend, resume_backend, assert_same_run):
    whole = mixed_network().run(100.0, backend=backend, progress=False)
    assert whole.spike_count() > 100
    path = tmp_path / "run.ckpt"
    net = mixed_network()
    # checkpoints every 20 ms in 10 ms chunks; Ctrl-C at the 6th chunk: the last checkpoint is at 40 ms
    _interrupt_after(monkeypatch, 5)
    with pytest.raises(ns.SimulationInterrupted) as info:
        net.run(100.0, backend=backend, progress=False, chunk_ms=10.0, checkpoint_every=20.0, checkpoint_path=path)
    assert info.value.result.n_steps == 500
    monkeypatch.undo()
    resumed_net, resumed = ns.Network.resume(path, backend=resume_backend, progress=False)
    assert resumed_net.step == 1000
    assert resumed.info["status"] == "completed"
    assert_same_run(resumed, whole)


def test_checkpointed_run_equals_a_plain_run_and_the_last_checkpoint_is_the_end(tmp_path, assert_same_run):
    whole = mixed_network().run(60.0, progress=False)
    path = tmp_path / "sub" / "run.ckpt"  # the folder is created
    res = mixed_network().run(60.0, progress=False, checkpoint_every=7.0, checkpoint_path=path)
    assert_same_run(res, whole)
    net, again = ns.Network.resume(path, progress=False)  # nothing left to run: the whole result again
    assert_same_run(again, whole)
    # the checkpoint does not drag the previous run's result along
    first = mixed_network()
    first.run(50.0, progress=False)
    first.run(1.0, progress=False, checkpoint_every=1.0, checkpoint_path=tmp_path / "second.ckpt")
    from neurosim.checkpoint import read_checkpoint

    assert read_checkpoint(tmp_path / "second.ckpt")[0].last_result is None
    # the network goes on like the one that was never saved
    plain = mixed_network()
    plain.run(60.0, progress=False)
    assert_same_run(net.run(20.0, progress=False), plain.run(20.0, progress=False))


def test_a_crash_while_writing_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    net = mixed_network()
    net.run(20.0, progress=False, checkpoint_every=10.0, checkpoint_path=path)
    before = path.read_bytes()
    real_dump = pickle.dump

    def dump_then_die(obj, fh, *args, **kw):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(pickle, "dump", dump_then_die)
    with pytest.raises(OSError, match="disk full"):
        net.run(20.0, progress=False, checkpoint_every=10.0, checkpoint_path=path)
    monkeypatch.setattr(pickle, "dump", real_dump)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary file left behind
    resumed_net, res = ns.Network.resume(path, progress=False)
    assert res.n_steps == 200 and resumed_net.step == 200


def test_bad_checkpoint_arguments(tmp_path):
    net = mixed_network()
    with pytest.raises(ValueError, match="checkpoint_every and checkpoint_path must be given together"):
        net.run(10.0, progress=False, checkpoint_every=5.0)
    with pytest.raises(ValueError, match="checkpoint_every"):
        net.run(10.0, progress=False, checkpoint_every=-1.0, checkpoint_path=tmp_path / "x")
    class Nothing(Hook):
        def __call__(self, ctx):
            pass

    with pytest.raises(ValueError, match="cannot be combined with hooks"):
        net.run(10.0, progress=False, checkpoint_every=5.0, checkpoint_path=tmp_path / "x", hooks=Nothing(every=10))
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"not": "a checkpoint"}))
    with pytest.raises(ns.DamagedFileError, match="is not a readable neurosim checkpoint"):
        ns.Network.resume(other)
    ok = tmp_path / "ok.ckpt"
    net.run(10.0, progress=False, checkpoint_every=5.0, checkpoint_path=ok)
    with pytest.raises(ValueError, match="backend must be one of"):
        ns.Network.resume(ok, backend="cuda")


def test_streamed_spikes_equal_the_in_memory_recording(tmp_path):
    from neurosim.spike_stream import load_spikes

    whole = mixed_network().run(60.0, progress=False)
    net = mixed_network()
    net.record_spikes(net.populations["izh"], False)
    streamed = net.run(60.0, progress=False, chunk_ms=7.0, stream_spikes_to=tmp_path / "spikes")
    assert "izh" not in streamed.spikes and not (tmp_path / "spikes" / "izh.times.f64").exists()
    for name in ("lif", "poisson"):
        assert isinstance(streamed.spikes[name].times, np.memmap)
        np.testing.assert_array_equal(streamed.spikes[name].times, whole.spikes[name].times)
        np.testing.assert_array_equal(streamed.spikes[name].indices, whole.spikes[name].indices)
        again = load_spikes(tmp_path / "spikes", name)
        np.testing.assert_array_equal(again.indices, whole.spikes[name].indices)
    np.testing.assert_array_equal(streamed.counts[:, 0], whole.counts[:, 0])
    with pytest.raises(FileNotFoundError, match="no spikes of population 'izh'"):
        load_spikes(tmp_path / "spikes", "izh")
    # a second run into the same folder would truncate files the first result maps: refused
    with pytest.raises(FileExistsError, match="lif.times.f64' already exists"):
        net.run(10.0, progress=False, stream_spikes_to=tmp_path / "spikes")
    np.testing.assert_array_equal(streamed.spikes["lif"].times, whole.spikes["lif"].times)


def test_streamed_run_resumes_without_duplicate_spikes(tmp_path, monkeypatch):
    whole = mixed_network().run(100.0, progress=False)
    _interrupt_after(monkeypatch, 5)
    with pytest.raises(ns.SimulationInterrupted):
        mixed_network().run(100.0, progress=False, chunk_ms=10.0, checkpoint_every=20.0,
                            checkpoint_path=tmp_path / "run.ckpt", stream_spikes_to=tmp_path / "spikes")
    monkeypatch.undo()
    # the stopped run streamed 50 ms, its last checkpoint is at 40 ms: resuming cuts the files back
    _, resumed = ns.Network.resume(tmp_path / "run.ckpt", progress=False)
    for name in whole.spikes:
        np.testing.assert_array_equal(resumed.spikes[name].times, whole.spikes[name].times)
        np.testing.assert_array_equal(resumed.spikes[name].indices, whole.spikes[name].indices)


def test_streaming_refuses_hooks(tmp_path):
    class Nothing(Hook):
        def __call__(self, ctx):
            pass

    with pytest.raises(ValueError, match="stream_spikes_to cannot be combined with hooks"):
        mixed_network().run(10.0, progress=False, stream_spikes_to=tmp_path, hooks=Nothing(every=10))
