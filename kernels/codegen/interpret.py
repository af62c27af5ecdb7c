"""Vectorised evaluation of a model definition's statements with numpy or torch.

This is the reference semantics of the model language (:mod:`neurosim.definition`): each
statement is evaluated over whole arrays, in order, exactly as written (no reordering, so the
floating-point operations are those of the text). The engine's numpy backend and the
:mod:`neurosim.nn` layers of user-defined models run through it; the Numba and Triton sources
(``numba_source``, ``triton_source``) are written to perform the same operations per neuron.
"""

from __future__ import annotations

import ast
import math

import numpy as np

from .ir import Assign, Repeat, Rewrite

_CODE: dict[int, tuple] = {}  # id(expr) -> (code object, expr: kept alive so its id is not reused)
_ENVIRONMENTS: dict[str, dict] = {}


# Python scalar syntax -> array syntax: and/or/not -> & | ~, a if c else b -> where(c, a, b)
_vectorise = Rewrite(not_as="~", select="where")


def compiled(expr: ast.expr):
    """The code object of an expression in array syntax (cached per expression node)."""
    entry = _CODE.get(id(expr))
    if entry is None:
        entry = _CODE[id(expr)] = (compile(ast.Expression(_vectorise(expr)), "<neuron model>", "eval"), expr)
    return entry[0]


def functions(lib) -> dict:
    """The language's functions for an array library (numpy or torch)."""
    if lib.__name__ == "torch":
        import torch

        return {"exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs, "tanh": torch.tanh,
                "minimum": torch.minimum, "maximum": torch.maximum,
                "where": lambda c, a, b: torch.where(c, torch.as_tensor(a), torch.as_tensor(b))}
    return {"exp": lib.exp, "log": lib.log, "sqrt": lib.sqrt, "abs": lib.abs, "tanh": lib.tanh,
            "minimum": lib.minimum, "maximum": lib.maximum, "where": lib.where}


def _libm(f):
    """A C-library function over float64 arrays: the same bits as the compiled (Numba) code,
    whose exp/log/tanh are the C library's, where numpy's own SIMD versions differ from it in
    the last bit for a few percent of arguments."""
    vectorised = np.frompyfunc(f, 1, 1)
    return lambda x: np.asarray(vectorised(x), dtype=np.float64)


def _environment(lib, libm: bool = False) -> dict:
    """Globals of an evaluation: no builtins, the language's functions (built once per library:
    the numpy engine and the nn layers evaluate several expressions per step). ``libm``: numpy
    with the C library's exp, log and tanh (see ``_libm``)."""
    key = lib.__name__ + ("+libm" if libm else "")
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = _ENVIRONMENTS[key] = {"__builtins__": {}, **functions(lib)}
        if libm:
            env.update(exp=_libm(math.exp), log=_libm(math.log), tanh=_libm(math.tanh))
    return env


def evaluate(expr: ast.expr, scope: dict, lib, libm: bool = False):
    """Value of one expression over arrays; ``scope`` maps names to arrays or numbers; ``libm``
    as in :func:`run_statements`."""
    return eval(compiled(expr), _environment(lib, libm), scope)  # noqa: S307 - our own parsed AST


def run_statements(statements, scope: dict, lib, integers: dict | None = None, libm: bool = False) -> None:
    """Run statements in order, updating ``scope`` in place (state variables and temporaries).

    ``integers`` gives the repeat count of ``for _ in range(name)`` loops by name; ``libm``
    evaluates exp, log and tanh with the C library (numpy only; the synapse rules' reference,
    bit-identical to the Numba engine).
    """
    env = _environment(lib, libm)
    for s in statements:
        if isinstance(s, Repeat):
            count = s.count if isinstance(s.count, int) else int((integers or scope)[s.count])
            for _ in range(count):
                run_statements(s.body, scope, lib, integers, libm)
        else:
            assert isinstance(s, Assign)
            scope[s.target] = eval(compiled(s.expr), env, scope)  # noqa: S307 - our own parsed AST
