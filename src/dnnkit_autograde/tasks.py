"""One grading task as a Dask worker runs it, sharing no file system with the coordinator.

A task is two payloads of bytes: the course's share (``CoursePayload``: its
``nbgrader_config.py``, every file of the assignment's source folder, a snapshot of the
gradebook and the extra nbgrader options; one per batch, shipped once to each worker) and one
submission (``SubmissionPayload``: the student's folder). ``grade`` rebuilds a scratch course
from them in the worker's own directory, runs nbgrader's ``Autograde`` converter (every
preprocessor of the course's configuration), and returns an ``Outcome`` carrying the autograded
folder as bytes and the gradebook fields the run changed. It writes nothing the coordinator
reads; the scratch course is deleted when the task ends.

``WorkerSetup`` (a Dask worker plugin) imports nbgrader and nbconvert once per worker, when the
worker joins, and for a local cluster sends the output of kernels to a file instead of the
instructor's terminal.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import io
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from distributed import WorkerPlugin

from dnnkit_autograde.gradebook import diff, open_gradebook, submission_state
from dnnkit_autograde.report import Outcome, Status
from dnnkit_autograde.submission import NotRead, read_submitted_file

__all__ = [
    "CoursePayload",
    "Finding",
    "PackedFolder",
    "SubmissionPayload",
    "WorkerSetup",
    "grade",
    "hold",
    "pack_folder",
    "unpack_files",
]

#: Error names that mean a cell did not finish: nbgrader's timeout error and nbclient's errors
#: for a kernel that died or stopped answering.
TIMEOUT_ERRORS = ("CellTimeoutError", "TimeoutError", "DeadKernelError")

#: Problems that stop nbgrader from grading a submission (the rest are notes on a graded one).
FATAL_PROBLEMS = (
    "missing-notebook",
    "invalid-json",
    "invalid-notebook",
    "too-large",
    "not-a-file",
)

#: Imported by ``WorkerSetup`` when a worker starts, so that no task pays for them.
PRELOAD_MODULES = (
    "nbformat",
    "nbconvert",
    "nbclient",
    "jupyter_client",
    "nbgrader.api",
    "nbgrader.apps.autogradeapp",
    "nbgrader.converters",
    "nbgrader.preprocessors",
    "dnnkit_autograde",  # the course's preprocessors
    "dnnkit_autograde.sandbox",
)


# ================================================================================= payloads
@dataclass(frozen=True)
class Finding:
    """Something wrong with a submission folder, found by the coordinator before grading
    (from ``dnnkit_autograde.submission.check_submission``, or a link that was not sent).

    ``kind`` is a check's name ("missing-notebook", "invalid-json", "not-sent", ...), ``text``
    the sentence the report shows.
    """

    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True)
class CoursePayload:
    """What every task of a batch needs from the course, as bytes.

    Attributes
    ----------
    assignment : str
    config : bytes
        The course's ``nbgrader_config.py``.
    source : dict
        The assignment's source folder: path relative to it -> bytes (every file, notebooks,
        data and the assignment's policy file alike).
    gradebook : bytes
        A snapshot of the course's gradebook (SQLite file).
    nbgrader_args : tuple of str
        Extra nbgrader options (``--Class.trait=value``).
    """

    assignment: str
    config: bytes
    source: dict[str, bytes]
    gradebook: bytes
    nbgrader_args: tuple[str, ...] = ()

    @property
    def config_key(self) -> str:
        """Names a loaded configuration in the worker's cache."""
        digest = hashlib.sha256(self.config)
        digest.update("\0".join(self.nbgrader_args).encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class SubmissionPayload:
    """One student's submission folder (path relative to it -> bytes) and what the
    coordinator found wrong with it."""

    student: str
    files: dict[str, bytes]
    findings: tuple[Finding, ...] = field(default=())


@dataclass
class PackedFolder:
    """A folder's files as bytes (``pack_folder``), and why each file left out was."""

    files: dict[str, bytes] = field(default_factory=dict)  # posix relative path -> bytes
    not_sent: dict[str, str] = field(default_factory=dict)  # posix relative path -> why


def pack_folder(
    folder,
    *,
    follow_links: bool = False,
    max_file_bytes: int | None = None,
    max_total_bytes: int | None = None,
) -> PackedFolder:
    """Every regular file under ``folder``, as ``{posix relative path: bytes}``.

    Unless ``follow_links`` (for the instructor's own folders), links are neither followed nor
    sent (a student's link could point at any file of the machine that packs). A file larger
    than ``max_file_bytes``, or that would take the total past ``max_total_bytes``, is not
    read (notebooks first, then the smaller files, so that extra files never crowd out the
    notebooks or the timestamp): a student's folder cannot fill the memory of the process
    that packs it.
    """
    packed = PackedFolder()
    root = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_links):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() and not follow_links:
                packed.not_sent[rel] = "a link, not a file"
            elif path.is_file():
                found.append((not rel.endswith(".ipynb"), path.stat().st_size, rel, path))
            elif not path.is_dir():
                packed.not_sent[rel] = "not a regular file"
    total = 0
    for _, _, rel, path in sorted(found):
        limit = max_file_bytes or None  # 0 or None: no limit, as in nbgrader
        if max_total_bytes:
            room = max(max_total_bytes - total, 0)
            limit = room if limit is None else min(limit, room)
        try:
            data = read_submitted_file(path, limit, follow_links=follow_links)
        except NotRead as exc:
            packed.not_sent[rel] = exc.reason
            continue
        packed.files[rel] = data
        total += len(data)
    return packed


