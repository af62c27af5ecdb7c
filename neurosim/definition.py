"""Neuron models written once: a :class:`NeuronModel` definition drives every backend.

A definition says what a neuron *is* -- its parameters, state variables with initial values,
the math of one time step, threshold, reset, refractoriness and where synaptic input lands --
in a small, restricted subset of Python (statements and expressions as strings). neurosim turns
it into code for each target: the numpy reference engine (the specification), the Numba engine,
the Triton engine, a :mod:`neurosim.nn` layer trained by surrogate gradients, and Brian2.
Built-in models (``LIF``, ``Izhikevich``, ``AdEx``, ``CondLIF``) are definitions like any other.

::

    import neurosim as ns

    QIF = ns.NeuronModel(
        "QIF",
        parameters={"tau": ns.Parameter(10.0, "ms", positive=True), "v_r": (-65.0, "mV"), ...},
        state={"v": ("v_r", "mV"), "w": (0.0, "mV"), "g_e": (0.0, "1")},
        update='''
            dv = (k * (v - v_r) * (v - v_c) - w + g_e * (E_e - v) + i_ext) / tau
            dw = (a * (v - v_r) - w) / tau_w
            v = v + dt * dv
            w = w + dt * dw
            g_e = g_e * exp(-dt / tau_e)
        ''',
        threshold="v > v_peak", reset="v = v_r; w = w + b", inputs={"exc": "g_e"})
    pop = net.population("qif", QIF(100, tau=12.0))

The language
------------
* **update**: assignments ``x = expr`` (also ``+=``, ``-=``, ``*=``, ``/=``), run in order
  once per step of ``dt`` ms; a name assigned that is not a state variable is a temporary of
  the step. ``for _ in range(k):`` repeats its body (``k`` an integer parameter or literal:
  Euler sub-steps). No ``if``: use ``where(cond, a, b)`` or ``a if cond else b``.
* **expressions**: numbers, names, ``+ - * / **``, comparisons, ``and or not``, and the
  functions ``exp log sqrt abs tanh minimum maximum clip where``.
* **names**: parameters, ``derived`` values (expressions of parameters and ``dt``, computed
  once per neuron when the network is built), state variables, ``dt`` (ms) and ``i_ext`` (the
  external current: constant and noise currents added with ``Network.add_current``, in the
  model's own current units; 0 when there is none).
* **threshold**: a condition (``"v > v_th"``); a neuron spikes at the step where it holds after
  the update. **reset**: assignments done to the neurons that spiked (``"v = v_r; w = w + b"``).
* **refractory** (optional): a parameter or expression in ms; for that long after a spike the
  variables in ``frozen`` (default: the first state variable) keep their value and the neuron
  cannot spike (whole steps, rounded down as Brian2 does).
* **inputs**: receptor -> state variable that a spike's weight is added to (``"exc"`` and
  ``"inh"``): a current (``i_exc``), a conductance (``g_e``, entering the update as
  ``g_e * (E_e - v)``), or a one-step pulse (a current the update sets back to 0).
* **units** (optional, per parameter and state variable): ``ms mV pA nS pF kHz`` and
  products/quotients (``"nS/mV"``, ``"mV/ms"``); the coherent system needs no scale factors
  (nS x mV = pA, pA / pF = mV/ms). Where both sides of a sum, comparison or assignment have
  declared units they must agree; numbers are unit-free.

Errors in a definition name the model and the item (``model 'QIF', update line 2: ...``).
"""

from __future__ import annotations

import ast
import difflib
import math
import textwrap
import warnings
from dataclasses import dataclass
from typing import Union

import numpy as np

from neurosim.kernels.codegen.ir import Assign, Repeat, assigned as _assigned, names_in as _names_in

from .units import DIMENSIONLESS, format_dimension, multiply, parse_unit

