"""Checks that the exercises' test cells call, with messages that read like a teacher's remark.

Every check says which input it tried, what was expected and what came back, where the largest
error is, and adds the test's hint. NumPy only: importing this module never imports TensorFlow.

Integrity guards: a student's code runs in the same kernel as the tests, so the helpers compare
with private references to NumPy taken when this module is imported, and before every check
they verify that NumPy, ``math``, the built-ins and these helpers are still the library's own
objects. If something was replaced from the notebook they raise :class:`IntegrityError` instead
of comparing. (The autograder adds a static check outside the kernel; see
``dnnkit_autograde.checker``.)

In the autograder, tests call answers on copies of their array arguments
(:mod:`dnnkit.answer_guard`); a test of whether an answer leaves its inputs alone calls it
through :func:`uncopied`, which in the student's own run is the answer itself.
"""

from __future__ import annotations

import builtins
import math  # noqa: F401  (watched by the integrity guards)
import os
import sys
import sysconfig
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.linalg  # noqa: F401  (watched by the integrity guards)
import numpy.random  # noqa: F401

from dnnkit._checks import check_nonnegative, check_positive
from dnnkit.answer_guard import uncopied  # for tests of answers that must not change inputs

__all__ = [
    "IntegrityError",
    "check_close",
    "check_equal",
    "check_gradient",
    "check_shape",
    "check_true",
    "numeric_gradient",
    "rel_error",
    "uncopied",
    "verify_integrity",
]


class IntegrityError(Exception):
    """Raised when the notebook changed NumPy, the built-ins or the grading helpers, or when an
    answer breaks the course's integrity rules. It is not an ``AssertionError`` on purpose: a
    test cannot swallow it by catching failed assertions."""


# ---------------------------------------------------------------------------------------------
# Private references, taken at import time (the set-up cell imports this module before any
# answer runs), so that a notebook that rebinds ``np.allclose`` cannot change these checks.
# ---------------------------------------------------------------------------------------------
_asarray = np.asarray
_array = np.array
_abs = np.abs
_isfinite = np.isfinite
_isnan = np.isnan
_argmax = np.argmax
_unravel_index = np.unravel_index
_ndindex = np.ndindex
_float64 = np.float64
_ndarray = np.ndarray
_isinstance = builtins.isinstance
_type = builtins.type
_len = builtins.len
_float = builtins.float
_getframe = sys._getframe

_PREVIEW_SIZE = 12  # arrays up to this many values are printed in full in a message


# --------------------------------------------------------------------------------- formatting
def _fmt_index(index: tuple[Any, ...]) -> str:
    """``(1, 2)`` -> ``"[1, 2]"``; ``()`` (a scalar) -> ``""``."""
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if _len(index) else ""


def _fmt_value(value: Any) -> str:
    return f"{_float(value):.6g}"


def _fmt_array(a: np.ndarray) -> str:
    if a.ndim == 0:
        return _fmt_value(a)
    return np.array2string(a, precision=6, separator=", ", max_line_width=90)


def _with_hint(message: str, hint: str | None) -> str:
    return message if not hint else f"{message}\nHint: {hint}"


def _describe(value: object) -> str:
    name = _type(value).__name__
    return "None" if value is None else f"a {name}"


# ------------------------------------------------------------------------------- conversion
def _to_float_array(name: str, value: Any, role: str, hint: str | None) -> np.ndarray:
    """Return ``value`` as a new float64 array, or fail with a teacher's message.

    ``role`` is "got" (the student's value: AssertionError) or "expected" (the test's own
    value: ValueError, a bug in the test).
    """
    error = AssertionError if role == "got" else ValueError
    if value is None:
        msg = f"{name}: expected an array of numbers, got None."
        if role == "got":
            msg += " Did you forget the `return` statement?"
        raise error(_with_hint(msg, hint))
    if _isinstance(value, (str, bytes, dict, set)):
        raise error(
            _with_hint(f"{name}: expected an array of numbers, got {_describe(value)}.", hint)
        )
    try:
        raw = _asarray(value)
        if raw.dtype.kind == "c":
            raise error(_with_hint(f"{name}: expected real numbers, got complex ones.", hint))
        # A copy with the base class (subok=False): a subclass cannot change how we compare.
        arr = _array(raw, dtype=_float64, copy=True, subok=False)
    except (TypeError, ValueError) as exc:
        raise error(
            _with_hint(
                f"{name}: expected an array of numbers, got {_describe(value)} that NumPy cannot "
                f"turn into one ({exc}).",
                hint,
            )
        ) from None
    if _type(arr) is not _ndarray:  # pragma: no cover - defensive
        raise IntegrityError(f"{name}: the value could not be turned into a plain NumPy array.")
    return arr


