"""Planted bugs and cheats for exercise 01_gradients (data for the grading trust tests).

Each bug edits one solution cell of ``solutions/01_gradients/01_gradients.ipynb`` (``find`` is an
exact substring of that cell, replaced by ``replace``) and must make at least one test cell fail.
Each cheat replaces a whole solution cell by an answer that calls the reference instead of
implementing it, and must earn no points for that part.
"""

BUGS = {
    "dense_forward_no_bias": {
        "cell": "dense_forward_solution",
        "find": "return x @ W + b",
        "replace": "return x @ W",
        "why": "forgotten term: the bias is never added",
    },
    "sigmoid_naive_overflows": {
        "cell": "sigmoid_forward_solution",
        "find": (
            "    e = np.exp(-np.abs(z))\n"
            "    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n"
        ),
        "replace": "    return 1.0 / (1.0 + np.exp(-z))\n",
        "why": "the textbook formula: np.exp(-z) overflows for z = -1000",
    },
    "sigmoid_wrong_sign": {
        "cell": "sigmoid_forward_solution",
        "find": "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
        "replace": "return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))",
        "why": "swaps the two branches: computes sigmoid(-z)",
    },
    "mlp_forward_includes_input": {
        "cell": "mlp_forward_solution",
        "find": "activations = []",
        "replace": "activations = [x]",
        "why": "off by one: the input x is returned as the first activation",
    },
    "mlp_forward_linear_output": {
        "cell": "mlp_forward_solution",
        "find": (
            "        a = sigmoid_forward(dense_forward(a, W, b))\n        activations.append(a)\n"
        ),
        "replace": (
            "        z = dense_forward(a, W, b)\n"
            "        a = sigmoid_forward(z) if len(activations) < len(weights) - 1 else z\n"
            "        activations.append(a)\n"
        ),
        "why": "forgets the sigmoid on the last layer",
    },
    "mlp_backward_bias_mean": {
        "cell": "mlp_backward_solution",
        "find": "dbiases[i] = delta.sum(axis=0)",
        "replace": "dbiases[i] = delta.mean(axis=0)",
        "why": "averages the bias gradient over the batch instead of summing it",
    },
    "mlp_backward_output_derivative_forgotten": {
        "cell": "mlp_backward_solution",
        "find": "delta = dout * a * (1.0 - a)",
        "replace": "delta = dout",
        "why": "forgets the sigmoid's derivative on the output layer",
    },
    "mlp_backward_off_by_one_layer": {
        "cell": "mlp_backward_solution",
        "find": "dweights[i] = inputs[i].T @ delta",
        "replace": "dweights[i] = activations[i].T @ delta",
        "why": "off by one: uses the layer's own output a_l instead of its input a_{l-1}",
    },
    "mlp_backward_wrong_derivative": {
        "cell": "mlp_backward_solution",
        "find": "delta = (delta @ weights[i].T) * a_prev * (1.0 - a_prev)",
        "replace": "delta = (delta @ weights[i].T) * a_prev",
        "why": "wrong derivative of the sigmoid in the hidden layers (a instead of a (1 - a))",
    },
    "layer_stds_per_unit": {
        "cell": "layer_stds_solution",
        "find": "np.std(a)",
        "replace": "np.mean(np.std(a, axis=0))",
        "why": "wrong axis: averages the per-unit standard deviations",
    },
    "grad_norm_squared": {
        "cell": "layer_grad_norms_solution",
        "find": "np.sqrt(np.sum(g**2))",
        "replace": "np.sum(g**2)",
        "why": "forgets the square root (squared norm)",
    },
    "vanishing_not_strict": {
        "cell": "vanishing_layers_solution",
        "find": "grad_norms < ratio * grad_norms.max()",
        "replace": "grad_norms <= ratio * grad_norms.max()",
        "why": "<= instead of <: a norm equal to the threshold is not vanishing",
    },
    "vanishing_absolute_threshold": {
        "cell": "vanishing_layers_solution",
        "find": "grad_norms < ratio * grad_norms.max()",
        "replace": "grad_norms < ratio",
        "why": "compares with ratio itself instead of ratio times the largest norm",
    },
}

CHEATS = {
    "reference_mlp_forward": {
        "cell": "mlp_forward_solution",
        "source": (
            "from dnnkit.diagnostics import mlp_forward as course_mlp_forward\n"
            "\n"
            "\n"
            "def mlp_forward(x, weights, biases):\n"
            '    activations, _ = course_mlp_forward(x, weights, biases, activation="sigmoid")\n'
            "    return activations\n"
        ),
        "why": "calls dnnkit.diagnostics.mlp_forward instead of implementing the forward pass",
    },
    "reference_mlp_backward": {
        "cell": "mlp_backward_solution",
        "source": (
            "import dnnkit.diagnostics\n"
            "\n"
            "\n"
            "def mlp_backward(dout, x, weights, activations):\n"
            "    zs = [np.log(a) - np.log1p(-a) for a in activations]\n"
            "    cache = {\n"
            '        "x": x, "weights": weights, "zs": zs,\n'
            '        "activations": activations, "activation": "sigmoid",\n'
            "    }\n"
            "    return dnnkit.diagnostics.mlp_backward(dout, cache)\n"
        ),
        "why": "rebuilds the reference's cache and calls dnnkit.diagnostics.mlp_backward",
    },
    "reference_layer_grad_norms": {
        "cell": "layer_grad_norms_solution",
        "source": (
            "def layer_grad_norms(dweights):\n"
            "    from dnnkit import diagnostics\n"
            "\n"
            "    return diagnostics.layer_grad_norms(dweights)\n"
        ),
        "why": "imports dnnkit.diagnostics inside the function and calls its layer_grad_norms",
    },
}
