"""Short-term plasticity (issue 21, acceptance 2): the ``stp`` example against Brian2's
``examples/frompapers/Tsodyks_Pawelzik_Markram_1998.py``, and the built-in
``neurosim.plasticity.TsodyksMarkram`` against the closed form of Maass et al. (2002).

Brian2 runs its example's model as written (its equations, parameters and stimulus, copied
below from the file, in Brian2's units) on the numpy target with loop-invariant optimisations
off; neurosim runs ``examples/stp.py`` (an event-driven synapse that catches up with Brian2's
clock-driven steps in closed form, see its docstring). Measured: max |v - v_brian2| is 1.4e-14
to 4.5e-14 of max |v| (panels B to A), numpy and numba alike; the tests ask for 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.examples import stp as example
from neurosim.plasticity import TsodyksMarkram

RTOL = 1e-9  # acceptance 2 of issue 21: relative to the panel's peak |v|


# ---- Brian2's example, as written ---------------------------------------------------------

def brian2_parameters():
    """Brian2's ``parameters`` dict (without the plot entries), verbatim, in Brian2's units."""
    from brian2 import Gohm, Hz, Mohm, ms, pA

    return {
        "A": {"neuron": {"tau_mem": 40 * ms, "R_in": 100 * Mohm},
              "synapse": {"tau_inact": 3 * ms, "A_SE": 250 * pA, "tau_rec": 800 * ms, "U_SE": 0.6},
              "stimulus": {"start": 100 * ms, "stop": 1100 * ms, "frequency": 20 * Hz},
              "simulation": {"duration": 1200 * ms}},
        "B": {"neuron": {"tau_mem": 60 * ms, "R_in": 1 * Gohm},
              "synapse": {"tau_inact": 1.5 * ms, "A_SE": 1540 * pA, "tau_rec": 130 * ms, "U_SE": 0.03,
                          "tau_facil": 530 * ms},
              "stimulus": {"start": 100 * ms, "stop": 1100 * ms, "frequency": 20 * Hz},
              "simulation": {"duration": 1200 * ms}},
        "C": {"neuron": {"tau_mem": 60 * ms, "R_in": 1 * Gohm},
              "synapse": {"tau_inact": 1.5 * ms, "A_SE": 1540 * pA, "tau_rec": 130 * ms, "U_SE": 0.03,
                          "tau_facil": 530 * ms},
              "stimulus": {"start": 100 * ms, "stop": 375 * ms, "frequency": 70 * Hz},
              "simulation": {"duration": 500 * ms}},
    }


def brian2_panel(panel: str):
    """Run one panel of Brian2's example (its get_neuron / get_synapses / get_stimulus); returns
    (v in mV at the start of every step, the stimulus spike steps)."""
    b2 = pytest.importorskip("brian2")
    from brian2 import Hz, ms, mV

    p = brian2_parameters()[panel]
    saved = {k: b2.prefs[k] for k in ("codegen.target", "codegen.loop_invariant_optimisations",
                                      "logging.console_log_level")}
    b2.prefs["codegen.target"] = "numpy"
    b2.prefs["codegen.loop_invariant_optimisations"] = False
    b2.prefs["logging.console_log_level"] = "WARNING"
    try:
        b2.defaultclock.dt = 0.1 * ms
        neuron = b2.NeuronGroup(1, """
                                tau_mem : second
                                I_syn : ampere
                                R_in : ohm
                                dv/dt = -v/tau_mem + (R_in*I_syn)/tau_mem : volt
                                """, method="exact")
        neuron.tau_mem = p["neuron"]["tau_mem"]
        neuron.R_in = p["neuron"]["R_in"]

        s = p["stimulus"]
        times = np.arange(s["start"] / ms, s["stop"] / ms, 1 / (s["frequency"] / Hz) * 1e3) * ms
        stimulus = b2.SpikeGeneratorGroup(1, [0] * len(times), times)

        syn = p["synapse"]
        eqs = """
        dx/dt =  z/tau_rec   : 1 (clock-driven) # recovered
        dy/dt = -y/tau_inact : 1 (clock-driven) # active
        A_SE : ampere
        U_SE : 1
        tau_inact : second
        tau_rec : second
        z = 1 - x - y : 1 # inactive
        I_syn_post = A_SE*y : ampere (summed)
        """
        if syn.get("tau_facil"):
            eqs += """
            du/dt = -u/tau_facil : 1 (clock-driven)
            tau_facil : second
            """
            action = """
            u += U_SE*(1-u)
            y += u*x # important: update y first
            x += -u*x
            """
        else:
            action = """
            y += U_SE*x # important: update y first
            x += -U_SE*x
            """
        synapses = b2.Synapses(stimulus, neuron, model=eqs, on_pre=action, method="exponential_euler")
        synapses.connect()
        synapses.x = 1
        for k, value in syn.items():
            setattr(synapses, k, value)

        v_mon = b2.StateMonitor(neuron, ["v"], record=True)
        spikes = b2.SpikeMonitor(stimulus)
        net = b2.Network(neuron, stimulus, synapses, v_mon, spikes)
        net.run(p["simulation"]["duration"])
        return np.asarray(v_mon[0].v / mV), np.rint(np.asarray(spikes.t / ms) / 0.1).astype(np.int64)
    finally:
        for k, value in saved.items():
            b2.prefs[k] = value


@pytest.fixture(scope="module")
def brian2_runs():
    pytest.importorskip("brian2")
    return {panel: brian2_panel(panel) for panel in example.PANELS}


@pytest.fixture(scope="module")
def numpy_runs():
    return {panel: example.simulate(panel, backend="numpy") for panel in example.PANELS}


def relative_difference(result, brian2_v) -> float:
    """max |v - v_brian2| / max |v_brian2| over the whole run (same samples required)."""
    v = result.states[f"{example.TARGET}.v"].values[:, 0]
    assert v.shape == brian2_v.shape
    return float(np.abs(v - brian2_v).max() / np.abs(brian2_v).max())


def test_example_parameters_are_brian2s():
    pytest.importorskip("brian2")
    from brian2 import Gohm, Hz, ms, pA

    for panel, p in brian2_parameters().items():
        ours = example.PANELS[panel]
        assert ours["neuron"] == pytest.approx({"tau_mem": p["neuron"]["tau_mem"] / ms,
                                                "r_in": p["neuron"]["R_in"] / Gohm}, rel=1e-15)
        syn = {k: float(v / ms) if k.startswith("tau") else float(v / pA) if k == "A_SE" else v
               for k, v in p["synapse"].items()}
        assert ours["synapse"]["tau_facil"] == syn.pop("tau_facil", None)
        assert {k: v for k, v in ours["synapse"].items() if k != "tau_facil"} == pytest.approx(syn, rel=1e-15)
        s = p["stimulus"]
        assert ours["stimulus"] == pytest.approx({"start": s["start"] / ms, "stop": s["stop"] / ms,
                                                  "frequency": s["frequency"] / Hz}, rel=1e-15)
        assert ours["duration"] == pytest.approx(p["simulation"]["duration"] / ms, rel=1e-15)


@pytest.mark.brian2
@pytest.mark.slow
@pytest.mark.parametrize("panel", list(example.PANELS))
def test_membrane_matches_brian2(panel, brian2_runs, numpy_runs):
    brian2_v, brian2_steps = brian2_runs[panel]
    result = numpy_runs[panel]
    # the same spikes on the same steps (Brian2 bins spike times by floor, see stimulus_times)
    np.testing.assert_array_equal(np.rint(result.spikes[example.SOURCE].times / result.dt).astype(np.int64),
                                  brian2_steps)
    assert relative_difference(result, brian2_v) <= RTOL
    assert np.abs(brian2_v).max() > 0.5  # the run is the figure's (EPSPs of ~1 to ~18 mV)


@pytest.mark.slow
def test_numba_gives_the_numpy_reference(numpy_runs):
    for panel, reference in numpy_runs.items():
        result = example.simulate(panel, backend="numba")
        np.testing.assert_array_equal(result.states[f"{example.TARGET}.v"].values,
                                      reference.states[f"{example.TARGET}.v"].values)


@pytest.mark.brian2
@pytest.mark.slow
def test_the_two_state_builtin_is_close_to_but_not_the_three_state_synapse(brian2_runs):
    """Why the example defines its own synapse: TsodyksMarkram (no inactive pool) differs by
    about 1 % (9.3e-3 in panel C), far above the 1e-9 the three-state port meets -- the comparison can fail."""
    brian2_v, _ = brian2_runs["C"]
    net = ns.Network(dt=0.1)
    p = example.PANELS["C"]
    times = example.stimulus_times(**p["stimulus"])
    source = net.population("stimulus", ns.SpikeTimes(1, np.zeros(times.size, np.int64), times))
    neuron = net.population("neuron", example.TPM_MEMBRANE(1, **p["neuron"], tau_inact=p["synapse"]["tau_inact"]))
    net.connect(source, neuron, ns.connect.all_to_all(), weight=p["synapse"]["A_SE"],
                synapse=TsodyksMarkram(U=0.03, tau_rec=130.0, tau_facil=530.0))
    net.monitor_state(neuron, ["v"])
    difference = relative_difference(net.run(p["duration"], backend="numpy", progress=False), brian2_v)
    assert 1e-3 < difference < 0.1  # measured: 9.3e-3


# ---- the experiment ---------------------------------------------------------------------------

@pytest.mark.slow
def test_experiment_shows_depression_and_facilitation(tmp_path):
    m = ns.experiments.run("stp", out=str(tmp_path), backend="numpy", progress=False)
    assert m["last_over_first_A"] < 0.2  # depression: the 20th EPSP is < 1/5 of the first
    assert m["last_over_first_B"] > 2 and m["last_over_first_C"] > 1.5  # facilitation
    assert {name: p["n_epsps"] for name, p in m["panels"].items()} == {"A": 20, "B": 20, "C": 20}
    assert m["panels"]["C"]["max_peak_mv"] > m["panels"]["B"]["max_peak_mv"]  # 70 Hz sums up more
    assert (tmp_path / "stp.png").stat().st_size > 10_000 and (tmp_path / "summary.json").exists()


def test_experiment_runs_chosen_panels_and_refuses_unknown_ones(tmp_path):
    m = ns.experiments.run("stp", panels="C", duration=200.0, backend="numpy", progress=False, out=str(tmp_path))
    assert list(m["panels"]) == ["C"] and m["panels"]["C"]["duration_ms"] == pytest.approx(200.0)
    assert m["last_over_first_C"] > 1.5 and (tmp_path / "stp.png").exists() and (tmp_path / "summary.json").exists()
    # spikes at 100, 114.2, ..., 185.7, 199.9 ms; the last one's EPSP would start after the run
    assert m["panels"]["C"]["n_epsps"] == 7
    for bad in ("D", "", "a"):
        with pytest.raises(ValueError, match="panels must be a non-empty string of the letters ABC"):
            ns.experiments.run("stp", panels=bad, backend="numpy")


def test_three_state_synapse_refuses_equal_time_constants():
    with pytest.raises(ValueError, match="tau_rec .* must differ from tau_inact"):
        example.tpm_synapse(0.5, tau_inact=3.0, tau_rec=3.0)


def test_brian2_spike_binning():
    # 70 Hz: 114.2857 ms is in Brian2's step 1142 (floor), not 1143 (nearest)
    steps = np.rint(example.stimulus_times(100.0, 375.0, 70.0) / 0.1).astype(np.int64)
    assert list(steps[:4]) == [1000, 1142, 1285, 1428] and steps.size == 20


# ---- the built-in TsodyksMarkram against Maass et al.'s closed form ------------------------

#: (U, tau_rec = D, tau_facil = F), ms: facilitating and depressing synapses of Maass et al.
#: (2002) (their EE and IE mean values) and a synapse that only depresses (no F: u = U).
SYNAPSES = {"facilitating": (0.05, 125.0, 1200.0), "depressing": (0.5, 1100.0, 50.0),
            "depressing only": (0.5, 800.0, None)}
WEIGHT = 2.0

#: pulse-recorder: ``pulse`` holds what arrived in the previous step and is cleared by the next
#: update, so its sample at the start of step k + 1 is the release of the arrivals of step k.
PULSE = ns.NeuronModel("pulse_recorder", parameters={"v_threshold": 1e9},
                       state={"v": 0.0, "pulse": 0.0},
                       update="v = v + pulse\npulse = 0 * pulse", threshold="v > v_threshold",
                       inputs={"exc": "pulse"})


def spike_trains(dt: float):
    """Two trains (ms, on the grid): regular at 25 Hz, and irregular (exponential intervals of mean
    60 ms plus 0.3 ms, so never two spikes in a step)."""
    regular = np.arange(10.0, 400.0, 40.0)
    rng = np.random.default_rng(7)
    irregular = 5.0 + np.cumsum(np.rint(rng.exponential(60.0, 14) / dt) * dt + 3 * dt)
    return regular, irregular


def maass_releases(steps, dt, U, D, F, w):
    """Maass et al.: u_1 = U, R_1 = 1; u_{n+1} = U + u_n (1 - U) e^(-delta/F), R_{n+1} = 1 +
    (R_n - u_n R_n - 1) e^(-delta/D); release w u_n R_n. (F None: u_n = U.)"""
    u, R, out = U, 1.0, []
    for n, step in enumerate(steps):
        if n:
            delta = (step - steps[n - 1]) * dt
            u_next = U if F is None else U + u * (1 - U) * np.exp(-delta / F)
            R = 1 + (R - u * R - 1) * np.exp(-delta / D)
            u = u_next
        out.append(w * u * R)
    return np.array(out)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", list(SYNAPSES))
def test_builtin_tsodyks_markram_follows_maass_closed_form(kind, backend):
    dt = 0.1
    U, D, F = SYNAPSES[kind]
    trains = spike_trains(dt)
    net = ns.Network(dt=dt)
    indices = np.concatenate([np.full(t.size, i) for i, t in enumerate(trains)])
    source = net.population("source", ns.SpikeTimes(2, indices, np.concatenate(trains)))
    target = net.population("target", PULSE(2))
    net.connect(source, target, ns.connect.one_to_one(), weight=WEIGHT,
                synapse=TsodyksMarkram(U=U, tau_rec=D, tau_facil=F))
    net.monitor_state(target, ["pulse"])
    duration = max(t.max() for t in trains) + 1.0
    pulse = net.run(duration, backend=backend, progress=False).states["target.pulse"].values
    for i, train in enumerate(trains):
        steps = np.rint(train / dt).astype(np.int64)
        expected = maass_releases(steps, dt, U, D, F, WEIGHT)
        got = pulse[steps + 1, i]  # arrival at the spike's step (minimum delay), seen one step later
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
        assert np.count_nonzero(pulse[:, i]) == steps.size  # nothing released between spikes
        # the trains do what the names say: depression makes the last release smaller than the first
        assert (expected[-1] < expected[0]) == kind.startswith("depressing")
