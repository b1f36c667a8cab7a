"""Keras 3 layers the course adds: RReLU, Swish (with an optional trainable beta) and Mish.

Written with ``keras.ops`` only, so they run under any backend and inside
``tf.function(jit_compile=True)``; registered for serialization (package ``"dnnkit"``), so a
model that uses them round-trips through ``model.save("x.keras")`` / ``keras.models.load_model``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from dnnkit._checks import check_interval, check_number

__all__ = ["RReLU", "Swish", "Mish"]


@keras.saving.register_keras_serializable(package="dnnkit")
class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU (Xu et al., 2015).

    ``f(z) = z`` for ``z >= 0`` and ``f(z) = a z`` otherwise, where

    - in training, ``a ~ U(lower, upper)`` is drawn afresh for every element of every batch;
    - at inference, ``a = (lower + upper) / 2``, the mean slope, so the layer is deterministic.

    Parameters
    ----------
    lower, upper : float, ``0 <= lower <= upper``
        Range of the random negative slope (defaults 1/8 and 1/3, as in the paper and PyTorch).
    seed : int or None
        Seed of the layer's ``keras.random.SeedGenerator`` (reproducible slopes).

    Shapes
    ------
    Input: any shape. Output: the same shape.
    """

    def __init__(
        self, lower: float = 1 / 8, upper: float = 1 / 3, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.lower, self.upper = check_interval("lower", lower, "upper", upper, minimum=0.0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool = False) -> Any:
        if training:
            slope = keras.random.uniform(
                ops.shape(inputs),
                minval=self.lower,
                maxval=self.upper,
                dtype=inputs.dtype,
                seed=self.seed_generator,
            )
        else:
            slope = ops.cast((self.lower + self.upper) / 2.0, inputs.dtype)
        return ops.where(inputs >= 0, inputs, slope * inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"lower": self.lower, "upper": self.upper, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="dnnkit")
class Swish(keras.layers.Layer):
    """Swish (Ramachandran et al., 2017): ``f(z) = z * sigmoid(beta * z)``.

    With ``beta = 1`` this is SiLU (``keras.activations.silu``). ``beta`` is a scalar weight
    named ``"beta"``; it is learned by back-propagation when ``trainable_beta=True`` and kept
    fixed otherwise.

    Parameters
    ----------
    beta : float
        Initial (or fixed) value of beta.
    trainable_beta : bool
        Whether ``beta`` is a trainable weight.

    Shapes
    ------
    Input: any shape. Output: the same shape.
    """

    def __init__(self, beta: float = 1.0, trainable_beta: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_beta = check_number("beta", beta)
        self.trainable_beta = bool(trainable_beta)
        self.supports_masking = True

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.beta = self.add_weight(
            shape=(),
            name="beta",
            initializer=keras.initializers.Constant(self.initial_beta),
            trainable=self.trainable_beta,
        )

    def call(self, inputs: Any) -> Any:
        beta = ops.cast(self.beta, inputs.dtype)
        return inputs * ops.sigmoid(beta * inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta": self.initial_beta, "trainable_beta": self.trainable_beta})
        return config


@keras.saving.register_keras_serializable(package="dnnkit")
class Mish(keras.layers.Layer):
    """Mish (Misra, 2019): ``f(z) = z * tanh(softplus(z))``, same as ``keras.activations.mish``.

    Computed with one exponential instead of three transcendental functions: with
    ``n = exp(z)``, ``tanh(log(1 + n)) = ((1 + n)**2 - 1) / ((1 + n)**2 + 1)
    = n (n + 2) / (n (n + 2) + 2)``. Above ``z = 20`` that ratio is 1 in float32 and
    float64 up to rounding (``f(z) = z``), so ``n`` is computed from ``min(z, 20)`` and never
    overflows.

    Shapes
    ------
    Input: any shape. Output: the same shape.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        n = ops.exp(ops.minimum(inputs, 20.0))
        p = n * (n + 2.0)
        return inputs * (p / (p + 2.0))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape
