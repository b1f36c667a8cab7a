"""The full profile's code paths: every chapter runs top to bottom with ``DNNKIT_PROFILE=full``.

The full profile is meant for a GPU and Fashion-MNIST, neither of which this machine has, and
nothing else in the suite executes it. Here a small synthetic stand-in for Fashion-MNIST (same
file names and IDX format, 28x28 images, 10 classes, far fewer images) sits in a temporary
Keras cache folder, so ``dnnkit.data.load_fashion_mnist`` reads it without a network and each
chapter runs its full-profile branch: model sizes, epochs, seeds, Fashion-MNIST class names.
Results are meaningless with this data; what is checked is that nothing breaks.
"""

from pathlib import Path

import numpy as np
import pytest
from test_data import write_idx

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (ROOT / "book").glob("[0-9]*.ipynb"))
N_TRAIN, N_TEST = 2000, 400  # chapter 6 needs 200 task-B training images


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    """A Keras home whose cache holds the stand-in: noisy class templates, so models can learn."""
    home = tmp_path_factory.mktemp("keras_home")
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    templates = rng.uniform(0, 255, size=(10, 28, 28))
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        labels = rng.integers(0, 10, n)
        images = np.clip(0.6 * templates[labels] + rng.normal(0, 60, (n, 28, 28)), 0, 255)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    return home


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_the_full_profile(chapter, keras_home, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("DNNKIT_PROFILE", "full")  # the kernel inherits the environment
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    nb = nbformat.read(ROOT / "book" / chapter, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    assert "profile: full" in text, f"{chapter} does not report the full profile"
    code = "".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    if "data.load_" in code:  # a chapter that trains on images uses Fashion-MNIST in full
        assert "Fashion-MNIST" in text, f"{chapter} did not use Fashion-MNIST"
