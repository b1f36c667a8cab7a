"""Reusing pretrained layers (Keras 3) without altering the original model.

The classic pitfall: layers taken from a model are *shared*, so training the new model also
trains the old one. ``clone_with_weights`` / ``reuse_layers(clone=True)`` avoid it. Keras 3
note: a BatchNormalization layer with ``trainable=False`` runs in inference mode (moving
statistics, no updates), even inside ``fit``.
"""

import keras

__all__ = ["clone_with_weights", "reuse_layers", "set_trainable", "fine_tune"]


def _layer_chain(model):
    """The layers of a Sequential model or functional chain, input to output, without InputLayer.

    Raises ValueError when ``model`` is not built with a known input or is not a chain (one
    input, one output, every layer applied once to the previous layer's output).
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a keras.Model; got {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError(
            f"model {model.name!r} has no known input; build it first (start it with keras.Input)"
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
            "expected a chain with one input and one output"
        )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    tensor = inputs[0]
    for layer in layers:
        nodes = [
            node
            for node in layer._inbound_nodes
            if len(node.input_tensors) == 1 and node.input_tensors[0] is tensor
        ]
        if len(nodes) != 1 or len(nodes[0].output_tensors) != 1:
            raise ValueError(
                f"model {model.name!r} is not a chain of layers: layer {layer.name!r} does not "
                "take the previous layer's output as its only input"
            )
        tensor = nodes[0].output_tensors[0]
    if tensor is not outputs[0]:
        raise ValueError(f"model {model.name!r} is not a chain of layers (its output is elsewhere)")
    return layers


def clone_with_weights(model):
    """An independent copy of ``model``: same architecture and weight values, new variables.

    ``keras.models.clone_model`` (new layers, fresh initial weights) followed by copying the
    weights. Training the copy never changes ``model``. The compiled state (optimizer, loss)
    is not copied: compile the clone before fitting it.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a keras.Model; got {type(model).__name__}")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def reuse_layers(model, n_drop=1, head=None, *, clone=True, name=None):
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
    layers = _layer_chain(model)
    if not isinstance(n_drop, int) or not 0 <= n_drop < len(layers):
        raise ValueError(
            f"n_drop must be an integer in [0, {len(layers) - 1}] for model {model.name!r} "
            f"with {len(layers)} layers; got {n_drop!r}"
        )
    if clone:
        layers = _layer_chain(clone_with_weights(model))
    head = [] if head is None else list(head) if isinstance(head, (list, tuple)) else [head]
    for layer in head:
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"head must contain keras layers; got {type(layer).__name__}")
    first_input = model.inputs[0]
    inputs = keras.Input(shape=first_input.shape[1:], dtype=first_input.dtype)
    kept = layers[: len(layers) - n_drop]
    return keras.Sequential([inputs, *kept, *head], name=name)


def _select_layers(model, layers):
    """Layer objects of ``model`` given by objects, names or indices into its chain."""
    selected = []
    for item in layers:
        if isinstance(item, keras.layers.Layer):
            selected.append(item)
        elif isinstance(item, str):
            selected.append(model.get_layer(name=item))
        elif isinstance(item, int) and not isinstance(item, bool):
            chain = _layer_chain(model)
            if not -len(chain) <= item < len(chain):
                raise ValueError(f"layer index {item} out of range for {len(chain)} layers")
            selected.append(chain[item])
        else:
            raise ValueError(f"layers must be layers, names or indices; got {item!r}")
    return selected


def _assign_trainable(layer, trainable):
    """``layer.trainable = trainable``, reaching every sublayer even if the flag already matches.

    Keras 3 with TensorFlow skips assigning an attribute its current value, so after freezing
    single layers, ``model.trainable = True`` on a model still marked trainable unfreezes
    nothing. Toggling first makes the assignment propagate to all sublayers.
    """
    if layer.trainable == trainable:
        layer.trainable = not trainable
    layer.trainable = trainable


def set_trainable(model_or_layers, trainable, *, layers=None):
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
    if not isinstance(trainable, bool):
        raise ValueError(f"trainable must be True or False; got {trainable!r}")
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
        raise ValueError("layers= selects layers of a model; pass a keras.Model with it")
    elif isinstance(model_or_layers, keras.layers.Layer):
        targets = [model_or_layers]
    else:
        targets = list(model_or_layers)
    for layer in targets:
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"expected keras layers; got {type(layer).__name__}")
        _assign_trainable(layer, trainable)


def fine_tune(
    model,
    n_head_layers,
    train_data,
    *,
    validation_data=None,
    frozen_epochs,
    unfrozen_epochs,
    frozen_lr=1e-3,
    unfrozen_lr=1e-4,
    loss,
    metrics=("accuracy",),
    batch_size=32,
    verbose=0,
    callbacks=None,
):
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
    layers = _layer_chain(model)
    if not isinstance(n_head_layers, int) or not 1 <= n_head_layers < len(layers):
        raise ValueError(
            f"n_head_layers must be an integer in [1, {len(layers) - 1}] for a model with "
            f"{len(layers)} layers; got {n_head_layers!r}"
        )
    for label, value in (("frozen_epochs", frozen_epochs), ("unfrozen_epochs", unfrozen_epochs)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{label} must be a non-negative integer; got {value!r}")
    for label, value in (("frozen_lr", frozen_lr), ("unfrozen_lr", unfrozen_lr)):
        if not value > 0:
            raise ValueError(f"{label} must be positive; got {value!r}")
    if not (isinstance(train_data, tuple) and len(train_data) == 2):
        raise ValueError("train_data must be a tuple (x, y)")
    x, y = train_data
    fit_kwargs = dict(
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
