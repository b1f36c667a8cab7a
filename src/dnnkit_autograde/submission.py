"""Malformed submissions: what is wrong with a student's folder, before anything is graded.

Read only: nothing is changed. The batch grader reports these to the instructor (a notebook
that is not valid JSON, a wrong file name, missing cells) instead of failing silently.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class ProblemKind(str, Enum):
    """The kinds of :class:`Problem`; the first five stop a notebook from being graded."""

    MISSING_NOTEBOOK = "missing-notebook"
    INVALID_JSON = "invalid-json"
    INVALID_NOTEBOOK = "invalid-notebook"
    TOO_LARGE = "too-large"
    NOT_A_FILE = "not-a-file"
    UNEXPECTED_FILE = "unexpected-file"
    MISSING_CELLS = "missing-cells"
    NO_NBGRADER_CELLS = "no-nbgrader-cells"


def _grade_id(cell) -> str | None:
    """A raw (unvalidated) cell's grade_id: the metadata may be anything here."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    value = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return value if isinstance(value, str) else None


class NotRead(Exception):
    """A file of a student's folder that the grader does not read; ``reason`` says why
    ("a link, not a file", "over the size limit (25.0 MB)"...)."""

    def __init__(self, reason: str, *, too_large: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def read_submitted_file(path, limit: int | None = None, *, follow_links: bool = False) -> bytes:
    """The bytes of a file of a student's folder, read the one way the grader reads them: a
    regular file only (a FIFO is never waited on, a device never read), not through a link
    unless ``follow_links``, and never more than ``limit`` bytes (the read stops there).

    Raises
    ------
    NotRead
        With the reason, when the file is not read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path) and not follow_links:
            raise NotRead("a link, not a file") from None
        raise NotRead(f"not readable ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRead("not a regular file")
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise NotRead(f"over the size limit ({info.st_size / 1e6:.1f} MB)", too_large=True)
    return data


@dataclass(frozen=True)
class Problem:
    """Something wrong with a submission, for the instructor's report."""

    kind: str  # a ProblemKind value
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check_submission(
    folder, expected_notebooks, *, grade_ids=None, max_notebook_bytes: int | None = None
) -> list[Problem]:
    """What is wrong with one student's submission folder (read only; nothing is changed).

    Parameters
    ----------
    folder : path
        ``submitted/<student>/<assignment>``.
    expected_notebooks : iterable of str
        The notebook names of the assignment, without ``.ipynb``.
    grade_ids : dict, optional
        Notebook name -> the ``grade_id`` of its solution and test cells; reports the missing
        ones (nbgrader restores the tests, the answers are simply missing).
    max_notebook_bytes : int, optional
        A notebook larger than this is reported and not read (nor graded: the batch does not
        send it); so is one that is not a regular file (:func:`read_submitted_file`).
    """
    folder = Path(folder)
    problems: list[Problem] = []
    present = {p.name for p in folder.glob("*.ipynb")} if folder.is_dir() else set()
    expected = [f"{name}.ipynb" for name in expected_notebooks]
    for filename in expected:
        if filename not in present:
            others = sorted(present - set(expected))
            hint = (
                f" Found {', '.join(map(repr, others))} instead: rename it to {filename!r} "
                "(nbgrader grades notebooks by file name)."
                if others
                else ""
            )
            problems.append(
                Problem(
                    ProblemKind.MISSING_NOTEBOOK, str(folder / filename), f"not submitted.{hint}"
                )
            )
    for filename in sorted(present - set(expected)):
        problems.append(
            Problem(
                ProblemKind.UNEXPECTED_FILE,
                str(folder / filename),
                f"not part of the assignment (expected {', '.join(expected)}); it is not graded.",
            )
        )
    for filename in sorted(present & set(expected)):
        path = folder / filename
        try:
            data = read_submitted_file(path, max_notebook_bytes or None)
        except NotRead as exc:
            if exc.too_large:
                limit = f"{(max_notebook_bytes or 0) / 1e6:.1f} MB"
                message = (
                    f"is {exc.reason}: the course's limit is {limit} per file "
                    "(CourseDirectory.max_file_size); it is not graded."
                )
                problems.append(Problem(ProblemKind.TOO_LARGE, str(path), message))
            else:
                message = f"is {exc.reason}; it is not graded."
                problems.append(Problem(ProblemKind.NOT_A_FILE, str(path), message))
            continue
        ids = (grade_ids or {}).get(filename[: -len(".ipynb")])
        problems += _notebook_problems(path, data, ids)
    return problems


def _notebook_problems(path: Path, data: bytes, grade_ids) -> list[Problem]:
    import nbformat

    try:
        text = data.decode("utf-8")
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [
            Problem(
                ProblemKind.INVALID_JSON, str(path), f"is not a valid notebook file (JSON: {exc})."
            )
        ]
    try:
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [
            Problem(ProblemKind.INVALID_NOTEBOOK, str(path), f"is not a valid notebook: {first}")
        ]
    ids = {_grade_id(c) for c in nb.cells} - {None}
    if not ids:
        return [
            Problem(
                ProblemKind.NO_NBGRADER_CELLS,
                str(path),
                "has none of the assignment's cells (was it copied into a new notebook?); "
                "the tests are put back but the answers cannot be found.",
            )
        ]
    missing = sorted(set(grade_ids or ()) - ids)
    if missing:
        return [
            Problem(ProblemKind.MISSING_CELLS, str(path), f"cells missing: {', '.join(missing)}.")
        ]
    return []
