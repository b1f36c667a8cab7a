"""The class report's tables: the same rows in the HTML page and in the CSV files beside it."""

from __future__ import annotations

import csv
import os
import statistics
from dataclasses import dataclass, field

from .collect import ClassData

__all__ = ["Table", "build_tables", "score_summary", "write_csv"]

#: Failure messages of a test cell shown in the cells table (all of them are in failures.csv).
TOP_MESSAGES = 3
#: Slowest submissions listed.
SLOWEST = 5


@dataclass
class Table:
    """One table of the report.

    Attributes
    ----------
    name : str
        File stem of its CSV (``<name>.csv``).
    title : str
    columns : list of str
    rows : list of list
    empty : str
        What the page says when there are no rows (or why the data is unavailable).
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    empty: str = "None."


def _number(value: float | None, digits: int = 4):
    """A number as the CSV writes it: rounded, integers without ``.0``, None as ''."""
    if value is None:
        return ""
    value = round(float(value), digits)
    return int(value) if value.is_integer() else value


def score_summary(data: ClassData) -> dict[str, object]:
    """Count, maximum, mean and median of the graded submissions' scores."""
    values = [s.score for s in data.scores if s.graded]
    return {
        "graded": len(values),
        "not_graded": len(data.scores) - len(values) + len(_failed_records(data)),
        "max_score": _number(data.max_score),
        "mean": _number(statistics.fmean(values)) if values else "",
        "median": _number(statistics.median(values)) if values else "",
    }


def _scores(data: ClassData) -> Table:
    rows = [[s.student, _number(s.score), _number(s.max_score), s.graded] for s in data.scores]
    return Table("scores", "Scores", ["student", "score", "max_score", "graded"], rows)


def _cells(data: ClassData) -> Table:
    rows = []
    for t in data.cells:
        top = "; ".join(
            f"{g.message} ({g.count}, e.g. {g.example})" for g in t.failures[:TOP_MESSAGES]
        )
        rows.append(
            [t.notebook, t.name, _number(t.points), t.kind, t.graded, t.passed]
            + [_number(t.pass_rate), top]
        )
    columns = ["notebook", "cell", "points", "tests", "graded", "passed", "pass_rate"]
    return Table("cells", "Test cells", [*columns, "top_failures"], rows)


def _failures(data: ClassData) -> Table:
    rows = [
        [t.notebook, t.name, g.message, g.count, g.example] for t in data.cells for g in t.failures
    ]
    columns = ["notebook", "cell", "message", "count", "example_student"]
    return Table("failures", "Failure messages (by first line)", columns, rows)


def _integrity(data: ClassData) -> Table:
    by_rule: dict[str, list] = {}
    for hit in data.integrity:
        by_rule.setdefault(hit.rule, []).append(hit)
    rows = []
    for rule, hits in sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        students = sorted({h.student for h in hits})
        cells = sorted({f"{h.notebook}/{h.cell}" for h in hits})
        rows.append([rule, len(hits), len(students), " ".join(students), " ".join(cells)])
    columns = ["rule", "cells_refused", "student_count", "students", "cells"]
    return Table("integrity", "Integrity rules broken", columns, rows, "No answer was refused.")


def _events(data: ClassData) -> Table:
    rows = [[e.kind, e.student, e.notebook, e.cell, e.message] for e in data.events]
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return Table(
        "limits",
        "Sandbox and time limits hit",
        ["kind", "student", "notebook", "cell", "message"],
        rows,
        "No cell hit a time or sandbox limit, and no output was cut.",
    )


def _failed_records(data: ClassData) -> dict:
    """Batch records of submissions that are not graded and not in the gradebook."""
    if data.record is None:
        return {}
    known = {s.student for s in data.scores}
    return {
        e.student: e
        for e in data.record.submissions.values()
        if e.status in ("failed", "interrupted") and e.student not in known
    }


def _ungraded(data: ClassData) -> Table:
    records = data.record.submissions if data.record is not None else {}
    rows = [[s, "missing", "on the roster, no submission"] for s in data.missing]
    for student, why in data.unreadable.items():
        entry = records.get(student)
        if entry is not None and entry.status in ("failed", "interrupted"):
            rows.append([student, entry.status, entry.reason or why])
        else:
            rows.append([student, "not graded", why])
    for entry in _failed_records(data).values():
        rows.append([entry.student, entry.status, entry.reason or "interrupted"])
    rows.sort(key=lambda r: (r[1], r[0]))
    empty = "Every submission was graded."
    if data.record is None:
        empty += " (Malformed submissions are known only from a batch record: none found.)"
    return Table("ungraded", "Not graded", ["student", "status", "reason"], rows, empty)


def _timing(data: ClassData) -> Table:
    columns = ["student", "seconds", "worker"]
    if data.record is None:
        why = (
            "Unavailable: no batch record (reports/<assignment>/batch.json); run dnnkit-autograde."
        )
        return Table("timing", "Grading time per submission", columns, [], why)
    entries = [e for e in data.record.submissions.values() if e.status == "graded"]
    entries.sort(key=lambda e: (-e.seconds, e.student))
    rows = [[e.student, _number(e.seconds, 3), e.worker] for e in entries]
    return Table("timing", "Grading time per submission (slowest first)", columns, rows)


def timing_summary(data: ClassData) -> dict[str, object]:
    """Median and slowest grading times from the batch record (empty without one)."""
    if data.record is None:
        return {}
    seconds = sorted(
        (e.seconds for e in data.record.submissions.values() if e.status == "graded"),
        reverse=True,
    )
    return {
        "median_seconds": _number(statistics.median(seconds), 3) if seconds else "",
        "slowest_seconds": " ".join(str(_number(s, 3)) for s in seconds[:SLOWEST]),
    }


def _summary(data: ClassData) -> Table:
    rows = [["assignment", data.assignment], *score_summary(data).items()]
    rows += list(timing_summary(data).items())
    run = data.record.last_run if data.record is not None else None
    rows.append(["command", run.command if run else "unavailable (no batch record)"])
    rows.append(["batch_finished", run.finished if run else ""])
    return Table("summary", "Summary", ["key", "value"], [list(r) for r in rows])


def build_tables(data: ClassData) -> list[Table]:
    """Every table of the report, in page order."""
    return [
        _summary(data),
        _scores(data),
        _cells(data),
        _failures(data),
        _integrity(data),
        _events(data),
        _ungraded(data),
        _timing(data),
    ]


def write_csv(table: Table, folder: str) -> str:
    """Write ``table`` as ``<folder>/<name>.csv`` (a header row, then its rows)."""
    path = os.path.join(folder, f"{table.name}.csv")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.columns)
        writer.writerows(table.rows)
    return path
