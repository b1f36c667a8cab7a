"""Writing a class report to the course, and ``dnnkit-autograde report <assignment>``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

from .collect import collect
from .page import render_page
from .plots import pass_rate_bars, score_histogram
from .records import load_record, merge_batch
from .tables import build_tables, write_csv

__all__ = ["ReportFiles", "main", "report_after_batch", "report_dir", "write_class_report"]

#: Where a report goes, relative to the course directory.
REPORTS = "reports"
RECORD = "batch.json"
PAGE = "report.html"


@dataclass
class ReportFiles:
    """What a report wrote: the page, the CSV files (by table name), the batch record (if
    any) and the parts it could not show."""

    html: str
    csv: dict[str, str] = field(default_factory=dict)
    record: str | None = None
    unavailable: list[str] = field(default_factory=list)


def report_dir(course_root: str, assignment: str) -> str:
    """``<course>/reports/<assignment>``."""
    return os.path.join(os.path.abspath(course_root), REPORTS, assignment)


def _course(course_dir: str, nbgrader_args):
    from ..batch import load_nbgrader_config

    return load_nbgrader_config(os.path.abspath(course_dir), list(nbgrader_args))


def write_class_report(
    assignment: str, course_dir=".", *, nbgrader_args=(), output_dir: str | None = None
) -> ReportFiles:
    """Write the report of ``assignment`` from the gradebook, the autograded notebooks and the
    batch record (``batch.json`` in ``output_dir``, if a batch wrote one).

    Parameters
    ----------
    assignment : str
    course_dir : path
        The nbgrader course directory.
    nbgrader_args : sequence of str
        nbgrader options (``--Class.trait=value``), as for ``dnnkit-autograde``.
    output_dir : path, optional
        Default: ``<course>/reports/<assignment>``.

    Returns
    -------
    ReportFiles
    """
    config, coursedir = _course(course_dir, nbgrader_args)
    folder = output_dir or report_dir(coursedir.root, assignment)
    record_path = os.path.join(folder, RECORD)
    data = collect(coursedir, assignment, config, load_record(record_path))
    tables = build_tables(data)
    figures = [score_histogram(data), pass_rate_bars(data)]
    os.makedirs(folder, exist_ok=True)
    files = ReportFiles(os.path.join(folder, PAGE))
    files.csv = {t.name: write_csv(t, folder) for t in tables}
    generated = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    partial = files.html + ".partial"
    with open(partial, "w", encoding="utf-8") as fh:
        fh.write(render_page(data, tables, figures, generated))
    os.replace(partial, files.html)
    if data.record is None:
        files.unavailable = ["grading times", "batch command", "malformed submissions"]
    else:
        files.record = record_path
    return files


def report_after_batch(report, course_dir=".", *, nbgrader_args=(), command: str = ""):
    """Record a batch's outcomes in ``batch.json`` and write the assignment's report.

    Returns
    -------
    ReportFiles
    """
    _, coursedir = _course(course_dir, nbgrader_args)
    folder = report_dir(coursedir.root, report.assignment)
    merge_batch(os.path.join(folder, RECORD), report, command)
    return write_class_report(
        report.assignment, course_dir, nbgrader_args=nbgrader_args, output_dir=folder
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnnkit-autograde report",
        description="Write the instructor's grading report of an assignment (HTML and CSV, "
        "under <course>/reports/<assignment>/) from the gradebook, the autograded notebooks "
        "and the record of the last dnnkit-autograde batches. It names students: for "
        "instructors only. Other --Class.trait=value options are passed to nbgrader.",
    )
    parser.add_argument("assignment", help="assignment id")
    parser.add_argument("--course-dir", default=".", help="nbgrader course directory [.]")
    parser.add_argument(
        "--output-dir", default=None, help="where to write [<course>/reports/<assignment>]"
    )
    return parser


def main(argv=None) -> int:
    """``dnnkit-autograde report <assignment>``; returns the exit code."""
    args, nbgrader_args = _parser().parse_known_args(argv)
    bad = [a for a in nbgrader_args if not a.startswith("--")]
    if bad:
        _parser().error(f"unrecognized arguments: {' '.join(bad)}")
    try:
        files = write_class_report(
            args.assignment,
            args.course_dir,
            nbgrader_args=nbgrader_args,
            output_dir=args.output_dir,
        )
    except Exception as exc:  # noqa: BLE001 - a missing assignment, an unreadable gradebook
        print(f"dnnkit-autograde report: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"Grading report: {files.html}")
    if files.unavailable:
        print(f"  unavailable (no batch record): {', '.join(files.unavailable)}")
    return 0
