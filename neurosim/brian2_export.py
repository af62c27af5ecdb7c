"""Build the Brian2 twin of a neurosim network (for cross-checking against the reference
simulator of the field).

    b2net, monitors = to_brian2(net)        # same neurons, parameters, initial state, synapses
    b2net.run(duration * brian2.ms)
    spikes = monitors["exc"].spike_trains()

Every neuron model -- built-in or user-defined -- is exported from its definition
(:class:`neurosim.NeuronModel`), so the twin runs the same discrete step: the definition's
update statements become the group's ``run_regularly`` code (loops unrolled, ``dt`` written as
its value in ms), its per-neuron coefficients and derived values become constant variables,
threshold, reset and refractory period map onto Brian2's, and the variables frozen while
refractory are held with ``not_refractory``. All variables are dimensionless numbers in
neurosim's units (ms, mV, pA, nS, pF). Delays map as Brian2 ``delay = (steps - 1) * dt``:
neurosim's minimum delay of one step is Brian2's ``delay = 0`` (``on_pre`` applied after
thresholding and seen by the next update). Spike-time sources become
``SpikeGeneratorGroup``s, Poisson sources ``PoissonGroup``s, a ``PoissonCounts`` connected
one-to-one to a population (``Network.add_poisson_input``) a ``PoissonInput`` onto it (no group
of its own, so no spike monitor; another ``PoissonCounts`` is refused); constant currents are copied,
noise currents are redrawn by Brian2 (the same statistics, another realisation). Plastic
projections (:class:`neurosim.SynapseModel`) become Synapses running the rule's statements:
per-synapse state and parameters, ``elapsed`` measured from a variable ``ns_last`` set at every
event, ``release`` added to the target's receptor variable, periodic statements as a
``run_regularly``. Two differences remain: a rule's ``<var>_post`` reads the target after its
reset in neurosim, before it in Brian2 (they differ for a neuron that spiked in that step); and
a run that ends with a period has had that period's update in neurosim, while Brian2 does it at
the start of the next run. Brian2 is imported only when this is called.

For the same spikes to the last bit, let Brian2 evaluate the statements as written:
``prefs.codegen.target = "numpy"`` and ``prefs.codegen.loop_invariant_optimisations = False``.
"""

from __future__ import annotations

import ast
import copy

import numpy as np

from neurosim.kernels.codegen.ir import Repeat, ReplaceNames, emit

from .models import PoissonCounts, PoissonSource, SpikeTimes


class _Brian2Code(ast.NodeTransformer):
    """The model language in Brian2's abstract code: ``dt`` as its value in ms, ``where`` and
    ``a if c else b`` as arithmetic selects, ``minimum``/``maximum`` through them."""

    def __init__(self, dt: float):
        self.dt = dt

    def visit_Name(self, node):
        return ast.Constant(self.dt) if node.id == "dt" else node

    def visit_Call(self, node):
        inner = node.args[0] if node.args else None
        if (node.func.id == "minimum" and isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)
                and inner.func.id == "maximum"):
            # the language's clip(x, lo, hi), desugared to minimum(maximum(x, lo), hi): Brian2's
            # clip (the same value; selects nested in a comparison defeat Brian2's sympy)
            x, lo, hi = (self.visit(a) for a in (*inner.args, node.args[1]))
            return ast.Call(ast.Name("clip", ast.Load()), [x, lo, hi], [])
        self.generic_visit(node)
        name, args = node.func.id, node.args
        if name == "where":
            return _select(*args)
        if name in ("minimum", "maximum"):
            a, b = args
            return _select(ast.Compare(a, [ast.LtE() if name == "minimum" else ast.GtE()], [b]), a, copy.deepcopy(b))
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return _select(node.test, node.body, node.orelse)


def _select(condition, a, b):
    """``a`` where ``condition`` else ``b``, as Brian2 arithmetic: a * int(c) + b * (1 - int(c))."""
    as_int = ast.Call(ast.Name("int", ast.Load()), [condition], [])
    other = ast.BinOp(ast.Constant(1), ast.Sub(), copy.deepcopy(as_int))
    return ast.BinOp(ast.BinOp(a, ast.Mult(), as_int), ast.Add(), ast.BinOp(b, ast.Mult(), other))


def _unrolled(statements, integers: dict):
    out = []
    for s in statements:
        if isinstance(s, Repeat):
            count = s.count if isinstance(s.count, int) else integers[s.count]
            out += _unrolled(s.body, integers) * count
        else:
            out.append(s)
    return out


