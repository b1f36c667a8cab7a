"""dnnkit.layers against Keras built-ins, tf.nn and tf.GradientTape (float64 where possible)."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from dnnkit.layers import Mish, RReLU, Swish  # noqa: E402

TOL = 1e-6


@pytest.fixture
def z64():
    """Float64 inputs covering both signs, zero, and large magnitudes."""
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(64, 7))
    z[0, :4] = [0.0, -40.0, 40.0, -1e-8]
    return z


# --- RReLU -----------------------------------------------------------------------------------


def test_rrelu_inference_matches_keras_leaky_relu_with_mean_slope(z64):
    layer = RReLU(lower=0.1, upper=0.3, dtype="float64")
    oracle = keras.layers.LeakyReLU(negative_slope=0.2, dtype="float64")
    got = keras.ops.convert_to_numpy(layer(z64, training=False))
    expected = keras.ops.convert_to_numpy(oracle(z64))
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_rrelu_training_draws_one_uniform_slope_per_element():
    """Hand calculation: slopes = out / z on negative z lie in [lower, upper], mean (l+u)/2."""
    lower, upper = 0.1, 0.3
    z = -np.linspace(0.5, 2.0, 20_000).reshape(200, 100)
    layer = RReLU(lower, upper, seed=1, dtype="float64")
    slopes = keras.ops.convert_to_numpy(layer(z, training=True)) / z
    assert slopes.min() >= lower and slopes.max() <= upper
    assert len(np.unique(np.round(slopes, 12))) > 0.99 * slopes.size  # per element
    standard_error = (upper - lower) / np.sqrt(12 * slopes.size)
    assert abs(slopes.mean() - (lower + upper) / 2) < 5 * standard_error
    # positive inputs pass through unchanged in training too
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(-z, training=True)), -z)


def test_rrelu_training_is_fresh_per_call_and_reproducible_from_seed():
    z = -np.ones((4, 50))
    a = RReLU(seed=3)
    first, second = (keras.ops.convert_to_numpy(a(z, training=True)) for _ in range(2))
    assert not np.array_equal(first, second)  # new slopes every batch
    again = keras.ops.convert_to_numpy(RReLU(seed=3)(z, training=True))
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("lower, upper", [(0.3, 0.1), (-0.1, 0.2), (0.1, float("nan"))])
def test_rrelu_rejects_bad_slope_range(lower, upper):
    with pytest.raises(ValueError, match="lower"):
        RReLU(lower, upper)


# --- Swish -----------------------------------------------------------------------------------


def test_swish_beta_one_matches_keras_silu(z64):
    got = keras.ops.convert_to_numpy(Swish(dtype="float64")(z64))
    expected = keras.ops.convert_to_numpy(keras.activations.silu(z64))
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("beta", [0.5, 1.7])
def test_swish_matches_tf_nn_silu_with_beta(z64, beta):
    got = keras.ops.convert_to_numpy(Swish(beta=beta, dtype="float64")(z64))
    expected = tf.nn.silu(tf.constant(z64), beta=beta).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_swish_beta_gradient_matches_gradient_tape_on_formula(z64):
    layer = Swish(beta=1.3, trainable_beta=True, dtype="float64")
    layer.build(z64.shape)
    x = tf.constant(z64)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    got = tape.gradient(loss, layer.beta.value).numpy()

    beta = tf.Variable(1.3, dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum((x * tf.sigmoid(beta * x)) ** 2)
    expected = tape.gradient(loss, beta).numpy()
    assert got != 0.0
    np.testing.assert_allclose(got, expected, rtol=TOL)


def test_swish_trainable_beta_is_learned_and_fixed_beta_is_not():
    x = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    y = x * 0.9
    betas = {}
    for trainable in (True, False):
        layer = Swish(beta=1.0, trainable_beta=trainable, name="swish")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), layer])
        assert [w.name for w in layer.weights] == ["beta"]
        assert (len(layer.trainable_weights) == 1) is trainable
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        betas[trainable] = float(keras.ops.convert_to_numpy(layer.beta))
    assert betas[True] != 1.0
    assert betas[False] == 1.0


# --- Mish ------------------------------------------------------------------------------------


def test_mish_matches_keras_mish(z64):
    """Values and gradients (tf.GradientTape) in float64, to rounding: the layer's one-exp
    formula is the same function as Keras' z * tanh(softplus(z))."""
    z = tf.constant(np.concatenate([z64.ravel(), [-700.0, -30.0, 19.99, 20.0, 20.01, 30.0]]))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        got = Mish(dtype="float64")(z)
        expected = keras.activations.mish(z)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(
        tape.gradient(got, z).numpy(), tape.gradient(expected, z).numpy(), rtol=1e-12, atol=1e-15
    )


def test_mish_float32_matches_keras_to_float32_rounding():
    z = np.linspace(-20.0, 25.0, 10_001, dtype="float32")
    got = keras.ops.convert_to_numpy(Mish()(z))
    expected = keras.ops.convert_to_numpy(keras.activations.mish(z))
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-30)


def test_mish_is_finite_for_large_inputs():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype="float32")
    out = keras.ops.convert_to_numpy(Mish()(z))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[[2, 3, 4]], [0.0, 50.0, 1000.0])


# --- serialization and XLA -------------------------------------------------------------------


def _model_with_all_layers():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8),
            RReLU(0.05, 0.25, seed=7),
            keras.layers.Dense(8),
            Swish(beta=1.5, trainable_beta=True),
            keras.layers.Dense(4),
            Mish(),
        ]
    )


def test_get_config_round_trip_keeps_parameters():
    for layer in (RReLU(0.05, 0.25, seed=7), Swish(beta=1.5, trainable_beta=True), Mish()):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    model = _model_with_all_layers()
    model.layers[3].beta.assign(0.8)  # a "learned" beta must be saved as a weight
    x = np.random.default_rng(2).normal(size=(16, 5)).astype("float32")
    path = tmp_path / "x.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    assert float(keras.ops.convert_to_numpy(loaded.layers[3].beta)) == pytest.approx(0.8)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )


def test_layers_run_inside_xla_compiled_tf_function():
    model = _model_with_all_layers()
    x = tf.constant(np.random.default_rng(3).normal(size=(16, 5)).astype("float32"))

    @tf.function(jit_compile=True)
    def forward(x, training):
        return model(x, training=training)

    eager = model(x, training=False).numpy()
    np.testing.assert_allclose(forward(x, False).numpy(), eager, rtol=1e-5, atol=1e-6)
    train_out = forward(x, True).numpy()
    assert train_out.shape == eager.shape and np.all(np.isfinite(train_out))


def test_rrelu_slopes_stay_in_range_under_xla():
    layer = RReLU(0.1, 0.3, seed=4)
    z = -tf.ones((8, 64))
    out = tf.function(lambda z: layer(z, training=True), jit_compile=True)(z).numpy()
    slopes = out / z.numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.01
