"""Batch Normalization: NumPy forward/backward and folding BN into neighbouring Dense layers.

Keras convention throughout: ``momentum=0.99`` (weight of the *old* running value),
``eps=1e-3``, and running (moving) variance updated with the *biased* batch variance (divide
by m), whereas Ioffe & Szegedy (2015, Alg. 2) and PyTorch use the unbiased one (divide by m-1).
The NumPy part imports no TensorFlow/Keras; ``fold_batchnorm`` imports Keras when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dnnkit._checks import check_bool, check_in_range, check_positive

if TYPE_CHECKING:
    import keras

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "fuse_dense_batchnorm",
    "fuse_batchnorm_dense",
    "fold_batchnorm",
]


def _check_vector(name: str, value: ArrayLike, n: int) -> NDArray[Any]:
    array = np.asarray(value)
    if array.shape != (n,):
        raise ValueError(
            f"{name} of shape {array.shape} is not allowed; expected shape ({n},), one value "
            "per feature"
        )
    return array


def batchnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    training: bool,
    momentum: float = 0.99,
    eps: float = 1e-3,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], dict[str, NDArray[Any]] | None]:
    """Batch Normalization of a mini-batch, statistics over axis 0 (the batch axis).

    Training: ``mu, var`` are the batch mean and biased variance, ``x_hat = (x - mu) /
    sqrt(var + eps)``, ``out = gamma * x_hat + beta``, and the running statistics move towards
    the batch ones: ``running = momentum * running + (1 - momentum) * batch``.
    Inference: the running statistics replace the batch ones and are returned unchanged.

    Parameters
    ----------
    x : (m, n) float array
        A mini-batch of m examples with n features.
    gamma, beta : (n,) float arrays
        Learned scale and offset.
    running_mean, running_var : (n,) float arrays
        Moving mean and variance (Keras' ``moving_mean`` / ``moving_variance``); not modified.
    training : bool
        Use batch statistics (True) or running statistics (False).
    momentum : float in [0, 1]
        Weight of the old running value (Keras convention; PyTorch's ``momentum`` is 1 - this).
    eps : float > 0
        Added to the variance before the square root.

    Returns
    -------
    out : (m, n) array
    running_mean, running_var : (n,) arrays, the updated (training) or unchanged (inference) copies
    cache : dict for ``batchnorm_backward`` (keys ``x_hat, gamma, inv_std``), None at inference
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x of shape {x.shape} is not allowed; expected a 2-D (m, n) mini-batch")
    n = x.shape[1]
    g, b = _check_vector("gamma", gamma, n), _check_vector("beta", beta, n)
    mean = _check_vector("running_mean", running_mean, n)
    var_ = _check_vector("running_var", running_var, n)
    training = check_bool("training", training)
    momentum = check_in_range("momentum", momentum, 0.0, 1.0)
    eps = check_positive("eps", eps)
    return _forward(x, g, b, mean, var_, training, momentum, eps)


def _forward(
    x: NDArray[Any],
    gamma: NDArray[Any],
    beta: NDArray[Any],
    running_mean: NDArray[Any],
    running_var: NDArray[Any],
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], dict[str, NDArray[Any]] | None]:
    """The equations of :func:`batchnorm_forward`, on checked arguments."""
    if not training:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        return gamma * x_hat + beta, running_mean.copy(), running_var.copy(), None

    mu = x.mean(axis=0)
    var = x.var(axis=0)  # biased (divide by m), as Keras
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    out = gamma * x_hat + beta
    new_mean = momentum * running_mean + (1.0 - momentum) * mu
    new_var = momentum * running_var + (1.0 - momentum) * var
    cache = {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std}
    return out, new_mean, new_var, cache


def batchnorm_backward(
    dout: ArrayLike, cache: dict[str, NDArray[Any]] | None
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Gradients of a training-mode ``batchnorm_forward``.

    With ``g = dout * gamma`` (the gradient w.r.t. ``x_hat``), the batch statistics' own
    dependence on x gives ``dx = inv_std / m * (m g - sum(g) - x_hat * sum(g * x_hat))``.

    Parameters
    ----------
    dout : (m, n) float array
        Upstream gradient d(loss)/d(out).
    cache : dict
        From ``batchnorm_forward(..., training=True)``.

    Returns
    -------
    dx : (m, n) array
    dgamma, dbeta : (n,) arrays
    """
    if cache is None:
        raise ValueError(
            "cache is None: batchnorm_backward needs the cache of a training-mode forward pass"
        )
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    upstream = np.asarray(dout)
    if upstream.shape != x_hat.shape:
        raise ValueError(
            f"dout of shape {upstream.shape} is not allowed; expected the forward output's "
            f"shape {x_hat.shape}"
        )
    m = upstream.shape[0]
    dbeta = upstream.sum(axis=0)
    dgamma = (upstream * x_hat).sum(axis=0)
    g = upstream * gamma
    dx = inv_std / m * (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def _bn_scale_shift(
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    moving_mean: ArrayLike,
    moving_variance: ArrayLike,
    eps: float,
    n: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inference BN of n features as an affine map ``y = s * x + t``; gamma/beta None mean 1/0."""
    eps = check_positive("eps", eps)
    mu = _check_vector("moving_mean", moving_mean, n).astype(np.float64)
    var = _check_vector("moving_variance", moving_variance, n).astype(np.float64)
    g = np.ones(n) if gamma is None else _check_vector("gamma", gamma, n).astype(np.float64)
    b = np.zeros(n) if beta is None else _check_vector("beta", beta, n).astype(np.float64)
    s = g / np.sqrt(var + eps)
    return s, b - s * mu


def fuse_dense_batchnorm(
    kernel: ArrayLike,
    bias: ArrayLike | None,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    moving_mean: ArrayLike,
    moving_variance: ArrayLike,
    eps: float = 1e-3,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Fold an inference-mode BN that *follows* a linear Dense layer into that layer.

    ``BN(x W + b) = x (W diag(s)) + (s (b - mu) + beta)`` with ``s = gamma / sqrt(var + eps)``.

    Parameters
    ----------
    kernel : (n_in, n_out) float array
    bias : (n_out,) float array or None (a Dense with ``use_bias=False``)
    gamma, beta : (n_out,) float arrays, or None for a BN with ``scale=False`` / ``center=False``
    moving_mean, moving_variance : (n_out,) float arrays
    eps : float > 0

    Returns
    -------
    kernel : (n_in, n_out) array, bias : (n_out,) array (in the kernel's dtype)
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D (n_in, n_out); got shape {kernel.shape}")
    n_out = kernel.shape[1]
    bias = np.zeros(n_out) if bias is None else _check_vector("bias", bias, n_out)
    s, t = _bn_scale_shift(gamma, beta, moving_mean, moving_variance, eps, n_out)
    new_kernel = kernel * s
    new_bias = s * bias + t
    return new_kernel.astype(kernel.dtype), new_bias.astype(kernel.dtype)


def fuse_batchnorm_dense(
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    moving_mean: ArrayLike,
    moving_variance: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None,
    eps: float = 1e-3,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Fold an inference-mode BN that *precedes* a Dense layer into that layer.

    ``(s x + t) W + b = x (diag(s) W) + (b + t W)`` with ``s = gamma / sqrt(var + eps)`` and
    ``t = beta - s * mu``. Exact whatever the Dense's activation (it acts after the product).

    Parameters
    ----------
    gamma, beta : (n_in,) float arrays, or None for a BN with ``scale=False`` / ``center=False``
    moving_mean, moving_variance : (n_in,) float arrays
    kernel : (n_in, n_out) float array
    bias : (n_out,) float array or None
    eps : float > 0

    Returns
    -------
    kernel : (n_in, n_out) array, bias : (n_out,) array (in the kernel's dtype)
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D (n_in, n_out); got shape {kernel.shape}")
    n_in, n_out = kernel.shape
    bias = np.zeros(n_out) if bias is None else _check_vector("bias", bias, n_out)
    s, t = _bn_scale_shift(gamma, beta, moving_mean, moving_variance, eps, n_in)
    new_kernel = s[:, None] * kernel
    new_bias = bias + t @ kernel.astype(np.float64)
    return new_kernel.astype(kernel.dtype), new_bias.astype(kernel.dtype)


# --- folding a Keras model -------------------------------------------------------------------


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """Return a copy of ``model`` with every BatchNormalization layer folded into a Dense layer.

    The model must be a Sequential model or a functional chain (one input, one output, each
    layer feeding the next). Each BN layer is folded, using its moving statistics (inference
    mode), into

    - the *previous* Dense layer when that Dense has a linear activation
      (``Dense(use_bias=False) -> BN -> Activation("relu")``): ``fuse_dense_batchnorm``;
    - otherwise the *next* Dense layer (BN after an activation, or BN as the first layer after
      the input / a Flatten): ``fuse_batchnorm_dense``.

    Dropout layers in between are skipped (they are the identity at inference). The copy has new
    weights and shares no variable with ``model``; its inference outputs equal the original's up
    to rounding. Its training behaviour differs (no batch statistics): use it for inference.

    Raises
    ------
    ValueError
        Naming the layer: a BN whose axis is not the last one, or with no Dense layer it can
        fold into (e.g. a trailing BN, or one between non-Dense layers); a model that is not a
        chain.
    """
    import keras

    from dnnkit.models import layer_chain

    specs = [_LayerSpec(layer) for layer in layer_chain(model)]
    for spec in specs:
        if spec.is_bn:
            _check_bn_axis(spec.layer)

    while any(spec.is_bn for spec in specs):
        folded = False
        for i, spec in enumerate(specs):
            if spec.is_bn and _fold_one(specs, i):
                del specs[i]
                folded = True
                break
        if not folded:
            stuck = next(spec for spec in specs if spec.is_bn)
            raise ValueError(
                f"cannot fold BatchNormalization layer {stuck.layer.name!r}: it needs a Dense "
                "layer with a linear activation just before it, or a Dense layer just after it "
                "(Dropout layers in between are allowed)"
            )

    first_input = model.inputs[0]
    inputs = keras.Input(shape=first_input.shape[1:], dtype=first_input.dtype)
    layers = [spec.build_layer() for spec in specs]
    folded_model: keras.Model
    if isinstance(model, keras.Sequential):
        folded_model = keras.Sequential([inputs, *layers], name=f"{model.name}_folded")
    else:
        x = inputs
        for layer in layers:
            x = layer(x)
        folded_model = keras.Model(inputs, x, name=f"{model.name}_folded")
    for layer, spec in zip(layers, specs, strict=True):
        layer.set_weights(spec.weights)
    return folded_model


class _LayerSpec:
    """A layer of the model being folded: its class, a copy of its config and weights."""

    def __init__(self, layer: keras.layers.Layer) -> None:
        import keras

        self.layer = layer
        self.config = layer.get_config()
        self.weights = [np.array(w) for w in layer.get_weights()]
        self.is_bn = isinstance(layer, keras.layers.BatchNormalization)
        self.is_dense = isinstance(layer, keras.layers.Dense)
        self.is_dropout = isinstance(layer, keras.layers.Dropout)

    def dense_params(self) -> tuple[NDArray[Any], NDArray[Any] | None]:
        kernel = self.weights[0]
        bias = self.weights[1] if self.config["use_bias"] else None
        return kernel, bias

    def set_dense_params(self, kernel: NDArray[Any], bias: NDArray[Any]) -> None:
        self.config["use_bias"] = True
        self.weights = [kernel, bias]

    def bn_params(
        self,
    ) -> tuple[NDArray[Any] | None, NDArray[Any] | None, NDArray[Any], NDArray[Any]]:
        import keras

        to_numpy = keras.ops.convert_to_numpy
        bn = self.layer
        gamma = to_numpy(bn.gamma) if bn.scale else None
        beta = to_numpy(bn.beta) if bn.center else None
        return gamma, beta, to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)

    def build_layer(self) -> keras.layers.Layer:
        return type(self.layer).from_config(self.config)


def _check_bn_axis(bn: keras.layers.BatchNormalization) -> None:
    rank = len(bn.input.shape)
    if bn.axis not in (-1, rank - 1):
        raise ValueError(
            f"cannot fold BatchNormalization layer {bn.name!r}: axis={bn.axis} is not the last "
            f"axis of its {rank}-D input (a Dense layer mixes the last axis only)"
        )


def _neighbour(specs: list[_LayerSpec], i: int, step: int) -> int | None:
    """Index of the nearest non-Dropout layer before (step=-1) or after (step=+1) i, or None."""
    j = i + step
    while 0 <= j < len(specs) and specs[j].is_dropout:
        j += step
    return j if 0 <= j < len(specs) else None


def _fold_one(specs: list[_LayerSpec], i: int) -> bool:
    """Fold the BN ``specs[i]`` into a neighbouring Dense spec; False when it has none."""
    import keras

    gamma, beta, mean, var = specs[i].bn_params()
    eps = specs[i].layer.epsilon
    j = _neighbour(specs, i, -1)
    if j is not None and specs[j].is_dense:
        if specs[j].layer.activation is keras.activations.linear:
            kernel, bias = specs[j].dense_params()
            specs[j].set_dense_params(
                *fuse_dense_batchnorm(kernel, bias, gamma, beta, mean, var, eps)
            )
            return True
    k = _neighbour(specs, i, +1)
    if k is not None and specs[k].is_dense:
        kernel, bias = specs[k].dense_params()
        specs[k].set_dense_params(*fuse_batchnorm_dense(gamma, beta, mean, var, kernel, bias, eps))
        return True
    return False
