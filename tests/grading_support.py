"""Helpers for the grading-pipeline tests: a temporary nbgrader course, submissions, scores.

A course is a temporary directory laid out like the repository (``solutions/`` as nbgrader's
source directory, ``exercises/`` as its release directory) with a copy of the repository's
``nbgrader_config.py``, so the tests grade with exactly the repository's settings. Each
submission variant is one "student"; one ``nbgrader autograde`` call grades them all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
PLANTED = Path(__file__).resolve().parent / "planted"

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"


# ------------------------------------------------------------------------------- assignments
def assignments() -> list[str]:
    """Every assignment under ``solutions/`` (a folder holding a notebook of the same name)."""
    if not SOLUTIONS.is_dir():
        return []
    return sorted(
        p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").is_file()
    )


def load_planted(assignment: str) -> tuple[dict, dict]:
    """``BUGS`` and ``CHEATS`` of ``tests/planted/<assignment>.py`` (empty when missing)."""
    path = PLANTED / f"{assignment}.py"
    if not path.is_file():
        return {}, {}
    spec = importlib.util.spec_from_file_location(f"planted_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "BUGS", {})), dict(getattr(module, "CHEATS", {}))


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_by_id(nb, grade_id: str):
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def solution_ids(nb) -> list[str]:
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("solution")]


def test_cells(nb) -> dict[str, float]:
    """grade_id -> points of the autograded test cells."""
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
        for c in nb.cells
        if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")
    }


def strip_solution_markers(source: str) -> str:
    """A solution cell as a student who solved it would submit it (no nbgrader markers)."""
    lines = source.splitlines(keepends=True)
    return "".join(line for line in lines if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))


# ------------------------------------------------------------------------------------ course
@dataclass
class Course:
    root: Path

    def run(self, *args: str, timeout: float = 1200, module: str = "nbgrader"):
        """Run ``nbgrader <args>`` (or another ``python -m`` module) in the course directory
        (its nbgrader_config.py applies)."""
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
        # nbgrader runs the `alembic` script of its environment through PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("DNNKIT_PROFILE", "quick")
        env.pop("DNNKIT_INSTALL_FROM", None)
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def autograde_batch(
        self, assignment: str, students: list[str], *extra: str, jobs: int = 2
    ) -> subprocess.CompletedProcess:
        """Grade ``students`` with the course's batch grader (``dnnkit-autograde``, a local
        Dask cluster of ``jobs`` workers); ``extra`` are nbgrader options."""
        args = [assignment, "--course-dir", str(self.root), "--jobs", str(jobs), "--force"]
        args += ["--no-progress", "--no-report", "--student", *students, *extra]
        return self.run(*args, module="dnnkit_autograde.batch")

    def source_path(self, assignment: str) -> Path:
        return self.root / "solutions" / assignment / f"{assignment}.ipynb"

    def release_path(self, assignment: str) -> Path:
        return self.root / "exercises" / assignment / f"{assignment}.ipynb"

    def submitted_dir(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded_path(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment / f"{assignment}.ipynb"

    def generate(self, assignment: str) -> None:
        result = self.run("generate_assignment", assignment, "--force")
        assert result.returncode == 0, result.stdout + result.stderr

    def source(self, assignment: str):
        return nbformat.read(self.source_path(assignment), as_version=4)

    def release(self, assignment: str):
        return nbformat.read(self.release_path(assignment), as_version=4)

    def submit(
        self,
        student: str,
        assignment: str,
        nb=None,
        *,
        raw: str | None = None,
        filename: str | None = None,
    ) -> Path:
        """Write a submission (a notebook, or raw text for malformed ones)."""
        folder = self.submitted_dir(student, assignment)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (filename or f"{assignment}.ipynb")
        if raw is not None:
            path.write_text(raw)
        else:
            nbformat.write(nb, path)
        (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")
        return path

    def autograde(self, assignment: str, *extra: str) -> subprocess.CompletedProcess:
        return self.run("autograde", assignment, "--force", *extra)

    def scores(self, assignment: str) -> dict[str, dict[str, float | None]]:
        """student -> {test grade_id: auto score} from the gradebook."""
        from nbgrader.api import Gradebook

        out: dict[str, dict[str, float | None]] = {}
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            for submission in gb.assignment_submissions(assignment):
                student = submission.student.id
                out[student] = {}
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.cell_type == "code":
                            out[student][grade.name] = grade.auto_score
        return out

    def outputs_text(self, student: str, assignment: str, grade_id: str) -> str:
        """Everything the autograded cell printed (errors included), as text."""
        nb = nbformat.read(self.autograded_path(student, assignment), as_version=4)
        parts = []
        for output in cell_by_id(nb, grade_id).get("outputs", []):
            if output.get("output_type") == "error":
                parts.append(f"{output.get('ename')}: {output.get('evalue')}")
            elif "text" in output:
                parts.append(output["text"])
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
        return "\n".join(parts)


def make_course(tmp: Path, notebooks: dict[str, object]) -> Course:
    """A course in ``tmp`` whose source notebooks are ``notebooks`` (name -> NotebookNode or
    path), graded with a copy of the repository's nbgrader_config.py."""
    root = Path(tmp)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for name, nb in notebooks.items():
        folder = root / "solutions" / name
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, (str, Path)):
            shutil.copy(nb, folder / f"{name}.ipynb")
            policy = Path(nb).parent / "policy.toml"  # the assignment's allow-list
            if policy.is_file():
                shutil.copy(policy, folder / "policy.toml")
        elif (SOLUTIONS / name / "policy.toml").is_file():
            shutil.copy(SOLUTIONS / name / "policy.toml", folder / "policy.toml")
            nbformat.write(nb, folder / f"{name}.ipynb")
        else:
            nbformat.write(nb, folder / f"{name}.ipynb")
    return Course(root)