#: Functions an update, threshold, reset or derived expression may call.
FUNCTIONS = ("exp", "log", "sqrt", "abs", "tanh", "minimum", "maximum", "clip", "where")
#: Names every model can read besides its own.
BUILTIN_SYMBOLS = ("dt", "i_ext")
#: Receptors a projection can target (``Network.connect(receptor=...)``).
RECEPTORS = ("exc", "inh")

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
_AUG = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class ModelDefinitionError(ValueError):
    """A neuron model definition that cannot be run; the message names the model and the item."""


@dataclass(frozen=True)
class Parameter:
    """A model parameter: default value (None: must be given), unit, checks.

    ``integer=True`` makes a per-population integer (e.g. Euler sub-steps, for ``range``);
    other parameters are float64 per neuron: a scalar, an array or a distribution.
    """

    default: float | None = None
    unit: str | None = None
    positive: bool = False
    nonnegative: bool = False
    integer: bool = False
    doc: str = ""
    maximum: float | None = None  # largest allowed value (checked for synapse parameters)


@dataclass(frozen=True)
class State:
    """A state variable: initial value (a number or an expression of parameters) and unit."""

    init: Union[float, str, None] = None
    unit: str | None = None
    doc: str = ""


class _Language:
    """What neuron and synapse definitions share: parsing and checking statements and
    expressions of the model language, and their units. A subclass sets ``name``,
    ``parameters``, ``state`` and ``units`` and says which names a step may read
    (``_step_scope``) and which it may not assign (``_read_only_names``)."""

    _label = "model"

    @property
    def float_parameters(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.parameters.items() if not p.integer)

    @property
    def integer_parameters(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.parameters.items() if p.integer)

    def _read_only_names(self) -> set:
        return set(BUILTIN_SYMBOLS) | set(FUNCTIONS)

    def _where(self, item: str) -> str:
        return f"{self._label} {self.name!r}, {item}"

    def _expression(self, item: str, text, scope: set) -> ast.expr:
        if not isinstance(text, str) or not text.strip():
            raise ModelDefinitionError(f"{self._where(item)} must be a non-empty expression string, got {text!r}")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as err:
            raise ModelDefinitionError(f"{self._where(item)}: cannot parse {text.strip()!r}: {err.msg}") from None
        _check_expression(tree.body, lambda msg: ModelDefinitionError(f"{self._where(item)}: {msg}"), scope)
        return _desugar(tree.body)

    def _statements(self, item: str, text: str, allow_loops: bool) -> tuple:
        if not isinstance(text, str):
            raise ModelDefinitionError(f"{self._where(item)} must be a string of statements, got {type(text).__name__}")
        try:
            tree = ast.parse(textwrap.dedent(text).strip() + "\n")
        except SyntaxError as err:
            raise ModelDefinitionError(f"{self._where(f'{item} line {err.lineno}')}: cannot parse: {err.msg}") from None
        local: set = set()
        return tuple(self._statement(item, node, text, local, allow_loops) for node in tree.body)

    def _statement(self, item, node, text, local: set, allow_loops: bool):
        where = f"{item} line {node.lineno}"
        fail = lambda msg: ModelDefinitionError(f"{self._where(where)}: {msg}")  # noqa: E731
        source = ast.get_source_segment(textwrap.dedent(text).strip() + "\n", node) or ""
        if isinstance(node, ast.For) and allow_loops:
            if not (isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Name)
                    and node.iter.func.id == "range" and len(node.iter.args) == 1 and not node.orelse):
                raise fail("loops must read 'for _ in range(k):' with k an integer parameter or number")
            arg = node.iter.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, int) and not isinstance(arg.value, bool) and arg.value >= 0:
                count = arg.value
            elif isinstance(arg, ast.Name) and arg.id in self.integer_parameters:
                count = arg.id
            else:
                raise fail(f"range({ast.unparse(arg)}): the count must be an integer parameter (Parameter(integer=True)) or a number")
            return Repeat(count, tuple(self._statement(item, b, text, local, allow_loops) for b in node.body))
        if isinstance(node, ast.AugAssign) and type(node.op) in _AUG and isinstance(node.target, ast.Name):
            target = node.target.id
            expr = ast.BinOp(ast.Name(target, ast.Load()), node.op, node.value)
            ast.copy_location(expr, node.value)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, expr = node.targets[0].id, node.value
        else:
            raise fail(f"only assignments 'x = expr' (and +=, -=, *=, /=){' and for-range loops' if allow_loops else ''} "
                       f"are allowed, got {source or type(node).__name__!r}")
        if target in self.parameters or target in self._read_only_names():
            raise fail(f"cannot assign to {target!r}: it is a {'parameter' if target in self.parameters else 'read-only name'}")
        if target.startswith("_"):
            raise fail(f"names starting with '_' are reserved, got {target!r}")
        _check_expression(expr, fail, self._step_scope(local))
        if target not in self.state:
            local.add(target)
        return Assign(target, _desugar(expr), source)

    def _unit_of(self, item: str, expr: ast.expr, local_units: dict | None = None):
        units = {**self.units, **(local_units or {})}
        return _dimension(expr, units, lambda msg: ModelDefinitionError(f"{self._where(item)}: {msg}"))