# ------------------------------------------------------------------------------------ checks
def check_close(
    name: str,
    got: Any,
    expected: Any,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    hint: str | None = None,
) -> None:
    """Check that ``got`` equals ``expected`` up to a tolerance, like ``np.allclose``.

    Checks, in this order, that ``got`` is an array of numbers, that its shape is the
    expected one, that its values are finite where the expected ones are, and that every value
    satisfies ``|got - expected| <= atol + rtol * |expected|``.

    Parameters
    ----------
    name : str
        What is being checked, with the input, e.g. ``"gelu(z) for z = linspace(-3, 3, 7)"``.
    got : array-like (any shape), a NumPy array, list, scalar or tensor
        The value the student's code returned.
    expected : array-like of the same shape
        The reference value.
    rtol, atol : float
        Relative and absolute tolerances.
    hint : str, optional
        A sentence added to the failure message ("did you average over axis 0?").

    Raises
    ------
    AssertionError
        With a message naming the input, expected vs got and the largest error.
    """
    caller = _getframe(1).f_globals
    _guard(caller)
    check_nonnegative("rtol", rtol)
    check_nonnegative("atol", atol)
    expected = _to_float_array(name, expected, "expected", hint)
    got = _to_float_array(name, got, "got", hint)
    _guard(caller)  # turning `got` into an array may have run code from the notebook
    _compare_close(name, got, expected, rtol=rtol, atol=atol, hint=hint)


def _compare_close(
    name: str, got: np.ndarray, expected: np.ndarray, *, rtol: float, atol: float, hint: str | None
) -> None:
    if got.shape != expected.shape:
        raise AssertionError(
            _with_hint(f"{name}: expected shape {expected.shape}, got shape {got.shape}.", hint)
        )
    _check_finite(name, got, expected, hint)
    g, e = got.reshape(-1), expected.reshape(-1)  # flat views; indices are unravelled below
    with np.errstate(all="ignore"):  # a warning would print to stderr, which fails the cell
        err = _abs(g - e)
        err[(_isnan(g) & _isnan(e)) | (~_isfinite(e) & (g == e))] = 0.0  # same NaN / same inf
        tol = atol + rtol * _abs(np.where(_isfinite(e), e, 0.0))
        bad = err > tol
        if not bad.any():
            return
        flat = int(_argmax(np.where(bad, err - tol, -1.0)))
        rel = err[flat] / _abs(e[flat]) if e[flat] != 0 else np.inf
    worst = _unravel_index(flat, got.shape)
    where = f" at index {_fmt_index(worst)}" if got.ndim else ""
    lines = [
        f"{name}: {int(bad.sum())} of {bad.size} values differ from the expected ones.",
        f"  largest error{where}: expected {_fmt_value(e[flat])}, got {_fmt_value(g[flat])} "
        f"(absolute error {_fmt_value(err[flat])}, relative error {_fmt_value(rel)}; "
        f"tolerance rtol={rtol:g}, atol={atol:g})",
    ]
    if 0 < got.size <= _PREVIEW_SIZE:
        lines.append(f"  expected: {_fmt_array(expected)}")
        lines.append(f"  got:      {_fmt_array(got)}")
    raise AssertionError(_with_hint("\n".join(lines), hint))


