"""dnnkit.clipping against tf.clip_by_value / tf.clip_by_norm / tf.clip_by_global_norm, against
the clipping options of Keras optimizers (clipvalue, clipnorm, global_clipnorm), and the clipped
training step against a manual GradientTape + clipping + SGD update.

float64 comparisons with TF use rtol 1e-12 (same arithmetic, a few roundings apart); anything
that goes through a float32 Keras variable uses rtol 1e-6, atol 1e-7 (float32 has eps 1.2e-7).
"""

import math
import subprocess
import sys

import numpy as np
import pytest

from dnnkit import clipping as dk

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

SHAPES = [(3, 4), (4,), (2, 2, 3)]


def make_grads(dtype=np.float64, seed=0, scales=(1.0, 0.1, 3.0)):
    """Three gradient arrays with norms of different sizes (about 3.5, 0.2 and 10)."""
    rng = np.random.default_rng(seed)
    return [
        (s * rng.standard_normal(shape)).astype(dtype)
        for s, shape in zip(scales, SHAPES, strict=True)
    ]


def tf_list(fn, grads):
    return [t.numpy() for t in fn([tf.constant(g) for g in grads])]


# --------------------------------------------------------------------------- vs tf.clip_*


@pytest.mark.parametrize("clip_value", [0.05, 0.5, 2.0, 100.0])
def test_clip_by_value_matches_tf(clip_value):
    grads = make_grads()
    expected = [tf.clip_by_value(g, -clip_value, clip_value).numpy() for g in grads]
    got = dk.clip_by_value(grads, clip_value)
    assert isinstance(got, list)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    np.testing.assert_array_equal(dk.clip_by_value(grads[0], clip_value), expected[0])


@pytest.mark.parametrize("clip_norm", [0.1, 1.0, 5.0, 100.0])
def test_clip_by_norm_matches_tf_for_each_array(clip_norm):
    """tf.clip_by_norm on each array separately (some above, some below the threshold)."""
    grads = make_grads()
    got = dk.clip_by_norm(grads, clip_norm)
    for g, original in zip(got, grads, strict=True):
        np.testing.assert_allclose(g, tf.clip_by_norm(original, clip_norm).numpy(), rtol=1e-12)
        assert np.linalg.norm(g) <= clip_norm * (1 + 1e-12)
    single = dk.clip_by_norm(grads[2], clip_norm)
    np.testing.assert_allclose(single, tf.clip_by_norm(grads[2], clip_norm).numpy(), rtol=1e-12)


def test_clip_by_norm_takes_grads_like_its_siblings_and_grad_its_older_name():
    """``grads`` (positional or keyword) and the older keyword ``grad`` give tf.clip_by_norm."""
    grads = make_grads()
    expected = [tf.clip_by_norm(g, 1.0).numpy() for g in grads]
    for got in (
        dk.clip_by_norm(grads, 1.0),
        dk.clip_by_norm(grads=grads, clip_norm=1.0),
        dk.clip_by_norm(grad=grads, clip_norm=1.0),
    ):
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12)
    np.testing.assert_allclose(dk.clip_by_norm(grad=grads[0], clip_norm=1.0), expected[0])
    with pytest.raises(ValueError, match="grad"):
        dk.clip_by_norm(grads, 1.0, grad=grads)
    with pytest.raises(TypeError, match="clip_norm"):
        dk.clip_by_norm(grad=grads)


def test_clip_by_norm_keeps_direction_and_zero():
    g = np.array([3.0, -4.0])
    np.testing.assert_allclose(dk.clip_by_norm(g, 1.0), [0.6, -0.8], rtol=1e-15)  # by hand
    np.testing.assert_array_equal(
        dk.clip_by_norm(np.zeros(3), 1.0), tf.clip_by_norm(np.zeros(3), 1.0)
    )


@pytest.mark.parametrize("clip_norm", [0.5, 5.0, 11.0, 100.0])
def test_clip_by_global_norm_matches_tf(clip_norm):
    grads = make_grads()
    expected, expected_norm = tf.clip_by_global_norm([tf.constant(g) for g in grads], clip_norm)
    got, norm = dk.clip_by_global_norm(grads, clip_norm)
    assert isinstance(norm, float)
    assert norm == pytest.approx(expected_norm.numpy(), rel=1e-12)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-12)
    assert dk.global_norm(got) <= clip_norm * (1 + 1e-12)


