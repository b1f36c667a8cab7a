"""Tests of ``dnnkit-autograde`` (``dnnkit_autograde.batch``), the batch autograder on Dask.

Oracles: serial ``nbgrader autograde`` on an identical copy of the course (same gradebook
fields for every student, cell by cell), nbgrader's own gradebook schema and ``Gradebook`` API,
and the points written in the tiny assignment built here. ``submitted/`` is compared byte for
byte (and file mode) before and after. Batches run on the default local cluster, and on a real
``dask scheduler`` with two ``dask worker`` processes that cannot see the course (bubblewrap).
"""

from __future__ import annotations

import concurrent.futures
import copy
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

    from dnnkit_autograde.gradebook import GRADEBOOK_FIELDS

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

    from dnnkit_autograde.gradebook import diff, merge_into_gradebook, submission_state

    worker = _tiny_gradebook(tiny_template, tmp_path / "worker.db")
    worker.add_student("ada")
    stamp = datetime.datetime(2025, 1, 1, 12)
    worker.add_submission(TINY, "ada", timestamp=stamp)
    worker.find_grade("square_tests", TINY, TINY, "ada").auto_score = 2.0
    worker.find_grade("mean_rows_tests", TINY, TINY, "ada").auto_score = 0.0
    worker.find_comment("square_solution", TINY, TINY, "ada").auto_comment = "No response."
    worker.db.commit()
    changes = diff(None, submission_state(worker, TINY, "ada"))
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
    before = submission_state(real, TINY, "ada")
    after = json.loads(json.dumps(before, default=str))
    after["submission"]["timestamp"] = stamp
    after["notebooks"][TINY]["grade"]["mean_rows_tests"]["auto_score"] = 3.0
    real.find_grade("mean_rows_tests", TINY, TINY, "ada").manual_score = 1.5
    real.db.commit()
    merge_into_gradebook(real, TINY, "ada", diff(before, after))
    grade = real.find_grade("mean_rows_tests", TINY, TINY, "ada")
    assert (grade.auto_score, grade.manual_score) == (3.0, 1.5)
    assert real.find_submission(TINY, "ada").timestamp == stamp
    real.close()


def test_diff_keeps_only_what_the_run_changed():
    from dnnkit_autograde.gradebook import diff

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
    assert diff(before, after) is None
    after["notebooks"]["nb"]["grade"]["t"]["auto_score"] = 3.0
    delta = diff(before, after)
    assert delta["submission"] == {}
    assert delta["notebooks"] == {
        "nb": {"notebook": {}, "grade": {"t": {"auto_score": 3.0}}, "comment": {}}
    }
    assert diff(None, after)["new"] is True
    assert diff(before, None) is None


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
    """End to end on a tiny assignment (nbgrader's default preprocessors), on the local
    cluster of the default size. Oracle: the points of the cells each variant passes, written
    in TINY_EXPECTED."""
    from dnnkit_autograde.cluster import available_cores, local_workers

    root = tiny_course(tiny_template, tmp_path)
    for student, nb in tiny_variants(root).items():
        submit(root, student, TINY, nb)
    submit(root, "dan_json", TINY, raw='{"cells": [')
    before = tree_digest(root / "submitted")

    result = run_batch(root, TINY)

    workers = min(local_workers(available_cores()), 3)  # never more workers than submissions
    assert f"with {workers} worker(s)" in result.stdout

    assert result.returncode == 1, result.stdout + result.stderr  # one could not be graded
    assert tree_digest(root / "submitted") == before
    scores = {s: d["score"] for s, d in gradebook_dump(root, TINY).items()}
    assert {s: scores[s] for s in TINY_EXPECTED} == TINY_EXPECTED
    assert "autograded 3, skipped 0 (already autograded), failed 1" in result.stdout
    assert re.search(r"dan_json: invalid-json: tiny\.ipynb is not a valid notebook", result.stdout)
    for student in TINY_EXPECTED:
        assert (root / "autograded" / student / TINY / f"{TINY}.ipynb").is_file()
    assert not (root / "autograded" / "dan_json" / TINY).exists()


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader 0.9 + SQLAlchemy 2
def test_task_payloads_are_bytes_without_any_course_path(tiny_template, tmp_path, monkeypatch):
    """A task carries the course's share and one submission as bytes; no path of the course
    is in what a worker receives (pickled as Dask sends it), and a link in a submission is not
    followed. Oracle: the course's own files, byte for byte; then ``tasks.grade`` run from the
    payloads alone, in another folder, gives TINY_EXPECTED."""
    import pickle

    from dnnkit_autograde.batch import course_payload, load_nbgrader_config, plan_batch
    from dnnkit_autograde.tasks import grade

    root = tiny_course(tiny_template, tmp_path)
    variants = tiny_variants(root)
    submit(root, "ada", TINY, variants["ada"])
    submit(root, "bob_axis", TINY, variants["bob_axis"])
    (root / "submitted" / "ada" / TINY / "grades.db").symlink_to(root / "gradebook.db")
    _, coursedir = load_nbgrader_config(root)
    plan = plan_batch(coursedir, TINY)
    course = course_payload(str(root), coursedir, TINY, ())

    assert course.config == (root / "nbgrader_config.py").read_bytes()
    assert course.source == {
        f"{TINY}.ipynb": (root / "source" / TINY / f"{TINY}.ipynb").read_bytes()
    }
    assert course.gradebook[:16] == b"SQLite format 3\x00"
    ada = plan.todo["ada"].payload()
    assert set(ada.files) == {f"{TINY}.ipynb", "timestamp.txt"}  # the link is not sent
    assert (
        ada.files[f"{TINY}.ipynb"]
        == (root / "submitted" / "ada" / TINY / f"{TINY}.ipynb").read_bytes()
    )
    assert any(f.kind == "not-sent" and "grades.db" in f.text for f in ada.findings)
    payloads = {student: planned.payload() for student, planned in plan.todo.items()}
    blob = pickle.dumps((course, list(payloads.values())))
    for path in {root, root.resolve(), tmp_path}:
        assert str(path).encode() not in blob

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    for student in ("ada", "bob_axis"):
        outcome = grade(course, payloads[student])
        assert outcome.status == "graded", outcome.log_tail
        grades = outcome.changes["notebooks"][TINY]["grade"]
        assert sum(g["auto_score"] for g in grades.values()) == TINY_EXPECTED[student]
        assert f"{TINY}.ipynb" in outcome.files and "timestamp.txt" in outcome.files


