"""Analysing a run with Elephant: the CUBA network as Neo objects (``RunResult.to_neo``).

The CUBA benchmark network (``examples/cuba.py``) runs; its result becomes a Neo ``Block``
(one ``Segment``, a ``SpikeTrain`` per neuron); Elephant (the Neo community's analysis
library) computes from it, per population, each neuron's mean firing rate
(``elephant.statistics.mean_firing_rate``), the coefficient of variation of each neuron's
inter-spike intervals (``isi`` + ``cv``, neurons with at least three spikes), the population
rate (``time_histogram``), and the cross-correlogram of the two most active excitatory
neurons (``BinnedSpikeTrain`` + ``cross_correlation_histogram``). The same quantities from
neurosim's own code (``RunResult.mean_rate``, ``cv_isi``, ``rate``) are in the summary beside
them: they agree to rounding.

Needs ``pip install neo elephant`` (or ``pip install neurosim[neo]``).

Run: ``neurosim run neo-elephant --out results/neo-elephant``
"""

from __future__ import annotations

import warnings

import numpy as np
from neurosim.examples.cuba import W_EXC, W_INH, build

from neurosim.experiments import experiment, output_files, write_summary
from neurosim.validation import check_int


def _import_elephant():
    try:
        import elephant.conversion
        import elephant.spike_train_correlation
        import elephant.statistics
        import quantities
    except ImportError as err:
        raise ImportError(f"the neo-elephant example needs Elephant: pip install neo elephant ({err})") from err
    return elephant, quantities


def analyse(block, bin_ms: float = 1.0, max_lag_ms: float = 50.0) -> dict:
    """Elephant's statistics of the spike trains of a Neo ``block`` made by ``RunResult.to_neo``
    (its first segment), per population (annotation ``source_population``): per-neuron rates
    (Hz) and CVs of the ISIs, the population rate in bins of ``bin_ms`` (Hz), and the
    cross-correlogram (counts, lags within ``max_lag_ms``) of the two most active neurons of the
    first population. Returns plain numpy arrays and numbers."""
    elephant, pq = _import_elephant()
    stats, conversion, correlation = elephant.statistics, elephant.conversion, elephant.spike_train_correlation
    segment = block.segments[0]
    inputs = set(segment.annotations.get("input_populations", []))
    by_population: dict[str, list] = {}
    for train in segment.spiketrains:
        name = train.annotations["source_population"]
        if name not in inputs:
            by_population.setdefault(name, []).append(train)
    out = {"populations": {}}
    with warnings.catch_warnings():  # Elephant 1.2 still passes quantities' deprecated copy=
        warnings.filterwarnings("ignore", message=".*'copy' argument in Quantity is deprecated")
        for name, trains in by_population.items():
            rates = np.array([float(stats.mean_firing_rate(t).rescale(pq.Hz).magnitude) for t in trains])
            cvs = np.array([float(stats.cv(stats.isi(t).magnitude)) for t in trains if len(t) >= 3])
            histogram = stats.time_histogram(trains, bin_size=bin_ms * pq.ms, output="rate")
            out["populations"][name] = {
                "rates_hz": rates, "cvs": cvs,
                "rate_times_ms": histogram.times.rescale(pq.ms).magnitude,
                "rate_hz": histogram.rescale(pq.Hz).magnitude[:, 0]}
        first = next(iter(by_population))
        trains = by_population[first]
        counts = np.array([len(t) for t in trains])
        a, b = (trains[i] for i in np.argsort(-counts, kind="stable")[:2])
        lag_bins = round(max_lag_ms / bin_ms)
        binned = [conversion.BinnedSpikeTrain(t, bin_size=bin_ms * pq.ms) for t in (a, b)]
        cch, lags = correlation.cross_correlation_histogram(
            *binned, window=[-lag_bins, lag_bins], border_correction=False, binary=False, kernel=None, method="speed")
    out["cch"] = {"population": first, "neurons": [a.annotations["source_index"], b.annotations["source_index"]],
                  "lags_ms": np.asarray(lags) * bin_ms, "counts": np.asarray(cch.magnitude)[:, 0]}
    return out