class NeuronModel(_Language):
    """A neuron model definition (see the module docstring for the language).

    Parameters
    ----------
    name : the model's name (used in messages and generated code).
    parameters : name -> :class:`Parameter`, a default number, or ``(default, unit)``.
    state : name -> :class:`State`, an initial value (number or expression of parameters), or
        ``(init, unit)``. Order matters: the first variable is the membrane potential (the one
        ``frozen`` while refractory by default, and the one plots show).
    update : statements run once per step (string, one statement per line or ``;``-separated).
    threshold : spike condition, checked after the update.
    reset : statements applied to the neurons that spiked.
    inputs : receptor (``"exc"``/``"inh"``) -> the state variable a spike's weight is added to.
    refractory : refractory period in ms (parameter name or expression), or None.
    frozen : state variables held while refractory (default: the first state variable).
    derived : name -> expression of parameters and ``dt``, evaluated once per neuron at build.
    current_unit : unit of ``i_ext`` (the external current), for unit checks; None: unchecked.
    doc : description shown in ``help()`` and errors.

    Calling the definition makes a population's model: ``QIF(100, tau=12.0)``.
    """

    def __init__(self, name: str, *, parameters: dict, state: dict, update: str, threshold: str,
                 reset: str = "", inputs: dict | None = None, refractory: Union[str, float, None] = None,
                 frozen: tuple | None = None, derived: dict | None = None, current_unit: str | None = None,
                 doc: str = ""):
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelDefinitionError(f"NeuronModel name must be a Python identifier, got {name!r}")
        self.name = name
        self.doc = doc
        self.parameters = {k: _as_parameter(self._where(f"parameter {k!r}"), v) for k, v in _mapping(name, "parameters", parameters).items()}
        self.state = {k: _as_state(self._where(f"state variable {k!r}"), v) for k, v in _mapping(name, "state", state).items()}
        if not self.state:
            raise ModelDefinitionError(f"model {name!r}: state needs at least one variable (the membrane potential)")
        self.derived_text = dict(_mapping(name, "derived", derived or {}))
        self.inputs = dict(_mapping(name, "inputs", inputs or {}))
        self.current_unit = current_unit
        self._check_names()
        self.frozen = tuple(frozen) if frozen is not None else (next(iter(self.state)),)
        self.refractory_text = None if refractory is None else str(refractory)
        self.update_text, self.threshold_text, self.reset_text = update, threshold, reset
        self.units = self._declared_units()
        self.derived = {k: self._expression(f"derived {k!r}", text, self._derived_scope(k))
                        for k, text in self.derived_text.items()}
        for k, expr in self.derived.items():
            self.units[k] = self._unit_of(f"derived {k!r}", expr)
        self.init = {k: self._init_expression(k, s) for k, s in self.state.items()}
        self.update = self._statements("update", update, allow_loops=True)
        self.threshold = self._expression("threshold", threshold, self._step_scope(set()))
        self.reset = self._statements("reset", reset, allow_loops=False)
        self.refractory = (None if refractory is None else
                           self._expression("refractory", self.refractory_text, set(self.parameters) | set(self.derived) | {"dt"}))
        self._check_inputs_and_frozen()
        self._check_units()
        self._warn_unreachable_threshold()

    # ---- what backends read ----
    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(self.state)

    @property
    def receptor_variables(self) -> tuple[str, ...]:
        return tuple(self.inputs.values())

    @property
    def membrane_variables(self) -> tuple[str, ...]:
        """State variables that are not receptor targets (checked for NaN/inf every step)."""
        return tuple(k for k in self.state if k not in self.inputs.values())

    def _read_only_names(self) -> set:
        return set(self.derived_text) | set(BUILTIN_SYMBOLS) | set(FUNCTIONS)

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Per-neuron values the step reads: the float parameters it uses, then derived values."""
        used = _names_in([*self.update, *self.reset], self.threshold)
        return tuple(k for k in (*self.float_parameters, *self.derived) if k in used)

    def __call__(self, n: int, **values):
        """A population's model of ``n`` neurons with these parameter values (others default)."""
        from .models import CustomModel

        return CustomModel(self, n, values)

    def __repr__(self) -> str:
        return f"NeuronModel({self.name!r}, state={list(self.state)}, parameters={list(self.parameters)})"

    # ---- evaluation in numpy (build time): derived values and initial state ----
    def evaluate_derived(self, values: dict, dt: float, n: int) -> dict[str, np.ndarray]:
        """Per-neuron float64 arrays of the derived values, given resolved parameter arrays."""
        from neurosim.kernels.codegen.interpret import evaluate

        scope = {**values, "dt": dt}
        out = {}
        with np.errstate(all="ignore"):  # where(...) evaluates both branches; results are checked
            for k, expr in self.derived.items():
                out[k] = _per_neuron(evaluate(expr, scope, np), n)
                scope[k] = out[k]
                if not np.all(np.isfinite(out[k])):
                    raise ValueError(f"model {self.name!r}: derived value {k!r} = {self.derived_text[k]} is not finite "
                                     f"for dt = {dt} ms and these parameters")
        return out

    def evaluate_init(self, values: dict, n: int) -> dict[str, np.ndarray]:
        """Per-neuron float64 initial values of the state variables."""
        from neurosim.kernels.codegen.interpret import evaluate

        out = {}
        with np.errstate(all="ignore"):
            for k, expr in self.init.items():
                out[k] = _per_neuron(evaluate(expr, values, np), n)
                if not np.all(np.isfinite(out[k])):
                    raise ValueError(f"model {self.name!r}: the initial value of {k!r} is not finite for these parameters")
        return out

    def refractory_steps(self, values: dict, dt: float, n: int) -> np.ndarray:
        """Whole refractory steps per neuron, rounded down as Brian2 does (with its tolerance)."""
        from neurosim.kernels.codegen.interpret import evaluate

        ms = _per_neuron(evaluate(self.refractory, {**values, "dt": dt}, np), n)
        if not np.all(np.isfinite(ms)) or np.any(ms < 0):
            raise ValueError(f"model {self.name!r}: refractory = {self.refractory_text} must be finite and >= 0 ms")
        return np.floor(ms / dt + 1e-3)

    # ---- parsing and checks ----
    def _check_names(self) -> None:
        seen = {}
        for kind, names in (("parameter", self.parameters), ("state variable", self.state), ("derived value", self.derived_text)):
            for k in names:
                if not isinstance(k, str) or not k.isidentifier() or k.startswith("_"):
                    raise ModelDefinitionError(f"{self._where(kind)} names must be identifiers not starting with '_', got {k!r}")
                if k in BUILTIN_SYMBOLS or k in FUNCTIONS or k in ("range", "True", "False"):
                    raise ModelDefinitionError(f"{self._where(kind + ' ' + repr(k))}: the name is reserved")
                if k in seen:
                    raise ModelDefinitionError(f"{self._where(repr(k))}: defined both as {seen[k]} and as {kind}")
                seen[k] = kind

    def _declared_units(self) -> dict:
        units = {"dt": (1, 0, 0)}
        if self.current_unit is not None:
            units["i_ext"] = parse_unit(self.current_unit, self._where("current_unit"))
        for kind, items in (("parameter", self.parameters), ("state variable", self.state)):
            for k, spec in items.items():
                if spec.unit is not None:
                    units[k] = parse_unit(spec.unit, self._where(f"{kind} {k!r}"))
        return units

    def _derived_scope(self, name: str) -> set:
        before = list(self.derived_text)[: list(self.derived_text).index(name)]
        return set(self.parameters) | set(before) | {"dt"}

    def _step_scope(self, local: set) -> set:
        return set(self.parameters) | set(self.derived_text) | set(self.state) | set(BUILTIN_SYMBOLS) | local

    def _init_expression(self, name: str, spec: State):
        if spec.init is None:
            raise ModelDefinitionError(f"{self._where(f'state variable {name!r}')} has no initial value: give a number "
                                       "or an expression of parameters, e.g. State(init='v_rest', unit='mV')")
        text = repr(float(spec.init)) if not isinstance(spec.init, str) else spec.init
        if not isinstance(spec.init, str) and not math.isfinite(float(spec.init)):
            raise ModelDefinitionError(f"{self._where(f'state variable {name!r}')}: initial value {spec.init} is not finite")
        expr = self._expression(f"initial value of {name!r}", text, set(self.parameters))
        unit = self._unit_of(f"initial value of {name!r}", expr)
        if name in self.units and unit is not None and unit != self.units[name]:
            raise ModelDefinitionError(f"{self._where(f'initial value of {name!r}')}: {text} is in "
                                       f"{format_dimension(unit)}, but {name} is in {format_dimension(self.units[name])}")
        return expr

    def _check_inputs_and_frozen(self) -> None:
        for receptor, var in self.inputs.items():
            if receptor not in RECEPTORS:
                raise ModelDefinitionError(f"{self._where('inputs')}: receptor must be one of {RECEPTORS}, got {receptor!r}")
            if var not in self.state:
                raise ModelDefinitionError(f"{self._where(f'inputs[{receptor!r}]')}: {var!r} is not a state variable "
                                           f"(state: {', '.join(self.state)})")
        if len(set(self.inputs.values())) != len(self.inputs):
            raise ModelDefinitionError(f"{self._where('inputs')}: each receptor needs its own state variable, got {self.inputs}")
        if len(self.membrane_variables) == 0:
            raise ModelDefinitionError(f"{self._where('state')}: every state variable is a synaptic input; "
                                       "add the membrane potential")
        for var in self.frozen:
            if var not in self.state:
                raise ModelDefinitionError(f"{self._where('frozen')}: {var!r} is not a state variable")

    # ---- units ----
    def _check_units(self) -> None:
        local_units: dict = {}

        def walk(item, statements):
            for k, s in enumerate(statements):
                if isinstance(s, Repeat):
                    walk(item, s.body)
                    continue
                unit = self._unit_of(f"{item} ({s.text})", s.expr, local_units)
                declared = self.units.get(s.target)
                if declared is not None and unit is not None and unit != declared:
                    raise ModelDefinitionError(
                        f"{self._where(item)}: inconsistent units in {s.text!r}: the right side is in "
                        f"{format_dimension(unit)}, {s.target} is in {format_dimension(declared)}")
                if s.target not in self.state and unit is not None:  # a temporary takes its value's unit
                    local_units[s.target] = unit

        walk("update", self.update)
        self._unit_of("threshold", self.threshold, local_units)
        walk("reset", self.reset)
        if self.refractory is not None:
            unit = self._unit_of("refractory", self.refractory)
            if unit is not None and unit != (1, 0, 0):
                raise ModelDefinitionError(f"{self._where('refractory')}: must be in ms, {self.refractory_text} is in "
                                           f"{format_dimension(unit)}")

    def _warn_unreachable_threshold(self) -> None:
        assigned = _assigned(self.update)
        watched = _names_in([], self.threshold) & set(self.state)
        if not watched & assigned:
            warnings.warn(f"model {self.name!r}: the threshold {self.threshold_text!r} can never be reached: "
                          f"the update never changes {', '.join(sorted(watched)) or 'any state variable it reads'}",
                          UserWarning, stacklevel=3)


