"""Activation functions and their derivatives in NumPy (float64-friendly, overflow-free).

Every ``<name>(z, ...)`` has a ``<name>_grad(z, ...)`` with the same parameters that returns
``d<name>(z)/dz`` elementwise. Defaults and conventions follow Keras / TensorFlow: e.g.
``leaky_relu``'s slope 0.2 (``keras.activations.leaky_relu``), the derivative of ReLU at 0 is 0,
of leaky ReLU / RReLU at 0 is the slope, of ELU at 0 is 1. Importing it never imports TensorFlow.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dnnkit._checks import check_interval, check_nonnegative, check_number, check_positive, fail

#: What the functions return: a float array of the input's shape.
FloatArray = NDArray[np.floating]
#: Seeds as ``np.random.default_rng`` takes them.
Seed = int | np.random.Generator | None

__all__ = [
    "SELU_ALPHA",
    "SELU_SCALE",
    "GELU_APPROXIMATIONS",
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "rrelu",
    "rrelu_grad",
    "elu",
    "elu_grad",
    "selu",
    "selu_grad",
    "gelu",
    "gelu_grad",
    "swish",
    "swish_grad",
    "mish",
    "mish_grad",
    "softplus",
    "softplus_grad",
]


def _selu_constants() -> tuple[float, float]:
    """SELU's ``(alpha, scale)`` from the closed form of Klambauer et al. (2017), eq. 14.

    They make mean 0 / variance 1 a fixed point of a SELU layer with standard normal input.
    With ``c = erfc(1/sqrt(2))`` and ``e`` Euler's number::

        alpha = -sqrt(2/pi) / (c * sqrt(e) - 1)
        scale = (1 - c sqrt(e)) sqrt(2 pi)
                / sqrt(2 erfc(sqrt(2)) e^2 + pi c^2 e - 2 (2 + pi) c sqrt(e) + pi + 2)
    """
    e, pi = math.e, math.pi
    c = math.erfc(1.0 / math.sqrt(2.0))
    alpha = -math.sqrt(2.0 / pi) / (c * math.sqrt(e) - 1.0)
    denominator = (
        2.0 * math.erfc(math.sqrt(2.0)) * e**2
        + pi * c**2 * e
        - 2.0 * (2.0 + pi) * c * math.sqrt(e)
        + pi
        + 2.0
    )
    scale = (1.0 - c * math.sqrt(e)) * math.sqrt(2.0 * pi) / math.sqrt(denominator)
    return alpha, scale


#: SELU's alpha and scale (lambda), about 1.6733 and 1.0507, computed from the closed form.
SELU_ALPHA, SELU_SCALE = _selu_constants()

#: The values ``gelu``'s ``approximate`` accepts (``False`` / ``True`` mean "none" / "tanh").
GELU_APPROXIMATIONS = ("none", "tanh", "sigmoid")
GeluApproximation = Literal["none", "tanh", "sigmoid"]

#: Coefficient of the sigmoid approximation of GELU, ``z * sigmoid(1.702 z)``
#: (Hendrycks & Gimpel, 2016).
GELU_SIGMOID_COEF = 1.702

#: Coefficient of the cubic term in the tanh approximation of GELU (Hendrycks & Gimpel, 2016).
GELU_TANH_COEF = 0.044715


def _as_float(z: ArrayLike) -> FloatArray:
    """``z`` as a float array (float64 unless it already is a float array)."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        try:
            z = z.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"z of dtype {z.dtype} is not numeric; expected a float array"
            ) from None
    return z


# --------------------------------------------------------------------------- sigmoid, tanh


def sigmoid(z: ArrayLike) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, computed from ``exp(-|z|)`` so it never overflows.

    Shapes: ``z`` any shape; the result has the same shape (and float dtype).
    """
    z = _as_float(z)
    e = np.exp(-np.abs(z))  # in (0, 1]: no overflow for any z
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z: ArrayLike) -> FloatArray:
    """``sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)) = exp(-|z|) / (1 + exp(-|z|))^2``."""
    z = _as_float(z)
    e = np.exp(-np.abs(z))
    return e / (1.0 + e) ** 2


def tanh(z: ArrayLike) -> FloatArray:
    """Hyperbolic tangent, ``2 sigmoid(2z) - 1``. Same shape as ``z``."""
    return np.tanh(_as_float(z))


def tanh_grad(z: ArrayLike) -> FloatArray:
    """``tanh'(z) = 1 - tanh(z)^2``."""
    return 1.0 - np.tanh(_as_float(z)) ** 2


# --------------------------------------------------------------------------- ReLU family