def tree_digest(folder: Path) -> str:
    """A digest of every file (path, mode, content) under ``folder``: proves nothing changed."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(oct(path.stat().st_mode).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tree_digest_file(path: Path) -> str:
    """A digest of one file (mode and content)."""
    return hashlib.sha256(oct(path.stat().st_mode).encode() + path.read_bytes()).hexdigest()


def cell_index(nb, grade_id: str) -> int:
    """The position of the cell ``grade_id`` in ``nb``."""
    return next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)


# ---------------------------------------------------------------------------------- variants
def solved(source_nb, release_nb):
    """The release notebook with every solution cell filled in from the source notebook."""
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    for grade_id in solution_ids(nb):
        cell_by_id(nb, grade_id).source = strip_solution_markers(
            cell_by_id(source_nb, grade_id).source
        )
    return nb


def copy_nb(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def with_cell_source(nb, grade_id: str, source: str):
    nb = copy_nb(nb)
    cell_by_id(nb, grade_id).source = source
    return nb


def with_bug(nb, bug: dict):
    """Apply a planted bug ``{"cell", "find", "replace"}``; the substring must be there."""
    nb = copy_nb(nb)
    cell = cell_by_id(nb, bug["cell"])
    assert bug["find"] in cell.source, (
        f"planted bug text not found in {bug['cell']}: {bug['find']!r}"
    )
    cell.source = cell.source.replace(bug["find"], bug["replace"], 1)
    return nb


def insert_before(nb, grade_id: str, source: str):
    """A new (extra, untracked) code cell just above the cell ``grade_id``."""
    nb = copy_nb(nb)
    index = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


def without_cell(nb, grade_id: str):
    nb = copy_nb(nb)
    nb.cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") != grade_id]
    return nb


def total(scores: dict[str, float | None]) -> float:
    return sum(v or 0.0 for v in scores.values())


def student_id(*parts: str) -> str:
    """A student id made of safe characters (nbgrader uses it as a folder name)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts)).strip("_")


