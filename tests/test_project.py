"""Project-level checks: environment files agree, lint is clean, notebooks carry no outputs,
the NumPy modules stay free of TensorFlow, and the README / CI entry points stay true."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalise(requirement: str) -> tuple[str, str]:
    req = Requirement(requirement)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def _pyproject_requirements() -> set[tuple[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("dnnkit")]
    return {_normalise(r) for r in reqs}


def _environment_requirements() -> set[tuple[str, str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should have exactly one pip: section"
    return {_normalise(r) for r in pip_lists[0] if not r.startswith("-e")}


def test_environment_yml_agrees_with_pyproject():
    in_pyproject, in_env = _pyproject_requirements(), _environment_requirements()
    assert in_pyproject == in_env, (
        f"only in pyproject.toml: {sorted(in_pyproject - in_env)}; "
        f"only in environment.yml: {sorted(in_env - in_pyproject)}"
    )


def test_jupyter_book_is_pinned_below_2():
    specs = dict(_pyproject_requirements())
    assert "<2" in specs["jupyter-book"], "jupyter-book 2.x ignores _config.yml/_toc.yml"


def test_tensorflow_is_not_a_hard_dependency():
    """Installing dnnkit on Colab must never replace Colab's GPU build of TensorFlow."""
    core = {name for name, _ in map(_normalise, _core_dependencies())}
    assert not core & {"tensorflow", "tensorflow-cpu", "tf-nightly"}


def _core_dependencies():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _tracked(pattern: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / p for p in out.split()]


def test_notebooks_are_committed_without_outputs():
    notebooks = _tracked("*.ipynb")
    assert notebooks, "no tracked notebooks found"
    dirty = []
    for path in notebooks:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(path.relative_to(ROOT))
                break
    assert not dirty, f"notebooks committed with outputs (clear them): {dirty}"


def test_ruff_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "module",
    ["dnnkit", "dnnkit.activations", "dnnkit.initializers", "dnnkit.grading", "dnnkit.profile"],
)
def test_numpy_modules_do_not_import_tensorflow(module):
    code = (
        f"import sys, {module}; "
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} imported {result.stdout.strip()}"


def test_readme_first_screen_shows_the_two_commands():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "make book" in first_screen and "make test" in first_screen


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {toc["root"]}
    for part in toc["parts"]:
        listed |= {entry["file"] for entry in part["chapters"]}
    on_disk = {f"book/{p.stem}" for p in (ROOT / "book").iterdir() if p.suffix in {".ipynb", ".md"}}
    assert listed == on_disk, (
        f"in _toc.yml only: {listed - on_disk}; on disk only: {on_disk - listed}"
    )
