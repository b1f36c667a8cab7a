"""Autograde a whole nbgrader assignment on a Dask cluster: ``dnnkit-autograde <assignment>``.

Scores are those of ``nbgrader autograde`` because every submission is graded by nbgrader's own
``Autograde`` converter with the course's ``nbgrader_config.py`` (all its preprocessors), one
submission per Dask task (``dnnkit_autograde.tasks``). By default the cluster is local
(single-threaded worker processes, a quarter more than cores: ``cluster.local_workers``);
``--scheduler ADDRESS`` uses an existing one.

Workers share no file system with this process, the coordinator: a task carries the course's
configuration, the assignment's source folder and a snapshot of the gradebook (shipped once per
worker) and one submission folder, all as bytes, and returns the autograded folder as bytes with
the gradebook fields the run changed. The coordinator is the only writer of the gradebook and of
``autograded/``: it records each result as it arrives, through nbgrader's ``Gradebook`` API with
update-or-create merges (``dnnkit_autograde.gradebook``), then installs the autograded folder in
one rename. So each submission is recorded in full or not at all: an interrupted batch resumes
(a rerun skips submissions whose autograded folder and gradebook row exist with the submitted
timestamp), and a lost worker costs only a rerun of its tasks, which Dask reschedules; a result
that arrives twice is recorded once. ``submitted/`` is only read: each submission when its task
is sent, twice the cluster's threads in flight, within nbgrader's ``CourseDirectory``
``max_file_size`` and ``max_dir_size``; so what the coordinator holds stays bounded however
large the class, or a student's files.

Why this design: nbgrader saves grades from inside its preprocessor chain (``SaveAutoGrades``),
so each worker grades against its own copy of the gradebook; SQLite has one writer at a time and
nbgrader's find-or-create steps are not atomic across processes, so only the coordinator writes.
"""

from __future__ import annotations

import argparse
import gc
import glob
import itertools
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field

from dnnkit_autograde.cluster import (
    ClusterSpec,
    ClusterUnavailable,
    available_cores,
    connect,
    local_workers,
    worker_count,
)
from dnnkit_autograde.gradebook import (
    GRADEBOOK_FIELDS,
    merge_into_gradebook,
    open_gradebook,
    snapshot,
)
from dnnkit_autograde.report import BatchReport, Outcome, Status, format_report
from dnnkit_autograde.submission import (
    NotRead,
    ProblemKind,
    check_submission,
    read_submitted_file,
)
from dnnkit_autograde.tasks import (
    FATAL_PROBLEMS,
    CoursePayload,
    Finding,
    SubmissionPayload,
    grade,
    hold,
    pack_folder,
    quiet_logger,
    unpack_files,
)

__all__ = [
    "GRADEBOOK_FIELDS",
    "BatchReport",
    "Outcome",
    "Status",
    "autograde_batch",
    "format_report",
    "main",
    "merge_into_gradebook",
]

log = logging.getLogger("dnnkit_autograde.batch")

#: Bytes read of a submission's ``timestamp.txt`` at most (nbgrader writes about 30).
TIMESTAMP_MAX_BYTES = 1000

#: nbgrader option that runs the grading kernels without the OS sandbox.
NO_SANDBOX_ARG = "--GuardedExecute.sandbox=False"

NO_SANDBOX_WARNING = """\
!!! dnnkit-autograde --no-sandbox: student code runs WITHOUT the OS sandbox. !!!
!!! It runs as you, with your files, the network and no resource limits: a    !!!
!!! hostile submission can read the hidden tests, change the gradebook or the !!!
!!! course, or stop the batch. Use only for submissions you trust.            !!!"""

_PARTIAL_SUFFIX = ".dnnkit-partial"


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
    from nbgrader.utils import chdir

    with chdir(course_dir):
        app = AutogradeApp()
        app.log = quiet_logger("dnnkit-autograde.config")
        app.initialize(list(nbgrader_args))
        if app.extra_args:
            raise ValueError(
                f"unexpected nbgrader arguments {app.extra_args!r}: pass nbgrader options as "
                "--Class.trait=value"
            )
    coursedir = app.coursedir
    coursedir.root = os.path.abspath(coursedir.root or course_dir)
    return app.config, coursedir


