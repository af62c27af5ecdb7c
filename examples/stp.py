"""Short-term plasticity: Fig. 1 of Tsodyks, Pawelzik & Markram (1998), as Brian2's example.

Tsodyks M, Pawelzik K, Markram H (1998): Neural networks with dynamic synapses. Neural Comput
10(4): 821-835, doi:10.1162/089976698300017502. Ported from Brian2's
``examples/frompapers/Tsodyks_Pawelzik_Markram_1998.py`` (S. Schmitt 2022): one presynaptic
spike train (regular, from 100 ms) drives one passive membrane through one dynamic synapse;
panel A is a depressing synapse at 20 Hz, panels B and C a facilitating one at 20 and 70 Hz.
``tests/test_stp.py`` checks the membrane potential of every panel against Brian2's, step by
step, to 1e-9 relative (measured: ~1e-14).

The model (Brian2's file)
-------------------------
The synapse has three fractions of resources: ``x`` recovered, ``y`` active, ``z = 1 - x - y``
inactive, and (facilitating) the utilisation ``u``::

    dx/dt = z / tau_rec     dy/dt = -y / tau_inact     du/dt = -u / tau_facil
    on a spike:  u += U_SE (1 - u);  y += u x;  x -= u x      (depressing: u = U_SE)

and the membrane ``tau_mem dv/dt = -v + R_in I_syn`` with ``I_syn = A_SE y`` (summed over
synapses). Brian2 integrates the synapse clock-driven by exponential Euler and the membrane
exactly, at dt = 0.1 ms.

**Update order** (the published forms differ in it): the one of Brian2's file and of the paper,
*facilitation first*: a spike first raises ``u`` (``u += U_SE (1 - u)``), then releases
``u x`` with the raised ``u`` and the ``x`` before depletion (``y`` is updated before ``x``).
For a spike train this is Maass et al.'s (2002) ``u_1 = U``, ``u_{n+1} = U + u_n (1 - U)
e^(-delta/F)``, release ``u_n R_n`` -- the order of ``neurosim.plasticity.TsodyksMarkram``
too. (That built-in is the two-state form, without the inactive pool: resources released
by a spike recover from the spike on, not only after they inactivated with ``tau_inact``, so it
is close to, not equal to, this three-state synapse (v differs by ~1 %); hence the user-defined
one here.)

How an event-driven synapse gives Brian2's clock-driven steps
-------------------------------------------------------------
neurosim updates a synapse only when a spike arrives; the rule below (an ``ns.SynapseModel``,
see :data:`TPM_FACILITATING`) catches up with the steps Brian2 took since the previous spike:

* ``y``: exponential Euler of ``dy/dt = -y/tau_inact`` is ``y <- a y`` with ``a =
  exp(-dt/tau_inact)``; after ``n`` steps ``y_n = a^n y_0``.
* ``u``: likewise ``u_n = u_0 exp(-n dt / tau_facil)``.
* ``x``: exponential Euler of ``dx/dt = (1 - y - x)/tau_rec`` takes ``y`` at the step's start:
  ``x_{k+1} = (1 - y_k) + (x_k - (1 - y_k)) b`` with ``b = exp(-dt/tau_rec)``, i.e. ``x_{k+1}
  - 1 = b (x_k - 1) - (1 - b) a^k y_0``, whose sum is ``x_n - 1 = b^n (x_0 - 1) - (1 - b) y_0
  (b^n - a^n) / (b - a)`` (so ``tau_rec`` must differ from ``tau_inact``).
* ``I_syn = A_SE y`` enters the membrane linearly and every ``y`` decays by the same ``a`` per
  step, so the membrane holds ``i_syn`` (the sum of ``A_SE y``) as its own state, decaying by
  ``a`` per step; a spike adds ``A_SE`` times its jump of ``y`` (the synapse's ``release``).

Timing, step by step (Brian2's schedule): in a step, the summed ``I_syn`` is computed first
(``groups`` slot, order -1), then the membrane and the synapse advance one step (both in
``groups``, order 0; neither reads what the other writes in that step), then the spike
generator fires (``thresholds``) and ``on_pre`` runs (``synapses``) on the synapse already
advanced over this step; the membrane feels the spike from the next step on. In neurosim a
spike at step ``t`` with the minimum delay (one step) arrives at step ``t`` after the neuron
update, and the target sees ``release`` at step ``t + 1``: the same. Between two spikes ``n``
steps apart Brian2 advances the synapse ``n`` times, and ``elapsed = n dt``. Before the first
spike Brian2 has advanced it once more than ``elapsed`` says, from the resting state ``x = 1,
y = u = 0``, which those steps keep.

Spike times: ``SpikeGeneratorGroup`` puts a spike at time ``t`` into step ``floor(t/dt +
0.001)``; neurosim's ``SpikeTimes`` rounds to the nearest step. The 70 Hz train's times fall
between steps, so :func:`stimulus_times` gives neurosim the times of Brian2's steps.

Run: ``neurosim run stp --out results/stp``
"""

