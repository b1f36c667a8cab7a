"""The library is typed: mypy passes on src/dnnkit with the project's configuration.

mypy reads ``[tool.mypy]`` in pyproject.toml (every function annotated; Keras, TensorFlow,
scikit-learn and SciPy ship no hints, so mypy skips their sources). A fresh cache keeps the run
honest; it takes about 6 s of CPU. The annotation check below is the quick, mypy-free half.
"""

import inspect
import pkgutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

import dnnkit

ROOT = Path(__file__).resolve().parents[1]


def _public_modules():
    return [
        f"dnnkit.{info.name}"
        for info in pkgutil.iter_modules(dnnkit.__path__)
        if not info.name.startswith("_")
    ]


def test_mypy_passes_on_the_library(tmp_path):
    # mypy is in the `test` extra, which `make test` installs: its absence is a failure.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_the_package_says_it_is_typed():
    assert (Path(dnnkit.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_function_is_annotated(module_name):
    if module_name in ("dnnkit.layers", "dnnkit.models", "dnnkit.transfer", "dnnkit.batchnorm"):
        pytest.importorskip("keras")
    module = import_module(module_name)
    missing = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        functions = [obj] if inspect.isfunction(obj) else []
        if inspect.isclass(obj):
            functions = [f for f in vars(obj).values() if inspect.isfunction(f)]
        for function in functions:
            if "return" not in function.__annotations__ and function.__name__ != "__init__":
                missing.append(f"{name}.{function.__name__}")
    assert not missing, f"{module_name}: no return annotation on {missing}"
