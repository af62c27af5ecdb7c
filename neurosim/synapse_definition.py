"""Synapse models written once: a :class:`SynapseModel` definition drives every backend.

A synapse definition says what one synapse *is*: its parameters, its own state variables (the
weight, traces, the u and x of short-term plasticity, ...), what happens when a presynaptic
spike arrives (``on_pre``), what happens when the postsynaptic neuron spikes (``on_post``) and,
optionally, what happens to every synapse at a fixed period (``periodic``). It uses the neuron
models' language (:mod:`neurosim.definition`); the numpy reference engine, the Numba engine and
the Triton engine all run it, with the same results.

::

    import neurosim as ns

    Hebb = ns.SynapseModel(
        "hebb",
        parameters={"tau": ns.Parameter(20.0, "ms", positive=True), "eta": 0.001, "w_max": 1.0},
        state={"w": None, "trace": 0.0},
        on_pre='''
            release = w
            trace = trace * exp(-elapsed / tau) + 1
        ''',
        on_post="w = clip(w + eta * trace, 0, w_max)")
    net.connect(inputs, neurons, ns.connect.all_to_all(), weight=0.5, synapse=Hebb(eta=0.002))

Semantics (every backend)
-------------------------
* A presynaptic spike emitted at step ``t`` through a synapse of delay ``d`` steps *arrives* at
  step ``t + d - 1``, after that step's neuron update (Brian2's ``on_pre`` with its delay
  ``(d - 1) dt``): ``on_pre`` runs then, and the value it assigns to ``release`` is added to
  the target's receptor variable (``receptor`` of ``connect``: ``i_exc``, ``g_e``, ...), so
  the target's update at step ``t + d`` sees it -- the timing of static synapses.
* ``on_post`` runs on every incoming synapse of a neuron that spiked at step ``t``, after the
  arrivals of step ``t`` (Brian2's order: the pre pathway, then the post pathway).
* ``elapsed`` is the time (ms) since the synapse's previous event (arrival or postsynaptic
  spike; the run's step 0 before the first): event-driven decays are written with it, e.g.
  ``apre = apre * exp(-elapsed / tau_pre)`` (what Brian2's ``(event-driven)`` equations do).
* ``periodic = (every, statements)`` runs the statements on every synapse after each step
  that ends at a multiple of ``every`` ms (the Izhikevich 2006 rule's once-per-second update).
* Names a rule may read: its parameters and state variables, ``elapsed`` and ``dt`` (ms), and
  the target neuron's state variables as ``<name>_post`` (read-only; ``v_post``; a rule's own
  parameter or state variable of such a name, ``tau_post``, is the rule's own), as it is after
  the step's update and reset (Brian2 reads it before the reset). ``release``
  is a temporary that ``on_pre`` must assign.
* A synapse whose state becomes NaN/inf stops the run with an error naming the projection
  and step.
"""

from __future__ import annotations

import ast
import math

import numpy as np

from .definition import FUNCTIONS, ModelDefinitionError, State, _as_parameter, _as_state, _Language, _mapping
from .units import parse_unit

#: Names every synapse rule can read besides its own.
SYNAPSE_SYMBOLS = ("dt", "elapsed")
#: The temporary of ``on_pre`` whose value is added to the target's receptor variable.
RELEASE = "release"
#: Suffix of a postsynaptic neuron variable read by a rule (``v_post``).
POST_SUFFIX = "_post"


