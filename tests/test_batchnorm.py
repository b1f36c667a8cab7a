"""dnnkit.batchnorm against keras.layers.BatchNormalization, tf.GradientTape and finite differences."""

import numpy as np
import pytest

from dnnkit.batchnorm import (
    batchnorm_backward,
    batchnorm_forward,
    fold_batchnorm,
    fuse_batchnorm_dense,
    fuse_dense_batchnorm,
)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

MOMENTUM, EPS = 0.99, 1e-3  # read from Keras' defaults in test_defaults_are_keras_defaults
to_numpy = keras.ops.convert_to_numpy


def test_defaults_are_keras_defaults():
    layer = keras.layers.BatchNormalization()
    assert (layer.momentum, layer.epsilon) == (MOMENTUM, EPS)


def _batches(n_steps, m=16, n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(loc=3.0, scale=2.0, size=(m, n)) for _ in range(n_steps)]


def _keras_bn(n, dtype, rng):
    """A built Keras BN layer with non-trivial gamma and beta, plus NumPy copies of its state."""
    layer = keras.layers.BatchNormalization(dtype=dtype)
    layer.build((None, n))
    gamma, beta = rng.uniform(0.5, 2.0, n), rng.normal(size=n)
    layer.gamma.assign(gamma.astype(dtype))
    layer.beta.assign(beta.astype(dtype))
    return layer, gamma, beta


# --- forward -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_forward_and_moving_stats_match_keras_over_five_steps(dtype, tol):
    """Oracle: Keras' layer called with training=True once per step, then training=False."""
    rng = np.random.default_rng(1)
    layer, gamma, beta = _keras_bn(5, dtype, rng)
    running_mean, running_var = np.zeros(5), np.ones(5)  # Keras' initial moving statistics
    for x in _batches(5):
        x = x.astype(dtype)
        out, running_mean, running_var, cache = batchnorm_forward(
            x, gamma, beta, running_mean, running_var, training=True
        )
        expected = to_numpy(layer(x, training=True))
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(running_mean, to_numpy(layer.moving_mean), rtol=tol, atol=tol)
        np.testing.assert_allclose(running_var, to_numpy(layer.moving_variance), rtol=tol, atol=tol)
        assert cache is not None

    x = _batches(1, seed=9)[0].astype(dtype)
    out, mean_after, var_after, cache = batchnorm_forward(
        x, gamma, beta, running_mean, running_var, training=False
    )
    np.testing.assert_allclose(out, to_numpy(layer(x, training=False)), rtol=tol, atol=tol)
    np.testing.assert_array_equal(mean_after, running_mean)
    np.testing.assert_array_equal(var_after, running_var)
    assert cache is None


def test_keras_moving_variance_uses_biased_batch_variance():
    """Keras differs from Ioffe & Szegedy (2015) and PyTorch: it divides by m, not m - 1."""
    x = _batches(1, m=4)[0]  # small m: the two conventions differ by a factor 4/3
    layer = keras.layers.BatchNormalization(dtype="float64")
    layer(x, training=True)
    keras_var = to_numpy(layer.moving_variance)
    biased = MOMENTUM * 1.0 + (1 - MOMENTUM) * x.var(axis=0, ddof=0)
    unbiased = MOMENTUM * 1.0 + (1 - MOMENTUM) * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(keras_var, biased, rtol=1e-12)
    assert np.abs(keras_var - unbiased).max() > 1e-4
    _, _, ours, _ = batchnorm_forward(
        x, np.ones(5), np.zeros(5), np.zeros(5), np.ones(5), training=True
    )
    np.testing.assert_allclose(ours, biased, rtol=1e-12)


def test_forward_does_not_modify_its_inputs():
    x = _batches(1)[0]
    args = [np.ones(5), np.zeros(5), np.full(5, 0.5), np.full(5, 2.0)]
    copies = [a.copy() for a in args]
    for training in (True, False):
        batchnorm_forward(x, *args, training=training)
    for a, c in zip(args, copies, strict=True):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": np.ones(5)}, "2-D"),
        ({"gamma": np.ones(4)}, "gamma"),
        ({"running_var": np.ones((5, 1))}, "running_var"),
        ({"momentum": 1.5}, "momentum"),
        ({"eps": 0.0}, "eps"),
        ({"training": "yes"}, "training"),
    ],
)
def test_forward_rejects_bad_input(kwargs, match):
    args = {
        "x": np.ones((3, 5)),
        "gamma": np.ones(5),
        "beta": np.zeros(5),
        "running_mean": np.zeros(5),
        "running_var": np.ones(5),
        "training": True,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        batchnorm_forward(**args)


# --- backward ------------------------------------------------------------------------------


def _forward_backward(x, gamma, beta, dout):
    out, _, _, cache = batchnorm_forward(x, gamma, beta, np.zeros(5), np.ones(5), training=True)
    return out, batchnorm_backward(dout, cache)


def test_backward_matches_gradient_tape_on_keras_layer():
    rng = np.random.default_rng(2)
    layer, gamma, beta = _keras_bn(5, "float64", rng)
    x, dout = _batches(1)[0], rng.normal(size=(16, 5))
    _, (dx, dgamma, dbeta) = _forward_backward(x, gamma, beta, dout)

    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        loss = tf.reduce_sum(layer(x_tf, training=True) * dout)
    grads = tape.gradient(loss, [x_tf, layer.gamma.value, layer.beta.value])
    for got, expected in zip((dx, dgamma, dbeta), grads, strict=True):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, atol=1e-9)


