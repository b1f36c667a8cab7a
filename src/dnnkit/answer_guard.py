"""Answers called the way a careful test would call them, whatever the test cell writes.

A test often computes its expected value from the same arrays it passed to the answer, after
the call. An answer that changes its inputs in place could then make the expected value match
its own output, and an answer could return an object that only pretends to be an array. The
autograder therefore wraps every callable an answer cell binds, however it binds it (a
``def``, a lambda, a callable object; :func:`guard_answers`, run inside the student's kernel
after every cell, so a name rebound later is wrapped again) so that each call

- runs the answer on copies of the NumPy arrays among the arguments (also inside lists, tuples
  and dicts, which are rebuilt): whatever the answer does to them, the test's own arrays stay
  as they were, so the expected value it computes afterwards is the one it meant;
- returns plain values: an ``ndarray`` subclass becomes a base ``ndarray`` copy, a number of a
  subclassed type (``class F(float)``) its plain ``float``/``int``/``complex``; containers are
  rebuilt with their base types. Exact arrays and numbers come back unchanged (same object).

Objects of other types (Keras models, layers) are passed and returned as they are.

A test that checks whether an answer leaves its inputs alone (or returns a new array rather
than the one it was given) calls it through :func:`uncopied`: the answer then gets the test's
own objects, and the return value is still made plain. So an answer that updates its input
in place loses the marks of that check, as in the student's own run, and no others.
NumPy only: importing this module never imports TensorFlow.
"""

from __future__ import annotations

import functools
import numbers
import types
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeGuard

import numpy as np

__all__ = ["guard_answer", "guard_answers", "plain", "private_copy", "uncopied"]

_ndarray = np.ndarray
#: guarded wrapper -> the answer it wraps. Membership here is what marks a wrapper (an
#: attribute on the function could be set by the answer itself).
_ORIGINALS: weakref.WeakKeyDictionary[Callable, Callable] = weakref.WeakKeyDictionary()
#: Callables that are wrapped wherever an answer cell binds them (besides instances of
#: classes the notebook defines); classes are never wrapped.
_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    functools.partial,
)


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


def private_copy(value: Any) -> Any:
    """``value`` with every NumPy array in it copied (inside lists, tuples and dicts too, which
    are rebuilt as their base type); other objects are shared, not copied."""
    if isinstance(value, _ndarray):
        return np.array(value, copy=True, subok=True)
    if isinstance(value, (list, tuple)):
        items = [private_copy(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: private_copy(v) for k, v in value.items()}
    return value


def _is_guarded(function: Any) -> bool:
    try:
        return function in _ORIGINALS
    except Exception:  # noqa: BLE001 - unhashable, no weak reference, or a hostile __hash__
        return False


def guard_answer(function: Callable) -> Callable:
    """``function`` wrapped as described in the module docstring (idempotent)."""
    if _is_guarded(function):
        return function

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        args = tuple(private_copy(a) for a in args)
        kwargs = {k: private_copy(v) for k, v in kwargs.items()}
        return plain(function(*args, **kwargs))

    _ORIGINALS[guarded] = function
    return guarded


def uncopied(function: Callable) -> Callable:
    """``function`` called on the caller's own objects, for a test of whether it changes them.

    For an answer wrapped by :func:`guard_answer`: the answer itself, its return value made
    plain (:func:`plain`). An array argument (also inside a tuple) is handed over as a view of
    the caller's array: what the answer writes during the call reaches the caller's array, and
    the view is read-only once the call returns, so an answer that keeps it cannot change the
    caller's array later (when the test computes another expected value from it). Arrays
    inside lists and dicts are the caller's own, as are the containers. Any other function
    (the student's own run, without the autograder) is returned as it is.
    """
    if not _is_guarded(function):
        return function
    original = _ORIGINALS[function]

    @functools.wraps(original)
    def in_place(*args: Any, **kwargs: Any) -> Any:
        handed: list[np.ndarray] = []
        args = tuple(_view(a, handed) for a in args)
        kwargs = {k: _view(v, handed) for k, v in kwargs.items()}
        try:
            return plain(original(*args, **kwargs))
        finally:
            for view in handed:
                view.flags.writeable = False

    return in_place


def _view(value: Any, handed: list) -> Any:
    """A view of an array (recorded in ``handed``), or tuple of them; anything else as is."""
    if isinstance(value, _ndarray):
        view = value.view()
        handed.append(view)
        return view
    if type(value) is tuple:
        return tuple(_view(v, handed) for v in value)
    return value


def _guardable(value: Any) -> TypeGuard[Callable[..., Any]]:
    """A function, method, ``functools.partial`` or callable instance of a class defined in
    the notebook: whatever an answer can bind to a task's name and the tests then call.
    Classes and other objects (modules, Keras models, arrays) are not."""
    try:
        if isinstance(value, type) or _is_guarded(value):
            return False
        if isinstance(value, _FUNCTION_TYPES):
            return True
        return callable(value) and getattr(type(value), "__module__", None) == "__main__"
    except Exception:  # noqa: BLE001 - an object that resists inspection (a raising
        return callable(value)  # __class__ property...) is wrapped if it can be called


def guard_answers(namespace: dict, names: Iterable[str]) -> list[str]:
    """Wrap the callables ``names`` of ``namespace`` with :func:`guard_answer` (see
    :func:`_guardable`). Returns the names that were wrapped; run it again after any cell
    that may rebind them, and a name rebound to an unwrapped callable is wrapped again."""
    wrapped = []
    for name in names:
        value = namespace.get(name)
        if _guardable(value):
            namespace[name] = guard_answer(value)
            wrapped.append(name)
    return wrapped
