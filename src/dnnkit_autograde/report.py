"""What happened to each submission of a batch, and the summary an instructor reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["BatchReport", "Outcome", "Status", "format_report"]


class Status(str, enum.Enum):
    """The fate of one submission (compares equal to its string value)."""

    GRADED = "graded"  # nbgrader graded it, maybe with notes
    FAILED = "failed"  # it could not be graded; the outcome's reason says why
    SKIPPED = "skipped"  # already graded and unchanged since
    INTERRUPTED = "interrupted"  # the batch stopped before it was graded


@dataclass
class Outcome:
    """What happened to one student's submission.

    A worker returns one (with ``changes`` and ``files``); the coordinator records it, then
    drops those two.

    Attributes
    ----------
    student : str
    status : Status
    reason : str
        Why it failed or was skipped.
    notes : list of str
        Warnings about a graded submission (cells that did not finish, files not sent, ...).
    log_tail : str
        The end of nbgrader's log for this submission.
    seconds : float
        Time the worker spent on it.
    changes : dict or None
        Gradebook fields to write (``dnnkit_autograde.gradebook.diff``).
    files : dict or None
        The autograded folder: path relative to it -> bytes.
    attempted : bool
        nbgrader ran (so a failed run removes the old autograded folder, as nbgrader does).
    worker : str
        Address of the Dask worker that graded it.
    """

    student: str
    status: Status
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    log_tail: str = ""
    seconds: float = 0.0
    changes: dict | None = None
    files: dict[str, bytes] | None = None
    attempted: bool = False
    worker: str = ""

    def __post_init__(self):
        self.status = Status(self.status)


@dataclass
class BatchReport:
    """The outcome of every submission of one batch, in student order."""

    assignment: str
    jobs: int
    seconds: float
    outcomes: list[Outcome]
    interrupted: bool = False

    def by_status(self, status: Status | str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def exit_code(self) -> int:
        """0 when everything was graded (or skipped), 1 when a submission could not be graded,
        130 when the batch was interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.by_status(Status.FAILED) else 0


def format_report(report: BatchReport, *, verbose: bool = False) -> str:
    """The end-of-batch summary an instructor reads: counts, then every failure and note."""
    graded, failed = report.by_status(Status.GRADED), report.by_status(Status.FAILED)
    skipped = report.by_status(Status.SKIPPED)
    lines = [
        f"{report.assignment}: autograded {len(graded)}, skipped {len(skipped)} (already "
        f"autograded), failed {len(failed)}; {report.seconds:.1f} s with {report.jobs} "
        f"worker(s)."
    ]
    if graded:
        mean = sum(o.seconds for o in graded) / len(graded)
        lines[0] += f" A worker took {mean:.1f} s per submission on average."
    if report.interrupted:
        left = len(report.by_status(Status.INTERRUPTED))
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