def unpack_files(files: dict[str, bytes], dest) -> None:
    """Write ``files`` (from ``pack_folder``) under ``dest``; a path that would land outside
    ``dest`` is refused with ValueError."""
    dest = Path(dest)
    for rel, data in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ValueError(f"refusing to write {rel!r}: not a path inside the folder")
        path = dest.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# ============================================================================ worker set-up
_OUTPUT: dict[str, str] = {}  # "path": the file the worker's stdout and stderr go to
_CONFIGS: dict[str, object] = {}  # CoursePayload.config_key -> traitlets Config


class WorkerSetup(WorkerPlugin):
    """Runs once in each Dask worker when it joins the batch's cluster.

    Parameters
    ----------
    capture_output : bool
        Send the worker's standard output and error (nbgrader's warnings, the kernels'
        messages) to a file in the worker's directory; each task reads its own share back into
        its log. For a local cluster, whose workers would otherwise print over the progress
        bar; leave it off for a shared cluster whose administrators read the workers' logs.
    """

    name = "dnnkit-autograde"

    def __init__(self, capture_output: bool = False):
        self.capture_output = capture_output

    def setup(self, worker):
        for module in PRELOAD_MODULES:
            try:
                importlib.import_module(module)
            except ImportError:  # an optional part (the course's preprocessors are checked later)
                pass
        if self.capture_output:
            _redirect_output(os.path.join(worker.local_directory, "dnnkit-autograde-output.txt"))


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    _OUTPUT["path"] = path


def _output_mark() -> int:
    path = _OUTPUT.get("path")
    return os.path.getsize(path) if path else 0


def _output_since(mark: int) -> str:
    path = _OUTPUT.get("path")
    if not path:
        return ""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, errors="replace") as fh:
        fh.seek(mark)
        return fh.read()


def _scratch_root() -> str:
    """The worker's own directory (``dask worker --local-directory``), else the temp folder."""
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except ValueError:  # not running in a Dask worker (called directly)
        return tempfile.gettempdir()


def hold(value):
    """The identity, as a Dask task: a batch's ``CoursePayload`` lives in the scheduler's task
    graph once (recomputed if the worker holding it is lost) instead of in every task."""
    return value


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:
        return ""


def quiet_logger(name: str, stream=None) -> logging.Logger:
    """A logger outside the logging tree (nothing reaches the terminal), writing to ``stream``."""
    logger = logging.Logger(name, level=logging.INFO)
    logger.propagate = False
    if stream is not None:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        logger.addHandler(handler)
    return logger


