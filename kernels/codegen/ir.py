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
