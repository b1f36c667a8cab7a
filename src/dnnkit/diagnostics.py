"""Seeing unstable gradients: the NumPy MLP, per-layer statistics of Keras models, and plots.

One import for the chapters and exercises; each part lives in its own module:

- :mod:`dnnkit.mlp`: ``mlp_forward`` / ``mlp_backward``, ``layer_stds``, ``layer_grad_norms``
  (NumPy, what chapter 1 and exercise 1 use);
- :mod:`dnnkit.layer_stats`: ``activation_stats`` and ``gradient_norms`` of a Keras model;
- :mod:`dnnkit.plots`: ``METHOD_COLORS``, ``color_for``, ``plot_per_layer``, ``plot_history``.

Importing this module does not import TensorFlow, Keras or matplotlib.
"""

from dnnkit.layer_stats import activation_stats, gradient_norms
from dnnkit.mlp import MLP_ACTIVATIONS, layer_grad_norms, layer_stds, mlp_backward, mlp_forward
from dnnkit.plots import METHOD_COLORS, color_for, plot_history, plot_per_layer

__all__ = [
    "MLP_ACTIVATIONS",
    "mlp_forward",
    "mlp_backward",
    "layer_stds",
    "layer_grad_norms",
    "activation_stats",
    "gradient_norms",
    "METHOD_COLORS",
    "color_for",
    "plot_per_layer",
    "plot_history",
]
