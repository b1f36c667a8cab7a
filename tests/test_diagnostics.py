"""dnnkit.diagnostics against tf.GradientTape, Keras activations and hand calculations."""

import inspect
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

import dnnkit.activations

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dnnkit.diagnostics import (  # noqa: E402
    METHOD_COLORS,
    MLP_ACTIVATIONS,
    activation_stats,
    color_for,
    gradient_norms,
    layer_grad_norms,
    layer_stds,
    mlp_backward,
    mlp_forward,
    plot_history,
    plot_per_layer,
)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _mlp(sizes=(5, 7, 6, 3), seed=0):
    rng = np.random.default_rng(seed)
    weights = [
        rng.normal(scale=0.8, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    biases = [rng.normal(scale=0.3, size=b) for b in sizes[1:]]
    x = rng.normal(size=(8, sizes[0]))
    dout = rng.normal(size=(8, sizes[-1]))
    return x, weights, biases, dout


# --- NumPy MLP ----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", MLP_ACTIVATIONS)
def test_mlp_forward_and_backward_match_gradient_tape(activation):
    """Oracle: the same network written with keras.activations, differentiated by TF.

    Leaky ReLU is written out instead: TF's LeakyRelu op stores its slope as a float32
    attribute, so in float64 its slope is 0.2000000003 (relative error 1.5e-8).
    """
    x, weights, biases, dout = _mlp()
    outputs, cache = mlp_forward(x, weights, biases, activation=activation)
    dweights, dbiases = mlp_backward(dout, cache)

    f = keras.activations.get(activation)
    if activation == "leaky_relu":
        slope = inspect.signature(f).parameters["negative_slope"].default  # Keras' default
        ours = inspect.signature(dnnkit.activations.leaky_relu).parameters["negative_slope"]
        assert ours.default == slope  # mlp_forward uses dnnkit.activations' default slope

        def f(z):
            return tf.where(z >= 0, z, slope * z)

    ws = [tf.Variable(w) for w in weights]
    bs = [tf.Variable(b) for b in biases]
    with tf.GradientTape() as tape:
        a, expected_outputs = tf.constant(x), []
        for w, b in zip(ws, bs, strict=True):
            a = f(a @ w + b)
            expected_outputs.append(a)
        loss = tf.reduce_sum(a * dout)
    grads = tape.gradient(loss, ws + bs)

    assert len(outputs) == len(weights)
    for got, expected in zip(outputs, expected_outputs, strict=True):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, atol=1e-12)
    for got, expected in zip(dweights + dbiases, grads, strict=True):
        assert got.shape == tuple(expected.shape)
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, atol=1e-12)


def test_mlp_rejects_mismatched_shapes_and_unknown_activation():
    x, weights, biases, _ = _mlp()
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        mlp_forward(x, [weights[0], weights[2]], biases[:2])
    with pytest.raises(ValueError, match="as many"):
        mlp_forward(x, weights, biases[:2])
    with pytest.raises(ValueError, match="softmax.*sigmoid"):
        mlp_forward(x, weights, biases, activation="softmax")
    _, cache = mlp_forward(x, weights, biases)
    with pytest.raises(ValueError, match="dout"):
        mlp_backward(np.ones((8, 2)), cache)


def test_layer_stds_and_grad_norms_by_hand():
    np.testing.assert_allclose(layer_stds([np.array([1.0, 3.0]), np.zeros((2, 2))]), [1.0, 0.0])
    np.testing.assert_allclose(layer_grad_norms([np.array([[3.0, 4.0]]), np.eye(4)]), [5.0, 2.0])


# --- Keras models -------------------------------------------------------------------------


def _tiny_model():
    """Dense(4, relu) with unit 0 dead on positive inputs, Dense(2, sigmoid), Dense(2, tanh)."""
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="relu", name="relu"),
            keras.layers.Dense(2, activation="sigmoid", name="sigmoid"),
            keras.layers.Dense(2, activation="tanh", name="tanh"),
            keras.layers.Dense(2, name="linear"),
        ]
    )
    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(3, 4))
    w1[:, 0] = -1.0  # x > 0 gives a negative pre-activation: unit 0 is dead
    params = [w1, np.array([-0.5, 0.1, 0.2, 0.3])]
    params += [rng.normal(scale=4.0, size=(4, 2)), np.zeros(2)]  # large weights: saturation
    params += [rng.normal(scale=3.0, size=(2, 2)), np.array([0.0, 2.0])]
    params += [rng.normal(size=(2, 2)), np.zeros(2)]
    model.set_weights([p.astype("float32") for p in params])
    return model, params


