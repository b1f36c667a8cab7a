"""Malformed submissions: what is wrong with a student's folder, before anything is graded.

Read only: nothing is changed. The batch grader reports these to the instructor (a notebook
that is not valid JSON, a wrong file name, missing cells) instead of failing silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class ProblemKind(str, Enum):
    """The kinds of :class:`Problem`; the first four stop a notebook from being graded."""

    MISSING_NOTEBOOK = "missing-notebook"
    INVALID_JSON = "invalid-json"
    INVALID_NOTEBOOK = "invalid-notebook"
    TOO_LARGE = "too-large"
    UNEXPECTED_FILE = "unexpected-file"
    MISSING_CELLS = "missing-cells"
    NO_NBGRADER_CELLS = "no-nbgrader-cells"


def _grade_id(cell) -> str | None:
    """A raw (unvalidated) cell's grade_id: the metadata may be anything here."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    value = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return value if isinstance(value, str) else None


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
        send it).
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
        size = path.stat().st_size
        if max_notebook_bytes and size > max_notebook_bytes:
            message = (
                f"is {size / 1e6:.1f} MB, over the course's limit of "
                f"{max_notebook_bytes / 1e6:.1f} MB per file (CourseDirectory.max_file_size); "
                "it is not graded."
            )
            problems.append(Problem(ProblemKind.TOO_LARGE, str(path), message))
            continue
        problems += _notebook_problems(path, (grade_ids or {}).get(filename[: -len(".ipynb")]))
    return problems


def _notebook_problems(path: Path, grade_ids) -> list[Problem]:
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
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
