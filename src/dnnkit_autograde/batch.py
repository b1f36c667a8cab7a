"""Autograde a whole nbgrader assignment on every core: ``dnnkit-autograde <assignment>``.

Scores are those of ``nbgrader autograde`` because every submission is graded by nbgrader's own
``Autograde`` converter with the course's ``nbgrader_config.py`` (all its preprocessors), one
submission per worker process at a time, in a scratch course holding a copy of the submission
and a copy of the gradebook. Only the parent process writes the real gradebook, through
nbgrader's ``Gradebook`` API, one submission at a time: it copies in the fields the worker's run
changed, then moves the autograded folder into ``autograded/``.

Why this design: nbgrader saves grades from inside its preprocessor chain (``SaveAutoGrades``),
so "workers only execute, the parent grades" would mean rewriting that chain; and SQLite has
one writer at a time while nbgrader's find-or-create steps are not atomic across processes, so
concurrent writers could lose or duplicate rows. With a single writer and update-or-create
merges, an interrupted batch leaves each submission recorded in full or not at all, and a rerun
skips the finished ones (autograded folder present, same timestamp, row in the gradebook).
``submitted/`` is only read.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import logging
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BatchReport", "Outcome", "autograde_batch", "format_report", "main"]

#: The gradebook columns an autograde run may change, per table, in nbgrader 0.9: every column
#: that is not a key. The parent copies exactly these from the worker's gradebook.
GRADEBOOK_FIELDS = {
    "submission": ("timestamp", "extension"),
    "notebook": ("flagged", "late_submission_penalty"),
    "grade": ("auto_score", "manual_score", "extra_credit", "needs_manual_grade"),
    "comment": ("auto_comment", "manual_comment"),
}

#: Error names that mean a cell did not finish: nbgrader's timeout error and nbclient's errors
#: for a kernel that died or stopped answering.
TIMEOUT_ERRORS = ("CellTimeoutError", "TimeoutError", "DeadKernelError")

#: Problems that stop nbgrader from grading a submission (the rest are notes on a graded one).
FATAL_PROBLEMS = ("missing-notebook", "invalid-json", "invalid-notebook")

_PARTIAL_SUFFIX = ".dnnkit-partial"


# ===================================================================================== results
@dataclass
class Outcome:
    """What happened to one student's submission.

    ``status`` is "graded" (nbgrader graded it, maybe with ``notes``), "failed" (it could not be
    graded; ``reason`` says why), "skipped" (already graded, unchanged) or "interrupted" (the
    batch stopped before it was graded).
    """

    student: str
    status: str
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    log_tail: str = ""
    seconds: float = 0.0
    changes: dict | None = None  # gradebook fields to write, see _submission_state
    output_dir: str | None = None  # the worker's autograded folder, moved in by the parent
    attempted: bool = False  # nbgrader ran (so a failed run removes the old autograded folder)


@dataclass
class BatchReport:
    """The outcome of every submission of one batch, in student order."""

    assignment: str
    jobs: int
    seconds: float
    outcomes: list[Outcome]
    interrupted: bool = False

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def exit_code(self) -> int:
        """0 when everything was graded (or skipped), 1 when a submission could not be graded,
        130 when the batch was interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.by_status("failed") else 0


# ============================================================================ nbgrader set-up
def load_nbgrader_config(course_dir, nbgrader_args=()):
    """The configuration and course directory that ``nbgrader autograde`` would use when run in
    ``course_dir`` with the extra command-line options ``nbgrader_args``.

    Returns
    -------
    config : traitlets Config
    coursedir : nbgrader CourseDirectory
    """
    from nbgrader.apps.autogradeapp import AutogradeApp

    with _chdir(course_dir):
        app = AutogradeApp()
        app.log = _quiet_logger("dnnkit-autograde.config")
        app.initialize(list(nbgrader_args))
        if app.extra_args:
            raise ValueError(
                f"unexpected nbgrader arguments {app.extra_args!r}: pass nbgrader options as "
                "--Class.trait=value"
            )
    coursedir = app.coursedir
    coursedir.root = os.path.abspath(coursedir.root or course_dir)
    return app.config, coursedir


@contextlib.contextmanager
def _chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _quiet_logger(name: str, stream=None) -> logging.Logger:
    """A logger outside the logging tree (nothing reaches the terminal), writing to ``stream``."""
    logger = logging.Logger(name, level=logging.INFO)
    logger.propagate = False
    if stream is not None:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        logger.addHandler(handler)
    return logger


