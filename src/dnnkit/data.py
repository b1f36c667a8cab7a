"""Offline-first data sets: scikit-learn's bundled digits, synthetic sets, Fashion-MNIST.

Nothing downloads on import. Fashion-MNIST goes through Keras' own download-and-cache
(``keras.utils.get_file``, same files and cache folder as ``keras.datasets.fashion_mnist``) and
fails with a clear ``RuntimeError`` when it is neither cached nor downloadable. Images are
float32 in [0, 1]; class labels are int64.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dnnkit._checks import check_in_range, check_integer, check_one_of, check_positive, fail

#: A labelled split: inputs and labels.
Split = tuple[NDArray[Any], NDArray[Any]]

__all__ = [
    "FASHION_MNIST_ORIGIN",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_CLASSES",
    "load_digits",
    "load_fashion_mnist",
    "load_dataset",
    "make_classification",
    "make_adding_problem",
    "split_task_a_b",
]

#: Where Keras downloads Fashion-MNIST from (``keras.datasets.fashion_mnist``).
FASHION_MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

#: Keras' file names: train labels, train images, test labels, test images (gzip'd IDX).
FASHION_MNIST_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)

#: Class names of Fashion-MNIST, by label.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_CACHE_SUBDIR = os.path.join("datasets", "fashion-mnist")  # as keras.datasets.fashion_mnist
DATASETS = ("digits", "fashion_mnist")


def _check_fraction(name: str, value: Any) -> float:
    return check_in_range(name, value, 0.0, 1.0, low_open=True, high_open=True)


def load_digits(
    *, test_size: float = 0.25, seed: int = 42, flatten: bool = True
) -> tuple[Split, Split]:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), split with stratification.

    Parameters
    ----------
    test_size : float in (0, 1), fraction of the examples in the test set
    seed : int, seed of the split
    flatten : bool, images as (m, 64) vectors (True) or (m, 8, 8) arrays (False)

    Returns
    -------
    ((x_train, y_train), (x_test, y_test)) with x float32 in [0, 1] (pixel / 16) of shape
    (m, 64) or (m, 8, 8), and y int64 of shape (m,).
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    _check_fraction("test_size", test_size)
    digits = sklearn_digits()
    x = (digits.images / 16.0).astype(np.float32)
    if flatten:
        x = x.reshape(len(x), -1)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)


def _read_idx(path: str) -> NDArray[np.uint8]:
    """A gzip'd IDX file (LeCun's MNIST format) as a uint8 array of the shape in its header."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim < 1:  # 0x08: unsigned bytes
        raise RuntimeError(f"{path} is not an IDX file of unsigned bytes (magic {magic:#x})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != math.prod(shape):
        raise RuntimeError(f"{path} is truncated: expected {shape}, got {values.size} bytes")
    return values.reshape(shape)


def load_fashion_mnist(
    *, cache_dir: str | os.PathLike[str] | None = None, origin: str = FASHION_MNIST_ORIGIN
) -> tuple[Split, Split]:
    """Fashion-MNIST (Xiao et al., 2017) through Keras' download-and-cache.

    The four files are looked up in ``<cache_dir>/datasets/fashion-mnist/`` (``cache_dir``
    defaults to Keras' home, ``~/.keras``, shared with ``keras.datasets.fashion_mnist``) and
    downloaded from ``origin`` only when missing.

    Parameters
    ----------
    cache_dir : str, path or None
    origin : str, URL of the folder holding ``FASHION_MNIST_FILES``

    Returns
    -------
    ((x_train, y_train), (x_test, y_test)): x float32 in [0, 1] of shape (m, 28, 28)
    (m = 60000 and 10000), y int64 of shape (m,).

    Raises
    ------
    RuntimeError
        When a file is neither cached nor downloadable (e.g. no network).
    """
    from keras.utils import get_file

    folder_name = None if cache_dir is None else os.fspath(cache_dir)
    paths = []
    for fname in FASHION_MNIST_FILES:
        try:
            path = get_file(
                fname, origin=origin + fname, cache_dir=folder_name, cache_subdir=_CACHE_SUBDIR
            )
        except Exception as error:
            home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
            folder = os.path.join(folder_name or home, _CACHE_SUBDIR)
            raise RuntimeError(
                f"Fashion-MNIST file {fname!r} is not in the cache folder {folder} and could not "
                f"be downloaded from {origin} ({error}). Run once with a network connection, or "
                f"copy the files {', '.join(FASHION_MNIST_FILES)} into that folder, or use the "
                "quick profile (DNNKIT_PROFILE=quick), which uses the offline digits data set."
            ) from error
        paths.append(path)
    y_train, x_train, y_test, x_test = (_read_idx(path) for path in paths)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise RuntimeError(f"Fashion-MNIST files in {os.path.dirname(paths[0])} do not match")
    return (
        (x_train.astype(np.float32) / 255.0, y_train.astype(np.int64)),
        (x_test.astype(np.float32) / 255.0, y_test.astype(np.int64)),
    )


def load_dataset(
    name: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Split, Split, str]:
    """The course's image data set for the active profile (see ``dnnkit.profile``).

    Parameters
    ----------
    name : "digits", "fashion_mnist" or None
        None picks "digits" in the quick profile and "fashion_mnist" in the full one.
    cache_dir : passed to ``load_fashion_mnist``

    Returns
    -------
    (x_train, y_train), (x_test, y_test), info
        Images float32 in [0, 1] of shape (m, h, w) (not flattened, so a model can start with
        ``Flatten`` for either set), labels int64 in 0..9; ``info`` a short description.
    """
    from dnnkit.profile import pick

    if name is None:
        name = pick("digits", "fashion_mnist")
    check_one_of("name", name, DATASETS)
    if name == "digits":
        train, test = load_digits(flatten=False)
        source = "scikit-learn digits"
    else:
        train, test = load_fashion_mnist(cache_dir=cache_dir)
        source = "Fashion-MNIST"
    height, width = train[0].shape[1:]
    info = f"{source} ({height}x{width} images, {len(train[0])} train / {len(test[0])} test)"
    return train, test, info


def make_classification(
    n_samples: int, n_features: int, n_classes: int, *, seed: int, class_sep: float = 1.0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Gaussian blobs: balanced classes around random centres, unit-variance noise.

    Parameters
    ----------
    n_samples, n_features : int >= 1
    n_classes : int >= 2
    seed : int
    class_sep : float > 0, scale of the class centres (larger: easier)

    Returns
    -------
    x : (n_samples, n_features) float32, y : (n_samples,) int64 in 0..n_classes-1
    """
    n_samples = check_integer("n_samples", n_samples, minimum=1)
    n_features = check_integer("n_features", n_features, minimum=1)
    n_classes = check_integer("n_classes", n_classes, minimum=2)
    class_sep = check_positive("class_sep", class_sep)
    rng = np.random.default_rng(seed)
    centres = class_sep * rng.normal(size=(n_classes, n_features))
    y = rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)
    x = centres[y] + rng.normal(size=(n_samples, n_features))
    return x.astype(np.float32), y


def make_adding_problem(
    n_samples: int, length: int, *, seed: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Hochreiter & Schmidhuber's adding problem (in the form of Le et al., 2015).

    Each sequence has two channels: random values ``u_t ~ U(0, 1)`` and a marker that is 1 at
    one position of the first half and one of the second half, 0 elsewhere. The target is the
    sum of the two marked values, so the network must carry information across ``length``
    steps (long sequences make gradients vanish or explode).

    Parameters
    ----------
    n_samples : int >= 1
    length : int >= 2, sequence length
    seed : int

    Returns
    -------
    x : (n_samples, length, 2) float32, y : (n_samples, 1) float32
    """
    n_samples = check_integer("n_samples", n_samples, minimum=1)
    length = check_integer("length", length, minimum=2)
    rng = np.random.default_rng(seed)
    values = rng.uniform(size=(n_samples, length))
    half = length // 2
    rows = np.arange(n_samples)
    first = rng.integers(0, half, size=n_samples)
    second = rng.integers(half, length, size=n_samples)
    markers = np.zeros((n_samples, length))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second])[:, None].astype(np.float32)
    return x, y