def relu(z: ArrayLike) -> FloatArray:
    """Rectified linear unit ``max(0, z)``. Same shape as ``z``."""
    z = _as_float(z)
    return np.maximum(z, 0.0).astype(z.dtype, copy=False)


def relu_grad(z: ArrayLike) -> FloatArray:
    """``1`` where ``z > 0``, else ``0`` (TensorFlow's choice at ``z = 0``)."""
    z = _as_float(z)
    return (z > 0).astype(z.dtype)


def leaky_relu(z: ArrayLike, negative_slope: float = 0.2) -> FloatArray:
    """Leaky ReLU: ``z`` where ``z > 0``, ``negative_slope * z`` elsewhere.

    The default slope 0.2 is ``keras.activations.leaky_relu``'s (``keras.layers.LeakyReLU``
    defaults to 0.3). ``negative_slope >= 0``.
    """
    negative_slope = check_nonnegative("negative_slope", negative_slope)
    z = _as_float(z)
    return np.where(z > 0, z, negative_slope * z)


def leaky_relu_grad(z: ArrayLike, negative_slope: float = 0.2) -> FloatArray:
    """``1`` where ``z > 0``, ``negative_slope`` elsewhere (TensorFlow's choice at 0)."""
    negative_slope = check_nonnegative("negative_slope", negative_slope)
    z = _as_float(z)
    return np.where(z > 0, 1.0, negative_slope).astype(z.dtype)


def _rrelu_slopes(
    z: FloatArray, lower: float, upper: float, training: bool, seed: Seed
) -> float | FloatArray:
    """Negative slopes of RReLU: ``U(lower, upper)`` per element when training, else the mean."""
    lower, upper = check_interval("lower", lower, "upper", upper, minimum=0.0)
    if not training:
        return (lower + upper) / 2.0
    return np.random.default_rng(seed).uniform(lower, upper, size=z.shape)


def rrelu(
    z: ArrayLike,
    lower: float = 1 / 8,
    upper: float = 1 / 3,
    training: bool = False,
    seed: Seed = None,
) -> FloatArray:
    """Randomized leaky ReLU (Xu et al., 2015): ``z`` where ``z > 0``, ``a * z`` elsewhere.

    Parameters
    ----------
    z : array of any shape
    lower, upper : float, ``0 <= lower <= upper``
        Range of the negative slope ``a``.
    training : bool
        True: one slope ``a ~ U(lower, upper)`` per element of ``z``, drawn with
        ``np.random.default_rng(seed)``. False (inference): ``a = (lower + upper) / 2``.
    seed : None, int or np.random.Generator
        With an int, :func:`rrelu_grad` with the same seed uses the same slopes.

    Returns
    -------
    out : array of ``z``'s shape
    """
    z = _as_float(z)
    slopes = _rrelu_slopes(z, lower, upper, training, seed)
    return np.where(z > 0, z, slopes * z).astype(z.dtype)


def rrelu_grad(
    z: ArrayLike,
    lower: float = 1 / 8,
    upper: float = 1 / 3,
    training: bool = False,
    seed: Seed = None,
) -> FloatArray:
    """``1`` where ``z > 0``, the slope ``a`` elsewhere (same ``a`` as :func:`rrelu`'s seed)."""
    z = _as_float(z)
    slopes = _rrelu_slopes(z, lower, upper, training, seed)
    return np.where(z > 0, 1.0, slopes).astype(z.dtype)


def elu(z: ArrayLike, alpha: float = 1.0) -> FloatArray:
    """Exponential linear unit (Clevert et al., 2015): ``z`` if ``z > 0``, else ``alpha (e^z - 1)``.

    ``alpha > 0``; ``expm1`` of ``min(z, 0)`` keeps it accurate near 0 and overflow-free.
    """
    alpha = check_positive("alpha", alpha)
    z = _as_float(z)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_grad(z: ArrayLike, alpha: float = 1.0) -> FloatArray:
    """``1`` if ``z > 0``, else ``alpha e^z`` (at ``z = 0``: 1, as TensorFlow's ``EluGrad``)."""
    alpha = check_positive("alpha", alpha)
    z = _as_float(z)
    return np.where(z >= 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))).astype(z.dtype)


def selu(z: ArrayLike) -> FloatArray:
    """Scaled ELU (Klambauer et al., 2017): ``SELU_SCALE * elu(z, SELU_ALPHA)``."""
    return SELU_SCALE * elu(z, SELU_ALPHA)


def selu_grad(z: ArrayLike) -> FloatArray:
    """``SELU_SCALE * elu_grad(z, SELU_ALPHA)``."""
    return SELU_SCALE * elu_grad(z, SELU_ALPHA)


# --------------------------------------------------------------------------- smooth ones


