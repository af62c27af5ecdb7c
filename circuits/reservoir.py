"""Izhikevich reservoirs with online readouts that learn while the network runs.

::

    import neurosim as ns
    from neurosim.circuits import IzhikevichReservoir
    from neurosim.plasticity import FORCE

    res = IzhikevichReservoir.nicola_clopath(n=2000, seed=0)          # Nicola & Clopath (2017)
    force = FORCE(res.n, 1, regularization=0.5)
    t = np.arange(res.steps(5000.0)) * res.dt
    target = np.sin(2 * np.pi * 5e-3 * t)[:, None]                   # 5 Hz, t in ms
    out = res.run(5000.0, readout=force, target=target, learn=True, feedback=True, learn_every=20)
    test = res.run(1000.0, readout=force, feedback=True)             # learning off

The reservoir is a :class:`neurosim.Network` run by the event-driven engine; the readout
sees the neurons' spike trains through a synaptic filter (:class:`SynapticFilter`: the
post-synaptic currents a downstream neuron would receive, not raw spikes) and is updated by
a run hook every ``every`` steps, inside the run. External inputs and the readout's feedback
enter as currents through fixed random encoders, held between hook calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import neurosim as ns
from neurosim.memory import check_memory
from neurosim.validation import as_real_array, as_rng, check_flag, check_int, check_number, host_values

from .synaptic_filter import SynapticFilter


@dataclass
class ReservoirRun:
    """What a reservoir run produced, sampled at the readout's times.

    Attributes
    ----------
    times : ``[n_samples]`` ms, the time after each sampled step.
    outputs : ``[n_samples, n_outputs]`` readout outputs (before that sample's update), or None.
    targets : ``[n_samples, n_outputs]`` the targets used, or None.
    states : ``[n_samples, n]`` float32 filtered spike trains, when ``record_states=True``.
    result : the engine's :class:`neurosim.RunResult` (spikes, counts, wall time).
    """

    times: np.ndarray
    outputs: np.ndarray | None
    targets: np.ndarray | None
    states: np.ndarray | None
    result: ns.RunResult | None


class IzhikevichReservoir:
    """A heterogeneous excitatory/inhibitory Izhikevich network with sparse recurrent weights
    (Dale's law), filtered outputs and input/feedback encoders.

    Parameters
    ----------
    n : number of neurons (>= 2); ``exc_fraction`` of them excitatory.
    dt : time step, ms.
    connectivity : probability of each recurrent synapse.
    w_exc, w_inh : largest excitatory weight and most negative inhibitory weight (2003-model
        current units); weights are uniform in ``[0, w_exc]`` and ``[-w_inh, 0]``.
    tau_exc, tau_inh : decay of the recurrent synaptic currents, ms.
    heterogeneity : the 2003 recipe's mix of neuron types (0: all regular / fast spiking;
        1: regular spiking to chattering, fast spiking to low-threshold).
    noise_std : background noise current, per step (Izhikevich 2003: 5 at dt = 1 ms).
    bias : constant current into every neuron.
    tau_rise, tau_decay : the readout's synaptic filter, ms.
    n_inputs : input channels; each drives ``input_fraction`` of the excitatory neurons with
        weights uniform in ``[0, input_weight]``.
    n_feedback : readout outputs fed back; encoders uniform in ``[-feedback_weight, feedback_weight]``.
    seed : int or Generator.
    """

    def __init__(self, n: int = 1000, *, dt: float = 1.0, exc_fraction: float = 0.8, connectivity: float = 0.1,
                 w_exc: float = 1.0, w_inh: float = 2.0, tau_exc: float = 5.0, tau_inh: float = 10.0,
                 heterogeneity: float = 1.0, noise_std: float = 2.0, bias: float = 0.0,
                 tau_rise: float = 2.0, tau_decay: float = 20.0, n_inputs: int = 0, input_weight: float = 10.0,
                 input_fraction: float = 0.2, n_feedback: int = 0, feedback_weight: float = 1.0, seed=None):
        n = check_int("n", n, minimum=2)
        frac = check_number("exc_fraction", exc_fraction, nonnegative=True)
        if not 0 < frac < 1:
            raise ValueError(f"exc_fraction must be in (0, 1), got {exc_fraction}")
        p = check_number("connectivity", connectivity, positive=True)
        if p > 1:
            raise ValueError(f"connectivity must be in (0, 1], got {connectivity}")
        rng = as_rng(seed)
        net = ns.Network(dt=dt, seed=rng)
        n_exc = max(1, min(n - 1, int(round(frac * n))))
        kw = dict(tau_exc=check_number("tau_exc", tau_exc, positive=True), tau_inh=check_number("tau_inh", tau_inh, positive=True))
        exc = net.population("exc", ns.Izhikevich.regular_spiking(n_exc, heterogeneity=heterogeneity, **kw))
        inh = net.population("inh", ns.Izhikevich.fast_spiking(n - n_exc, heterogeneity=heterogeneity, **kw))
        rule = ns.connect.random(p)
        net.connect(exc, [exc, inh], rule, weight=ns.Uniform(0.0, check_number("w_exc", w_exc, nonnegative=True)),
                    receptor="exc")
        net.connect(inh, [exc, inh], rule, weight=ns.Uniform(-check_number("w_inh", w_inh, nonnegative=True), 0.0),
                    receptor="inh")
        noise_std, bias = check_number("noise_std", noise_std, nonnegative=True), check_number("bias", bias)
        if noise_std > 0 or bias != 0:
            net.add_current([exc, inh], ns.NoiseCurrent(std=noise_std, mean=bias))
        n_inputs = check_int("n_inputs", n_inputs, minimum=0)
        n_feedback = check_int("n_feedback", n_feedback, minimum=0)
        check_memory(f"IzhikevichReservoir({n}): input and feedback encoders [{n}, {n_inputs} + {n_feedback}]",
                     8.0 * n * (n_inputs + n_feedback), "use fewer neurons, inputs or feedback outputs")
        encoders = np.zeros((n, n_inputs))
        share = check_number("input_fraction", input_fraction, positive=True)
        if share > 1:
            raise ValueError(f"input_fraction must be in (0, 1], got {input_fraction}")
        input_weight = check_number("input_weight", input_weight)
        for c in range(n_inputs):
            chosen = rng.choice(n_exc, size=max(1, int(round(share * n_exc))), replace=False)
            encoders[chosen, c] = rng.uniform(0.0, input_weight, chosen.size)
        fw = check_number("feedback_weight", feedback_weight, nonnegative=True)
        feedback = rng.uniform(-fw, fw, (n, n_feedback))
        self._setup(net, [exc, inh], tau_rise, tau_decay, encoders, feedback)

    @classmethod
    def nicola_clopath(cls, n: int = 2000, *, G: float = 5e3, Q: float = 5e3, connectivity: float = 0.1,
                       dt: float = 0.04, n_outputs: int = 1, tau_rise: float = 2.0, tau_decay: float = 20.0,
                       bias: float = 1000.0, seed=None) -> "IzhikevichReservoir":
        """The FORCE network of Nicola & Clopath (2017) (their IZFORCESINE.m): ``n`` Izhikevich
        neurons in capacitance form (:meth:`neurosim.Izhikevich.nicola_clopath`), static weights
        ``G * randn * (rand < p) / (p sqrt(n))`` (pA; mixed signs, no Dale's law, self-synapses
        kept) through double-exponential synapses (``tau_rise``, ``tau_decay`` ms), feedback
        encoders uniform in ``[-Q, Q]`` (pA), ``bias`` pA into every neuron.

        The double-exponential current is built exactly from the engine's two exponential
        currents: each synapse adds ``w / (tau_d - tau_r)`` to the decay-``tau_d`` current and
        ``-w / (tau_d - tau_r)`` to the decay-``tau_r`` one. All currents are divided by C = 250 pF.
        """
        n = check_int("n", n, minimum=2)
        p = check_number("connectivity", connectivity, positive=True)
        tau_rise = check_number("tau_rise", tau_rise, positive=True)
        tau_decay = check_number("tau_decay", tau_decay, positive=True)
        if tau_rise >= tau_decay:
            raise ValueError(f"tau_rise must be < tau_decay, got {tau_rise} and {tau_decay} ms")
        if p > 1:
            raise ValueError(f"connectivity must be in (0, 1], got {connectivity}")
        G, Q = check_number("G", G), check_number("Q", Q, nonnegative=True)
        n_outputs = check_int("n_outputs", n_outputs, minimum=1)
        # the dense weight matrix is drawn whole: normals, uniforms, the product and its two signs
        check_memory(f"IzhikevichReservoir.nicola_clopath({n}): dense {n} x {n} weights", 40.0 * n * n,
                     "use fewer neurons")
        rng = as_rng(seed)
        C = 250.0
        net = ns.Network(dt=dt, seed=rng)
        pop = net.population("reservoir", ns.Izhikevich.nicola_clopath(n, tau_exc=tau_decay, tau_inh=tau_rise))
        omega = G * rng.standard_normal((n, n)) * (rng.random((n, n)) < p) / (p * np.sqrt(n))
        # engine convention: matrix [source, target]; their OMEGA is [target, source]
        w = omega.T / C / (tau_decay - tau_rise)
        net.connect(pop, pop, ns.connect.from_matrix(w), receptor="exc", allow_self=True)
        net.connect(pop, pop, ns.connect.from_matrix(-w), receptor="inh", allow_self=True)
        net.add_current(pop, ns.ConstantCurrent(check_number("bias", bias) / C))
        feedback = rng.uniform(-Q, Q, (n, n_outputs)) / C
        res = cls.__new__(cls)
        res._setup(net, [pop], tau_rise, tau_decay, np.zeros((n, 0)), feedback)
        return res

    def _setup(self, net, populations, tau_rise, tau_decay, input_encoders, feedback_encoders):
        self.network, self.populations = net, list(populations)
        self.dt = net.dt
        self.sizes = [len(p) for p in self.populations]
        self.n = int(sum(self.sizes))
        self.filter = SynapticFilter(self.n, net.dt, tau_rise, tau_decay)
        self.input_encoders = np.asarray(input_encoders, dtype=np.float64)
        self.feedback_encoders = np.asarray(feedback_encoders, dtype=np.float64)

    @property
    def n_inputs(self) -> int:
        return self.input_encoders.shape[1]

    def steps(self, duration: float) -> int:
        """Number of time steps in ``duration`` ms."""
        return int(round(check_number("duration", duration, nonnegative=True) / self.dt))

    @property
    def state(self) -> np.ndarray:
        """The current filtered spike trains ``[n]`` (1/ms), in population order."""
        return self.filter.value

    def run(self, duration: float, *, readout=None, target=None, learn=False, gate=None, inputs=None,
            feedback: bool = False, every: int = 1, learn_every: int | None = None, record_states: bool = False,
            backend: str = "numba", progress: bool | None = None) -> ReservoirRun:
        """Run ``duration`` ms; every ``every`` steps, read the filtered state, compute the
        readout's output, update the readout (when learning), and set the input and feedback
        currents for the next ``every`` steps.

        Parameters
        ----------
        readout : a :class:`neurosim.plasticity.Readout` with ``n_inputs == self.n``, or None.
        target : ``[n_steps, n_outputs]`` (one row per step of this run; the row of the last
            step before a sample is used) or a function ``f(t_ms) -> [n_outputs]``.
        learn : update the readout: a bool, a ``[n_steps]`` bool array or a function ``f(t_ms) -> bool``.
        gate : attention gate for :class:`~neurosim.plasticity.ThreeFactorHebbian`: a scalar,
            ``[n_steps, n_outputs]`` or a function ``f(t_ms)``.
        inputs : ``[n_steps, n_inputs]`` or ``f(t_ms) -> [n_inputs]``: input currents through the
            input encoders (the row of each call's next step, held until the next call).
        feedback : feed the readout's output back through the feedback encoders.
        every : steps between readout calls (the hook interval; input and feedback are held).
        learn_every : steps between readout updates, a multiple of ``every`` (default: ``every``;
            Nicola & Clopath: RLS every 20 steps, output and feedback every step).
        record_states : keep the filtered state at every call (``ReservoirRun.states``).
        """
        n_steps = self.steps(duration)
        feedback, record_states = check_flag("feedback", feedback), check_flag("record_states", record_states)
        progress = check_flag("progress", progress, none_ok=True)
        every = check_int("every", every, minimum=1)
        learn_every = every if learn_every is None else check_int("learn_every", learn_every, minimum=1)
        if learn_every % every:
            raise ValueError(f"learn_every ({learn_every} steps) must be a multiple of every ({every} steps)")
        n_out = None
        if readout is not None:
            from neurosim.plasticity import Readout

            if not isinstance(readout, Readout):
                raise TypeError(f"readout must be a neurosim.plasticity.Readout, got {type(readout).__name__}")
            if readout.n_inputs != self.n:
                raise ValueError(f"readout.n_inputs ({readout.n_inputs}) must equal the reservoir size n = {self.n}")
            n_out = readout.n_outputs
        if feedback:
            if readout is None:
                raise ValueError("feedback=True needs a readout whose output is fed back")
            if self.feedback_encoders.shape[1] != n_out:
                raise ValueError(f"the readout has {n_out} outputs but the reservoir has {self.feedback_encoders.shape[1]} "
                                 "feedback encoders (n_feedback / n_outputs)")
        target = _signal("target", target, n_steps, n_out, self.dt)
        if target is not None and readout is None:
            raise ValueError("target needs a readout")
        gate = _signal("gate", gate, n_steps, n_out, self.dt, scalar_ok=True)
        if gate is not None and not hasattr(readout, "reset_eligibility"):
            raise ValueError(f"gate is a third factor of ThreeFactorHebbian; {type(readout).__name__} takes none")
        inputs = _signal("inputs", inputs, n_steps, self.n_inputs, self.dt)
        learn = _learn_schedule(learn, n_steps, self.dt)
        if learn is not False and target is None and gate is None:
            raise ValueError("learn needs a target (the error is target - output)")
        if record_states:
            check_memory(f"record_states: {n_steps // every} samples of {self.n} neurons (float32)",
                         8.0 * (n_steps // every) * self.n, "record less often (a larger every) or a shorter run")
        hook = _ReadoutHook(self, readout, target, learn, gate, inputs, feedback, every, learn_every, record_states,
                            n_steps)
        try:
            result = self.network.run(duration, backend=backend, progress=progress, hooks=hook)
        except BaseException as err:
            err.reservoir_run = hook.collect(self.network.last_result)  # what was sampled before the failure
            raise
        return hook.collect(result)


def _signal(name, value, n_steps, width, dt, scalar_ok=False):
    """A per-step signal: None, a function of t (ms), a scalar (if allowed) or a [n_steps, width] array."""
    if value is None:
        return None
    if callable(value):
        return _Function(name, value, width, scalar_ok)
    arr = as_real_array(name, host_values(name, value))
    if scalar_ok and arr.ndim == 0:
        if not np.isfinite(arr):
            raise ValueError(f"{name} must be finite, got {float(arr)}")
        return arr
    if width is None:
        raise ValueError(f"{name} needs a readout with outputs")
    if arr.ndim == 1 and width == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{name} must have shape [n_steps, {width}], got {arr.shape}")
    if arr.shape[0] < n_steps:
        raise ValueError(f"{name} is shorter than the run: {arr.shape[0]} rows for {n_steps} steps "
                         f"({n_steps * dt:g} ms at dt = {dt:g} ms)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


class _Function:
    """A signal given as a function of t (ms): each value checked when it is read, so that a wrong
    shape or a NaN names the signal (and not a reshape deep in the run hook)."""

    def __init__(self, name, fn, width, scalar_ok):
        self.name, self.fn, self.width, self.scalar_ok = name, fn, width, scalar_ok

    def __call__(self, t):
        value = as_real_array(f"{self.name}({t:g})", self.fn(t))
        if not (self.scalar_ok and value.ndim == 0) and (self.width is None or value.size != self.width):
            raise ValueError(f"{self.name}(t) must return {self.width} values, got shape {value.shape} at t = {t:g} ms")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{self.name}(t) must be finite, got NaN or inf at t = {t:g} ms")
        return value if value.ndim == 0 else value.reshape(self.width)


def _learn_schedule(learn, n_steps, dt):
    if learn is True or learn is False or callable(learn):
        return learn
    arr = np.asarray(learn)
    if arr.dtype != bool or arr.ndim != 1:
        raise TypeError("learn must be a bool, a [n_steps] bool array or a function of t (ms)")
    if arr.size < n_steps:
        raise ValueError(f"learn is shorter than the run: {arr.size} entries for {n_steps} steps")
    return arr


def _at(signal, row, t):
    """Value of a signal at a run row / time (ms since the run started)."""
    if signal is None:
        return None
    if callable(signal):
        return signal(t)
    return signal if signal.ndim == 0 else signal[row]


class _ReadoutHook(ns.Hook):
    """The run hook behind ``IzhikevichReservoir.run``."""

    def __init__(self, res, readout, target, learn, gate, inputs, feedback, every, learn_every, record_states, n_steps):
        super().__init__(every, res.populations)
        self.res, self.readout, self.target, self.learn, self.gate = res, readout, target, learn, gate
        self.inputs, self.feedback, self.learn_every, self.record_states = inputs, feedback, learn_every, record_states
        self.n_steps = n_steps
        self.times, self.outputs, self.targets, self.states = [], [], [], []
        self.z = np.zeros(0 if readout is None else readout.n_outputs)

    def start(self, ctx):
        self.step0 = ctx.step
        self._set_currents(ctx, 0)

    def __call__(self, ctx):
        res = self.res
        done = ctx.step - self.step0  # steps of this run simulated so far
        row, t = done - 1, (done - 1) * res.dt  # the last simulated step, relative to the run
        steps, ids = [], []
        offset = 0
        for p, size in zip(res.populations, res.sizes):
            s, i = ctx.spikes(p)
            steps.append(s)
            ids.append(i + offset)
            offset += size
        r = res.filter.advance(ctx.n_steps, np.concatenate(steps), np.concatenate(ids), ctx.step - 1)
        self.times.append(ctx.t)
        if self.record_states:
            self.states.append(r.astype(np.float32))
        if self.readout is not None:
            self.z = self.readout.predict(r)
            self.outputs.append(self.z)
            y = _at(self.target, row, t)
            if y is not None:
                self.targets.append(np.asarray(y, dtype=np.float64).reshape(self.z.shape))
            if done % self.learn_every == 0 and self._learning(row, t):
                kw = {}
                if self.gate is not None:
                    kw = {"gate": _at(self.gate, row, t), "dt": self.learn_every * res.dt}
                elif hasattr(self.readout, "reset_eligibility"):
                    kw = {"dt": self.learn_every * res.dt}
                self.readout.partial_fit(r, y, **kw)
        if done < self.n_steps:
            self._set_currents(ctx, done)

    def _learning(self, row, t):
        if self.learn is True or self.learn is False:
            return self.learn
        return bool(self.learn(t)) if callable(self.learn) else bool(self.learn[row])

    def _set_currents(self, ctx, row):
        res = self.res
        current = np.zeros(res.n)
        u = _at(self.inputs, row, row * res.dt)
        if u is not None:
            current += res.input_encoders @ np.asarray(u, dtype=np.float64).reshape(res.n_inputs)
        if self.feedback:
            current += res.feedback_encoders @ self.z
        offset = 0
        for p, size in zip(res.populations, res.sizes):
            ctx.set_current(p, current[offset : offset + size])
            offset += size

    def collect(self, result) -> ReservoirRun:
        n_out = 0 if self.readout is None else self.readout.n_outputs
        stack = lambda xs, w: np.array(xs, dtype=np.float64).reshape(len(xs), w) if xs else None  # noqa: E731
        return ReservoirRun(times=np.array(self.times), outputs=stack(self.outputs, n_out),
                            targets=stack(self.targets, n_out),
                            states=np.array(self.states, dtype=np.float32) if self.states else None, result=result)
