"""The liquid of a liquid state machine (Maass, Natschläger & Markram 2002, Appendix B).

LIF neurons on the integer points of a 3-D grid (15 x 3 x 3 by default), 20 % inhibitory at
random; a neuron ``a`` connects to ``b`` with probability ``C * exp(-(D(a, b) / lam)^2)``
(``D`` Euclidean distance, no self-loops) with ``C`` per pair type (EE 0.3, EI 0.2, IE 0.4,
II 0.1), ``lam = 2``; weights gamma-distributed with SD = mean (EE 30, EI 60, IE -19,
II -19; nA into 1 MOhm, so mV here), delays 1.5 ms (EE) and 0.8 ms (others).

Neurons: ``tau_m`` 30 ms, rest 0 with a 13.5 nA background current (13.5 mV into 1 MOhm,
here as the resting potential: the same membrane equation), threshold 15 mV, reset 13.5 mV,
refractory 3 ms (E) / 2 ms (I), synaptic currents decaying with 3 ms (E) / 6 ms (I),
``v(0)`` uniform in [13.5, 15] mV.

Synapses: the paper's dynamic (Markram et al. 1998) synapses, recurrent and input alike
(``dynamic_synapses=True``, the default): :func:`neurosim.plasticity.TsodyksMarkram` with
``U``, ``D``, ``F`` per pair type (:data:`MAASS_UDF`; EE 0.5, 1.1 s, 0.05 s; EI 0.05, 0.125 s,
1.2 s; IE 0.25, 0.7 s, 0.02 s; II 0.32, 0.144 s, 0.06 s), each synapse's value drawn from a
Gaussian with SD 50 % of the mean. A spike after an interval ``delta`` releases ``A u r`` with
``u <- U + u (1 - U) e^(-delta/F)``, ``r <- 1 + (r (1 - u) - 1) e^(-delta/D)`` (the first spike
``A U``), ``A`` the gamma-distributed amplitude above. The input channels are excitatory: their
synapses take the EE values onto excitatory and the EI values onto inhibitory neurons (our
choice: the paper's appendix, as we read it, gives the input amplitudes only). Draws outside
the range are drawn again (negative ones, as the paper says; for ``U`` also those above 1,
which the model cannot take). ``dynamic_synapses=False`` gives static synapses of amplitude
``A`` (neurosim's liquid before short-term plasticity, kept so its results stay reproducible).

::

    import neurosim as ns
    from neurosim.circuits.lsm import build_liquid
    net = ns.Network(dt=0.1, seed=1)
    liquid = build_liquid(net)               # 135 neurons: liquid.exc, liquid.inh
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

import neurosim as ns
from neurosim.events import EventStream
from neurosim.memory import check_memory
from neurosim.random import Distribution
from neurosim.synapse_definition import Synapse
from neurosim.validation import as_real_array, check_flag, check_int, check_number

#: connection scale ``C`` per (source type, target type), Maass et al. 2002
MAASS_C = {("E", "E"): 0.3, ("E", "I"): 0.2, ("I", "E"): 0.4, ("I", "I"): 0.1}
#: mean synaptic amplitude per pair type (nA into 1 MOhm -> mV); SD = mean
MAASS_WEIGHT = {("E", "E"): 30.0, ("E", "I"): 60.0, ("I", "E"): -19.0, ("I", "I"): -19.0}
#: transmission delay per pair type, ms
MAASS_DELAY = {("E", "E"): 1.5, ("E", "I"): 0.8, ("I", "E"): 0.8, ("I", "I"): 0.8}
#: dynamic synapses per pair type: mean ``(U, D, F)``, D (recovery) and F (facilitation) in ms
MAASS_UDF = {("E", "E"): (0.5, 1100.0, 50.0), ("E", "I"): (0.05, 125.0, 1200.0),
             ("I", "E"): (0.25, 700.0, 20.0), ("I", "I"): (0.32, 144.0, 60.0)}
#: SD of every U, D, F draw as a share of its mean (Maass et al.: 50 %)
MAASS_UDF_SD = 0.5


@dataclass(frozen=True)
class _Signed(Distribution):
    """``sign`` times draws of ``base`` (gamma amplitudes of inhibitory synapses are negative)."""

    base: Distribution
    sign: float

    def sample(self, rng, n):
        return self.sign * self.base.sample(rng, n)


@dataclass(frozen=True)
class _TruncatedNormal(Distribution):
    """Gaussian draws of ``mean`` and SD ``std``; a draw outside ``(0, upper]`` is drawn again
    (Maass et al. redraw the negative U, D, F; ``upper`` keeps U a utilisation)."""

    mean: float
    std: float
    upper: float = math.inf

    def sample(self, rng, n):
        out = rng.normal(self.mean, self.std, n)
        bad = (out <= 0) | (out > self.upper)
        while bad.any():  # the means lie at least 2 SD inside the range: few rounds
            out[bad] = rng.normal(self.mean, self.std, int(bad.sum()))
            bad = (out <= 0) | (out > self.upper)
        return out


def dynamic_synapse(pair: tuple) -> Synapse:
    """Maass et al.'s dynamic synapse of pair type ``pair`` (e.g. ``("E", "I")``): a
    :func:`neurosim.plasticity.TsodyksMarkram` whose per-synapse ``U``, ``tau_rec`` (D) and
    ``tau_facil`` (F) are drawn around :data:`MAASS_UDF` with SD :data:`MAASS_UDF_SD` of the mean."""
    from neurosim.plasticity import TsodyksMarkram

    if pair not in MAASS_UDF:
        raise ValueError(f"pair must be one of {sorted(MAASS_UDF)}, got {pair!r:.40}")
    U, D, F = MAASS_UDF[pair]
    return TsodyksMarkram(U=_TruncatedNormal(U, MAASS_UDF_SD * U, upper=1.0),
                          tau_rec=_TruncatedNormal(D, MAASS_UDF_SD * D),
                          tau_facil=_TruncatedNormal(F, MAASS_UDF_SD * F))


@dataclass
class Liquid:
    """A built liquid: its two populations, grid positions ``[n, 3]`` and the projections
    keyed by pair type, e.g. ``projections[("E", "I")]``."""

    exc: ns.network.Population
    inh: ns.network.Population
    positions_exc: np.ndarray
    positions_inh: np.ndarray
    projections: dict
    lam: float
    C: dict
    dynamic_synapses: bool = False

    @property
    def n(self) -> int:
        return len(self.exc) + len(self.inh)


def check_grid(shape) -> tuple:
    """A liquid grid ``shape``: a tuple of positive ints whose points (the neurons, with their
    positions) fit in memory."""
    if not isinstance(shape, (tuple, list)) or not shape:
        raise TypeError(f"shape must be a non-empty tuple of grid sizes such as (15, 3, 3), got {shape!r:.40}")
    shape = tuple(check_int(f"shape[{i}]", s, minimum=1) for i, s in enumerate(shape))
    n = math.prod(shape)
    # positions (float64, and the meshgrid that builds them) and the neurons' state, about 100 B each
    check_memory(f"a liquid of shape {shape} ({n} neurons)", (24.0 * len(shape) + 100.0) * n, "use a smaller grid")
    return shape


def check_fraction(name: str, value) -> float:
    """A share, a number in [0, 1]."""
    value = check_number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def lif_neurons(n: int, refractory: float) -> ns.LIF:
    """The paper's liquid neuron (see the module docstring)."""
    return ns.LIF(n, tau_m=30.0, v_rest=13.5, v_threshold=15.0, v_reset=13.5, t_ref=refractory,
                  tau_exc=3.0, tau_inh=6.0, v_init=ns.Uniform(13.5, 15.0))