from __future__ import annotations

import numpy as np

import neurosim as ns
from neurosim.experiments import experiment, output_files, write_summary

#: Brian2's ``parameters`` in neurosim's units: ms, mV, pA; ``r_in`` in mV/pA (= GOhm: 100 MOhm
#: is 0.1). ``tau_facil`` None: a depressing synapse (``u = U_SE``). Brian2's file notes that
#: panel A's U_SE = 0.6 replaces the publication's 0.5, which does not match its plot.
PANELS = {
    "A": {"neuron": {"tau_mem": 40.0, "r_in": 0.1},
          "synapse": {"tau_inact": 3.0, "A_SE": 250.0, "tau_rec": 800.0, "U_SE": 0.6, "tau_facil": None},
          "stimulus": {"start": 100.0, "stop": 1100.0, "frequency": 20.0},
          "duration": 1200.0,
          "plot": {"title": "A) D - 20 Hz", "ylim": (0.0, 1.0), "xlim": (0.0, 1200.0), "xtickstep": 200.0}},
    "B": {"neuron": {"tau_mem": 60.0, "r_in": 1.0},
          "synapse": {"tau_inact": 1.5, "A_SE": 1540.0, "tau_rec": 130.0, "U_SE": 0.03, "tau_facil": 530.0},
          "stimulus": {"start": 100.0, "stop": 1100.0, "frequency": 20.0},
          "duration": 1200.0,
          "plot": {"title": "B) F - 20 Hz", "ylim": (0.0, 14.9), "xlim": (0.0, 1200.0), "xtickstep": 200.0}},
    "C": {"neuron": {"tau_mem": 60.0, "r_in": 1.0},
          "synapse": {"tau_inact": 1.5, "A_SE": 1540.0, "tau_rec": 130.0, "U_SE": 0.03, "tau_facil": 530.0},
          "stimulus": {"start": 100.0, "stop": 375.0, "frequency": 70.0},
          "duration": 500.0,
          "plot": {"title": "C) F - 70 Hz", "ylim": (0.0, 20.0), "xlim": (0.0, 500.0), "xtickstep": 50.0}},
}
SOURCE, TARGET, PROJECTION = "stimulus", "neuron", "synapse"