# ---- helpers ----

def _per_neuron(value, n: int) -> np.ndarray:
    """A scalar or per-neuron result as its own float64 array of length ``n``."""
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()


def _mapping(model: str, item: str, value) -> dict:
    if not isinstance(value, dict):
        raise ModelDefinitionError(f"model {model!r}: {item} must be a dict, got {type(value).__name__}")
    return value


def _as_parameter(where: str, spec) -> Parameter:
    if isinstance(spec, Parameter):
        p = spec
    elif isinstance(spec, tuple) and len(spec) == 2:
        p = Parameter(spec[0], spec[1])
    elif spec is None or isinstance(spec, (int, float)) and not isinstance(spec, bool):
        p = Parameter(spec)
    else:
        raise ModelDefinitionError(f"{where}: give Parameter(default, unit), (default, unit) or a number, got {spec!r}")
    if p.default is not None:
        if isinstance(p.default, bool) or not isinstance(p.default, (int, float)):
            raise ModelDefinitionError(f"{where}: the default must be a number, got {p.default!r}")
        if not math.isfinite(p.default):
            raise ModelDefinitionError(f"{where}: the default {p.default} is not finite")
        if p.integer and p.default != int(p.default):
            raise ModelDefinitionError(f"{where}: an integer parameter needs an integer default, got {p.default}")
    return p