def _check_layout(coursedir) -> None:
    """The scratch courses mirror the real one, so every step folder must be relative."""
    for step in ("source_directory", "submitted_directory", "autograded_directory"):
        value = getattr(coursedir, step)
        if os.path.isabs(value):
            raise ValueError(
                f"CourseDirectory.{step} is the absolute path {value!r}; dnnkit-autograde needs "
                "it relative to the course directory (nbgrader's default layout)."
            )
    if not coursedir.db_url.startswith("sqlite:///"):
        raise ValueError(
            f"the gradebook {coursedir.db_url!r} is not a SQLite file; dnnkit-autograde only "
            "supports SQLite gradebooks (use `nbgrader autograde`)."
        )
    if not os.path.isfile(_sqlite_path(coursedir.db_url)):
        raise ValueError(
            f"no gradebook at {_sqlite_path(coursedir.db_url)}: run "
            "`nbgrader generate_assignment <assignment>` first."
        )


def _sqlite_path(db_url: str) -> str:
    return db_url[len("sqlite:///") :]


@contextlib.contextmanager
def _gradebook(db_url: str, course_id: str):
    """nbgrader's ``Gradebook``, closed and its connections released on exit."""
    from nbgrader.api import Gradebook

    gb = Gradebook(db_url, course_id)
    try:
        yield gb
    finally:
        gb.close()
        gb.engine.dispose()


# ================================================================================ discovery
def find_submissions(coursedir, assignment: str) -> dict[str, str]:
    """student id -> submission folder, for every ``submitted/<student>/<assignment>/`` folder
    (nbgrader's glob and regular expression), minus ``CourseDirectory.student_id_exclude``."""
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    regexp = coursedir.format_path(
        coursedir.submitted_directory, "(?P<student_id>.*)", re.escape(assignment), escape=True
    )
    excluded = set(filter(None, coursedir.student_id_exclude.split(",")))
    found = {}
    for path in sorted(glob.glob(pattern)):
        match = re.match(regexp, path)
        if match and os.path.isdir(path) and match["student_id"] not in excluded:
            found[match["student_id"]] = path
    return found


def _read_timestamp(folder) -> object:
    """The parsed ``timestamp.txt`` of a folder, None when absent or empty, "invalid" when
    nbgrader could not parse it."""
    from nbgrader.utils import parse_utc

    path = os.path.join(folder, "timestamp.txt")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        text = fh.read().strip()
    try:
        return parse_utc(text) if text else None
    except (ValueError, OverflowError):
        return "invalid"


def _gradebook_view(coursedir, assignment: str) -> tuple[list[str], dict[str, set[str]], set[str]]:
    """From the real gradebook: the assignment's notebook names, the grade ids of each
    notebook's tracked cells, and the students who already have a submission."""
    from nbgrader.api import MissingEntry

    with _gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(
                f"the gradebook has no assignment {assignment!r}: run "
                f"`nbgrader generate_assignment {assignment}` first."
            ) from None
        notebooks = sorted(nb.name for nb in record.notebooks)
        grade_ids = {
            nb.name: {c.name for c in [*nb.grade_cells, *nb.solution_cells, *nb.task_cells]}
            for nb in record.notebooks
        }
        graded = {s.student.id for s in record.submissions}
    return notebooks, grade_ids, graded


def _already_graded(coursedir, assignment, student, submitted, graded_in_db) -> bool:
    """A previous run finished this submission and the student has not resubmitted since."""
    dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if student not in graded_in_db or not os.path.isdir(dest):
        return False
    new, old = _read_timestamp(submitted), _read_timestamp(dest)
    return new != "invalid" and new == old


def _precheck(folder: str, notebooks, grade_ids) -> list[tuple[str, str]]:
    """Problems with a submission folder as ``(kind, sentence)`` pairs, from
    ``dnnkit_autograde.integrity.check_submission`` (kinds: "missing-notebook", "invalid-json", ...)."""
    try:
        from dnnkit_autograde.integrity import check_submission

        problems = check_submission(folder, notebooks, grade_ids=grade_ids)
    except Exception as exc:  # noqa: BLE001 - a report must not stop the batch
        return [("unchecked", f"could not check the folder ({type(exc).__name__}: {exc})")]
    return [(p.kind, f"{os.path.basename(p.path)} {p.message}") for p in problems]