def _numeric_gradient(f, x, h=1e-5):
    """Centred differences of the scalar f() w.r.t. the array x (modified in place, restored)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = f()
        x[idx] = old - h
        minus = f()
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.normal(loc=1.0, scale=2.0, size=(6, 5))
    gamma, beta = rng.uniform(0.5, 2.0, 5), rng.normal(size=5)
    dout = rng.normal(size=(6, 5))
    _, grads = _forward_backward(x, gamma, beta, dout)

    def loss():
        return np.sum(_forward_backward(x, gamma, beta, dout)[0] * dout)

    for got, array in zip(grads, (x, gamma, beta), strict=True):
        expected = _numeric_gradient(loss, array)
        rel = np.abs(got - expected).max() / max(1e-8, np.abs(got).max() + np.abs(expected).max())
        assert rel < 1e-6


def test_backward_rejects_inference_cache_and_wrong_shape():
    x = _batches(1)[0]
    *_, cache = batchnorm_forward(
        x, np.ones(5), np.zeros(5), np.zeros(5), np.ones(5), training=False
    )
    with pytest.raises(ValueError, match="training-mode"):
        batchnorm_backward(np.ones_like(x), cache)
    *_, cache = batchnorm_forward(
        x, np.ones(5), np.zeros(5), np.zeros(5), np.ones(5), training=True
    )
    with pytest.raises(ValueError, match="shape"):
        batchnorm_backward(np.ones((3, 5)), cache)


# --- fusing one Dense and one BN -----------------------------------------------------------


def _randomize_bn(layer, rng):
    """Give a built BN layer non-trivial gamma, beta and moving statistics."""
    n = layer.moving_mean.shape[0]
    dtype = layer.moving_mean.dtype
    if layer.scale:
        layer.gamma.assign(rng.uniform(0.5, 2.0, n).astype(dtype))
    if layer.center:
        layer.beta.assign(rng.normal(size=n).astype(dtype))
    layer.moving_mean.assign(rng.normal(size=n).astype(dtype))
    layer.moving_variance.assign(rng.uniform(0.2, 3.0, n).astype(dtype))


@pytest.mark.parametrize("use_bias", [True, False])
def test_fuse_dense_batchnorm_equals_keras_dense_then_bn(use_bias):
    rng = np.random.default_rng(4)
    dense = keras.layers.Dense(3, use_bias=use_bias, bias_initializer="ones", dtype="float64")
    bn = keras.layers.BatchNormalization(dtype="float64")
    x = rng.normal(size=(10, 4))
    bn(dense(x))
    _randomize_bn(bn, rng)
    expected = to_numpy(bn(dense(x), training=False))
    bias = to_numpy(dense.bias) if use_bias else None
    kernel, bias = fuse_dense_batchnorm(
        to_numpy(dense.kernel), bias, *(to_numpy(w) for w in bn.weights), eps=bn.epsilon
    )
    np.testing.assert_allclose(x @ kernel + bias, expected, rtol=1e-12, atol=1e-12)


def test_fuse_batchnorm_dense_equals_keras_bn_then_dense():
    rng = np.random.default_rng(5)
    bn = keras.layers.BatchNormalization(dtype="float64")
    dense = keras.layers.Dense(3, bias_initializer="ones", dtype="float64")
    x = rng.normal(size=(10, 4))
    dense(bn(x))
    _randomize_bn(bn, rng)
    expected = to_numpy(dense(bn(x, training=False)))
    kernel, bias = fuse_batchnorm_dense(
        *(to_numpy(w) for w in bn.weights), to_numpy(dense.kernel), to_numpy(dense.bias)
    )
    np.testing.assert_allclose(x @ kernel + bias, expected, rtol=1e-12, atol=1e-12)


def test_fuse_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="gamma"):
        fuse_dense_batchnorm(np.ones((4, 3)), None, np.ones(2), None, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="kernel"):
        fuse_batchnorm_dense(None, None, np.zeros(3), np.ones(3), np.ones(3), None)


# --- folding whole models ------------------------------------------------------------------


def _classic_layers():
    layers = keras.layers
    return [
        layers.Flatten(),
        layers.BatchNormalization(),
        layers.Dense(300, activation="relu"),
        layers.BatchNormalization(),
        layers.Dense(100, activation="relu"),
        layers.BatchNormalization(),
        layers.Dense(10, activation="softmax"),
    ]


def _bn_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _check_folded(model, x, atol=1e-5):
    rng = np.random.default_rng(6)
    for bn in _bn_layers(model):
        _randomize_bn(bn, rng)
    folded = fold_batchnorm(model)
    assert _bn_layers(folded) == []
    np.testing.assert_allclose(
        to_numpy(folded(x, training=False)), to_numpy(model(x, training=False)), atol=atol, rtol=0
    )
    return folded


def test_fold_classic_sequential_model_matches_original():
    """The model of Hands-On ML ch. 11: BN first and after each activation -> next Dense."""
    model = keras.Sequential([keras.Input((28, 28)), *_classic_layers()])
    x = np.random.default_rng(7).uniform(size=(32, 28, 28)).astype("float32")
    folded = _check_folded(model, x)
    assert isinstance(folded, keras.Sequential)
    assert [type(layer).__name__ for layer in folded.layers] == ["Flatten"] + ["Dense"] * 3


def test_fold_classic_functional_model_matches_original():
    inputs = keras.Input((28, 28))
    x = inputs
    for layer in _classic_layers():
        x = layer(x)
    model = keras.Model(inputs, x)
    batch = np.random.default_rng(8).uniform(size=(32, 28, 28)).astype("float32")
    folded = _check_folded(model, batch)
    assert not isinstance(folded, keras.Sequential)


def test_folded_model_shares_no_variable_with_original():
    model = keras.Sequential([keras.Input((28, 28)), *_classic_layers()])
    x = np.random.default_rng(9).uniform(size=(4, 28, 28)).astype("float32")
    folded = _check_folded(model, x)
    original = [w.copy() for w in model.get_weights()]
    assert {id(v) for v in folded.weights}.isdisjoint({id(v) for v in model.weights})
    for v in folded.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    for w, w0 in zip(model.get_weights(), original, strict=True):
        np.testing.assert_array_equal(w, w0)


def test_fold_bn_before_activation_into_previous_dense_after_training():
    """Dense(use_bias=False) -> BN -> Activation: trained a few steps so the stats are real."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(8, use_bias=False),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Dense(8, use_bias=False),
            layers.Dropout(0.2),
            layers.BatchNormalization(scale=False, center=False),
            layers.Activation("elu"),
            layers.Dense(3),
        ]
    )
    rng = np.random.default_rng(10)
    x, y = rng.normal(loc=2.0, size=(64, 6)), rng.normal(size=(64, 3))
    model.compile(keras.optimizers.SGD(0.05), "mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    moving_means = [to_numpy(bn.moving_mean) for bn in _bn_layers(model)]
    assert all(np.abs(m).max() > 1e-3 for m in moving_means)  # the statistics did move
    folded = fold_batchnorm(model)
    names = [type(layer).__name__ for layer in folded.layers]
    assert names == ["Dense", "Activation", "Dense", "Dropout", "Activation", "Dense"]
    assert folded.layers[0].use_bias and folded.layers[2].use_bias
    np.testing.assert_allclose(
        to_numpy(folded(x.astype("float32"))), to_numpy(model(x)), atol=1e-5, rtol=0
    )


def test_fold_consecutive_bn_layers_after_an_activation():
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(5, activation="tanh"),
            layers.BatchNormalization(),
            layers.BatchNormalization(),
            layers.Dense(2),
        ]
    )
    _check_folded(model, np.random.default_rng(11).normal(size=(8, 4)).astype("float32"))


