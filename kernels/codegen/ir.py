"""The parsed form of a neuron model's statements that every code generator reads.

:mod:`neurosim.definition` parses and checks a model's text into these nodes; expressions stay
Python ``ast`` expressions over the model's names (already checked against the language).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Assign:
    """``target = expr`` (``expr`` is a Python expression AST over the model's names)."""

    target: str
    expr: ast.expr
    text: str  # the source line, for messages


@dataclass(frozen=True)
class Repeat:
    """``for _ in range(count): body`` -- ``count`` an integer parameter name or an int."""

    count: Union[str, int]
    body: tuple


def assigned(statements) -> set:
    """Names assigned anywhere in ``statements``."""
    out: set = set()
    for s in statements:
        out |= assigned(s.body) if isinstance(s, Repeat) else {s.target}
    return out


def names_in(statements, *exprs) -> set:
    """Names read or written by ``statements`` and read by ``exprs``."""
    names: set = set()
    for s in statements:
        if isinstance(s, Repeat):
            names |= names_in(s.body)
        else:
            names.update(n.id for n in ast.walk(s.expr) if isinstance(n, ast.Name))
            names.add(s.target)
    for e in exprs:
        names.update(n.id for n in ast.walk(e) if isinstance(n, ast.Name))
    return names


def emit(statements, render, indent: str = "", select=None) -> list[str]:
    """Source lines of ``statements`` for a code generator: ``render(expr) -> str`` writes an
    expression; ``select(value, target) -> str``, when given, guards each assignment (the reset
    applies only where a neuron spiked: ``target = value if fire else target``)."""
    lines = []
    for s in statements:
        if isinstance(s, Repeat):
            lines.append(f"{indent}for _ in range({s.count}):")
            lines += emit(s.body, render, indent + "    ", select)
        else:
            value = render(s.expr)
            lines.append(f"{indent}{s.target} = {value if select is None else select(value, s.target)}")
    return lines


class _Transform(ast.NodeTransformer):
    """A transformer applied to a copy: the model's own tree is left as it is."""

    def __call__(self, expr: ast.expr) -> ast.expr:
        import copy

        return ast.fix_missing_locations(self.visit(copy.deepcopy(expr)))


class Rewrite(_Transform):
    """The language's expressions in a target's syntax (each generator configures one).

    ``functions`` renames the language's functions (``exp`` -> ``tl.exp``); ``and``/``or``
    become ``&``/``|`` (both sides evaluated: no short-circuit branch, which keeps vector
    and GPU code branch-free); ``not_as`` writes ``not x`` as ``"~"`` (``~x``) or ``"== 0"``
    (``x == 0``), or keeps it (None); ``select`` writes ``a if c else b`` as ``select(c, a, b)``,
    or keeps it (None).
    """

    def __init__(self, functions: dict | None = None, not_as: str | None = None, select: str | None = None):
        self.functions, self.not_as, self.select = functions or {}, not_as, select

    def visit_Call(self, node):
        self.generic_visit(node)
        node.func = ast.Name(self.functions.get(node.func.id, node.func.id), ast.Load())
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        op = ast.BitAnd() if isinstance(node.op, ast.And) else ast.BitOr()
        out = node.values[0]
        for v in node.values[1:]:
            out = ast.BinOp(out, op, v)
        return out

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self.not_as == "~":
            return ast.UnaryOp(ast.Invert(), node.operand)
        if isinstance(node.op, ast.Not) and self.not_as == "== 0":
            return ast.Compare(node.operand, [ast.Eq()], [ast.Constant(0)])
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        if self.select is None:
            return node
        return ast.Call(ast.Name(self.select, ast.Load()), [node.test, node.body, node.orelse], [])


class Substitute(_Transform):
    """Replace whole subexpressions by names: ``{ast.dump(expr): name}`` (a synapse model's
    tabulated ``elapsed_terms`` become ``_t0``, ``_t1``, ... in the compiled engines)."""

    def __init__(self, names: dict):
        self.names = names

    def visit(self, node):
        name = self.names.get(ast.dump(node)) if isinstance(node, ast.expr) else None
        return ast.Name(name, ast.Load()) if name else super().visit(node)


class ReplaceNames(_Transform):
    """Names replaced by expressions: ``{name: ast.expr}`` (a parameter by its load in the
    compiled engine, ``elapsed`` by Brian2's ``(t - ns_last) / ms``)."""

    def __init__(self, exprs: dict):
        self.exprs = exprs

    def visit_Name(self, node):
        import copy

        return copy.deepcopy(self.exprs[node.id]) if node.id in self.exprs else node


def term_names(terms) -> dict:
    """The names ``_t0``, ``_t1``, ... of a synapse model's ``elapsed_terms``, for Substitute."""
    return {ast.dump(t): f"_t{j}" for j, t in enumerate(terms)}


class FoldZero(_Transform):
    """``names`` set to 0 and the arithmetic folded away: ``0 * e`` -> 0, ``e + 0`` -> e,
    ``e - 0`` -> e, ``0 - e`` -> -e, ``0 / e`` -> 0. For a loop variant in which an input is
    absent (no external current): the term costs nothing instead of a multiply-add by zero that
    the compiler may not remove (it cannot know ``e`` is finite). Results equal those with the
    zero multiplied in, up to the sign of a zero."""

    def __init__(self, names):
        self.names = set(names)

    @staticmethod
    def _zero(node) -> bool:
        return isinstance(node, ast.Constant) and node.value == 0 and not isinstance(node.value, bool)

    def visit_Name(self, node):
        return ast.Constant(0.0) if node.id in self.names else node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return node.operand if isinstance(node.op, (ast.USub, ast.UAdd)) and self._zero(node.operand) else node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = self._zero(node.left), self._zero(node.right)
        if isinstance(node.op, ast.Mult) and (left or right):
            return ast.Constant(0.0)
        if isinstance(node.op, ast.Div) and left:
            return ast.Constant(0.0)
        if isinstance(node.op, (ast.Add, ast.Sub)) and right:
            return node.left
        if isinstance(node.op, ast.Add) and left:
            return node.right
        if isinstance(node.op, ast.Sub) and left:
            return ast.UnaryOp(ast.USub(), node.right)
        return node
