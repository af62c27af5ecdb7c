"""The Triton engine backend against the numba backend (Triton's interpreter on CPU tensors
here; the same kernels compile for a CUDA GPU).

In the interpreter programs and atomics run in order, so spike trains match the numba backend
exactly. On a GPU the atomics' order is arbitrary: ``test_order_of_synaptic_input`` reorders
the propagation on purpose (several programs striding over the spikes) to check what the
module promises there -- exact where sums are order-free, statistical otherwise.
"""

import os
import signal

import numpy as np
import pytest

import neurosim as ns
from neurosim.kernels.engine import triton as engine_triton
from neurosim.network import SimulationError, SimulationInterrupted


def small_mixed_network(seed=5, dt=0.5, tau_syn=None, weight_scale=1.0):
    """Every code path of the kernels in a network small enough for the interpreter: two LIF
    populations (heterogeneous, uniform), Izhikevich, Poisson and spike-time sources, noise,
    constant current, drawn delays (immediate and ring), exc and inh receptors, state monitors,
    a recorded subset. ``tau_syn`` sets every synaptic time constant (0: one-step pulses)."""
    syn = {} if tau_syn is None else {"tau_exc": tau_syn, "tau_inh": tau_syn}
    net = ns.Network(dt=dt, seed=seed)
    lif = net.population("lif", ns.LIF(50, tau_m=ns.Uniform(10.0, 30.0), v_rest=-65.0, v_threshold=-50.0,
                                       v_reset=-65.0, t_ref=2.0, v_init=ns.Uniform(-65.0, -50.0), **syn))
    lif2 = net.population("lif_uniform", ns.LIF.cuba(30, **syn))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(30, heterogeneity=1.0, **(syn or {"tau_exc": 3.0})))
    poisson = net.population("poisson", ns.PoissonSource(20, rate=ns.Uniform(40.0, 120.0)))
    times = net.population("times", ns.SpikeTimes(3, indices=[2, 0, 1, 0], times=[5.0, 10.0, 10.0, 20.0]))
    w = weight_scale
    net.connect(poisson, [lif, lif2, izh], ns.connect.random(0.3), weight=4.0 * w, delay=ns.Uniform(0.5, 3.0))
    net.connect(times, lif, ns.connect.all_to_all(), weight=6.0 * w, delay=1.0)
    net.connect(lif, [lif, izh], ns.connect.fixed_in_degree(8), weight=ns.Normal(1.0, 0.5), delay=ns.Uniform(0.5, 4.0))
    net.connect(lif2, [lif, lif2], ns.connect.random(0.2), weight=-2.0 * w, delay=0.5)
    net.connect(izh, [lif, izh], ns.connect.random(0.2), weight=ns.Uniform(0.0, 3.0))
    net.add_current(lif, ns.NoiseCurrent(std=2.0, mean=14.0))
    net.add_current(lif2, ns.ConstantCurrent(18.0))
    net.add_current(izh, ns.NoiseCurrent(std=3.0, mean=8.0))
    net.monitor_state(lif, ["v", "i_exc", "i_inh"], indices=[0, 7, 49], every=1.0)
    net.monitor_state(izh, ["v", "u"], indices=[0, 29])
    net.record_spikes(lif2, np.arange(0, 30, 2))
    return net


def triton_run(net, duration, **kw):
    return net.run(duration, backend="triton", progress=False, **kw)


@pytest.fixture(scope="module")
def mixed_runs():
    return small_mixed_network().run(30.0, progress=False), triton_run(small_mixed_network(), 30.0)


@pytest.mark.slow
def test_same_spikes_states_and_counts_as_numba(mixed_runs, assert_same_run):
    ref, tri = mixed_runs
    for name in ("lif", "lif_uniform", "izh", "poisson", "times"):
        assert ref.spike_count(name) > 0, name  # every path is exercised
    assert_same_run(ref, tri)
    assert ref.info["synaptic_events"] == tri.info["synaptic_events"] > 0
    assert tri.info["backend"] == "triton"