def _check_layout(coursedir) -> None:
    """The workers' scratch courses mirror the real one, so every step folder must be
    relative, and the gradebook a SQLite file the coordinator can snapshot."""
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
    if not os.path.lexists(path):
        return None
    try:  # a student's file: a link, a FIFO or a huge file is not a timestamp
        text = read_submitted_file(path, TIMESTAMP_MAX_BYTES).decode(errors="replace").strip()
    except NotRead:
        return "invalid"
    try:
        return parse_utc(text) if text else None
    except (ValueError, OverflowError):
        return "invalid"


def _gradebook_view(coursedir, assignment: str) -> tuple[list[str], dict[str, set[str]], set[str]]:
    """From the real gradebook: the assignment's notebook names, the grade ids of each
    notebook's tracked cells, and the students who already have a submission."""
    from nbgrader.api import MissingEntry

    with open_gradebook(coursedir.db_url, coursedir.course_id) as gb:
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


def _precheck(
    folder: str, notebooks, grade_ids, max_notebook_bytes: int | None
) -> tuple[list[Finding], set[str]]:
    """Problems with a submission folder, from ``dnnkit_autograde.submission.check_submission``
    (kinds: "missing-notebook", "invalid-json", "too-large", ...), and the notebooks that
    will not be read nor sent (too large, or not regular files)."""
    try:
        problems = check_submission(
            folder, notebooks, grade_ids=grade_ids, max_notebook_bytes=max_notebook_bytes
        )
    except Exception as exc:  # noqa: BLE001 - a report must not stop the batch
        why = f"could not check the folder ({type(exc).__name__}: {exc})"
        return [Finding("unchecked", why)], set()
    findings = [
        Finding(getattr(p.kind, "value", p.kind), f"{os.path.basename(p.path)} {p.message}")
        for p in problems
    ]
    unread = (ProblemKind.TOO_LARGE, ProblemKind.NOT_A_FILE)
    return findings, {os.path.basename(p.path) for p in problems if p.kind in unread}


@dataclass(frozen=True)
class PlannedSubmission:
    """A submission to grade: its folder, what the coordinator found wrong with it, and the
    size limits its payload is read with. Read only when its task is sent (``payload``), so
    the coordinator holds the bytes of the submissions in flight, not of the whole class."""

    student: str
    folder: str
    findings: tuple[Finding, ...]
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None

    def payload(self) -> SubmissionPayload:
        """The task's payload: the folder's files as bytes (within the limits), with a
        "not-sent" finding for each file left out."""
        packed = pack_folder(
            self.folder, max_file_bytes=self.max_file_bytes, max_total_bytes=self.max_total_bytes
        )
        left_out = [Finding("not-sent", f"{rel} is {why}") for rel, why in packed.not_sent.items()]
        return SubmissionPayload(self.student, packed.files, (*self.findings, *left_out))


@dataclass
class Plan:
    """A batch before it runs: the submissions to grade and the outcomes already known
    (skipped, or failed before grading)."""

    todo: dict[str, PlannedSubmission] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def plan_batch(coursedir, assignment: str, students=None, force: bool = False) -> Plan:
    """Which submissions of ``assignment`` to grade (their files are read later, when sent)."""
    notebooks, grade_ids, graded_in_db = _gradebook_view(coursedir, assignment)
    found = find_submissions(coursedir, assignment)
    # nbgrader's own limits on what it copies (kB of 1000 bytes; 0: none), here per file and
    # per submission: what the coordinator reads and sends stays bounded
    max_file, max_total = 1000 * coursedir.max_file_size, 1000 * coursedir.max_dir_size
    plan = Plan()
    if students:
        for student in sorted(set(students) - set(found)):
            plan.outcomes[student] = Outcome(
                student, Status.FAILED, reason="no submission folder for this student"
            )
        found = {s: p for s, p in found.items() if s in set(students)}
    for student, folder in found.items():
        if not force and _already_graded(coursedir, assignment, student, folder, graded_in_db):
            plan.outcomes[student] = Outcome(student, Status.SKIPPED, reason="already autograded")
            continue
        problems, unread = _precheck(folder, notebooks, grade_ids, max_file)
        notebooks_here = glob.glob(os.path.join(glob.escape(folder), "*.ipynb"))
        if not set(map(os.path.basename, notebooks_here)) - unread:
            # nbgrader skips such a folder without a word; the report must not.
            fatal = [str(p) for p in problems if p.kind in FATAL_PROBLEMS]
            reason = "; ".join(fatal or [str(p) for p in problems]) or "no notebook"
            plan.outcomes[student] = Outcome(student, Status.FAILED, reason=reason)
            continue
        plan.todo[student] = PlannedSubmission(
            student, folder, tuple(problems), max_file or None, max_total or None
        )
    return plan


