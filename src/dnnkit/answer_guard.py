"""Answers called the way a careful test would call them, whatever the test cell writes.

A test often computes its expected value from the same arrays it passed to the answer, after
the call. An answer that changes its inputs in place could then make the expected value match
its own output, and an answer could return an object that only pretends to be an array. The
autograder therefore wraps every function an answer cell defines (``guard_answers``, run inside
the student's kernel after each answer cell) so that each call

- snapshots the NumPy arrays, numbers and lists/tuples/dicts of them among the arguments, and
  raises ``AssertionError`` (naming the argument) if the call changed them; the arguments are
  put back first, so the test's expected value is computed from the original inputs;
- returns plain values: an ``ndarray`` subclass becomes a base ``ndarray`` copy, a number of a
  subclassed type (``class F(float)``) its plain ``float``/``int``/``complex``; containers are
  rebuilt with their base types. Exact arrays and numbers come back unchanged (same object).

Objects of other types (Keras models, layers) are passed and returned as they are.
NumPy only: importing this module never imports TensorFlow.
"""

from __future__ import annotations

import functools
import numbers
import operator
import types
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["guard_answer", "guard_answers", "plain"]

_ndarray = np.ndarray
_GUARD_MARK = "_dnnkit_guarded"


def plain(value: Any) -> Any:
    """``value`` with every array, number and container of exact built-in or NumPy type.

    Exact types come back as the same object; subclasses are converted to their base type
    (arrays copied). Objects of other types are returned unchanged.
    """
    kind = type(value)
    if isinstance(value, _ndarray):
        return value if kind is _ndarray else np.array(value, copy=True, subok=False)
    if isinstance(value, (bool, np.generic)) or kind in (int, float, complex, str, type(None)):
        return value
    if isinstance(value, numbers.Number):
        for base in (bool, int, float, complex):
            if isinstance(value, base):
                return base(value)
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        same = kind in (list, tuple) and all(a is b for a, b in zip(items, value, strict=True))
        return value if same else (tuple(items) if isinstance(value, tuple) else list(items))
    if isinstance(value, dict):
        entries = {k: plain(v) for k, v in value.items()}
        same = kind is dict and all(entries[k] is value[k] for k in value)
        return value if same else dict(entries)
    return value


def _snapshot(value: Any) -> Any:
    """What ``value`` holds now: a copy of an array; for a list, tuple or dict, its items (by
    identity) and their snapshots. None for other objects (they are not checked)."""
    if isinstance(value, _ndarray):
        return np.array(value, copy=True, subok=False)
    if isinstance(value, (list, tuple)):
        return (list(value), [_snapshot(v) for v in value])
    if isinstance(value, dict):
        return (dict(value), {k: _snapshot(v) for k, v in value.items()})
    return None


def _changed(value: Any, snap: Any) -> bool:
    if snap is None:
        return False
    if isinstance(value, _ndarray):
        return value.shape != snap.shape or not np.array_equal(value, snap, equal_nan=True)
    items, children = snap
    if isinstance(value, (list, tuple)):
        same_items = len(value) == len(items) and all(map(operator.is_, value, items))
        return not same_items or any(map(_changed, value, children))
    same_items = value.keys() == items.keys() and all(value[k] is items[k] for k in items)
    return not same_items or any(_changed(value[k], children[k]) for k in items)


def _restore(value: Any, snap: Any) -> None:
    """Put the original contents back into the caller's (mutable) objects."""
    if snap is None:
        return
    if isinstance(value, _ndarray):
        if value.shape == snap.shape and value.flags.writeable:
            value[...] = snap
        return
    items, children = snap
    if isinstance(value, list):
        value[:] = items
    elif isinstance(value, dict):
        value.clear()
        value.update(items)
    if isinstance(children, dict):
        for key, child in children.items():
            _restore(items[key], child)
    else:
        for item, child in zip(items, children, strict=True):
            _restore(item, child)


def guard_answer(function: Callable, name: str | None = None) -> Callable:
    """``function`` wrapped as described in the module docstring (idempotent)."""
    if getattr(function, _GUARD_MARK, False):
        return function
    label = name or getattr(function, "__name__", "the answer")

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        arguments = [(f"argument {i + 1}", a) for i, a in enumerate(args)]
        arguments += [(f"argument `{k}`", v) for k, v in kwargs.items()]
        snaps = [(where, value, _snapshot(value)) for where, value in arguments]
        result = function(*args, **kwargs)
        changed = [where for where, value, snap in snaps if _changed(value, snap)]
        if changed:
            for _, value, snap in snaps:
                _restore(value, snap)
            raise AssertionError(
                f"{label} changed its {', '.join(changed)} in place. An answer must leave its "
                "inputs as they were: compute into new arrays (e.g. `x = x - mean`, not "
                "`x -= mean`) and return them."
            )
        return plain(result)

    setattr(guarded, _GUARD_MARK, True)
    return guarded


def guard_answers(namespace: dict, names: Iterable[str]) -> list[str]:
    """Wrap the plain functions ``names`` of ``namespace`` with :func:`guard_answer`.

    Classes and other objects are left alone. Returns the names that were wrapped.
    """
    wrapped = []
    for name in names:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType) and not getattr(value, _GUARD_MARK, False):
            namespace[name] = guard_answer(value, name)
            wrapped.append(name)
    return wrapped