class SynapseModel(_Language):
    """A synapse model definition (see the module docstring for the semantics).

    Parameters
    ----------
    name : the model's name (used in messages and generated code).
    parameters : name -> :class:`neurosim.Parameter`, a default number, or ``(default, unit)``;
        per synapse, a scalar, an array (one value per synapse, in the projection's synapse
        order) or a distribution when the synapse is made (``Model(**values)``).
    state : per-synapse state variables: name -> :class:`neurosim.State`, an initial value
        (number or expression of parameters) or ``(init, unit)``. The ``weight`` variable takes
        its initial value from ``connect(weight=...)``.
    on_pre : statements run when a presynaptic spike arrives; must assign ``release``.
    on_post : statements run when the postsynaptic neuron spikes (may be empty).
    periodic : ``(every_ms, statements)`` run on every synapse every ``every_ms``, or None.
    weight : the state variable that is the synapse's weight (``projection.weights``; default "w").
    doc : description.

    Calling the definition makes the synapse of a projection: ``STDP(tau_pre=10.0)``.
    """

    _label = "synapse model"

    def __init__(self, name: str, *, parameters: dict, state: dict, on_pre: str, on_post: str = "",
                 periodic: tuple | None = None, weight: str = "w", doc: str = ""):
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelDefinitionError(f"SynapseModel name must be a Python identifier, got {name!r}")
        self.name, self.doc = name, doc
        self.parameters = {k: _as_parameter(self._where(f"parameter {k!r}"), v)
                           for k, v in _mapping(name, "parameters", parameters).items()}
        self.state = {k: _as_state(self._where(f"state variable {k!r}"), v)
                      for k, v in _mapping(name, "state", state).items()}
        self._check_names()
        if weight not in self.state:
            raise ModelDefinitionError(f"{self._where('weight')}: {weight!r} is not a state variable "
                                       f"(state: {', '.join(self.state) or 'none'})")
        if any(p.integer for p in self.parameters.values()):
            raise ModelDefinitionError(f"{self._where('parameters')}: synapse parameters are float64 per synapse; "
                                       "integer parameters are for neuron models' loops")
        self.weight = weight
        self.units = {"dt": (1, 0, 0), "elapsed": (1, 0, 0)}
        for kind, items in (("parameter", self.parameters), ("state variable", self.state)):
            for k, spec in items.items():
                if spec.unit is not None:
                    self.units[k] = parse_unit(spec.unit, self._where(f"{kind} {k!r}"))
        self.init = {k: self._init(k, s) for k, s in self.state.items()}
        self.post_reads: tuple[str, ...] = ()  # target variables read, filled while parsing
        self.on_pre = self._statements("on_pre", on_pre, allow_loops=False)
        if RELEASE not in {s.target for s in self.on_pre}:
            raise ModelDefinitionError(f"{self._where('on_pre')}: must assign {RELEASE!r}, the amount added to the "
                                       "target's receptor variable (e.g. 'release = w')")
        self.on_post = self._statements("on_post", on_post, allow_loops=False)
        if RELEASE in {s.target for s in self.on_post}:
            raise ModelDefinitionError(f"{self._where('on_post')}: {RELEASE!r} is delivered by on_pre only")
        self.period_ms, self.periodic = None, ()
        if periodic is not None:
            if not (isinstance(periodic, tuple) and len(periodic) == 2):
                raise ModelDefinitionError(f"{self._where('periodic')}: give (every_ms, statements), got {periodic!r}")
            every, text = periodic
            if isinstance(every, bool) or not isinstance(every, (int, float)) or not math.isfinite(every) or every <= 0:
                raise ModelDefinitionError(f"{self._where('periodic')}: the period must be a number of ms > 0, got {every!r}")
            self.period_ms = float(every)
            self._in_periodic = True
            self.periodic = self._statements("periodic", text, allow_loops=False)
            self._in_periodic = False
            if RELEASE in {s.target for s in self.periodic}:
                raise ModelDefinitionError(f"{self._where('periodic')}: {RELEASE!r} is delivered by on_pre only")
        self._check_units()
        self.elapsed_terms = _elapsed_terms([*self.on_pre, *self.on_post], set(self.parameters))

    # ---- what backends read ----
    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(self.state)

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Per-synapse parameters the rule reads (all of them, in definition order)."""
        return tuple(self.parameters)

    @property
    def reads_post(self) -> tuple[str, ...]:
        """Target neuron variables the rule reads (without the ``_post`` suffix)."""
        return tuple(name[: -len(POST_SUFFIX)] for name in self.post_reads)

    def __call__(self, **values) -> "Synapse":
        """The synapse of a projection with these parameter values (others default)."""
        return Synapse(self, values)

    def __repr__(self) -> str:
        return f"SynapseModel({self.name!r}, state={list(self.state)}, parameters={list(self.parameters)})"

    # ---- values at connect time ----
    def resolve(self, values: dict, n: int, rng, where: str) -> dict[str, np.ndarray]:
        """Per-synapse float64 arrays of every parameter (distributions drawn, checks applied)."""
        from .random import draw

        out = {}
        for k, spec in self.parameters.items():
            value = values.get(k, spec.default)
            if value is None:
                raise TypeError(f"{where}: parameter {k!r} of synapse model {self.name!r} has no default; give it, "
                                f"e.g. {self.name}({k}=...)")
            name = f"{where}: {self.name}.{k}"
            out[k] = draw(name, value, n, rng, positive=spec.positive, nonnegative=spec.nonnegative)
            if spec.maximum is not None and np.any(out[k] > spec.maximum):
                low = "0 < " if spec.positive else ""
                raise ValueError(f"{name} must be {low}<= {spec.maximum}, got maximum {out[k].max():g}")
        return out

    def initial_state(self, parameters: dict, n: int) -> dict[str, np.ndarray]:
        """Per-synapse initial values of the state variables other than the weight."""
        from neurosim.kernels.codegen.interpret import evaluate

        out = {}
        with np.errstate(all="ignore"):
            for k, expr in self.init.items():
                if expr is None:
                    continue
                out[k] = np.broadcast_to(np.asarray(evaluate(expr, parameters, np), dtype=np.float64), (n,)).copy()
                if not np.all(np.isfinite(out[k])):
                    raise ValueError(f"synapse model {self.name!r}: the initial value of {k!r} is not finite for "
                                     "these parameters")
        return out

    # ---- parsing ----
    def _check_names(self) -> None:
        seen = {}
        for kind, names in (("parameter", self.parameters), ("state variable", self.state)):
            for k in names:
                if not isinstance(k, str) or not k.isidentifier() or k.startswith("_"):
                    raise ModelDefinitionError(f"{self._where(kind)} names must be identifiers not starting with '_', got {k!r}")
                if k in SYNAPSE_SYMBOLS or k in FUNCTIONS or k == RELEASE:
                    raise ModelDefinitionError(f"{self._where(kind + ' ' + repr(k))}: the name is reserved "
                                               f"({RELEASE!r}, {', '.join(SYNAPSE_SYMBOLS)}, functions)")
                if k in seen:
                    raise ModelDefinitionError(f"{self._where(repr(k))}: defined both as {seen[k]} and as {kind}")
                seen[k] = kind

    def _init(self, name: str, spec: State):
        if name == self.weight and spec.init is None:
            return None  # from connect(weight=...)
        if spec.init is None:
            raise ModelDefinitionError(f"{self._where(f'state variable {name!r}')} has no initial value: give a number "
                                       "or an expression of parameters")
        if not isinstance(spec.init, str) and not math.isfinite(float(spec.init)):
            raise ModelDefinitionError(f"{self._where(f'state variable {name!r}')}: initial value {spec.init} is not finite")
        text = repr(float(spec.init)) if not isinstance(spec.init, str) else spec.init
        return self._expression(f"initial value of {name!r}", text, set(self.parameters))

    def _read_only_names(self) -> set:
        return set(SYNAPSE_SYMBOLS) | set(FUNCTIONS)

    def _step_scope(self, local: set) -> set:
        scope = set(self.parameters) | set(self.state) | {"dt"} | local
        return scope if getattr(self, "_in_periodic", False) else _PostScope(scope | {"elapsed"}, self)

    def _statement(self, item, node, text, local: set, allow_loops: bool):
        statement = super()._statement(item, node, text, local, allow_loops)
        if statement.target.endswith(POST_SUFFIX) and statement.target not in self.state:
            raise ModelDefinitionError(f"{self._where(item)}: cannot assign to {statement.target!r}: the target "
                                       "neuron's variables are read-only in a synapse rule")
        return statement

    def _check_units(self) -> None:
        for item, statements in (("on_pre", self.on_pre), ("on_post", self.on_post), ("periodic", self.periodic)):
            local: dict = {}
            for s in statements:
                unit = self._unit_of(f"{item} ({s.text})", s.expr, local)
                declared = self.units.get(s.target)
                if declared is not None and unit is not None and unit != declared:
                    from .units import format_dimension

                    raise ModelDefinitionError(f"{self._where(item)}: inconsistent units in {s.text!r}: the right side "
                                               f"is in {format_dimension(unit)}, {s.target} is in "
                                               f"{format_dimension(declared)}")
                if s.target not in self.state and unit is not None:
                    local[s.target] = unit


def _elapsed_terms(statements, parameters: set) -> tuple:
    """The largest subexpressions of ``statements`` that are functions of ``elapsed`` alone
    (besides parameters and ``dt``) and call a function (``exp(-elapsed / tau)``): the event-
    driven decays. A compiled engine may tabulate them over whole steps of ``elapsed`` where
    their parameters are the same for every synapse; each term once, in order of appearance."""
    allowed = parameters | {"elapsed", "dt"}
    found: dict[str, ast.expr] = {}

    def visit(node):
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not _is_function(node, n)}
        calls = any(isinstance(n, ast.Call) for n in ast.walk(node))
        if "elapsed" in names and names <= allowed and calls:
            found.setdefault(ast.dump(node), node)
            return
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                visit(child)

    for s in statements:
        visit(s.expr)
    return tuple(found.values())


def _is_function(root, name: ast.Name) -> bool:
    """Is ``name`` the function of a call under ``root`` (``exp`` in ``exp(x)``)?"""
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(root))


class _PostScope(set):
    """A rule's scope: its names, plus any ``<name>_post`` (a target neuron variable), which is
    recorded in the model's ``post_reads``; ``connect`` checks those against the target's model."""

    def __init__(self, names: set, model: SynapseModel):
        super().__init__(names)
        self.model = model

    def __contains__(self, name) -> bool:
        if set.__contains__(self, name):
            return True
        if isinstance(name, str) and name.endswith(POST_SUFFIX) and len(name) > len(POST_SUFFIX):
            if name not in self.model.post_reads:
                self.model.post_reads = self.model.post_reads + (name,)
            return True
        return False


class Synapse:
    """The synapse of a projection: a :class:`SynapseModel` with parameter values
    (``Model(**values)``); scalars, per-synapse arrays or distributions, resolved by ``connect``."""

    def __init__(self, definition: SynapseModel, values: dict):
        unknown = sorted(set(values) - set(definition.parameters))
        if unknown:
            raise TypeError(f"{definition.name}: unknown parameter(s) {', '.join(unknown)}; "
                            f"parameters: {', '.join(definition.parameters) or 'none'}")
        self.definition, self.values = definition, dict(values)

    def __repr__(self) -> str:
        return f"{self.definition.name}({', '.join(f'{k}={v!r:.20}' for k, v in self.values.items())})"

