"""Weight initializers in NumPy, following Keras' conventions exactly.

Fans as ``keras.initializers`` computes them (a conv kernel ``(*receptive, in, out)`` multiplies
both fans by the receptive field), variance scaling with Keras' modes and distribution names,
a normal truncated at two standard deviations whose stddev is corrected for the truncation, and
the Glorot / He / LeCun shortcuts. Importing this module never imports TensorFlow or Keras.
"""

import math
import numbers

import numpy as np

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

MODES = ("fan_in", "fan_out", "fan_avg")
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


def _check_shape(shape) -> tuple:
    """Return ``shape`` as a tuple of non-negative Python ints, or raise ``ValueError``."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(
            f"shape={shape!r} is not a shape; expected a tuple of non-negative integers"
        ) from None
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 0:
            raise ValueError(
                f"shape={shape!r} has the dimension {dim!r}; expected non-negative integers"
            )
    return tuple(int(dim) for dim in dims)


def compute_fans(shape) -> tuple[int, int]:
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


def _check_seed(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return int(seed)
    raise ValueError(
        f"seed={seed!r} is not a seed; expected None, a non-negative int or a np.random.Generator"
    )


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal samples of ``shape``, every value beyond +-TRUNCATION redrawn."""
    x = rng.standard_normal(shape)
    outside = np.abs(x) > TRUNCATION
    while outside.any():  # each round redraws about 4.6 % of the previous round
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > TRUNCATION
    return x


def variance_scaling(
    shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None
) -> np.ndarray:
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
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
        raise ValueError(f"scale={scale!r} is not allowed; expected a positive number")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a mode; expected one of {MODES}")
    if not isinstance(distribution, str):
        raise ValueError(f"distribution={distribution!r} is not one of {DISTRIBUTIONS}")
    distribution = distribution.lower()
    if distribution == "normal":
        distribution = "truncated_normal"
    if distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"distribution={distribution!r} is not a distribution; expected one of "
            f"{DISTRIBUTIONS} (or 'normal', an alias of 'truncated_normal')"
        )
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


def glorot_uniform(shape, seed=None) -> np.ndarray:
    """Glorot & Bengio (2010): ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Keras' default kernel initializer. Shapes as in :func:`variance_scaling`.
    """
    return variance_scaling(shape, 1.0, "fan_avg", "uniform", seed)


def glorot_normal(shape, seed=None) -> np.ndarray:
    """Glorot & Bengio (2010): truncated normal, std ``sqrt(2 / (fan_in + fan_out))``."""
    return variance_scaling(shape, 1.0, "fan_avg", "truncated_normal", seed)


def he_uniform(shape, seed=None) -> np.ndarray:
    """He et al. (2015): ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``."""
    return variance_scaling(shape, 2.0, "fan_in", "uniform", seed)


def he_normal(shape, seed=None) -> np.ndarray:
    """He et al. (2015): truncated normal, std ``sqrt(2 / fan_in)``; for ReLU and its variants."""
    return variance_scaling(shape, 2.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(shape, seed=None) -> np.ndarray:
    """LeCun et al. (1998): ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""
    return variance_scaling(shape, 1.0, "fan_in", "uniform", seed)


def lecun_normal(shape, seed=None) -> np.ndarray:
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


def recommended_initializer(activation) -> str:
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
    raise ValueError(
        f"activation={activation!r} is not known; expected None or one of "
        f"{sorted(RECOMMENDED_INITIALIZERS)}"
    )
