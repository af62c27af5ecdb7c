"""Spike-timing-dependent plasticity makes the weights bimodal (Song, Miller & Abbott 2000).

Brian2's ``examples/synapses/STDP.py`` (adapted from Song, Miller & Abbott 2000 and Song &
Abbott 2001): ``n_inputs`` = 1000 Poisson inputs at ``rate`` = 15 Hz onto one conductance-based
leaky integrate-and-fire neuron, all-to-all, with additive pair-based STDP (all-to-all pairing)
on every synapse; dt = 0.1 ms, forward Euler, 100 s. Starting from weights uniform in
``[0, g_max]``, competition between the synapses drives most weights to 0 or to g_max: the
histogram of the final weights is bimodal, and the postsynaptic rate settles.

The neuron (:data:`SONG_LIF`, written here as an ``ns.NeuronModel``) is Brian2's, with its
dimensionless conductance ``ge`` (in units of the leak conductance) as the "exc" input::

    dv/dt = (ge * (E_e - v) + E_l - v) / tau_m        threshold v > v_t, reset v = v_r
    dge/dt = -ge / tau_e

with tau_m = 10 ms, E_e = 0 mV, v_t = -54 mV, v_r = -60 mV, E_l = -74 mV, tau_e = 5 ms, no
refractory period, and the forward-Euler statements Brian2 generates for ``method="euler"``
(``dt*(El + ge*(Ee - v) - v)/taum + v`` and ``-dt*ge/taue + ge``, both from the old values).
v starts at 0 mV, as in Brian2's example (which leaves it unset): the neuron spikes at the first
step and is reset. The synapses are the built-in :func:`neurosim.plasticity.STDP` with
g_max = 0.01, a_pre = 0.01 g_max, a_post = -1.05 a_pre (tau_pre = tau_post = 20 ms): on a
spike's arrival ``ge += w``, ``apre += a_pre``, ``w = clip(w + apost, 0, g_max)``; on a
postsynaptic spike ``apost += a_post``, ``w = clip(w + apre, 0, g_max)``. Brian2's synapses
have no delay, neurosim's minimum of one step (``delay = dt``) is the same timing.

``tests/test_stdp_song.py`` checks that, given the same input spike trains, Brian2's example
and this network give the same weights (to 1e-9) and post spikes; ``benchmarks/validate_stdp.py``
compares the weight distributions after 100 s over several seeds.

Run: ``neurosim run stdp-song --out results/stdp-song`` (100 s of model time; ``--duration`` in ms).
"""

from __future__ import annotations

import numpy as np

import neurosim as ns
from neurosim.experiments import experiment, output_files, write_summary
from neurosim.plasticity import STDP

#: Brian2's STDP.py neuron: conductance-based LIF with a dimensionless conductance, forward Euler.
SONG_LIF = ns.NeuronModel(
    "SongLIF",
    parameters={
        "tau_m": ns.Parameter(10.0, "ms", positive=True, doc="membrane time constant"),
        "e_e": ns.Parameter(0.0, "mV", doc="excitatory reversal potential"),
        "v_t": ns.Parameter(-54.0, "mV", doc="spike threshold"),
        "v_r": ns.Parameter(-60.0, "mV", doc="reset potential"),
        "e_l": ns.Parameter(-74.0, "mV", doc="leak reversal potential"),
        "tau_e": ns.Parameter(5.0, "ms", positive=True, doc="decay of the excitatory conductance"),
        "v_init": ns.Parameter(0.0, "mV", doc="initial v (Brian2's example leaves v at 0)"),
    },
    state={"v": ns.State("v_init", "mV"), "ge": ns.State(0.0, doc="excitatory conductance / leak conductance")},
    # Brian2's euler statements for the example's equations, in the same floating-point order
    # (both right-hand sides read the old v and ge)
    update="""
        v_new = dt * (e_l + ge * (e_e - v) - v) / tau_m + v
        ge = -dt * ge / tau_e + ge
        v = v_new
    """,
    threshold="v > v_t", reset="v = v_r", inputs={"exc": "ge"},
    doc="Brian2 STDP.py's conductance-based LIF (dimensionless ge), forward Euler")

N_INPUTS = 1000
RATE_HZ = 15.0
G_MAX = 0.01  # weight bound (dimensionless conductance, units of the leak conductance)
A_PRE_FRACTION = 0.01  # a_pre = 0.01 g_max
A_POST_RATIO = -1.05  # a_post = -a_pre * tau_pre / tau_post * 1.05
TAU_PRE = TAU_POST = 20.0  # ms
DT = 0.1  # ms
INPUT, NEURON, PROJECTION = "input", "neuron", "stdp"


