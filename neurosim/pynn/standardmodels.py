"""PyNN's standard cells, synapses and current sources as ``neurosim.pynn`` provides them.

Native names are PyNN's own (the translations are identities): :mod:`neurosim.pynn.models`
defines the cells in PyNN's names and units, and the synapse types map onto neurosim's
plastic synapses (:mod:`neurosim.plasticity.synapses`) when a projection is built.

Standard models neurosim does not provide are still importable, so a script fails where it
uses one, with :class:`pyNN.errors.NoModelAvailableError` naming it and what is available.
"""

from __future__ import annotations

import numpy as np
from pyNN import errors
from pyNN.parameters import ParameterSpace, Sequence
from pyNN.standardmodels import (
    build_translations,
    cells,
    electrodes,
    receptors,
    synapses,
)

from . import simulator
from .models import DEFINITIONS


def _identity(cls) -> dict:
    return build_translations(*[(name, name) for name in cls.default_parameters])


def _cell(base):
    """PyNN's cell type ``base`` run by its neurosim definition (:mod:`neurosim.pynn.models`)."""
    return type(base.__name__, (base,), {"__doc__": base.__doc__, "translations": _identity(base),
                                         "definition": DEFINITIONS[base.__name__]})


IF_curr_exp = _cell(cells.IF_curr_exp)
IF_cond_exp = _cell(cells.IF_cond_exp)
EIF_cond_exp_isfa_ista = _cell(cells.EIF_cond_exp_isfa_ista)
Izhikevich = _cell(cells.Izhikevich)
IF_curr_alpha = _cell(cells.IF_curr_alpha)
IF_cond_alpha = _cell(cells.IF_cond_alpha)
EIF_cond_alpha_isfa_ista = _cell(cells.EIF_cond_alpha_isfa_ista)
HH_cond_exp = _cell(cells.HH_cond_exp)


def _standard(base):
    """PyNN's ``base`` with its own names as the native ones."""
    return type(base.__name__, (base,), {"__doc__": base.__doc__, "translations": _identity(base)})


SpikeSourcePoisson = _standard(cells.SpikeSourcePoisson)
SpikeSourceArray = _standard(cells.SpikeSourceArray)


#: What neurosim.pynn provides, for the messages of what it does not.
PROVIDED = (f"its standard cells are {', '.join(DEFINITIONS)}, SpikeSourcePoisson and SpikeSourceArray; its synapses "
            "StaticSynapse, STDPMechanism (SpikePairRule with Additive- or MultiplicativeWeightDependence) and "
            "TsodyksMarkramSynapse; its current sources DCSource, StepCurrentSource, ACSource and NoisyCurrentSource")


def _unavailable(base):
    def __init__(self, *args, **kwargs):
        raise errors.NoModelAvailableError(f"neurosim.pynn does not provide {base.__name__}; {PROVIDED}")
    return type(base.__name__, (base,), {"__init__": __init__, "__doc__": f"Not provided by neurosim.pynn. {base.__doc__}"})


for _base in (cells.IF_curr_delta, cells.IF_cond_exp_gsfa_grr, cells.SpikeSourceGamma, cells.SpikeSourceInhGamma,
              cells.IF_facets_hardware1, cells.PointNeuron, receptors.CondAlphaPostSynapticResponse,
              receptors.CondBetaPostSynapticResponse, receptors.CondExpPostSynapticResponse,
              receptors.CurrExpPostSynapticResponse, synapses.ElectricalSynapse, synapses.SimpleStochasticSynapse,
              synapses.StochasticTsodyksMarkramSynapse, synapses.MultiQuantalSynapse,
              synapses.AdditivePotentiationMultiplicativeDepression, synapses.GutigWeightDependence,
              synapses.Vogels2011Rule):
    globals()[_base.__name__] = _unavailable(_base)
AlphaPSR, ExpPSR = CondAlphaPostSynapticResponse, CondExpPostSynapticResponse  # noqa: F821 - PyNN's aliases


# ---- synapses ---------------------------------------------------------------------------------
class _MinimumDelay:
    def _get_minimum_delay(self):
        return simulator.state.resolved_min_delay()


class StaticSynapse(_MinimumDelay, synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"))


class TsodyksMarkramSynapse(_MinimumDelay, synapses.TsodyksMarkramSynapse):
    __doc__ = synapses.TsodyksMarkramSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"), ("U", "U"), ("tau_rec", "tau_rec"),
                                      ("tau_facil", "tau_facil"))


