"""Figures of a run: spike raster with population rates, voltage traces, rate histogram;
and of a sweep (``sweep_curve``, ``sweep_heatmap``).

Every function takes a :class:`neurosim.RunResult`, returns a matplotlib ``Figure`` and
writes a PNG only when given ``path`` (atomically: temporary file next to it, then rename;
missing parent folders are created). Figures are built with the object-oriented API
(``matplotlib.figure.Figure``, no pyplot), so no GUI backend is ever needed, nothing is
registered with pyplot's figure manager and there is nothing to close: a figure we made is
freed as soon as the caller drops it. Pass your own ``ax``/``axes`` to draw into an existing
(for instance pyplot) figure instead; it is then yours, and is never closed here.

Each population keeps one colour in every plot (:func:`population_colors`): its position in
``result.sizes`` (order of creation) picks a colour from :data:`PALETTE`.

Example::

    result = net.run(1000.0)
    ns.plot.raster(result, path="out/raster.png", title="Izhikevich 2003")
    ns.plot.voltage(result, "exc.v", path="out/v.png")
    ns.plot.rate_histogram(result, path="out/rates.png")
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from .io import atomic_path

#: colours given to populations in their order of creation (cycled when there are more)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")

#: units of the state variables that :meth:`Network.monitor_state` records
_UNITS = {"v": "mV"}


def population_colors(result) -> dict[str, str]:
    """Population name -> colour (hex string), the same in every plot of ``result``."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(result.sizes)}


