"""Keras models as chains of layers: building the course's MLPs and walking their layers.

``make_mlp`` builds the fully connected networks the chapters train (one copy, used by every
chapter); ``layer_chain`` lists the layers of a Sequential model or a functional chain from
input to output, reading a functional model's graph through the public ``model.get_config()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from dnnkit._checks import check_instance, check_integer

__all__ = ["layer_chain", "make_mlp"]


def _model_io(model: keras.Model) -> tuple[list[Any], list[Any]]:
    """``(model.inputs, model.outputs)``, or ValueError when the model has no known input."""
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
    return list(inputs), list(outputs)


def _holds_tensor(value: Any) -> bool:
    """True when a serialized call argument is, or contains, a Keras tensor."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return True
        return any(_holds_tensor(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_tensor(v) for v in value)
    return False


def _source_layer(node: dict[str, Any]) -> str | None:
    """Name of the layer whose output is a serialized call's only tensor argument (else None).

    A call is ``{"args": [...], "kwargs": {...}}``; keyword arguments without tensors (e.g.
    ``mask=None``) are allowed.
    """
    args = node.get("args", [])
    if _holds_tensor(node.get("kwargs", {})) or len(args) != 1 or not isinstance(args[0], dict):
        return None
    if args[0].get("class_name") != "__keras_tensor__":
        return None
    name, _, tensor_index = args[0]["config"]["keras_history"]
    return str(name) if tensor_index == 0 else None


def _check_functional_chain(model: keras.Model) -> None:
    """ValueError unless every layer of a functional ``model`` takes the previous one's output.

    Reads the graph from ``model.get_config()``, which lists for every layer the calls (nodes)
    that belong to this model and, for each call, the layer whose output it received.
    """
    config = model.get_config()
    layers = config.get("layers")
    if not layers:
        raise ValueError(f"model {model.name!r} is not a functional chain of layers")
    previous = layers[0]["name"]  # the InputLayer
    for layer in layers[1:]:
        nodes = layer["inbound_nodes"]
        if len(nodes) != 1 or _source_layer(nodes[0]) != previous:
            raise ValueError(
                f"model {model.name!r} is not a chain of layers: layer {layer['name']!r} does "
                "not take the previous layer's output as its only input"
            )
        previous = layer["name"]
    output = config["output_layers"]
    while isinstance(output, list) and output and isinstance(output[0], list):
        output = output[0]  # [[name, node, tensor]] in older Keras 3 releases
    if output[0] != previous:
        raise ValueError(f"model {model.name!r} is not a chain of layers (its output is elsewhere)")


def layer_chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of a Sequential model or functional chain, input to output, without InputLayer.

    Parameters
    ----------
    model : keras.Model
        A Sequential model, or a functional model with one input and one output in which every
        layer is applied once, to the previous layer's output.

    Returns
    -------
    list of keras layers
        In the order the input flows through them.

    Raises
    ------
    ValueError
        When ``model`` is not built with a known input, or is not a chain.
    """
    check_instance("model", model, keras.Model, "a keras.Model")
    _model_io(model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not isinstance(model, keras.Sequential):
        _check_functional_chain(model)
    return layers


ActivationSpec = str | Callable[[str], keras.layers.Layer] | None


def make_mlp(
    input_shape: Sequence[int],
    n_outputs: int,
    *,
    depth: int = 2,
    width: int = 100,
    activation: ActivationSpec = "relu",
    output_activation: str | None = "softmax",
    kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
    seed: int | None = None,
    name: str | None = None,
) -> keras.Sequential:
    """A fully connected network: ``depth`` hidden layers of ``width`` units and an output layer.

    ``Input(input_shape)`` -> ``Flatten`` (only when the input has more than one axis) ->
    ``depth`` x [``Dense(width)`` with ``activation``] -> ``Dense(n_outputs,
    output_activation)``. Hidden Dense layers are named ``dense_1 .. dense_<depth>``, separate
    activation layers ``act_1 ..``, the last layer ``output``.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one example, e.g. ``(64,)`` or ``(28, 28)``.
    n_outputs : int >= 1
        Units of the output layer (classes, or 1 for a binary task).
    depth : int >= 0
        Number of hidden layers.
    width : int >= 1
        Units per hidden layer.
    activation : str, callable or None
        A Keras activation name is passed to each hidden ``Dense`` (``Dense(width,
        activation="relu")``). A callable ``activation(name) -> keras layer`` adds that layer
        after each linear hidden ``Dense``, named ``act_<i>`` (e.g. ``lambda name:
        keras.layers.ReLU(name=name)``, or ``dnnkit.layers.Mish``-based factories).
    output_activation : str or None
        Activation of the output layer (``"softmax"``, ``"sigmoid"``, None for linear).
    kernel_initializer : str or keras initializer
        Of the hidden layers (the output layer keeps Keras' default, ``"glorot_uniform"``).
    seed : int or None
        When given, ``keras.utils.set_random_seed(seed)`` is called first, which seeds Python's,
        NumPy's and Keras' global generators: the same seed gives the same initial weights.
    name : str or None
        Name of the model.

    Returns
    -------
    keras.Sequential
        Built (its input shape is known), not compiled.

    Examples
    --------
    >>> model = make_mlp((64,), 10, depth=3, width=32, seed=0)
    >>> [layer.name for layer in model.layers]
    ['dense_1', 'dense_2', 'dense_3', 'output']
    """
    shape = tuple(check_integer("input_shape", d, minimum=1) for d in input_shape)
    n_outputs = check_integer("n_outputs", n_outputs, minimum=1)
    depth = check_integer("depth", depth, minimum=0)
    width = check_integer("width", width, minimum=1)
    if not (activation is None or isinstance(activation, str) or callable(activation)):
        raise ValueError(
            f"activation={activation!r} is not allowed; expected a Keras activation name, "
            "None, or a callable name -> layer"
        )
    if seed is not None:
        keras.utils.set_random_seed(check_integer("seed", seed, minimum=0))
    layers: list[Any] = [keras.Input(shape)]
    if len(shape) > 1:
        layers.append(keras.layers.Flatten(name="flatten"))
    for i in range(1, depth + 1):
        dense_activation = activation if not callable(activation) else None
        layers.append(
            keras.layers.Dense(
                width,
                activation=dense_activation,
                kernel_initializer=kernel_initializer,
                name=f"dense_{i}",
            )
        )
        if callable(activation):
            layers.append(activation(f"act_{i}"))
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation, name="output"))
    return keras.Sequential(layers, name=name)
