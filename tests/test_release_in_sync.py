"""The committed releases (``exercises/<a>/``) are exactly what ``nbgrader generate_assignment``
makes from ``solutions/<a>/`` with the repository's nbgrader_config.py: no drift, no hand edits.

Every assignment is regenerated into a temporary course (one interpreter, nbgrader's own app)
and compared file by file, byte for byte. Only one thing is ignored, the files nbgrader itself
never copies into a release (``CourseDirectory.ignore``: ``.ipynb_checkpoints``, ``*.pyc``,
``__pycache__``): they are editor and interpreter by-products, not part of the assignment.
Nothing in a generated release is volatile: nbgrader 0.9 writes no timestamps, its checksums
and the cell ids come from the source notebook, and nbformat writes sorted keys.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__")  # nbgrader's CourseDirectory.ignore

FIX = "regenerate it with `nbgrader generate_assignment {a} --force` (from the repository root) and commit exercises/{a}/"


def source_assignments() -> list[str]:
    folder = REPO / "solutions"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def release_files(folder: Path) -> dict[str, bytes]:
    """relative path -> content of every file under ``folder``, minus the ignored ones."""
    files = {}
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in IGNORED):
            continue
        if path.is_file():
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def describe_notebook_difference(committed: bytes, generated: bytes) -> str:
    """Which cells differ (by nbgrader grade_id or position) and a short diff of the first."""
    try:
        old, new = json.loads(committed), json.loads(generated)
    except json.JSONDecodeError as exc:
        return f"the committed file is not valid JSON ({exc})"
    if old.get("metadata") != new.get("metadata"):
        return "the notebook metadata differ (kernelspec, nbgrader or front-end metadata)"
    old_cells, new_cells = old.get("cells", []), new.get("cells", [])
    if len(old_cells) != len(new_cells):
        return f"{len(old_cells)} cells committed, {len(new_cells)} generated"

    def name(cell, i):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        return f"cell {i} ({grade_id})" if grade_id else f"cell {i}"

    changed = [i for i, (a, b) in enumerate(zip(old_cells, new_cells, strict=True)) if a != b]
    if not changed:
        return "same content, different formatting (the file was re-saved by another tool)"
    i = changed[0]
    a, b = old_cells[i], new_cells[i]
    if a.get("source") != b.get("source"):
        diff = difflib.unified_diff(
            "".join(a.get("source", "")).splitlines(),
            "".join(b.get("source", "")).splitlines(),
            "committed",
            "generated",
            lineterm="",
            n=1,
        )
        detail = "\n".join(list(diff)[:20])
    else:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        detail = f"same source; differs in {', '.join(keys)}"
        if "id" in keys:
            detail += " (give the source notebook stable cell ids)"
    names = ", ".join(name(old_cells[j], j) for j in changed)
    return f"{len(changed)} cell(s) differ: {names}\nfirst difference, {name(a, i)}:\n{detail}"


def compare_release(assignment: str, committed: Path, generated: Path) -> list[str]:
    """Every difference between the committed and the generated release, in words."""
    fix = FIX.format(a=assignment)
    if not committed.is_dir():
        return [f"exercises/{assignment}/ is missing: {fix}"]
    old, new = release_files(committed), release_files(generated)
    problems = []
    for path in sorted(set(new) - set(old)):
        problems.append(f"exercises/{assignment}/{path} is missing: {fix}")
    for path in sorted(set(old) - set(new)):
        problems.append(
            f"exercises/{assignment}/{path} is not generated from solutions/{assignment}/ "
            f"(a hand-made file?): remove it or add it to solutions/{assignment}/"
        )
    for path in sorted(set(old) & set(new)):
        if old[path] == new[path]:
            continue
        what = (
            describe_notebook_difference(old[path], new[path])
            if path.endswith(".ipynb")
            else "the content differs"
        )
        problems.append(
            f"exercises/{assignment}/{path} differs from what nbgrader generates from "
            f"solutions/{assignment}/: {what}\n-> {fix}; never edit exercises/ by hand"
        )
    return problems


GENERATE_ALL = textwrap.dedent(
    """
    import sys
    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp

    for assignment in sys.argv[1:]:
        app = NbGraderApp.instance()
        try:
            app.initialize(["generate_assignment", assignment, "--force"])
            app.start()
        except NoStart:
            pass
        except SystemExit as exc:
            if exc.code:
                sys.exit(f"generate_assignment {assignment} failed")
        finally:
            app.reset()
    """
)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """A temporary course: the repository's config and solutions/, every release generated."""
    root = tmp_path_factory.mktemp("release") / "course"
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions", root / "solutions")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", GENERATE_ALL, *source_assignments()],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_every_release_has_a_source():
    assert source_assignments(), "no assignment under solutions/"
    releases = REPO / "exercises"
    stray = (
        sorted(
            p.name for p in releases.iterdir() if p.is_dir() and p.name not in source_assignments()
        )
        if releases.is_dir()
        else []
    )
    assert not stray, f"exercises/ has releases without a source in solutions/: {stray}"


@pytest.mark.parametrize("assignment", source_assignments())
def test_committed_release_is_what_nbgrader_generates(regenerated, assignment):
    """Oracle: `nbgrader generate_assignment` itself, run on the committed source."""
    generated = regenerated / "exercises" / assignment
    assert (generated / f"{assignment}.ipynb").is_file(), "nbgrader generated no notebook"
    problems = compare_release(assignment, REPO / "exercises" / assignment, generated)
    assert not problems, "\n".join(problems)


def test_comparison_names_the_edited_cell_and_extra_files(tmp_path):
    """The check can fail, and says where: a hand edit of one cell, a stray file, a missing
    release."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    meta = {"nbgrader": {"grade_id": "relu_tests", "grade": True, "points": 2}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title", id="intro"),
        nbformat.v4.new_code_cell("assert relu(-1.0) == 0.0", id="relu_tests", metadata=meta),
    ]
    generated, committed = tmp_path / "generated", tmp_path / "committed"
    for folder in (generated, committed):
        folder.mkdir()
        nbformat.write(nb, folder / "a.ipynb")
    (committed / ".ipynb_checkpoints").mkdir()
    (committed / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    assert compare_release("a", committed, generated) == []

    nb.cells[1].source = "assert relu(-1.0) == 0.0  # hand edit"
    nbformat.write(nb, committed / "a.ipynb")
    (committed / "notes.txt").write_text("mine")
    problems = compare_release("a", committed, generated)
    assert len(problems) == 2
    assert "exercises/a/notes.txt is not generated" in problems[0]
    assert "1 cell(s) differ: cell 1 (relu_tests)" in problems[1]
    assert "+assert relu(-1.0) == 0.0" in problems[1] and "# hand edit" in problems[1]
    assert "nbgrader generate_assignment a --force" in problems[1]
    assert compare_release("b", tmp_path / "nowhere", generated)[0].startswith(
        "exercises/b/ is missing"
    )