def build_liquid(net: ns.Network, shape=(15, 3, 3), *, lam: float = 2.0, inhibitory_fraction: float = 0.2,
                 C: dict | None = None, weight_scale: float = 1.0, delays: bool = True, dynamic_synapses: bool = True,
                 name: str = "liquid") -> Liquid:
    """Add a Maass et al. (2002) liquid to ``net`` (populations ``{name}_exc``, ``{name}_inh``).

    Parameters
    ----------
    shape : grid size, any number of points per axis (15 x 3 x 3: 135 neurons).
    lam : the connection length scale lambda, grid units (>= 0; 0 leaves the neurons unconnected).
    inhibitory_fraction : share of grid points made inhibitory, drawn at random with ``net``'s
        generator (so the network's seed fixes the liquid); both populations must get a neuron.
    C : connection scales per pair type (default :data:`MAASS_C`), keys ``("E", "I")`` etc.
    weight_scale : multiplies every mean amplitude (the paper's is 1).
    delays : the paper's transmission delays (:data:`MAASS_DELAY`); False: one time step.
    dynamic_synapses : the paper's dynamic synapses (:func:`dynamic_synapse`, per pair type);
        False: static synapses of the same amplitudes (the liquid before short-term plasticity;
        the same seed then draws the same liquid as it did).
    """
    lam = check_number("lam", lam, nonnegative=True)
    dynamic_synapses = check_flag("dynamic_synapses", dynamic_synapses)
    frac = check_fraction("inhibitory_fraction", inhibitory_fraction)
    weight_scale = check_number("weight_scale", weight_scale, nonnegative=True)
    if C is not None and not isinstance(C, dict):
        raise TypeError(f"C must be a dict of connection scales per pair type, got {type(C).__name__}")
    C = dict(MAASS_C if C is None else C)
    if set(C) != set(MAASS_C):
        raise ValueError(f"C needs exactly the pair types {sorted(MAASS_C)}, got {sorted(map(str, C))}")
    positions = ns.connect.grid_positions(check_grid(shape))
    n = len(positions)
    n_inh = int(round(frac * n))
    if not 0 < n_inh < n:  # a population of no neurons is no population
        raise ValueError(f"inhibitory_fraction = {frac:g} of {n} grid points leaves "
                         f"{'no inhibitory' if n_inh == 0 else 'no excitatory'} neuron; the liquid needs both")
    is_inh = np.zeros(n, dtype=bool)
    is_inh[net.rng.choice(n, size=n_inh, replace=False)] = True
    pos = {"E": positions[~is_inh], "I": positions[is_inh]}
    pops = {"E": net.population(f"{name}_exc", lif_neurons(len(pos["E"]), 3.0)),
            "I": net.population(f"{name}_inh", lif_neurons(len(pos["I"]), 2.0))}
    projections = {}
    for (a, b), c in C.items():
        if len(pos[a]) == 0 or len(pos[b]) == 0:
            continue
        mean = MAASS_WEIGHT[(a, b)] * weight_scale
        weight = _Signed(ns.Gamma(abs(mean), abs(mean)), np.sign(mean)) if mean else 0.0
        projections[(a, b)] = net.connect(pops[a], pops[b], ns.connect.distance(pos[a], pos[b], C=c, lam=lam),
                                          weight=weight, delay=MAASS_DELAY[(a, b)] if delays else None,
                                          receptor="exc" if a == "E" else "inh",
                                          synapse=dynamic_synapse((a, b)) if dynamic_synapses else None)
    return Liquid(pops["E"], pops["I"], pos["E"], pos["I"], projections, lam, C, dynamic_synapses)


