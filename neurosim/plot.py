"""Figures of a run: spike raster with population rates, voltage traces, rate histogram.

Every function returns a matplotlib ``Figure`` built with the object-oriented API (no
pyplot, so no GUI backend is ever needed) and writes a PNG only when given ``path``
(atomically: temporary file, then rename). Each population keeps one colour everywhere.
"""

from __future__ import annotations

import numpy as np

from .io import atomic_path

#: colours given to populations in their order of creation
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def population_colors(result) -> dict[str, str]:
    """Population name -> colour, stable for a given result."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(result.sizes)}


def _figure(figsize, **kw):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, **kw)


def _finish(fig, path, dpi):
    if path is not None:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    return fig


def _select(result, populations):
    names = list(result.sizes) if populations is None else list(populations)
    for name in names:
        if name not in result.sizes:
            raise KeyError(f"no population {name!r} in this result; populations: {list(result.sizes)}")
    return names


def raster(result, path=None, populations=None, bin_ms: float | None = None, title: str = "",
           max_points: int | None = None, figsize=(10, 6), dpi: int = 150):
    """Spike raster (top) coloured by population, stacked in creation order, and the
    population rates in Hz (bottom, shared time axis in ms).

    Parameters
    ----------
    result : a :class:`neurosim.RunResult`.
    path : where to write a PNG; None writes nothing.
    populations : names to show (default all). Populations whose spikes were not recorded
        appear in the rate panel only.
    bin_ms : width of the rate bins, ms (default about 1/200 of the run, at least one step).
    max_points : draw at most this many spikes per population (evenly subsampled).
    """
    names = _select(result, populations)
    colors = population_colors(result)
    fig = _figure(figsize, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    offset, ticks, labels = 0, [], []
    t0, t1 = result.t_start, result.t_start + max(result.duration, result.dt)
    for name in names:
        n = result.sizes[name]
        spikes = result.spikes.get(name)
        if spikes is not None:
            times, idx = spikes.times, spikes.indices
            if max_points is not None and times.size > max_points:
                keep = np.linspace(0, times.size - 1, max_points).astype(np.int64)
                times, idx = times[keep], idx[keep]
            top.scatter(times, idx + offset, s=1.0, marker=".", linewidths=0, color=colors[name], rasterized=True,
                        label=name)
        ticks.append(offset + n / 2)
        labels.append(f"{name}\n({n})" if spikes is not None else f"{name}\n(not recorded)")
        offset += n
        if name != names[-1]:
            top.axhline(offset - 0.5, color="0.8", lw=0.5)
    top.set_yticks(ticks, labels)
    top.set_ylim(-0.5, max(offset, 1) - 0.5)
    top.set_ylabel("neuron")
    if title:
        top.set_title(title)
    if bin_ms is None:
        bin_ms = max(result.dt, round(max(result.duration, result.dt) / 200.0 / result.dt) * result.dt)
    for name in names:
        times, rates = result.rate(name, bin_ms=bin_ms)
        bottom.plot(times + bin_ms / 2, rates, color=colors[name], lw=1.0, label=f"{name} {result.mean_rate(name):.1f} Hz")
    bottom.set_xlim(t0, t1)
    bottom.set_xlabel("time (ms)")
    bottom.set_ylabel("rate (Hz)")
    if names:
        bottom.legend(loc="upper right", fontsize="small", frameon=False)
    return _finish(fig, path, dpi)


def voltage(result, key: str | None = None, path=None, indices=None, figsize=(10, 4), dpi: int = 150):
    """Traces of a recorded state variable (``"population.variable"``, default the first
    recorded) against time in ms; ``indices`` selects neurons among the recorded ones."""
    if not result.states:
        raise ValueError("this result has no state traces; record some with net.monitor_state(pop, 'v', ...)")
    key = next(iter(result.states)) if key is None else key
    if key not in result.states:
        raise KeyError(f"no state trace {key!r}; recorded: {sorted(result.states)}")
    trace = result.states[key]
    columns = range(trace.indices.size)
    if indices is not None:
        wanted = set(np.atleast_1d(indices).tolist())
        columns = [c for c, i in enumerate(trace.indices) if i in wanted]
        if not columns:
            raise ValueError(f"indices {sorted(wanted)} were not recorded in {key!r}; recorded: {trace.indices.tolist()}")
    fig = _figure(figsize, layout="constrained")
    ax = fig.subplots()
    for c in columns:
        ax.plot(trace.times, trace.values[:, c], lw=0.8, label=f"neuron {trace.indices[c]}")
    var = key.rsplit(".", 1)[-1]
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{var} (mV)" if var == "v" else var)
    ax.set_title(key)
    if len(columns) <= 10:
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    return _finish(fig, path, dpi)


def rate_histogram(result, path=None, populations=None, bins=30, figsize=(6, 4), dpi: int = 150):
    """Histogram of per-neuron mean firing rates (Hz) of the recorded populations, one colour
    per population; silent neurons count as 0 Hz."""
    names = [n for n in _select(result, populations) if n in result.spikes]
    colors = population_colors(result)
    fig = _figure(figsize, layout="constrained")
    ax = fig.subplots()
    seconds = max(result.duration, result.dt) * 1e-3
    for name in names:
        rates = np.bincount(result.spikes[name].indices, minlength=result.sizes[name]) / seconds
        ax.hist(rates, bins=bins, color=colors[name], alpha=0.6, label=f"{name} (n={rates.size})")
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("neurons")
    if names:
        ax.legend(frameon=False, fontsize="small")
    return _finish(fig, path, dpi)
