"""A liquid state machine (Maass et al. 2002) on event-camera digits: linear probe and the
separation property.

Data: :func:`neurosim.event_data.event_digits` (scikit-learn's digits moved over a simulated
event camera in three saccades, 24 x 24 pixels, about 300 ms). Input: the events pooled over
``pool x pool`` pixel blocks and both polarities (72 spike-source channels at pool 4). Liquid:
:class:`neurosim.circuits.LiquidStateMachine` (15 x 3 x 3 LIF column, Maass's wiring, amplitudes
and dynamic synapses), the same liquid for every sample; its state (spike trains filtered with
tau = 30 ms) is read every ``readout_ms``.

Measured:

* Probe: ridge classification (5-fold cross-validation, penalty chosen inside each fold) on
  the liquid states at every readout time, against the same probe on the raw input binned at
  the same times (event counts per pooled pixel, polarity and bin); also with one late
  readout time only, where the probe of the input sees only the last bin and the liquid's
  fading memory has to carry the rest.
* Separation (Maass's Fig. 2 style): for random pairs of samples, the distance between their
  liquid states against the distance between their inputs (the input channels filtered with
  the same 30 ms kernel), over time and on average.

Outputs in ``--out``: probe.png, separation.png, raster.png (input and liquid for the first
sample), summary.json. Run: ``neurosim run lsm-events --out results/lsm`` (about 1 minute).
"""

from __future__ import annotations

import time

import numpy as np

from neurosim.experiments import experiment, output_files, write_summary


def parse_shape(shape: str) -> tuple[int, ...]:
    """``"15x3x3"`` -> ``(15, 3, 3)``."""
    try:
        dims = tuple(int(v) for v in str(shape).lower().split("x"))
    except ValueError:
        raise ValueError(f"shape must look like '15x3x3', got {shape!r}") from None
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"shape needs three positive sizes, like '15x3x3', got {shape!r}")
    return dims


def readout_times(readout_ms: float, duration: float) -> np.ndarray:
    """Every ``readout_ms`` up to ``duration`` (ms): ``[readout_ms, 2 readout_ms, ...]``."""
    if not 0 < readout_ms <= duration:
        raise ValueError(f"readout_ms = {readout_ms} must be positive and at most duration = {duration}")
    return np.arange(readout_ms, duration + 1e-9, readout_ms)


def separation(lsm, streams, states: np.ndarray, times: np.ndarray, pool: int, n_pairs: int, seed: int) -> dict:
    """State distance versus input distance over ``n_pairs`` random pairs of samples."""
    from neurosim.circuits.lsm import liquid_state
    from neurosim.result import Spikes

    filtered = []
    for ev in streams:
        idx, t, info = ev.to_spike_times(lsm.dt, pool=pool)
        filtered.append(liquid_state(Spikes(times=t, indices=idx), info["n_channels"], times, tau=lsm.tau))
    filtered = np.stack(filtered)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(streams), (2, n_pairs))
    keep = a != b
    a, b = a[keep], b[keep]
    d_in = np.linalg.norm(filtered[a] - filtered[b], axis=-1)          # [pairs, times]
    d_state = np.linalg.norm(states[a] - states[b], axis=-1)
    return {"input": d_in, "state": d_state}


def plot_probe(rows: dict, path: str) -> None:
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    names = list(rows)
    x = np.arange(len(names))
    for k, (key, color) in enumerate((("liquid", "#1f77b4"), ("raw", "#7f7f7f"))):
        means = [rows[n][key][0] for n in names]
        sds = [rows[n][key][1] for n in names]
        ax.bar(x + (k - 0.5) * 0.38, means, 0.38, yerr=sds, color=color, label=f"{key} + ridge probe", capsize=3)
    ax.axhline(0.1, color="k", lw=0.8, ls=":", label="chance")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("test accuracy (5-fold)")
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    ax.set_title("event digits: liquid state vs raw binned input")
    save_figure(fig, path)


def plot_separation(sep: dict, times: np.ndarray, path: str) -> None:
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    d_in, d_state = sep["input"], sep["state"]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    mean_in = d_in.mean(1)
    edges = np.quantile(mean_in, [0, 0.25, 0.5, 0.75, 1.0])
    for k in range(4):
        sel = (mean_in >= edges[k]) & (mean_in <= edges[k + 1])
        ax1.plot(times, d_state[sel].mean(0), marker="o", ms=3,
                 label=f"input distance {edges[k]:.1f}–{edges[k + 1]:.1f}")
    ax1.set_xlabel("time (ms)")
    ax1.set_ylabel("state distance ‖x_u(t) − x_v(t)‖")
    ax1.legend(fontsize=8)
    ax1.set_title("separation over time (pairs by input distance)")
    ax2.scatter(d_in.ravel(), d_state.ravel(), s=3, alpha=0.25, color="#1f77b4")
    order = np.argsort(d_in.ravel())
    chunks = np.array_split(order, 12)
    ax2.plot([d_in.ravel()[c].mean() for c in chunks], [d_state.ravel()[c].mean() for c in chunks], "k-o", ms=3,
             label="binned mean")
    ax2.set_xlabel("input distance ‖u(t) − v(t)‖ (filtered input)")
    ax2.set_ylabel("state distance")
    ax2.legend(fontsize=8)
    ax2.set_title("state distance vs input distance")
    save_figure(fig, path)


