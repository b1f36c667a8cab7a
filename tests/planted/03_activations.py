"""Planted bugs and cheats for exercise 03_activations (data for the grading trust tests).

Each bug edits one solution cell of ``solutions/03_activations/03_activations.ipynb`` (``find``
is an exact substring of that cell, replaced by ``replace``) and must make at least one test cell
fail. Each cheat replaces a whole solution cell by an answer that calls the reference (or Keras'
built-in) instead of implementing it, and must earn no points for that part.
"""

BUGS = {
    "leaky_relu_layer_default_slope": {
        "cell": "leaky_relu_solution",
        "find": "def leaky_relu(z, negative_slope=0.2):",
        "replace": "def leaky_relu(z, negative_slope=0.3):",
        "why": "takes keras.layers.LeakyReLU's default slope 0.3 instead of the function's 0.2",
    },
    "leaky_relu_grad_one_at_kink": {
        "cell": "leaky_relu_grad_solution",
        "find": "np.where(z > 0, 1.0, negative_slope)",
        "replace": "np.where(z >= 0, 1.0, negative_slope)",
        "why": "returns 1 at z = 0 instead of the slope (TensorFlow's convention)",
    },
    "elu_overflows": {
        "cell": "elu_solution",
        "find": "alpha * np.expm1(np.minimum(z, 0.0))",
        "replace": "alpha * (np.exp(z) - 1.0)",
        "why": "np.where evaluates exp(z) for large positive z too: overflow (and lost accuracy near 0)",
    },
    "elu_grad_forgets_alpha": {
        "cell": "elu_grad_solution",
        "find": "alpha * np.exp(np.minimum(z, 0.0))",
        "replace": "np.exp(np.minimum(z, 0.0))",
        "why": "forgets the factor alpha of the negative branch (right only for alpha = 1)",
    },
    "selu_constants_swapped": {
        "cell": "selu_solution",
        "find": "return scale * elu(z, alpha=alpha)",
        "replace": "return alpha * elu(z, alpha=scale)",
        "why": "swaps SELU's alpha and scale (lambda)",
    },
    "gelu_missing_sqrt": {
        "cell": "gelu_tanh_solution",
        "find": "u = np.sqrt(2.0 / np.pi) * (z + 0.044715 * z**3)",
        "replace": "u = (2.0 / np.pi) * (z + 0.044715 * z**3)",
        "why": "uses 2/pi instead of sqrt(2/pi)",
    },
    "gelu_grad_forgets_inner_derivative": {
        "cell": "gelu_tanh_grad_solution",
        "find": "0.5 * z * (1.0 - t**2) * du",
        "replace": "0.5 * z * (1.0 - t**2)",
        "why": "chain rule: forgets du/dz, the derivative of the tanh's argument",
    },
    "swish_ignores_beta": {
        "cell": "swish_solution",
        "find": "np.tanh(0.5 * beta * z)",
        "replace": "np.tanh(0.5 * z)",
        "why": "computes SiLU whatever beta",
    },
    "swish_grad_forgets_beta": {
        "cell": "swish_grad_solution",
        "find": "s + beta * z * s * (1.0 - s)",
        "replace": "s + z * s * (1.0 - s)",
        "why": "chain rule: forgets the factor beta (right only for beta = 1)",
    },
    "swish_layer_beta_is_a_constant": {
        "cell": "swish_layer_solution",
        "find": "return inputs * ops.sigmoid(ops.cast(self.beta, inputs.dtype) * inputs)",
        "replace": "return inputs * ops.sigmoid(self.initial_beta * inputs)",
        "why": "uses the Python float instead of the weight: beta never receives a gradient",
    },
    "swish_layer_always_trainable": {
        "cell": "swish_layer_solution",
        "find": "trainable=self.trainable_beta,",
        "replace": "trainable=True,",
        "why": "ignores trainable_beta: beta moves during fit even when it should be frozen",
    },
}

CHEATS = {
    "reference_gelu": {
        "cell": "gelu_tanh_solution",
        "source": (
            "from dnnkit.activations import gelu as reference_gelu_function\n"
            "\n"
            "\n"
            "def gelu_tanh(z):\n"
            '    return reference_gelu_function(z, approximate="tanh")\n'
        ),
        "why": "calls dnnkit.activations.gelu instead of implementing the tanh approximation",
    },
    "reference_swish_grad_module": {
        "cell": "swish_grad_solution",
        "source": (
            "import dnnkit.activations as course_activations\n"
            "\n"
            "\n"
            "def swish_grad(z, beta=1.0):\n"
            "    return course_activations.swish_grad(z, beta=beta)\n"
        ),
        "why": "imports the dnnkit.activations module and calls its swish_grad",
    },
    "reference_swish_layer": {
        "cell": "swish_layer_solution",
        "source": (
            "from dnnkit.layers import Swish as CourseSwish\n"
            "\n"
            "\n"
            "class Swish(CourseSwish):\n"
            "    def __init__(self, beta=1.0, trainable_beta=True, **kwargs):\n"
            "        super().__init__(beta=beta, trainable_beta=trainable_beta, **kwargs)\n"
        ),
        "why": "subclasses dnnkit.layers.Swish instead of writing the layer",
    },
    "keras_silu_layer": {
        "cell": "swish_layer_solution",
        "source": (
            "class Swish(keras.layers.Layer):\n"
            "    def __init__(self, beta=1.0, trainable_beta=True, **kwargs):\n"
            "        super().__init__(**kwargs)\n"
            "        self.initial_beta = float(beta)\n"
            "        self.trainable_beta = bool(trainable_beta)\n"
            "\n"
            "    def build(self, input_shape):\n"
            "        self.beta = self.add_weight(\n"
            '            shape=(), name="beta",\n'
            "            initializer=keras.initializers.Constant(self.initial_beta),\n"
            "            trainable=self.trainable_beta,\n"
            "        )\n"
            "\n"
            "    def call(self, inputs):\n"
            "        beta = ops.cast(self.beta, inputs.dtype)\n"
            "        return keras.activations.silu(beta * inputs) / beta\n"
            "\n"
            "    def get_config(self):\n"
            "        config = super().get_config()\n"
            '        config.update({"beta": self.initial_beta, "trainable_beta": self.trainable_beta})\n'
            "        return config\n"
        ),
        "why": "computes the layer with Keras' built-in keras.activations.silu (silu(beta x) / beta)",
    },
    "keras_gelu": {
        "cell": "gelu_tanh_solution",
        "source": (
            "def gelu_tanh(z):\n"
            "    import keras\n"
            "\n"
            '    z = keras.ops.convert_to_tensor(z, dtype="float64")\n'
            "    return keras.ops.convert_to_numpy(keras.ops.gelu(z, approximate=True))\n"
        ),
        "why": "calls Keras' built-in keras.ops.gelu instead of implementing it",
    },
}
