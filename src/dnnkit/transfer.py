"""Reusing pretrained layers (Keras 3) without altering the original model.

The classic pitfall: layers taken from a model are *shared*, so training the new model also
trains the old one. ``clone_with_weights`` / ``reuse_layers(clone=True)`` avoid it. Keras 3
note: a BatchNormalization layer with ``trainable=False`` runs in inference mode (moving
statistics, no updates), even inside ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from dnnkit._checks import check_bool, check_instance, check_integer, check_positive
from dnnkit.models import layer_chain

__all__ = ["clone_with_weights", "reuse_layers", "set_trainable", "fine_tune"]


def clone_with_weights(model: keras.Model) -> keras.Model:
    """An independent copy of ``model``: same architecture and weight values, new variables.

    ``keras.models.clone_model`` (new layers, fresh initial weights) followed by copying the
    weights. Training the copy never changes ``model``. The compiled state (optimizer, loss)
    is not copied: compile the clone before fitting it.
    """
    check_instance("model", model, keras.Model, "a keras.Model")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def reuse_layers(
    model: keras.Model,
    n_drop: int = 1,
    head: keras.layers.Layer | Sequence[keras.layers.Layer] | None = None,
    *,
    clone: bool = True,
    name: str | None = None,
) -> keras.Sequential:
    """A new Sequential model made of the lower layers of ``model`` topped by a new head.

    Parameters
    ----------
    model : keras.Model
        A Sequential model or a functional chain, with a known input shape.
    n_drop : int, ``0 <= n_drop < number of layers``
        How many top layers of ``model`` to leave out.
    head : keras layer, list of layers, or None
        Layers appended after the kept ones.
    clone : bool
        True (default): reuse copies of the layers (``clone_with_weights``), so training the
        new model never changes ``model``. False: share the very same layer objects, so
        training the new model *also trains* ``model`` (the classic pitfall; only do it
        on purpose, e.g. when ``model`` is thrown away).
    name : str or None
        Name of the new model.

    Returns
    -------
    keras.Sequential with the input shape (and dtype) of ``model``.
    """
    layers = layer_chain(model)
    n_drop = check_integer("n_drop", n_drop, minimum=0, maximum=len(layers) - 1)
    if check_bool("clone", clone):
        layers = layer_chain(clone_with_weights(model))
    head = [] if head is None else list(head) if isinstance(head, (list, tuple)) else [head]
    for layer in head:
        check_instance("head", layer, keras.layers.Layer, "a keras layer or a list of them")
    first_input = model.inputs[0]
    inputs = keras.Input(shape=first_input.shape[1:], dtype=first_input.dtype)
    kept = layers[: len(layers) - n_drop]
    return keras.Sequential([inputs, *kept, *head], name=name)


def _select_layers(
    model: keras.Model, layers: Sequence[keras.layers.Layer | str | int]
) -> list[keras.layers.Layer]:
    """Layer objects of ``model`` given by objects, names or indices into its chain."""
    selected = []
    for item in layers:
        if isinstance(item, keras.layers.Layer):
            selected.append(item)
        elif isinstance(item, str):
            selected.append(model.get_layer(name=item))
        elif isinstance(item, int) and not isinstance(item, bool):
            chain = layer_chain(model)
            index = check_integer("layer index", item, minimum=-len(chain), maximum=len(chain) - 1)
            selected.append(chain[index])
        else:
            raise ValueError(
                f"layers item {item!r} is not allowed; expected a layer, a layer name or an index"
            )
    return selected


def _assign_trainable(layer: keras.layers.Layer, trainable: bool) -> None:
    """``layer.trainable = trainable``, reaching every sublayer even if the flag already matches.

    Keras 3 with TensorFlow skips assigning an attribute its current value, so after freezing
    single layers, ``model.trainable = True`` on a model still marked trainable unfreezes
    nothing. Toggling first makes the assignment propagate to all sublayers.
    """
    if layer.trainable == trainable:
        layer.trainable = not trainable
    layer.trainable = trainable


def set_trainable(
    model_or_layers: keras.Model | keras.layers.Layer | Sequence[keras.layers.Layer],
    trainable: bool,
    *,
    layers: Sequence[keras.layers.Layer | str | int] | None = None,
) -> None:
    """Freeze (``trainable=False``) or unfreeze layers; recompile the model afterwards.

    Parameters
    ----------
    model_or_layers : keras.Model, keras layer, or list of layers
    trainable : bool
    layers : list of layers, layer names or indices (into the model's chain), or None
        Only with a model: which of its layers to change (default: the model and all its layers).

    Notes
    -----
    Keras 3: a BatchNormalization layer with ``trainable=False`` runs in *inference* mode, i.e.
    it normalises with its moving statistics and stops updating them, even in ``fit``.
    A change only takes effect for training after ``model.compile(...)``.
    Unlike a bare ``model.trainable = True`` (which Keras 3 ignores when the model itself is
    already marked trainable), ``set_trainable(model, True)`` always unfreezes every layer.
    """
    trainable = check_bool("trainable", trainable)
    if isinstance(model_or_layers, keras.Model):
        model = model_or_layers
        if layers is None:
            _assign_trainable(model, trainable)
            return
        targets = _select_layers(model, layers)
        if trainable and not model.trainable:
            # unfreezing part of a frozen model: mark the model trainable, keep the others as set
            previous = [(layer, layer.trainable) for layer in model.layers]
            model.trainable = True
            for layer, state in previous:
                layer.trainable = state
    elif layers is not None:
        raise ValueError(
            f"layers={layers!r} is not allowed with a {type(model_or_layers).__name__}; "
            "expected a keras.Model (layers= selects layers of a model)"
        )
    elif isinstance(model_or_layers, keras.layers.Layer):
        targets = [model_or_layers]
    else:
        targets = list(model_or_layers)
    for layer in targets:
        check_instance("model_or_layers", layer, keras.layers.Layer, "keras layers")
        _assign_trainable(layer, trainable)


def fine_tune(
    model: keras.Model,
    n_head_layers: int,
    train_data: tuple[Any, Any],
    *,
    validation_data: tuple[Any, Any] | None = None,
    frozen_epochs: int,
    unfrozen_epochs: int,
    frozen_lr: float = 1e-3,
    unfrozen_lr: float = 1e-4,
    loss: str | keras.losses.Loss | Callable[..., Any],
    metrics: Sequence[Any] = ("accuracy",),
    batch_size: int = 32,
    verbose: int | str = 0,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
) -> tuple[keras.callbacks.History, keras.callbacks.History]:
    """Two-phase fine-tuning: train the new head on frozen reused layers, then everything.

    Phase 1 freezes every layer except the top ``n_head_layers``, compiles with
    ``Adam(frozen_lr)`` and fits ``frozen_epochs`` epochs (the randomly initialised head must
    not wreck the reused weights with large gradients). Phase 2 unfreezes all layers,
    recompiles with the lower ``Adam(unfrozen_lr)`` and fits ``unfrozen_epochs`` more epochs
    (numbered after phase 1's, so the two histories can be plotted end to end).

    Parameters
    ----------
    model : keras.Model, a Sequential model or functional chain (e.g. from ``reuse_layers``)
    n_head_layers : int, number of top layers trained in phase 1
    train_data : tuple ``(x, y)``
    validation_data : tuple ``(x, y)`` or None
    frozen_epochs, unfrozen_epochs : int >= 0
    frozen_lr, unfrozen_lr : float > 0, Adam learning rates of the two phases
    loss, metrics : as for ``model.compile``
    batch_size, verbose, callbacks : as for ``model.fit``

    Returns
    -------
    (history_frozen, history_unfrozen) : keras History objects

    Notes
    -----
    Frozen BatchNormalization layers run in inference mode in phase 1 (Keras 3).
    """
    layers = layer_chain(model)
    n_head_layers = check_integer(
        "n_head_layers", n_head_layers, minimum=1, maximum=len(layers) - 1
    )
    frozen_epochs = check_integer("frozen_epochs", frozen_epochs, minimum=0)
    unfrozen_epochs = check_integer("unfrozen_epochs", unfrozen_epochs, minimum=0)
    frozen_lr = check_positive("frozen_lr", frozen_lr)
    unfrozen_lr = check_positive("unfrozen_lr", unfrozen_lr)
    if not (isinstance(train_data, tuple) and len(train_data) == 2):
        raise ValueError(
            f"train_data of type {type(train_data).__name__} is not allowed; expected a tuple (x, y)"
        )
    x, y = train_data
    fit_kwargs: dict[str, Any] = dict(
        batch_size=batch_size,
        validation_data=validation_data,
        verbose=verbose,
        callbacks=callbacks,
    )

    set_trainable(model, True)
    set_trainable(layers[: len(layers) - n_head_layers], False)
    model.compile(keras.optimizers.Adam(frozen_lr), loss=loss, metrics=list(metrics))
    history_frozen = model.fit(x, y, epochs=frozen_epochs, **fit_kwargs)

    set_trainable(model, True)
    model.compile(keras.optimizers.Adam(unfrozen_lr), loss=loss, metrics=list(metrics))
    history_unfrozen = model.fit(
        x, y, epochs=frozen_epochs + unfrozen_epochs, initial_epoch=frozen_epochs, **fit_kwargs
    )
    return history_frozen, history_unfrozen