@experiment("lsm-events")
def lsm_events(*, duration: float = 300.0, seed: int = 0, backend: str = "numba", out: str | None = None,
               progress: bool | None = None, n_samples: int = 1000, shape: str = "15x3x3", liquid_seed: int = 1,
               pool: int = 4, dt: float = 0.5, input_scale: float = 1.0, weight_scale: float = 1.0,
               input_fraction: float = 0.3, dynamic_synapses: bool = True, readout_ms: float = 30.0,
               n_pairs: int = 400) -> dict:
    """Liquid state machine on event digits: ridge probe vs raw input, separation property.

    ``duration``: simulated time per trial, ms: each of ``n_samples`` event digits (seeded by
    ``seed``) runs through one liquid (``shape`` "AxBxC", seeded by ``liquid_seed``) for
    ``duration`` ms; states are read every ``readout_ms``. ``input_scale`` / ``weight_scale`` multiply Maass's input and recurrent
    amplitudes and ``input_fraction`` is the share of the liquid each input channel reaches; the
    defaults are the paper's (1, 1, 0.3) with its dynamic synapses. ``dynamic_synapses=False``
    makes every synapse static: with ~4000 input events per sample the paper's values then drive
    every neuron at its refractory limit (~340 Hz), so the static liquid neurosim had before
    short-term plasticity used (0.2, 0.1, 0.1), ~150 Hz: ``--set dynamic_synapses=false --set
    input_scale=0.2 --set weight_scale=0.1 --set input_fraction=0.1`` reproduces it."""
    from neurosim.circuits.lsm import LiquidStateMachine, probe_accuracy
    from neurosim.event_data import binned_counts, event_digits

    t_start = time.perf_counter()
    dims = parse_shape(shape)
    times = readout_times(readout_ms, duration)
    streams, labels = event_digits(n_samples, seed=seed)
    lsm = LiquidStateMachine(streams[0].channels(pool)[1], dims, dt=dt, seed=liquid_seed, input_scale=input_scale,
                             weight_scale=weight_scale, input_fraction=input_fraction,
                             dynamic_synapses=dynamic_synapses, backend=backend)
    t0 = time.perf_counter()
    states = lsm.states(streams, times, pool=pool, progress=progress)
    liquid_s = time.perf_counter() - t0
    raw = binned_counts(streams, times, pool)
    late = [len(times) - 1]
    conditions = {f"all {len(times)} times": slice(None), "every 3rd": slice(2, None, 3),
                  f"t = {times[late[0]]:.0f} ms only": late}
    rows = {name: {"liquid": probe_accuracy(states[:, sel], labels, seed=seed),
                   "raw": probe_accuracy(raw[:, sel], labels, seed=seed)} for name, sel in conditions.items()}
    sep = separation(lsm, streams, states, times, pool, n_pairs, seed)
    corr = float(np.corrcoef(sep["input"].ravel(), sep["state"].ravel())[0, 1])
    result, liquid = lsm.run(streams[0], duration, pool=pool)
    spikes = sum(len(result.spikes[p.name]) for p in (liquid.exc, liquid.inh))
    metrics = {
        "experiment": "lsm-events", "n_samples": int(n_samples), "liquid_neurons": lsm.n, "shape": list(dims),
        "input_channels": lsm.n_inputs, "dynamic_synapses": bool(dynamic_synapses), "readout_times_ms": times.tolist(),
        "probe": {name: {k: {"mean": v[0], "sd": v[1]} for k, v in row.items()} for name, row in rows.items()},
        "margin_all_times": rows[next(iter(rows))]["liquid"][0] - rows[next(iter(rows))]["raw"][0],
        "separation": {"pairs": int(len(sep["input"])), "pearson_r": corr,
                       "state_distance_mean": float(sep["state"].mean()),
                       "input_distance_mean": float(sep["input"].mean())},
        "mean_rate_hz_first_sample": spikes / lsm.n / (duration / 1000.0),
        "liquid_seconds": liquid_s, "wall_seconds": time.perf_counter() - t_start,
    }
    if out is not None:
        from neurosim import plot

        files = output_files(out, "probe", "separation", "raster")
        plot_probe(rows, files["probe"])
        plot_separation(sep, times, files["separation"])
        plot.raster(result, path=files["raster"], title="event digit 0 through the liquid (input, E, I)")
        metrics["wall_seconds"] = time.perf_counter() - t_start
        write_summary(files, metrics)
    return metrics
