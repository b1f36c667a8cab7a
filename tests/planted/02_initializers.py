"""Planted bugs and cheats for exercise 02_initializers (data for the grading trust tests).

Each bug edits one solution cell of ``solutions/02_initializers/02_initializers.ipynb`` (``find``
is an exact substring of that cell, replaced by ``replace``) and must make at least one test cell
fail. Each cheat replaces a whole solution cell by an answer that calls the reference (or Keras)
instead of implementing it, and must earn no points for that part.
"""

BUGS = {
    "conv_fans_without_receptive_field": {
        "cell": "compute_fans_solution",
        "find": "return shape[-2] * receptive_field, shape[-1] * receptive_field",
        "replace": "return shape[-2], shape[-1]",
        "why": "forgets to multiply the fans of a convolution kernel by the receptive field",
    },
    "vector_fans_one_in": {
        "cell": "compute_fans_solution",
        "find": "return shape[0], shape[0]",
        "replace": "return 1, shape[0]",
        "why": "treats a vector of shape (n,) as a (1, n) kernel instead of Keras' (n, n)",
    },
    "truncated_std_returns_variance": {
        "cell": "truncated_std_solution",
        "find": "return math.sqrt(1.0 - 2.0 * a * phi / mass)",
        "replace": "return 1.0 - 2.0 * a * phi / mass",
        "why": "returns the variance instead of the standard deviation (forgotten square root)",
    },
    "truncated_normal_clips": {
        "cell": "truncated_normal_solution",
        "find": (
            "    outside = np.abs(x) > 2.0 * stddev\n"
            "    while np.any(outside):\n"
            "        x[outside] = rng.normal(0.0, stddev, size=np.count_nonzero(outside))\n"
            "        outside = np.abs(x) > 2.0 * stddev\n"
        ),
        "replace": "    x = np.clip(x, -2.0 * stddev, 2.0 * stddev)\n",
        "why": "clips to +-2 stddev instead of redrawing: samples pile up on the bounds",
    },
    "truncated_normal_bound_one_stddev": {
        "cell": "truncated_normal_solution",
        "find": (
            "    outside = np.abs(x) > 2.0 * stddev\n"
            "    while np.any(outside):\n"
            "        x[outside] = rng.normal(0.0, stddev, size=np.count_nonzero(outside))\n"
            "        outside = np.abs(x) > 2.0 * stddev\n"
        ),
        "replace": (
            "    outside = np.abs(x) > stddev\n"
            "    while np.any(outside):\n"
            "        x[outside] = rng.normal(0.0, stddev, size=np.count_nonzero(outside))\n"
            "        outside = np.abs(x) > stddev\n"
        ),
        "why": "truncates at one standard deviation instead of two (wrong constant)",
    },
    "glorot_ignores_seed": {
        "cell": "glorot_uniform_solution",
        "find": 'distribution="uniform", seed=seed)',
        "replace": 'distribution="uniform", seed=0)',
        "why": "ignores the seed: every layer starts from the same weights",
    },
    "truncated_normal_own_generator": {
        "cell": "truncated_normal_solution",
        "find": "x = np.asarray(rng.normal(0.0, stddev, size=shape), dtype=float)",
        "replace": (
            "rng = np.random.default_rng(2024)\n"
            "    x = np.asarray(rng.normal(0.0, stddev, size=shape), dtype=float)"
        ),
        "why": "draws from a generator of its own instead of the `rng` it is given",
    },
    "no_truncation_correction": {
        "cell": "variance_scaling_solution",
        "find": "truncated_normal(shape, sigma / truncated_std(2.0), rng)",
        "replace": "truncated_normal(shape, sigma, rng)",
        "why": "forgets Keras' correction: the truncated samples' std is 0.88 sigma, not sigma",
    },
    "uniform_limit_without_sqrt3": {
        "cell": "variance_scaling_solution",
        "find": "limit = np.sqrt(3.0) * sigma",
        "replace": "limit = sigma",
        "why": "uses sigma as the uniform limit: the variance of U(-L, L) is L^2 / 3",
    },
    "fan_avg_is_the_sum": {
        "cell": "variance_scaling_solution",
        "find": '"fan_avg": (fan_in + fan_out) / 2.0',
        "replace": '"fan_avg": fan_in + fan_out',
        "why": "fan_avg = fan_in + fan_out, forgetting to halve it",
    },
    "seed_ignored": {
        "cell": "variance_scaling_solution",
        "find": "rng = np.random.default_rng(seed)",
        "replace": "rng = np.random.default_rng()",
        "why": "ignores the seed: the same seed no longer gives the same weights",
    },
    "he_normal_scale_one": {
        "cell": "he_normal_solution",
        "find": "scale=2.0",
        "replace": "scale=1.0",
        "why": "He initialization with scale 1 (LeCun's) instead of 2",
    },
    "glorot_uniform_fan_in": {
        "cell": "glorot_uniform_solution",
        "find": 'mode="fan_avg"',
        "replace": 'mode="fan_in"',
        "why": "Glorot with mode fan_in instead of fan_avg",
    },
    "lecun_normal_fan_avg": {
        "cell": "lecun_normal_solution",
        "find": 'mode="fan_in"',
        "replace": 'mode="fan_avg"',
        "why": "LeCun with mode fan_avg (Glorot's) instead of fan_in",
    },
}

CHEATS = {
    "reference_variance_scaling": {
        "cell": "variance_scaling_solution",
        "source": (
            "from dnnkit.initializers import variance_scaling as reference_implementation\n"
            "\n"
            "\n"
            'def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):\n'
            "    return reference_implementation(shape, scale, mode, distribution, seed)\n"
        ),
        "why": "calls dnnkit.initializers.variance_scaling instead of implementing it",
    },
    "reference_compute_fans_module": {
        "cell": "compute_fans_solution",
        "source": (
            "import dnnkit.initializers\n"
            "\n"
            "\n"
            "def compute_fans(shape):\n"
            "    return dnnkit.initializers.compute_fans(shape)\n"
        ),
        "why": "imports the dnnkit.initializers module and calls its compute_fans",
    },
    "reference_he_normal_dunder_import": {
        "cell": "he_normal_solution",
        "source": (
            "def he_normal(shape, seed=None):\n"
            '    module = __import__("dnnkit.initializers", fromlist=["he_normal"])\n'
            "    return module.he_normal(shape, seed=seed)\n"
        ),
        "why": "reaches the reference through __import__ inside the function",
    },
    "keras_glorot_uniform": {
        "cell": "glorot_uniform_solution",
        "source": (
            "def glorot_uniform(shape, seed=None):\n"
            "    import keras\n"
            "\n"
            "    seed = seed if isinstance(seed, int) else None\n"
            "    weights = keras.initializers.GlorotUniform(seed=seed)(shape)\n"
            "    return keras.ops.convert_to_numpy(weights)\n"
        ),
        "why": "calls Keras' own GlorotUniform instead of variance_scaling",
    },
}
