"""dnnkit.data: offline data sets, checked against scikit-learn and files the tests write.

Nothing here uses the network: Fashion-MNIST is read from tiny IDX files written into a
temporary Keras cache, and the offline failure uses an origin on a closed local port.
"""

import gzip
import math
import os

import numpy as np
import pytest
import sklearn.datasets

from dnnkit.data import (
    FASHION_MNIST_FILES,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    make_adding_problem,
    make_classification,
    split_task_a_b,
)

OFFLINE_ORIGIN = "http://127.0.0.1:9/"  # the discard port on this machine: nothing leaves it
KERAS_FILES = (  # the names keras.datasets.fashion_mnist asks get_file for
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


# --- digits --------------------------------------------------------------------------------


def test_load_digits_shapes_dtypes_range():
    (x_train, y_train), (x_test, y_test) = load_digits()
    n = len(sklearn.datasets.load_digits().target)
    n_test = math.ceil(0.25 * n)  # scikit-learn rounds the test size up
    assert x_train.shape == (n - n_test, 64) and x_test.shape == (n_test, 64)
    assert y_train.shape == (n - n_test,) and y_test.shape == (n_test,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and max(x_train.max(), x_test.max()) == 1.0
    assert set(np.unique(y_train)) == set(range(10))


def test_load_digits_matches_scikit_learn_pixels_scaled_by_16():
    (x_train, _), (x_test, _) = load_digits(flatten=False)
    assert x_train.shape[1:] == (8, 8)
    images = sklearn.datasets.load_digits().images
    ours = np.sort(np.concatenate([x_train, x_test]).reshape(len(images), -1), axis=0)
    np.testing.assert_allclose(ours, np.sort(images.reshape(len(images), -1) / 16, axis=0))


def test_load_digits_is_stratified_and_deterministic():
    (_, y_train), (_, y_test) = load_digits(test_size=0.3, seed=1)
    train_share = np.bincount(y_train) / len(y_train)
    test_share = np.bincount(y_test) / len(y_test)
    assert np.abs(train_share - test_share).max() < 2 / len(y_test)
    (x_again, _), _ = load_digits(test_size=0.3, seed=1)
    (x_other, _), _ = load_digits(test_size=0.3, seed=2)
    (x_first, _), _ = load_digits(test_size=0.3, seed=1)
    np.testing.assert_array_equal(x_first, x_again)
    assert not np.array_equal(x_first, x_other)


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.2])
def test_load_digits_rejects_bad_test_size(test_size):
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=test_size)


# --- Fashion-MNIST from a fake Keras cache -----------------------------------------------