@pytest.mark.slow
def test_state_after_the_run_is_copied_back_and_runs_continue_on_any_backend(assert_same_run):
    ref = small_mixed_network(seed=2)
    ref_results = [ref.run(10.0, progress=False) for _ in range(3)]
    net = small_mixed_network(seed=2)
    results = [triton_run(net, 10.0), net.run(10.0, backend="numba", progress=False), triton_run(net, 10.0)]
    for a, b in zip(ref_results, results):
        assert_same_run(a, b)
    for var in ("values", "refractory_until"):
        np.testing.assert_array_equal(getattr(ref._sim.state, var), getattr(net._sim.state, var))
    np.testing.assert_array_equal(ref._sim.ring, net._sim.ring)


def order_free_network(seed):
    """Every sum of synaptic input is exact, so its order cannot change a bit: weights are
    multiples of 1/8; LIF neurons get only delayed input (summed from zero in the ring buffer,
    then added in one go); Izhikevich neurons have pulse synapses (tau = 0: the decayed current
    is 0 before the step's one-step input is added)."""
    net = ns.Network(dt=0.5, seed=seed)
    lif = net.population("lif", ns.LIF(60, tau_m=20.0, v_rest=0.0, v_threshold=10.0, v_reset=0.0, t_ref=1.0,
                                       v_init=ns.Uniform(0.0, 10.0)))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(30, tau_exc=0.0, tau_inh=0.0))
    src = net.population("src", ns.PoissonSource(30, rate=100.0))
    rng = np.random.default_rng(seed)
    for pre, post, scale, delay in [(src, lif, 8, 1.0), (src, izh, 60, 0.5), (lif, lif, 2, 1.5), (lif, izh, 30, 0.5),
                                    (izh, lif, -3, 2.0)]:
        w = rng.integers(1, 9, size=(len(pre), len(post))) / 8.0 * scale * (rng.random((len(pre), len(post))) < 0.3)
        net.connect(pre, post, ns.connect.from_matrix(w), delay=delay)
    net.add_current(lif, ns.ConstantCurrent(8.0))
    return net


@pytest.mark.slow
@pytest.mark.parametrize("n_programs", [1, 3])
def test_order_of_synaptic_input(n_programs, assert_same_run):
    """Several programs (as on a GPU) deliver a step's spikes in another order than the
    reference: order-free sums still give identical spikes; general ones agree in rate."""
    ref = order_free_network(3).run(25.0, progress=False)
    net = order_free_network(3)
    net.run(0.0, backend="triton", progress=False)
    net._sim.engine().n_programs = n_programs
    assert ref.spike_count("lif") > 30 and ref.spike_count("izh") > 5
    assert_same_run(ref, triton_run(net, 25.0))

    ref = small_mixed_network(seed=1).run(30.0, progress=False)  # a seed whose order differs with 3 programs
    net = small_mixed_network(seed=1)
    net.run(0.0, backend="triton", progress=False)
    net._sim.engine().n_programs = n_programs
    tri = triton_run(net, 30.0)
    for name in ("lif", "lif_uniform", "izh"):
        a, b = ref.spike_count(name), tri.spike_count(name)
        assert abs(a - b) <= max(3, 0.1 * a), (name, a, b)  # rates agree within 10 %
    if n_programs == 1:
        assert_same_run(ref, tri)
    else:  # the order really changed: some current differs in its last bits
        assert not np.array_equal(ref.states["lif.i_exc"].values, tri.states["lif.i_exc"].values)


@pytest.mark.slow
def test_spike_buffer_growth_keeps_every_spike(monkeypatch, assert_same_run):
    """A chunk that fills the spike buffer stops before the step that might overflow it; the
    buffer grows and the chunk goes on, losing nothing (as the numba backend does)."""
    monkeypatch.setattr("neurosim.network.SPIKE_BUFFER_START", 16)
    ref = small_mixed_network().run(15.0, progress=False)
    assert ref.counts.sum() > 200  # spikes of neurons and sources: what fills the buffer
    assert_same_run(ref, triton_run(small_mixed_network(), 15.0))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the interpreter computes inf - inf
def test_blow_up_stops_with_population_and_step_as_numba():
    """Two 1e308 inputs to neuron 3 of "lif" at 5 ms make its current infinite."""
    def blowing():
        net = ns.Network(dt=0.5, seed=0)
        net.population("quiet", ns.LIF(10))
        lif = net.population("lif", ns.LIF(6))
        src = net.population("src", ns.SpikeTimes(2, indices=[0, 1], times=[5.0, 5.0]))
        w = np.zeros((2, 6))
        w[:, 3] = 1e308
        net.connect(src, lif, ns.connect.from_matrix(w))
        return net

    errors = []
    for backend in ("numba", "triton"):
        with pytest.raises(SimulationError) as info:
            blowing().run(20.0, backend=backend, progress=False)
        errors.append(info.value)
    for e in errors:
        assert (e.population, e.neuron, e.step, e.result.n_steps) == ("lif", 3, 11, 11)
        assert e.result.spike_count("src") == 2