def _neuron_group(b2, name: str, pop, dt: float, mean, sigma):
    """A NeuronGroup running ``pop``'s definition (see the module docstring)."""
    d, m, n = pop.model.definition, pop.model, len(pop)
    numbers = m.definition_numbers(dt)
    derived = d.evaluate_derived(numbers, dt, n)
    render = lambda e: ast.unparse(_Brian2Code(dt).visit(copy.deepcopy(e)))  # noqa: E731
    integers = {k: numbers[k] for k in d.integer_parameters}
    # a copy (Brian2's numpy target updates "v = v + ..." in place, which would change an alias)
    lines = ["i_ext = i_ext_mean + sigma * randn()"] + [f"ns_old_{f} = {f} * 1.0" for f in d.frozen if d.refractory is not None]
    lines += emit(_unrolled(d.update, integers), render)
    if d.refractory is not None:  # frozen variables keep their value while refractory
        lines += [f"{f} = {f} * int(not_refractory) + ns_old_{f} * (1 - int(not_refractory))" for f in d.frozen]
    variables = [f"{k} : 1" for k in d.state] + [f"{c} : 1 (constant)" for c in d.coefficients]
    variables += ["i_ext_mean : 1 (constant)", "sigma : 1 (constant)"]
    refractory = False
    if d.refractory is not None:
        variables.append("ns_refractory : second (constant)")
        refractory = "ns_refractory"
    g = b2.NeuronGroup(n, "\n".join(variables), threshold=render(d.threshold), reset="\n".join(emit(d.reset, render)),
                       refractory=refractory, name=f"ns_{name}")
    for var, init in d.evaluate_init(numbers, n).items():
        setattr(g, var, init)
    for c in d.coefficients:
        setattr(g, c, derived[c] if c in derived else numbers[c])
    g.i_ext_mean, g.sigma = mean, sigma
    if d.refractory is not None:
        g.ns_refractory = d.refractory_steps({**numbers, **derived}, dt, n) * dt * b2.ms
    # after the state updater (order 0), which sets not_refractory for this step
    g.run_regularly("\n".join(lines), when="groups", order=1, name=f"ns_{name}_update")
    return g


def _poisson_input_projection(name: str, pop, projections):
    """The projection of the ``PoissonCounts`` population ``pop`` that a Brian2 ``PoissonInput``
    can express: the only one, onto a population of its size, neuron i onto neuron i, one weight,
    the minimum delay (Brian2's PoissonInput adds in the synapses slot, seen by the next update:
    a one-step delay here). None where it drives nothing; anything else is refused."""
    mine = [proj for proj in projections if proj.source is pop]
    if not mine:
        return None
    why = None
    proj = mine[0]
    n = len(pop)
    if len(mine) > 1:
        why = f"it drives {len(mine)} projections (Brian2's PoissonInputs would draw independent counts for each)"
    elif len(proj.target_population) != n or not (np.array_equal(proj.indptr, np.arange(n + 1))
                                                  and np.array_equal(proj.target, np.arange(n))):
        why = "its projection is not one-to-one onto a population of its size"
    elif np.unique(proj.weight).size != 1:
        why = "its synapses have different weights"
    elif np.any(proj.delay != 1):
        why = "its synapses have delays beyond the minimum of one step"
    elif np.unique(pop.model.rate).size != 1:
        why = "its neurons have different rates"
    if why is not None:
        raise ValueError(f"population {name!r} (PoissonCounts) cannot be exported to Brian2's PoissonInput: {why}; "
                         "export a PoissonCounts made by Network.add_poisson_input with a scalar rate and weight")
    return proj


