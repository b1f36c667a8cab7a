"""Colab readiness: every chapter and exercise runs top to bottom the way Colab runs it.

Colab cannot be reached from here, so the test reproduces what matters about it:

- the notebook is a lone copy in a folder outside the repository;
- its kernel is a **fresh virtual environment** that has only what Colab preinstalls and the
  course relies on (TensorFlow, Keras, NumPy, Matplotlib, scikit-learn, SciPy, plus ipykernel
  and setuptools), and *not* ``dnnkit`` nor anything else of the project's environment;
- the notebook's own first cell installs ``dnnkit``; one environment variable,
  ``DNNKIT_INSTALL_FROM``, points it at a copy of this checkout instead of GitHub.

How the fresh environment gets Colab's packages without a download: ``python -m venv`` (same
interpreter as the project, no ``--system-site-packages``), then exactly those distributions
*and their dependency closure* (computed from their metadata) are hard-linked, file by file
from their RECORDs, from the project's site-packages into the venv's own site-packages, which
is where Colab keeps its TensorFlow too. Hard links cost no disk and no time, and keep every
file's path inside the venv (a symbolic link would resolve to the project's environment). The
venv therefore runs the same TensorFlow build the project tests with, pip sees those packages as
installed (so the first cell must leave them alone, as on Colab), and the project's own packages
(dnnkit's editable install, jupyter-book, nbgrader, pytest) stay invisible. pip runs with
``PIP_NO_INDEX`` so that anything the first cell would need to download fails loudly.

Also here: the GPU-path check (no notebook or library code pins the CPU, and every chapter
reports the device it runs on in its first cells).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())

# What Colab preinstalls that the course uses; the environment gets these and their dependencies.
COLAB_PACKAGES = ("tensorflow", "keras", "numpy", "matplotlib", "scikit-learn", "scipy")
# What any Jupyter/Colab runtime has besides: a kernel, and pip's build backend.
RUNTIME_PACKAGES = ("ipykernel", "setuptools", "wheel")
CELL_TIMEOUT = 300  # seconds per cell; the quick profile keeps whole chapters well under this

PROBE = """\
import importlib.metadata as _md, importlib.util as _iu, json as _json, sys as _sys
_spec = _iu.find_spec("dnnkit")
print("PROBE" + _json.dumps({"executable": _sys.executable,
    "tensorflow": [_md.version("tensorflow"), _iu.find_spec("tensorflow").origin],
    "dnnkit": _spec.origin if _spec else None}))
del _md, _iu, _json, _sys, _spec
"""


# ---------------------------------------------------------------------------- environment


def _dependency_closure(roots) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``roots`` need (their requirements, recursively, no extras)."""
    installed = {
        canonicalize_name(d.metadata["Name"]): d for d in importlib.metadata.distributions()
    }
    missing = [name for name in roots if canonicalize_name(name) not in installed]
    assert not missing, f"the project environment lacks {missing}: run `make setup`"
    closure, stack = {}, [canonicalize_name(name) for name in roots]
    while stack:
        name = stack.pop()
        if name in closure or name not in installed:
            continue
        closure[name] = installed[name]
        for line in installed[name].requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                stack.append(canonicalize_name(requirement.name))
    return list(closure.values())


def _link_distributions(dists, site: Path, target: Path) -> int:
    """Hard-link every file of ``dists`` (their RECORD) from ``site`` into ``target``.

    Falls back to a symbolic link where a hard link is impossible (another file system)."""
    count = 0
    for dist in dists:
        for file in dist.files or []:
            relative = Path(str(file))
            source = site / relative
            if relative.parts[0] == ".." or not source.is_file():
                continue  # console scripts in bin/, and files RECORD lists but pip removed
            link = target / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.exists():
                continue
            try:
                os.link(source, link)
            except OSError:
                link.symlink_to(source)
            count += 1
    return count


def _project_site_packages() -> Path:
    dist = importlib.metadata.distribution("tensorflow")
    return Path(dist.locate_file("")).resolve()


