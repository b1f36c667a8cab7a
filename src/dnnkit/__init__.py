"""dnnkit: the reference library of the course "Training Deep Neural Networks".

Modules (import the one you need; importing ``dnnkit`` itself is cheap and never imports
TensorFlow or Keras):

- ``dnnkit.initializers``  fans, variance scaling, Glorot / He / LeCun (NumPy, Keras conventions)
- ``dnnkit.activations``   activation functions and their derivatives (NumPy)
- ``dnnkit.layers``        Keras layers: RReLU, Swish, Mish
- ``dnnkit.batchnorm``     Batch Normalization forward/backward (NumPy) and BN folding (Keras)
- ``dnnkit.clipping``      gradient clipping (NumPy) and a clipped Keras training step
- ``dnnkit.transfer``      reusing pretrained layers without altering the original model
- ``dnnkit.diagnostics``   per-layer activation statistics and gradient norms, plots
- ``dnnkit.data``          offline-first datasets and task-A / task-B splits
- ``dnnkit.grading``       helpers that the exercises' test cells call
- ``dnnkit.profile``       the book's quick/full profile and the device in use
- ``dnnkit.notebook``      ``glue``: computed values for the book's text

The instructor's side of grading (nbgrader preprocessors, the static policy, the kernel
sandbox, the batch grader) is the separate package ``dnnkit_autograde`` (the ``grading``
extra); ``dnnkit`` never imports it nor nbgrader.
"""

__version__ = "0.2.0"
