"""What the batches of an assignment did, kept beside its report (``batch.json``).

A batch's :class:`~dnnkit_autograde.report.BatchReport` lives only as long as the command; the
gradebook has no place for a submission that could not be graded, nor for grading times. So
``dnnkit-autograde`` merges each batch's outcomes into ``reports/<assignment>/batch.json``, and
a report written later on demand shows them. A submission skipped by a batch (already graded,
unchanged) keeps the record of the batch that graded it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field

__all__ = ["BatchRecord", "BatchRun", "SubmissionRecord", "load_record", "merge_batch"]

#: Batches kept in the record's history (the newest last).
MAX_RUNS = 20


@dataclass
class SubmissionRecord:
    """The latest fate of one student's submission, as a batch saw it.

    Attributes
    ----------
    student, status, reason : str
        As in :class:`~dnnkit_autograde.report.Outcome` (status is its string value).
    notes : list of str
    seconds : float
        Time the worker spent grading it (0 when it was not graded).
    worker : str
    finished : str
        When the batch that recorded it ended (ISO 8601, UTC).
    """

    student: str
    status: str
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    worker: str = ""
    finished: str = ""


@dataclass
class BatchRun:
    """One ``dnnkit-autograde`` command: what ran, when, how long, on how many workers."""

    command: str
    finished: str
    jobs: int
    seconds: float
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchRecord:
    """Every batch of an assignment: the runs and each student's latest outcome."""

    assignment: str
    runs: list[BatchRun] = field(default_factory=list)
    submissions: dict[str, SubmissionRecord] = field(default_factory=dict)

    @property
    def last_run(self) -> BatchRun | None:
        return self.runs[-1] if self.runs else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> BatchRecord:
        return cls(
            assignment=str(data["assignment"]),
            runs=[BatchRun(**run) for run in data.get("runs", [])],
            submissions={
                student: SubmissionRecord(**entry)
                for student, entry in data.get("submissions", {}).items()
            },
        )


def load_record(path: str) -> BatchRecord | None:
    """The record at ``path``; None when there is none (no batch wrote one)."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return BatchRecord.from_dict(json.load(fh))


def merge_batch(path: str, report, command: str) -> BatchRecord:
    """Merge a batch's outcomes into the record at ``path`` (created when missing), save it in
    one rename, and return it.

    Parameters
    ----------
    path : str
        The record file (``reports/<assignment>/batch.json``).
    report : BatchReport
        The batch that just ended.
    command : str
        The command line that produced it, as the instructor typed it.
    """
    record = load_record(path) or BatchRecord(report.assignment)
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        status = getattr(outcome.status, "value", str(outcome.status))
        counts[status] = counts.get(status, 0) + 1
        if status == "skipped" and outcome.student in record.submissions:
            continue  # the batch that graded it says more
        record.submissions[outcome.student] = SubmissionRecord(
            student=outcome.student,
            status=status,
            reason=outcome.reason,
            notes=list(outcome.notes),
            seconds=round(float(outcome.seconds), 3),
            worker=outcome.worker,
            finished=finished,
        )
    run = BatchRun(command, finished, report.jobs, round(report.seconds, 3), report.interrupted)
    run.counts = counts
    record.runs = [*record.runs, run][-MAX_RUNS:]
    _save(path, record)
    return record


def _save(path: str, record: BatchRecord) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".batch-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(record.to_json())
    os.replace(partial, path)
