"""dnnkit.activations against keras.activations / tf.nn (values), tf.GradientTape and centred
finite differences (derivatives), all in float64.

Tolerances: values and derivatives agree with TensorFlow to ``rtol=1e-6`` with ``atol=1e-12``
(the absolute floor is tiny so that values near 0, e.g. sigmoid(-20) = 2e-9, are checked too).
Centred differences with ``h = 1e-5`` have truncation error ``h^2 |f'''| / 6`` and rounding
error ``~ 1e-16 |f| / h``, both below 1e-8 on [-6, 6]; the tolerance is 1e-7.
"""

import inspect
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from dnnkit import activations as dk

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

RTOL, ATOL = 1e-6, 1e-12
Z = np.concatenate([np.linspace(-6.0, 6.0, 241), [-50.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 50.0]])
Z_SMOOTH = np.linspace(-6.0, 6.0, 240)  # even count: 0 excluded, for finite differences
EXTREME = np.array([-1000.0, -710.0, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 710.0, 1000.0])
LOWER, UPPER = 1 / 8, 1 / 3


def keras_gelu_sigmoid(x):
    return x * tf.sigmoid(1.702 * x)


# name, dnnkit function, its derivative, keyword arguments, TensorFlow oracle
CASES = [
    ("sigmoid", dk.sigmoid, dk.sigmoid_grad, {}, keras.activations.sigmoid),
    ("tanh", dk.tanh, dk.tanh_grad, {}, keras.activations.tanh),
    ("relu", dk.relu, dk.relu_grad, {}, keras.activations.relu),
    ("leaky_relu", dk.leaky_relu, dk.leaky_relu_grad, {}, keras.activations.leaky_relu),
    (
        "leaky_relu_0.01",
        dk.leaky_relu,
        dk.leaky_relu_grad,
        {"negative_slope": 0.01},
        lambda x: keras.activations.leaky_relu(x, negative_slope=0.01),
    ),
    (
        "rrelu_inference",
        dk.rrelu,
        dk.rrelu_grad,
        {},
        lambda x: tf.nn.leaky_relu(x, alpha=(LOWER + UPPER) / 2),
    ),
    ("elu", dk.elu, dk.elu_grad, {}, keras.activations.elu),
    ("elu_0.5", dk.elu, dk.elu_grad, {"alpha": 0.5}, lambda x: keras.activations.elu(x, 0.5)),
    ("selu", dk.selu, dk.selu_grad, {}, keras.activations.selu),
    ("gelu", dk.gelu, dk.gelu_grad, {}, lambda x: keras.activations.gelu(x, approximate=False)),
    (
        "gelu_tanh",
        dk.gelu,
        dk.gelu_grad,
        {"approximate": "tanh"},
        lambda x: tf.nn.gelu(x, approximate=True),
    ),
    ("gelu_sigmoid", dk.gelu, dk.gelu_grad, {"approximate": "sigmoid"}, keras_gelu_sigmoid),
    ("swish", dk.swish, dk.swish_grad, {}, keras.activations.swish),
    ("silu_beta_1.5", dk.swish, dk.swish_grad, {"beta": 1.5}, lambda x: tf.nn.silu(x, beta=1.5)),
    ("mish", dk.mish, dk.mish_grad, {}, keras.activations.mish),
    ("softplus", dk.softplus, dk.softplus_grad, {}, keras.activations.softplus),
]
IDS = [case[0] for case in CASES]

# Where the derivative jumps at 0, TF picks one side; Keras' elu(x, alpha != 1) is
# tf.where(x > 0, elu(x), alpha * elu(x)) whose TF derivative at 0 is alpha, while tf.nn.elu's
# (and ours) is 1. We compare everywhere except at that single point for elu_0.5.
SKIP_ZERO_GRAD = {"elu_0.5"}

# TensorFlow 2.21's fused Gelu kernel (behind keras.activations.gelu(approximate=False)) has a
# gradient off by up to ~6e-9 in float64 (e.g. at z = -0.75 where the derivative is 7.7e-4),
# while the derivative of the same formula through tf.math.erf agrees with ours to 1e-16: it is
# compared with atol=1e-8 here, and to the erf formula tightly in a test of its own.
GRAD_ATOL = {"gelu": 1e-8}


