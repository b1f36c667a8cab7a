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
- ``dnnkit.integrity``     autograding that does not trust the student's kernel (nbgrader)
- ``dnnkit.feedback``      nbgrader feedback without hidden tests
- ``dnnkit.batch_autograde``  ``dnnkit-autograde``: nbgrader's autograde on all cores
"""

__version__ = "0.1.0"