def write_idx(path, array):
    """LeCun's IDX format: 0x00 0x00 0x08 ndim, then each dimension as a big-endian int32."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_cache(tmp_path):
    """A Keras cache folder holding a 6-image train set and a 4-image test set."""
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train": (rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 10, 6)),
        "test": (rng.integers(0, 256, (4, 28, 28)), rng.integers(0, 10, 4)),
    }
    arrays["train"][0][0, 0, :2] = [0, 255]  # both ends of the range
    for prefix, (images, labels) in zip(("train", "t10k"), arrays.values(), strict=True):
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    return tmp_path, arrays


def test_file_names_are_keras_fashion_mnist_names():
    assert FASHION_MNIST_FILES == KERAS_FILES


def test_load_fashion_mnist_reads_the_keras_cache_without_network(fake_cache):
    cache_dir, arrays = fake_cache
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(
        cache_dir=cache_dir, origin=OFFLINE_ORIGIN
    )
    for (x, y), (images, labels) in zip(
        ((x_train, y_train), (x_test, y_test)), arrays.values(), strict=True
    ):
        assert x.shape == (len(labels), 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64
        np.testing.assert_allclose(x, images / 255.0, rtol=1e-7)
        np.testing.assert_array_equal(y, labels)
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_load_fashion_mnist_offline_and_uncached_raises_clear_runtime_error(tmp_path):
    with pytest.raises(RuntimeError, match="Fashion-MNIST") as info:
        load_fashion_mnist(cache_dir=tmp_path, origin=OFFLINE_ORIGIN)
    message = str(info.value)
    assert str(tmp_path) in message and "DNNKIT_PROFILE=quick" in message
    assert os.listdir(tmp_path / "datasets" / "fashion-mnist") == []  # no partial download left


# --- load_dataset in both profiles --------------------------------------------------------


def test_load_dataset_quick_profile_gives_digits_images(monkeypatch):
    monkeypatch.setenv("DNNKIT_PROFILE", "quick")
    (x_train, y_train), (x_test, _), info = load_dataset()
    (x_digits, _), _ = load_digits(flatten=False)
    np.testing.assert_array_equal(x_train, x_digits)
    assert x_train.shape[1:] == (8, 8) and "digits" in info
    assert f"{len(x_train)} train / {len(x_test)} test" in info


def test_load_dataset_full_profile_gives_fashion_mnist(monkeypatch, fake_cache):
    cache_dir, arrays = fake_cache
    monkeypatch.setenv("DNNKIT_PROFILE", "full")
    (x_train, y_train), (x_test, y_test), info = load_dataset(cache_dir=cache_dir)
    assert x_train.shape == (6, 28, 28) and x_test.shape == (4, 28, 28)
    np.testing.assert_array_equal(y_test, arrays["test"][1])
    assert "Fashion-MNIST" in info and "6 train / 4 test" in info


def test_load_dataset_rejects_unknown_name():
    with pytest.raises(ValueError, match="mnist_color"):
        load_dataset("mnist_color")


# --- synthetic sets and task A / B ----------------------------------------------------------


def test_make_classification_shapes_balance_and_determinism():
    x, y = make_classification(30, 4, 3, seed=0)
    assert x.shape == (30, 4) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [10, 10, 10])
    x2, y2 = make_classification(30, 4, 3, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    with pytest.raises(ValueError, match="n_classes"):
        make_classification(30, 4, 1, seed=0)


def test_make_adding_problem_marks_one_value_per_half_and_sums_them():
    x, y = make_adding_problem(50, 10, seed=0)
    assert x.shape == (50, 10, 2) and y.shape == (50, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert values.min() >= 0 and values.max() <= 1
    np.testing.assert_array_equal(markers[:, :5].sum(axis=1), 1)
    np.testing.assert_array_equal(markers[:, 5:].sum(axis=1), 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=1e-6)
    x2, _ = make_adding_problem(50, 10, seed=0)
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ValueError, match="length"):
        make_adding_problem(5, 1, seed=0)


def _labelled_set(n_per_class=40, n_classes=10):
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = np.arange(len(y), dtype=np.float32)[:, None]  # x identifies the example
    return x, y


def test_split_task_a_b_relabels_and_keeps_few_b_examples():
    x, y = _labelled_set()
    split = split_task_a_b(x, y, b_classes=(5, 6), n_b_train=10, test_size=0.25, seed=0)
    assert set(split) == {"a_train", "a_test", "b_train", "b_test"}
    (xa, ya), (xa_test, ya_test) = split["a_train"], split["a_test"]
    (xb, yb), (xb_test, yb_test) = split["b_train"], split["b_test"]
    original = y[xa[:, 0].astype(int)]
    expected = np.array([0, 1, 2, 3, 4, -1, -1, 5, 6, 7])[original]  # 5 and 6 removed
    np.testing.assert_array_equal(ya, expected)
    assert ya.dtype == np.int64 and set(ya_test) == set(range(8))
    assert len(xa) + len(xa_test) == 8 * 40
    assert len(xb) == 10 and len(xb_test) == 20 and yb.dtype == np.float32
    np.testing.assert_array_equal(yb, y[xb[:, 0].astype(int)] == 6)
    assert yb.sum() == 5 and yb_test.sum() == 10  # stratified: half shirts
    all_ids = np.concatenate([xa, xa_test, xb, xb_test])[:, 0]
    assert len(np.unique(all_ids)) == len(all_ids)  # no example in two splits
    again = split_task_a_b(x, y, b_classes=(5, 6), n_b_train=10, test_size=0.25, seed=0)
    np.testing.assert_array_equal(again["b_train"][0], xb)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"b_classes": (5, 5)}, "b_classes"), ({"b_classes": (5, 12)}, "b_classes"),
     ({"n_b_train": 1000}, "n_b_train")],
)  # fmt: skip
def test_split_task_a_b_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_task_a_b(*_labelled_set(), **kwargs)