def _as_state(where: str, spec) -> State:
    if isinstance(spec, State):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return State(spec[0], spec[1])
    if spec is None or isinstance(spec, (int, float, str)) and not isinstance(spec, bool):
        return State(spec)
    raise ModelDefinitionError(f"{where}: give State(init, unit), (init, unit) or an initial value, got {spec!r}")


def _check_expression(node: ast.expr, fail, scope: set) -> None:
    """Refuse anything outside the language; name undefined symbols (with a suggestion)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            if sub.id not in scope and sub.id not in FUNCTIONS:
                close = difflib.get_close_matches(sub.id, sorted(scope), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(f"undefined symbol {sub.id!r}{hint}; known names: {', '.join(sorted(scope))}")
        elif isinstance(sub, ast.Call):
            if not isinstance(sub.func, ast.Name) or sub.func.id not in FUNCTIONS or sub.keywords:
                name = sub.func.id if isinstance(sub.func, ast.Name) else ast.unparse(sub.func)
                raise fail(f"unknown function {name!r}; allowed: {', '.join(FUNCTIONS)}")
            want = {"where": 3, "clip": 3, "minimum": 2, "maximum": 2}.get(sub.func.id, 1)
            if len(sub.args) != want:
                raise fail(f"{sub.func.id}() takes {want} argument(s), got {len(sub.args)}")
        elif isinstance(sub, ast.Constant):
            if isinstance(sub.value, bool) or not isinstance(sub.value, (int, float)):
                raise fail(f"only numbers are allowed as constants, got {sub.value!r}")
        elif isinstance(sub, ast.BinOp):
            if type(sub.op) not in _BINOPS:
                raise fail(f"operator {type(sub.op).__name__} is not allowed (use + - * / **)")
        elif isinstance(sub, ast.Compare):
            if len(sub.ops) != 1 or type(sub.ops[0]) not in _COMPARE:
                raise fail("comparisons must be single (a < b, not a < b < c) and use < <= > >= == !=")
        elif isinstance(sub, ast.UnaryOp):
            if not isinstance(sub.op, (ast.USub, ast.UAdd, ast.Not)):
                raise fail(f"operator {type(sub.op).__name__} is not allowed")
        elif not isinstance(sub, (ast.BoolOp, ast.And, ast.Or, ast.IfExp, ast.Load, ast.expr_context,
                                  ast.operator, ast.cmpop, ast.unaryop, ast.boolop)):
            raise fail(f"{type(sub).__name__} is not allowed in a model expression")


class _Desugar(ast.NodeTransformer):
    """``clip(x, lo, hi)`` -> ``minimum(maximum(x, lo), hi)``: every code generator then has one
    function fewer to know (and all compute the same bits)."""

    def visit_Call(self, node):
        self.generic_visit(node)
        if node.func.id != "clip":
            return node
        x, lo, hi = node.args
        inner = ast.Call(ast.Name("maximum", ast.Load()), [x, lo], [])
        return ast.Call(ast.Name("minimum", ast.Load()), [inner, hi], [])


def _desugar(expr: ast.expr) -> ast.expr:
    return ast.fix_missing_locations(_Desugar().visit(expr))


def _dimension(node: ast.expr, units: dict, fail):
    """Dimension of an expression, or None where it depends on an undeclared name."""
    def dim(n):
        if isinstance(n, ast.Name):
            return units.get(n.id)
        if isinstance(n, ast.Constant):
            return None
        if isinstance(n, ast.UnaryOp):
            d = dim(n.operand)
            return DIMENSIONLESS if isinstance(n.op, ast.Not) else d
        if isinstance(n, ast.BinOp):
            a, b = dim(n.left), dim(n.right)
            if isinstance(n.op, (ast.Add, ast.Sub)):
                same(a, b, n)
                return a if a is not None else b
            if isinstance(n.op, ast.Pow):
                if isinstance(n.right, ast.Constant) and isinstance(n.right.value, int):
                    return None if a is None else multiply(DIMENSIONLESS, a, n.right.value)
                dimensionless(a, n.left, "a power with a non-integer exponent")
                return DIMENSIONLESS
            if a is None or b is None:
                return None
            return multiply(a, b, 1 if isinstance(n.op, ast.Mult) else -1)
        if isinstance(n, ast.Compare):
            same(dim(n.left), dim(n.comparators[0]), n)
            return DIMENSIONLESS
        if isinstance(n, ast.BoolOp):
            for v in n.values:
                dim(v)
            return DIMENSIONLESS
        if isinstance(n, ast.IfExp):
            dim(n.test)
            a, b = dim(n.body), dim(n.orelse)
            same(a, b, n)
            return a if a is not None else b
        if isinstance(n, ast.Call):
            f, args = n.func.id, [dim(a) for a in n.args]
            if f in ("exp", "log", "tanh"):
                dimensionless(args[0], n.args[0], f"the argument of {f}()")
                return DIMENSIONLESS
            if f == "sqrt":
                if args[0] is None:
                    return None
                if any(x % 2 for x in args[0]):
                    raise fail(f"sqrt of {format_dimension(args[0])} has no unit in ms, mV, pA: {ast.unparse(n)}")
                return tuple(x // 2 for x in args[0])
            if f == "where":
                same(args[1], args[2], n)
                return args[1] if args[1] is not None else args[2]
            if f in ("minimum", "maximum"):
                same(args[0], args[1], n)
            return args[0] if args[0] is not None else (args[1] if len(args) > 1 else None)
        raise fail(f"{type(n).__name__} is not allowed")  # pragma: no cover - _check_expression refused it

    def same(a, b, n):
        if a is not None and b is not None and a != b:
            raise fail(f"inconsistent units in {ast.unparse(n)!r}: {format_dimension(a)} and {format_dimension(b)}")

    def dimensionless(a, n, what):
        if a is not None and a != DIMENSIONLESS:
            raise fail(f"{what} must be dimensionless, {ast.unparse(n)!r} is in {format_dimension(a)}")

    return dim(node)
