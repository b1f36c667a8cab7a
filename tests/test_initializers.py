"""dnnkit.initializers against Keras' own initializers (the oracle).

Statistical tolerances: every sample has 10**6 values. The relative standard error of a sample
standard deviation is ``sqrt((kurtosis - 1) / (4 n))``, at most ``sqrt(2 / 4e6) = 7.1e-4``
(normal, kurtosis 3; uniform and truncated normal are lighter-tailed), so a 1 % tolerance is
about 14 standard errors: it never fails by chance, yet a missing truncation correction (12 %)
or a wrong fan (at least 25 % here) fails it. The sample mean has standard error
``std / 1000``; the tolerance ``0.01 * std`` is 10 standard errors.
"""

import inspect
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from dnnkit import initializers as dk

keras = pytest.importorskip("keras")
from keras.src.initializers import random_initializers as keras_random  # noqa: E402

N_SAMPLES_SHAPE = (400, 2500)  # 10**6 values; fan_in 400, fan_out 2500, fan_avg 1450
MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
KERAS_NAMED = {
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform",
    "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal",
}


def target_std(shape, scale, mode):
    """sqrt(scale / n) with n from Keras' compute_fans (the oracle), as Keras' docstring says."""
    fan_in, fan_out = keras_random.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return math.sqrt(scale / max(1.0, n))


def keras_samples(shape, scale, mode, distribution, seed=0):
    init = keras.initializers.VarianceScaling(scale, mode, distribution, seed=seed)
    return keras.ops.convert_to_numpy(init(shape, dtype="float32"))


# --------------------------------------------------------------------------- compute_fans


@pytest.mark.parametrize(
    "shape",
    [(), (7,), (5, 3), (3, 4, 6), (3, 3, 16, 32), (2, 3, 4, 5, 6), (1, 1), (0, 4)],
    ids=["0d", "1d", "dense", "conv1d", "conv2d", "conv3d", "1x1", "zero"],
)
def test_compute_fans_matches_keras_compute_fans(shape):
    assert dk.compute_fans(shape) == keras_random.compute_fans(shape)
    assert all(type(f) is int for f in dk.compute_fans(shape))


def test_compute_fans_of_conv_kernel_by_hand():
    """Hand calculation: a 3x3 kernel from 16 to 32 channels: 9*16 inputs, 9*32 outputs."""
    assert dk.compute_fans((3, 3, 16, 32)) == (9 * 16, 9 * 32)


def test_compute_fans_matches_keras_layer_kernels():
    """Keras: the fans of the kernels real Conv1D/2D/3D and Dense layers build."""
    layers = [
        (keras.layers.Dense(7), (None, 5)),
        (keras.layers.Conv1D(4, 3), (None, 10, 2)),
        (keras.layers.Conv2D(4, (3, 5)), (None, 10, 10, 2)),
        (keras.layers.Conv3D(4, (2, 3, 4)), (None, 8, 8, 8, 3)),
    ]
    for layer, input_shape in layers:
        layer.build(input_shape)
        shape = tuple(layer.kernel.shape)
        assert dk.compute_fans(shape) == keras_random.compute_fans(shape)


@pytest.mark.parametrize("shape", [(3, -1), (2.5, 3), "ab", None, (True, 2), ((2,), 3)])
def test_compute_fans_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape"):
        dk.compute_fans(shape)


# --------------------------------------------------------------------------- constants


def test_truncation_constant_matches_keras_source():
    """Keras' source divides the stddev by a typed constant; ours is computed in closed form."""
    source = inspect.getsource(keras.initializers.VarianceScaling.__call__)
    keras_constant = float(re.search(r"math\.sqrt\(scale\)\s*/\s*([0-9.]+)", source).group(1))
    assert dk.TRUNCATED_NORMAL_STDDEV == pytest.approx(keras_constant, rel=1e-15)


def test_truncation_constant_is_std_of_truncated_normal():
    """Oracle: numerical integration of x^2 phi(x) over [-2, 2], normalised."""
    x = np.linspace(-2.0, 2.0, 200_001)
    pdf = np.exp(-0.5 * x**2)
    variance = np.trapezoid(x**2 * pdf, x) / np.trapezoid(pdf, x)
    assert dk.TRUNCATED_NORMAL_STDDEV == pytest.approx(math.sqrt(variance), rel=1e-9)


def test_truncation_matches_tf_truncated_normal_bound():
    """tf.random.truncated_normal (what Keras calls) truncates at the same 2 stddev."""
    samples = keras.ops.convert_to_numpy(keras.random.truncated_normal((10**6,), seed=1))
    assert np.abs(samples).max() <= dk.TRUNCATION
    assert np.abs(samples).max() > dk.TRUNCATION * 0.999
    assert np.std(samples) == pytest.approx(dk.TRUNCATED_NORMAL_STDDEV, rel=0.01)


