"""dnnkit.transfer: independence of copies, reused layers, freezing, two-phase fine-tuning.

The oracle is Keras itself: weights read back bit for bit before and after training steps.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dnnkit.transfer import clone_with_weights, fine_tune, reuse_layers, set_trainable  # noqa: E402

layers = keras.layers


def _model_a(functional=False):
    keras.utils.set_random_seed(0)
    stack = [
        layers.Dense(6, activation="relu", name="hidden1"),
        layers.Dense(5, activation="relu", name="hidden2"),
        layers.Dense(3, activation="softmax", name="output"),
    ]
    if not functional:
        return keras.Sequential([keras.Input((8,)), *stack], name="model_a")
    inputs = x = keras.Input((8,))
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x, name="model_a")


def _data(n_out=1, m=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 8)).astype("float32")
    y = (rng.uniform(size=(m, n_out)) > 0.5).astype("float32")
    return x, y


def _train_one_step(model, x, y, loss="binary_crossentropy"):
    model.compile(keras.optimizers.SGD(0.1), loss)
    model.train_on_batch(x, y)


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _assert_same(weights, model):
    current = model.get_weights()
    assert len(current) == len(weights)
    for w, w0 in zip(current, weights, strict=True):
        np.testing.assert_array_equal(w, w0)


# --- clone_with_weights --------------------------------------------------------------------


def test_clone_has_same_outputs_but_independent_variables():
    model = _model_a()
    clone = clone_with_weights(model)
    x, _ = _data()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)), model.predict(x, verbose=0))
    assert {id(v) for v in clone.weights}.isdisjoint({id(v) for v in model.weights})


def test_training_the_clone_leaves_the_original_bit_for_bit_unchanged():
    model = _model_a()
    before = _weights(model)
    clone = clone_with_weights(model)
    x, y = _data(n_out=3)
    _train_one_step(clone, x, y, loss="categorical_crossentropy")
    _assert_same(before, model)
    assert not np.array_equal(clone.get_weights()[0], before[0])  # the clone did train


# --- reuse_layers --------------------------------------------------------------------------


@pytest.mark.parametrize("functional", [False, True])
def test_reuse_layers_keeps_lower_layers_and_attaches_head(functional):
    model = _model_a(functional)
    new = reuse_layers(model, n_drop=1, head=layers.Dense(1, activation="sigmoid"), name="b")
    assert isinstance(new, keras.Sequential) and new.name == "b"
    assert new.input_shape == model.input_shape == (None, 8)
    assert new.output_shape == (None, 1)
    assert [layer.name for layer in new.layers[:2]] == ["hidden1", "hidden2"]
    for kept, original in zip(new.layers[:2], model.layers[-3:-1], strict=True):
        assert kept is not original
        for w, w0 in zip(kept.get_weights(), original.get_weights(), strict=True):
            np.testing.assert_array_equal(w, w0)


def test_training_reused_layers_leaves_the_original_unchanged():
    model = _model_a()
    before = _weights(model)
    new = reuse_layers(model, n_drop=1, head=[layers.Dense(1, activation="sigmoid")])
    _train_one_step(new, *_data())
    _assert_same(before, model)
    assert not np.array_equal(new.layers[0].get_weights()[0], before[0])


def test_pitfall_clone_false_shares_layers_so_training_changes_the_original():
    """Documents the classic mistake: without a copy, model A is trained along with model B."""
    model = _model_a()
    before = _weights(model)
    new = reuse_layers(model, n_drop=1, head=layers.Dense(1, activation="sigmoid"), clone=False)
    assert new.layers[0] is model.layers[0]
    _train_one_step(new, *_data())
    assert not np.array_equal(model.get_weights()[0], before[0])


@pytest.mark.parametrize("n_drop", [-1, 3, 1.0])
def test_reuse_layers_rejects_bad_n_drop(n_drop):
    with pytest.raises(ValueError, match="n_drop"):
        reuse_layers(_model_a(), n_drop=n_drop)


def test_reuse_layers_rejects_a_head_that_is_not_a_layer():
    with pytest.raises(ValueError, match="head"):
        reuse_layers(_model_a(), head=["dense"])


# --- set_trainable -------------------------------------------------------------------------


def test_set_trainable_on_all_and_on_selected_layers():
    model = _model_a()
    set_trainable(model, False)
    assert model.trainable_weights == []
    set_trainable(model, True, layers=["output", 0])  # by name and by index
    assert [layer.trainable for layer in model.layers] == [True, False, True]
    assert len(model.trainable_weights) == 4
    set_trainable(model.layers[:2], False)  # a list of layers
    assert [layer.trainable for layer in model.layers] == [False, False, True]
    set_trainable(model, True)
    assert len(model.trainable_weights) == 6


def test_set_trainable_rejects_bad_arguments():
    model = _model_a()
    with pytest.raises(ValueError, match="trainable"):
        set_trainable(model, "no")
    with pytest.raises(ValueError, match="index"):
        set_trainable(model, False, layers=[7])
    with pytest.raises(ValueError, match="layers="):
        set_trainable(model.layers, False, layers=[0])


# --- fine_tune -----------------------------------------------------------------------------


class _Recorder(keras.callbacks.Callback):
    """Learning rate at each epoch and the weights at the end of each fit."""

    def __init__(self):
        super().__init__()
        self.learning_rates, self.weights_after_fit = [], []

    def on_epoch_begin(self, epoch, logs=None):
        lr = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        self.learning_rates.append((epoch, float(lr)))

    def on_train_end(self, logs=None):
        self.weights_after_fit.append(_weights(self.model))


def test_fine_tune_freezes_then_unfreezes_with_the_lower_learning_rate():
    model = reuse_layers(_model_a(), n_drop=1, head=layers.Dense(1, activation="sigmoid"))
    before = _weights(model)  # hidden1 (kernel, bias), hidden2 (kernel, bias), head (kernel, bias)
    recorder = _Recorder()
    h_frozen, h_unfrozen = fine_tune(
        model,
        1,
        _data(),
        validation_data=_data(seed=1),
        frozen_epochs=2,
        unfrozen_epochs=2,
        frozen_lr=1e-2,
        unfrozen_lr=1e-3,
        loss="binary_crossentropy",
        batch_size=16,
        callbacks=[recorder],
    )
    after_phase1, after_phase2 = recorder.weights_after_fit
    for w, w0 in zip(after_phase1[:4], before[:4], strict=True):
        np.testing.assert_array_equal(w, w0)  # frozen layers did not move in phase 1
    assert not np.array_equal(after_phase1[4], before[4])  # the head did
    assert not np.array_equal(after_phase2[0], after_phase1[0])  # phase 2 trains everything
    assert [e for e, _ in recorder.learning_rates] == [0, 1, 2, 3]
    lrs = [lr for _, lr in recorder.learning_rates]
    np.testing.assert_allclose(lrs, [1e-2, 1e-2, 1e-3, 1e-3], rtol=1e-6)
    assert h_frozen.epoch == [0, 1] and h_unfrozen.epoch == [2, 3]
    assert {"loss", "accuracy", "val_loss"} <= set(h_unfrozen.history)
    assert all(layer.trainable for layer in model.layers)


def test_fine_tune_rejects_bad_head_size():
    with pytest.raises(ValueError, match="n_head_layers"):
        fine_tune(_model_a(), 3, _data(), frozen_epochs=1, unfrozen_epochs=1, loss="mse")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"frozen_lr": "1e-3"}, "frozen_lr"),  # a string: ValueError, not a TypeError from `>`
        ({"unfrozen_lr": None}, "unfrozen_lr"),
        ({"unfrozen_lr": 0.0}, "unfrozen_lr"),
        ({"frozen_epochs": 1.5}, "frozen_epochs"),
        ({"unfrozen_epochs": -1}, "unfrozen_epochs"),
    ],
)
def test_fine_tune_rejects_bad_rates_and_epochs_with_value_error(kwargs, word):
    args = {"frozen_epochs": 1, "unfrozen_epochs": 1, "loss": "mse", **kwargs}
    with pytest.raises(ValueError, match=word):
        fine_tune(_model_a(), 1, _data(), **args)


# --- Keras 3: a frozen BatchNormalization layer runs in inference mode ----------------------


def _bn_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((8,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(1)]
    )
    bn = model.layers[1]
    bn.moving_mean.assign(np.full(4, 0.5, "float32"))
    bn.moving_variance.assign(np.full(4, 2.0, "float32"))
    return model, bn


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_batchnorm_uses_and_keeps_its_moving_statistics(frozen):
    model, bn = _bn_model()
    set_trainable(bn, not frozen)
    stats = [keras.ops.convert_to_numpy(v).copy() for v in (bn.moving_mean, bn.moving_variance)]
    x, y = _data()
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in (bn.moving_mean, bn.moving_variance)]
    unchanged = all(np.array_equal(a, s) for a, s in zip(after, stats, strict=True))
    train_out = keras.ops.convert_to_numpy(model(x, training=True))
    infer_out = keras.ops.convert_to_numpy(model(x, training=False))
    if frozen:  # training=True is ignored: moving statistics are used and not updated
        assert unchanged
        np.testing.assert_array_equal(train_out, infer_out)
    else:  # a trainable BN normalises with batch statistics and updates its moving ones
        assert not unchanged
        assert np.abs(train_out - infer_out).max() > 1e-3