def stdp_synapse(g_max: float = G_MAX) -> ns.Synapse:
    """The example's synapse: additive all-to-all STDP with Song et al.'s amplitudes."""
    a_pre = A_PRE_FRACTION * g_max
    return STDP(tau_pre=TAU_PRE, tau_post=TAU_POST, a_pre=a_pre, a_post=A_POST_RATIO * a_pre * TAU_PRE / TAU_POST,
                w_min=0.0, w_max=g_max)


def build(seed: int = 1, n_inputs: int = N_INPUTS, rate: float = RATE_HZ, dt: float = DT, g_max: float = G_MAX,
          input_spikes: tuple | None = None, w_init=None, synapse: ns.Synapse | None = None,
          n_neurons: int = 1) -> tuple[ns.Network, ns.Projection]:
    """The network: ``n_inputs`` Poisson sources at ``rate`` Hz (``ns.PoissonSource``, each
    spiking with probability ``rate * dt / 1000`` per step, as Brian2's PoissonGroup) onto one
    :data:`SONG_LIF` neuron through plastic STDP synapses named :data:`PROJECTION`.

    ``input_spikes``: ``(indices, times_ms)`` to replay given input trains instead (an
    ``ns.SpikeTimes`` source; compare with Brian2 on the same trains). ``w_init``: initial
    weights, one per input (default uniform in ``[0, g_max)`` drawn from the network's seed).
    ``synapse``: another plastic synapse instead of :func:`stdp_synapse` (variants of the rule).
    ``n_neurons``: neurons, each receiving every input (the scaled-up benchmark; 1 in the example).
    ``dt`` in ms. Returns ``(network, projection)``.
    """
    net = ns.Network(dt=dt, seed=seed)
    if input_spikes is None:
        source = ns.PoissonSource(n_inputs, rate=rate)
    else:
        indices, times = input_spikes
        source = ns.SpikeTimes(n_inputs, indices=np.asarray(indices, dtype=np.int64), times=np.asarray(times, float))
    inputs = net.population(INPUT, source)
    neuron = net.population(NEURON, SONG_LIF(n_neurons))
    net.record_spikes(inputs, indices=False)  # 15 000 input spikes per second: counted, not kept
    weight = ns.Uniform(0.0, g_max) if w_init is None else np.asarray(w_init, dtype=float)
    proj = net.connect(inputs, neuron, ns.connect.all_to_all(), weight=weight, receptor="exc",
                       synapse=stdp_synapse(g_max) if synapse is None else synapse, name=PROJECTION)
    return net, proj