#: The passive membrane of Brian2's example, ``tau_mem dv/dt = -v + r_in i_syn``, integrated
#: exactly with ``i_syn`` held over the step (Brian2's ``method="exact"`` update, operation for
#: operation). ``i_syn`` is the summed ``A_SE y`` of the incoming synapses: every ``y`` decays by
#: ``exp(-dt/tau_inact)`` per step, so their sum does, and a spike adds its jump (receptor "exc").
TPM_MEMBRANE = ns.NeuronModel(
    "tpm_membrane",
    parameters={"tau_mem": ns.Parameter(40.0, "ms", positive=True, doc="membrane time constant"),
                "r_in": ns.Parameter(0.1, "mV/pA", positive=True, doc="input resistance (1 mV/pA = 1 GOhm)"),
                "tau_inact": ns.Parameter(3.0, "ms", positive=True, doc="inactivation time constant of the synapses"),
                # Brian2's neuron has no threshold; the language needs one, and no EPSP here comes near it
                "v_threshold": ns.Parameter(1e3, "mV", doc="never reached: the membrane does not spike")},
    state={"v": ns.State(0.0, "mV"), "i_syn": ns.State(0.0, "pA")},
    derived={"decay_mem": "exp(-dt / tau_mem)", "decay_syn": "exp(-dt / tau_inact)"},
    update="""
        v = (i_syn * r_in - i_syn * r_in * decay_mem) + v * decay_mem
        i_syn = i_syn * decay_syn
    """,
    threshold="v > v_threshold",
    inputs={"exc": "i_syn"},
    doc="passive membrane of Tsodyks, Pawelzik & Markram (1998) with the summed synaptic current A_SE y")

# Catching up, at a spike's arrival, with the exponential-Euler steps Brian2 took since the
# previous spike (elapsed / dt of them; module docstring): y and x exactly, in closed form.
_CATCH_UP = """
    a = exp(-dt / tau_inact)
    b = exp(-dt / tau_rec)
    a_n = exp(-elapsed / tau_inact)
    b_n = exp(-elapsed / tau_rec)
    x = 1 + (x - 1) * b_n - (1 - b) * y * (b_n - a_n) / (b - a)
    y = y * a_n
"""
_SYNAPSE_PARAMETERS = {
    "U_SE": ns.Parameter(0.5, positive=True, maximum=1.0, doc="utilisation of synaptic efficacy"),
    "tau_inact": ns.Parameter(3.0, "ms", positive=True, doc="inactivation time constant (active -> inactive)"),
    "tau_rec": ns.Parameter(800.0, "ms", positive=True, doc="recovery time constant (inactive -> recovered)"),
}

#: Facilitating synapse (panels B, C): the weight is the absolute strength ``A_SE`` (pA); the
#: target receives ``A_SE`` times the jump of ``y``. Brian2's on_pre in its order: u, y, x.
TPM_FACILITATING = ns.SynapseModel(
    "tpm_facilitating",
    parameters={**_SYNAPSE_PARAMETERS,
                "tau_facil": ns.Parameter(530.0, "ms", positive=True, doc="facilitation time constant")},
    state={"A_SE": ns.State(None, "pA"), "x": 1.0, "y": 0.0, "u": 0.0},
    weight="A_SE",
    on_pre=_CATCH_UP + """
    u = u * exp(-elapsed / tau_facil)
    u = u + U_SE * (1 - u)
    release = A_SE * (u * x)
    y = y + u * x
    x = x + (-u) * x
    """,
    doc="Tsodyks-Pawelzik-Markram 1998 three-state synapse with facilitation (Brian2's clock-driven steps)")

#: Depressing synapse (panel A): ``u = U_SE`` at every spike.
TPM_DEPRESSING = ns.SynapseModel(
    "tpm_depressing",
    parameters=_SYNAPSE_PARAMETERS,
    state={"A_SE": ns.State(None, "pA"), "x": 1.0, "y": 0.0},
    weight="A_SE",
    on_pre=_CATCH_UP + """
    release = A_SE * (U_SE * x)
    y = y + U_SE * x
    x = x + (-U_SE) * x
    """,
    doc="Tsodyks-Pawelzik-Markram 1998 three-state depressing synapse (Brian2's clock-driven steps)")