def plot(analysis: dict, path=None, title: str = "CUBA network analysed with Elephant"):
    """Rate histogram, CV histogram, population rate (per population) and the cross-correlogram;
    returns the Figure."""
    from matplotlib.figure import Figure

    from neurosim.plot import PALETTE, save_figure

    fig = Figure(figsize=(10, 6.5), layout="constrained")
    fig.suptitle(title)
    (ax_rate, ax_cv), (ax_pop, ax_cch) = fig.subplots(2, 2)
    for k, (name, p) in enumerate(analysis["populations"].items()):
        color = PALETTE[k % len(PALETTE)]
        ax_rate.hist(p["rates_hz"], bins=30, alpha=0.6, color=color, label=name)
        if p["cvs"].size:
            ax_cv.hist(p["cvs"], bins=30, alpha=0.6, color=color, label=name)
        ax_pop.plot(p["rate_times_ms"], p["rate_hz"], color=color, lw=0.8, label=name)
    ax_rate.set(xlabel="firing rate (Hz)", ylabel="neurons", title="mean_firing_rate")
    ax_cv.set(xlabel="CV of the ISIs", ylabel="neurons", title="cv(isi)")
    ax_pop.set(xlabel="time (ms)", ylabel="population rate (Hz)", title="time_histogram")
    for ax in (ax_rate, ax_cv, ax_pop):
        ax.legend(loc="upper right")
    c = analysis["cch"]
    ax_cch.bar(c["lags_ms"], c["counts"], width=(c["lags_ms"][1] - c["lags_ms"][0]) if c["lags_ms"].size > 1 else 1.0,
               color=PALETTE[0])
    ax_cch.set(xlabel="lag (ms)", ylabel="coincidences",
               title=f"cross_correlation_histogram, {c['population']} {c['neurons'][0]} x {c['neurons'][1]}")
    return save_figure(fig, path)


@experiment("neo-elephant", metrics=("rate_hz", "cv_isi"))
def neo_elephant(*, duration: float = 1000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
                 progress: bool | None = None, n: int = 4000, p: float = 0.02, we: float = W_EXC, wi: float = W_INH,
                 bin_ms: float = 1.0, max_lag_ms: float = 50.0) -> dict:
    """The CUBA network analysed with Elephant through Neo (``RunResult.to_neo``): summary JSON
    and a PNG (rate histogram, CV histogram, cross-correlogram).

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run.
    ``n``, ``p``, ``we``, ``wi``: the network, as in ``cuba``. ``bin_ms``: bin of the population
    rate and the cross-correlogram; ``max_lag_ms``: its largest lag. Metrics: per population the
    mean rate (Elephant's ``mean_firing_rate`` averaged over the neurons, and neurosim's
    ``RunResult.mean_rate``), mean CV of the ISIs (Elephant's and ``RunResult.cv_isi``), the
    largest difference between Elephant's population rate and ``RunResult.rate``; the
    cross-correlogram's peak; ``rate_hz`` and ``cv_isi`` over all neurons (Elephant's).
    """
    n = check_int("n", n, minimum=5)  # the cross-correlogram takes two excitatory neurons
    net = build(seed=seed, n=n, p=p, w_exc=we, w_inh=wi)
    result = net.run(duration, backend=backend, progress=progress)
    analysis = analyse(result.to_neo(), bin_ms=bin_ms, max_lag_ms=max_lag_ms)
    populations = {}
    for name, a in analysis["populations"].items():
        _, own_rate = result.rate(name, bin_ms)
        m = min(own_rate.size, a["rate_hz"].size)
        populations[name] = {
            "neurons": int(a["rates_hz"].size),
            "mean_rate_hz": float(a["rates_hz"].mean()) if a["rates_hz"].size else 0.0,
            "neurosim_mean_rate_hz": result.mean_rate(name),
            "mean_cv_isi": float(a["cvs"].mean()) if a["cvs"].size else float("nan"),
            "neurosim_cv_isi": result.cv_isi(name),
            "neurons_with_cv": int(a["cvs"].size),
            "population_rate_max_diff_hz": float(np.abs(a["rate_hz"][:m] - own_rate[:m]).max()) if m else 0.0,
        }
    all_rates = np.concatenate([a["rates_hz"] for a in analysis["populations"].values()])
    all_cvs = np.concatenate([a["cvs"] for a in analysis["populations"].values()])
    c = analysis["cch"]
    peak = int(np.argmax(c["counts"])) if c["counts"].size else 0
    metrics = {"experiment": "neo-elephant", **result.summary(),
               "rate_hz": float(all_rates.mean()) if all_rates.size else 0.0,
               "cv_isi": float(all_cvs.mean()) if all_cvs.size else float("nan"),
               "populations": populations,
               "cch": {"population": c["population"], "neurons": [int(i) for i in c["neurons"]], "bin_ms": bin_ms,
                       "peak_lag_ms": float(c["lags_ms"][peak]) if c["counts"].size else float("nan"),
                       "peak_count": float(c["counts"][peak]) if c["counts"].size else 0.0,
                       "total_count": float(c["counts"].sum())}}
    if out is not None:
        files = output_files(out, "elephant")
        if files["elephant"] is not None:
            plot(analysis, path=files["elephant"])
        write_summary(files, metrics)
    return metrics


if __name__ == "__main__":
    from neurosim.cli import main

    main(["run", "neo-elephant", "--out", "results/neo-elephant"])