def poisson_trains(n_inputs: int, rate: float, duration: float, dt: float = DT, seed: int = 1,
                   chunk_steps: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Poisson input trains as Brian2's PoissonGroup makes them: each input spikes in a step
    with probability ``rate * dt / 1000`` (at most once per step). Returns ``(indices,
    times_ms)`` sorted by time (times are whole steps, ``step * dt``), for ``ns.SpikeTimes`` and
    Brian2's ``SpikeGeneratorGroup``. Drawn in chunks of ``chunk_steps`` steps (bounded memory)."""
    rng = np.random.default_rng(seed)
    p = rate * dt / 1000.0
    n_steps = int(round(duration / dt))
    indices, steps = [], []
    for first in range(0, n_steps, chunk_steps):
        k = min(chunk_steps, n_steps - first)
        step, neuron = np.nonzero(rng.random((k, n_inputs)) < p)
        indices.append(neuron)
        steps.append(step + first)
    steps = np.concatenate(steps) if steps else np.zeros(0, np.int64)
    return (np.concatenate(indices) if indices else np.zeros(0, np.int64)), steps * dt


def simulate(net: ns.Network, proj: ns.Projection, duration: float, *, record_every: float = 100.0,
             backend: str = "numba", progress: bool | None = None) -> tuple[ns.RunResult, np.ndarray, np.ndarray]:
    """Run ``duration`` ms, sampling every weight every ``record_every`` ms (at the start of
    the steps that are multiples of it, and once more at the end). Returns ``(result, times_ms
    [n_samples], weights [n_samples, n_synapses])``."""
    net.monitor_synapses(proj, variables=(proj.synapse.definition.weight,), every=record_every)
    result = net.run(duration, backend=backend, progress=progress)
    trace = result.states[f"{proj.name}.{proj.synapse.definition.weight}"]
    return result, np.append(trace.times, result.t_start + result.duration), np.vstack([trace.values, proj.weights])


def weight_fractions(weights: np.ndarray, g_max: float = G_MAX) -> dict:
    """Fractions (0..1) of the weights below 0.1 g_max and above 0.9 g_max."""
    w = np.asarray(weights) / g_max
    return {"fraction_below_0.1": float(np.mean(w < 0.1)), "fraction_above_0.9": float(np.mean(w > 0.9))}


def plot_stdp(times: np.ndarray, weights: np.ndarray, spike_times: np.ndarray, g_max: float = G_MAX,
              synapses=(0, 1, 2, 3), rate_bin_ms: float = 1000.0, path=None, title: str = ""):
    """Brian2's figure plus the postsynaptic rate: final weight / g_max per synapse, the histogram
    of the final weights, the weights of ``synapses`` over time (``weights [n_samples,
    n_synapses]`` sampled at ``times`` ms), and the neuron's rate (Hz) in bins of ``rate_bin_ms``
    (``spike_times`` in ms). Returns the matplotlib Figure."""
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    final = weights[-1] / g_max
    fig = Figure(figsize=(8, 10), layout="constrained")
    if title:
        fig.suptitle(title)
    ax = fig.subplots(4, 1)
    ax[0].plot(final, ".k", ms=2)
    ax[0].set(xlabel="synapse index", ylabel="weight / g_max", ylim=(-0.05, 1.05))
    ax[1].hist(final, bins=20, range=(0.0, 1.0), color="0.3")
    ax[1].set(xlabel="weight / g_max", ylabel="synapses")
    t_s = times / 1000.0
    for k in synapses:
        if k < weights.shape[1]:
            ax[2].plot(t_s, weights[:, k] / g_max, lw=0.8, label=f"synapse {k}")
    ax[2].set(xlabel="time [s]", ylabel="weight / g_max", ylim=(-0.05, 1.05))
    ax[2].legend(fontsize="small", loc="upper right")
    t0, t1 = times[0], times[-1]
    n_bins = max(1, int(np.ceil((t1 - t0) / rate_bin_ms - 1e-9)))
    edges = t0 + np.arange(n_bins + 1) * rate_bin_ms
    counts, _ = np.histogram(spike_times, bins=edges)
    widths = np.minimum(edges[1:], t1) - edges[:-1]
    ax[3].step(edges[:-1] / 1000.0, counts / (widths / 1000.0), where="post", color="C3")
    ax[3].set(xlabel="time [s]", ylabel="post rate [Hz]")
    return save_figure(fig, path)


# ---- Brian2's example, for the tests and benchmarks --------------------------------------------
BRIAN2_NEURON = """
dv/dt = (ge * (Ee-v) + El - v) / taum : volt
dge/dt = -ge / taue : 1
"""
BRIAN2_SYNAPSE = """w : 1
dApre/dt = -Apre / taupre : 1 (event-driven)
dApost/dt = -Apost / taupost : 1 (event-driven)"""
BRIAN2_ON_PRE = """ge += w
Apre += dApre
w = clip(w + Apost, 0, gmax)"""
BRIAN2_ON_POST = """Apost += dApost
w = clip(w + Apre, 0, gmax)"""


def brian2_network(b2, *, n_inputs: int = N_INPUTS, rate: float = RATE_HZ, dt: float = DT, g_max: float = G_MAX,
                   input_spikes: tuple | None = None, w_init=None, record=(0, 1), record_every: float | None = None,
                   n_neurons: int = 1):
    """Brian2's STDP.py as written (its equations, ``on_pre``/``on_post`` and parameters, in
    volts and seconds), built in the current Brian2 device; ``b2`` is the ``brian2`` module.

    ``input_spikes``: ``(indices, times_ms)`` replayed by a ``SpikeGeneratorGroup`` instead of
    the example's ``PoissonGroup``; ``w_init``: initial weights (default the example's
    ``rand() * gmax``); ``n_neurons``: neurons, each receiving every input. Weights of the synapses ``record`` (indices; True: all; None: no weight
    monitor) are sampled every ``record_every`` ms (default every step) at the start of the step.
    Returns ``(network, synapses, weight monitor or None, spike monitor of the neuron)``; run it
    with ``network.run(T, namespace={})``. Every object, clocks included, has a fixed name
    ("stdp_input", "stdp_clock", ...): Brian2's Cython cache is keyed by the generated code,
    which holds the names, so a second network in the same process compiles nothing.
    """
    ms, mV, Hz = b2.ms, b2.mV, b2.Hz
    clock = b2.Clock(dt=dt * ms, name="stdp_clock")
    a_pre = A_PRE_FRACTION * g_max
    namespace = dict(taum=10 * ms, taupre=TAU_PRE * ms, taupost=TAU_POST * ms, Ee=0 * mV, vt=-54 * mV,
                     vr=-60 * mV, El=-74 * mV, taue=5 * ms, gmax=g_max, dApre=a_pre,
                     dApost=A_POST_RATIO * a_pre * TAU_PRE / TAU_POST)
    if input_spikes is None:
        source = b2.PoissonGroup(n_inputs, rates=rate * Hz, clock=clock, name="stdp_input")
    else:
        indices, times = input_spikes
        source = b2.SpikeGeneratorGroup(n_inputs, np.asarray(indices, dtype=np.int64), np.asarray(times) * ms,
                                        clock=clock, name="stdp_input")
    neurons = b2.NeuronGroup(n_neurons, BRIAN2_NEURON, threshold="v>vt", reset="v = vr", method="euler", clock=clock,
                             namespace=namespace, name="stdp_neuron")
    synapses = b2.Synapses(source, neurons, BRIAN2_SYNAPSE, on_pre=BRIAN2_ON_PRE, on_post=BRIAN2_ON_POST,
                           clock=clock, namespace=namespace, name="stdp_synapses")
    synapses.connect()
    synapses.w = "rand() * gmax" if w_init is None else np.asarray(w_init, dtype=float)
    every = clock if record_every is None else b2.Clock(dt=record_every * ms, name="stdp_weights_clock")
    weights = None if record is None else b2.StateMonitor(synapses, "w", record=record, clock=every,
                                                          name="stdp_weights")
    spikes = b2.SpikeMonitor(neurons, name="stdp_spikes")
    objects = [source, neurons, synapses, spikes] + ([] if weights is None else [weights])
    return b2.Network(*objects), synapses, weights, spikes


@experiment("stdp-song", metrics=("fraction_below_0.1", "fraction_above_0.9", "post_rate_hz"))
def stdp_song(*, duration: float = 100_000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
              progress: bool | None = None, n_inputs: int = N_INPUTS, rate: float = RATE_HZ,
              record_every: float = 100.0) -> dict:
    """STDP of Song, Miller & Abbott (2000), Brian2's STDP.py: weights become bimodal (figure PNG + JSON summary).

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run
    (default 100 s, as the paper and Brian2's example). ``n_inputs`` Poisson inputs at ``rate``
    Hz; weights sampled every ``record_every`` ms for the figure. Metrics besides the run
    summary: ``fraction_below_0.1`` and ``fraction_above_0.9`` (fractions of the final weights
    below 0.1 g_max and above 0.9 g_max), ``post_rate_hz`` (the neuron's mean rate over the
    run) and ``post_rate_last_tenth_hz`` (over the last tenth of the run), ``mean_weight`` / g_max.
    """
    net, proj = build(seed=seed, n_inputs=n_inputs, rate=rate)
    result, times, weights = simulate(net, proj, duration, record_every=record_every, backend=backend,
                                      progress=progress)
    spike_times = result.spikes[NEURON].times
    last = spike_times >= result.t_start + 0.9 * result.duration
    metrics = {"experiment": "stdp-song", **result.summary(), **weight_fractions(weights[-1]),
               "post_rate_hz": result.mean_rate(NEURON),
               "post_rate_last_tenth_hz": float(last.sum() / (0.1 * result.duration * 1e-3)) if result.duration else 0.0,
               "mean_weight": float(weights[-1].mean() / G_MAX)}
    if out is not None:
        files = output_files(out, "weights")
        plot_stdp(times, weights, spike_times, rate_bin_ms=max(result.dt, min(1000.0, duration / 20)),
                  path=files["weights"],
                  title=f"STDP (Song et al. 2000): {n_inputs} inputs at {rate:g} Hz, {duration / 1000:g} s")
        write_summary(files, metrics)
    return metrics


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "stdp-song", "--out", "results/stdp-song"])