def tpm_synapse(U_SE: float, tau_inact: float, tau_rec: float, tau_facil: float | None = None):
    """The three-state synapse of a projection (weight: ``A_SE``, pA), facilitating when
    ``tau_facil`` (ms) is given, else depressing. Times in ms; ``U_SE`` in (0, 1].

    The catch-up's closed form divides by ``exp(-dt/tau_rec) - exp(-dt/tau_inact)``, so the two
    time constants must differ (they do by two orders of magnitude in the paper)."""
    if np.isclose(tau_rec, tau_inact, rtol=1e-6, atol=0.0):
        raise ValueError(f"tau_rec ({tau_rec} ms) must differ from tau_inact ({tau_inact} ms): the closed form of "
                         "the recovery between spikes divides by exp(-dt/tau_rec) - exp(-dt/tau_inact)")
    if tau_facil is None:
        return TPM_DEPRESSING(U_SE=U_SE, tau_inact=tau_inact, tau_rec=tau_rec)
    return TPM_FACILITATING(U_SE=U_SE, tau_inact=tau_inact, tau_rec=tau_rec, tau_facil=tau_facil)


def stimulus_times(start: float, stop: float, frequency: float, dt: float = 0.1) -> np.ndarray:
    """Brian2's regular train ``arange(start, stop, 1/frequency)`` (ms; frequency in Hz), each
    spike moved to the start of the step Brian2's ``SpikeGeneratorGroup`` puts it in
    (``floor(t/dt + 0.001)``; neurosim's ``SpikeTimes`` would round to the nearest step)."""
    times = np.arange(start, stop, 1 / frequency * 1e3)
    return np.floor((times + 1e-3 * dt) / dt) * dt


def _panel(name: str) -> dict:
    if name not in PANELS:
        raise ValueError(f"panel must be one of {', '.join(PANELS)}, got {name!r}")
    return PANELS[name]


def build(panel: str = "A", dt: float = 0.1) -> ns.Network:
    """The network of one panel ("A", "B" or "C"): the stimulus (population "stimulus", one
    ``SpikeTimes`` neuron), the membrane ("neuron", :data:`TPM_MEMBRANE`) and the synapse
    (projection "synapse"); v recorded every step. ``dt`` in ms (Brian2's default: 0.1)."""
    p = _panel(panel)
    syn = p["synapse"]
    net = ns.Network(dt=dt)
    times = stimulus_times(**p["stimulus"], dt=dt)
    source = net.population(SOURCE, ns.SpikeTimes(1, np.zeros(times.size, np.int64), times))
    neuron = net.population(TARGET, TPM_MEMBRANE(1, **p["neuron"], tau_inact=syn["tau_inact"]))
    synapse = tpm_synapse(syn["U_SE"], syn["tau_inact"], syn["tau_rec"], syn["tau_facil"])
    # Brian2's synapses have no delay: a spike acts from the next step, neurosim's minimum delay
    net.connect(source, neuron, ns.connect.all_to_all(), weight=syn["A_SE"], synapse=synapse, name=PROJECTION)
    net.monitor_state(neuron, ["v"])
    return net


def simulate(panel: str = "A", duration: float | None = None, dt: float = 0.1, backend: str = "numba",
             progress: bool | None = False) -> ns.RunResult:
    """Run one panel for ``duration`` ms (None: the panel's own, Brian2's: 1200, 1200, 500 ms);
    ``result.states["neuron.v"]`` is v (mV) at the start of every step."""
    duration = _panel(panel)["duration"] if duration is None else duration
    return build(panel, dt=dt).run(duration, backend=backend, progress=progress)


def epsps(result) -> dict[str, np.ndarray]:
    """Each presynaptic spike's EPSP: ``peak_mv`` (largest v from the spike to the next spike or
    the end), ``amplitude_mv`` (peak minus v when the spike arrived) and ``time_ms`` (spike time).

    A spike at step k is felt by the update of step k + 1, so its EPSP starts at the sample of
    step k + 1 (v at that step's start) and lasts until the next spike's."""
    trace = result.states[f"{TARGET}.v"]
    v = trace.values[:, 0]
    spikes = result.spikes[SOURCE].times
    first = np.rint((spikes - trace.times[0]) / result.dt).astype(np.int64) + 1
    first = first[first < v.size]
    peak = np.maximum.reduceat(v, first) if first.size else np.zeros(0)  # over [first[i], first[i + 1])
    return {"time_ms": spikes[:first.size], "peak_mv": peak, "amplitude_mv": peak - v[first]}


