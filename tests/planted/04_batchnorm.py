"""Planted bugs and cheats for assignment 04_batchnorm (format: /tmp/briefs/exercises.md).

Each bug is a realistic mistake in one solution cell of
``solutions/04_batchnorm/04_batchnorm.ipynb``; each must make at least one test cell fail.
Each cheat replaces a solution cell by a call to the ``dnnkit`` reference; it must earn no marks.
"""

BUGS = {
    "unbiased_variance": {
        "cell": "batchnorm_forward_solution",
        "find": "var = x.var(axis=0)",
        "replace": "var = x.var(axis=0, ddof=1)",
        "why": "unbiased batch variance (divides by m - 1); Keras uses the biased one (divides by m)",
    },
    "momentum_swapped": {
        "cell": "batchnorm_forward_solution",
        "find": "new_mean = momentum * running_mean + (1 - momentum) * mu\n"
        "    new_var = momentum * running_var + (1 - momentum) * var",
        "replace": "new_mean = (1 - momentum) * running_mean + momentum * mu\n"
        "    new_var = (1 - momentum) * running_var + momentum * var",
        "why": "momentum the wrong way round (PyTorch's convention): the batch gets the weight 0.99",
    },
    "eps_outside_sqrt": {
        "cell": "batchnorm_forward_solution",
        "find": "std = np.sqrt(var + eps)",
        "replace": "std = np.sqrt(var) + eps",
        "why": "epsilon added after the square root instead of to the variance",
    },
    "statistics_over_wrong_axis": {
        "cell": "batchnorm_forward_solution",
        "find": "mu = x.mean(axis=0)\n    var = x.var(axis=0)",
        "replace": "mu = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)",
        "why": "wrong axis: statistics of each example (layer-norm style) instead of each feature",
    },
    "inference_uses_batch_statistics": {
        "cell": "batchnorm_forward_solution",
        "find": "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
        "replace": "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)",
        "why": "inference mode normalises with the batch statistics instead of the running ones",
    },
    "running_mean_updated_in_place": {
        "cell": "batchnorm_forward_solution",
        "find": "new_mean = momentum * running_mean + (1 - momentum) * mu",
        "replace": "running_mean *= momentum\n"
        "    running_mean += (1 - momentum) * mu\n"
        "    new_mean = running_mean",
        "why": "updates the caller's running_mean array in place",
    },
    "dx_forgets_mean_term": {
        "cell": "batchnorm_backward_solution",
        "find": "dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std",
        "replace": "dx = (g - x_hat * (g * x_hat).mean(axis=0)) / std",
        "why": "forgotten term in dx: the gradient through the batch mean",
    },
    "dx_forgets_variance_term": {
        "cell": "batchnorm_backward_solution",
        "find": "dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std",
        "replace": "dx = (g - g.mean(axis=0)) / std",
        "why": "forgotten term in dx: the gradient through the batch variance",
    },
    "dx_forgets_gamma": {
        "cell": "batchnorm_backward_solution",
        "find": "g = dout * gamma",
        "replace": "g = dout",
        "why": "dx computed from dout instead of dout * gamma (the gradient w.r.t. x_hat)",
    },
    "dgamma_wrong_axis": {
        "cell": "batchnorm_backward_solution",
        "find": "dgamma = (dout * x_hat).sum(axis=0)",
        "replace": "dgamma = (dout * x_hat).sum(axis=1)",
        "why": "dgamma summed over the features (axis 1) instead of the batch (axis 0)",
    },
    "fused_bias_forgets_moving_mean": {
        "cell": "fuse_dense_batchnorm_solution",
        "find": "(bias - moving_mean) * scale + beta",
        "replace": "bias * scale + beta",
        "why": "the fused bias forgets to subtract the moving mean",
    },
    "fused_scale_without_sqrt": {
        "cell": "fuse_dense_batchnorm_solution",
        "find": "scale = gamma / np.sqrt(moving_variance + eps)",
        "replace": "scale = gamma / (moving_variance + eps)",
        "why": "divides by the variance instead of the standard deviation",
    },
}

CHEATS = {
    "import_reference_forward": {
        "cell": "batchnorm_forward_solution",
        "source": "from dnnkit.batchnorm import batchnorm_forward  # noqa: F401\n",
        "why": "imports the reference forward pass instead of writing it",
    },
    "wrap_reference_fuse": {
        "cell": "fuse_dense_batchnorm_solution",
        "source": (
            "import dnnkit.batchnorm as bn\n"
            "\n"
            "\n"
            "def fuse_dense_batchnorm(kernel, bias, gamma, beta, moving_mean, moving_variance, eps=1e-3):\n"
            "    return bn.fuse_dense_batchnorm(kernel, bias, gamma, beta, moving_mean, moving_variance, eps)\n"
        ),
        "why": "wraps the reference fuse_dense_batchnorm instead of implementing it",
    },
}