def connect_input(net: ns.Network, source, liquid: Liquid, *, fraction: float = 0.3,
                  amplitude_exc: float = 18.0, amplitude_inh: float = 9.0, delay: float | None = None,
                  dynamic_synapses: bool | None = None) -> list:
    """Connect every input channel of ``source`` to a random ``fraction`` of the liquid's
    neurons (Maass et al.: 30 %), amplitudes gamma-distributed with SD = mean (18 onto E, 9
    onto I; mV here). ``dynamic_synapses`` (default: as the liquid's): the input channels'
    synapses are dynamic with the EE values onto E and the EI values onto I (:func:`dynamic_synapse`;
    the channels are excitatory); False: static. Returns the two projections (onto E, onto I)."""
    fraction = check_fraction("fraction", fraction)
    dynamic = liquid.dynamic_synapses if dynamic_synapses is None else check_flag("dynamic_synapses",
                                                                                  dynamic_synapses)
    out = []
    for pop, amp, pair in ((liquid.exc, amplitude_exc, ("E", "E")), (liquid.inh, amplitude_inh, ("E", "I"))):
        amp = check_number("amplitude", amp, positive=True)
        out.append(net.connect(source, pop, ns.connect.random(fraction), weight=ns.Gamma(amp, amp), delay=delay,
                               receptor="exc", synapse=dynamic_synapse(pair) if dynamic else None))
    return out


