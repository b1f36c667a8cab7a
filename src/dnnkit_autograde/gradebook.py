"""The gradebook side of a batch: what an autograde run changed, and merging it into the course.

A worker grades in a scratch course whose gradebook is a copy of the course's; it reports the
fields nbgrader's run changed (``submission_state`` before and after, ``diff``). The
coordinator, the only writer of the real gradebook, applies them with ``merge_into_gradebook``
(update-or-create, idempotent), so a result recorded twice or after an interruption gives the
same gradebook.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import warnings
from pathlib import Path

__all__ = [
    "GRADEBOOK_FIELDS",
    "diff",
    "merge_into_gradebook",
    "open_gradebook",
    "snapshot",
    "submission_state",
]

#: The gradebook columns an autograde run may change, per table, in nbgrader 0.9: every column
#: that is not a key. The coordinator copies exactly these from the worker's gradebook.
GRADEBOOK_FIELDS = {
    "submission": ("timestamp", "extension"),
    "notebook": ("flagged", "late_submission_penalty"),
    "grade": ("auto_score", "manual_score", "extra_credit", "needs_manual_grade"),
    "comment": ("auto_comment", "manual_comment"),
}


@contextlib.contextmanager
def open_gradebook(db_url: str, course_id: str):
    """nbgrader's ``Gradebook``, closed and its connections released on exit."""
    from nbgrader.api import Gradebook

    gb = Gradebook(db_url, course_id)
    try:
        yield gb
    finally:
        gb.close()
        gb.engine.dispose()


def _row(obj, table: str) -> dict:
    return {name: getattr(obj, name) for name in GRADEBOOK_FIELDS[table]}


def submission_state(gb, assignment: str, student: str) -> dict | None:
    """Every autograde-writable field of one submission, keyed by names (not database ids).

    Returns
    -------
    dict or None
        ``{"submission": {...}, "notebooks": {nb: {"notebook": {...}, "grade": {cell: {...}},
        "comment": {cell: {...}}}}}``; None when the gradebook has no such submission.
    """
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


def diff(before: dict | None, after: dict | None) -> dict | None:
    """The part of ``after`` that differs from ``before`` (all of it for a new submission).

    Returns
    -------
    dict or None
        ``{"new": bool, "submission": {...}, "notebooks": {...}}`` with only the changed
        fields; None when the run did not touch the submission.
    """
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
    """Write a worker's changes into the real gradebook.

    Creates the student and submission when missing (as ``nbgrader autograde`` does), then
    sets the changed fields. Idempotent: merging the same changes twice gives the same
    gradebook.
    """
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


def snapshot(db_path: str) -> bytes:
    """A consistent copy of a SQLite file as bytes, even while another program has it open."""
    source = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=ro", uri=True)
    with tempfile.TemporaryDirectory(prefix="dnnkit-gradebook-") as scratch:
        target = os.path.join(scratch, "gradebook.db")
        copy = sqlite3.connect(target)  # Connection.serialize would need Python 3.11
        try:
            with copy:
                source.backup(copy)
        finally:
            source.close()
            copy.close()
        return Path(target).read_bytes()