def test_global_norm_matches_tf():
    grads = make_grads()
    assert dk.global_norm(grads) == pytest.approx(tf.linalg.global_norm(grads).numpy(), rel=1e-12)
    assert dk.global_norm(grads[0]) == pytest.approx(np.linalg.norm(grads[0]), rel=1e-12)
    assert dk.global_norm([]) == 0.0


def test_global_norm_clipping_differs_from_per_array_clipping():
    """The two are different operations: per-array clipping changes the direction."""
    grads = make_grads()
    per_array = np.concatenate([g.ravel() for g in dk.clip_by_norm(grads, 1.0)])
    joint = np.concatenate([g.ravel() for g in dk.clip_by_global_norm(grads, 1.0)[0]])
    original = np.concatenate([g.ravel() for g in grads])
    cosine = per_array @ original / (np.linalg.norm(per_array) * np.linalg.norm(original))
    assert cosine < 0.99
    np.testing.assert_allclose(joint / np.linalg.norm(joint), original / np.linalg.norm(original))


def test_none_entries_pass_through_like_tf():
    grads = make_grads()
    with_none = [grads[0], None, grads[2]]
    got, norm = dk.clip_by_global_norm(with_none, 1.0)
    expected, expected_norm = tf.clip_by_global_norm([tf.constant(grads[0]), None, grads[2]], 1.0)
    assert got[1] is None and expected[1] is None
    assert norm == pytest.approx(expected_norm.numpy(), rel=1e-12)
    np.testing.assert_allclose(got[2], expected[2].numpy(), rtol=1e-12)
    assert dk.clip_by_norm(with_none, 1.0)[1] is None
    assert dk.clip_by_value(with_none, 1.0)[1] is None


def test_infinite_global_norm_gives_nan_like_tf():
    grads = [np.array([1.0, np.inf]), np.ones(2)]
    expected, _ = tf.clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    got, norm = dk.clip_by_global_norm(grads, 1.0)
    assert math.isinf(norm)
    assert all(np.isnan(g).all() for g in got) and all(np.isnan(e.numpy()).all() for e in expected)


def test_float32_stays_float32():
    grads = make_grads(np.float32)
    assert all(g.dtype == np.float32 for g in dk.clip_by_value(grads, 0.5))
    assert all(g.dtype == np.float32 for g in dk.clip_by_norm(grads, 0.5))
    assert all(g.dtype == np.float32 for g in dk.clip_by_global_norm(grads, 0.5)[0])


def test_inputs_are_not_modified():
    grads = make_grads()
    copies = [g.copy() for g in grads]
    dk.clip_by_value(grads, 0.1), dk.clip_by_norm(grads, 0.1), dk.clip_by_global_norm(grads, 0.1)
    for g, c in zip(grads, copies, strict=True):
        np.testing.assert_array_equal(g, c)


# --------------------------------------------------------------------------- vs Keras optimizers


def keras_sgd_update(grads, **clip_kwargs):
    """What keras.optimizers.SGD(learning_rate=1, **clip_kwargs) subtracts from the variables:
    with lr = 1 the update is the clipped gradient itself."""
    variables = [keras.Variable(np.zeros(g.shape, np.float32)) for g in grads]
    optimizer = keras.optimizers.SGD(learning_rate=1.0, **clip_kwargs)
    optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables, strict=True))
    return [-v.numpy() for v in variables]


@pytest.mark.parametrize(
    "keras_kwarg, ours",
    [
        ("clipvalue", lambda g, t: dk.clip_by_value(g, t)),
        ("clipnorm", lambda g, t: dk.clip_by_norm(g, t)),
        ("global_clipnorm", lambda g, t: dk.clip_by_global_norm(g, t)[0]),
    ],
)
@pytest.mark.parametrize("threshold", [0.3, 2.0])
def test_matches_keras_optimizer_clipping_options(keras_kwarg, ours, threshold):
    grads = make_grads(np.float32)
    expected = keras_sgd_update(grads, **{keras_kwarg: threshold})
    got = ours(grads, threshold)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)
    assert not all(
        np.allclose(g, o) for g, o in zip(got, grads, strict=True)
    )  # clipping was active


def test_keras_silently_ignores_a_zero_threshold_where_we_raise():
    """Keras applies the raw gradient when clipnorm=0 (``if self.clipnorm and ...``)."""
    grads = make_grads(np.float32)
    for g, e in zip(grads, keras_sgd_update(grads, clipnorm=0.0), strict=True):
        np.testing.assert_allclose(e, g, rtol=1e-6)
    with pytest.raises(ValueError, match="clip_norm"):
        dk.clip_by_norm(grads, 0.0)