def to_brian2(net, record_spikes: bool = True):
    """The Brian2 twin of ``net`` (before or after construction, not a network that has run).

    Returns ``(brian2.Network, monitors)`` where ``monitors[name]`` is a SpikeMonitor of
    population ``name`` (when ``record_spikes``; none for a ``PoissonCounts``, which becomes a
    ``PoissonInput``). Sets ``brian2.defaultclock.dt``.
    """
    import brian2 as b2

    dt = net.dt
    b2.defaultclock.dt = dt * b2.ms
    groups, objects, monitors = {}, [], {}
    # refused before any Brian2 object exists (Brian2 warns about objects built and never run)
    poisson_inputs = [(pop, _poisson_input_projection(name, pop, net.projections))
                      for name, pop in net.populations.items() if isinstance(pop.model, PoissonCounts)]
    for name, pop in net.populations.items():
        m = pop.model
        mean = sum((c[0] for c in pop.currents), np.zeros(len(pop)))
        sigma = np.sqrt(sum((c[1] ** 2 for c in pop.currents), np.zeros(len(pop))))
        if m.definition is not None:
            g = _neuron_group(b2, name, pop, dt, mean, sigma)
        elif isinstance(m, SpikeTimes):
            steps, idx = m.steps(dt)
            keys = np.sort(steps * len(pop) + idx) if steps.size and steps.max() < 2**62 // len(pop) else None
            if keys is not None and np.any(keys[1:] == keys[:-1]):
                raise ValueError(f"population {name!r}: a neuron of this SpikeTimes spikes more than once in one step "
                                 f"of dt = {dt} ms, which Brian2's SpikeGeneratorGroup refuses; give the repeated "
                                 "spikes as a larger weight, or use a smaller dt")
            g = b2.SpikeGeneratorGroup(len(pop), idx, steps * dt * b2.ms, name=f"ns_{name}")
        elif isinstance(m, PoissonSource):
            g = b2.PoissonGroup(len(pop), m.rate * b2.Hz, name=f"ns_{name}")
        elif isinstance(m, PoissonCounts):
            continue  # a PoissonInput onto its target, made once the groups exist
        else:  # pragma: no cover - the Network accepts no other model
            raise TypeError(f"cannot export {type(m).__name__}")
        groups[name] = g
        objects.append(g)
        if record_spikes:
            monitors[name] = b2.SpikeMonitor(g, name=f"ns_spikes_{name}")
            objects.append(monitors[name])
    for pop, proj in poisson_inputs:
        if proj is not None:
            var = proj.target_population.model.definition.inputs["exc" if proj.receptor == 0 else "inh"]
            objects.append(b2.PoissonInput(groups[proj.target_population.name], var, N=pop.model.n_inputs,
                                           rate=float(pop.model.rate[0]) * b2.Hz, weight=repr(float(proj.weight[0]))))
    for k, proj in enumerate(net.projections):
        if isinstance(proj.source.model, PoissonCounts):
            continue
        var = proj.target_population.model.definition.inputs["exc" if proj.receptor == 0 else "inh"]
        source, target = groups[proj.source.name], groups[proj.target_population.name]
        if proj.plastic:
            syn = _plastic_synapses(b2, proj, k, source, target, var, dt)
        else:
            # (not "w": a model may have a variable of that name, which Brian2 would confuse)
            syn = b2.Synapses(source, target, "ns_weight : 1", on_pre=f"{var}_post += ns_weight",
                              name=f"ns_projection_{k}")
            syn.connect(i=proj.sources(), j=proj.target)
            syn.ns_weight = proj.weight
        syn.delay = (proj.delay - 1) * dt * b2.ms
        objects.append(syn)
    return b2.Network(*objects), monitors


def _plastic_synapses(b2, proj, k: int, source, target, var: str, dt: float):
    """Brian2 Synapses running ``proj``'s synapse model (:mod:`neurosim.synapse_definition`):
    its state and parameters per synapse (named ``<name>_ns``: Brian2 reserves the suffixes
    ``_pre`` and ``_post``), ``elapsed`` as the time since ``ns_last`` (set at
    every event, as neurosim's last event), ``release`` added to the target's receptor variable,
    the periodic statements as a ``run_regularly`` at the start of each period's first step
    (after the step that ends the period; not at t = 0, where neurosim runs none)."""
    d = proj.synapse.definition
    names = {"elapsed": ast.BinOp(ast.BinOp(ast.Name("t", ast.Load()), ast.Sub(), ast.Name("ns_last", ast.Load())),
                                  ast.Div(), ast.Name("ms", ast.Load()))}
    # the rule's own names as "<name>_ns": Brian2 reserves the suffixes _pre and _post (tau_post)
    own = {v: f"{v}_ns" for v in (*d.state, *d.coefficients)}
    names.update({v: ast.Name(b, ast.Load()) for v, b in own.items()})

    def render(expr):
        tree = _Brian2Code(dt).visit(ReplaceNames(names)(expr))
        return ast.unparse(ast.fix_missing_locations(tree))

    def code(statements, guard=None):
        lines = []
        for s in statements:
            value, target = render(s.expr), own.get(s.target, s.target)
            if s.target not in d.state:  # a temporary: a copy, not an alias of a variable updated in place
                value = f"({value}) * 1.0"
            elif guard is not None:  # exact: a * 1 + b * 0 for finite values
                value = f"({value}) * int({guard}) + {target} * (1 - int({guard}))"
            lines.append(f"{target} = {value}")
        return lines

    model = [f"{own[v]} : 1" for v in d.state] + [f"{own[c]} : 1 (constant)" for c in d.coefficients]
    model.append("ns_last : second")
    on_pre = code(d.on_pre) + [f"{var}_post += release", "ns_last = t"]
    on_post = code(d.on_post) + ["ns_last = t"] if d.on_post else None
    syn = b2.Synapses(source, target, "\n".join(model), on_pre="\n".join(on_pre),
                      on_post=None if on_post is None else "\n".join(on_post), name=f"ns_projection_{k}")
    syn.connect(i=proj.sources(), j=proj.target)
    for v in d.state:
        setattr(syn, own[v], proj.weight if v == d.weight else proj.synapse_state[v])
    for c in d.coefficients:
        setattr(syn, own[c], proj.synapse_parameters[c])
    if d.periodic:
        syn.run_regularly("\n".join(code(d.periodic, guard="t > 0*ms")), dt=d.period_ms * b2.ms, when="start",
                          name=f"ns_projection_{k}_periodic")
    return syn

