"""Validators for construction-time checks (run outside jit, in ``__check_init__``).

Each raises ``ValueError`` naming the argument, its value and the allowed range.
Values that are tracers (a model rebuilt inside a transformation) are not checked.
"""

import dataclasses
import math
import typing

import jax
import numpy as np


def _concrete(value):
    """``value`` as a numpy array, or ``None`` if it is traced (cannot be checked)."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def _fmt(value) -> str:
    arr = np.asarray(value)
    if arr.size == 1:
        return f"{arr.item():g}"
    if np.issubdtype(arr.dtype, np.number) and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        return f"array of shape {arr.shape} containing {bad:g}"
    lo, hi = arr.min(), arr.max()
    if lo == hi:
        return f"{lo:g} (every element of shape {arr.shape})"
    return f"array of shape {arr.shape} with min {lo:g}, max {hi:g}"


def check_finite(name: str, value, unit: str = "") -> None:
    arr = _concrete(value)
    if arr is not None and arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite{_unit(unit)}, got {_fmt(arr)}")


def check_positive(name: str, value, unit: str = "") -> None:
    """``value > 0`` everywhere (time constants, capacitances, dt)."""
    arr = _concrete(value)
    if arr is not None and arr.size and not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"{name} must be > 0{_unit(unit)}, got {_fmt(arr)}")


def check_nonnegative(name: str, value, unit: str = "") -> None:
    """``value >= 0`` everywhere (refractory periods, rates, conductance jumps)."""
    arr = _concrete(value)
    if arr is not None and arr.size and not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
        raise ValueError(f"{name} must be >= 0{_unit(unit)}, got {_fmt(arr)}")


def check_prob(name: str, value) -> None:
    """``0 <= value <= 1``."""
    arr = _concrete(value)
    if arr is not None and not (np.all(arr >= 0) and np.all(arr <= 1)):
        raise ValueError(f"{name} must be a probability in [0, 1], got {_fmt(arr)}")


def check_size(name: str, value) -> None:
    """A population or layer size: a Python int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_count(name: str, value, upper: int | None = None) -> None:
    """A count (degree, buffer length): an int in [0, upper]."""
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= 0
    if ok and upper is not None:
        ok = value <= upper
    if not ok:
        bound = f"in [0, {upper}]" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def check_shape(name: str, value, shape: tuple[int, ...]) -> None:
    """``value`` is a scalar or broadcasts exactly to ``shape`` without growing rank."""
    got = np.shape(value)
    if got == () or got == shape:
        return
    raise ValueError(f"{name} must be a scalar or have shape {shape}, got shape {got}")


def check_parameter_shapes(module) -> None:
    """Every parameter field of a neuron model (annotated ``float | array``) is a scalar
    or has shape ``(module.size,)``."""
    size = getattr(module, "size", None)
    if not isinstance(size, int):
        return
    for field in dataclasses.fields(module):
        floating = field.type is float or float in typing.get_args(field.type)
        if field.metadata.get("static") or not floating:
            continue
        value = getattr(module, field.name, None)
        if value is not None and np.ndim(value):
            check_shape(f"{type(module).__name__}.{field.name}", value, (size,))


def steps(name: str, duration: float, dt: float) -> int:
    """``duration / dt`` as an int; raises unless it is a whole number of steps."""
    check_nonnegative(name, duration, "ms")
    n = duration / dt
    k = round(n)
    if not math.isclose(n, k, rel_tol=1e-9, abs_tol=1e-6):
        raise ValueError(
            f"{name} must be a whole multiple of dt={dt:g} ms, got {name}={duration:g} ms "
            f"({n:g} steps)"
        )
    return int(k)


def _unit(unit: str) -> str:
    return f" ({unit})" if unit else ""
