"""Per-layer statistics of a Keras model on a batch: activations and gradient norms.

``activation_stats`` runs a batch through a Sequential model or functional chain layer by layer
(inference mode) and summarises each output (mean, std, saturated and dead fractions);
``gradient_norms`` measures the loss gradient of each kernel with ``tf.GradientTape``.
Keras and TensorFlow are imported when a function is called, not on import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from dnnkit._checks import check_bool, check_in_range

if TYPE_CHECKING:
    import keras

__all__ = ["activation_stats", "gradient_norms"]


def _activation_name(layer: keras.layers.Layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)


def activation_stats(
    model: keras.Model, x: ArrayLike, *, saturation: float = 0.99
) -> list[dict[str, Any]]:
    """Statistics of every layer's output on the batch ``x`` (inference mode).

    Parameters
    ----------
    model : keras.Model, a Sequential model or functional chain
    x : (m, ...) array, a batch of inputs
    saturation : float in (0.5, 1) for sigmoid, (0, 1) for tanh

    Returns
    -------
    list of dicts, one per layer (input layer excluded), with keys

    - ``name``: the layer's name;
    - ``mean``, ``std``: of all the output's elements;
    - ``saturated_fraction``: fraction of outputs in a flat region of the layer's activation:
      ``a > saturation`` or ``a < 1 - saturation`` for sigmoid, ``|a| > saturation`` for tanh;
      NaN for layers whose activation is neither (not applicable);
    - ``dead_fraction``: fraction of units (features of the last axis) whose output is exactly
      0 for every example of the batch: dead ReLUs (0 for layers that never output 0).
    """
    import keras

    from dnnkit.models import layer_chain

    saturation = check_in_range("saturation", saturation, 0, 1, low_open=True, high_open=True)
    stats = []
    out = x
    for layer in layer_chain(model):
        out = layer(out, training=False)
        a = keras.ops.convert_to_numpy(out).astype(np.float64)
        kind = _activation_name(layer)
        if kind == "sigmoid":
            saturated = np.mean((a > saturation) | (a < 1 - saturation))
        elif kind == "tanh":
            saturated = np.mean(np.abs(a) > saturation)
        else:
            saturated = np.nan
        per_unit = a.reshape(-1, a.shape[-1])
        stats.append(
            {
                "name": layer.name,
                "mean": float(a.mean()),
                "std": float(a.std()),
                "saturated_fraction": float(saturated),
                "dead_fraction": float(np.mean(np.all(per_unit == 0, axis=0))),
            }
        )
    return stats


def gradient_norms(
    model: keras.Model,
    x: ArrayLike,
    y: ArrayLike,
    loss_fn: str | Callable[[Any, Any], Any],
    *,
    training: bool = True,
) -> dict[str, float]:
    """L2 norm of the loss gradient w.r.t. each layer's kernel, computed with tf.GradientTape.

    Parameters
    ----------
    model : keras.Model
    x, y : a batch of inputs and targets
    loss_fn : callable ``loss_fn(y_true, y_pred)`` or a Keras loss name (e.g. "mse")
        A per-example result is averaged over the batch.
    training : bool
        Mode of the forward pass (True: dropout active, BN uses batch statistics, as in ``fit``).

    Returns
    -------
    dict mapping each layer name (of the layers that have a ``kernel``) to a float
    """
    import keras
    import tensorflow as tf

    training = check_bool("training", training)
    loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
    layers = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    if not layers:
        raise ValueError(f"model {model.name!r} has no layer with a kernel")
    kernels = [layer.kernel.value for layer in layers]
    with tf.GradientTape() as tape:
        tape.watch(kernels)
        loss = tf.reduce_mean(loss_fn(y, model(x, training=training)))
    grads = tape.gradient(loss, kernels)
    return {
        layer.name: float(tf.norm(g)) if g is not None else 0.0
        for layer, g in zip(layers, grads, strict=True)
    }