def _check_finite(name: str, got: np.ndarray, expected: np.ndarray, hint: str | None) -> None:
    """NaN or inf in ``got`` where ``expected`` has a finite value."""
    wrong = (~_isfinite(got)) & _isfinite(expected)
    if not wrong.any():
        return
    first = _unravel_index(int(_argmax(wrong)), wrong.shape)
    where = f" at index {_fmt_index(first)}" if wrong.ndim else ""
    raise AssertionError(
        _with_hint(
            f"{name}: {int(wrong.sum())} of {wrong.size} values are not finite "
            f"(got {_fmt_value(got[first])}{where}, expected {_fmt_value(expected[first])}). "
            "Look for an overflow (np.exp of a large number) or a division by zero.",
            hint,
        )
    )


def check_equal(name: str, got: Any, expected: Any, hint: str | None = None) -> None:
    """Check that ``got`` equals ``expected`` exactly.

    Numbers compare by value (``3 == 3.0``), strings and booleans must have the expected type,
    tuples and lists are compared item by item (either kind is accepted), dicts key by key, and
    arrays by shape and then value by value.

    Parameters
    ----------
    name : str
        What is being checked, with the input, e.g. ``"compute_fans((3, 3, 16, 32))"``.
    got : object
        The value the student's code returned.
    expected : number, str, bool, None, tuple, list, dict or array
        The reference value.
    hint : str, optional
        A sentence added to the failure message.
    """
    caller = _getframe(1).f_globals
    _guard(caller)
    problem = _difference(got, expected, "")
    _guard(caller)
    if problem is not None:
        raise AssertionError(_with_hint(f"{name}: {problem}", hint))


def _is_number(value: object) -> bool:
    """Python ints and floats (not subclasses, not bool) and NumPy integers and floats."""
    return _type(value) in (int, float) or _isinstance(value, (np.integer, np.floating))


def _difference(got: Any, expected: Any, path: str) -> str | None:
    """Describe how ``got`` differs from ``expected`` (None when they are equal)."""
    at = f" at {path}" if path else ""
    if expected is None:
        return None if got is None else f"expected None{at}, got {got!r}."
    if _isinstance(expected, (bool, np.bool_)):
        return _bool_difference(got, expected, at)
    if _isinstance(expected, str):
        return _str_difference(got, expected, at)
    if _is_number(expected):
        return _number_difference(got, expected, at)
    if _isinstance(expected, dict):
        return _dict_difference(got, expected, path)
    if _isinstance(expected, (tuple, list)) and not _isinstance(got, _ndarray):
        return _sequence_difference(got, expected, path)
    if _isinstance(expected, (_ndarray, tuple, list)):
        return _array_difference(got, _asarray(expected), at)
    # Anything else: the test's own value decides, through its own __eq__.
    return None if expected == got else f"expected {expected!r}{at}, got {got!r}."


def _bool_difference(got: Any, expected: Any, at: str) -> str | None:
    if not _isinstance(got, (bool, np.bool_)):
        return f"expected the boolean {bool(expected)}{at}, got {_describe(got)} ({got!r})."
    return (
        None if bool(got) == bool(expected) else f"expected {bool(expected)}{at}, got {bool(got)}."
    )


def _str_difference(got: Any, expected: str, at: str) -> str | None:
    if not _isinstance(got, str):
        return f"expected the string {expected!r}{at}, got {_describe(got)} ({got!r})."
    got = str.__str__(got)  # an exact str, whatever subclass came back
    return None if got == expected else f"expected {expected!r}{at}, got {got!r}."


def _number_difference(got: Any, expected: Any, at: str) -> str | None:
    if not _is_number(got):
        return f"expected the number {expected!r}{at}, got {_describe(got)} ({got!r})."
    if _float(got) == _float(expected) and (
        not _isinstance(expected, (int, np.integer)) or _float(got).is_integer()
    ):
        return None
    return f"expected {expected!r}{at}, got {got!r}."


def _dict_difference(got: Any, expected: dict[Any, Any], path: str) -> str | None:
    at = f" at {path}" if path else ""
    if not _isinstance(got, dict):
        return f"expected a dict{at}, got {_describe(got)}."
    if set(got) != set(expected):
        missing = sorted(map(repr, set(expected) - set(got)))
        extra = sorted(map(repr, set(got) - set(expected)))
        return f"the keys{at} differ: missing {missing}, unexpected {extra}."
    for key in expected:
        problem = _difference(got[key], expected[key], f"{path}[{key!r}]")
        if problem is not None:
            return problem
    return None