class STDPMechanism(_MinimumDelay, synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__
    base_translations = build_translations(("weight", "weight"), ("delay", "delay"),
                                           ("dendritic_delay_fraction", "dendritic_delay_fraction"))

    def __init__(self, timing_dependence=None, weight_dependence=None, voltage_dependence=None,
                 dendritic_delay_fraction=1.0, weight=0.0, delay=None):
        # As pyNN.brian2: the delay is axonal, the pre-synaptic spike acts on the synapse (and
        # its trace) when it arrives; NEST's dendritic delays are another model.
        if dendritic_delay_fraction != 0:
            raise NotImplementedError("neurosim.pynn: STDPMechanism supports only dendritic_delay_fraction=0 (the "
                                      "delay is axonal: a spike updates the synapse when it arrives); set "
                                      "dendritic_delay_fraction=0")
        if voltage_dependence is not None:
            raise NotImplementedError("neurosim.pynn: STDPMechanism has no voltage dependence")
        if not isinstance(timing_dependence, SpikePairRule):
            raise errors.NoModelAvailableError(f"neurosim.pynn: STDPMechanism's timing_dependence must be "
                                               f"SpikePairRule, got {type(timing_dependence).__name__}")
        if not isinstance(weight_dependence, (AdditiveWeightDependence, MultiplicativeWeightDependence)):
            raise errors.NoModelAvailableError(f"neurosim.pynn: STDPMechanism's weight_dependence must be "
                                               f"AdditiveWeightDependence or MultiplicativeWeightDependence, got "
                                               f"{type(weight_dependence).__name__}")
        super().__init__(timing_dependence, weight_dependence, voltage_dependence, dendritic_delay_fraction,
                         weight, delay)


AdditiveWeightDependence = _standard(synapses.AdditiveWeightDependence)
MultiplicativeWeightDependence = _standard(synapses.MultiplicativeWeightDependence)
SpikePairRule = _standard(synapses.SpikePairRule)


def engine_synapse(synapse_type, values: dict):
    """The neurosim plastic synapse of a PyNN synapse type (None for static synapses), its
    parameters taken per synapse from ``values`` (name -> float64 array, in synapse order)."""
    from neurosim.plasticity import STDP, TsodyksMarkram

    if isinstance(synapse_type, StaticSynapse):
        return None
    if isinstance(synapse_type, TsodyksMarkramSynapse):
        facil = values["tau_facil"]
        if np.all(facil == 0):
            return TsodyksMarkram(U=values["U"], tau_rec=values["tau_rec"])
        if np.any(facil <= 0):
            raise NotImplementedError("neurosim.pynn: a TsodyksMarkramSynapse projection must have tau_facil = 0 "
                                      "(depression only) on all its synapses or > 0 on all of them")
        return TsodyksMarkram(U=values["U"], tau_rec=values["tau_rec"], tau_facil=facil)
    if isinstance(synapse_type, STDPMechanism):
        additive = isinstance(synapse_type.weight_dependence, AdditiveWeightDependence)
        w_max = values["w_max"]
        # PyNN's additive steps are fractions of w_max; multiplicative ones of the room left
        scale = w_max if additive else 1.0
        return STDP(tau_pre=values["tau_plus"], tau_post=values["tau_minus"], a_pre=values["A_plus"] * scale,
                    a_post=-values["A_minus"] * scale, w_min=values["w_min"], w_max=w_max,
                    weight_dependence="additive" if additive else "multiplicative")
    raise errors.NoModelAvailableError(f"neurosim.pynn does not provide the synapse type {type(synapse_type).__name__}")


# ---- current sources --------------------------------------------------------------------------
class _CurrentSource:
    """A current (nA) into neurons, as a function of the step. Piecewise-constant sources cut the
    run where they switch; streaming ones (ACSource, NoisyCurrentSource) set it every step."""

    streaming = False

    def __init__(self, **parameters):
        object.__setattr__(self, "_native", {})
        object.__setattr__(self, "_targets", [])  # (population, local indices)
        parameter_space = ParameterSpace(self.default_parameters, self.get_schema(), shape=(1,))
        parameter_space.update(**parameters)
        self.set_native_parameters(self.translate(parameter_space))
        simulator.state.current_sources.append(self)

    def inject_into(self, cells):
        """Inject this current into ``cells`` (a Population, PopulationView, Assembly or IDs)."""
        by_parent = {}
        for cell in cells:
            if not cell.celltype.injectable:
                raise TypeError("Can't inject current into a spike source.")
            by_parent.setdefault(id(cell.parent), (cell.parent, []))[1].append(cell.parent.id_to_index(cell))
        for parent, indices in by_parent.values():
            self._targets.append((parent, np.asarray(indices, dtype=np.int64)))

    def record(self):
        """Keep the current for ``get_data`` (it is known from the parameters at any time)."""

    def _get_data(self):
        """(times, amplitudes): the current acting at every step from 0 to now, ms and nA."""
        steps = np.arange(simulator.state.step + 1)
        return steps * simulator.state.dt, self._amplitudes(steps, simulator.state.dt)

    def get_native_parameters(self):
        return ParameterSpace(dict(self._native))

    def set_native_parameters(self, parameters):
        parameters.evaluate(simplify=True)
        for key, value in parameters.items():
            self._native[key] = np.asarray(value.value if isinstance(value, Sequence) else value, dtype=np.float64)
        self._check()

    def _check(self):
        pass

    def _window(self, dt: float) -> tuple[int, int]:
        return int(np.rint(self._native["start"] / dt)), int(np.rint(self._native["stop"] / dt))

    def _switch_steps(self, dt: float) -> np.ndarray:
        return np.rint(self._times() / dt).astype(np.int64)

    def _amplitudes(self, steps: np.ndarray, dt: float) -> np.ndarray:
        """The current (nA) acting during each of ``steps``."""
        k = np.searchsorted(self._switch_steps(dt), steps, side="right") - 1
        return np.where(k < 0, 0.0, self._levels()[np.maximum(k, 0)])


class DCSource(_CurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__
    translations = _identity(electrodes.DCSource)

    def _times(self):
        return np.array([float(self._native["start"]), float(self._native["stop"])])

    def _levels(self):
        return np.array([float(self._native["amplitude"]), 0.0])


class StepCurrentSource(_CurrentSource, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__
    translations = _identity(electrodes.StepCurrentSource)

    def _check(self):
        times, amplitudes = self._native.get("times"), self._native.get("amplitudes")
        if times is None or amplitudes is None:
            return
        times, amplitudes = np.atleast_1d(times), np.atleast_1d(amplitudes)
        if times.shape != amplitudes.shape:
            raise ValueError("StepCurrentSource: times and amplitudes must have the same length")
        if np.any(times < 0):
            raise ValueError("Step current cannot accept negative timestamps.")
        if np.any(np.diff(times) <= 0):
            raise ValueError("Step current timestamps should be monotonically increasing.")
        # Times fall on steps: of several that round to one step, the last amplitude holds (as
        # pyNN.brian2 does); the stored parameters show the times as they act.
        dt = simulator.state.dt
        steps = np.rint(times / dt).astype(np.int64)
        keep = np.append(steps[1:] != steps[:-1], True)
        self._native["times"], self._native["amplitudes"] = steps[keep] * dt, amplitudes[keep]

    def _times(self):
        return np.atleast_1d(self._native["times"])

    def _levels(self):
        return np.atleast_1d(self._native["amplitudes"])


class ACSource(_CurrentSource, electrodes.ACSource):
    __doc__ = electrodes.ACSource.__doc__
    translations = _identity(electrodes.ACSource)
    streaming = True

    def _switch_steps(self, dt: float) -> np.ndarray:
        return np.array(self._window(dt), dtype=np.int64)

    def _amplitudes(self, steps, dt):
        first, last = self._window(dt)
        p = {k: float(v) for k, v in self._native.items()}
        phase = 2 * np.pi * (np.asarray(steps) * dt - p["start"]) * 1e-3 * p["frequency"] + 2 * np.pi * p["phase"] / 360
        return np.where((steps >= first) & (steps < last), p["offset"] + p["amplitude"] * np.sin(phase), 0.0)


class NoisyCurrentSource(_CurrentSource, electrodes.NoisyCurrentSource):
    __doc__ = electrodes.NoisyCurrentSource.__doc__
    translations = _identity(electrodes.NoisyCurrentSource)
    streaming = True

    def _switch_steps(self, dt: float) -> np.ndarray:
        return np.array(self._window(dt), dtype=np.int64)

    def _amplitudes(self, steps, dt):
        """Mean + stdev x a standard normal draw, a new draw every ``dt`` of the source (the
        draws are kept, so a step's current is the same whenever it is asked for)."""
        first, last = self._window(dt)
        every = max(1, int(np.rint(float(self._native["dt"]) / dt)))
        steps = np.asarray(steps)
        inside = (steps >= first) & (steps < last)
        interval = np.where(inside, (steps - first) // every, 0)
        draws = self.__dict__.setdefault("_draws", np.zeros(0))
        if interval.size and interval.max() >= draws.size:
            more = simulator.state.rng.standard_normal(int(interval.max()) + 1 - draws.size)
            draws = np.concatenate([draws, more])
            object.__setattr__(self, "_draws", draws)
        values = float(self._native["mean"]) + float(self._native["stdev"]) * draws[interval]
        return np.where(inside, values, 0.0)
