"""Planted bugs and cheats for assignment 06_transfer (format: /tmp/briefs/exercises.md).

Each bug is a realistic mistake in one solution cell of
``solutions/06_transfer/06_transfer.ipynb``; each must make at least one test cell fail.
Each cheat replaces a solution cell by a call to ``dnnkit.transfer``; it must earn no marks.
"""

BUGS = {
    "clone_without_weights": {
        "cell": "clone_with_weights_solution",
        "find": "    clone.set_weights(model.get_weights())\n",
        "replace": "",
        "why": "keras.models.clone_model alone: the copy has freshly initialised weights",
    },
    "clone_copies_trainable_weights_only": {
        "cell": "clone_with_weights_solution",
        "find": "clone.set_weights(model.get_weights())",
        "replace": "for mine, theirs in zip(clone.trainable_weights, model.trainable_weights):\n"
        "        mine.assign(theirs)",
        "why": "copies only the trainable weights: BN's moving mean and variance are lost",
    },
    "clone_returns_original": {
        "cell": "clone_with_weights_solution",
        "find": "return clone",
        "replace": "return model",
        "why": "returns the model itself: every change to the 'copy' changes the original",
    },
    "reuse_layers_of_original": {
        "cell": "build_reused_model_solution",
        "find": "base = clone_with_weights(model_a)",
        "replace": "base = model_a",
        "why": "stacks model A's own layers: training model B changes model A",
    },
    "reuse_drops_two_layers": {
        "cell": "build_reused_model_solution",
        "find": "for layer in base.layers[:-1]:",
        "replace": "for layer in base.layers[:-2]:",
        "why": "off by one: drops the last hidden layer along with the output layer",
    },
    "reuse_head_without_softmax": {
        "cell": "build_reused_model_solution",
        "find": 'keras.layers.Dense(n_classes_b, activation="softmax", name="head_b")',
        "replace": 'keras.layers.Dense(n_classes_b, name="head_b")',
        "why": "the new head has no softmax: outputs are logits, not probabilities",
    },
    "freeze_slice_minus_zero": {
        "cell": "freeze_solution",
        "find": "    n_frozen = len(model.layers) - n_trainable_top\n"
        "    for i, layer in enumerate(model.layers):\n"
        "        layer.trainable = i >= n_frozen\n",
        "replace": "    for layer in model.layers[:-n_trainable_top]:\n"
        "        layer.trainable = False\n"
        "    for layer in model.layers[-n_trainable_top:]:\n"
        "        layer.trainable = True\n",
        "why": "model.layers[:-0] is empty: freeze(model, 0) leaves every layer trainable",
    },
    "freeze_off_by_one": {
        "cell": "freeze_solution",
        "find": "layer.trainable = i >= n_frozen",
        "replace": "layer.trainable = i > n_frozen",
        "why": "off by one: one trainable layer fewer than asked",
    },
    "freeze_only_sets_false": {
        "cell": "freeze_solution",
        "find": "        layer.trainable = i >= n_frozen\n",
        "replace": "        if i < n_frozen:\n            layer.trainable = False\n",
        "why": "never sets the top layers back to trainable after an earlier freeze",
    },
    "unfreeze_skips_first_layer": {
        "cell": "unfreeze_solution",
        "find": "for layer in model.layers:",
        "replace": "for layer in model.layers[1:]:",
        "why": "off by one: the first layer stays frozen",
    },
    "fine_tune_without_recompiling": {
        "cell": "fine_tune_solution",
        "find": "    unfreeze(model)\n"
        "    model.compile(\n"
        "        optimizer=keras.optimizers.Adam(learning_rate=unfrozen_lr),\n"
        '        loss="sparse_categorical_crossentropy",\n'
        "    )\n",
        "replace": "    unfreeze(model)\n",
        "why": "unfreezes without compiling again: Keras keeps training the head only, at frozen_lr",
    },
    "fine_tune_same_learning_rate": {
        "cell": "fine_tune_solution",
        "find": "keras.optimizers.Adam(learning_rate=unfrozen_lr)",
        "replace": "keras.optimizers.Adam(learning_rate=frozen_lr)",
        "why": "the unfrozen phase keeps the high learning rate of the frozen phase",
    },
    "fine_tune_forgets_unfreeze": {
        "cell": "fine_tune_solution",
        "find": "    unfreeze(model)\n",
        "replace": "",
        "why": "recompiles with the lower learning rate but never unfreezes the reused layers",
    },
    "fine_tune_hard_codes_one_head_layer": {
        "cell": "fine_tune_solution",
        "find": "freeze(model, n_head_layers)",
        "replace": "freeze(model, 1)",
        "why": "ignores n_head_layers: only the output layer trains in the frozen phase",
    },
}

CHEATS = {
    "reference_clone_with_weights": {
        "cell": "clone_with_weights_solution",
        "source": "from dnnkit.transfer import clone_with_weights  # noqa: F401\n",
        "why": "imports the reference instead of writing it",
    },
    "reference_reuse_layers": {
        "cell": "build_reused_model_solution",
        "source": (
            "def build_reused_model(model_a, n_classes_b):\n"
            "    from dnnkit import transfer\n"
            "\n"
            "    head = keras.layers.Dense(n_classes_b, activation='softmax', name='head_b')\n"
            "    return transfer.reuse_layers(model_a, n_drop=1, head=head)\n"
        ),
        "why": "calls dnnkit.transfer.reuse_layers instead of building the model",
    },
    "reference_set_trainable": {
        "cell": "freeze_solution",
        "source": (
            "import dnnkit.transfer\n"
            "\n"
            "\n"
            "def freeze(model, n_trainable_top):\n"
            "    n_frozen = len(model.layers) - n_trainable_top\n"
            "    dnnkit.transfer.set_trainable(model, False, layers=model.layers[:n_frozen])\n"
            "    dnnkit.transfer.set_trainable(model, True, layers=model.layers[n_frozen:])\n"
        ),
        "why": "calls dnnkit.transfer.set_trainable instead of setting the flags",
    },
}