def panel_metrics(result) -> dict:
    """Metrics of one panel: number of EPSPs, first and last EPSP amplitude and peak (mV), the
    largest peak, and ``last_over_first`` (amplitudes: < 1 depression, > 1 facilitation)."""
    e = epsps(result)
    if e["peak_mv"].size == 0:
        return {"n_epsps": 0}
    amp = e["amplitude_mv"]
    return {"n_epsps": int(amp.size),
            "first_amplitude_mv": float(amp[0]), "last_amplitude_mv": float(amp[-1]),
            "first_peak_mv": float(e["peak_mv"][0]), "last_peak_mv": float(e["peak_mv"][-1]),
            "max_peak_mv": float(e["peak_mv"].max()), "last_over_first": float(amp[-1] / amp[0])}


def plot_panels(results: dict, path=None, title: str = "Tsodyks, Pawelzik & Markram (1998), Fig. 1"):
    """Brian2's figure: one axis per panel, v (mV) against time (ms), with its limits and ticks.
    ``results``: panel name -> RunResult. Returns the matplotlib Figure."""
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    fig = Figure(figsize=(8, 2.6 * len(results)), layout="constrained")
    fig.suptitle(title)
    axes = np.atleast_1d(fig.subplots(len(results)))
    for ax, (name, result) in zip(axes, results.items()):
        p = PANELS[name]["plot"]
        trace = result.states[f"{TARGET}.v"]
        ax.plot(trace.times, trace.values[:, 0], label=p["title"])
        ax.set(xlim=p["xlim"], ylim=p["ylim"], ylabel="mV", xlabel="Time (ms)")
        ax.set_xticks(np.arange(p["xlim"][0], p["xlim"][1] + p["xtickstep"], p["xtickstep"]))
        ax.legend(loc="upper right")
    return save_figure(fig, path)


@experiment("stp", metrics=("last_over_first_A", "last_over_first_B", "last_over_first_C"))
def stp(*, duration: float | None = None, seed: int = 1, backend: str = "numba", out: str | None = None,
        progress: bool | None = None, panels: str = "ABC", dt: float = 0.1) -> dict:
    """Short-term depression and facilitation (Tsodyks, Pawelzik & Markram 1998, Fig. 1; Brian2's
    example): figure PNG (v of each panel) + JSON summary.

    ``duration``: simulated time per trial, ms; a trial is one panel (one spike train onto one
    membrane); None runs each panel for its own length (1200, 1200, 500 ms, as Brian2's).
    ``panels``: which of "A" (depressing, 20 Hz), "B" (facilitating, 20 Hz), "C" (facilitating,
    70 Hz) to run, e.g. "AC". ``dt``: time step, ms. The model is deterministic: ``seed`` changes
    nothing. Metrics: per panel (``panels``) the EPSP counts, first/last amplitudes and peaks
    (mV); ``last_over_first_<panel>`` (last EPSP amplitude / first: < 1 depression, > 1
    facilitation).
    """
    chosen = list(dict.fromkeys(panels)) if isinstance(panels, str) else None
    if not chosen or any(c not in PANELS for c in chosen):
        raise ValueError(f"panels must be a non-empty string of the letters {''.join(PANELS)}, got {panels!r}")
    results = {name: simulate(name, duration=duration, dt=dt, backend=backend, progress=progress) for name in chosen}
    per_panel = {name: panel_metrics(r) for name, r in results.items()}
    metrics = {"experiment": "stp", "backend": backend, "dt": dt,
               **{f"last_over_first_{name}": m.get("last_over_first") for name, m in per_panel.items()},
               "panels": {name: {"duration_ms": r.n_steps * r.dt, **per_panel[name]} for name, r in results.items()}}
    if out is not None:
        files = output_files(out, "stp")
        plot_panels(results, path=files["stp"])
        write_summary(files, metrics)
    return metrics


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "stp", "--out", "results/stp"])