# --------------------------------------------------------------------------- training step


def tiny_model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)]
    )
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = (10.0 + rng.standard_normal((8, 1))).astype(np.float32)  # far from 0: large gradients
    return model, x, y


@pytest.mark.parametrize("clip", ["global_norm", "norm", "value", None])
def test_clipped_train_step_matches_manual_clipping(clip):
    """Oracle: tf.GradientTape gradients, clipped with the NumPy functions, SGD update by hand."""
    model, x, y = tiny_model_and_data()
    loss_fn = keras.losses.MeanSquaredError()
    lr = 0.01
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    norm = dk.global_norm(grads)
    if clip == "global_norm":
        threshold = 0.3 * norm
        clipped = dk.clip_by_global_norm(grads, threshold)[0]
    elif clip == "norm":
        threshold = 0.3 * max(np.linalg.norm(g) for g in grads)
        clipped = dk.clip_by_norm(grads, threshold)
    elif clip == "value":
        threshold = 0.3 * max(np.abs(g).max() for g in grads)
        clipped = dk.clip_by_value(grads, threshold)
    else:
        threshold, clipped = 1.0, grads
    before = [v.numpy() for v in model.trainable_variables]
    expected = [w - lr * g for w, g in zip(before, clipped, strict=True)]

    step = dk.make_clipped_train_step(
        model, keras.optimizers.SGD(learning_rate=lr), loss_fn, clip=clip, threshold=threshold
    )
    got_loss, got_norm = step(tf.constant(x), tf.constant(y))

    assert float(got_loss) == pytest.approx(float(loss), rel=1e-6)
    assert float(got_norm) == pytest.approx(norm, rel=1e-5)  # pre-clipping norm
    for v, e in zip(model.trainable_variables, expected, strict=True):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-6, atol=1e-6)
    if clip is not None:  # the test can tell clipping from no clipping
        unclipped = [w - lr * g for w, g in zip(before, grads, strict=True)]
        assert not all(np.allclose(e, u) for e, u in zip(expected, unclipped, strict=True))

    second_loss, _ = step(tf.constant(x), tf.constant(y))  # traced once, runs again
    assert float(second_loss) < float(got_loss)


def test_clipped_train_step_adds_regularization_losses():
    """Like Keras' own train_step, the model's losses (an L2 penalty) are part of the loss."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.5))]
    )
    x, y = np.ones((2, 4), np.float32), np.zeros((2, 2), np.float32)
    loss_fn = keras.losses.MeanSquaredError()
    expected = float(loss_fn(y, model(x))) + 0.5 * float(
        np.sum(model.layers[0].kernel.numpy() ** 2)
    )
    step = dk.make_clipped_train_step(model, keras.optimizers.SGD(0.0), loss_fn, clip=None)
    loss, _ = step(tf.constant(x), tf.constant(y))
    assert float(loss) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("threshold", [0, 0.0, -1.0, float("nan"), float("inf"), "1", None, True])
def test_bad_thresholds_raise(threshold):
    grads = make_grads()
    for call, word in [
        (lambda: dk.clip_by_value(grads, threshold), "clip_value"),
        (lambda: dk.clip_by_norm(grads, threshold), "clip_norm"),
        (lambda: dk.clip_by_global_norm(grads, threshold), "clip_norm"),
    ]:
        with pytest.raises(ValueError, match=word):
            call()


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: dk.clip_by_value("abc", 1.0), "grad"),
        (lambda: dk.clip_by_value(None, 1.0), "grad"),
        (lambda: dk.clip_by_norm({"w": np.ones(2)}, 1.0), "grad"),
        (lambda: dk.clip_by_norm([np.ones(2), "x"], 1.0), r"grads\[1\]"),
        (lambda: dk.clip_by_global_norm(np.ones(3), 1.0), "list"),
        (lambda: dk.clip_by_global_norm([np.ones(2), [[1], [2, 3]]], 1.0), r"grads\[1\]"),
        (lambda: dk.global_norm([np.array(["a"])]), "dtype"),
        (lambda: dk.make_clipped_train_step(None, None, abs, clip="l2"), "clip"),
        (lambda: dk.make_clipped_train_step(None, None, abs, threshold=0.0), "threshold"),
        (lambda: dk.make_clipped_train_step(None, None, "mse"), "loss_fn"),
    ],
)
def test_bad_inputs_raise(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_import_does_not_import_tensorflow_or_keras():
    code = (
        "import sys, numpy as np, dnnkit.clipping as c; c.clip_by_global_norm([np.ones(3)], 1.0); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