def _explain(problems: list[tuple[str, str]], kinds=None) -> list[str]:
    return [f"{kind}: {text}" for kind, text in problems if kinds is None or kind in kinds]


# ================================================================================== workers
_WORKER: dict = {}


def _init_worker(course_dir, nbgrader_args, assignment, scratch_root, template_db):
    """Runs once in each worker process: load the configuration, make the scratch course."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt does
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # (fork copied the parent's handler)
    _die_with_parent()
    config, real = load_nbgrader_config(course_dir, nbgrader_args)
    root = tempfile.mkdtemp(prefix="worker-", dir=scratch_root)
    shutil.copyfile(template_db, os.path.join(root, "gradebook.db"))
    source = real.format_path(real.source_directory, ".", assignment)
    link = os.path.join(root, os.path.relpath(source, real.root))
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.isdir(source):
        os.symlink(source, link, target_is_directory=True)
    # nbgrader's warnings and the kernels' own messages go to a file, not over the progress bar;
    # each submission's share of it is kept with its log.
    output = os.path.join(root, "output.txt")
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    _WORKER.update(config=config, real=real, root=root, assignment=assignment, output=output)


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGTERM this worker when the parent dies (even by SIGKILL), so
    no orphan keeps grading; its notebook kernels notice and exit too (``JPY_PARENT_PID``)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # best effort
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _scratch_coursedir(student: str):
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=_WORKER["config"])
    coursedir.root = _WORKER["root"]
    coursedir.db_url = "sqlite:///" + os.path.join(_WORKER["root"], "gradebook.db")
    coursedir.assignment_id = _WORKER["assignment"]
    coursedir.student_id = student
    coursedir.notebook_id = "*"
    return coursedir


def _grade_one(student: str, problems: list[tuple[str, str]]) -> Outcome:
    """Grade one submission in this worker's scratch course with nbgrader's ``Autograde``."""
    from nbgrader.converters import Autograde

    start = time.perf_counter()
    real, assignment = _WORKER["real"], _WORKER["assignment"]
    coursedir = _scratch_coursedir(student)
    source = real.format_path(real.submitted_directory, student, assignment)
    copy = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    output = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    for path in (copy, output):
        if os.path.lexists(path):
            shutil.rmtree(path)
    shutil.copytree(source, copy, symlinks=True)

    with _gradebook(coursedir.db_url, coursedir.course_id) as gb:
        before = _submission_state(gb, assignment, student)
    log = io.StringIO()
    offset = os.path.getsize(_WORKER["output"])
    converter = Autograde(
        coursedir=coursedir, config=_WORKER["config"], log=_quiet_logger(student, log)
    )
    converter.force = True
    error = None
    try:
        converter.start()
    except BaseException as exc:  # noqa: BLE001 - nbgrader reports failures by raising/exit
        error = exc
    with _gradebook(coursedir.db_url, coursedir.course_id) as gb:
        after = _submission_state(gb, assignment, student)
    shutil.rmtree(copy, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(_WORKER["output"], errors="replace") as fh:
        fh.seek(offset)
        printed = fh.read()

    outcome = Outcome(student=student, status="graded", attempted=True)
    outcome.log_tail = _tail(log.getvalue() + printed)
    outcome.changes = _diff(before, after)
    if error is None and os.path.isdir(output):
        outcome.output_dir = output
        outcome.notes = _explain(problems) + _unfinished_cells(output)
    else:
        outcome.status = "failed"
        reasons = _explain(problems, FATAL_PROBLEMS) or [_error_summary(log.getvalue(), error)]
        outcome.reason = "; ".join(reasons)
        outcome.notes = [n for n in _explain(problems) if n not in reasons]
    outcome.seconds = time.perf_counter() - start
    return outcome


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _error_summary(log_text: str, error: BaseException | None) -> str:
    """The most telling line of a failed run: the last exception line nbgrader logged."""
    candidates = [
        line.strip()
        for line in log_text.splitlines()
        if re.match(r"\s*[A-Za-z_.]*(Error|Exception|Exit)\b.*:", line)
    ]
    if candidates:
        return f"nbgrader could not grade it: {candidates[-1]}"
    if error is not None and str(error):
        return f"nbgrader could not grade it: {type(error).__name__}: {error}"
    return "nbgrader could not grade it (see the log below)"


def _unfinished_cells(output_dir: str) -> list[str]:
    """Cells of the autograded notebooks that timed out or lost their kernel, and cells that
    were never run because grading of the notebook stopped (``dnnkit_autograde.integrity``'s NotRun)."""
    import nbformat

    notes = []
    for path in sorted(Path(output_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        not_run = 0
        for index, cell in enumerate(nb.cells):
            where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or index
            for out in cell.get("outputs", []):
                ename = out.get("ename") if out.get("output_type") == "error" else None
                if ename in TIMEOUT_ERRORS:
                    notes.append(f"{path.name}: cell {where} did not finish ({ename})")
                elif ename == "NotRun":
                    not_run += 1
        if not_run:
            notes.append(f"{path.name}: {not_run} cell(s) not run: grading stopped early")
    return notes


# ================================================================================ gradebook
def _row(obj, table: str) -> dict:
    return {name: getattr(obj, name) for name in GRADEBOOK_FIELDS[table]}


def _submission_state(gb, assignment: str, student: str) -> dict | None:
    """Every autograde-writable field of one submission, keyed by names (not database ids):
    ``{"submission": {...}, "notebooks": {nb: {"notebook": {...}, "grade": {cell: {...}},
    "comment": {cell: {...}}}}}``; None when the gradebook has no such submission."""
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return None
    return {
        "submission": _row(submission, "submission"),
        "notebooks": {
            nb.name: {
                "notebook": _row(nb, "notebook"),
                "grade": {g.name: _row(g, "grade") for g in nb.grades},
                "comment": {c.name: _row(c, "comment") for c in nb.comments},
            }
            for nb in submission.notebooks
        },
    }


def _diff(before: dict | None, after: dict | None) -> dict | None:
    """The part of ``after`` that differs from ``before`` (all of it for a new submission);
    None when the run did not touch the submission."""
    if after is None:
        return None

    def changed(new: dict, old: dict | None) -> dict:
        return {k: v for k, v in new.items() if old is None or old.get(k) != v}

    old_nbs = (before or {}).get("notebooks", {})
    result = {
        "new": before is None,
        "submission": changed(after["submission"], (before or {}).get("submission")),
        "notebooks": {},
    }
    for name, nb in after["notebooks"].items():
        old = old_nbs.get(name)
        entry = {"notebook": changed(nb["notebook"], old and old["notebook"])}
        for table in ("grade", "comment"):
            entry[table] = {}
            for cell, fields in nb[table].items():
                delta = changed(fields, old and old[table].get(cell))
                if delta:
                    entry[table][cell] = delta
        if any(entry.values()):
            result["notebooks"][name] = entry
    if not result["new"] and not result["submission"] and not result["notebooks"]:
        return None
    return result


def merge_into_gradebook(gb, assignment: str, student: str, changes: dict) -> None:
    """Write a worker's changes into the real gradebook: create the student and submission
    when missing (as ``nbgrader autograde`` does), then set the changed fields. Idempotent:
    merging the same changes twice gives the same gradebook."""
    with warnings.catch_warnings():
        # nbgrader 0.9 builds a new submission in a way SQLAlchemy 2 warns about (harmless).
        warnings.filterwarnings("ignore", message=".*not in session", module="nbgrader")
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
    for name, value in changes["submission"].items():
        setattr(submission, name, value)
    notebooks = {nb.name: nb for nb in submission.notebooks}
    for nb_name, entry in changes["notebooks"].items():
        notebook = notebooks[nb_name]
        for name, value in entry["notebook"].items():
            setattr(notebook, name, value)
        for table, rows in (("grade", notebook.grades), ("comment", notebook.comments)):
            by_cell = {row.name: row for row in rows}
            for cell, fields in entry[table].items():
                for name, value in fields.items():
                    setattr(by_cell[cell], name, value)
    gb.db.commit()


def _snapshot(db_path: str, target: str) -> None:
    """A consistent copy of a SQLite file, even while another program has it open."""
    source = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        source.close()
        copy.close()


# =========================================================================== autograded files
def _remove_tree(path: str) -> None:
    from nbgrader.utils import rmtree

    if os.path.lexists(path):
        rmtree(path)


def _install(output_dir: str, dest: str) -> None:
    """Move a worker's autograded folder to ``dest``, replacing the old one in one rename."""
    partial = dest.rstrip(os.sep) + _PARTIAL_SUFFIX
    _remove_tree(partial)
    os.makedirs(os.path.dirname(partial), exist_ok=True)
    shutil.move(output_dir, partial)
    _remove_tree(dest)
    os.replace(partial, dest)


# ===================================================================================== batch
def autograde_batch(
    assignment: str,
    course_dir=".",
    *,
    jobs: int | None = None,
    students=None,
    force: bool = False,
    nbgrader_args=(),
    progress: bool = True,
) -> BatchReport:
    """Autograde every submission of ``assignment`` with ``jobs`` worker processes.

    Parameters
    ----------
    assignment : str
        The assignment id (``submitted/*/<assignment>/``).
    course_dir : path
        The nbgrader course directory (where ``nbgrader autograde`` would be run).
    jobs : int, optional
        Worker processes; default: the number of cores this process may use.
    students : iterable of str, optional
        Grade only these students.
    force : bool
        Regrade submissions that were already autograded and have not changed.
    nbgrader_args : sequence of str
        Extra nbgrader options, e.g. ``["--Execute.timeout=120"]``.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    BatchReport
    """
    start = time.perf_counter()
    course_dir = os.path.abspath(course_dir)
    jobs = jobs or _available_cores()
    if jobs < 1:
        raise ValueError(f"jobs must be a positive number of processes, got {jobs}")
    config, coursedir = load_nbgrader_config(course_dir, nbgrader_args)
    _check_layout(coursedir)
    notebooks, grade_ids, graded_in_db = _gradebook_view(coursedir, assignment)
    found = find_submissions(coursedir, assignment)
    if students:
        missing = sorted(set(students) - set(found))
        found = {s: p for s, p in found.items() if s in set(students)}
    else:
        missing = []

    outcomes = {
        s: Outcome(s, "failed", reason="no submission folder for this student") for s in missing
    }
    todo: dict[str, list[tuple[str, str]]] = {}
    for student, folder in found.items():
        if not force and _already_graded(coursedir, assignment, student, folder, graded_in_db):
            outcomes[student] = Outcome(student, "skipped", reason="already autograded")
            continue
        problems = _precheck(folder, notebooks, grade_ids)
        if not glob.glob(os.path.join(glob.escape(folder), "*.ipynb")):
            # nbgrader skips such a folder without a word; the report must not.
            reason = "; ".join(_explain(problems, FATAL_PROBLEMS) or _explain(problems))
            outcomes[student] = Outcome(student, "failed", reason=reason or "no notebook")
            continue
        todo[student] = problems

    interrupted = False
    if todo:
        interrupted = _run_pool(
            assignment, course_dir, coursedir, nbgrader_args, todo, outcomes, jobs, progress
        )
    ordered = [outcomes[s] for s in sorted(outcomes)]
    return BatchReport(
        assignment,
        min(jobs, max(len(todo), 1)),
        time.perf_counter() - start,
        ordered,
        interrupted,
    )


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _mp_context():
    """fork where it is safe (Linux: workers inherit the imported nbgrader), else spawn."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_pool(assignment, course_dir, coursedir, nbgrader_args, todo, outcomes, jobs, progress):
    """Grade ``todo`` in a process pool; merge and install each result as it arrives.
    Returns True when the batch was interrupted."""
    from tqdm import tqdm

    workers = min(jobs, len(todo))
    scratch = tempfile.mkdtemp(prefix="dnnkit-autograde-")
    template = os.path.join(scratch, "template-gradebook.db")
    _snapshot(_sqlite_path(coursedir.db_url), template)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_mp_context(),
        initializer=_init_worker,
        initargs=(course_dir, tuple(nbgrader_args), assignment, scratch, template),
    )
    pending = {executor.submit(_grade_one, s, problems): s for s, problems in todo.items()}
    bar = tqdm(
        total=len(pending),
        desc=f"autograde {assignment}",
        unit="nb",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    interrupted = False
    try:
        with _gradebook(coursedir.db_url, coursedir.course_id) as gb:
            for future in as_completed(pending):
                student = pending[future]
                outcome = _result(future, student)
                try:
                    _record(gb, coursedir, assignment, outcome)
                except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
                    gb.db.rollback()
                    outcome.status = "failed"
                    outcome.reason = f"could not record the result ({type(exc).__name__}: {exc})"
                outcomes[student] = outcome
                bar.update(1)
                failed = sum(o.status == "failed" for o in outcomes.values())
                bar.set_postfix(failed=failed, refresh=False)
    except KeyboardInterrupt:
        interrupted = True
        for student in todo:
            outcomes.setdefault(student, Outcome(student, "interrupted"))
    finally:
        bar.close()
        _shutdown(executor, kill=interrupted)
        signal.signal(signal.SIGTERM, previous_term)
        shutil.rmtree(scratch, ignore_errors=True)
    return interrupted


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _result(future, student: str) -> Outcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return Outcome(student, "failed", reason="the worker process died; rerun to resume")
    except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
        return Outcome(student, "failed", reason=f"{type(exc).__name__}: {exc}")


def _record(gb, coursedir, assignment: str, outcome: Outcome) -> None:
    """Write one outcome into the real course: gradebook first, then the autograded folder
    (its presence is what marks the submission as done)."""
    dest = coursedir.format_path(coursedir.autograded_directory, outcome.student, assignment)
    if outcome.changes is not None:
        merge_into_gradebook(gb, assignment, outcome.student, outcome.changes)
    if outcome.status == "graded" and outcome.output_dir:
        _install(outcome.output_dir, dest)
    elif outcome.attempted:
        _remove_tree(dest)  # as nbgrader does with a submission it failed to grade
    outcome.changes = None
    outcome.output_dir = None


def _shutdown(executor: ProcessPoolExecutor, *, kill: bool) -> None:
    if kill:
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


# ==================================================================================== report
def format_report(report: BatchReport, *, verbose: bool = False) -> str:
    """The end-of-batch summary an instructor reads: counts, then every failure and note."""
    graded, failed = report.by_status("graded"), report.by_status("failed")
    skipped = report.by_status("skipped")
    lines = [
        f"{report.assignment}: autograded {len(graded)}, skipped {len(skipped)} (already "
        f"autograded), failed {len(failed)}; {report.seconds:.1f} s with {report.jobs} "
        f"worker(s)."
    ]
    if graded:
        mean = sum(o.seconds for o in graded) / len(graded)
        lines[0] += f" A worker took {mean:.1f} s per submission on average."
    if report.interrupted:
        left = len(report.by_status("interrupted"))
        lines.append(f"Interrupted with {left} submission(s) left: rerun the same command.")
    if failed:
        lines.append(f"Could not grade {len(failed)} submission(s):")
        for outcome in failed:
            lines.append(f"  {outcome.student}: {outcome.reason}")
            lines += [f"    also: {note}" for note in outcome.notes]
            if verbose and outcome.log_tail:
                lines += ["    " + line for line in outcome.log_tail.splitlines()]
    noted = [o for o in graded if o.notes]
    if noted:
        lines.append(f"Graded with warnings ({len(noted)}):")
        for outcome in noted:
            lines += [f"  {outcome.student}: {note}" for note in outcome.notes]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnnkit-autograde",
        description="Autograde every submission of an nbgrader assignment on all cores, with "
        "the same scores as `nbgrader autograde`. Other --Class.trait=value options are "
        "passed to nbgrader.",
    )
    parser.add_argument("assignment", help="assignment id (submitted/*/<assignment>/)")
    parser.add_argument("--course-dir", default=".", help="nbgrader course directory [.]")
    parser.add_argument(
        "--jobs", "-j", type=int, default=None, help="worker processes [all available cores]"
    )
    parser.add_argument(
        "--student",
        nargs="+",
        action="extend",
        default=None,
        metavar="ID",
        help="grade only these students",
    )
    parser.add_argument(
        "--force", action="store_true", help="regrade submissions that are already autograded"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show nbgrader's log for every failure"
    )
    return parser


def main(argv=None) -> int:
    """Console script ``dnnkit-autograde``; returns the exit code."""
    args, nbgrader_args = _parser().parse_known_args(argv)
    bad = [a for a in nbgrader_args if not a.startswith("--")]
    if bad:
        _parser().error(f"unrecognized arguments: {' '.join(bad)}")
    try:
        report = autograde_batch(
            args.assignment,
            args.course_dir,
            jobs=args.jobs,
            students=args.student,
            force=args.force,
            nbgrader_args=nbgrader_args,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"dnnkit-autograde: error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, verbose=args.verbose))
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
