"""Gradient clipping: NumPy reference functions and a clipped Keras/TensorFlow training step.

Semantics of ``tf.clip_by_value``, ``tf.clip_by_norm`` and ``tf.clip_by_global_norm``, i.e. of a
Keras optimizer's ``clipvalue``, ``clipnorm`` (each variable by its own norm) and
``global_clipnorm`` (all variables by their joint norm). Thresholds must be positive (Keras
silently ignores a zero or negative one). TensorFlow is imported only by the training step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dnnkit._checks import check_one_of, check_positive

if TYPE_CHECKING:
    import keras

#: A gradient: one array, or a list of arrays (``None`` entries allowed, as in TensorFlow).
Gradients = ArrayLike | Sequence[ArrayLike | None]

__all__ = [
    "CLIP_MODES",
    "clip_by_value",
    "clip_by_norm",
    "clip_by_global_norm",
    "global_norm",
    "make_clipped_train_step",
]

#: The ``clip`` arguments :func:`make_clipped_train_step` accepts (``None``: no clipping).
CLIP_MODES = ("global_norm", "norm", "value", None)


def _as_float_array(grad: Any, name: str = "grad") -> NDArray[np.floating]:
    """``grad`` as a float array (float64 unless it already is a float array)."""
    if grad is None or isinstance(grad, str | bytes | dict | set):
        raise ValueError(f"{name}={grad!r} is not a gradient; expected a numeric array")
    try:
        array = np.asarray(grad)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={grad!r} is not a gradient; expected a numeric array") from None
    if np.issubdtype(array.dtype, np.floating):
        return array
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} has dtype {array.dtype}; expected a numeric (float) array")
    return array.astype(np.float64)


def _as_gradient_list(grads: Any, name: str = "grads") -> list[NDArray[np.floating] | None]:
    """A list or tuple of arrays (``None`` entries kept, as TensorFlow allows) as a list."""
    if not isinstance(grads, list | tuple):
        raise ValueError(
            f"{name} of type {type(grads).__name__} is not a list; expected a list of arrays"
        )
    return [None if g is None else _as_float_array(g, f"{name}[{i}]") for i, g in enumerate(grads)]


@overload
def clip_by_value(
    grads: list[ArrayLike | None] | tuple[ArrayLike | None, ...], clip_value: float
) -> list[NDArray[np.floating] | None]: ...
@overload
def clip_by_value(grads: ArrayLike, clip_value: float) -> NDArray[np.floating]: ...
def clip_by_value(grads: Gradients, clip_value: float) -> Any:
    """Clip every entry to ``[-clip_value, clip_value]`` (a Keras optimizer's ``clipvalue``).

    Parameters
    ----------
    grads : array of any shape, or list of arrays (``None`` entries are passed through)
    clip_value : float > 0

    Returns
    -------
    clipped : array, or list of arrays, with the shapes of ``grads``
        Changes the direction of the gradient when some but not all entries are clipped.
    """
    clip_value = check_positive("clip_value", clip_value)
    if isinstance(grads, list | tuple):
        return [
            None if g is None else np.clip(g, -clip_value, clip_value)
            for g in _as_gradient_list(grads)
        ]
    return np.clip(_as_float_array(grads), -clip_value, clip_value)


def _clip_one_by_norm(g: NDArray[np.floating], clip_norm: float) -> NDArray[np.floating]:
    """``g * clip_norm / max(||g||_2, clip_norm)``: rescaled only when its norm is too large."""
    norm = np.sqrt(np.sum(g * g))
    return g * clip_norm / np.maximum(norm, clip_norm)


class _Unset:
    """Default of a parameter that must be passed (tells "not passed" from an explicit None)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


_REQUIRED: Any = _Unset("<required>")
_OLD_NAME: Any = _Unset("<unset>")


@overload
def clip_by_norm(
    grads: list[ArrayLike | None] | tuple[ArrayLike | None, ...],
    clip_norm: float,
    *,
    grad: Any = ...,
) -> list[NDArray[np.floating] | None]: ...
@overload
def clip_by_norm(
    grads: ArrayLike = ..., clip_norm: float = ..., *, grad: Any = ...
) -> NDArray[np.floating]: ...
def clip_by_norm(
    grads: Any = _REQUIRED, clip_norm: Any = _REQUIRED, *, grad: Any = _OLD_NAME
) -> Any:
    """Rescale each array so that its own L2 norm is at most ``clip_norm``.

    ``tf.clip_by_norm`` applied to each array; a Keras optimizer's ``clipnorm`` (per variable).

    Parameters
    ----------
    grads : array of any shape, or list of arrays (each clipped separately; ``None`` kept)
        The gradient(s) to clip, named like the first parameter of the other clipping
        functions.
    clip_norm : float > 0
    grad : array or list of arrays, keyword only
        The older name of ``grads`` (``clip_by_norm(grad=g, clip_norm=1.0)``), still accepted;
        pass one of the two, not both.

    Returns
    -------
    clipped : array, or list of arrays, with the shapes of ``grads``
        Keeps each array's direction; arrays with norm ``<= clip_norm`` are unchanged.
    """
    if grad is not _OLD_NAME:
        if grads is not _REQUIRED:
            raise ValueError(
                "clip_by_norm got both grads= and grad= (its older name); expected only one"
            )
        grads = grad
    if grads is _REQUIRED or clip_norm is _REQUIRED:
        missing = "grads" if grads is _REQUIRED else "clip_norm"
        raise TypeError(f"clip_by_norm() missing required argument: {missing!r}")
    clip_norm = check_positive("clip_norm", clip_norm)
    if isinstance(grads, list | tuple):
        return [
            None if g is None else _clip_one_by_norm(g, clip_norm)
            for g in _as_gradient_list(grads, "grads")
        ]
    return _clip_one_by_norm(_as_float_array(grads, "grads"), clip_norm)


def global_norm(grads: Gradients) -> float:
    """``sqrt(sum_i ||g_i||_2^2)``, the L2 norm of all arrays viewed as one vector.

    Parameters
    ----------
    grads : list of arrays of any shapes (``None`` entries are skipped), or a single array
    """
    arrays = _as_gradient_list(grads if isinstance(grads, list | tuple) else [grads])
    squares = [np.sum(np.square(g, dtype=np.float64)) for g in arrays if g is not None]
    return float(np.sqrt(np.sum(squares)))


def clip_by_global_norm(
    grads: Sequence[ArrayLike | None], clip_norm: float
) -> tuple[list[NDArray[np.floating] | None], float]:
    """Rescale all arrays by one factor so that their global norm is at most ``clip_norm``.

    ``tf.clip_by_global_norm`` semantics (a Keras optimizer's ``global_clipnorm``): every array
    is multiplied by ``clip_norm / max(global_norm, clip_norm)``, which keeps the direction of
    the whole gradient. If the global norm is infinite or NaN every entry becomes NaN, as in TF.

    Parameters
    ----------
    grads : list of arrays of any shapes (``None`` entries are passed through)
    clip_norm : float > 0

    Returns
    -------
    clipped : list of arrays, the shapes of ``grads``
    global_norm : float
        The norm *before* clipping.
    """
    clip_norm = check_positive("clip_norm", clip_norm)
    arrays = _as_gradient_list(grads)
    norm = global_norm(arrays)
    scale = clip_norm / max(norm, clip_norm) if math.isfinite(norm) else math.nan
    return [None if g is None else (g * scale).astype(g.dtype) for g in arrays], norm


def make_clipped_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: Callable[[Any, Any], Any],
    *,
    clip: str | None = "global_norm",
    threshold: float = 1.0,
) -> Callable[[Any, Any], tuple[Any, Any]]:
    """A ``tf.function`` training step that clips the gradients before applying them.

    Parameters
    ----------
    model : keras.Model
        Its ``trainable_variables`` are updated; its ``losses`` (regularization) are added.
    optimizer : keras.optimizers.Optimizer
        Give it no ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` of its own, or the
        gradients are clipped twice.
    loss_fn : callable ``loss_fn(y_true, y_pred) -> scalar``, e.g. a ``keras.losses.Loss``
    clip : {"global_norm", "norm", "value", None}
        ``tf.clip_by_global_norm``, ``tf.clip_by_norm`` per variable, ``tf.clip_by_value``,
        or no clipping.
    threshold : float > 0
        ``clip_norm`` or ``clip_value``; ignored when ``clip`` is None.

    Returns
    -------
    step : tf.function ``step(x, y) -> (loss, grad_norm)``
        ``x``: a batch of inputs, ``y``: its targets. ``loss``: scalar loss of the batch before
        the update; ``grad_norm``: the global L2 norm of the gradients *before* clipping.
    """
    check_one_of("clip", clip, CLIP_MODES)
    if clip is not None:
        threshold = check_positive("threshold", threshold)
    if not callable(loss_fn):
        raise ValueError(
            f"loss_fn={loss_fn!r} is not allowed; expected a callable loss_fn(y_true, y_pred)"
        )

    import tensorflow as tf  # imported here: the NumPy functions above do not need it

    def clip_gradients(grads: list[Any]) -> list[Any]:
        if clip == "global_norm":
            return tf.clip_by_global_norm(grads, threshold)[0]
        if clip == "norm":
            return [None if g is None else tf.clip_by_norm(g, threshold) for g in grads]
        if clip == "value":
            return [
                None if g is None else tf.clip_by_value(g, -threshold, threshold) for g in grads
            ]
        return grads

    @tf.function
    def step(x: Any, y: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        grad_norm = tf.linalg.global_norm(grads)
        optimizer.apply_gradients(zip(clip_gradients(grads), variables, strict=True))
        return loss, grad_norm

    return step
