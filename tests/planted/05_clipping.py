"""Planted bugs and cheats for assignment 05_clipping (format: /tmp/briefs/exercises.md).

Each bug is a realistic mistake in one solution cell of
``solutions/05_clipping/05_clipping.ipynb``; each must make at least one test cell fail.
Each cheat replaces a solution cell by a call to the ``dnnkit`` reference or to TensorFlow's own
clipping where the task is to write it; it must earn no marks.
"""

BUGS = {
    "global_norm_sums_norms": {
        "cell": "global_norm_solution",
        "find": "float(np.sqrt(sum(np.sum(np.square(g)) for g in grads if g is not None)))",
        "replace": "float(sum(np.sqrt(np.sum(np.square(g))) for g in grads if g is not None))",
        "why": "adds the arrays' norms instead of taking the root of the sum of all squares",
    },
    "clip_by_value_lower_bound_zero": {
        "cell": "clip_by_value_solution",
        "find": "return np.clip(grads, -clip_value, clip_value)",
        "replace": "return np.clip(grads, 0, clip_value)",
        "why": "clips to [0, c] instead of [-c, c] (negative gradients lost)",
    },
    "clip_by_norm_squared_norm": {
        "cell": "clip_by_norm_solution",
        "find": "norm = np.sqrt(np.sum(np.square(grad)))",
        "replace": "norm = np.sum(np.square(grad))",
        "why": "uses the squared norm (forgotten square root)",
    },
    "clip_by_norm_always_rescales": {
        "cell": "clip_by_norm_solution",
        "find": "return grad * (clip_norm / max(norm, clip_norm))",
        "replace": "return grad * (clip_norm / norm)",
        "why": "rescales every gradient to norm clip_norm, small ones up too (and 0 / 0 for zeros)",
    },
    "clip_by_norm_global_norm_in_list": {
        "cell": "clip_by_norm_solution",
        "find": "return [None if g is None else clip_by_norm(g, clip_norm) for g in grad]",
        "replace": "norm = np.sqrt(sum(np.sum(np.square(g)) for g in grad if g is not None))\n"
        "        return [None if g is None else g * (clip_norm / max(norm, clip_norm)) for g in grad]",
        "why": "clips a list by its global norm instead of each array by its own norm (clipnorm)",
    },
    "global_clip_returns_norm_after_clipping": {
        "cell": "clip_by_global_norm_solution",
        "find": "return [None if g is None else g * scale for g in grads], norm",
        "replace": "clipped = [None if g is None else g * scale for g in grads]\n"
        "    return clipped, global_norm(clipped)",
        "why": "returns the global norm after clipping instead of before",
    },
    "global_clip_scales_up": {
        "cell": "clip_by_global_norm_solution",
        "find": "scale = clip_norm / max(norm, clip_norm)",
        "replace": "scale = clip_norm / norm",
        "why": "divides by the global norm even when it is below the threshold (scales small gradients up)",
    },
    "train_step_applies_unclipped": {
        "cell": "train_step_solution",
        "find": "optimizer.apply_gradients(zip(clipped, variables))",
        "replace": "optimizer.apply_gradients(zip(grads, variables))",
        "why": "clips, but applies the unclipped gradients",
    },
    "train_step_clips_each_variable": {
        "cell": "train_step_solution",
        "find": "clipped, norm = tf.clip_by_global_norm(grads, clip_norm)",
        "replace": "clipped = [tf.clip_by_norm(g, clip_norm) for g in grads]\n"
        "    norm = tf.linalg.global_norm(grads)",
        "why": "clips each variable's gradient by its own norm (clipnorm) instead of the global norm",
    },
    "train_step_returns_clipped_norm": {
        "cell": "train_step_solution",
        "find": "return loss, norm",
        "replace": "return loss, tf.linalg.global_norm(clipped)",
        "why": "returns the norm after clipping, which hides exploding gradients",
    },
}

CHEATS = {
    "reference_clip_by_global_norm": {
        "cell": "clip_by_global_norm_solution",
        "source": "from dnnkit.clipping import clip_by_global_norm  # noqa: F401\n",
        "why": "imports the reference instead of writing it",
    },
    "tensorflow_clip_by_norm": {
        "cell": "clip_by_norm_solution",
        "source": (
            "def clip_by_norm(grad, clip_norm):\n"
            "    import tensorflow as tf\n"
            "\n"
            "    if clip_norm <= 0:\n"
            "        raise ValueError(f'clip_norm={clip_norm!r}; expected a number > 0')\n"
            "    if isinstance(grad, (list, tuple)):\n"
            "        return [None if g is None else clip_by_norm(g, clip_norm) for g in grad]\n"
            "    return tf.clip_by_norm(grad, clip_norm).numpy()\n"
        ),
        "why": "calls TensorFlow's tf.clip_by_norm in a NumPy task whose point is to write it",
    },
    "reference_train_step": {
        "cell": "train_step_solution",
        "source": (
            "def train_step(model, optimizer, loss_fn, x, y, clip_norm):\n"
            "    from dnnkit.clipping import make_clipped_train_step\n"
            "\n"
            "    step = make_clipped_train_step(model, optimizer, loss_fn, clip='global_norm', "
            "threshold=clip_norm)\n"
            "    return step(x, y)\n"
        ),
        "why": "builds the reference clipped training step instead of writing it",
    },
}