def liquid_state(spikes, n: int, times, *, tau: float = 30.0) -> np.ndarray:
    """The liquid state of Maass et al.: each neuron's spike train filtered by an exponential
    kernel of time constant ``tau`` (ms), ``x_i(t) = sum_{t_s <= t} exp(-(t - t_s) / tau)``,
    sampled at ``times`` (ms). ``spikes``: a :class:`neurosim.result.Spikes` (or anything with
    ``times`` and ``indices``) of a population of ``n`` neurons. Returns ``[len(times), n]``."""
    tau = check_number("tau", tau, positive=True)
    n = check_int("n", n, minimum=1)
    times = np.atleast_1d(as_real_array("times", times))
    if times.ndim != 1 or not np.all(np.isfinite(times)):
        raise ValueError("times must be a finite 1-D array of sample times (ms)")
    if not (hasattr(spikes, "times") and hasattr(spikes, "indices")):
        raise TypeError(f"spikes must have times and indices (a neurosim.result.Spikes), got {type(spikes).__name__}")
    t_s, idx = as_real_array("spikes.times", spikes.times), as_real_array("spikes.indices", spikes.indices)
    if t_s.shape != idx.shape or t_s.ndim != 1 or not np.all(np.isfinite(t_s)):
        raise ValueError(f"spikes.times and spikes.indices must be finite 1-D arrays of one length, got shapes "
                         f"{t_s.shape} and {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n or np.any(idx != np.round(idx))):
        raise ValueError(f"spike indices must be whole numbers in [0, n = {n})")
    idx = idx.astype(np.int64)
    check_memory(f"liquid_state: {times.size} sample times x {n} neurons", 8.0 * times.size * n,
                 "use fewer sample times")
    state = np.zeros((times.size, n))
    for k, t in enumerate(times):
        past = t_s <= t
        np.add.at(state[k], idx[past], np.exp(-(t - t_s[past]) / tau))
    return state


class LiquidStateMachine:
    """A fixed random liquid (:func:`build_liquid`) driven by spike-source input and read out
    from its filtered state (:func:`liquid_state`): one network per input sample, always with
    the same liquid (the same ``seed`` builds the same neurons, synapses and initial state), so a
    sample's state depends on that sample only.

    Parameters
    ----------
    n_inputs : input channels (for an :class:`~neurosim.events.EventStream`: its
        ``channels(pool)`` count).
    shape : liquid grid (default 15 x 3 x 3, Maass et al.).
    dt : time step, ms. seed : fixes the liquid. backend : the engine's backend.
    lam, weight_scale, inhibitory_fraction, delays : see :func:`build_liquid`.
    dynamic_synapses : the paper's dynamic synapses, recurrent and input (default True); False:
        static synapses, the liquid neurosim had before short-term plasticity (same seed, same
        states as then).
    input_fraction : share of the liquid's neurons each input channel reaches (paper: 0.3).
    input_scale : multiplies the paper's input amplitudes (18 onto E, 9 onto I).
    tau : state filter time constant, ms (paper: 30).

    Examples
    --------
    >>> lsm = LiquidStateMachine(72, seed=1)
    >>> X = lsm.states(streams, sample_times=[100, 200, 300], pool=4)   # [n_samples, 3, 135]
    """

    def __init__(self, n_inputs: int, shape=(15, 3, 3), *, dt: float = 0.5, seed: int = 0, lam: float = 2.0,
                 weight_scale: float = 1.0, inhibitory_fraction: float = 0.2, input_fraction: float = 0.3,
                 input_scale: float = 1.0, tau: float = 30.0, delays: bool = True, dynamic_synapses: bool = True,
                 backend: str = "numba"):
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=1)
        self.shape = check_grid(shape)
        self.dt = check_number("dt", dt, positive=True)
        self.seed = seed
        self.liquid_options = dict(lam=lam, weight_scale=weight_scale, inhibitory_fraction=inhibitory_fraction,
                                   delays=check_flag("delays", delays),
                                   dynamic_synapses=check_flag("dynamic_synapses", dynamic_synapses))
        self.input_fraction = check_fraction("input_fraction", input_fraction)
        self.input_scale = check_number("input_scale", input_scale, positive=True)
        self.tau = check_number("tau", tau, positive=True)
        self.backend = backend
        self.build([], [])  # validates every option now, not at the first sample

    @property
    def n(self) -> int:
        """Neurons in the liquid (excitatory first, then inhibitory, in states and rasters)."""
        return int(np.prod(self.shape))

    def build(self, indices, times) -> tuple[ns.Network, Liquid]:
        """A fresh network holding the liquid and an ``input`` population spiking at ``times``
        (ms) on channels ``indices``."""
        net = ns.Network(dt=self.dt, seed=self.seed)
        liquid = build_liquid(net, self.shape, **self.liquid_options)
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_inputs):
            raise ValueError(f"input indices must lie in [0, n_inputs = {self.n_inputs}), "
                             f"got {indices.min()}..{indices.max()}")
        source = net.population("input", ns.SpikeTimes(self.n_inputs, indices=indices, times=times))
        connect_input(net, source, liquid, fraction=self.input_fraction, amplitude_exc=18.0 * self.input_scale,
                      amplitude_inh=9.0 * self.input_scale)
        return net, liquid

    def _spikes(self, sample, pool):
        if isinstance(sample, EventStream):
            indices, times, _ = sample.to_spike_times(self.dt, pool=pool)
            return indices, times
        if not (isinstance(sample, (tuple, list)) and len(sample) == 2):
            raise TypeError("each sample must be an EventStream or an (indices, times_ms) pair, "
                            f"got {type(sample).__name__}")
        indices, times = (as_real_array(name, v) for name, v in (("sample indices", sample[0]),
                                                                 ("sample times_ms", sample[1])))
        if indices.ndim != 1 or indices.shape != times.shape or np.any(indices != np.round(indices)):
            raise ValueError(f"a sample's indices and times_ms must be 1-D arrays of one length, the indices whole "
                             f"numbers; got shapes {indices.shape} and {times.shape}")
        return indices.astype(np.int64), times

    def run(self, sample, duration: float, *, pool: int = 1, progress: bool | None = False):
        """Run the liquid on one ``sample`` (an :class:`EventStream` or ``(indices, times_ms)``)
        for ``duration`` ms; returns ``(result, liquid)`` (for rasters and rates)."""
        net, liquid = self.build(*self._spikes(sample, pool))
        return net.run(duration, backend=self.backend, progress=progress), liquid

    def states(self, samples, sample_times, *, pool: int = 1, progress: bool | None = None) -> np.ndarray:
        """Liquid states of every sample at ``sample_times`` (ms): ``[n_samples, n_times, n]``
        (float32). The run of each sample lasts until its last sample time."""
        sample_times = np.atleast_1d(as_real_array("sample_times", sample_times))
        if (sample_times.ndim != 1 or sample_times.size == 0 or not np.all(np.isfinite(sample_times))
                or not np.all(sample_times >= 0)):
            raise ValueError("sample_times must be a non-empty 1-D array of finite times >= 0 (ms)")
        samples = list(samples)
        check_memory(f"LiquidStateMachine.states: {len(samples)} samples x {sample_times.size} times x {self.n} "
                     "neurons (float32)", 4.0 * len(samples) * sample_times.size * self.n,
                     "use fewer samples or sample times")
        out = np.zeros((len(samples), sample_times.size, self.n), dtype=np.float32)
        bar = tqdm(samples, desc="liquid", unit="sample", leave=False,
                   disable=None if progress is None else not progress)  # None: on a terminal only
        for k, sample in enumerate(bar):
            result, liquid = self.run(sample, float(sample_times.max()), pool=pool)
            n_exc = len(liquid.exc)
            out[k, :, :n_exc] = liquid_state(result.spikes[liquid.exc.name], n_exc, sample_times, tau=self.tau)
            out[k, :, n_exc:] = liquid_state(result.spikes[liquid.inh.name], len(liquid.inh), sample_times, tau=self.tau)
        return out