@pytest.mark.slow
def test_ctrl_c_stops_after_a_whole_step_and_keeps_what_was_recorded(monkeypatch, assert_same_run):
    """Ctrl-C arrives while step 7's kernels are being queued: the step is finished, the run
    stops with everything recorded, and continuing gives the uninterrupted run."""
    ref = small_mixed_network().run(20.0, progress=False)
    launch = engine_triton.TritonEngine._launch_step

    def launch_and_interrupt(self, chunk, step, row, **options):
        launch(self, chunk, step, row, **options)
        if step == 7:
            os.kill(os.getpid(), signal.SIGINT)

    net = small_mixed_network()
    monkeypatch.setattr(engine_triton.TritonEngine, "_launch_step", launch_and_interrupt)
    with pytest.raises(SimulationInterrupted) as info:
        triton_run(net, 20.0)
    first = info.value.result
    assert first.n_steps == net.step == 8 and first.info["status"] == "interrupted"
    monkeypatch.setattr(engine_triton.TritonEngine, "_launch_step", launch)
    rest = triton_run(net, 20.0 - 8 * net.dt)
    for name in ref.spikes:
        both = np.concatenate([first.spikes[name].times, rest.spikes[name].times])
        np.testing.assert_array_equal(ref.spikes[name].times, both)
    np.testing.assert_array_equal(ref.counts, np.concatenate([first.counts, rest.counts]))