def test_activation_stats_match_hand_computation():
    model, (w1, b1, w2, b2, w3, b3, w4, b4) = _tiny_model()
    x = np.random.default_rng(2).uniform(0.1, 2.0, size=(50, 3)).astype("float32")
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = 1 / (1 + np.exp(-(h1 @ w2 + b2)))
    h3 = np.tanh(h2 @ w3 + b3)
    h4 = h3 @ w4 + b4
    s = 0.95
    expected_saturated = [
        np.nan,  # relu: not applicable
        np.mean((h2 > s) | (h2 < 1 - s)),
        np.mean(np.abs(h3) > s),
        np.nan,
    ]
    stats = activation_stats(model, x, saturation=s)
    assert [d["name"] for d in stats] == ["relu", "sigmoid", "tanh", "linear"]
    assert all(
        set(d) == {"name", "mean", "std", "saturated_fraction", "dead_fraction"} for d in stats
    )
    for d, h, saturated in zip(stats, (h1, h2, h3, h4), expected_saturated, strict=True):
        assert d["mean"] == pytest.approx(h.mean(), abs=1e-5)
        assert d["std"] == pytest.approx(h.std(), abs=1e-5)
        np.testing.assert_allclose(d["saturated_fraction"], saturated, atol=0.03)
    assert stats[0]["dead_fraction"] == 0.25  # exactly one of the four ReLUs is dead
    assert [d["dead_fraction"] for d in stats[1:]] == [0.0, 0.0, 0.0]
    assert 0.05 < stats[1]["saturated_fraction"]  # the large weights do saturate


def test_activation_stats_rejects_bad_saturation():
    model, _ = _tiny_model()
    with pytest.raises(ValueError, match="saturation"):
        activation_stats(model, np.ones((2, 3)), saturation=1.5)


@pytest.mark.parametrize("loss", ["mse", keras.losses.MeanSquaredError()])
def test_gradient_norms_match_gradient_tape(loss):
    model, _ = _tiny_model()
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    norms = gradient_norms(model, x, y, loss)

    with tf.GradientTape() as tape:
        value = tf.reduce_mean(tf.square(model(x) - y))
    kernels = [layer.kernel for layer in model.layers]
    grads = tape.gradient(value, [k.value for k in kernels])
    expected = {
        layer.name: np.linalg.norm(g.numpy()) for layer, g in zip(model.layers, grads, strict=True)
    }
    assert set(norms) == set(expected)
    for name, value in expected.items():
        assert value > 0
        assert norms[name] == pytest.approx(value, rel=1e-5)


# --- plots --------------------------------------------------------------------------------


def test_plot_per_layer_labels_lines_and_colours():
    ax = plot_per_layer(
        {"sigmoid": [1.0, 0.1, 0.01], "relu": [1.0, 0.9, 0.8]},
        ylabel="gradient norm",
        title="sigmoid gradients vanish",
        logy=True,
    )
    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.get_ylabel() == "gradient norm" and ax.get_title() == "sigmoid gradients vanish"
    assert "layer" in ax.get_xlabel() and ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["sigmoid", "relu"]
    assert [line.get_color() for line in lines] == [color_for("sigmoid"), color_for("relu")]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    assert ax.get_legend() is not None


def test_plot_history_train_and_validation_curves():
    class FakeHistory:  # the two attributes of keras.callbacks.History the plot reads
        history = {"loss": [0.9, 0.7], "val_loss": [1.0, 0.8]}
        epoch = [3, 4]

    fig, ax = plt.subplots()
    got = plot_history({"frozen": {"loss": [1.2, 1.0, 0.8]}, "unfrozen": FakeHistory()}, ax=ax)
    assert got is ax
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss" and ax.get_title()
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "frozen (train)",
        "unfrozen (train)",
        "unfrozen (validation)",
    ]
    np.testing.assert_array_equal(lines[1].get_xdata(), [4, 5])  # History.epoch + 1
    assert lines[2].get_linestyle() == "--"
    with pytest.raises(ValueError, match="accuracy"):
        plot_history({"a": {"loss": [1.0]}}, metric="accuracy")


def test_colours_are_stable_and_distinct_within_a_figure():
    assert color_for("Leaky ReLU") == color_for("leaky-relu") == METHOD_COLORS["leaky_relu"]
    assert color_for("something new") == color_for("something new")
    figures = [
        ["sigmoid", "tanh", "relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "gelu"]
        + ["swish", "mish", "softplus", "linear"],
        ["random_normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]
        + ["lecun_uniform", "lecun_normal"],
        ["no_batchnorm", "batchnorm_before_activation", "batchnorm_after_activation"],
        ["no_clipping", "clip_value", "clip_norm", "clip_global_norm"],
        ["from_scratch", "transfer"],
    ]
    for names in figures:
        colours = [color_for(name) for name in names]
        assert len(set(colours)) == len(colours), names


def test_import_does_not_import_tensorflow_keras_or_matplotlib():
    code = (
        "import sys, dnnkit.diagnostics; "
        "print(*[m in sys.modules for m in ('tensorflow', 'keras', 'matplotlib')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False", "False"]


def test_diagnostics_re_exports_the_three_modules_it_was_split_into():
    """``dnnkit.diagnostics`` keeps every name the chapters, exercises and tests import."""
    import dnnkit.diagnostics as diagnostics
    from dnnkit import layer_stats, mlp, plots

    for module in (mlp, layer_stats, plots):
        for name in module.__all__:
            assert getattr(diagnostics, name) is getattr(module, name), name
    assert sorted(diagnostics.__all__) == sorted(mlp.__all__ + layer_stats.__all__ + plots.__all__)
