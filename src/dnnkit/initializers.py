"""Weight initializers in NumPy, following Keras' conventions exactly.

Fans as ``keras.initializers`` computes them (a conv kernel ``(*receptive, in, out)`` multiplies
both fans by the receptive field), variance scaling with Keras' modes and distribution names,
a normal truncated at two standard deviations whose stddev is corrected for the truncation, and
the Glorot / He / LeCun shortcuts. Importing this module never imports TensorFlow or Keras.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from dnnkit._checks import check_one_of, check_positive, fail

#: A weight shape: a tuple of non-negative ints (a bare int is a vector's length).
Shape = int | Sequence[int]
#: A seed as ``np.random.default_rng`` takes it.
Seed = int | np.random.Generator | None

__all__ = [
    "MODES",
    "DISTRIBUTIONS",
    "TRUNCATION",
    "TRUNCATED_NORMAL_STDDEV",
    "RECOMMENDED_INITIALIZERS",
    "compute_fans",
    "variance_scaling",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "recommended_initializer",
]

#: The ``mode`` values of :func:`variance_scaling`: which fan divides the scale (Keras' names).
MODES = ("fan_in", "fan_out", "fan_avg")
#: The ``distribution`` values of :func:`variance_scaling` (``"normal"`` is accepted too, as an
#: alias of ``"truncated_normal"``, as in Keras).
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

#: Keras truncates its normal at ``TRUNCATION`` standard deviations (values beyond are redrawn).
TRUNCATION = 2.0


def _truncated_standard_normal_std(a: float) -> float:
    """Standard deviation of a standard normal truncated to ``[-a, a]``.

    ``Var = 1 - 2 a phi(a) / (Phi(a) - Phi(-a))`` with ``phi`` the density and
    ``Phi(a) - Phi(-a) = erf(a / sqrt(2))``.
    """
    phi_a = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    return math.sqrt(1.0 - 2.0 * a * phi_a / math.erf(a / math.sqrt(2.0)))


#: Standard deviation of a standard normal truncated at +-2: Keras divides the target stddev by
#: it so that the *truncated* samples have the requested standard deviation (about 0.88).
TRUNCATED_NORMAL_STDDEV = _truncated_standard_normal_std(TRUNCATION)


def _check_shape(shape: object) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative Python ints, or raise ``ValueError``."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape) if isinstance(shape, Iterable) else None
    except TypeError:  # e.g. a 0-d array
        dims = None
    if dims is None:
        fail("shape", shape, "a tuple of non-negative integers")
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims):
        fail("shape", shape, "a tuple of non-negative integers")
    sizes = tuple(int(d) for d in dims)
    if any(size < 0 for size in sizes):
        fail("shape", shape, "a tuple of non-negative integers")
    return sizes


def compute_fans(shape: Shape) -> tuple[int, int]:
    """Number of input and output units of a weight tensor, as Keras counts them.

    Parameters
    ----------
    shape : tuple of int
        ``()`` a scalar: fans ``(1, 1)``; ``(n,)`` a vector: ``(n, n)``; ``(n_in, n_out)`` a
        dense kernel; ``(*receptive_field, n_in, n_out)`` a convolution kernel, e.g.
        ``(kh, kw, c_in, c_out)`` for ``Conv2D``.

    Returns
    -------
    fan_in, fan_out : int
        For a convolution kernel both are multiplied by ``prod(receptive_field)``: each output
        unit sees ``kh * kw * c_in`` inputs and each input feeds ``kh * kw * c_out`` outputs.

    Examples
    --------
    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    """
    shape = _check_shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_seed(seed: object) -> Seed:
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and int(seed) >= 0:
        return int(seed)
    fail("seed", seed, "None, a non-negative int or a np.random.Generator")


def _truncated_standard_normal(
    rng: np.random.Generator, shape: tuple[int, ...]
) -> NDArray[np.float64]:
    """Standard normal samples of ``shape``, every value beyond +-TRUNCATION redrawn."""
    x = rng.standard_normal(shape)
    outside = np.abs(x) > TRUNCATION
    while outside.any():  # each round redraws about 4.6 % of the previous round
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > TRUNCATION
    return x


def variance_scaling(
    shape: Shape,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    seed: Seed = None,
) -> NDArray[np.float32]:
    """Random weights with variance ``scale / n`` (Keras' ``VarianceScaling``).

    ``n`` is ``fan_in``, ``fan_out`` or ``(fan_in + fan_out) / 2`` (see :func:`compute_fans`),
    at least 1. The three distributions all have variance ``scale / n``:

    - ``"truncated_normal"`` (alias ``"normal"``, as in Keras): a normal truncated at two
      standard deviations, drawn with ``stddev = sqrt(scale / n) / TRUNCATED_NORMAL_STDDEV`` so
      that the truncated samples have standard deviation ``sqrt(scale / n)``;
    - ``"untruncated_normal"``: a normal with ``stddev = sqrt(scale / n)``;
    - ``"uniform"``: ``U(-limit, limit)`` with ``limit = sqrt(3 * scale / n)``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the weight tensor, e.g. ``(n_in, n_out)`` or ``(kh, kw, c_in, c_out)``.
    scale : float > 0
        1 for Glorot and LeCun, 2 for He.
    mode : {"fan_in", "fan_out", "fan_avg"}
    distribution : {"truncated_normal", "normal", "untruncated_normal", "uniform"}
        Case-insensitive, as in Keras.
    seed : None, int or np.random.Generator
        Passed to ``np.random.default_rng``: the same int gives the same weights.

    Returns
    -------
    weights : float32 array of ``shape``
    """
    shape = _check_shape(shape)
    scale = check_positive("scale", scale, finite=False)
    check_one_of("mode", mode, MODES)
    name = distribution.lower() if isinstance(distribution, str) else distribution
    name = "truncated_normal" if name == "normal" else name
    distribution = check_one_of("distribution", name, (*DISTRIBUTIONS, "normal"))
    rng = np.random.default_rng(_check_seed(seed))

    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    variance = scale / max(1.0, n)
    if distribution == "truncated_normal":
        stddev = math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV
        weights = stddev * _truncated_standard_normal(rng, shape)
    elif distribution == "untruncated_normal":
        weights = math.sqrt(variance) * rng.standard_normal(shape)
    else:
        limit = math.sqrt(3.0 * variance)
        weights = rng.uniform(-limit, limit, size=shape)
    return np.asarray(weights, dtype=np.float32)


def glorot_uniform(shape: Shape, seed: Seed = None) -> NDArray[np.float32]:
    """Glorot & Bengio (2010): ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Keras' default kernel initializer. Shapes as in :func:`variance_scaling`.
    """
    return variance_scaling(shape, 1.0, "fan_avg", "uniform", seed)


def glorot_normal(shape: Shape, seed: Seed = None) -> NDArray[np.float32]:
    """Glorot & Bengio (2010): truncated normal, std ``sqrt(2 / (fan_in + fan_out))``."""
    return variance_scaling(shape, 1.0, "fan_avg", "truncated_normal", seed)


def he_uniform(shape: Shape, seed: Seed = None) -> NDArray[np.float32]:
    """He et al. (2015): ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``."""
    return variance_scaling(shape, 2.0, "fan_in", "uniform", seed)


def he_normal(shape: Shape, seed: Seed = None) -> NDArray[np.float32]:
    """He et al. (2015): truncated normal, std ``sqrt(2 / fan_in)``; for ReLU and its variants."""
    return variance_scaling(shape, 2.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(shape: Shape, seed: Seed = None) -> NDArray[np.float32]:
    """LeCun et al. (1998): ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""
    return variance_scaling(shape, 1.0, "fan_in", "uniform", seed)


def lecun_normal(shape: Shape, seed: Seed = None) -> NDArray[np.float32]:
    """LeCun et al. (1998): truncated normal, std ``sqrt(1 / fan_in)``; what SELU needs."""
    return variance_scaling(shape, 1.0, "fan_in", "truncated_normal", seed)


_GLOROT, _HE, _LECUN = "glorot_uniform", "he_normal", "lecun_normal"

#: Activation -> name of the Keras initializer to pair it with (Glorot for the saturating and
#: linear ones, He for ReLU and its variants, LeCun for SELU). ``None`` is looked up as "linear".
RECOMMENDED_INITIALIZERS: dict[str, str] = {
    "linear": _GLOROT,
    "sigmoid": _GLOROT,
    "tanh": _GLOROT,
    "softmax": _GLOROT,
    "relu": _HE,
    "leaky_relu": _HE,
    "rrelu": _HE,
    "prelu": _HE,
    "elu": _HE,
    "gelu": _HE,
    "swish": _HE,
    "silu": _HE,
    "mish": _HE,
    "selu": _LECUN,
}


def recommended_initializer(activation: str | None) -> str:
    """Name of the Keras initializer to use with ``activation`` (see ``RECOMMENDED_INITIALIZERS``).

    Parameters
    ----------
    activation : str or None
        An activation name such as ``"relu"``; ``None`` means linear. Case-insensitive.

    Returns
    -------
    name : str
        ``"glorot_uniform"``, ``"he_normal"`` or ``"lecun_normal"``; usable as
        ``keras.layers.Dense(..., kernel_initializer=name)`` and as a function of this module.
    """
    key = "linear" if activation is None else activation
    if isinstance(key, str) and key.lower() in RECOMMENDED_INITIALIZERS:
        return RECOMMENDED_INITIALIZERS[key.lower()]
    fail("activation", activation, f"None or one of {sorted(RECOMMENDED_INITIALIZERS)}")