def tf_value_and_grad(fn, z):
    x = tf.constant(z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return y.numpy(), tape.gradient(y, x).numpy()


@pytest.mark.parametrize("name, f, f_grad, kwargs, oracle", CASES, ids=IDS)
def test_values_match_keras_float64(name, f, f_grad, kwargs, oracle):
    expected, _ = tf_value_and_grad(oracle, Z)
    got = f(Z, **kwargs)
    assert got.dtype == np.float64 and got.shape == Z.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name, f, f_grad, kwargs, oracle", CASES, ids=IDS)
def test_grads_match_tf_gradient_tape(name, f, f_grad, kwargs, oracle):
    z = Z[Z != 0] if name in SKIP_ZERO_GRAD else Z
    _, expected = tf_value_and_grad(oracle, z)
    atol = GRAD_ATOL.get(name, ATOL)
    np.testing.assert_allclose(f_grad(z, **kwargs), expected, rtol=RTOL, atol=atol)


def test_exact_gelu_grad_matches_tape_through_erf_formula():
    """tf.GradientTape through 0.5 z (1 + erf(z / sqrt 2)), the definition, in float64."""
    _, expected = tf_value_and_grad(lambda x: 0.5 * x * (1 + tf.math.erf(x / math.sqrt(2))), Z)
    np.testing.assert_allclose(dk.gelu_grad(Z), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, f, f_grad, kwargs, oracle", CASES, ids=IDS)
def test_grads_match_centred_finite_differences(name, f, f_grad, kwargs, oracle):
    h = 1e-5
    numeric = (f(Z_SMOOTH + h, **kwargs) - f(Z_SMOOTH - h, **kwargs)) / (2 * h)
    np.testing.assert_allclose(f_grad(Z_SMOOTH, **kwargs), numeric, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("name, f, f_grad, kwargs, oracle", CASES, ids=IDS)
def test_stable_for_large_inputs(name, f, f_grad, kwargs, oracle):
    """|z| up to 1000 in float64 and float32: no warning, no overflow, no NaN; equals Keras."""
    for dtype in (np.float64, np.float32):
        z = EXTREME.astype(dtype)
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
            warnings.simplefilter("error")
            out, grad = f(z, **kwargs), f_grad(z, **kwargs)
        assert np.isfinite(out).all() and np.isfinite(grad).all()
        assert out.dtype == dtype and grad.dtype == dtype
    z = EXTREME[EXTREME != 0] if name in SKIP_ZERO_GRAD else EXTREME
    expected, expected_grad = tf_value_and_grad(oracle, z)
    atol = GRAD_ATOL.get(name, ATOL)
    np.testing.assert_allclose(f(z, **kwargs), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(f_grad(z, **kwargs), expected_grad, rtol=RTOL, atol=atol)


def test_leaky_relu_default_slope_is_keras_default():
    """keras.activations.leaky_relu's default (keras.layers.LeakyReLU's differs: 0.3)."""
    keras_default = inspect.signature(keras.activations.leaky_relu).parameters["negative_slope"]
    for f in (dk.leaky_relu, dk.leaky_relu_grad):
        assert inspect.signature(f).parameters["negative_slope"].default == keras_default.default


def test_scalars_and_integers_are_accepted():
    assert dk.relu(3) == 3.0 and dk.relu_grad([-2, 5]).tolist() == [0.0, 1.0]
    assert dk.sigmoid(0) == 0.5


# --------------------------------------------------------------------------- SELU


def test_selu_constants_match_keras():
    """Keras' constants, read from keras.activations.selu: selu(1) = scale and
    selu(-1000) = -scale * alpha (exp(-1000) is 0 in float64)."""
    at_one = keras.activations.selu(tf.constant(1.0, tf.float64)).numpy()
    at_minus_inf = keras.activations.selu(tf.constant(-1000.0, tf.float64)).numpy()
    assert dk.SELU_SCALE == pytest.approx(at_one, rel=1e-14)
    assert dk.SELU_ALPHA == pytest.approx(-at_minus_inf / at_one, rel=1e-14)


def test_selu_constants_are_a_fixed_point_of_mean_and_variance():
    """Numerical integration: for z ~ N(0, 1), E[selu(z)] = 0 and E[selu(z)^2] = 1.

    The trapezoid rule on [-12, 12] with 0 on the grid has error ~1e-11 here; a 1e-4
    change in alpha moves the mean by 4e-5, so the 1e-9 tolerance can fail."""
    z = np.linspace(-12.0, 12.0, 480_001)
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    y = dk.selu(z)
    assert np.trapezoid(y * pdf, z) == pytest.approx(0.0, abs=1e-9)
    assert np.trapezoid(y**2 * pdf, z) == pytest.approx(1.0, abs=1e-9)


# --------------------------------------------------------------------------- GELU


def test_gelu_sigmoid_approximation_is_its_formula():
    """Hand formula z * sigmoid(1.702 z) = z / (1 + exp(-1.702 z)) on [-6, 6]."""
    np.testing.assert_allclose(
        dk.gelu(Z_SMOOTH, "sigmoid"), Z_SMOOTH / (1.0 + np.exp(-1.702 * Z_SMOOTH)), rtol=1e-13
    )


def test_gelu_accepts_keras_booleans():
    np.testing.assert_array_equal(dk.gelu(Z, False), dk.gelu(Z, "none"))
    np.testing.assert_array_equal(dk.gelu(Z, True), dk.gelu(Z, "tanh"))
    np.testing.assert_array_equal(dk.gelu_grad(Z, True), dk.gelu_grad(Z, "tanh"))


def test_gelu_approximation_errors_over_minus_six_six():
    """Max |approx - exact| on [-6, 6] (values reported in the chapter): the tanh
    approximation is more than an order of magnitude closer than the sigmoid one."""
    z = np.linspace(-6.0, 6.0, 120_001)
    exact = dk.gelu(z)
    err_tanh = np.abs(dk.gelu(z, "tanh") - exact).max()
    err_sigmoid = np.abs(dk.gelu(z, "sigmoid") - exact).max()
    assert 0 < err_tanh < 1e-3 and 0 < err_sigmoid < 3e-2
    assert err_tanh * 10 < err_sigmoid


# --------------------------------------------------------------------------- RReLU


def test_rrelu_inference_uses_mean_slope():
    """Keras leaky_relu with the mean slope (lower + upper) / 2 is the oracle (TF stores the
    slope as a float32 attribute, hence rtol 1e-6 rather than 1e-15)."""
    expected = keras.activations.leaky_relu(tf.constant(Z), negative_slope=0.3).numpy()
    np.testing.assert_allclose(dk.rrelu(Z, 0.2, 0.4), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dk.rrelu_grad(Z, 0.2, 0.4)[Z <= 0], (0.2 + 0.4) / 2, rtol=1e-15)


def test_rrelu_training_slopes_lie_in_range_and_vary():
    z = -np.linspace(0.5, 3.0, 10_000).reshape(100, 100)
    slopes = dk.rrelu(z, training=True, seed=0) / z
    assert slopes.min() >= LOWER and slopes.max() <= UPPER
    # 10 000 uniform slopes: std (upper - lower) / sqrt(12), relative s.e. ~ 0.5 %
    assert slopes.std() == pytest.approx((UPPER - LOWER) / math.sqrt(12), rel=0.03)
    assert slopes.mean() == pytest.approx((LOWER + UPPER) / 2, rel=0.01)
    positive = np.abs(z)
    np.testing.assert_array_equal(dk.rrelu(positive, training=True, seed=0), positive)


def test_rrelu_same_seed_gives_same_slopes_in_grad():
    z = np.linspace(-3.0, 3.0, 601)
    out = dk.rrelu(z, training=True, seed=42)
    grad = dk.rrelu_grad(z, training=True, seed=42)
    np.testing.assert_array_equal(out, dk.rrelu(z, training=True, seed=42))
    neg, pos = z < 0, z > 0
    np.testing.assert_allclose(grad[neg], out[neg] / z[neg], rtol=1e-14)
    np.testing.assert_array_equal(grad[pos], 1.0)
    assert LOWER <= grad[z == 0][0] <= UPPER  # at 0: the slope, as leaky ReLU in TF
    assert not np.array_equal(out, dk.rrelu(z, training=True, seed=43))


def test_rrelu_training_grad_matches_finite_differences_with_fixed_seed():
    h = 1e-5
    z = Z_SMOOTH
    numeric = (dk.rrelu(z + h, training=True, seed=3) - dk.rrelu(z - h, training=True, seed=3)) / (
        2 * h
    )
    np.testing.assert_allclose(dk.rrelu_grad(z, training=True, seed=3), numeric, rtol=1e-8)


def test_rrelu_training_grad_matches_gradient_tape():
    """tf.GradientTape through tf.where(z > 0, z, a z) with our slopes a."""
    slopes = dk.rrelu_grad(-np.abs(Z) - 1.0, training=True, seed=5)  # all drawn slopes
    _, expected = tf_value_and_grad(lambda x: tf.where(x > 0, x, slopes * x), Z)
    np.testing.assert_allclose(dk.rrelu_grad(Z, training=True, seed=5), expected, rtol=1e-15)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: dk.leaky_relu(Z, negative_slope=-0.1), "negative_slope"),
        (lambda: dk.leaky_relu_grad(Z, negative_slope="a"), "negative_slope"),
        (lambda: dk.rrelu(Z, lower=0.5, upper=0.1), "upper"),
        (lambda: dk.rrelu_grad(Z, lower=-0.1), "lower"),
        (lambda: dk.elu(Z, alpha=0.0), "alpha"),
        (lambda: dk.elu_grad(Z, alpha=float("nan")), "alpha"),
        (lambda: dk.gelu(Z, approximate="erf"), "approximate"),
        (lambda: dk.gelu_grad(Z, approximate=None), "approximate"),
        (lambda: dk.swish(Z, beta=None), "beta"),
        (lambda: dk.sigmoid(np.array(["a", "b"])), "dtype"),
    ],
)
def test_bad_arguments_raise_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_import_does_not_import_tensorflow_or_keras():
    code = (
        "import sys, numpy as np, dnnkit.activations as a; a.gelu(np.ones(3)); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