def split_task_a_b(
    x: ArrayLike,
    y: ArrayLike,
    *,
    b_classes: Sequence[int] = (5, 6),
    n_b_train: int = 200,
    test_size: float = 0.25,
    seed: int = 42,
) -> dict[str, Split]:
    """Split a labelled set into a source task A and a small binary target task B.

    The transfer-learning set-up of Hands-On ML (ch. 11): task A classifies every class except
    the two ``b_classes`` (labels re-indexed 0..k-1 in increasing order); task B tells
    ``b_classes[1]`` (label 1) from ``b_classes[0]`` (label 0) with only ``n_b_train`` labelled
    training examples. Defaults: Fashion-MNIST's sandals (5) and shirts (6), 200 examples.

    Parameters
    ----------
    x : (m, ...) array, y : (m,) int array
    b_classes : pair of distinct labels present in y
    n_b_train : int >= 2, number of task-B training examples
    test_size : float in (0, 1), fraction of each task kept for its test set
    seed : int

    Returns
    -------
    dict with keys ``a_train, a_test, b_train, b_test``, each ``(x, y)``; task A labels int64,
    task B labels float32 in {0, 1} (ready for a sigmoid output and binary cross-entropy).
    All splits are stratified.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or y.ndim != 1:
        raise ValueError(
            f"x and y of shapes {x.shape} and {y.shape} are not allowed; expected (m, ...) and (m,)"
        )
    _check_fraction("test_size", test_size)
    classes = np.unique(y)
    b_neg, b_pos = b_classes
    if b_neg == b_pos or not np.isin(b_classes, classes).all():
        fail("b_classes", tuple(b_classes), f"two distinct labels of {classes.tolist()}")
    in_b = np.isin(y, b_classes)
    a_classes = classes[~np.isin(classes, b_classes)]
    y_a = np.searchsorted(a_classes, y[~in_b]).astype(np.int64)
    y_b = (y[in_b] == b_pos).astype(np.float32)

    xa_train, xa_test, ya_train, ya_test = train_test_split(
        x[~in_b], y_a, test_size=test_size, random_state=seed, stratify=y_a
    )
    xb_pool, xb_test, yb_pool, yb_test = train_test_split(
        x[in_b], y_b, test_size=test_size, random_state=seed, stratify=y_b
    )
    # at most the task-B training examples available
    n_b_train = check_integer("n_b_train", n_b_train, minimum=2, maximum=len(yb_pool))
    if n_b_train < len(yb_pool):
        xb_train, _, yb_train, _ = train_test_split(
            xb_pool, yb_pool, train_size=n_b_train, random_state=seed, stratify=yb_pool
        )
    else:
        xb_train, yb_train = xb_pool, yb_pool
    return {
        "a_train": (xa_train, ya_train),
        "a_test": (xa_test, ya_test),
        "b_train": (xb_train, yb_train),
        "b_test": (xb_test, yb_test),
    }
