"""Units of model definitions: a small coherent system for dimensional checks.

neurosim's units -- ms, mV, pA, nS, pF -- form a coherent system: nS x mV = pA, pA / pF = mV/ms,
pF / nS = ms. So a value carries no scale factor, only a *dimension* (powers of time, voltage
and current), and checking an equation is checking that the dimensions of its terms agree.

Unit strings are products and quotients of the names in :data:`BASE_UNITS` with integer
powers, e.g. ``"mV"``, ``"1/ms"``, ``"nS/mV"``, ``"mV/ms"``, ``"pA*ms"``, ``"mV^2"``; ``"1"``
(or ``""``) is dimensionless.
"""

from __future__ import annotations

import re

# Dimension = (time, voltage, current) exponents.
Dimension = tuple[int, int, int]
DIMENSIONLESS: Dimension = (0, 0, 0)

#: Named units and their dimensions (all of scale 1 in the coherent ms-mV-pA system).
BASE_UNITS: dict[str, Dimension] = {
    "1": DIMENSIONLESS,
    "ms": (1, 0, 0),
    "mV": (0, 1, 0),
    "pA": (0, 0, 1),
    "nS": (0, -1, 1),  # pA / mV
    "pF": (1, -1, 1),  # pA ms / mV
    "kHz": (-1, 0, 0),  # 1 / ms
}

_FACTOR = re.compile(r"\s*([A-Za-z]+|1)\s*(?:(?:\^|\*\*)\s*(-?\d+))?\s*")


def parse_unit(text: str, where: str) -> Dimension:
    """The dimension of a unit string; ``where`` names the item in the error message."""
    if not isinstance(text, str):
        raise TypeError(f"{where}: a unit must be a string such as 'mV' or '1/ms', got {type(text).__name__}")
    text = text.strip() or "1"
    dim, sign, pos = [0, 0, 0], 1, 0
    while pos < len(text):
        m = _FACTOR.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"{where}: cannot read the unit {text!r} (use {', '.join(BASE_UNITS)} with * / ^)")
        name, power = m.group(1), int(m.group(2) or 1)
        if name not in BASE_UNITS:
            raise ValueError(f"{where}: unknown unit {name!r} in {text!r}; known units: {', '.join(BASE_UNITS)}")
        for k in range(3):
            dim[k] += sign * power * BASE_UNITS[name][k]
        pos = m.end()
        if pos < len(text):
            if text[pos] not in "*/":
                raise ValueError(f"{where}: cannot read the unit {text!r} at {text[pos:]!r}")
            sign = -1 if text[pos] == "/" else 1
            pos += 1
    return tuple(dim)


def format_dimension(dim: Dimension) -> str:
    """A readable unit for a dimension, e.g. (1, 0, 0) -> 'ms', (-1, 1, 0) -> 'mV/ms'."""
    if dim == DIMENSIONLESS:
        return "1"
    for name, d in BASE_UNITS.items():
        if d == dim:
            return name
    parts_up, parts_down = [], []
    for name, power in zip(("ms", "mV", "pA"), dim):
        if power:
            (parts_up if power > 0 else parts_down).append(name + (f"^{abs(power)}" if abs(power) != 1 else ""))
    up = "*".join(parts_up) or "1"
    return up + ("/" + "/".join(parts_down) if parts_down else "")


def multiply(a: Dimension, b: Dimension, power: int = 1) -> Dimension:
    """Dimension of ``a * b**power``."""
    return tuple(x + power * y for x, y in zip(a, b))