def test_fold_bn_right_after_the_input_into_the_next_dense():
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="input_bn")(inputs)
    x = keras.layers.Dense(3, activation="relu", use_bias=False)(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    folded = _check_folded(model, np.random.default_rng(12).normal(size=(8, 4)).astype("float32"))
    assert folded.layers[1].use_bias  # the BN shift became the bias of the first Dense


def _sequential(*layers, shape=(4,)):
    return keras.Sequential([keras.Input(shape), *layers])


@pytest.mark.parametrize(
    "make_model, match",
    [
        (  # trailing BN after an activation: nothing to fold into
            lambda: _sequential(
                keras.layers.Dense(3, activation="relu"),
                keras.layers.BatchNormalization(name="last_bn"),
            ),
            "last_bn",
        ),
        (  # BN between an activated Dense and a non-Dense layer
            lambda: _sequential(
                keras.layers.Dense(3, activation="relu"),
                keras.layers.BatchNormalization(name="lonely_bn"),
                keras.layers.Activation("tanh"),
                keras.layers.Dense(2),
            ),
            "lonely_bn",
        ),
        (  # BN over an axis that is not the last one
            lambda: _sequential(
                keras.layers.BatchNormalization(axis=1, name="axis_bn"),
                keras.layers.Dense(2),
                shape=(4, 5),
            ),
            "axis_bn.*axis=1",
        ),
    ],
)
def test_fold_raises_naming_the_layer_it_cannot_fold(make_model, match):
    with pytest.raises(ValueError, match=match):
        fold_batchnorm(make_model())


def test_fold_rejects_a_model_that_is_not_a_chain():
    inputs = keras.Input((4,))
    a = keras.layers.Dense(3, name="branch_a")(inputs)
    b = keras.layers.Dense(3, name="branch_b")(inputs)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="chain"):
        fold_batchnorm(model)


def test_numpy_part_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, dnnkit.batchnorm; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
