"""Tests of ``dnnkit-autograde`` (``dnnkit_autograde.batch``), the parallel batch autograder.

Oracles: serial ``nbgrader autograde`` on an identical copy of the course (same gradebook
fields for every student, cell by cell), nbgrader's own gradebook schema and ``Gradebook`` API,
and the points written in the tiny assignment built here. ``submitted/`` is compared byte for
byte (and file mode) before and after.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from grading_support import (
    REPO,
    assignments,
    cell_metadata,
    load_planted,
    make_course,
    solved,
    student_id,
    tree_digest,
    with_bug,
    with_cell_source,
)

TIMESTAMP = "2025-01-01 12:00:00.000000 UTC"


# ------------------------------------------------------------------------------ helpers
def batch_command() -> list[str]:
    """The installed console script, or the module when the package was installed before the
    script was declared."""
    script = Path(sys.executable).with_name("dnnkit-autograde")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dnnkit_autograde.batch"]


def course_env(root: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(root.parent)  # scratch courses stay inside the test's directory
    env.setdefault("DNNKIT_PROFILE", "quick")
    env.pop("DNNKIT_INSTALL_FROM", None)
    return env


def run_batch(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*batch_command(), *args, "--course-dir", str(root), "--no-progress"],
        cwd=root,
        env=course_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_nbgrader(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        env=course_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def submit(root: Path, student: str, assignment: str, nb=None, *, raw=None, filename=None):
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (filename or f"{assignment}.ipynb")
    if raw is not None:
        path.write_text(raw)
    else:
        nbformat.write(nb, path)
    (folder / "timestamp.txt").write_text(TIMESTAMP)


def gradebook_dump(root: Path, assignment: str) -> dict:
    """Every field nbgrader keeps about each submission of ``assignment``, by name (the oracle
    for 'same scores': nbgrader's own Gradebook API, not the module under test)."""
    from nbgrader.api import Gradebook

    dump = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "training-dnns") as gb:
        for sub in gb.assignment_submissions(assignment):
            notebooks = {}
            for nb in sub.notebooks:
                notebooks[nb.name] = {
                    "late_submission_penalty": nb.late_submission_penalty,
                    "flagged": nb.flagged,
                    "grades": {
                        g.name: (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                        for g in nb.grades
                    },
                    "comments": {c.name: (c.auto_comment, c.manual_comment) for c in nb.comments},
                }
            dump[sub.student.id] = {
                "timestamp": sub.timestamp,
                "extension": sub.extension,
                "score": sub.score,
                "notebooks": notebooks,
            }
        gb.engine.dispose()
    return dump


def row_counts(root: Path) -> dict[str, int]:
    """Rows per gradebook table (duplicates would show up here)."""
    import sqlite3

    with sqlite3.connect(root / "gradebook.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def autograded_cells(root: Path, student: str, assignment: str) -> list[tuple]:
    """(grade_id, source, output types and error names) of an autograded notebook: what the
    grader ran and what it saw, without execution timestamps."""
    path = root / "autograded" / student / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        outputs = [
            (o.get("output_type"), o.get("ename"), o.get("evalue")) for o in cell.get("outputs", [])
        ]
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cells.append((grade_id, cell.source, outputs))
    return cells


# ------------------------------------------------------------------------- tiny assignment
TINY = "tiny"
TINY_POINTS = {"square_tests": 2.0, "mean_rows_tests": 3.0}
TINY_CONFIG = 'c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "training-dnns"\n'


def tiny_source():
    """Two tasks: square (2 points) and mean over the batch axis (3 points); hidden tests."""
    v4 = nbformat.v4
    cells = [
        v4.new_code_cell("import numpy as np", metadata=cell_metadata("setup", locked=True)),
        v4.new_code_cell(
            "def square(x):\n    ### BEGIN SOLUTION\n    return np.asarray(x, float) ** 2\n"
            "    ### END SOLUTION",
            metadata=cell_metadata("square_solution", solution=True),
        ),
        v4.new_code_cell(
            "assert square(3.0) == 9.0\n### BEGIN HIDDEN TESTS\n"
            "assert np.allclose(square([-1.0, 2.0]), [1.0, 4.0])\n### END HIDDEN TESTS",
            metadata=cell_metadata("square_tests", grade=True, locked=True, points=2),
        ),
        v4.new_code_cell(
            "def mean_rows(x):\n    ### BEGIN SOLUTION\n    return np.mean(x, axis=0)\n"
            "    ### END SOLUTION",
            metadata=cell_metadata("mean_rows_solution", solution=True),
        ),
        v4.new_code_cell(
            "assert mean_rows(np.ones((2, 3))).shape == (3,)\n### BEGIN HIDDEN TESTS\n"
            "assert np.allclose(mean_rows(np.arange(6.0).reshape(2, 3)), [1.5, 2.5, 3.5])\n"
            "### END HIDDEN TESTS",
            metadata=cell_metadata("mean_rows_tests", grade=True, locked=True, points=3),
        ),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _generate_tiny_course(root: Path) -> Path:
    """A course with nbgrader's default preprocessors and the tiny assignment generated
    (in-process, through nbgrader's API: one fewer interpreter start)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    (root / "source" / TINY).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(TINY_CONFIG)
    nbformat.write(tiny_source(), root / "source" / TINY / f"{TINY}.ipynb")
    coursedir = CourseDirectory(root=str(root), course_id="training-dnns")
    result = NbGraderAPI(coursedir=coursedir).generate_assignment(TINY)
    assert result["success"], result.get("error")
    return root


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory) -> Path:
    """The generated tiny course, made once per module (a new gradebook costs an `alembic`
    run); each test grades in its own copy."""
    bin_dir = str(Path(sys.executable).parent)
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([bin_dir, old_path])
    try:
        return _generate_tiny_course(tmp_path_factory.mktemp("tiny") / "course")
    finally:
        os.environ["PATH"] = old_path


def tiny_course(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(template, root)
    return root


def tiny_variants(root: Path) -> dict:
    """student -> notebook: the solution, a wrong axis, the unanswered release."""
    source = nbformat.read(root / "source" / TINY / f"{TINY}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / TINY / f"{TINY}.ipynb", as_version=4)
    good = solved(source, release)
    return {
        "ada": good,
        "bob_axis": with_bug(
            good, {"cell": "mean_rows_solution", "find": "axis=0", "replace": "axis=1"}
        ),
        "cy_blank": release,
    }


TINY_EXPECTED = {"ada": 5.0, "bob_axis": 2.0, "cy_blank": 0.0}


# ================================================================================ fast tests
@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    """nbgrader runs the `alembic` script of its environment (through PATH) to create a
    gradebook."""
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))


def test_gradebook_fields_are_every_non_key_column_of_nbgrader_tables():
    """Oracle: nbgrader's SQLAlchemy schema. If an nbgrader upgrade adds a column, the merge
    must learn about it, or grades could be silently lost."""
    from nbgrader import api

    from dnnkit_autograde.batch import GRADEBOOK_FIELDS

    tables = {
        "submission": api.SubmittedAssignment,
        "notebook": api.SubmittedNotebook,
        "grade": api.Grade,
        "comment": api.Comment,
    }
    for key, model in tables.items():
        columns = {
            c.name for c in model.__table__.columns if not c.primary_key and not c.foreign_keys
        }
        assert set(GRADEBOOK_FIELDS[key]) == columns, key


def _tiny_gradebook(template: Path, path: Path):
    """A copy of the tiny course's gradebook: the assignment (one notebook, two grade cells,
    two answer cells), no submission yet."""
    from nbgrader.api import Gradebook

    shutil.copyfile(template / "gradebook.db", path)
    return Gradebook(f"sqlite:///{path}", "training-dnns")


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader 0.9 + SQLAlchemy 2
def test_merge_twice_gives_one_submission_and_the_same_grades(tiny_template, tmp_path):
    """Oracle: the gradebook read back through nbgrader's API. A merge repeated after an
    interruption must not duplicate rows or change the result."""
    import datetime

    from dnnkit_autograde.batch import _diff, _submission_state, merge_into_gradebook

    worker = _tiny_gradebook(tiny_template, tmp_path / "worker.db")
    worker.add_student("ada")
    stamp = datetime.datetime(2025, 1, 1, 12)
    worker.add_submission(TINY, "ada", timestamp=stamp)
    worker.find_grade("square_tests", TINY, TINY, "ada").auto_score = 2.0
    worker.find_grade("mean_rows_tests", TINY, TINY, "ada").auto_score = 0.0
    worker.find_comment("square_solution", TINY, TINY, "ada").auto_comment = "No response."
    worker.db.commit()
    changes = _diff(None, _submission_state(worker, TINY, "ada"))
    worker.close()

    real = _tiny_gradebook(tiny_template, tmp_path / "real.db")
    for _ in range(2):
        merge_into_gradebook(real, TINY, "ada", changes)
    assert len(real.assignment_submissions(TINY)) == 1
    submission = real.find_submission(TINY, "ada")
    assert submission.timestamp == stamp
    assert submission.score == 2.0
    grades = {g.name: g.auto_score for g in submission.notebooks[0].grades}
    assert grades == {"square_tests": 2.0, "mean_rows_tests": 0.0}
    assert real.find_comment("square_solution", TINY, TINY, "ada").auto_comment == "No response."
    assert len(submission.notebooks[0].grades) == 2
    # A later run that changes one score, while a manual grade was given in the real gradebook
    # meanwhile: only the field the run changed is written, the manual grade stays.
    before = _submission_state(real, TINY, "ada")
    after = json.loads(json.dumps(before, default=str))
    after["submission"]["timestamp"] = stamp
    after["notebooks"][TINY]["grade"]["mean_rows_tests"]["auto_score"] = 3.0
    real.find_grade("mean_rows_tests", TINY, TINY, "ada").manual_score = 1.5
    real.db.commit()
    merge_into_gradebook(real, TINY, "ada", _diff(before, after))
    grade = real.find_grade("mean_rows_tests", TINY, TINY, "ada")
    assert (grade.auto_score, grade.manual_score) == (3.0, 1.5)
    assert real.find_submission(TINY, "ada").timestamp == stamp
    real.close()


def test_diff_keeps_only_what_the_run_changed():
    from dnnkit_autograde.batch import _diff

    before = {
        "submission": {"timestamp": 1, "extension": None},
        "notebooks": {
            "nb": {
                "notebook": {"flagged": False, "late_submission_penalty": None},
                "grade": {"t": {"auto_score": None, "manual_score": 2.0}},
                "comment": {"s": {"auto_comment": None}},
            }
        },
    }
    after = json.loads(json.dumps(before))
    assert _diff(before, after) is None
    after["notebooks"]["nb"]["grade"]["t"]["auto_score"] = 3.0
    delta = _diff(before, after)
    assert delta["submission"] == {}
    assert delta["notebooks"] == {
        "nb": {"notebook": {}, "grade": {"t": {"auto_score": 3.0}}, "comment": {}}
    }
    assert _diff(None, after)["new"] is True
    assert _diff(before, None) is None


def test_report_names_every_failure_and_warning_and_sets_the_exit_code():
    from dnnkit_autograde.batch import BatchReport, Outcome, format_report

    outcomes = [
        Outcome("ada", "graded"),
        Outcome("bob", "failed", reason="invalid-json: a.ipynb is not a valid notebook file"),
        Outcome("cy", "graded", notes=["a.ipynb: cell loop_tests did not finish"]),
        Outcome("dee", "skipped"),
    ]
    report = BatchReport("a", 2, 1.0, outcomes)
    text = format_report(report)
    assert "autograded 2, skipped 1 (already autograded), failed 1" in text
    assert "bob: invalid-json: a.ipynb is not a valid notebook file" in text
    assert "cy: a.ipynb: cell loop_tests did not finish" in text
    assert report.exit_code == 1
    assert BatchReport("a", 2, 1.0, outcomes[:1]).exit_code == 0
    assert BatchReport("a", 2, 1.0, outcomes[:1], interrupted=True).exit_code == 130


def test_unknown_assignment_or_missing_gradebook_is_a_clear_error(tiny_template, tmp_path, capsys):
    from dnnkit_autograde.batch import main

    root = tiny_course(tiny_template, tmp_path)
    assert main(["nope", "--course-dir", str(root), "--no-progress"]) == 2
    assert "no assignment 'nope': run `nbgrader generate_assignment nope` first" in (
        capsys.readouterr().err
    )
    (root / "gradebook.db").unlink()
    assert main([TINY, "--course-dir", str(root), "--no-progress"]) == 2
    assert "no gradebook" in capsys.readouterr().err
    assert not (root / "gradebook.db").exists()


def test_tiny_batch_grades_every_submission_and_reports_the_broken_one(tiny_template, tmp_path):
    """End to end on a tiny assignment (nbgrader's default preprocessors), two workers.
    Oracle: the points of the cells each variant passes, written in TINY_EXPECTED."""
    root = tiny_course(tiny_template, tmp_path)
    for student, nb in tiny_variants(root).items():
        submit(root, student, TINY, nb)
    submit(root, "dan_json", TINY, raw='{"cells": [')
    before = tree_digest(root / "submitted")

    result = run_batch(root, TINY, "--jobs", "2")

    assert result.returncode == 1, result.stdout + result.stderr  # one could not be graded
    assert tree_digest(root / "submitted") == before
    scores = {s: d["score"] for s, d in gradebook_dump(root, TINY).items()}
    assert {s: scores[s] for s in TINY_EXPECTED} == TINY_EXPECTED
    assert "autograded 3, skipped 0 (already autograded), failed 1" in result.stdout
    assert re.search(r"dan_json: invalid-json: tiny\.ipynb is not a valid notebook", result.stdout)
    for student in TINY_EXPECTED:
        assert (root / "autograded" / student / TINY / f"{TINY}.ipynb").is_file()
    assert not (root / "autograded" / "dan_json" / TINY).exists()


# ================================================================================ slow tests
def _compare_assignment() -> str:
    """A NumPy-only assignment with planted bugs (quick to grade), else the first one."""
    available = assignments()
    if not available:
        pytest.fail("no assignment under solutions/")
    for name in ("02_initializers", "04_batchnorm", "01_gradients"):
        if name in available and load_planted(name)[0]:
            return name
    return available[0]


def _real_batch(root: Path, assignment: str) -> dict[str, str]:
    """Submissions of a real assignment: solution copies (one re-saved by another front end),
    the release, planted bugs, a cheat, invalid JSON, a wrong file name, an empty folder.
    Returns student -> what it is."""
    source = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    release = nbformat.read(root / "exercises" / assignment / f"{assignment}.ipynb", 4)
    good = solved(source, release)
    kinds = {}
    submit(root, "sol_a", assignment, good)
    colab = json.loads(json.dumps(good))
    colab["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)"}
    colab["metadata"]["colab"] = {"provenance": []}
    submit(root, "sol_colab", assignment, nbformat.from_dict(colab))
    submit(root, "release", assignment, release)
    kinds.update(sol_a="solution", sol_colab="solution", release="release")
    bugs, cheats = load_planted(assignment)
    for name, bug in list(bugs.items())[:3]:
        sid = student_id("bug", name)
        submit(root, sid, assignment, with_bug(good, bug))
        kinds[sid] = "bug"
    for name, cheat in list(cheats.items())[:1]:
        sid = student_id("cheat", name)
        submit(root, sid, assignment, with_cell_source(good, cheat["cell"], cheat["source"]))
        kinds[sid] = "cheat"
    submit(root, "bad_json", assignment, raw="{ this is not JSON")
    submit(root, "wrong_name", assignment, good, filename=f"{assignment} (1).ipynb")
    (root / "submitted" / "empty" / assignment).mkdir(parents=True)
    kinds.update(bad_json="malformed", wrong_name="malformed", empty="malformed")
    return kinds


@pytest.mark.slow
def test_batch_scores_equal_serial_nbgrader_autograde(tmp_path):
    """Oracle: serial `nbgrader autograde` on an identical copy of the course (the repo's
    nbgrader_config.py and solutions). Every gradebook field of every submission, every
    autograded cell's source and outputs, and the set of autograded folders must agree."""
    assignment = _compare_assignment()
    serial = make_course(
        tmp_path / "serial", {assignment: REPO / "solutions" / assignment / f"{assignment}.ipynb"}
    ).root
    result = run_nbgrader(serial, "generate_assignment", assignment, "--force")
    assert result.returncode == 0, result.stderr
    kinds = _real_batch(serial, assignment)
    batch = tmp_path / "batch"
    shutil.copytree(serial, batch, symlinks=True)
    (batch / "nbgrader_config.py").write_text((serial / "nbgrader_config.py").read_text())
    digest = tree_digest(serial / "submitted")

    result = run_nbgrader(serial, "autograde", assignment)
    assert "error processing assignment" in result.stderr  # the malformed ones, by design
    parallel = run_batch(batch, assignment, "--jobs", "2")

    assert tree_digest(serial / "submitted") == digest == tree_digest(batch / "submitted")
    expected, got = gradebook_dump(serial, assignment), gradebook_dump(batch, assignment)
    assert set(got) == set(expected)
    for student in sorted(expected):
        assert got[student] == expected[student], (student, kinds.get(student))
    graded = sorted(p.parent.name for p in (serial / "autograded").glob(f"*/{assignment}"))
    assert graded == sorted(p.parent.name for p in (batch / "autograded").glob(f"*/{assignment}"))
    for student in graded:
        assert autograded_cells(batch, student, assignment) == autograded_cells(
            serial, student, assignment
        ), student

    # Sanity: the batch really separated right from wrong answers.
    maximum = expected["sol_a"]["score"]
    assert maximum > 0 and expected["release"]["score"] == 0
    assert all(expected[s]["score"] < maximum for s, k in kinds.items() if k == "bug")
    # Malformed submissions are reported by name, with the reason; the exit code says so.
    assert parallel.returncode == 1
    report = parallel.stdout
    assert re.search(r"bad_json: invalid-json: .*not a valid notebook", report)
    assert re.search(rf"wrong_name: missing-notebook: .*{assignment} \(1\)\.ipynb", report)
    assert re.search(r"empty: missing-notebook", report)


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _graded_count(root: Path) -> int:
    return len(list((root / "autograded").glob(f"*/{TINY}")))


def _interrupt(root: Path, extra: list[str], at: int, sig: int) -> subprocess.CompletedProcess:
    """Start a batch, send ``sig`` once ``at`` submissions have autograded folders, and return
    what the batch said."""
    cmd = [*batch_command(), TINY, "--course-dir", str(root), "--jobs", "2", "--no-progress"]
    proc = subprocess.Popen(
        [*cmd, *extra],
        cwd=root,
        env=course_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and _graded_count(root) < at:
        time.sleep(0.1)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    time.sleep(3)  # after SIGKILL, workers get SIGTERM (PR_SET_PDEATHSIG); kernels follow
    assert _processes_mentioning(str(root)) == [], "worker processes outlived the batch"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
def test_interrupted_batches_resume_without_duplicates_or_lost_grades(tiny_template, tmp_path):
    """A subset first, then a run stopped with Ctrl-C (SIGINT), then one killed with SIGKILL,
    then a rerun. Oracle: TINY_EXPECTED scores, one gradebook row per submission, no orphan
    worker processes. Also: a cell that never finishes is reported (nbgrader's own timeout,
    passed through as an nbgrader option)."""
    root = tiny_course(tiny_template, tmp_path)
    variants = tiny_variants(root)
    students = {}
    for i in range(3):
        for name, nb in variants.items():
            students[f"{name}_{i}"] = TINY_EXPECTED[name]
            submit(root, f"{name}_{i}", TINY, nb)
    loop = with_cell_source(
        variants["ada"], "square_solution", "def square(x):\n    while True:\n        pass"
    )
    submit(root, "eve_loop", TINY, loop)
    students["eve_loop"] = 3.0  # mean_rows passes; square times out
    before = tree_digest(root / "submitted")
    timeout = ["--Execute.timeout=10"]

    first = run_batch(root, TINY, "--jobs", "2", "--student", "ada_0", "bob_axis_0", *timeout)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _graded_count(root) == 2

    stopped = _interrupt(root, timeout, at=3, sig=signal.SIGINT)
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert re.search(r"Interrupted with \d+ submission\(s\) left: rerun", stopped.stdout)
    killed = _interrupt(root, timeout, at=_graded_count(root) + 1, sig=signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert len(gradebook_dump(root, TINY)) < len(students)

    last = run_batch(root, TINY, "--jobs", "2", *timeout)

    assert last.returncode == 0, last.stdout + last.stderr
    scores = {s: d["score"] for s, d in gradebook_dump(root, TINY).items()}
    assert scores == students
    counts = row_counts(root)
    assert counts["submitted_assignment"] == len(students)
    assert counts["grade"] == len(students) * len(TINY_POINTS)
    assert counts["student"] == len(students)
    assert tree_digest(root / "submitted") == before
    assert re.search(r"eve_loop: tiny\.ipynb: cell square_tests did not finish", last.stdout)
    match = re.search(r"skipped (\d+)", last.stdout)
    assert match and int(match.group(1)) >= 4
    assert not list(root.glob("autograded/*/*.dnnkit-partial"))
    # A forced regrade of graded submissions updates them in place.
    forced = run_batch(root, TINY, "--jobs", "2", "--force", "--student", "ada_0", "bob_axis_1")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "autograded 2, skipped 0" in forced.stdout
    assert {s: d["score"] for s, d in gradebook_dump(root, TINY).items()} == students
    assert row_counts(root)["submitted_assignment"] == len(students)