def _sequence_difference(got: Any, expected: tuple[Any, ...] | list[Any], path: str) -> str | None:
    at = f" at {path}" if path else ""
    if not _isinstance(got, (tuple, list)):
        return f"expected a {_type(expected).__name__} of {_len(expected)} items{at}, got {_describe(got)}."
    if _len(got) != _len(expected):
        return f"expected {_len(expected)} items{at}, got {_len(got)}: {got!r}."
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        problem = _difference(g, e, f"{path}[{i}]")
        if problem is not None:
            return problem
    return None


def _array_difference(got: Any, expected: np.ndarray, at: str) -> str | None:
    try:
        got = _array(got, copy=True, subok=False)
    except (TypeError, ValueError):
        return f"expected an array{at}, got {_describe(got)}."
    if got.shape != expected.shape:
        return f"expected shape {expected.shape}{at}, got shape {got.shape}."
    if got.dtype.kind not in "biuf" or expected.dtype.kind not in "biuf":
        equal = got == expected
    else:
        equal = (got == expected) | (_isnan(got.astype(float)) & _isnan(expected.astype(float)))
    if bool(np.all(equal)):
        return None
    wrong = ~_asarray(equal, dtype=bool)
    first = _unravel_index(int(_argmax(wrong)), wrong.shape)
    where = f" at index {_fmt_index(first)}" if wrong.ndim else ""
    msg = (
        f"{int(wrong.sum())} of {wrong.size} values differ{at}; first difference{where}: "
        f"expected {expected[first].item()!r}, got {got[first].item()!r}."
    )
    if 0 < got.size <= _PREVIEW_SIZE:
        msg += f"\n  expected: {expected.tolist()}\n  got:      {got.tolist()}"
    return msg


def check_shape(name: str, got: Any, shape: Sequence[int | None], hint: str | None = None) -> None:
    """Check the shape of an array (or of anything NumPy can turn into an array).

    Parameters
    ----------
    name : str
        What is being checked.
    got : array-like or tensor
        The value the student's code returned.
    shape : tuple of int or None
        The expected shape; ``None`` in a position accepts any size there, e.g. ``(None, 10)``.
    hint : str, optional
        A sentence added to the failure message.
    """
    caller = _getframe(1).f_globals
    _guard(caller)
    if got is None:
        raise AssertionError(
            _with_hint(f"{name}: expected an array of shape {tuple(shape)}, got None.", hint)
        )
    try:
        actual = _array(got, copy=True, subok=False).shape
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            _with_hint(f"{name}: expected an array, got {_describe(got)} ({exc}).", hint)
        ) from None
    _guard(caller)
    shape = tuple(shape)
    fits = _len(actual) == _len(shape) and all(
        s is None or int(s) == a for s, a in zip(shape, actual, strict=True)
    )
    if not fits:
        sizes = ["any" if s is None else str(s) for s in shape]
        wanted = "(" + ", ".join(sizes) + ("," if _len(sizes) == 1 else "") + ")"  # like (3,)
        raise AssertionError(_with_hint(f"{name}: expected shape {wanted}, got {actual}.", hint))