# ---- helpers ---------------------------------------------------------------------------
def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _figure_and_axes(ax, figsize):
    """The caller's ``ax`` and its figure, or a new figure of ``figsize`` with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = _figure(figsize)
    return fig, fig.subplots()


def save_figure(fig, path, dpi=120):
    """Write matplotlib figure ``fig`` to ``path`` as PNG (atomically: a failed or interrupted
    write never leaves a truncated file) when a path is given; return ``fig``."""
    if path is not None:
        with atomic_path(os.fspath(path), suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    return fig



def _check_dpi(dpi):
    if not isinstance(dpi, numbers.Real) or isinstance(dpi, bool) or not dpi > 0:
        raise ValueError(f"dpi must be a positive number, got {dpi!r}")


def _select(result, populations):
    """Names to plot, in the order of ``result.sizes`` unless the caller gave an order."""
    if populations is None:
        return list(result.sizes)
    names = [populations] if isinstance(populations, str) else list(populations)
    for name in names:
        if name not in result.sizes:
            raise KeyError(f"no population {name!r} in this result; populations: {list(result.sizes)}")
    return names


def default_bin_ms(result) -> float:
    """Rate bin used by :func:`raster` when none is given, ms: about 1/200 of the run,
    between 1 ms and 50 ms, a whole number of steps and at least one step."""
    per = max(1, int(round(min(max(result.duration / 200.0, 1.0), 50.0) / result.dt)))
    return per * result.dt


# ---- raster ----------------------------------------------------------------------------
def raster(result, path=None, populations=None, bin_ms: float | None = None, title: str = "",
           max_points: int | None = None, figsize=None, dpi: int = 150, axes=None):
    """Spike raster coloured by population (top) with the population rates beneath (bottom).

    Top panel: one dot per spike at (time ms, neuron); populations are stacked vertically
    in the order of ``result.sizes`` (the first at the bottom), each in its own colour and
    named on the y axis with its size; thin grey lines separate them. Bottom panel (same
    time axis): the rate of each population in Hz, binned in ``bin_ms`` and drawn at the
    bin centres, same colours, with the mean rate in the legend. The rate comes from
    ``result.counts`` (all neurons), so a population whose spikes were not recorded still
    gets its rate curve (its raster rows stay empty and are labelled "not recorded").

    Parameters
    ----------
    result : :class:`neurosim.RunResult`.
    path : str or path-like; where to write a PNG. None (default) writes nothing.
    populations : population names to show (default: all, in creation order).
    bin_ms : width of the rate bins, ms (> 0; rounded to whole steps). Default
        :func:`default_bin_ms`: about 1/200 of the run, 1 ms to 50 ms.
    title : figure title.
    max_points : draw at most this many spikes per population (evenly subsampled in time
        order; the rate panel always uses every spike). None draws them all.
    figsize : (width, height) in inches, default (10, 6).
    dpi : resolution of the written PNG, dots per inch.
    axes : optional pair ``(raster_ax, rate_ax)`` of the caller's axes to draw into.

    Returns
    -------
    matplotlib.figure.Figure (``axes[0]`` raster: one scatter collection per recorded
    population; ``axes[1]`` rates: one line per population).
    """
    names = _select(result, populations)
    _check_dpi(dpi)
    if bin_ms is None:
        bin_ms = default_bin_ms(result)
    elif not isinstance(bin_ms, numbers.Real) or not np.isfinite(bin_ms) or bin_ms <= 0:
        raise ValueError(f"bin_ms must be a positive number of ms, got {bin_ms!r}")
    if max_points is not None and (not isinstance(max_points, numbers.Integral) or max_points < 0):
        raise ValueError(f"max_points must be a non-negative integer or None, got {max_points!r}")
    colors = population_colors(result)

    if axes is None:
        fig = _figure(figsize or (10, 6))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    else:
        top, bottom = axes
        fig = top.figure

    # Marker area (points^2) from the height of one neuron row, so that small networks show
    # visible dots and large ones do not blur into a solid block.
    rows = max(1, sum(result.sizes[n] for n in names))
    row_pt = fig.get_figheight() * 72.0 * 0.6 / rows
    marker_area = float(np.clip(row_pt ** 2, 0.2, 6.0))

    offset, ticks, labels = 0, [], []
    for k, name in enumerate(names):
        n = result.sizes[name]
        spikes = result.spikes.get(name)
        if spikes is not None:
            times, idx = np.asarray(spikes.times), np.asarray(spikes.indices)
            if max_points is not None and times.size > max_points:
                keep = np.linspace(0, times.size - 1, max_points).round().astype(np.int64)
                times, idx = times[keep], idx[keep]
            top.scatter(times, idx + offset, s=marker_area, marker="o", linewidths=0, color=colors[name],
                        rasterized=True, label=name)
        ticks.append(offset + (n - 1) / 2)
        labels.append(f"{name}\n({n})" if spikes is not None else f"{name}\n(not recorded)")
        offset += n
        if k < len(names) - 1:
            top.axhline(offset - 0.5, color="0.8", lw=0.5)
    top.set_yticks(ticks, labels)
    top.set_ylim(-0.5, max(offset, 1) - 0.5)
    top.set_ylabel("neuron")
    if title:
        top.set_title(title)

    width = max(1, int(round(bin_ms / result.dt))) * result.dt  # the bin result.rate really uses
    for name in names:
        times, rates = result.rate(name, bin_ms=bin_ms)
        bottom.plot(times + width / 2, rates, color=colors[name], lw=1.0,
                    label=f"{name} {result.mean_rate(name):.1f} Hz")
    bottom.set_xlim(result.t_start, result.t_start + max(result.duration, result.dt))
    bottom.set_xlabel("time (ms)")
    bottom.set_ylabel(f"rate (Hz, {width:g} ms bins)")
    if names:
        bottom.legend(loc="upper right", fontsize="small", frameon=False)
    return save_figure(fig, path, dpi)


# ---- voltage ---------------------------------------------------------------------------
def voltage(result, key: str | None = None, path=None, indices=None, title: str | None = None,
            figsize=None, dpi: int = 150, ax=None):
    """Traces of one recorded state variable against time.

    Parameters
    ----------
    result : :class:`neurosim.RunResult` with state traces (``net.monitor_state``).
    key : ``"population.variable"``, e.g. ``"exc.v"`` (mV); None takes the first trace.
    path : where to write a PNG; None (default) writes nothing.
    indices : neurons (indices within the population) to draw, among those recorded;
        default all recorded ones.
    title : figure title (default the key).
    figsize : (width, height) in inches, default (10, 4).
    dpi : resolution of the written PNG.
    ax : optional axes of the caller to draw into.

    Returns
    -------
    matplotlib.figure.Figure, one line per neuron (x: time in ms; y: the variable, mV for v).

    Raises
    ------
    KeyError : ``key`` was not recorded (the message lists the recorded keys).
    ValueError : the result has no state traces, or none of ``indices`` was recorded.
    """
    _check_dpi(dpi)
    if not result.states:
        raise ValueError("this result has no state traces; record some with "
                         "net.monitor_state(population, ['v'], indices=[...]) before run()")
    key = next(iter(result.states)) if key is None else key
    if key not in result.states:
        raise KeyError(f"no state trace {key!r}; recorded: {sorted(result.states)}")
    trace = result.states[key]
    recorded = np.asarray(trace.indices).tolist()
    if indices is None:
        columns = list(range(len(recorded)))
    else:
        wanted = np.atleast_1d(np.asarray(indices)).tolist()
        missing = [i for i in wanted if i not in recorded]
        if missing:
            raise ValueError(f"indices {missing} were not recorded in {key!r}; recorded: {recorded}")
        columns = [recorded.index(i) for i in wanted]

    if ax is None:
        fig = _figure(figsize or (10, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    values = np.asarray(trace.values)
    for c in columns:
        ax.plot(trace.times, values[:, c], lw=0.8, label=f"neuron {recorded[c]}")
    var = key.rsplit(".", 1)[-1]
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{var} ({_UNITS[var]})" if var in _UNITS else var)
    ax.set_title(key if title is None else title)
    if result.duration > 0:
        ax.set_xlim(result.t_start, result.t_start + result.duration)
    if 0 < len(columns) <= 10:
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    return save_figure(fig, path, dpi)


# ---- rate histogram --------------------------------------------------------------------
def neuron_rates(result, population: str) -> np.ndarray:
    """Mean firing rate of every neuron of a recorded population over the run, Hz
    (``[size]`` array; neurons without a recorded spike count as 0 Hz)."""
    if population not in result.spikes:
        raise ValueError(f"spikes of population {population!r} were not recorded; "
                         f"recorded: {list(result.spikes)}")
    seconds = result.duration * 1e-3
    counts = np.bincount(np.asarray(result.spikes[population].indices, dtype=np.int64),
                         minlength=result.sizes[population])
    return counts / seconds if seconds > 0 else np.zeros(result.sizes[population])


def _rate_edges(rates, bins, duration_ms):
    """Bin edges for per-neuron rates. A rate is a whole spike count over the run, so it is
    a multiple of ``q = 1000 / duration_ms`` Hz: for a number of bins, make the width a
    multiple of ``q`` with edges half-way between levels (0 Hz centred in the first bin),
    so no bin is empty merely because no level falls inside it."""
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool) and duration_ms > 0 and rates.size:
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        q = 1000.0 / duration_ms
        levels = int(round(rates.max() / q))  # highest spike count
        per = max(1, -(-(levels + 1) // bins))  # levels per bin, rounded up
        return (np.arange(-(-(levels + 1) // per) + 1) * per - 0.5) * q
    return np.histogram_bin_edges(rates, bins=bins)


def rate_histogram(result, path=None, populations=None, bins=30, title: str = "", figsize=None,
                   dpi: int = 150, ax=None):
    """Histogram of per-neuron mean firing rates (Hz), one colour per population.

    Every neuron of each shown population is counted once (silent neurons at 0 Hz); all
    populations share the same bin edges so their bars line up. Rates come from the
    recorded spikes, so only populations with recorded spikes can be shown (with partial
    recording, ``net.record_spikes(pop, indices)``, the unrecorded neurons count as 0 Hz).

    Parameters
    ----------
    result : :class:`neurosim.RunResult`.
    path : where to write a PNG; None (default) writes nothing.
    populations : names to show (default: every population whose spikes were recorded).
        Naming a population whose spikes were not recorded raises ValueError.
    bins : number of bins or explicit bin edges (Hz), as for ``numpy.histogram``.
    title : figure title.
    figsize : (width, height) in inches, default (6, 4).
    dpi : resolution of the written PNG.
    ax : optional axes of the caller to draw into.

    Returns
    -------
    matplotlib.figure.Figure (one bar container per population in ``axes[0].containers``).
    """
    _check_dpi(dpi)
    if populations is None:
        names = [n for n in result.sizes if n in result.spikes]
    else:
        names = _select(result, populations)
    rates = {name: neuron_rates(result, name) for name in names}
    colors = population_colors(result)
    fig, ax = _figure_and_axes(ax, figsize or (6, 4))
    everything = np.concatenate([r for r in rates.values()] + [np.zeros(0)])
    edges = _rate_edges(everything, bins, result.duration)
    for name, r in rates.items():
        ax.hist(r, bins=edges, color=colors[name], alpha=0.6, label=f"{name} (n={r.size}, mean {r.mean():.1f} Hz)"
                if r.size else name)
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("neurons")
    if title:
        ax.set_title(title)
    if names:
        ax.legend(frameon=False, fontsize="small")
    else:
        ax.text(0.5, 0.5, "no recorded spikes", transform=ax.transAxes, ha="center", va="center", color="0.5")
    return save_figure(fig, path, dpi)


# ---- sweeps ----------------------------------------------------------------------------
def sweep_curve(df, metric: str, x: str, by: str | None = None, path=None, title: str = "", figsize=None,
                dpi: int = 150, ax=None):
    """A sweep's ``metric`` against parameter ``x``: mean over seeds with ± 1 s.d. error bars,
    one line per value of parameter ``by`` (if given). ``df``: ``Sweep.to_pandas()`` (rows of
    failed runs or NaN metrics are left out). Returns the figure; writes a PNG with ``path``."""
    _check_dpi(dpi)
    fig, ax = _figure_and_axes(ax, figsize or (6, 4))
    data = df[[c for c in (x, by, metric) if c is not None]].dropna()
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=True))
    for i, (value, part) in enumerate(groups):
        stats = part.groupby(x, sort=True)[metric].agg(["mean", "std", "count"])
        label = None if by is None else f"{by} = {value:g}" if isinstance(value, numbers.Real) else f"{by} = {value}"
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0.0), marker="o", capsize=3,
                    color=PALETTE[i % len(PALETTE)], label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} (mean ± s.d. over seeds)")
    if title:
        ax.set_title(title)
    if by is not None and groups:
        ax.legend(frameon=False, fontsize="small")
    if data.empty:
        ax.text(0.5, 0.5, "no finished runs", transform=ax.transAxes, ha="center", va="center", color="0.5")
    return save_figure(fig, path, dpi)


def sweep_heatmap(df, metric: str, x: str, y: str, path=None, title: str = "", figsize=None, dpi: int = 150,
                  ax=None, cmap: str = "viridis"):
    """A sweep's ``metric`` (mean over seeds) over the grid of parameters ``x`` and ``y``; cells
    without a finished run are blank. ``df``: ``Sweep.to_pandas()``. Returns the figure."""
    _check_dpi(dpi)
    fig, ax = _figure_and_axes(ax, figsize or (6, 4.5))
    table = df[[x, y, metric]].dropna().groupby([y, x])[metric].mean().unstack(x)
    image = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap=cmap)
    ax.set_xticks(range(table.shape[1]), [f"{v:.3g}" for v in table.columns], rotation=45)
    ax.set_yticks(range(table.shape[0]), [f"{v:.3g}" for v in table.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(image, ax=ax, label=metric)
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi)