def linear_probe(kind: str = "ridge"):
    """A linear classifier for liquid states (needs scikit-learn): features standardised, then
    ``"ridge"`` (one-vs-all least squares, penalty chosen by leave-one-out over 1e-1..1e5) or
    ``"logistic"`` (multinomial logistic regression, L2). Use ``fit`` / ``score`` /
    ``predict`` on ``[n_samples, n_features]``."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(kind, str):
        raise ValueError(f"kind must be 'ridge' or 'logistic', got {kind!r:.40}")
    if kind == "ridge":
        return make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-1, 5, 13)))
    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    raise ValueError(f"kind must be 'ridge' or 'logistic', got {kind!r}")


def probe_accuracy(features, labels, *, folds: int = 5, seed: int = 0, kind: str = "ridge") -> tuple[float, float]:
    """Test accuracy of :func:`linear_probe` under ``folds``-fold stratified cross-validation
    on ``features [n_samples, ...]`` (flattened per sample): ``(mean, SD over folds)``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    features = as_real_array("features", features)
    labels = np.asarray(labels)
    if features.ndim < 1 or labels.ndim != 1 or len(features) != len(labels):
        raise ValueError(f"features and labels need one row per sample, got shapes {features.shape} and {labels.shape}")
    folds = check_int("folds", folds, minimum=2)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_score(linear_probe(kind), features.reshape(len(features), -1), labels, cv=cv)
    return float(scores.mean()), float(scores.std())
