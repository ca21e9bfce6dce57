"""Validators shared by the config sections and the methods' options (no torch, no package imports).

Each checks one value and returns it (converted where noted); a bad value raises ``ValueError`` -- or
``TypeError`` for a wrong type -- whose message starts with the dotted field name it was given, e.g.
``"optim.lr must be in (0.0, inf], got 0"``.
"""

from __future__ import annotations

import math


def fail(name: str, message: str) -> ValueError:
    """``ValueError("<name> <message>")``."""
    return ValueError(f"{name} {message}")


def check_int(name: str, value, minimum: int | None = None, *, optional: bool = False) -> int | None:
    """An integer (not a bool) >= ``minimum``; None passes when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise fail(name, f"must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value, lo: float | None = None, hi: float | None = None, *, lo_open=False,
                hi_open=False, optional: bool = False) -> float | None:
    """A finite real number (not a bool) in the interval given, as a float; None passes when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} must be a finite number, got an integer too large for a float") from None
    if not math.isfinite(v):
        why = " (a literal beyond about 1.8e308 overflows to inf)" if math.isinf(v) else ""
        raise ValueError(f"{name} must be a finite number, got {value!r}{why}")
    bad = False
    if lo is not None:
        bad |= v <= lo if lo_open else v < lo
    if hi is not None:
        bad |= v >= hi if hi_open else v > hi
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = f"{left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{right}"
        raise fail(name, f"must be in {rng}, got {value!r}")
    return v


def check_choice(name: str, value, options):
    """One of ``options``."""
    if value not in options:
        raise ValueError(f"{name}: unknown value {value!r}; valid: {list(options)}")
    return value


def check_bool(name: str, value) -> bool:
    """A bool (``1``, ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def check_weights(name: str, value) -> tuple[float, ...] | None:
    """None, or a list of finite numbers >= 0 as a tuple."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of numbers, got {value!r}")
    return tuple(check_float(f"{name}[{i}]", v, 0.0) for i, v in enumerate(value))


def set_field(obj, name: str, value) -> None:
    """Assign a field of a frozen dataclass from its ``__post_init__`` (normalised values)."""
    object.__setattr__(obj, name, value)
