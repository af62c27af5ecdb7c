"""Izhikevich (2006), "Polychronization": spiking network with axonal delays and STDP (spnet.m).

800 excitatory regular-spiking neurons (a = 0.02, d = 8) and 200 inhibitory fast-spiking ones
(a = 0.1, d = 2), b = 0.2, c = -65, v(0) = -65 mV, u(0) = 0.2 v(0). Every neuron has 100
distinct random targets (never itself): excitatory neurons onto any neuron, with weight 6 and
axonal delays of 1..20 ms, 5 synapses per delay value; inhibitory neurons onto excitatory
ones only, weight -5, delay 1 ms. Synaptic input is a current pulse lasting one 1 ms step
(``tau_exc = tau_inh = 0``); v takes two 0.5 ms Euler half-steps, then u one 1 ms step
(``substeps = 2`` at dt = 1 ms, spnet.m's scheme). Thalamic input: every ms one neuron, drawn
uniformly among the 1000, receives I = 20.

The excitatory synapses (onto both populations) learn by :func:`neurosim.plasticity.IzhikevichSTDP`
with spnet.m's constants: traces 0.1 and 1.2 x 0.1 decaying by 5 % per ms, the derivative
``sd`` accumulated at every pairing, and once per simulated second ``w = clip(w + 0.01 + sd, 0,
10)``, ``sd = 0.9 sd``. Inhibitory synapses are static.

Timing, against spnet.m. neurosim's delay counts the arrival step: a spike at step ``t``
through a delay of ``d`` ms acts on the neuron update of step ``t + d`` -- spnet.m's delay
``d``, whose ``delays{i, 1}`` synapses act on the update right after the spike is detected. The
thalamic pulse of a step is a spike of a ``SpikeTimes`` source one-to-one onto the neurons'
excitatory receptor with weight 20 and the minimum delay (1 ms), so it enters the next
update: spnet.m's input of a step enters the same step's update, a shift of one millisecond
in a random sequence. The plasticity differs from spnet.m in the order within one
millisecond (see :func:`IzhikevichSTDP`): a spike that arrives in the step its target fires
potentiates here (Brian2's order, pre pathway then post pathway) where spnet.m depresses,
so the learning window is the paper's shifted by one millisecond towards potentiation.

Defaults run 600 s of model time (10 minutes): 15-100 s of wall time on the development
machine (2.45 GHz Zen 3 VM, one core; 6-40 model seconds per wall second depending on the
load of the shared machine). The paper reports its result after about an hour of model time:
``--duration 3600000`` (3-10 minutes here). The network runs in segments of one second; after
each the weights are read (``projection.weights``), so the weight histogram over time costs
no memory per synapse and an hour runs in bounded memory.

What it reaches (seed 1, this commit): the excitatory weights split within the first two
minutes -- fractions in [0, 1] / [9, 10] of 0.10 / 0.51 at 60 s, 0.24 / 0.54 at 300 s,
0.39 / 0.50 at 600 s (the default; rates 4.1 Hz exc / 30 Hz inh, spectral peak 39 Hz within
20-100 Hz, a larger slow component near 2 Hz), then stable (0.40 / 0.55 at 3600 s, with
rates 8.5 Hz exc / 60 Hz inh and the peak within 20-100 Hz at 53 Hz).

Outputs (``out``): ``raster.png`` (the last second), ``weights.png`` (histogram of the
excitatory weights over time, with the fractions in [0, 1] and [9, 10]), ``spectrum.png``
(Welch spectrum of the population rate of the last ``spectrum_s`` seconds),
``evolution.csv`` (per second: rates, mean weight, fractions), ``weights.npz`` (final
weights, sources, targets, delays) and ``summary.json``.

Run: ``neurosim run polychronization --out results/polychronization``
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

import neurosim as ns
from neurosim.experiments import check_output_folder, duration_steps, experiment, output_files, write_summary
from neurosim.plasticity import IzhikevichSTDP

N_EXC, N_INH = 800, 200
OUT_DEGREE = 100  # targets per neuron (spnet.m's M)
MAX_DELAY = 20  # ms (spnet.m's D); excitatory delays are 1..MAX_DELAY, OUT_DEGREE / MAX_DELAY each
W_EXC, W_INH = 6.0, -5.0
W_MAX = 10.0  # spnet.m's sm
THALAMIC_I = 20.0  # mV/ms, one neuron per ms
SEGMENT_MS = 1000.0  # the weights are read once per segment (the rule's own period)
WEIGHT_BINS = np.linspace(0.0, W_MAX, 41)  # 0.25-wide bins of the histogram over time


@dataclass
class Polychronization:
    """The built network: its populations and projections (handles into ``net``)."""

    net: ns.Network
    exc: ns.Population
    inh: ns.Population
    plastic: list  # the excitatory projections (exc->exc, exc->inh), IzhikevichSTDP
    inhibitory: ns.Projection  # inh->exc, static

    def exc_weights(self) -> np.ndarray:
        """All excitatory weights now (exc->exc then exc->inh, each in its synapse order), mV/ms."""
        return np.concatenate([p.weights for p in self.plastic])


def draw_connectivity(rng: np.random.Generator, n_exc: int = N_EXC, n_inh: int = N_INH,
                      out_degree: int = OUT_DEGREE, max_delay: int = MAX_DELAY):
    """spnet.m's connectivity: ``(targets [n, out_degree], delays [n_exc, out_degree])``.

    Row ``i`` of ``targets`` are neuron ``i``'s distinct targets (global indices: excitatory
    0..n_exc-1, then inhibitory), never ``i`` itself; excitatory neurons pick among all
    neurons, inhibitory ones among the excitatory. ``delays`` (whole ms, 1..max_delay) of an
    excitatory row take every value ``out_degree / max_delay`` times, in random order over the
    targets. Inhibitory delays are all 1 ms (not returned)."""
    if out_degree % max_delay:
        raise ValueError(f"out_degree must be a multiple of max_delay (synapses per delay value), got "
                         f"out_degree = {out_degree}, max_delay = {max_delay}")
    n = n_exc + n_inh
    if out_degree > n_exc - 1:
        raise ValueError(f"out_degree must be < n_exc (inhibitory neurons pick distinct excitatory targets), got "
                         f"out_degree = {out_degree}, n_exc = {n_exc}")
    targets = np.empty((n, out_degree), dtype=np.int64)
    for i in range(n):
        pool = n if i < n_exc else n_exc
        chosen = rng.choice(pool - 1 if i < pool else pool, size=out_degree, replace=False)
        if i < pool:  # skip i itself
            chosen[chosen >= i] += 1
        targets[i] = chosen
    per_value = np.repeat(np.arange(1, max_delay + 1), out_degree // max_delay)
    delays = np.stack([rng.permutation(per_value) for _ in range(n_exc)])
    return targets, delays


def thalamic_input(rng: np.random.Generator, n: int, n_steps: int, dt: float = 1.0) -> ns.SpikeTimes:
    """A source of ``n`` neurons of which one, drawn uniformly, spikes at every step (spnet.m's
    ``I(ceil(N*rand)) = 20``, each source neuron one-to-one onto a network neuron)."""
    return ns.SpikeTimes(n, indices=rng.integers(0, n, n_steps), times=np.arange(n_steps) * dt)


def build(seed: int = 1, duration: float = 1000.0, n_exc: int = N_EXC, n_inh: int = N_INH,
          out_degree: int = OUT_DEGREE, max_delay: int = MAX_DELAY, w_exc: float = W_EXC, w_inh: float = W_INH,
          thalamic: float = THALAMIC_I) -> Polychronization:
    """The spnet.m network with thalamic input for ``duration`` ms (dt = 1 ms; see the module
    docstring). Weights in mV/ms (the Izhikevich model's current units); delays in ms."""
    dt = 1.0
    n_steps = duration_steps(duration, dt)
    rng = np.random.default_rng(seed)
    net = ns.Network(dt=dt, seed=rng)
    n = n_exc + n_inh
    exc = net.population("exc", ns.Izhikevich(n_exc, a=0.02, b=0.2, c=-65.0, d=8.0, v_init=-65.0, substeps=2))
    inh = net.population("inh", ns.Izhikevich(n_inh, a=0.1, b=0.2, c=-65.0, d=2.0, v_init=-65.0, substeps=2))
    targets, delays = draw_connectivity(rng, n_exc, n_inh, out_degree, max_delay)

    # exc -> all as one dense [n_exc, n] matrix of weights and one of delays, split by target population
    rows = np.repeat(np.arange(n_exc), out_degree)
    w = np.zeros((n_exc, n))
    w[rows, targets[:n_exc].ravel()] = w_exc
    d = np.zeros((n_exc, n))
    d[rows, targets[:n_exc].ravel()] = delays.ravel()
    plastic = [net.connect(exc, pop, ns.connect.from_matrix(w[:, cols]), delay=d[:, cols], receptor="exc",
                           synapse=IzhikevichSTDP(w_max=W_MAX), name=f"exc->{pop.name}")
               for pop, cols in ((exc, slice(0, n_exc)), (inh, slice(n_exc, n)))]
    wi = np.zeros((n_inh, n_exc))
    wi[np.repeat(np.arange(n_inh), out_degree), targets[n_exc:].ravel()] = w_inh
    inhibitory = net.connect(inh, exc, ns.connect.from_matrix(wi), delay=1.0, receptor="inh", name="inh->exc")

    thal = net.population("thalamus", thalamic_input(rng, n, n_steps, dt))
    eye = np.eye(n)
    for pop, cols in ((exc, slice(0, n_exc)), (inh, slice(n_exc, n))):
        net.connect(thal, pop, ns.connect.from_matrix(thalamic * eye[:, cols]), receptor="exc",
                    name=f"thalamus->{pop.name}")
    net.record_spikes(exc)
    net.record_spikes(inh)
    return Polychronization(net, exc, inh, plastic, inhibitory)


def rate_spectrum(rate_hz: np.ndarray, dt_ms: float = 1.0, nperseg: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectrum of a population rate sampled every ``dt_ms``: ``(freqs_hz, power)``
    (mean removed; segments of ``nperseg`` samples, half overlapping; 1 Hz resolution at the
    defaults)."""
    from scipy.signal import welch

    x = np.asarray(rate_hz, dtype=float)
    return welch(x - x.mean(), fs=1000.0 / dt_ms, nperseg=min(nperseg, x.size))


def peak_frequency(freqs: np.ndarray, power: np.ndarray, band=(0.0, math.inf)) -> float:
    """Frequency (Hz) of the largest power within ``band`` (the 0 Hz bin excluded); NaN if empty."""
    sel = (freqs > max(band[0], 0.0)) & (freqs <= band[1])
    return float(freqs[sel][np.argmax(power[sel])]) if sel.any() else float("nan")


@experiment("polychronization", metrics=("frac_low", "frac_high", "peak_hz", "rate_hz"))
def polychronization(*, duration: float = 600_000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
                     progress: bool | None = None, spectrum_s: int = 10, n_exc: int = N_EXC, n_inh: int = N_INH,
                     out_degree: int = OUT_DEGREE) -> dict:
    """Izhikevich (2006) polychronization network with STDP: raster, weight histogram over time,
    rate spectrum (PNGs), per-second evolution (CSV) and a JSON summary.

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run
    (default 600 s = 10 minutes of model time; ``3600000`` is the paper's hour). Run in 1 s
    segments; the weights are read after each. ``spectrum_s``: seconds at the end whose
    population rate (all neurons, 1 ms bins) enters the spectrum. ``n_exc``, ``n_inh``,
    ``out_degree``: smaller networks for tests (out_degree a multiple of 20).

    Metrics: ``frac_low``/``frac_high`` (fraction of excitatory weights in [0, 1] / [9, 10] at
    the end), ``peak_hz`` (spectral peak in 20-100 Hz) and ``peak_hz_all`` (over all
    frequencies > 0), ``rate_hz`` (mean rate of all neurons over the last second); their
    evolution, second by second, is in ``evolution.csv``."""
    n_steps = duration_steps(duration)
    if not (isinstance(spectrum_s, int) and spectrum_s >= 1):
        raise ValueError(f"spectrum_s must be an int >= 1 (seconds), got {spectrum_s!r}")
    if out is not None:
        out = check_output_folder(out)
    built = build(seed=seed, duration=float(n_steps), n_exc=n_exc, n_inh=n_inh, out_degree=out_degree)
    net = built.net
    n = n_exc + n_inh
    seg = int(SEGMENT_MS)
    n_seg = math.ceil(n_steps / seg)
    keep = min(spectrum_s, n_seg)
    rate_tail = []  # population rate (Hz, 1 ms bins) of the last `keep` segments
    rows = []  # per segment: t_end_s, rate_exc, rate_inh, mean_w, frac_low, frac_high
    hist = np.zeros((n_seg + 1, WEIGHT_BINS.size - 1), dtype=np.int64)
    w = built.exc_weights()
    hist[0] = np.histogram(w, WEIGHT_BINS)[0]
    bar = _progress(n_seg, progress)
    wall = 0.0
    result = None
    for k in range(n_seg):
        steps = min(seg, n_steps - k * seg)
        t0 = time.perf_counter()
        result = net.run(float(steps), backend=backend, progress=False)
        wall += time.perf_counter() - t0
        w = built.exc_weights()
        hist[k + 1] = np.histogram(w, WEIGHT_BINS)[0]
        rows.append((result.t_start / 1000.0 + steps / 1000.0, result.mean_rate("exc"), result.mean_rate("inh"),
                     float(w.mean()), float(np.mean(w <= 1.0)), float(np.mean(w >= 9.0))))
        if k >= n_seg - keep:
            rate_tail.append(_population_rate(result, n, steps))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(low=f"{rows[-1][4]:.2f}", high=f"{rows[-1][5]:.2f}", rate=f"{rows[-1][1]:.1f}")
    if bar is not None:
        bar.close()
    rate = np.concatenate(rate_tail)
    freqs, power = rate_spectrum(rate)
    ev = np.array(rows)
    metrics = {
        "experiment": "polychronization",
        "duration_s": n_steps / 1000.0,
        "frac_low": float(ev[-1, 4]), "frac_high": float(ev[-1, 5]), "mean_w": float(ev[-1, 3]),
        "peak_hz": peak_frequency(freqs, power, (20.0, 100.0)), "peak_hz_all": peak_frequency(freqs, power),
        "rate_hz": float(rate[-min(rate.size, seg):].mean()),
        "rate_exc_hz": float(ev[-1, 1]), "rate_inh_hz": float(ev[-1, 2]),
        "spectrum_s": rate.size / 1000.0,
        "wall_time_s": wall, "model_s_per_wall_s": n_steps / 1000.0 / wall if wall > 0 else float("nan"),
    }
    if out is not None:
        _write_outputs(out, metrics, built, result, hist, ev, freqs, power)
    return metrics


def _population_rate(result, n: int, steps: int) -> np.ndarray:
    """Rate of all ``n`` neurons (Hz) in 1 ms bins over one segment of ``steps`` steps."""
    counts = np.zeros(steps)
    for pop in ("exc", "inh"):
        s = result.spikes[pop]
        np.add.at(counts, np.rint(s.times - result.t_start).astype(np.int64), 1)
    return counts / n * 1000.0


def _progress(total: int, progress):
    import sys

    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="model s", desc="polychronization")


def _write_outputs(out, metrics, built, result, hist, ev, freqs, power) -> None:
    import os

    from neurosim import plot
    from neurosim.io import atomic_path

    files = output_files(out, "raster", "weights", "spectrum")
    plot.raster(result, path=files["raster"], populations=["exc", "inh"],
                title=f"Izhikevich (2006), last second ({result.t_start / 1000:g}-{result.t_start / 1000 + 1:g} s)")
    _plot_weights(hist, ev, files["weights"])
    _plot_spectrum(freqs, power, metrics, files["spectrum"])
    files["evolution"] = os.path.join(out, "evolution.csv")
    with atomic_path(files["evolution"]) as tmp:
        np.savetxt(tmp, ev, delimiter=",", fmt="%.6g", comments="",
                   header="t_s,rate_exc_hz,rate_inh_hz,mean_w,frac_low,frac_high")
    files["weights_npz"] = os.path.join(out, "weights.npz")
    p_ee, p_ei = built.plastic
    with atomic_path(files["weights_npz"]) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, weights=built.exc_weights(),
                sources=np.concatenate([p_ee.sources(), p_ei.sources()]),
                targets=np.concatenate([p_ee.target, p_ei.target + len(built.exc)]),  # global target index
                delays_ms=np.concatenate([p_ee.delay, p_ei.delay]).astype(float) * built.net.dt)
    write_summary(files, metrics)


def _plot_weights(hist, ev, path) -> None:
    from neurosim.plot import _figure, save_figure

    fig = _figure((8, 6))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    t = np.concatenate([[0.0], ev[:, 0]])
    frac = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)
    img = ax.pcolormesh(_edges(t), WEIGHT_BINS, np.log10(frac.T + 1e-5), shading="flat", cmap="viridis")
    fig.colorbar(img, ax=ax, label="log10 fraction of synapses")
    ax.set_ylabel("excitatory weight")
    ax.set_title("Excitatory weight histogram over time")
    ax2.plot(ev[:, 0], ev[:, 4], label="w in [0, 1]")
    ax2.plot(ev[:, 0], ev[:, 5], label="w in [9, 10]")
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("fraction")
    ax2.legend(loc="upper left")
    save_figure(fig, path)


def _edges(t: np.ndarray) -> np.ndarray:
    """Bin edges around sample times ``t`` (s): midpoints, extended by half a step at both ends."""
    if t.size == 1:
        return np.array([t[0] - 0.5, t[0] + 0.5])
    mid = (t[1:] + t[:-1]) / 2
    return np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])


def _plot_spectrum(freqs, power, metrics, path) -> None:
    from neurosim.plot import _figure, save_figure

    fig = _figure((7, 4))
    ax = fig.subplots()
    sel = (freqs > 0) & (freqs <= 200)
    ax.semilogy(freqs[sel], power[sel])
    peak = metrics["peak_hz"]
    if np.isfinite(peak):
        ax.axvline(peak, color="C3", ls="--", label=f"peak in 20-100 Hz: {peak:g} Hz")
        ax.legend()
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power (Hz$^2$/Hz)")
    ax.set_title(f"Population rate spectrum, last {metrics['spectrum_s']:g} s")
    save_figure(fig, path)


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "polychronization", "--out", "results/polychronization"])