# --------------------------------------------------------------------------- variance_scaling


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("mode", MODES)
def test_variance_scaling_statistics_match_keras(mode, distribution):
    """Keras VarianceScaling samples of the same shape: std, mean and bounds agree."""
    scale = 1.7
    ours = dk.variance_scaling(N_SAMPLES_SHAPE, scale, mode, distribution, seed=0)
    theirs = keras_samples(N_SAMPLES_SHAPE, scale, mode, distribution)
    std = target_std(N_SAMPLES_SHAPE, scale, mode)

    assert ours.dtype == np.float32 and ours.shape == N_SAMPLES_SHAPE
    for sample in (ours, theirs):
        assert sample.std() == pytest.approx(std, rel=0.01)
        assert abs(sample.mean()) < 0.01 * std
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    if distribution != "untruncated_normal":  # bounded: both reach the same bound
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_uniform_limits_are_exact(mode):
    """Keras' docstring: U(-limit, limit), limit = sqrt(3 scale / n); both ends are reached."""
    limit = math.sqrt(3.0) * target_std(N_SAMPLES_SHAPE, 2.0, mode)
    for sample in (
        dk.variance_scaling(N_SAMPLES_SHAPE, 2.0, mode, "uniform", seed=1),
        keras_samples(N_SAMPLES_SHAPE, 2.0, mode, "uniform"),
    ):
        assert sample.max() <= np.float32(limit) and sample.min() >= -np.float32(limit)
        assert sample.max() > limit * (1 - 1e-4) and sample.min() < -limit * (1 - 1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_truncated_normal_never_exceeds_two_stddev(mode):
    """The drawing stddev is std / TRUNCATED_NORMAL_STDDEV; no value exceeds 2 of them."""
    stddev = target_std(N_SAMPLES_SHAPE, 1.0, mode) / dk.TRUNCATED_NORMAL_STDDEV
    bound = np.float32(2.0 * stddev)
    ours = dk.variance_scaling(N_SAMPLES_SHAPE, 1.0, mode, "truncated_normal", seed=2)
    theirs = keras_samples(N_SAMPLES_SHAPE, 1.0, mode, "truncated_normal")
    assert np.abs(ours).max() <= bound
    assert np.abs(theirs).max() <= bound * (1 + 1e-6)  # TF computes in float32
    assert np.abs(ours).max() > bound * 0.999  # truncated, not scaled down


def test_untruncated_normal_has_normal_tails():
    """Fraction beyond 2 std of a normal is erfc(sqrt 2) = 4.55 %; s.e. 2.1e-4, tol. 5 s.e."""
    std = target_std(N_SAMPLES_SHAPE, 1.0, "fan_in")
    expected = math.erfc(math.sqrt(2.0))
    for sample in (
        dk.variance_scaling(N_SAMPLES_SHAPE, 1.0, "fan_in", "untruncated_normal", seed=3),
        keras_samples(N_SAMPLES_SHAPE, 1.0, "fan_in", "untruncated_normal"),
    ):
        assert np.mean(np.abs(sample) > 2 * std) == pytest.approx(expected, abs=1e-3)


def test_normal_is_an_alias_of_truncated_normal_as_in_keras():
    assert keras.initializers.VarianceScaling(distribution="normal").distribution == (
        "truncated_normal"
    )
    np.testing.assert_array_equal(
        dk.variance_scaling((30, 40), distribution="normal", seed=5),
        dk.variance_scaling((30, 40), distribution="truncated_normal", seed=5),
    )
    np.testing.assert_array_equal(
        dk.variance_scaling((30, 40), distribution="Uniform", seed=5),
        dk.variance_scaling((30, 40), distribution="uniform", seed=5),
    )


@pytest.mark.parametrize("shape", [(), (5,), (0, 3), (2, 3, 4, 5)])
def test_variance_scaling_shapes_and_dtype(shape):
    w = dk.variance_scaling(shape, seed=0)
    assert w.shape == shape and w.dtype == np.float32
    assert np.isfinite(w).all()


def test_variance_scaling_uses_at_least_one_fan_like_keras():
    """Keras divides by max(1, n): a (0, 3) kernel or a scalar gets variance `scale`."""
    w = dk.variance_scaling((), scale=4.0, distribution="uniform", seed=0)
    assert abs(float(w)) <= math.sqrt(3 * 4.0)


def test_seeds_are_reproducible():
    a = dk.variance_scaling((20, 30), seed=123)
    np.testing.assert_array_equal(a, dk.variance_scaling((20, 30), seed=123))
    np.testing.assert_array_equal(a, dk.variance_scaling((20, 30), seed=np.random.default_rng(123)))
    assert not np.array_equal(a, dk.variance_scaling((20, 30), seed=124))
    for name in KERAS_NAMED:
        f = getattr(dk, name)
        np.testing.assert_array_equal(f((6, 7), seed=9), f((6, 7), seed=9))


def test_generator_seed_advances():
    rng = np.random.default_rng(0)
    assert not np.array_equal(dk.he_normal((10, 10), seed=rng), dk.he_normal((10, 10), seed=rng))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"mode": "fan_sum"}, "mode"),
        ({"mode": "FAN_IN"}, "mode"),  # Keras' mode is case-sensitive too
        ({"distribution": "gaussian"}, "distribution"),
        ({"distribution": None}, "distribution"),
        ({"scale": -1.0}, "scale"),
        ({"scale": 0.0}, "scale"),
        ({"scale": "2"}, "scale"),
        ({"seed": "abc"}, "seed"),
        ({"seed": -3}, "seed"),
    ],
)
def test_variance_scaling_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        dk.variance_scaling((3, 4), **kwargs)