def course_payload(course_dir: str, coursedir, assignment: str, nbgrader_args) -> CoursePayload:
    """What every task needs from the course: configuration, source folder, gradebook."""
    config = b""
    for folder in (course_dir, coursedir.root):
        path = os.path.join(folder, "nbgrader_config.py")
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                config = fh.read()
            break
    source_dir = coursedir.format_path(coursedir.source_directory, ".", assignment)
    source = pack_folder(source_dir, follow_links=True).files
    return CoursePayload(
        assignment=assignment,
        config=config,
        source=source,
        gradebook=snapshot(_sqlite_path(coursedir.db_url)),
        nbgrader_args=tuple(nbgrader_args),
    )


# ===================================================================================== batch
def autograde_batch(
    assignment: str,
    course_dir=".",
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 60.0,
    students=None,
    force: bool = False,
    nbgrader_args=(),
    progress: bool = True,
) -> BatchReport:
    """Autograde every submission of ``assignment`` on a Dask cluster.

    Parameters
    ----------
    assignment : str
        The assignment id (``submitted/*/<assignment>/``).
    course_dir : path
        The nbgrader course directory (where ``nbgrader autograde`` would be run).
    jobs : int, optional
        Worker processes of the local cluster; default: ``local_workers`` of the cores this
        process may use (2 cores: 3).
    scheduler : str, optional
        Address of an existing Dask scheduler; then ``jobs`` is not used.
    connect_timeout : float
        Seconds to wait for the scheduler and for a first worker.
    students : iterable of str, optional
        Grade only these students.
    force : bool
        Regrade submissions that were already autograded and have not changed.
    nbgrader_args : sequence of str
        Extra nbgrader options, e.g. ``["--GuardedExecute.timeout=120"]``.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    BatchReport
    """
    start = time.perf_counter()
    course_dir = os.path.abspath(course_dir)
    jobs = jobs or local_workers(available_cores())
    if jobs < 1:
        raise ValueError(f"jobs must be a positive number of processes, got {jobs}")
    _, coursedir = load_nbgrader_config(course_dir, nbgrader_args)
    _check_layout(coursedir)
    plan = plan_batch(coursedir, assignment, students, force)
    interrupted, workers = False, min(jobs, max(len(plan.todo), 1))
    if plan.todo:
        course = course_payload(course_dir, coursedir, assignment, nbgrader_args)
        spec = ClusterSpec(scheduler, workers, connect_timeout)
        interrupted, workers = _run(spec, course, plan, coursedir, progress)
    ordered = [plan.outcomes[s] for s in sorted(plan.outcomes)]
    return BatchReport(assignment, workers, time.perf_counter() - start, ordered, interrupted)


def _run(spec: ClusterSpec, course: CoursePayload, plan: Plan, coursedir, progress: bool):
    """Grade ``plan.todo`` on the cluster, recording each result as it arrives.

    Returns
    -------
    interrupted : bool
    workers : int
        Workers of the cluster when the batch started.
    """
    interrupted, workers = False, spec.workers
    try:
        with connect(spec) as client:
            workers = worker_count(client)
            # After the local workers are forked: they must not inherit these handlers.
            _STOP.clear()
            previous = {sig: signal.signal(sig, _raise_interrupt) for sig in _STOP_SIGNALS}
            try:
                _grade_all(client, course, plan, coursedir, progress)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    except KeyboardInterrupt:  # while connecting or shutting down
        interrupted = True
    for student in plan.todo:
        plan.outcomes.setdefault(student, Outcome(student, Status.INTERRUPTED))
    return interrupted, workers


