"""Argument checks whose messages name the argument and what is allowed."""

from __future__ import annotations

import numbers

import numpy as np


def check_number(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    """Return ``value`` as a finite float; raise naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_flag(name: str, value, *, none_ok: bool = False) -> bool | None:
    """``value`` as a bool: True or False (numpy's too), or None where ``none_ok``. Anything
    else is refused: ``stateful="False"`` or ``1`` would otherwise be taken as true."""
    if none_ok and value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if none_ok else "True or False"
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r:.40}")
    return bool(value)


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int (numpy ints accepted); raise naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def host_values(name: str, value):
    """``value`` with a CPU torch tensor turned into a numpy array; a tensor on another device
    is refused. A network is built from host arrays and copied whole to the device of its run,
    so a GPU tensor here would mix devices (and numpy's own error would not say which argument)."""
    if type(value).__module__.partition(".")[0] == "torch" and hasattr(value, "device"):
        if value.device.type != "cpu":
            raise TypeError(f"{name} is a torch tensor on {value.device}; networks are built from host (CPU) "
                            f"arrays and copied to the run's device as a whole: pass {name}.cpu()")
        return value.detach().numpy()
    return value


def _has_bool(value) -> bool:
    """Whether a (nested) list or tuple holds a bool: numpy would quietly turn [True, 0.5] into floats."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (list, tuple)) and any(_has_bool(v) for v in value)


def as_real_array(name: str, value) -> np.ndarray:
    """``value`` (a number or array-like of numbers) as a float64 array of any shape.

    Booleans and strings are refused rather than read as 0/1 or parsed: ``tau_m=True`` or
    ``beta='0.9'`` is a mistake numpy would otherwise accept silently."""
    if isinstance(value, (str, bytes)) or _has_bool(value):
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__} {value!r:.60}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting and the like
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}") from None
    if arr.dtype.kind == "O":  # Python ints beyond int64, Fractions, Decimals: numbers all the same
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}") from None
    if arr.dtype.kind not in "iuf":
        what = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers"}.get(arr.dtype.kind, arr.dtype)
        raise TypeError(f"{name} must be a number or an array of real numbers, got an array of {what}")
    return arr.astype(np.float64, copy=False)


def as_float_array(name: str, value, n: int, *, positive: bool = False, nonnegative: bool = False) -> np.ndarray:
    """Broadcast a scalar or length-``n`` array to a finite float64 array of length ``n``."""
    value = host_values(name, value)
    arr = as_real_array(name, value)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have length {n} (one value per element), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; found {int(np.sum(~np.isfinite(arr)))} NaN/inf value(s)")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got minimum {arr.min()}")
    if nonnegative and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 everywhere, got minimum {arr.min()}")
    return arr


def as_rng(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed or a Generator (never global state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be an int >= 0 (numpy's generators take no negative seeds), got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int >= 0, None or a numpy.random.Generator, got {type(seed).__name__} {seed!r:.40}")
