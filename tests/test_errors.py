"""Bad input gets a clear error naming the argument; blow-ups stop the run and keep the data."""

import numpy as np
import pytest

import neurosim as ns


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_dt(dt):
    with pytest.raises(ValueError, match="dt"):
        ns.Network(dt=dt)


def test_dt_type():
    with pytest.raises(TypeError, match="dt"):
        ns.Network(dt="0.1")


@pytest.mark.parametrize("kwargs, name", [
    ({"tau_m": float("nan")}, "tau_m"), ({"v_threshold": np.inf}, "v_threshold"), ({"tau_m": -5.0}, "tau_m"),
    ({"t_ref": -1.0}, "t_ref"), ({"tau_exc": 0.0}, "tau_exc"),
])
def test_bad_lif_parameters(kwargs, name):
    net = ns.Network(dt=0.1, seed=0)
    with pytest.raises(ValueError, match=name):
        net.population("p", ns.LIF(10, **kwargs))


def test_mismatched_parameter_length():
    net = ns.Network(dt=0.1, seed=0)
    with pytest.raises(ValueError, match=r"Izhikevich.a must be a scalar or have length 10"):
        net.population("p", ns.Izhikevich(10, a=np.ones(9)))


def test_bad_population_size_and_name():
    net = ns.Network()
    with pytest.raises(ValueError, match="LIF.n"):
        ns.LIF(0)
    net.population("p", ns.LIF(2))
    with pytest.raises(ValueError, match="already used"):
        net.population("p", ns.LIF(2))
    with pytest.raises(TypeError, match="model must be one of"):
        net.population("q", "LIF")


def test_nan_weights():
    net = ns.Network(dt=0.1, seed=0)
    a = net.population("a", ns.LIF(5))
    with pytest.raises(ValueError, match="weight must be finite"):
        net.connect(a, a, ns.connect.all_to_all(), weight=np.full(20, np.nan))
    with pytest.raises(ValueError, match="weight must be a scalar or have length 20"):
        net.connect(a, a, ns.connect.all_to_all(), weight=np.ones(3))
    with pytest.raises(ValueError, match="weight is required"):
        net.connect(a, a, ns.connect.all_to_all())


def test_delays_shorter_than_a_step_or_too_long():
    net = ns.Network(dt=0.5, seed=0, max_delay=10.0)
    a = net.population("a", ns.LIF(5))
    with pytest.raises(ValueError, match=r"delay must be at least one time step \(dt = 0.5 ms\)"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=0.2)
    with pytest.raises(ValueError, match="max_delay"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0, delay=12.0)


def test_delay_buffer_too_large_is_refused_at_run():
    net = ns.Network(dt=0.01, seed=0)
    a = net.population("a", ns.LIF(20_000))
    b = net.population("b", ns.LIF(1))
    net.connect(b, a, ns.connect.all_to_all(), weight=1.0, delay=10_000.0)
    with pytest.raises(ValueError, match="delay buffer"):
        net.run(1.0, progress=False)


def test_bad_probability_and_rule():
    with pytest.raises(ValueError, match="p must be a probability"):
        ns.connect.random(1.5)
    net = ns.Network()
    a = net.population("a", ns.LIF(5))
    with pytest.raises(TypeError, match="rule must be"):
        net.connect(a, a, 0.5, weight=1.0)


def test_unknown_backend():
    net = ns.Network()
    net.population("a", ns.LIF(5))
    with pytest.raises(ValueError, match="backend must be one of"):
        net.run(1.0, backend="cuda")


def test_connecting_populations_of_another_network():
    net1, net2 = ns.Network(), ns.Network()
    a = net1.population("a", ns.LIF(5))
    b = net2.population("b", ns.LIF(5))
    with pytest.raises(ValueError, match="belongs to another network"):
        net1.connect(a, b, ns.connect.all_to_all(), weight=1.0)
    with pytest.raises(ValueError, match="belongs to another network"):
        net1.add_current(b, ns.ConstantCurrent(1.0))