def softplus(z: ArrayLike) -> FloatArray:
    """``log(1 + e^z)``, computed as ``max(z, 0) + log1p(e^-|z|)`` (no overflow)."""
    z = _as_float(z)
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def softplus_grad(z: ArrayLike) -> FloatArray:
    """``softplus'(z) = sigmoid(z)``."""
    return sigmoid(z)


def _gelu_mode(approximate: object) -> GeluApproximation:
    if approximate is False:
        return "none"
    if approximate is True:
        return "tanh"
    if approximate == "none" or approximate == "tanh" or approximate == "sigmoid":
        return approximate
    fail("approximate", approximate, f"one of {GELU_APPROXIMATIONS} or a bool")


def _normal_cdf(z: FloatArray) -> FloatArray:
    """``Phi(z) = erfc(-z / sqrt(2)) / 2``: accurate in both tails."""
    from scipy.special import erfc  # imported here: only the exact GELU needs it

    return 0.5 * erfc(-z / math.sqrt(2.0))


def _normal_pdf(z: FloatArray) -> FloatArray:
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _gelu_tanh_inner(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``u = sqrt(2/pi) (z + 0.044715 z^3)`` and ``du/dz``."""
    c = math.sqrt(2.0 / math.pi)
    return c * (z + GELU_TANH_COEF * z**3), c * (1.0 + 3.0 * GELU_TANH_COEF * z**2)


def gelu(z: ArrayLike, approximate: GeluApproximation | bool = "none") -> FloatArray:
    """Gaussian error linear unit (Hendrycks & Gimpel, 2016), ``z * Phi(z)``.

    Parameters
    ----------
    z : array of any shape
    approximate : {"none", "tanh", "sigmoid"}
        ``"none"``: exact, ``Phi`` the standard normal CDF (``keras.activations.gelu``'s
        default). ``"tanh"``: ``z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))`` (what
        ``keras.ops.gelu`` and ``tf.nn.gelu(approximate=True)`` compute). ``"sigmoid"``:
        ``z * sigmoid(1.702 z)``. ``False`` / ``True`` are accepted as in Keras.

    Returns
    -------
    out : array of ``z``'s shape
    """
    mode = _gelu_mode(approximate)
    z = _as_float(z)
    if mode == "none":
        return z * _normal_cdf(z)
    if mode == "tanh":
        u, _ = _gelu_tanh_inner(z)
        return 0.5 * z * (1.0 + np.tanh(u))
    return z * sigmoid(GELU_SIGMOID_COEF * z)


def gelu_grad(z: ArrayLike, approximate: GeluApproximation | bool = "none") -> FloatArray:
    """Derivative of :func:`gelu` for the same ``approximate``.

    ``"none"``: ``Phi(z) + z phi(z)``; ``"tanh"``: ``(1 + t)/2 + z/2 (1 - t^2) du/dz`` with
    ``t = tanh(u)``; ``"sigmoid"``: ``s + 1.702 z s (1 - s)`` with ``s = sigmoid(1.702 z)``.
    """
    mode = _gelu_mode(approximate)
    z = _as_float(z)
    if mode == "none":
        return _normal_cdf(z) + z * _normal_pdf(z)
    if mode == "tanh":
        u, du = _gelu_tanh_inner(z)
        t = np.tanh(u)
        return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t**2) * du
    return swish_grad(z, GELU_SIGMOID_COEF)


def swish(z: ArrayLike, beta: float = 1.0) -> FloatArray:
    """Swish (Ramachandran et al., 2017) ``z * sigmoid(beta z)``; ``beta = 1`` is SiLU."""
    beta = check_number("beta", beta)
    z = _as_float(z)
    return z * sigmoid(beta * z)


def swish_grad(z: ArrayLike, beta: float = 1.0) -> FloatArray:
    """``sigmoid(beta z) + beta z sigmoid'(beta z) = s (1 + beta z (1 - s))``, ``s = sigmoid(beta z)``."""
    beta = check_number("beta", beta)
    z = _as_float(z)
    bz = beta * z
    s = sigmoid(bz)  # one exp, not two
    return s * (1.0 + bz * (1.0 - s))


def mish(z: ArrayLike) -> FloatArray:
    """Mish (Misra, 2019): ``z * tanh(softplus(z))``."""
    z = _as_float(z)
    return z * np.tanh(softplus(z))


def mish_grad(z: ArrayLike) -> FloatArray:
    """``tanh(sp) + z (1 - tanh(sp)^2) sigmoid(z)`` with ``sp = softplus(z)``."""
    z = _as_float(z)
    t = np.tanh(softplus(z))
    return t + z * (1.0 - t**2) * sigmoid(z)
