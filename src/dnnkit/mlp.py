"""A fully connected network in NumPy: forward and backward passes, per-layer statistics.

The network chapter 1 and exercise 1 use to watch gradients vanish or explode: the same
activation (a function of ``dnnkit.activations``) on every layer, ``z_i = a_{i-1} W_i + b_i``.
Importing this module does not import TensorFlow, Keras or matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dnnkit._checks import check_one_of

__all__ = ["MLP_ACTIVATIONS", "mlp_forward", "mlp_backward", "layer_stds", "layer_grad_norms"]

#: Activations ``mlp_forward`` accepts (functions of ``dnnkit.activations``, plus "linear").
MLP_ACTIVATIONS = (
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "mish",
    "softplus",
)


Activation = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _identity(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return z


def _ones_like(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.ones_like(z)


def _activation_pair(name: str) -> tuple[Activation, Activation]:
    """``(f, f_grad)`` for an activation name of MLP_ACTIVATIONS."""
    check_one_of("activation", name, MLP_ACTIVATIONS)
    if name == "linear":
        return _identity, _ones_like
    from dnnkit import activations

    return getattr(activations, name), getattr(activations, f"{name}_grad")


def mlp_forward(
    x: ArrayLike,
    weights: Sequence[ArrayLike],
    biases: Sequence[ArrayLike],
    activation: str = "sigmoid",
) -> tuple[list[NDArray[np.float64]], dict[str, Any]]:
    """Forward pass of a fully connected network with the same activation on every layer.

    ``z_i = a_{i-1} W_i + b_i`` and ``a_i = f(z_i)`` for i = 1..L, with ``a_0 = x``.

    Parameters
    ----------
    x : (m, n_0) float array
        A mini-batch of m examples.
    weights : list of L arrays, ``weights[i]`` of shape (n_i, n_{i+1})
    biases : list of L arrays, ``biases[i]`` of shape (n_{i+1},)
    activation : str, one of ``MLP_ACTIVATIONS``

    Returns
    -------
    activations : list of L arrays ``a_1 .. a_L``, ``a_i`` of shape (m, n_i)
    cache : dict for ``mlp_backward`` (keys ``x, weights, zs, activations, activation``)
    """
    f, _ = _activation_pair(activation)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D (m, n_0) mini-batch; got shape {x.shape}")
    if len(weights) != len(biases) or not weights:
        raise ValueError(
            f"expected as many weight matrices as bias vectors (at least one); "
            f"got {len(weights)} and {len(biases)}"
        )
    a = x
    zs: list[NDArray[np.float64]] = []
    outputs: list[NDArray[np.float64]] = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        w, b = np.asarray(w), np.asarray(b)
        if w.ndim != 2 or w.shape[0] != a.shape[1] or b.shape != (w.shape[1],):
            raise ValueError(
                f"layer {i}: weights[{i}] has shape {w.shape} and biases[{i}] {b.shape}; "
                f"expected ({a.shape[1]}, n) and (n,)"
            )
        z = a @ w + b
        a = f(z)
        zs.append(z)
        outputs.append(a)
    cache = {
        "x": x,
        "weights": [np.asarray(w) for w in weights],
        "zs": zs,
        "activations": outputs,
        "activation": activation,
    }
    return outputs, cache


def mlp_backward(
    dout: ArrayLike, cache: dict[str, Any]
) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
    """Back-propagation through ``mlp_forward``: gradients of ``sum(dout * a_L)``.

    ``delta_L = dout * f'(z_L)``; ``dW_i = a_{i-1}^T delta_i``; ``db_i = sum over the batch of
    delta_i``; ``delta_{i-1} = (delta_i W_i^T) * f'(z_{i-1})``.

    Parameters
    ----------
    dout : (m, n_L) float array, upstream gradient d(loss)/d(a_L)
    cache : dict from ``mlp_forward``

    Returns
    -------
    dweights : list of L arrays shaped like ``weights``
    dbiases : list of L arrays shaped like ``biases``
    """
    _, f_grad = _activation_pair(cache["activation"])
    zs, weights = cache["zs"], cache["weights"]
    inputs = [cache["x"], *cache["activations"][:-1]]  # a_0 .. a_{L-1}
    upstream = np.asarray(dout, dtype=np.float64)
    if upstream.shape != zs[-1].shape:
        raise ValueError(
            f"dout of shape {upstream.shape} is not allowed; expected the output's shape "
            f"{zs[-1].shape}"
        )
    dweights: list[Any] = [None] * len(weights)
    dbiases: list[Any] = [None] * len(weights)
    delta = upstream * f_grad(zs[-1])
    for i in reversed(range(len(weights))):
        dweights[i] = inputs[i].T @ delta
        dbiases[i] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ weights[i].T) * f_grad(zs[i - 1])
    return dweights, dbiases


def layer_stds(arrays: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Standard deviation of each array (over all its elements), e.g. of each layer's output.

    Parameters
    ----------
    arrays : list of L arrays of any shapes

    Returns
    -------
    (L,) float array
    """
    return np.array([np.std(np.asarray(a, dtype=np.float64)) for a in arrays])


def layer_grad_norms(dweights: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Frobenius (L2) norm of each layer's weight gradient.

    Parameters
    ----------
    dweights : list of L arrays (e.g. from ``mlp_backward``)

    Returns
    -------
    (L,) float array
    """
    return np.array([np.linalg.norm(np.asarray(g, dtype=np.float64)) for g in dweights])