def test_keras_rejects_what_we_reject():
    """Keras raises for the same mode, distribution and scale errors."""
    for kwargs in ({"mode": "fan_sum"}, {"distribution": "gaussian"}, {"scale": -1.0}):
        with pytest.raises(ValueError):
            keras.initializers.VarianceScaling(**kwargs)


# --------------------------------------------------------------------------- named ones


@pytest.mark.parametrize("name", KERAS_NAMED)
def test_named_initializer_is_variance_scaling_with_keras_arguments(name):
    """Keras' class (e.g. keras.initializers.HeNormal) supplies scale, mode and distribution."""
    keras_init = getattr(keras.initializers, KERAS_NAMED[name])()
    args = (keras_init.scale, keras_init.mode, keras_init.distribution)
    shape = (3, 3, 8, 16)
    np.testing.assert_array_equal(
        getattr(dk, name)(shape, seed=7), dk.variance_scaling(shape, *args, seed=7)
    )


@pytest.mark.parametrize("name", KERAS_NAMED)
def test_named_initializer_statistics_match_keras(name):
    shape = (3, 3, 64, 128)  # 73 728 values, fan_in 576, fan_out 1152
    keras_init = getattr(keras.initializers, KERAS_NAMED[name])(seed=0)
    theirs = keras.ops.convert_to_numpy(keras_init(shape))
    ours = getattr(dk, name)(shape, seed=0)
    std = target_std(shape, keras_init.scale, keras_init.mode)
    # n = 73 728: relative s.e. of the std at most 2.6e-3; 2 % is about 8 s.e.
    if keras_init.distribution == "uniform":
        bound = math.sqrt(3.0) * std
    else:
        bound = 2.0 * std / dk.TRUNCATED_NORMAL_STDDEV
    for sample in (ours, theirs):
        assert sample.std() == pytest.approx(std, rel=0.02)
        assert np.abs(sample).max() <= bound * (1 + 1e-6)
        assert np.abs(sample).max() > bound * 0.99


# --------------------------------------------------------------------------- recommendation


FAMILY = {  # initializer family -> (scale, mode) of the Keras class
    "glorot": (1.0, "fan_avg"),
    "he": (2.0, "fan_in"),
    "lecun": (1.0, "fan_in"),
}


@pytest.mark.parametrize(
    "activation, family",
    [(None, "glorot"), ("linear", "glorot"), ("tanh", "glorot"), ("sigmoid", "glorot")]
    + [("softmax", "glorot"), ("selu", "lecun")]
    + [
        (a, "he")
        for a in ("relu", "leaky_relu", "rrelu", "prelu", "elu", "gelu", "swish", "silu", "mish")
    ],
)
def test_recommended_initializer_table(activation, family):
    """The name is a Keras initializer of the right family and a function of dnnkit."""
    name = dk.recommended_initializer(activation)
    assert name.startswith(family)
    keras_init = keras.initializers.get(name)
    assert (keras_init.scale, keras_init.mode) == FAMILY[family]
    assert callable(getattr(dk, name))
    if activation is not None:
        assert dk.RECOMMENDED_INITIALIZERS[activation] == name
        assert dk.recommended_initializer(activation.upper()) == name


def test_recommended_table_is_the_function():
    assert {a: dk.recommended_initializer(a) for a in dk.RECOMMENDED_INITIALIZERS} == (
        dk.RECOMMENDED_INITIALIZERS
    )
    assert all(isinstance(k, str) for k in dk.RECOMMENDED_INITIALIZERS)


@pytest.mark.parametrize("activation", ["relu6x", "", 3, ["relu"]])
def test_recommended_initializer_rejects_unknown_names_listing_known_ones(activation):
    with pytest.raises(ValueError, match="selu") as info:
        dk.recommended_initializer(activation)
    assert repr(activation) in str(info.value)


def test_import_does_not_import_tensorflow_or_keras():
    code = (
        "import sys, dnnkit.initializers; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
