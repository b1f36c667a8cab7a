"""The instructor's workflow end to end, with the repository's nbgrader_config.py:
``generate_assignment`` -> an LMS download collected with ``zip_collect`` -> ``dnnkit-autograde``
-> ``generate_feedback`` -> ``export`` to CSV.

Oracles: the gradebook read through nbgrader's API (the CSV must agree with it), the points of
the source notebook (full marks for the solution, 0 for the unanswered release), and the source
notebook's own hidden-test regions (none of their lines may reach a student's feedback).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from grading_support import REPO, assignments, make_course, solution_ids, solved

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: An LMS bulk download (Canvas-like): <login>_<user id>_<attempt id>_<file name>. nbgrader's
#: FileNameCollectorPlugin has no default pattern; it matches the path from its start.
NAMED_REGEXP = r".*/(?P<student_id>[a-z]+)_\d+_\d+_(?P<file_id>[^/]+\.ipynb)$"


def _env(root: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(root.parent)
    env.setdefault("DNNKIT_PROFILE", "quick")
    env.pop("DNNKIT_INSTALL_FROM", None)
    return env


def _run(root: Path, *cmd: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        list(cmd), cwd=root, env=_env(root), capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    return _run(root, sys.executable, "-m", "nbgrader", *args)


def _workflow_assignment() -> str:
    """A NumPy-only assignment (quick to grade) with hidden tests."""
    available = assignments()
    for name in ("01_gradients", "02_initializers", "04_batchnorm", *available):
        if name in available:
            return name
    pytest.fail("no assignment under solutions/")


def hidden_test_lines(source_nb) -> list[str]:
    """Distinctive lines of the hidden-test regions: longer than 25 characters and found
    nowhere else in the source notebook (not in a visible test, not in a solution)."""
    hidden, elsewhere = [], []
    for cell in source_nb.cells:
        text = cell.source
        while HIDDEN_BEGIN in text:
            before, rest = text.split(HIDDEN_BEGIN, 1)
            region, text = rest.split(HIDDEN_END, 1)
            elsewhere.append(before)
            hidden += [line.strip() for line in region.splitlines()]
        elsewhere.append(text)
    outside = "\n".join(elsewhere)
    return sorted({line for line in hidden if len(line) > 25 and line not in outside})


def visible_test_lines(source_nb) -> list[str]:
    lines = []
    for cell in source_nb.cells:
        if HIDDEN_BEGIN in cell.source:
            visible = cell.source.split(HIDDEN_BEGIN, 1)[0]
            lines += [line.strip() for line in visible.splitlines() if len(line.strip()) > 25]
    return lines


def html_text(path: Path) -> str:
    """What a student reads in a feedback page (tags and syntax highlighting removed)."""
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text()


def lms_download(root: Path, assignment: str, notebooks: dict[str, object]) -> None:
    """``downloaded/<assignment>/archive/``: a bulk zip of two students, and a late one zipped
    on its own, the way an LMS exports submissions."""
    archive = root / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True)
    ids = {student: 1000 + i for i, student in enumerate(sorted(notebooks))}
    students = sorted(notebooks)
    for zip_name, members in (("submissions.zip", students[:-1]), ("late.zip", students[-1:])):
        with zipfile.ZipFile(archive / zip_name, "w") as zf:
            for student in members:
                name = f"{student}_{ids[student]}_{ids[student] + 500}_{assignment}.ipynb"
                zf.writestr(name, nbformat.writes(notebooks[student]))


@pytest.mark.slow
def test_generate_collect_autograde_feedback_export(tmp_path):
    assignment = _workflow_assignment()
    source_path = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    root = make_course(tmp_path / "course", {assignment: source_path}).root

    # 1. Release.
    _nbgrader(root, "generate_assignment", assignment, "--force")
    source = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    release = nbformat.read(root / "exercises" / assignment / f"{assignment}.ipynb", 4)
    assert HIDDEN_BEGIN not in nbformat.writes(release)

    # 2. Students answer: all of it, all but the first task, nothing.
    full = solved(source, release)
    partial = solved(source, release)
    first = solution_ids(partial)[0]
    for cell in partial.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == first:
            cell.source = next(
                c.source
                for c in release.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == first
            )
    lms_download(root, assignment, {"ada": full, "grace": partial, "linus": release})

    # 3. Collect the LMS download.
    _nbgrader(
        root, "zip_collect", assignment, f"--FileNameCollectorPlugin.named_regexp={NAMED_REGEXP}"
    )
    for student in ("ada", "grace", "linus"):
        assert (root / "submitted" / student / assignment / f"{assignment}.ipynb").is_file()

    # 4. Autograde (the batch grader; it gives nbgrader's scores, see test_batch_autograde).
    graded = _run(
        root,
        sys.executable,
        "-m",
        "dnnkit_autograde.batch",
        assignment,
        "--jobs",
        "2",
        "--no-progress",
    )
    assert "autograded 3, skipped 0 (already autograded), failed 0" in graded.stdout

    # 5. Feedback: visible tests and their messages yes, hidden tests' source never.
    _nbgrader(root, "generate_feedback", assignment)
    hidden = hidden_test_lines(source)
    assert hidden, "the assignment has no hidden tests to check"
    autograded = (root / "autograded" / "grace" / assignment / f"{assignment}.ipynb").read_text()
    assert any(line in autograded for line in hidden)  # they were run (positive control)
    for student in ("ada", "grace", "linus"):
        page = root / "feedback" / student / assignment / f"{assignment}.html"
        text = html_text(page)
        assert any(line in text for line in visible_test_lines(source)), page
        leaked = [line for line in hidden if line in text]
        assert not leaked, (
            f"{student}'s feedback shows {len(leaked)} hidden-test lines, e.g. {leaked[0]!r}: "
            "clear hidden tests (source and tracebacks) from feedback in nbgrader_config.py"
        )

    # 6. Export: one row per student, scores as in the gradebook.
    _nbgrader(root, "export")
    with open(root / "grades.csv", newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"ada", "grace", "linus"}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "training-dnns") as gb:
        expected = {s.student.id: s.score for s in gb.assignment_submissions(assignment)}
        max_score = gb.find_assignment(assignment).max_score
        gb.engine.dispose()
    for student, row in rows.items():
        assert row["assignment"] == assignment
        assert float(row["score"]) == pytest.approx(expected[student])
        assert float(row["max_score"]) == pytest.approx(max_score)
    assert float(rows["ada"]["score"]) == pytest.approx(max_score) and max_score > 0
    assert 0 < float(rows["grace"]["score"]) < max_score
    assert float(rows["linus"]["score"]) == 0