@pytest.mark.slow
def test_checkpoint_resume_across_backends(tmp_path, monkeypatch, assert_same_run):
    ref = small_mixed_network().run(20.0, progress=False)
    assert_same_run(ref, triton_run(small_mixed_network(), 20.0, checkpoint_every=10.0,
                                    checkpoint_path=tmp_path / "whole.ckpt"))
    write = ns.Network._checkpoint

    def write_then_stop(*args):  # the run is killed right after its first checkpoint
        write(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(ns.Network, "_checkpoint", write_then_stop)
    with pytest.raises(SimulationInterrupted):
        triton_run(small_mixed_network(), 20.0, checkpoint_every=10.0, checkpoint_path=tmp_path / "mid.ckpt")
    monkeypatch.setattr(ns.Network, "_checkpoint", write)
    for backend in ("triton", "numba"):
        _, result = ns.Network.resume(tmp_path / "mid.ckpt", backend=backend, progress=False)
        assert_same_run(ref, result)


@pytest.mark.slow
def test_hook_currents_reach_the_device(assert_same_run):
    class Pulse(ns.Hook):
        def __call__(self, ctx):
            ctx.set_current(self.populations[0], 30.0 if int(ctx.t) % 4 == 0 else 0.0)

    results = []
    for backend in ("numba", "triton"):
        net = small_mixed_network()
        results.append(net.run(12.0, backend=backend, progress=False, hooks=Pulse(every=4, populations=[net.populations["lif"]])))
    assert_same_run(*results)


def test_no_gpu_and_no_interpreter_says_how_to_proceed(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    monkeypatch.setattr(engine_triton.torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"needs a CUDA GPU.*backend='numba'.*TRITON_INTERPRET=1"):
        small_mixed_network().run(1.0, backend="triton", progress=False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        small_mixed_network().run(1.0, backend="triton", device="cuda:0", progress=False)
    with pytest.raises(ValueError, match="device must be a CUDA device"):
        small_mixed_network().run(1.0, backend="triton", device="cpu", progress=False)


def test_device_is_only_for_triton():
    with pytest.raises(ValueError, match="device is for backend='triton' only"):
        small_mixed_network().run(1.0, backend="numba", device="cuda", progress=False)


def test_network_that_does_not_fit_is_refused_up_front(monkeypatch):
    net = small_mixed_network()
    monkeypatch.setattr(engine_triton, "free_bytes", lambda device: 10_000)
    with pytest.raises(MemoryError, match=r"does not fit on cpu: it needs .* GiB \(synapses .*delay ring.*\) and "):
        triton_run(net, 1.0)
    assert net.step == 0


def test_device_bytes_follow_the_documented_layout():
    net = small_mixed_network()
    net.run(0.0, backend="triton", progress=False)
    sim, engine = net._sim, net._sim.engine()
    need = engine.need
    assert need["synapses"] == 16 * sim.n_synapses
    assert need["delay ring"] == sim.ring.nbytes
    models = [t for _, coefficients, _, refractory, _ in engine.kinds for t in (coefficients, refractory)]
    on_device = [*models, *engine.now, *engine.later, engine.population_of, engine.spikes, engine.values,
                 engine.until, engine.ring]
    measured = sum(t.numel() * t.element_size() for t in on_device)
    per_chunk = 16 * sim.n_dynamic + sim.n_total  # mean current, noise column; record flags
    assert measured + per_chunk == pytest.approx(sum(need.values()), abs=64)


def test_tensors_on_another_device_are_refused_naming_the_argument():
    import torch

    net = ns.Network(dt=0.5, seed=0)
    a = net.population("a", ns.LIF(4, v_init=torch.full((4,), -60.0)))  # CPU tensors are fine
    assert a.model.v_init[0] == -60.0
    off_host = torch.ones(4, 4, device="meta")  # stands for a GPU tensor on a machine without one
    with pytest.raises(TypeError, match=r"weight is a torch tensor on meta.*pass weight.cpu\(\)"):
        net.connect(a, a, ns.connect.all_to_all(), weight=off_host[0, :3].repeat(4))
    with pytest.raises(TypeError, match="from_matrix: matrix is a torch tensor on meta"):
        net.connect(a, a, ns.connect.from_matrix(off_host))
    with pytest.raises(TypeError, match="LIF.tau_m is a torch tensor on meta"):
        net.population("b", ns.LIF(4, tau_m=off_host[0]))
    with pytest.raises(TypeError, match="SpikeTimes.times is a torch tensor on meta"):
        ns.SpikeTimes(4, indices=[0], times=off_host[0, :1])


@pytest.mark.slow
def test_kernels_compile_for_an_h100_without_fma_and_with_float64_atomics():
    """The compiler path (not the interpreter): every kernel builds a cubin for sm_90, the neuron
    kernels contain no fused multiply-add (enable_fp_fusion=False keeps the reference's
    rounding), and propagation adds the weights with float64 atomics."""
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("compile_engine_sm90.py")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert set(lines) == {"_step_begin", "_propagate"} | {f"step_{k}" for k in range(4)}  # + LIF, Izhikevich, AdEx, CondLIF
    for name, (fma, atomics, cubin_bytes) in lines.items():
        # AdEx (step_2) calls exp, whose libdevice float64 implementation uses fma inside;
        # the model's own arithmetic is not contracted
        assert fma == "no-fma" or name == "step_2", name
        assert int(cubin_bytes) > 1000, name
    assert "add.f64" in lines["_propagate"][1]
    assert "min.s64" in lines["step_0"][1]  # first NaN/inf neuron


@pytest.mark.slow
def test_edge_networks_sources_only_no_synapses_one_model(assert_same_run):
    def sources_only():
        net = ns.Network(dt=0.5, seed=1)
        net.population("s", ns.PoissonSource(5, rate=200.0))
        return net

    def no_synapses():
        net = ns.Network(dt=0.5, seed=1)
        net.add_current(net.population("l", ns.LIF(5)), ns.ConstantCurrent(30.0))
        net.population("i", ns.Izhikevich.regular_spiking(3))
        return net

    def izhikevich_only():
        net = ns.Network(dt=0.5, seed=1)
        net.add_current(net.population("i", ns.Izhikevich.regular_spiking(3)), ns.ConstantCurrent(10.0))
        return net

    for build in (sources_only, no_synapses, izhikevich_only):
        ref = build().run(20.0, progress=False)
        assert ref.counts.sum() > 0, build.__name__  # (sources_only: the sources' spikes)
        assert_same_run(ref, triton_run(build(), 20.0))


@pytest.mark.slow
def test_streamed_spikes_on_triton(tmp_path, assert_same_run):
    ref = small_mixed_network().run(15.0, progress=False)
    streamed = triton_run(small_mixed_network(), 15.0, stream_spikes_to=tmp_path / "spikes", chunk_ms=5.0)
    assert_same_run(ref, streamed)
