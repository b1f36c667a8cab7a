"""Seeing unstable gradients: a NumPy MLP, per-layer statistics of Keras models, and plots.

The NumPy MLP (``mlp_forward`` / ``mlp_backward``) is what chapter 1 and exercise 1 use; the
Keras helpers measure activations and gradient norms layer by layer; the plotting helpers give
each method, activation or initializer the same colour in every chapter.
Importing this module does not import TensorFlow, Keras or matplotlib.
"""

import zlib

import numpy as np

__all__ = [
    "MLP_ACTIVATIONS",
    "mlp_forward",
    "mlp_backward",
    "layer_stds",
    "layer_grad_norms",
    "activation_stats",
    "gradient_norms",
    "METHOD_COLORS",
    "color_for",
    "plot_per_layer",
    "plot_history",
]

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


# --- the NumPy MLP -------------------------------------------------------------------------


def _activation_pair(name):
    """``(f, f_grad)`` for an activation name of MLP_ACTIVATIONS."""
    if name not in MLP_ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not supported; expected one of {MLP_ACTIVATIONS}")
    if name == "linear":
        return (lambda z: z), np.ones_like
    from dnnkit import activations

    return getattr(activations, name), getattr(activations, f"{name}_grad")


def mlp_forward(x, weights, biases, activation="sigmoid"):
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
    a, zs, outputs = x, [], []
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


def mlp_backward(dout, cache):
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
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != zs[-1].shape:
        raise ValueError(f"dout must have the output's shape {zs[-1].shape}; got {dout.shape}")
    dweights, dbiases = [None] * len(weights), [None] * len(weights)
    delta = dout * f_grad(zs[-1])
    for i in reversed(range(len(weights))):
        dweights[i] = inputs[i].T @ delta
        dbiases[i] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ weights[i].T) * f_grad(zs[i - 1])
    return dweights, dbiases


def layer_stds(arrays):
    """Standard deviation of each array (over all its elements), e.g. of each layer's output.

    Parameters
    ----------
    arrays : list of L arrays of any shapes

    Returns
    -------
    (L,) float array
    """
    return np.array([np.std(np.asarray(a, dtype=np.float64)) for a in arrays])


def layer_grad_norms(dweights):
    """Frobenius (L2) norm of each layer's weight gradient.

    Parameters
    ----------
    dweights : list of L arrays (e.g. from ``mlp_backward``)

    Returns
    -------
    (L,) float array
    """
    return np.array([np.linalg.norm(np.asarray(g, dtype=np.float64)) for g in dweights])


# --- statistics of Keras models ------------------------------------------------------------


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)


def activation_stats(model, x, *, saturation=0.99):
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

    from dnnkit.transfer import _layer_chain

    if not 0 < saturation < 1:
        raise ValueError(f"saturation must be in (0, 1); got {saturation}")
    stats = []
    out = x
    for layer in _layer_chain(model):
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


def gradient_norms(model, x, y, loss_fn, *, training=True):
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


# --- plots ---------------------------------------------------------------------------------

_PALETTE = (  # matplotlib's tab10 then the lighter half of tab20
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip

#: Stable colour of every method / activation / initializer name the book plots. Names that
#: appear in the same figure have different colours.
METHOD_COLORS = {
    # activations
    "sigmoid": _PALETTE[0],
    "tanh": _PALETTE[1],
    "relu": _PALETTE[2],
    "leaky_relu": _PALETTE[3],
    "rrelu": _PALETTE[4],
    "prelu": _PALETTE[5],
    "elu": _PALETTE[6],
    "selu": _PALETTE[7],
    "gelu": _PALETTE[8],
    "swish": _PALETTE[9],
    "silu": _PALETTE[9],
    "mish": _PALETTE[10],
    "softplus": _PALETTE[11],
    "linear": _PALETTE[17],
    # initializers
    "random_normal": _PALETTE[7],
    "glorot_uniform": _PALETTE[0],
    "glorot_normal": _PALETTE[10],
    "he_uniform": _PALETTE[2],
    "he_normal": _PALETTE[12],
    "lecun_uniform": _PALETTE[4],
    "lecun_normal": _PALETTE[14],
    # methods
    "baseline": _PALETTE[7],
    "no_batchnorm": _PALETTE[7],
    "batchnorm": _PALETTE[3],
    "batchnorm_before_activation": _PALETTE[3],
    "batchnorm_after_activation": _PALETTE[1],
    "no_clipping": _PALETTE[7],
    "clip_value": _PALETTE[1],
    "clip_norm": _PALETTE[4],
    "clip_global_norm": _PALETTE[9],
    "from_scratch": _PALETTE[7],
    "transfer": _PALETTE[0],
    "frozen": _PALETTE[10],
    "unfrozen": _PALETTE[0],
}


def _normalize(name):
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def color_for(name):
    """The colour of ``name`` (case, spaces and dashes ignored): ``METHOD_COLORS`` or, for other
    names, a colour of the same palette chosen from a checksum of the name (stable across runs)."""
    key = _normalize(name)
    if key in METHOD_COLORS:
        return METHOD_COLORS[key]
    return _PALETTE[zlib.crc32(key.encode()) % len(_PALETTE)]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4))[1]


def plot_per_layer(values, *, ylabel, title, logy=False, ax=None):
    """One line per method of a per-layer quantity (e.g. gradient norms), layer 1 = input side.

    Parameters
    ----------
    values : dict mapping a name to a sequence of L numbers (one per layer)
    ylabel, title : str
    logy : bool, logarithmic y axis (for quantities that vanish or explode)
    ax : matplotlib Axes or None (a new figure)

    Returns
    -------
    matplotlib Axes
    """
    if not values:
        raise ValueError("values is empty; expected a dict {name: per-layer values}")
    ax = _axes(ax)
    for name, series in values.items():
        series = np.asarray(series, dtype=np.float64)
        layers = np.arange(1, len(series) + 1)
        ax.plot(layers, series, marker="o", color=color_for(name), label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("layer (1 = closest to the input)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(values) > 1:
        ax.legend()
    return ax


def plot_history(histories, metric="loss", ax=None, *, title=None):
    """Training (solid) and validation (dashed) curves of ``metric`` for several runs.

    Parameters
    ----------
    histories : dict mapping a name to a keras History (from ``fit``) or a dict of lists
        (``History.history``). A History's epoch numbers are used, so the two histories of
        ``dnnkit.transfer.fine_tune`` line up end to end.
    metric : str, e.g. "loss" or "accuracy"
    ax : matplotlib Axes or None (a new figure)
    title : str or None (default: the metric per epoch)

    Returns
    -------
    matplotlib Axes
    """
    if not histories:
        raise ValueError("histories is empty; expected a dict {name: History or dict}")
    ax = _axes(ax)
    for name, history in histories.items():
        logs = getattr(history, "history", history)
        if metric not in logs:
            raise ValueError(f"{name!r} has no {metric!r} history; it has {sorted(logs)}")
        epochs = np.asarray(getattr(history, "epoch", range(len(logs[metric]))))[
            : len(logs[metric])
        ]
        color = color_for(name)
        ax.plot(epochs + 1, logs[metric], color=color, label=f"{name} (train)")
        if f"val_{metric}" in logs:
            ax.plot(
                epochs + 1, logs[f"val_{metric}"], "--", color=color, label=f"{name} (validation)"
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title if title is not None else f"{metric} per epoch")
    ax.legend()
    return ax
