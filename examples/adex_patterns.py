"""Firing patterns of the adaptive exponential integrate-and-fire model (Naud et al. 2008).

Naud R, Marcille N, Clopath C, Gerstner W (2008): Firing patterns in the adaptive exponential
integrate-and-fire model. Biol Cybern 99(4): 335-347, doi:10.1007/s00422-008-0264-7. The eight
patterns and their parameters are those of Brian2's example
``examples/frompapers/Naud_et_al_2008_adex_firing_patterns.py`` (brian-team/brian2; parameters
adapted by P. Müller to match the paper's figures; S. Schmitt, S. Billaudelle 2022): one neuron
each, v starting at e_l, w at 0, a constant current i_stim, forward Euler (Brian2's
``method="euler"``) at dt = 0.1 ms for 600 ms, spike when v > 0 mV, reset ``v = v_r; w += b``.

Here the eight neurons are one ``ns.AdEx`` population with per-neuron parameters (neuron i is
pattern i of :data:`PATTERNS`) and per-neuron constant currents: they do not interact, so this is
the same as eight separate simulations. ``tests/test_adex.py`` checks the spike times against
Brian2's.

Run: ``neurosim run adex-patterns --out results/adex-patterns``
"""

from __future__ import annotations

import numpy as np

import neurosim as ns
from neurosim.experiments import experiment, output_files, write_summary

#: pattern -> parameters of ``ns.AdEx`` (c_m pF, g_l nS, e_l v_t d_t v_r mV, a nS, tau_w ms, b pA)
#: plus the stimulus ``i_stim`` (pA); from Brian2's example (see the module docstring).
PATTERNS = {
    "tonic spiking": dict(c_m=200.0, g_l=10.0, e_l=-70.0, v_t=-50.0, d_t=2.0, a=2.0, tau_w=30.0, b=0.0,
                          v_r=-58.0, i_stim=500.0),
    "adaptation": dict(c_m=200.0, g_l=12.0, e_l=-70.0, v_t=-50.0, d_t=2.0, a=2.0, tau_w=300.0, b=60.0,
                       v_r=-58.0, i_stim=500.0),
    "initial burst": dict(c_m=130.0, g_l=18.0, e_l=-58.0, v_t=-50.0, d_t=2.0, a=4.0, tau_w=150.0, b=120.0,
                          v_r=-50.0, i_stim=400.0),
    "regular bursting": dict(c_m=200.0, g_l=10.0, e_l=-58.0, v_t=-50.0, d_t=2.0, a=2.0, tau_w=120.0, b=100.0,
                             v_r=-46.0, i_stim=210.0),
    "delayed accelerating": dict(c_m=200.0, g_l=12.0, e_l=-70.0, v_t=-50.0, d_t=2.0, a=-10.0, tau_w=300.0, b=0.0,
                                 v_r=-58.0, i_stim=300.0),
    "delayed regular bursting": dict(c_m=100.0, g_l=10.0, e_l=-65.0, v_t=-50.0, d_t=2.0, a=-10.0, tau_w=90.0,
                                     b=30.0, v_r=-47.0, i_stim=110.0),
    "transient spiking": dict(c_m=100.0, g_l=10.0, e_l=-65.0, v_t=-50.0, d_t=2.0, a=10.0, tau_w=90.0, b=100.0,
                              v_r=-47.0, i_stim=180.0),
    "irregular spiking": dict(c_m=100.0, g_l=12.0, e_l=-60.0, v_t=-50.0, d_t=2.0, a=-11.0, tau_w=130.0, b=30.0,
                              v_r=-48.0, i_stim=160.0),
}
V_PEAK = 0.0  # mV, Brian2's threshold "vm > 0*mV" (also ns.AdEx's default v_peak)
POPULATION = "adex"


def build(dt: float = 0.1, seed: int = 1, patterns: dict = PATTERNS) -> ns.Network:
    """One AdEx neuron per pattern (neuron i = the i-th pattern), each with its own constant
    current; v and w recorded every step. ``dt`` in ms (Brian2's example: 0.1)."""
    net = ns.Network(dt=dt, seed=seed)
    names = list(patterns)
    params = {k: np.array([patterns[p][k] for p in names]) for k in patterns[names[0]] if k != "i_stim"}
    pop = net.population(POPULATION, ns.AdEx(len(names), **params, v_peak=V_PEAK, v_init=params["e_l"], w_init=0.0))
    net.add_current(pop, ns.ConstantCurrent(np.array([patterns[p]["i_stim"] for p in names])))
    net.monitor_state(pop, ["v", "w"])
    return net