#: Set by Ctrl-C or SIGTERM during a batch. The handler also raises KeyboardInterrupt, but
#: Python drops an exception raised inside a garbage-collector callback (Dask installs one),
#: so the batch checks this flag after every result too.
_STOP = threading.Event()
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum, frame):
    _STOP.set()
    raise KeyboardInterrupt


def _grade_all(client, course: CoursePayload, plan: Plan, coursedir, progress: bool) -> None:
    """Send one task per submission, a window at a time (``send_more``); record each result
    once, in the order they finish."""
    from distributed import as_completed
    from tqdm import tqdm

    assignment, batch = course.assignment, uuid.uuid4().hex[:12]  # keys unique per batch
    with warnings.catch_warnings():  # the course's share is big on purpose, and sent once
        warnings.filterwarnings("ignore", message=".*[Ll]arge graph", category=UserWarning)
        shared = client.submit(hold, course, key=f"dnnkit-course-{assignment}-{batch}", pure=False)
    bar = tqdm(
        total=len(plan.todo),
        desc=f"autograde {assignment}",
        unit="nb",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    waiting = iter(enumerate(plan.todo.values()))
    futures: dict = {}
    finished = as_completed()

    def send_more() -> None:
        """Keep the tasks in flight at twice the cluster's threads (at least 4): every worker
        has its next submission at hand, and only those are in memory here and in the
        scheduler. The cluster is asked again as it grows or shrinks."""
        room = max(4, 2 * sum(client.nthreads().values())) - len(futures)
        for i, planned in itertools.islice(waiting, max(room, 0)):
            try:
                payload = planned.payload()
            except OSError as exc:  # the folder went away since the plan
                reason = f"could not read the submission ({type(exc).__name__}: {exc})"
                plan.outcomes[planned.student] = Outcome(
                    planned.student, Status.FAILED, reason=reason
                )
                bar.update(1)
                continue
            key = f"dnnkit-grade-{batch}-{i}"
            future = client.submit(grade, shared, payload, key=key, pure=False)
            futures[future] = planned.student
            finished.add(future)

    try:
        send_more()
        with open_gradebook(coursedir.db_url, coursedir.course_id) as gb:
            for future in finished:
                student = futures.pop(future, None)
                # None, or already recorded: a result seen before (Dask may report a rerun
                # task again)
                if student is not None and student not in plan.outcomes:
                    outcome = _result(future, student)
                    future.release()
                    _record_safely(gb, coursedir, assignment, outcome)
                    plan.outcomes[student] = outcome
                    bar.update(1)
                    failed = sum(o.status == Status.FAILED for o in plan.outcomes.values())
                    bar.set_postfix(failed=failed, refresh=False)
                if _STOP.is_set():
                    raise KeyboardInterrupt
                send_more()  # after recording: at most the window is in flight
    finally:
        bar.close()
        client.cancel([*futures, shared], force=True)


def _result(future, student: str) -> Outcome:
    from distributed import KilledWorker

    try:
        outcome = future.result()
    except KilledWorker:
        return Outcome(
            student,
            Status.FAILED,
            reason="the Dask workers grading it died repeatedly (distributed.scheduler."
            "allowed-failures); not graded",
        )
    except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
        return Outcome(student, Status.FAILED, reason=f"{type(exc).__name__}: {exc}")
    if not isinstance(outcome, Outcome) or outcome.student != student:
        return Outcome(student, Status.FAILED, reason="the worker returned another result")
    return outcome


def _record_safely(gb, coursedir, assignment: str, outcome: Outcome) -> None:
    try:
        _record(gb, coursedir, assignment, outcome)
    except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
        gb.db.rollback()
        outcome.status = Status.FAILED
        outcome.reason = f"could not record the result ({type(exc).__name__}: {exc})"
    outcome.changes = None
    outcome.files = None


def _record(gb, coursedir, assignment: str, outcome: Outcome) -> None:
    """Write one outcome into the real course: gradebook first, then the autograded folder
    (its presence is what marks the submission as done)."""
    dest = coursedir.format_path(coursedir.autograded_directory, outcome.student, assignment)
    if outcome.changes is not None:
        merge_into_gradebook(gb, assignment, outcome.student, outcome.changes)
    if outcome.status == Status.GRADED and outcome.files is not None:
        _install(outcome.files, dest)
    elif outcome.attempted:
        _remove_tree(dest)  # as nbgrader does with a submission it failed to grade


def _remove_tree(path: str) -> None:
    from nbgrader.utils import rmtree

    if os.path.lexists(path):
        rmtree(path)


def _install(files: dict[str, bytes], dest: str) -> None:
    """Write a worker's autograded folder at ``dest``, replacing the old one in one rename."""
    partial = dest.rstrip(os.sep) + _PARTIAL_SUFFIX
    _remove_tree(partial)
    os.makedirs(partial)
    unpack_files(files, partial)
    _remove_tree(dest)
    os.replace(partial, dest)


# ======================================================================================= CLI
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnnkit-autograde",
        description="Autograde every submission of an nbgrader assignment on a Dask cluster "
        "(all local cores by default), with the same scores as `nbgrader autograde`. Other "
        "--Class.trait=value options are passed to nbgrader. `dnnkit-autograde report "
        "<assignment>` writes the grading report alone.",
    )
    parser.add_argument("assignment", help="assignment id (submitted/*/<assignment>/)")
    parser.add_argument("--course-dir", default=".", help="nbgrader course directory [.]")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="worker processes of the local cluster [cores + cores/4, at least cores + 1]",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of an existing Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of a "
        "local cluster; its workers need this package and nbgrader, not the course's files",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the scheduler and a first worker [60]",
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
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help=f"run grading kernels without the OS sandbox (passes {NO_SANDBOX_ARG}); unsafe",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="do not write the grading report (reports/<assignment>/; on demand: "
        "`dnnkit-autograde report <assignment>`)",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show nbgrader's log for every failure"
    )
    return parser


