"""dnnkit.models: the chapters' MLP in one place, and the layer chain read from public Keras API.

Oracles: the helpers chapters 3 and 6 pasted (copied here verbatim, as they stood before
``make_mlp`` moved into the library) must build the same layers with the same initial weights;
Keras' own ``model.layers`` order for chains.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dnnkit.models import layer_chain, make_mlp  # noqa: E402


def _chapter3_make_mlp(activation_layer, *, depth, width=100, initializer="he_normal", seed=42):
    """Chapter 3's helper (n_features=64, n_classes=10 were notebook globals)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,))])
    for i in range(1, depth + 1):
        model.add(keras.layers.Dense(width, kernel_initializer=initializer, name=f"dense_{i}"))
        model.add(activation_layer(f"act_{i}"))
    model.add(keras.layers.Dense(10, activation="softmax", name="output"))
    return model


def _chapter6_make_mlp(n_outputs, activation, seed, name=None, hidden=32):
    """Chapter 6's helper (input 8x8 images, `hidden` a notebook global)."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((8, 8)), keras.layers.Flatten()]
    layers += [keras.layers.Dense(hidden, activation="relu") for _ in range(2)]
    layers += [keras.layers.Dense(n_outputs, activation=activation)]
    return keras.Sequential(layers, name=name)


def _same_weights(a, b):
    pairs = list(zip(a.get_weights(), b.get_weights(), strict=True))
    return all(np.array_equal(x, y) for x, y in pairs)


def _relu_layer(name):
    return keras.layers.ReLU(name=name)


def test_make_mlp_reproduces_chapter_3s_model():
    ours = make_mlp(
        (64,), 10, depth=3, width=20, activation=_relu_layer, kernel_initializer="he_normal", seed=7
    )
    theirs = _chapter3_make_mlp(_relu_layer, depth=3, width=20, seed=7)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in theirs.layers]
    assert _same_weights(ours, theirs)


def test_make_mlp_reproduces_chapter_6s_model():
    ours = make_mlp((8, 8), 1, width=32, output_activation="sigmoid", seed=3, name="model_b")
    theirs = _chapter6_make_mlp(1, "sigmoid", 3, name="model_b")
    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in theirs.layers]
    assert ours.name == "model_b" and _same_weights(ours, theirs)
    x = np.random.default_rng(0).uniform(size=(4, 8, 8)).astype("float32")
    np.testing.assert_array_equal(ours(x), theirs(x))


def test_make_mlp_same_seed_same_weights_and_docstring_example():
    a, b = (
        make_mlp((64,), 10, depth=3, width=32, seed=0),
        make_mlp((64,), 10, depth=3, width=32, seed=0),
    )
    assert _same_weights(a, b)
    assert [layer.name for layer in a.layers] == ["dense_1", "dense_2", "dense_3", "output"]
    assert a.layers[0].activation is keras.activations.relu


@pytest.mark.parametrize(
    "kwargs, word",
    [({"depth": -1}, "depth"), ({"width": 0}, "width"), ({"n_outputs": 2.0}, "n_outputs"),
     ({"activation": 3}, "activation"), ({"seed": "1"}, "seed"), ({"input_shape": (0,)}, "input_shape")],
)  # fmt: skip
def test_make_mlp_rejects_bad_arguments(kwargs, word):
    args = {"input_shape": (4,), "n_outputs": 2, **kwargs}
    with pytest.raises(ValueError, match=word):
        make_mlp(**args)


def _functional_chain():
    inputs = x = keras.Input((4,))
    stack = [keras.layers.Dense(3, name="a"), keras.layers.BatchNormalization(name="bn"),
             keras.layers.Dense(2, name="b")]  # fmt: skip
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x), stack


def test_layer_chain_lists_the_layers_of_sequential_and_functional_chains():
    model, stack = _functional_chain()
    assert layer_chain(model) == stack
    sequential = keras.Sequential([keras.Input((4,)), *[keras.layers.Dense(2) for _ in range(2)]])
    assert layer_chain(sequential) == sequential.layers


def test_layer_chain_reads_this_models_graph_when_layers_are_shared():
    """A layer also used by another model (clone=False reuse) is still a chain link here."""
    model, stack = _functional_chain()
    keras.Sequential([keras.Input((4,)), stack[0]])  # a second call of layer "a"
    other_input = keras.Input((4,))
    stack[0](other_input)  # and a third, outside any model
    assert layer_chain(model) == stack


def test_layer_chain_rejects_branches_skips_and_unbuilt_models():
    inputs = keras.Input((4,))
    a, b = (
        keras.layers.Dense(3, name="branch_a")(inputs),
        keras.layers.Dense(3, name="branch_b")(inputs),
    )
    with pytest.raises(ValueError, match="chain"):
        layer_chain(keras.Model(inputs, keras.layers.Add()([a, b])))
    dense = keras.layers.Dense(4, name="twice")
    with pytest.raises(ValueError, match="chain"):
        layer_chain(keras.Model(inputs, dense(dense(inputs))))
    with pytest.raises(ValueError, match="no known input"):
        layer_chain(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="keras.Model"):
        layer_chain("not a model")