def test_negative_duration():
    net = ns.Network()
    net.population("a", ns.LIF(5))
    with pytest.raises(ValueError, match="duration must be >= 0"):
        net.run(-1.0)


def test_sources_cannot_receive():
    net = ns.Network()
    a = net.population("a", ns.LIF(5))
    s = net.population("s", ns.PoissonSource(5, rate=5.0))
    with pytest.raises(ValueError, match="spike source"):
        net.connect(a, s, ns.connect.all_to_all(), weight=1.0)


def test_structure_is_fixed_after_run():
    net = ns.Network()
    a = net.population("a", ns.LIF(5))
    net.run(1.0, progress=False)
    with pytest.raises(RuntimeError, match="after the network has run"):
        net.connect(a, a, ns.connect.all_to_all(), weight=1.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_blow_up_names_population_and_step_and_keeps_spikes(backend):
    """A huge input at step 50 throws v to 1e200 (a spike: reset to c, but u jumps to ~4e195),
    then v to -4e195 at step 52, whose square overflows at step 53: the run stops, saying where."""
    net = ns.Network(dt=1.0, seed=0)
    quiet = net.population("quiet", ns.LIF(3))
    drive = net.population("drive", ns.SpikeTimes(1, [0], [50.0]))
    wild = net.population("wild", ns.Izhikevich(4, substeps=1))
    net.add_current(wild, ns.ConstantCurrent(10.0))  # spikes regularly before the blow-up
    net.connect(drive, wild, ns.connect.all_to_all(), weight=1e200)
    with pytest.raises(ns.SimulationError) as info:
        net.run(200.0, backend=backend, progress=False)
    err = info.value
    assert err.population == "wild" and err.step == 53
    assert "population 'wild'" in str(err) and "time step 53" in str(err)
    assert err.result is not None and err.result.n_steps == 53 and not err.result.completed
    assert len(err.result.spikes["wild"]) > 0 and err.result.spikes["wild"].times.max() < 53
    assert net.last_result is err.result
    assert len(quiet) == 3


def test_interrupt_keeps_what_was_recorded(monkeypatch):
    """Ctrl-C between chunks: SimulationInterrupted carries every spike recorded so far."""
    from neurosim import network

    net = ns.Network(dt=0.1, seed=0)
    net.population("p", ns.PoissonSource(50, rate=100.0))
    real_drive, calls = network._Flattened.drive, []

    def drive_then_interrupt(self, first_step, k):
        calls.append(k)
        if len([c for c in calls if c > 0]) == 4:  # the 4th chunk of steps (not the warm-up call)
            raise KeyboardInterrupt
        return real_drive(self, first_step, k)

    monkeypatch.setattr(network._Flattened, "drive", drive_then_interrupt)
    with pytest.raises(ns.SimulationInterrupted) as info:
        net.run(1000.0, chunk_ms=10.0, progress=False)
    res = info.value.result
    assert res.n_steps == 300 and res.info["status"] == "interrupted" and not res.completed
    assert len(res.spikes["p"]) == res.spike_count("p") > 0 and res.spike_count() == 0 and res.spikes["p"].times.max() < 30.0
    assert isinstance(info.value, KeyboardInterrupt)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_infinite_lif_membrane_is_caught_before_the_reset_hides_it(backend):
    """An infinite v is above threshold: the reset would make it finite again. It must be
    reported, at the same step by both backends."""
    net = ns.Network(dt=0.1, seed=0)
    src = net.population("src", ns.SpikeTimes(2, indices=[0, 1], times=[1.0, 1.0]))
    lif = net.population("lif", ns.LIF(3))
    net.connect(src, lif, ns.connect.from_matrix(np.array([[0, 0, 1e308], [0, 0, 1e308]])))  # sum to inf
    with pytest.raises(ns.SimulationError) as info:
        net.run(5.0, backend=backend, progress=False)
    assert info.value.population == "lif" and info.value.neuron == 2 and info.value.step == 11
