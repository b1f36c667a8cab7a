"""Section 2, activations: time of one forward+backward pass (``tf.GradientTape``, gradients of
every weight) of a deep MLP on a fixed batch, for each activation function, relative to ReLU,
under ``tf.function`` with and without XLA.

Built-in activations are the Dense layers' ``activation=``; the library's layers
(``dnnkit.layers.Mish``, ``Swish(trainable_beta=True)``, ``RReLU``) follow a linear Dense.
Target: the library's layers within 1.3x of Keras' built-in ``swish`` under XLA.
"""

from __future__ import annotations

import numpy as np

from benchmarks import harness

TITLE = "Activations: forward+backward time of a deep MLP step relative to ReLU"
TOLERANCE = 1.3
LIBRARY = ("dnnkit Mish", "dnnkit Swish(trainable_beta)", "dnnkit RReLU")


def gelu_sigmoid(x):
    """The sigmoid approximation of GELU, ``x * sigmoid(1.702 x)``."""
    from keras import ops

    return x * ops.sigmoid(1.702 * x)


def activation_layers() -> dict:
    """Name -> (Dense activation, factory of the extra layer after a linear Dense or None)."""
    import functools

    import keras

    from dnnkit import layers

    return {
        "ReLU": ("relu", None),
        "LeakyReLU": (None, keras.layers.LeakyReLU),
        "ELU": ("elu", None),
        "SELU": ("selu", None),
        "GELU exact": (functools.partial(keras.activations.gelu, approximate=False), None),
        "GELU tanh": (functools.partial(keras.activations.gelu, approximate=True), None),
        "GELU sigmoid": (gelu_sigmoid, None),
        "Keras swish": ("swish", None),
        "dnnkit Mish": (None, layers.Mish),
        "dnnkit Swish(trainable_beta)": (None, lambda: layers.Swish(trainable_beta=True)),
        "dnnkit RReLU": (None, lambda: layers.RReLU(seed=0)),
    }


def build_mlp(activation, extra, *, n_in, width, depth, n_out=10, seed=0):
    """``depth`` hidden Dense layers of ``width`` units with the activation, then a softmax."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(n_in,))]
    for _ in range(depth):
        layers.append(keras.layers.Dense(width, activation=activation))
        if extra is not None:
            layers.append(extra())
    layers.append(keras.layers.Dense(n_out, activation="softmax"))
    return keras.Sequential(layers)


def make_step(model, x, y, *, jit_compile):
    """A compiled forward+backward step: loss and the gradient of every trainable weight."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(jit_compile=jit_compile)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return loss, tape.gradient(loss, model.trainable_weights)

    return lambda: step(x, y)


def run(quick: bool = False) -> dict:
    import tensorflow as tf

    if quick:
        n_in, width, depth, batch, repeats, target_s = 16, 8, 2, 8, 5, 0.002
    else:
        n_in, width, depth, batch, repeats, target_s = 784, 100, 10, 512, 11, 0.1
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, n_in)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=batch))
    specs = activation_layers()
    data, rows = [], []
    for mode, jit in (("tf.function", False), ("XLA", True)):
        variants = {
            name: make_step(
                build_mlp(a, e, n_in=n_in, width=width, depth=depth), x, y, jit_compile=jit
            )
            for name, (a, e) in specs.items()
        }
        samples = harness.interleaved(variants, repeats=repeats, target_s=target_s)
        for row in harness.compare(samples, baseline="ReLU"):
            row["mode"] = mode
            if row["variant"] in LIBRARY:
                swish = harness.ratio_stats(samples[row["variant"]], samples["Keras swish"])
                row.update({f"vs_swish_{k}": v for k, v in swish.items()})
            data.append(row)
            rows.append([mode, row["variant"], harness.fmt_ms(row), harness.fmt_ratio(row)])
    return {
        "title": TITLE,
        "tables": [
            {
                "columns": ["mode", "activation", "ms / step", "vs ReLU: median (min-max)"],
                "rows": rows,
            }
        ],
        "data": data,
        "targets": _targets(data),
        "notes": [
            f"MLP {n_in}-{depth}x{width}-10, batch {batch}, float32, training=True (RReLU draws "
            "its random slopes); loss and gradients of all weights, no optimizer update; "
            f"{repeats} interleaved repetitions of about {target_s * 1e3:.0f} ms per variant.",
            "RReLU's extra time is its random slopes: one uniform draw per element at every "
            "training step (at inference it is a Leaky ReLU with the mean slope). dnnkit's Mish "
            "uses one exponential instead of Keras' softplus + tanh, which pays off once XLA "
            "fuses its element-wise steps; without XLA each step is a separate kernel.",
        ],
    }


def _targets(data: list[dict]) -> list[dict]:
    xla = [r for r in data if r["mode"] == "XLA" and r["variant"] in LIBRARY]
    slow = [r for r in xla if r["vs_swish_ratio"] > TOLERANCE]
    detail = "; ".join(
        f"{r['variant']} {r['vs_swish_ratio']:.2f} ({r['vs_swish_ratio_min']:.2f}-"
        f"{r['vs_swish_ratio_max']:.2f})"
        for r in xla
    )
    return [
        {
            "target": "library layers within 1.3x of Keras' built-in swish under XLA",
            "met": not slow,
            "why": f"ratio to Keras swish under XLA: {detail}",
        }
    ]