def test_local_cluster_has_a_quarter_more_workers_than_cores():
    from dnnkit_autograde.cluster import local_workers

    assert [local_workers(n) for n in (1, 2, 4, 8, 16)] == [2, 3, 5, 10, 20]


def _worker_settings():
    """Run inside a Dask worker: the settings the local cluster is meant to give it."""
    import gc
    import os

    import dask

    return {
        "profile": dask.config.get("distributed.worker.profile.enabled"),
        "tick": dask.config.get("distributed.admin.tick.interval"),
        "frozen": gc.get_freeze_count(),
        "pid": os.getpid(),
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers: Linux")
def test_local_cluster_workers_are_forked_with_the_grading_settings():
    """The local cluster's workers run without Dask's task profiler and 20 ms ticks, with the
    imported modules frozen for the garbage collector (inherited: forked after the freeze); the
    coordinator's freeze is undone when the cluster closes. Oracle: the settings read inside
    each worker process, LOCAL_CLUSTER_CONFIG, and gc's own counters."""
    import gc

    from dnnkit_autograde.cluster import LOCAL_CLUSTER_CONFIG, ClusterSpec, connect

    assert gc.get_freeze_count() == 0
    with connect(ClusterSpec(None, 2, 60)) as client:
        assert gc.get_freeze_count() > 0
        settings = list(client.run(_worker_settings).values())
    assert gc.get_freeze_count() == 0
    assert len(settings) == 2
    for got in settings:
        assert got["pid"] != os.getpid()
        assert got["profile"] is False
        assert got["tick"] == LOCAL_CLUSTER_CONFIG["distributed.admin.tick.interval"] == "1s"
        assert got["frozen"] > 10_000  # nbgrader, Dask and SQLAlchemy: far more than this


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers: Linux")
def test_local_cluster_is_closed_and_a_callers_freeze_kept_when_the_batch_fails():
    """An error inside ``connect`` still shuts the local cluster's worker processes down, and a
    garbage-collector freeze the caller made before is the caller's: ``connect`` leaves it.
    Oracle: the workers' PIDs read inside them, then their state in /proc; gc's own counter."""
    import gc

    from dnnkit_autograde.cluster import ClusterSpec, connect

    gc.freeze()
    try:
        assert gc.get_freeze_count() > 10_000
        with pytest.raises(RuntimeError, match="the batch failed"):
            with connect(ClusterSpec(None, 2, 60)) as client:
                pids = list(client.run(os.getpid).values())
                assert len(pids) == 2 and _alive(pids) == pids
                raise RuntimeError("the batch failed")
        # still frozen (a little less: frozen objects that were freed meanwhile leave it)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
    assert _wait_gone(pids, seconds=10) == []


def test_unpacking_refuses_paths_outside_the_folder(tmp_path):
    from dnnkit_autograde.tasks import unpack_files

    for bad in ("../escape.txt", "/etc/escape.txt", "a/../../escape.txt"):
        with pytest.raises(ValueError, match="not a path inside"):
            unpack_files({bad: b"x"}, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()
    unpack_files({"sub/ok.txt": b"ok"}, tmp_path / "dest")
    assert (tmp_path / "dest" / "sub" / "ok.txt").read_bytes() == b"ok"


def test_unreachable_scheduler_is_a_clear_error(tiny_template, tmp_path, capsys):
    import socket

    from dnnkit_autograde.batch import main

    root = tiny_course(tiny_template, tmp_path)
    submit(root, "ada", TINY, tiny_variants(root)["ada"])
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "3"]
    assert main([TINY, "--course-dir", str(root), "--no-progress", *args]) == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in capsys.readouterr().err
    assert not (root / "autograded").exists()


def test_no_sandbox_warns_loudly_and_still_grades(tiny_template, tmp_path, capsys):
    from dnnkit_autograde.batch import NO_SANDBOX_ARG, main

    root = tiny_course(tiny_template, tmp_path)
    submit(root, "ada", TINY, tiny_variants(root)["ada"])
    code = main([TINY, "--course-dir", str(root), "--no-progress", "--no-sandbox", "--jobs", "1"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "WITHOUT the OS sandbox" in err
    from dnnkit_autograde import GuardedExecute  # the option names a real trait

    assert NO_SANDBOX_ARG == "--GuardedExecute.sandbox=False"
    assert GuardedExecute.class_traits()["sandbox"].default_value is True
    assert gradebook_dump(root, TINY)["ada"]["score"] == TINY_EXPECTED["ada"]


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
    below = _descendants(proc.pid)  # the local cluster's workers and their kernels
    assert below, "the batch has no worker processes"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    # After SIGKILL, Dask's workers see their parent's pipe close and exit; kernels follow.
    assert _wait_gone(below) == [], "worker or kernel processes outlived the batch"
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


# ---------------------------------------------------------------- an existing Dask cluster
def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids) -> list[int]:
    """The processes of ``pids`` that still run (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _wait_gone(pids, seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(pids)


def _hiding(paths) -> list[str]:
    """A bubblewrap prefix that runs a command with each of ``paths`` replaced by an empty
    folder (the rest of the system as it is); [] when bubblewrap cannot run here."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return []
    prefix = [bwrap, "--dev-bind", "/", "/"]
    for path in paths:
        prefix += ["--tmpfs", str(path)]
    probe = subprocess.run([*prefix, "--", "ls", str(paths[0])], capture_output=True, text=True)
    return [*prefix, "--"] if probe.returncode == 0 and not probe.stdout.strip() else []


class DaskCluster:
    """A `dask scheduler` and single-threaded `dask worker` processes (no nanny: a killed
    worker stays dead) on 127.0.0.1, started from ``home`` with their own TMPDIR and local
    directories; with bubblewrap, the workers cannot see the folders in ``hide``."""

    def __init__(self, home: Path, n_workers: int, hide=()):
        import socket

        home.mkdir(parents=True)
        (home / "tmp").mkdir()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        env = dict(os.environ, TMPDIR=str(home / "tmp"), TF_CPP_MIN_LOG_LEVEL="2")
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        dask = str(Path(sys.executable).with_name("dask"))
        self.hidden = bool(hide) and bool(_hiding(list(hide)))
        prefix = _hiding(list(hide)) if hide else []
        self.logs = [open(home / f"{name}.log", "w") for name in ("scheduler", "w0", "w1")]
        self.scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=home,
            env=env,
            stdout=self.logs[0],
            stderr=subprocess.STDOUT,
        )
        self.workers = [
            subprocess.Popen(
                [
                    *prefix,
                    dask,
                    "worker",
                    self.address,
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--no-nanny",
                    "--name",
                    f"w{i}",
                    "--local-directory",
                    str(home / f"w{i}"),
                ],
                cwd=home,
                env=env,
                stdout=self.logs[1 + i],
                stderr=subprocess.STDOUT,
            )
            for i in range(n_workers)
        ]

    def wait_for_workers(self, n: int, timeout: float = 300) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def worker_pid(self, i: int) -> int:
        """The PID of worker ``i`` itself (under bubblewrap: bwrap's child)."""
        pid = self.workers[i].pid
        if self.hidden:
            pid = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
        return pid

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of the scheduler's and workers' logs (for a failure's message)."""
        out = []
        for log in self.logs:
            log.flush()
            text = Path(log.name).read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {Path(log.name).name}\n" + "\n".join(text))
        return "\n" + "\n".join(out)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in self.logs:
            log.close()


def _start_batch(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*batch_command(), TINY, "--course-dir", str(root), "--no-progress", *args],
        cwd=root,
        env=course_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_graded(proc: subprocess.Popen, root: Path, at: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and _graded_count(root) < at:
        time.sleep(0.1)
    assert proc.poll() is None, "the batch finished before the event could happen"


def _notebook_identity(root: Path) -> dict[str, tuple[int, int]]:
    """student -> (inode, mtime) of the autograded notebook: rewriting it changes both."""
    out = {}
    for path in (root / "autograded").glob(f"*/{TINY}/{TINY}.ipynb"):
        stat = path.stat()
        out[path.parents[1].name] = (stat.st_ino, stat.st_mtime_ns)
    return out


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
def test_existing_dask_cluster_survives_lost_worker_and_interrupted_coordinator(
    tiny_template, tmp_path
):
    """A real `dask scheduler` and two `dask worker`s (which cannot see the course: bubblewrap
    hides it from them where it runs). First batch: SIGTERM to the coordinator mid-batch.
    Second batch: one worker killed by its PID mid-batch. Oracle: serial `nbgrader autograde`
    on an identical copy of the course: every gradebook field and every autograded cell, student
    by student; each submission graded exactly once (rows, folders, the report's counts, the
    first batch's notebooks never rewritten); the killed worker's kernel does not outlive it."""
    batch = tiny_course(tiny_template, tmp_path / "batch")
    serial = tiny_course(tiny_template, tmp_path / "serial")
    variants = tiny_variants(batch)
    students = {}
    for i in range(4):
        for name, nb in variants.items():
            students[f"{name}_{i}"] = TINY_EXPECTED[name]
            for root in (batch, serial):
                submit(root, f"{name}_{i}", TINY, nb)
    before = tree_digest(batch / "submitted")
    serial_run = subprocess.Popen(
        [sys.executable, "-m", "nbgrader", "autograde", TINY],
        cwd=serial,
        env=course_env(serial),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    cluster = DaskCluster(tmp_path / "cluster", 2, hide=[batch, serial])
    try:
        cluster.wait_for_workers(2)
        serial_out = serial_run.communicate(timeout=900)[0].decode(errors="replace")
        assert serial_run.returncode == 0, serial_out
        scheduler = ["--scheduler", cluster.address]

        first = _start_batch(batch, *scheduler)
        _wait_graded(first, batch, at=2)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
        assert first.returncode == 130, out + err
        assert re.search(r"Interrupted with \d+ submission\(s\) left: rerun", out)
        done_first = _notebook_identity(batch)
        assert 2 <= len(done_first) < len(students) - 3

        second = _start_batch(batch, *scheduler)
        _wait_graded(second, batch, at=len(done_first) + 1)
        victim = cluster.worker_pid(1)
        deadline = time.monotonic() + 120
        while not (kernels := _descendants(victim)) and time.monotonic() < deadline:
            time.sleep(0.05)  # kill it while it grades: its kernel is running
        assert kernels, "worker 1 never started a kernel"
        os.kill(victim, signal.SIGKILL)
        out, err = second.communicate(timeout=900)
        assert second.returncode == 0, out + err + cluster.log_tails()
        assert cluster.workers[0].poll() is None  # the batch finished on the other worker
        assert _wait_gone(kernels) == [], "the killed worker's kernel outlived it"
    finally:
        if serial_run.poll() is None:
            serial_run.kill()
        cluster.close()

    todo = len(students) - len(done_first)
    assert f"autograded {todo}, skipped {len(done_first)} (already autograded), failed 0" in out
    identity = _notebook_identity(batch)
    assert set(identity) == set(students)
    assert {s: identity[s] for s in done_first} == done_first  # not graded twice
    counts = row_counts(batch)
    assert counts["submitted_assignment"] == counts["student"] == len(students)
    assert counts["grade"] == len(students) * len(TINY_POINTS)
    assert not list(batch.glob("autograded/*/*.dnnkit-partial"))
    expected, got = gradebook_dump(serial, TINY), gradebook_dump(batch, TINY)
    assert set(got) == set(expected) == set(students)
    for student in sorted(students):
        assert got[student] == expected[student], student
        assert got[student]["score"] == students[student], student
        assert autograded_cells(batch, student, TINY) == autograded_cells(serial, student, TINY)
    assert tree_digest(batch / "submitted") == before
    if shutil.which("bwrap"):
        assert cluster.hidden, "bubblewrap is here but could not hide the course from workers"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader 0.9 + SQLAlchemy 2
def test_what_the_coordinator_reads_of_a_submission_is_bounded(tiny_template, tmp_path):
    """nbgrader's own limits (``CourseDirectory.max_file_size`` and ``max_dir_size``, kB)
    bound what the coordinator reads and sends of each submission: an extra file over the
    per-file limit, and files past the per-submission total (notebooks first), are not sent
    and are named in the report; a notebook over the limit is not read nor graded; a 20 GB
    sparse file and a FIFO beside the notebook neither fill the coordinator's memory nor block
    it, and a notebook that is a FIFO or a link is not read nor graded. Oracle: the payloads and
    findings of the plan, the files' own bytes."""
    from dnnkit_autograde.batch import load_nbgrader_config, plan_batch

    root = tiny_course(tiny_template, tmp_path)
    good = tiny_variants(root)["ada"]
    for student in ("ada", "big", "many"):
        submit(root, student, TINY, good)
    ada = root / "submitted" / "ada" / TINY
    with open(ada / "huge.bin", "wb") as fh:
        fh.truncate(20 * 10**9)  # sparse: 20 GB to read, none on disk
    os.mkfifo(ada / "pipe")
    (ada / "small.txt").write_bytes(b"s" * 1000)
    big = root / "submitted" / "big" / TINY / f"{TINY}.ipynb"
    padded = copy.deepcopy(good)
    padded.cells.append(nbformat.v4.new_markdown_cell("x" * 80_000))
    nbformat.write(padded, big)
    many = root / "submitted" / "many" / TINY
    for i in range(4):
        (many / f"data{i}.bin").write_bytes(bytes([i]) * 40_000)
    piped = root / "submitted" / "piped" / TINY
    piped.mkdir(parents=True)
    os.mkfifo(piped / f"{TINY}.ipynb")  # the notebook itself: opening it would wait forever
    linked = root / "submitted" / "linked" / TINY
    linked.mkdir(parents=True)
    (linked / f"{TINY}.ipynb").symlink_to(ada / f"{TINY}.ipynb")

    _, coursedir = load_nbgrader_config(root)
    coursedir.max_file_size, coursedir.max_dir_size = 50, 100  # kB: 50 000 and 100 000 bytes
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        planning = pool.submit(plan_batch, coursedir, TINY)
        try:
            plan = planning.result(timeout=30)
        except concurrent.futures.TimeoutError:
            os.close(os.open(piped / f"{TINY}.ipynb", os.O_WRONLY))  # let the reader go
            raise AssertionError("planning waited on a FIFO or read a huge file") from None
    for student in ("piped", "linked"):
        assert student not in plan.todo
        reason = plan.outcomes[student].reason
        assert "not-a-file" in reason and "it is not graded" in reason, reason
    assert "a link, not a file" in plan.outcomes["linked"].reason
    assert "not a regular file" in plan.outcomes["piped"].reason

    payload = plan.todo["ada"].payload()
    assert set(payload.files) == {f"{TINY}.ipynb", "timestamp.txt", "small.txt"}
    assert payload.files["small.txt"] == (ada / "small.txt").read_bytes()
    not_sent = {f.text.split(" ", 1)[0]: f.text for f in payload.findings if f.kind == "not-sent"}
    assert "over the size limit (20000.0 MB)" in not_sent["huge.bin"]
    assert "not a regular file" in not_sent["pipe"]

    assert "big" not in plan.todo
    assert plan.outcomes["big"].status == "failed"
    assert "too-large" in plan.outcomes["big"].reason, plan.outcomes["big"].reason
    assert "CourseDirectory.max_file_size" in plan.outcomes["big"].reason

    payload = plan.todo["many"].payload()
    notebook = len(payload.files[f"{TINY}.ipynb"]) + len(payload.files["timestamp.txt"])
    sent = sorted(name for name in payload.files if name.startswith("data"))
    assert sent == [f"data{i}" + ".bin" for i in range((100_000 - notebook) // 40_000)]
    for name in sent:
        assert payload.files[name] == (many / name).read_bytes()
    assert sum(len(data) for data in payload.files.values()) <= 100_000
    not_sent = [f.text for f in payload.findings if f.kind == "not-sent"]
    assert len(not_sent) == 4 - len(sent) and all("over the size limit" in t for t in not_sent)


WINDOW_DRIVER = """
import json, sys
from pathlib import Path
from dnnkit_autograde import batch
root, assignment = Path(sys.argv[1]), sys.argv[2]
recorded_when_read = []
read = batch.PlannedSubmission.payload
def payload(self):  # the results recorded (autograded folders) when this submission is read
    recorded_when_read.append(len(list(root.glob(f"autograded/*/{assignment}"))))
    return read(self)
batch.PlannedSubmission.payload = payload
report = batch.autograde_batch(assignment, str(root), jobs=1, progress=False)
print(json.dumps([recorded_when_read, [o.status for o in report.outcomes]]))
"""


@pytest.mark.slow
def test_a_batch_reads_submissions_only_as_workers_need_them(tiny_template, tmp_path):
    """The coordinator reads a submission's files when it sends its task, keeping twice the
    cluster's threads (at least 4) in flight: with one single-threaded worker, the fifth
    submission is read only after the first result is recorded, the sixth after the second...
    so memory holds the submissions in flight, not the whole class. Oracle: the autograded
    folders on disk at the moment each submission is read; every submission graded once."""
    root = tiny_course(tiny_template, tmp_path)
    good = tiny_variants(root)["ada"]
    students = [f"s{i:02d}" for i in range(9)]
    for student in students:
        submit(root, student, TINY, good)
    run = subprocess.run(
        [sys.executable, "-c", WINDOW_DRIVER, str(root), TINY],
        cwd=root,
        env=course_env(root),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    recorded_when_read, statuses = json.loads(run.stdout.strip().splitlines()[-1])
    assert statuses == ["graded"] * len(students)
    assert len(recorded_when_read) == len(students)  # each read once
    assert recorded_when_read[:4] == [0, 0, 0, 0]
    for k, recorded in enumerate(recorded_when_read):
        assert recorded >= k - 3, recorded_when_read  # never more than 4 in flight
    assert recorded_when_read[-1] < len(students)  # read before the end, not all up front


def test_the_assignment_policy_travels_with_the_task(tiny_template, tmp_path, monkeypatch):
    """A worker checks answers against the ``policy.toml`` in the carried source folder, base
    and task rules alike. Oracle: a policy written here whose base refuses ``numpy.asarray``
    and ``numpy.mean`` while the task ``square_solution`` may use all of NumPy's core: the
    solution keeps ``square``'s 2 points (task rule) and loses ``mean_rows``' 3 (base rule:
    its answer is refused with a message naming ``numpy.mean`` and the rule)."""
    from traitlets.config.loader import PyFileConfigLoader

    from dnnkit_autograde.batch import course_payload, load_nbgrader_config, plan_batch
    from dnnkit_autograde.tasks import grade

    root = tiny_course(tiny_template, tmp_path)
    course_config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    steps = list(course_config.Autograde.sanitize_preprocessors)  # the course's static check
    assert "dnnkit_autograde.IntegrityCheck" in steps
    with open(root / "nbgrader_config.py", "a") as config:  # and, as the course does, its root
        config.write(f"c.Autograde.sanitize_preprocessors = {steps!r}\n")
        config.write(
            "import os\nc.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))\n"
        )
    (root / "source" / TINY / "policy.toml").write_text(
        '[base]\nuse = ["python", "numpy"]\nexclude_names = ["numpy.asarray", "numpy.mean"]\n\n'
        '[tasks.square_solution]\nuse = ["python", "numpy"]\n'
    )
    submit(root, "ada", TINY, tiny_variants(root)["ada"])
    _, coursedir = load_nbgrader_config(root)
    course = course_payload(str(root), coursedir, TINY, ())
    assert "policy.toml" in course.source
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    outcome = grade(course, plan_batch(coursedir, TINY).todo["ada"].payload())
    assert outcome.status == "graded", outcome.log_tail
    grades = outcome.changes["notebooks"][TINY]["grade"]
    scores = {name: g["auto_score"] for name, g in grades.items()}
    assert scores == {"square_tests": 2.0, "mean_rows_tests": 0.0}, scores
    graded = outcome.files[f"{TINY}.ipynb"].decode()
    assert "`numpy.mean` is not on this task's list" in graded and "[rule: not-allowed]" in graded