def _load_config(course: CoursePayload):
    """The configuration ``nbgrader autograde`` would use in a course holding ``course.config``
    with the options ``course.nbgrader_args``; loaded once per worker and batch."""
    key = course.config_key
    if key not in _CONFIGS:
        from nbgrader.apps.autogradeapp import AutogradeApp

        folder = Path(_scratch_root()) / f"dnnkit-config-{key}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "nbgrader_config.py").write_bytes(course.config)
        app = AutogradeApp()
        app.log = quiet_logger("dnnkit-autograde.config")
        app.load_cwd_config = False  # the worker's working folder is not the course
        app.initialize(list(course.nbgrader_args), root=str(folder))
        _CONFIGS[key] = app.config
    return _CONFIGS[key]


# ==================================================================================== task
def grade(course: CoursePayload, submission: SubmissionPayload) -> Outcome:
    """Grade one submission with nbgrader's ``Autograde`` in a scratch course (a Dask task).

    Returns
    -------
    Outcome
        "graded" with the autograded folder's files and the gradebook changes, or "failed"
        with the reason (and the changes nbgrader made before it failed).
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dnnkit-grade-", dir=_scratch_root()) as root:
        config = _config_for(root, _load_config(course))
        coursedir = _scratch_course(root, course, config, submission)
        outcome = _autograde(coursedir, config, course.assignment, submission)
    outcome.seconds = time.perf_counter() - start
    outcome.worker = _worker_address()
    return outcome


def _config_for(root: str, config):
    """The course's configuration with this task's scratch course as its root: preprocessors
    that find course files through ``CourseDirectory(config=...)`` (the assignment's
    ``policy.toml``, the source notebook's cell order) then read this task's copy."""
    from traitlets.config import Config

    task_config = Config(copy.deepcopy(config))
    task_config.CourseDirectory.root = root
    task_config.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")
    return task_config


def _scratch_course(root: str, course: CoursePayload, config, submission: SubmissionPayload):
    """A course under ``root`` laid out as the configuration says, holding the gradebook
    snapshot, the assignment's source folder and this one submission."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    coursedir.root = root
    coursedir.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")
    coursedir.assignment_id = course.assignment
    coursedir.student_id = submission.student
    coursedir.notebook_id = "*"
    Path(root, "gradebook.db").write_bytes(course.gradebook)
    unpack_files(
        course.source, coursedir.format_path(coursedir.source_directory, ".", course.assignment)
    )
    folder = coursedir.format_path(
        coursedir.submitted_directory, submission.student, course.assignment
    )
    os.makedirs(folder, exist_ok=True)
    unpack_files(submission.files, folder)
    return coursedir


def _autograde(coursedir, config, assignment: str, submission: SubmissionPayload) -> Outcome:
    from nbgrader.converters import Autograde

    student = submission.student
    output = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    with open_gradebook(coursedir.db_url, coursedir.course_id) as gb:
        before = submission_state(gb, assignment, student)
    log, mark = io.StringIO(), _output_mark()
    converter = Autograde(coursedir=coursedir, config=config, log=quiet_logger(student, log))
    converter.force = True
    error = None
    try:
        converter.start()
    except Exception as exc:  # noqa: BLE001 - nbgrader reports failures by raising
        error = exc
    except SystemExit as exc:  # ... or by sys.exit
        error = exc
    with open_gradebook(coursedir.db_url, coursedir.course_id) as gb:
        after = submission_state(gb, assignment, student)

    outcome = Outcome(student=student, status=Status.GRADED, attempted=True)
    outcome.log_tail = _tail(log.getvalue() + _output_since(mark))
    outcome.changes = diff(before, after)
    notes = [str(p) for p in submission.findings]
    if error is None and os.path.isdir(output):
        packed = pack_folder(output)
        outcome.files = packed.files
        outcome.notes = notes + _unfinished_cells(output)
        outcome.notes += [
            f"not-sent: {rel} is {why} (not copied back)" for rel, why in packed.not_sent.items()
        ]
    else:
        fatal = [str(p) for p in submission.findings if p.kind in FATAL_PROBLEMS]
        reasons = fatal or [_error_summary(log.getvalue(), error)]
        outcome.status = Status.FAILED
        outcome.reason = "; ".join(reasons)
        outcome.notes = [n for n in notes if n not in reasons]
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
    were never run because grading of the notebook stopped (``NotRun`` errors)."""
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