def main(argv=None) -> int:
    """Console script ``dnnkit-autograde``; returns the exit code."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["report"]:
        from .class_report import main as report_main

        return report_main(argv[1:])
    args, nbgrader_args = _parser().parse_known_args(argv)
    bad = [a for a in nbgrader_args if not a.startswith("--")]
    if bad:
        _parser().error(f"unrecognized arguments: {' '.join(bad)}")
    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr, flush=True)
        log.warning("grading kernels run without the OS sandbox (--no-sandbox)")
        nbgrader_args = [*nbgrader_args, NO_SANDBOX_ARG]
    elif not args.scheduler and NO_SANDBOX_ARG not in nbgrader_args:
        from .sandbox import SandboxUnavailable, check_available

        try:  # a local cluster grades here: say once, before starting, what is missing
            check_available()
        except SandboxUnavailable as exc:
            print(f"dnnkit-autograde: error: {exc}", file=sys.stderr)
            return 2
    try:
        report = autograde_batch(
            args.assignment,
            args.course_dir,
            jobs=args.jobs,
            scheduler=args.scheduler,
            connect_timeout=args.connect_timeout,
            students=args.student,
            force=args.force,
            nbgrader_args=nbgrader_args,
            progress=not args.no_progress,
        )
    except (ValueError, ClusterUnavailable) as exc:
        print(f"dnnkit-autograde: error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, verbose=args.verbose))
    if not args.no_report:
        _write_class_report(report, args.course_dir, nbgrader_args, argv)
    return report.exit_code


def cli() -> None:
    """The console script ``dnnkit-autograde``: ``main``, then exit with its code."""
    code = main()
    # Python's last garbage collection at exit would walk every object of nbgrader, Dask and
    # SQLAlchemy (half a second on 2 cores) only to free memory that the exit frees anyway.
    gc.freeze()
    sys.exit(code)


def _write_class_report(report: BatchReport, course_dir, nbgrader_args, argv) -> None:
    """The grading report of the batch (``dnnkit_autograde.class_report``); a failure to write
    it is reported, and does not change the batch's exit code."""
    import shlex

    from .class_report import report_after_batch

    command = shlex.join(["dnnkit-autograde", *argv])
    try:
        files = report_after_batch(report, course_dir, nbgrader_args=nbgrader_args, command=command)
    except Exception as exc:  # noqa: BLE001 - the grades are recorded; the report is extra
        log.error("could not write the grading report: %s: %s", type(exc).__name__, exc)
        return
    print(f"Grading report: {files.html}")


if __name__ == "__main__":  # pragma: no cover
    cli()