@dataclass
class ColabEnv:
    """A fresh venv with Colab's packages, and the environment its kernels run with."""

    root: Path
    python: Path
    kernel_dirs: Path
    checkout: Path
    site: Path  # the venv's site-packages
    baseline: dict = field(default_factory=dict)
    preinstalled: frozenset = frozenset()  # distributions there before any notebook ran

    def probe(self) -> dict:
        """What the venv's Python sees: TensorFlow's version and location, dnnkit's location."""
        result = subprocess.run(
            [str(self.python), "-c", PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.environ(),
            cwd=self.root,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.split("PROBE", 1)[1])

    def environ(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(self.kernel_env())
        env["PATH"] = f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return env

    def kernel_env(self) -> dict:
        return {
            "DNNKIT_INSTALL_FROM": str(self.checkout),  # the one variable the first cell reads
            "DNNKIT_PROFILE": "quick",
            "PIP_NO_INDEX": "1",  # offline: pip may not fetch anything...
            "PIP_NO_BUILD_ISOLATION": "0",  # ...so it builds dnnkit with the venv's setuptools
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1",
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "agg",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_ENABLE_ONEDNN_OPTS": "0",
        }


def _copy_checkout(target: Path) -> Path:
    """Copy the working tree's tracked and unignored files (what a clone would hold, plus
    uncommitted work) so that pip builds in a folder outside the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _make_colab_env(root: Path) -> ColabEnv:
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=180)
    python = root / "venv" / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    dists = _dependency_closure(COLAB_PACKAGES + RUNTIME_PACKAGES)
    _link_distributions(dists, _project_site_packages(), site)

    kernel_dirs = root / "kernels"
    env = ColabEnv(root, python, kernel_dirs, _copy_checkout(root / "checkout"), site)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab-like venv)",
        "language": "python",
        "env": env.kernel_env(),
    }
    (kernel_dirs / "colab").mkdir(parents=True)
    (kernel_dirs / "colab" / "kernel.json").write_text(json.dumps(spec, indent=1))
    return env


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("colab")
    assert not root.resolve().is_relative_to(ROOT), "the Colab copy must live outside the repo"
    env = _make_colab_env(root)
    env.baseline = env.probe()
    env.preinstalled = _distributions_in(env.site)
    return env


def _distributions_in(site: Path) -> frozenset:
    return frozenset(
        canonicalize_name(d.metadata["Name"])
        for d in importlib.metadata.distributions(path=[str(site)])
    )


# ---------------------------------------------------------------------------- execution


@dataclass
class Run:
    """The outcome of running one notebook cell by cell."""

    error: tuple[int, str, str] | None = None  # (cell index, exception name, message)
    probe: dict = field(default_factory=dict)  # what the kernel saw right after the first cell
    seconds: float = 0.0


def _run_notebook(env: ColabEnv, source: Path, workdir: Path) -> Run:
    """Copy ``source`` to ``workdir`` and run it in the Colab-like kernel until the first error."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    workdir.mkdir(parents=True, exist_ok=True)
    notebook = Path(shutil.copy2(source, workdir / source.name))
    nb = nbformat.read(notebook, as_version=4)
    specs = KernelSpecManager(kernel_dirs=[str(env.kernel_dirs)], ensure_native_kernel=False)
    km = AsyncKernelManager(kernel_name="colab", kernel_spec_manager=specs)
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        kernel_name="colab",
        resources={"metadata": {"path": str(workdir)}},
    )
    run, start = Run(), time.perf_counter()
    try:
        _execute_cells(client, nb, run)
    finally:  # nbclient leaves a kernel it did not create running: stop it here
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    run.seconds = time.perf_counter() - start
    print(f"\n{source.relative_to(ROOT)}: {run.seconds:.1f} s, stopped by {run.error}")
    return run


def _execute_cells(client, nb, run: Run) -> None:
    """Run the code cells in order until one raises; probe the kernel after the first."""
    from nbclient.exceptions import CellExecutionError

    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    with client.setup_kernel():
        for index, cell in list(enumerate(nb.cells)):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                run.error = (index, error.ename, str(error.evalue))
                break
            if index == first_code:
                run.probe = _probe_kernel(client, nb)


def _probe_kernel(client, nb) -> dict:
    """Run ``PROBE`` in the notebook's kernel (as a temporary last cell) and parse its output."""
    probe = nbformat.v4.new_code_cell(PROBE)
    nb.cells.append(probe)
    try:
        client.execute_cell(probe, len(nb.cells) - 1)
    finally:
        nb.cells.pop()
    text = "".join(output.get("text", "") for output in probe.outputs)
    return json.loads(text.split("PROBE", 1)[1])


def _assert_install_left_colab_alone(env: ColabEnv, run: Run, name: str) -> None:
    """The first cell installed dnnkit into the venv and did not touch TensorFlow."""
    assert run.probe, f"{name}: the first code cell failed, so dnnkit was never installed"
    assert Path(run.probe["executable"]).parent == env.python.parent, run.probe
    assert run.probe["tensorflow"] == env.baseline["tensorflow"], (
        f"{name}: the set-up cell changed TensorFlow: before {env.baseline['tensorflow']}, "
        f"after {run.probe['tensorflow']} (it must never reinstall or downgrade Colab's build)"
    )
    dnnkit = run.probe["dnnkit"]
    assert dnnkit is not None, f"{name}: dnnkit is not importable after the set-up cell"
    assert Path(dnnkit).is_relative_to(env.python.parents[1]), (
        f"{name}: dnnkit imports from {dnnkit}, not from the fresh environment"
    )


def _first_solution_cell(nb) -> int:
    return next(
        i
        for i, cell in enumerate(nb.cells)
        if cell.metadata.get("nbgrader", {}).get("solution", False)
    )


# ---------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_fresh_env_has_colab_packages_but_not_dnnkit(colab_env):
    """Oracle: the venv's own interpreter (no kernel); the project's dnnkit must be invisible."""
    baseline = colab_env.baseline
    assert Path(baseline["executable"]).parent == colab_env.python.parent
    assert baseline["tensorflow"][0] == importlib.metadata.version("tensorflow")
    assert baseline["dnnkit"] is None, (
        f"dnnkit is importable before any notebook installed it: {baseline['dnnkit']}"
    )
    for name in ("jupyter-book", "nbgrader", "pytest"):
        found = subprocess.run(
            [str(colab_env.python), "-m", "pip", "show", "--quiet", name],
            capture_output=True,
            env=colab_env.environ(),
            timeout=120,
        )
        assert found.returncode != 0, f"{name} leaked into the Colab-like environment"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_top_to_bottom_in_a_fresh_colab_like_env(colab_env, chapter):
    run = _run_notebook(colab_env, chapter, colab_env.root / "chapters" / chapter.stem)
    _assert_install_left_colab_alone(colab_env, run, chapter.name)
    assert run.error is None, f"{chapter.name}: cell {run.error[0]} raised {run.error[1:]}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_runs_until_its_first_unanswered_solution(colab_env, assignment):
    """The student version stops with NotImplementedError, from an unanswered solution."""
    release = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
    assert release.exists(), f"{release.relative_to(ROOT)} is missing (generate_assignment)"
    run = _run_notebook(colab_env, release, colab_env.root / "exercises" / assignment)
    _assert_install_left_colab_alone(colab_env, run, release.name)
    assert run.error is not None, f"{release.name} ran to the end although nothing is answered"
    index, ename, evalue = run.error
    first_solution = _first_solution_cell(nbformat.read(release, as_version=4))
    assert ename == "NotImplementedError" and index >= first_solution, (
        f"{release.name}: cell {index} raised {ename}: {evalue}; expected NotImplementedError "
        f"at or after the first solution cell ({first_solution})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_top_to_bottom_in_the_same_env(colab_env, assignment):
    source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    run = _run_notebook(colab_env, source, colab_env.root / "solutions" / assignment)
    _assert_install_left_colab_alone(colab_env, run, source.name)
    assert run.error is None, f"{source.name}: cell {run.error[0]} raised {run.error[1:]}"


@pytest.mark.slow
def test_tensorflow_unchanged_after_every_install(colab_env):
    """After all the notebooks above: pip installed dnnkit and nothing Colab already had."""
    after = colab_env.probe()
    assert after["tensorflow"] == colab_env.baseline["tensorflow"]
    added = _distributions_in(colab_env.site) - colab_env.preinstalled
    assert added == {"dnnkit"}, f"the set-up cells installed {sorted(added)}, expected dnnkit only"


# ---------------------------------------------------------------------------- GPU path

CPU_PINNING = re.compile(
    r"""(/device:|/)?CPU:0|CUDA_VISIBLE_DEVICES|set_visible_devices\(\s*\[\s*\]"""
    r"""|tf\.device\(\s*["'][^"']*cpu|device\s*=\s*["']cpu""",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "pinning",
    [
        'with tf.device("/CPU:0"):',
        "with tf.device('/device:cpu:0'):",
        'os.environ["CUDA_VISIBLE_DEVICES"] = ""',
        'tf.config.set_visible_devices([], "GPU")',
        'x = keras.ops.ones(3, device="cpu")',
    ],
)
def test_cpu_pinning_pattern_catches_known_forms(pinning):
    """Oracle: hand-written examples of code that would hide a GPU."""
    assert CPU_PINNING.search(pinning)


def test_cpu_pinning_pattern_allows_device_reporting():
    assert not CPU_PINNING.search('print(profile.run_summary("digits"))  # CPU or GPU')


def _code_of(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return ["".join(cell.source) for cell in nb.cells if cell.cell_type == "code"]


def _all_notebooks() -> list[Path]:
    folders = [ROOT / "book", ROOT / "exercises", ROOT / "solutions"]
    return sorted(
        p for folder in folders for p in folder.rglob("*.ipynb") if "checkpoint" not in str(p)
    )


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_reports_its_device_in_its_first_cells(chapter):
    """The device line comes from ``dnnkit.profile`` (``run_summary`` or ``device_description``),
    which asks TensorFlow for GPUs, in the first three code cells."""
    first = "\n".join(_code_of(chapter)[:3])
    assert re.search(r"\b(run_summary|device_description)\(", first), (
        f"{chapter.name}: the first code cells do not print the device "
        "(profile.run_summary(...) or profile.device_description())"
    )


def test_device_description_asks_tensorflow_for_gpus():
    """Oracle: the source of ``dnnkit.profile.device_description`` (no hard-coded answer)."""
    import inspect

    from dnnkit import profile

    source = inspect.getsource(profile.device_description)
    assert 'list_physical_devices("GPU")' in source


@pytest.mark.parametrize("path", _all_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_no_cpu_only_code_path(path):
    hits = [m.group(0) for code in _code_of(path) for m in CPU_PINNING.finditer(code)]
    assert not hits, f"{path.relative_to(ROOT)} pins the CPU: {hits}"


def test_library_has_no_cpu_only_code_path():
    hits = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p in sorted((ROOT / "src" / "dnnkit").rglob("*.py"))
        for m in CPU_PINNING.finditer(p.read_text())
    ]
    assert not hits, f"library code pins the CPU: {hits}"