# ------------------------------------------------------------------------- tiny assignment
TINY_SETUP = """\
# Set-up: on Colab, install the course library `dnnkit` (TensorFlow is left untouched).
import os, subprocess, sys
if "google.colab" in sys.modules or os.environ.get("DNNKIT_INSTALL_FROM"):
    source = os.environ.get(
        "DNNKIT_INSTALL_FROM",
        "git+https://github.com/dnnkit-course/training-deep-neural-networks.git@main",
    )
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
import numpy as np
from dnnkit import grading"""

TINY_TASKS = {
    # name: (solution body, visible test, hidden test, points)
    "square": (
        "def square(x):\n    ### BEGIN SOLUTION\n    return np.asarray(x, dtype=float) ** 2\n"
        "    ### END SOLUTION",
        'grading.check_close("square(3)", square(3.0), 9.0)',
        'grading.check_close("square([-1, 2])", square(np.array([-1.0, 2.0])), [1.0, 4.0],\n'
        '                    hint="square each entry")',
        2,
    ),
    "cube": (
        "def cube(x):\n    ### BEGIN SOLUTION\n    return np.asarray(x, dtype=float) ** 3\n"
        "    ### END SOLUTION",
        'grading.check_close("cube(2)", cube(2.0), 8.0)',
        "rng = np.random.default_rng(0)\nx = rng.normal(size=5)\n"
        'grading.check_gradient("d cube", cube, x, 3 * x**2)',
        1,
    ),
    "mean_rows": (
        "def mean_rows(x):\n    ### BEGIN SOLUTION\n    return np.mean(x, axis=0)\n"
        "    ### END SOLUTION",
        # The expected values are computed after the call, from the same x, as tests often
        # are: only the answer guard (copies of x) keeps an answer from rewriting them.
        'x = np.ones((2, 3))\ngrading.check_close("mean_rows(ones)", mean_rows(x), x.mean(axis=0))',
        "x = np.arange(6.0).reshape(2, 3)\n"
        'grading.check_close("mean_rows(arange)", mean_rows(x), x.mean(axis=0),\n'
        '                    hint="average over axis 0, the batch axis")',
        3,
    ),
}


def cell_metadata(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    """A cell's metadata as nbgrader writes it (schema 3)."""
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def sandbox_problem() -> str | None:
    """Why grading kernels cannot be sandboxed on this machine (None when they can)."""
    if not sys.platform.startswith("linux"):
        return "the sandbox is Linux-only (bubblewrap)"
    from dnnkit_autograde.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
    except SandboxUnavailable as error:
        return str(error)
    return None


def tiny_assignment():
    """A three-task NumPy assignment in the course's format (solutions and hidden tests)."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell(
            "# Tiny assignment\nImplement three functions.",
            metadata=cell_metadata("intro", locked=True),
        ),
        v4.new_code_cell(TINY_SETUP, metadata=cell_metadata("setup", locked=True)),
    ]
    for name, (solution, visible, hidden, points) in TINY_TASKS.items():
        cells += [
            v4.new_markdown_cell(
                f"## `{name}(x)` ({points} points)",
                metadata=cell_metadata(f"{name}_spec", locked=True),
            ),
            v4.new_code_cell(solution, metadata=cell_metadata(f"{name}_solution", solution=True)),
            v4.new_code_cell(
                f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS",
                metadata=cell_metadata(f"{name}_tests", grade=True, locked=True, points=points),
            ),
        ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


TINY_BUGS = {
    "square_cubes": {"cell": "square_solution", "find": "** 2", "replace": "** 3"},
    "mean_wrong_axis": {"cell": "mean_rows_solution", "find": "axis=0", "replace": "axis=1"},
}
TINY_CHEATS = {
    "cube_from_reference": {
        "cell": "cube_solution",
        "source": "from dnnkit import grading as g\ndef cube(x):\n    return x * x * x",
    },
}