def check_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` is the boolean ``True``.

    ``condition`` must be a ``bool`` (or a NumPy boolean): a test that passes something else is
    wrong, and a ``TypeError`` says so.
    """
    _guard(_getframe(1).f_globals)
    if not _isinstance(condition, (bool, np.bool_)):
        raise TypeError(
            f"check_true needs a bool, got {_describe(condition)}; wrap the test in bool(...) "
            "or compare explicitly."
        )
    if not bool(condition):
        raise AssertionError(message)


def rel_error(x: Any, y: Any) -> float:
    """Largest relative error between two arrays (the CS231n definition).

    ``max |x - y| / max(1e-8, |x| + |y|)``, elementwise then the maximum, as a float.

    Parameters
    ----------
    x, y : array-like of the same shape
    """
    _guard(_getframe(1).f_globals)
    return _rel_error(x, y)


def _rel_error(x: Any, y: Any) -> float:
    x = _array(x, dtype=_float64, subok=False)
    y = _array(y, dtype=_float64, subok=False)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs arrays of the same shape, got {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        return _float(np.max(_abs(x - y) / np.maximum(1e-8, _abs(x) + _abs(y))))


# -------------------------------------------------------------------------------- gradients
def numeric_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, df: Any = None, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * df)`` with respect to ``x`` by centred differences.

    ``(g(x + h e_i) - g(x - h e_i)) / (2 h)`` for every entry ``i`` of ``x``, where
    ``g(x) = sum(f(x) * df)``. ``x`` is changed in place while the function runs and restored
    afterwards.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns an array (any shape) or a number.
    x : float64 ndarray, any shape
        The point at which the gradient is taken.
    df : ndarray of the shape of ``f(x)``, optional
        The upstream gradient; ones when omitted (the gradient of ``sum(f(x))``).
    h : float
        The step.

    Returns
    -------
    grad : float64 ndarray of the shape of ``x``
    """
    caller = _getframe(1).f_globals
    _guard(caller)
    grad = _numeric_gradient(f, x, df, h)
    _guard(caller)  # f is the notebook's code
    return grad


def _numeric_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, df: Any, h: float
) -> np.ndarray:
    if not _isinstance(x, _ndarray) or x.dtype != _float64:
        got = x.dtype if _isinstance(x, _ndarray) else _type(x).__name__
        raise ValueError(
            f"numeric_gradient needs x as a float64 ndarray (finite differences in lower "
            f"precision are noise), got {got}; pass x.astype(np.float64)"
        )
    check_positive("h", h)
    if df is not None:
        df = _array(df, dtype=_float64, subok=False)
    grad = np.zeros_like(x)
    for index in _ndindex(x.shape):
        old = x[index]
        try:
            x[index] = old + h
            plus = _weighted_sum(f(x), df)
            x[index] = old - h
            minus = _weighted_sum(f(x), df)
        finally:
            x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def _weighted_sum(out: Any, df: np.ndarray | None) -> float:
    out = _array(out, dtype=_float64, copy=True, subok=False)
    if df is None:
        return _float(out.sum())
    if out.shape != df.shape:
        raise ValueError(f"df must have the shape of f(x), {out.shape}, got {df.shape}")
    return _float((out * df).sum())


def check_gradient(
    name: str,
    f: Callable[[np.ndarray], Any],
    x: np.ndarray,
    analytic: Any,
    df: Any = None,
    *,
    h: float = 1e-5,
    tol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Compare an analytic gradient with centred finite differences.

    Passes when every entry satisfies ``|analytic - numeric| <= tol * (|analytic| + |numeric|)
    + atol``: a relative test, with a small absolute floor for entries whose true gradient is
    zero (where finite differences return noise of order 1e-11).

    Parameters
    ----------
    name : str
        What is being checked, e.g. ``"dx of batchnorm_backward (m=4, n=5)"``.
    f : callable
        ``f(x)`` returns an array or number; see :func:`numeric_gradient`.
    x : float64 ndarray, any shape
    analytic : array-like of the shape of ``x``
        The student's gradient of ``sum(f(x) * df)`` with respect to ``x``.
    df : ndarray of the shape of ``f(x)``, optional
        The upstream gradient (ones when omitted).
    h : float
        Finite-difference step.
    tol, atol : float
        Relative and absolute tolerances.

    Returns
    -------
    None
        Like every ``check_*`` helper. (A test cell whose last line evaluates to a number is
        read by nbgrader as partial credit, so checks never return values.)
    """
    caller = _getframe(1).f_globals
    _guard(caller)
    analytic = _to_float_array(name, analytic, "got", None)
    numeric = _numeric_gradient(f, x, df, h)
    _guard(caller)  # f is the notebook's code
    if analytic.shape != numeric.shape:
        raise AssertionError(
            f"{name}: the gradient must have the shape of the input {numeric.shape}, got "
            f"{analytic.shape}."
        )
    _check_finite(name, analytic, numeric, None)
    with np.errstate(all="ignore"):
        err = _abs(analytic - numeric)
        bad = err > tol * (_abs(analytic) + _abs(numeric)) + atol
        error = _rel_error(analytic, numeric)
        if not bad.any():
            return None
        worst = _unravel_index(int(_argmax(np.where(bad, err, -1.0))), err.shape)
        where = f" at index {_fmt_index(worst)}" if err.ndim else ""
        lines = [
            f"{name}: the gradient does not match finite differences in {int(bad.sum())} of "
            f"{bad.size} entries (relative error {error:.2e}, tolerance {tol:g}).",
            f"  largest difference{where}: numeric {_fmt_value(numeric[worst])}, yours "
            f"{_fmt_value(analytic[worst])}",
        ]
        if 0 < err.size <= _PREVIEW_SIZE:
            lines.append(f"  numeric: {_fmt_array(numeric)}")
            lines.append(f"  yours:   {_fmt_array(analytic)}")
        if (
            _abs(analytic + numeric).max() <= atol + tol * _abs(numeric).max()
            and _abs(numeric).max() > 0
        ):
            lines.append("  (yours is the negative of the numeric gradient: check the sign)")
    raise AssertionError("\n".join(lines))


# ------------------------------------------------------------------------- integrity guards
# Modules whose public callables must stay the library's own objects. Those loaded when this
# module is imported are snapshotted then; the others when ``verify_integrity`` first sees them
# (the autograder calls it right after the set-up cell).
_WATCHED = (
    "builtins",
    "math",
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "numpy.testing",
    "keras",
    "keras.ops",
    "keras.activations",
    "keras.layers",
    "keras.initializers",
    "keras.optimizers",
    "keras.losses",
    "keras.models",
    "tensorflow",
    "tensorflow.math",
    "tensorflow.nn",
)
# Modules whose numeric constants are watched too (``np.pi = 3`` would change both sides).
_CONSTANTS_WATCHED = frozenset({"math", "numpy"})
# IPython puts these names in the user namespace with values other than the built-ins.
_IPYTHON_NAMES = frozenset(
    {"open", "exit", "quit", "get_ipython", "_", "__", "___", "In", "Out"}
    | {"__doc__", "__loader__", "__name__", "__package__", "__spec__", "__builtins__"}
)
_snapshots: dict[str, _Snapshot] = {}


def _trusted_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # src/ of dnnkit
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots if r))


_TRUSTED_ROOTS = _trusted_roots()


def _functions_of(value: Any) -> list[types.FunctionType]:
    """The Python functions behind a module attribute (numpy wraps many in a dispatcher)."""
    functions: list[Any] = [value]
    if _type(value).__name__ == "_ArrayFunctionDispatcher":
        functions.append(getattr(value, "_implementation", None))
    return [fn for fn in functions if _isinstance(fn, types.FunctionType)]


# Built-ins that IPython and ipykernel set themselves (``input`` is swapped at every cell).
_KERNEL_BUILTINS = frozenset(
    {"input", "raw_input", "getpass", "display", "get_ipython", "help", "exit", "quit"}
    | {"breakpoint", "copyright", "credits", "license", "_"}
)


def _watched_value(module_name: str, key: str, value: object) -> bool:
    if key.startswith("__") or _isinstance(value, types.ModuleType):
        return False
    if module_name == "builtins" and key in _KERNEL_BUILTINS:
        return False  # still checked: a function from the notebook there is refused
    if callable(value):
        return True
    return module_name in _CONSTANTS_WATCHED and _isinstance(value, (int, float, complex))


class _Snapshot:
    """A module's watched attributes: the objects, and for Python functions their code and
    default arguments (``f.__defaults__ = ...`` changes a function in place)."""

    def __init__(self, module_name: str, module: types.ModuleType) -> None:
        namespace = dict(vars(module))
        self.values = {k: v for k, v in namespace.items() if _watched_value(module_name, k, v)}
        # Keys not in ``self.keys`` are checked for notebook code at every call.
        volatile = _KERNEL_BUILTINS if module_name == "builtins" else frozenset()
        self.keys = frozenset(namespace) - volatile
        self.functions = [
            (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__)
            for value in self.values.values()
            for fn in _functions_of(value)
        ]

    def changed(self, namespace: dict[str, Any]) -> str | None:
        """Describe the first attribute that changed, or None."""
        for key, value in self.values.items():
            if namespace.get(key) is not value:
                return f"{key} was replaced"
        for fn, code, defaults, kwdefaults in self.functions:
            if (
                fn.__code__ is not code
                or fn.__defaults__ is not defaults
                or fn.__kwdefaults__ is not kwdefaults
            ):
                return f"{fn.__name__} was modified"
        for key in namespace.keys() - self.keys:  # attributes added since the snapshot
            if _is_foreign(namespace[key]):
                return f"{key} was added"
        return None


def _is_foreign(value: Any) -> bool:
    """True for a function or class defined in the notebook (not in an installed file)."""
    if _isinstance(value, types.FunctionType):
        filename = os.path.realpath(value.__code__.co_filename)
        return not filename.startswith(_TRUSTED_ROOTS)
    if _isinstance(value, type):
        return getattr(value, "__module__", None) == "__main__"
    return False


def _check_module(name: str, module: types.ModuleType) -> None:
    snapshot = _snapshots.get(name)
    if snapshot is None:
        snapshot = _snapshots[name] = _Snapshot(name, module)
    change = snapshot.changed(vars(module))
    if change is not None:
        raise IntegrityError(
            f"{name}.{change} by code in the notebook. The tests do not run with a patched "
            "library: remove that code and restart the kernel."
        )


def _check_namespace(namespace: dict[str, Any]) -> None:
    """The notebook's global names: no built-in hidden, modules are the real ones."""
    real_builtins = vars(builtins)
    for key, value in list(namespace.items()):
        if key in _IPYTHON_NAMES:
            if _is_foreign(value):
                raise IntegrityError(f"`{key}` was redefined by the notebook; rename it.")
            continue
        if key in real_builtins and value is not real_builtins[key]:
            raise IntegrityError(
                f"the notebook defines `{key}`, which hides Python's built-in `{key}` that the "
                "tests use: rename your variable or function and restart the kernel."
            )
        if _isinstance(value, types.ModuleType):
            real = sys.modules.get(value.__name__)
            if real is not None and real is not value:
                raise IntegrityError(
                    f"`{key}` is not the real module {value.__name__!r}; do not replace modules."
                )
    expected = {"np": "numpy", "grading": __name__, "keras": "keras", "tf": "tensorflow"}
    for key, module_name in expected.items():
        if key in namespace and namespace[key] is not sys.modules.get(module_name):
            raise IntegrityError(f"`{key}` is not the real module {module_name!r}.")
    if "__builtins__" in namespace and namespace["__builtins__"] not in (builtins, real_builtins):
        raise IntegrityError("`__builtins__` was replaced by the notebook.")


def verify_integrity(namespace: dict[str, Any] | None = None) -> None:
    """Raise :class:`IntegrityError` if notebook code changed NumPy, ``math``, the built-ins,
    the main Keras/TensorFlow namespaces, a loaded ``dnnkit`` module or these helpers.

    Parameters
    ----------
    namespace : dict, optional
        A notebook's global namespace (``globals()``) to check too: no built-in hidden by a
        notebook name, and ``np``, ``grading``, ``keras``, ``tf`` the real modules.
    """
    names = list(_WATCHED) + sorted(m for m in list(sys.modules) if m.split(".")[0] == "dnnkit")
    for name in names:
        module = sys.modules.get(name)
        if _isinstance(module, types.ModuleType):
            _check_module(name, module)  # type: ignore[arg-type]  # narrowed by _isinstance
    if namespace is not None:
        _check_namespace(namespace)


_GUARDED = (
    "builtins",
    "math",
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "dnnkit._checks",  # the argument checks the helpers call
    __name__,
)


def _guard(caller_globals: dict[str, Any]) -> None:
    """The cheap check run by every helper: against the snapshots taken at import."""
    for name in _GUARDED:
        _check_module(name, sys.modules[name])
    if caller_globals.get("__name__") == "__main__":  # a notebook's namespace
        _check_namespace(caller_globals)


for _module_name in _GUARDED:
    _snapshots[_module_name] = _Snapshot(_module_name, sys.modules[_module_name])
del _module_name
