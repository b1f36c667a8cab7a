"""Argument checks shared by every ``dnnkit`` module (one style for the whole library).

Each ``check_*`` validates one argument at a public boundary and returns it normalised (a
``float``, an ``int``, ...), or raises ``ValueError`` that names the argument, shows the value it
got and says what was expected, e.g. ``clip_norm=-1.0 is not allowed; expected a finite number
> 0``. Booleans are never accepted as numbers. Imports only the standard library.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

__all__ = [
    "fail",
    "check_number",
    "check_positive",
    "check_nonnegative",
    "check_in_range",
    "check_interval",
    "check_integer",
    "check_one_of",
    "check_bool",
    "check_instance",
]


def fail(name: str, value: object, expected: str) -> NoReturn:
    """Raise the library's ``ValueError``: ``{name}={value!r} is not allowed; expected ...``."""
    raise ValueError(f"{name}={value!r} is not allowed; expected {expected}")


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(name: str, value: Any, *, finite: bool = True) -> float:
    """``value`` as a float: a real number (not a bool, not NaN; not infinite if ``finite``)."""
    what = "a finite number" if finite else "a real number (not NaN)"
    if not _is_real(value) or math.isnan(value) or (finite and math.isinf(value)):
        fail(name, value, what)
    return float(value)


def check_positive(name: str, value: Any, *, finite: bool = True) -> float:
    """``value`` as a float, a number ``> 0`` (finite unless ``finite=False``)."""
    what = "a finite number > 0" if finite else "a number > 0"
    if not _is_real(value) or math.isnan(value) or (finite and math.isinf(value)) or value <= 0:
        fail(name, value, what)
    return float(value)


def check_nonnegative(name: str, value: Any, *, finite: bool = True) -> float:
    """``value`` as a float, a number ``>= 0`` (finite unless ``finite=False``)."""
    what = "a finite number >= 0" if finite else "a number >= 0"
    if not _is_real(value) or math.isnan(value) or (finite and math.isinf(value)) or value < 0:
        fail(name, value, what)
    return float(value)


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float in the interval from ``low`` to ``high`` (closed unless ``*_open``)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if not _is_real(value) or math.isnan(value):
        fail(name, value, f"a number in {interval}")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        fail(name, value, f"a number in {interval}")
    return float(value)


def check_interval(
    low_name: str, low: Any, high_name: str, high: Any, *, minimum: float | None = None
) -> tuple[float, float]:
    """``(low, high)`` as floats: finite numbers with ``minimum <= low <= high``."""
    bound = "" if minimum is None else f"{minimum:g} <= "
    numbers_ok = all(_is_real(v) and math.isfinite(v) for v in (low, high))
    if not (numbers_ok and (minimum is None or minimum <= low) and low <= high):
        raise ValueError(
            f"{low_name}={low!r}, {high_name}={high!r} is not allowed; expected finite numbers "
            f"with {bound}{low_name} <= {high_name}"
        )
    return float(low), float(high)


def check_integer(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int (a Python or NumPy integer, not a bool) within the given bounds."""
    if minimum is not None and maximum is not None:
        what = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        what = f"an integer >= {minimum}"
    elif maximum is not None:
        what = f"an integer <= {maximum}"
    else:
        what = "an integer"
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        fail(name, value, what)
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        fail(name, value, what)
    return number


def check_one_of(name: str, value: T, options: Collection[Any]) -> T:
    """``value`` itself when it is one of ``options`` (compared with ``==``)."""
    try:
        known = value in options
    except TypeError:  # e.g. an unhashable value looked up in a set
        known = False
    if not known:
        fail(name, value, f"one of {tuple(options)!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool: ``True`` or ``False`` (a NumPy boolean too), nothing else."""
    if type(value).__name__ not in ("bool", "bool_"):
        fail(name, value, "True or False")
    return bool(value)


def check_instance(name: str, value: Any, cls: type | tuple[type, ...], what: str) -> None:
    """Raise unless ``isinstance(value, cls)``; ``what`` describes ``cls`` for the message."""
    if not isinstance(value, cls):
        raise ValueError(f"{name} of type {type(value).__name__} is not allowed; expected {what}")