def simulate(duration: float = 600.0, dt: float = 0.1, backend: str = "numba", progress: bool | None = False,
             seed: int = 1) -> ns.RunResult:
    """All patterns for ``duration`` ms in one run; spikes of pattern i are
    ``result.spikes["adex"].trains(len(PATTERNS))[i]``."""
    return build(dt=dt, seed=seed).run(duration, backend=backend, progress=progress)


def trains(result) -> dict[str, np.ndarray]:
    """Pattern name -> spike times (ms)."""
    return dict(zip(PATTERNS, result.spikes[POPULATION].trains(len(PATTERNS))))


def clipped_voltage(result) -> np.ndarray:
    """v (mV, ``[sample, pattern]``) as Brian2's figure draws it: v is sampled at the start of
    each step, after the reset, so a spike (the step from t to t + dt crossed v_peak) is drawn
    as v_peak at t + dt; everything clipped at v_peak."""
    trace = result.states[f"{POPULATION}.v"]
    v = np.minimum(trace.values, V_PEAK)
    spikes = result.spikes[POPULATION]
    sample = np.rint((spikes.times - trace.times[0]) / result.dt).astype(np.int64) + 1
    keep = sample < len(trace.times)
    v[sample[keep], spikes.indices[keep]] = V_PEAK
    return v


def plot_patterns(result, path=None, title: str = "AdEx firing patterns (Naud et al. 2008)"):
    """Brian2's figure, all patterns in one: per pattern v(t) (clipped at v_peak) above w(t)
    (nA), and the phase plane w against v on the right. Returns the matplotlib Figure."""
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    t = result.states[f"{POPULATION}.v"].times
    v, w = clipped_voltage(result), result.states[f"{POPULATION}.w"].values / 1000.0  # pA -> nA
    counts = {name: len(s) for name, s in trains(result).items()}
    fig = Figure(figsize=(14, 16), layout="constrained")
    fig.suptitle(title)
    for k, (block, name) in enumerate(zip(fig.subfigures(4, 2).flat, PATTERNS)):
        block.suptitle(f"{name} ({counts[name]} spike{'' if counts[name] == 1 else 's'})", fontsize="medium")
        grid = block.add_gridspec(2, 2, width_ratios=(3, 2))
        ax_v = block.add_subplot(grid[0, 0])
        ax_w, ax_pp = block.add_subplot(grid[1, 0], sharex=ax_v), block.add_subplot(grid[:, 1])
        ax_v.plot(t, v[:, k], lw=0.8)
        ax_w.plot(t, w[:, k], lw=0.8, color="C1")
        ax_v.tick_params(labelbottom=False)
        ax_v.set_ylabel("V [mV]")
        ax_w.set(xlabel="t [ms]", ylabel="w [nA]")
        ax_pp.plot(v[:, k], w[:, k], lw=0.8, color="C2")
        ax_pp.set(xlabel="V [mV]", ylabel="w [nA]")
        ax_pp.yaxis.tick_right(), ax_pp.yaxis.set_label_position("right")
    return save_figure(fig, path)


@experiment("adex-patterns", metrics=("spike_count",))
def adex_patterns(*, duration: float = 600.0, seed: int = 1, backend: str = "numba", out: str | None = None,
                  progress: bool | None = None, dt: float = 0.1) -> dict:
    """AdEx firing patterns of Naud et al. (2008), as in Brian2's example: figure PNG + JSON summary.

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run (all
    eight patterns run at once, one neuron each). ``dt``: time step, ms. Metrics besides the run
    summary: ``spike_counts`` and ``first_spike_ms`` per pattern (None: no spike).
    """
    result = simulate(duration=duration, dt=dt, backend=backend, progress=progress, seed=seed)
    spikes = trains(result)
    metrics = {"experiment": "adex-patterns", **result.summary(),
               "spike_counts": {name: len(s) for name, s in spikes.items()},
               "first_spike_ms": {name: round(float(s[0]), 6) if len(s) else None for name, s in spikes.items()}}
    if out is not None:
        files = output_files(out, "patterns")
        plot_patterns(result, path=files["patterns"])
        write_summary(files, metrics)
    return metrics


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "adex-patterns", "--out", "results/adex-patterns"])
