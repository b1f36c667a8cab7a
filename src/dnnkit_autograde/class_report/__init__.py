"""The instructor's grading report of an assignment: ``dnnkit-autograde report <assignment>``.

Written at the end of every ``dnnkit-autograde`` batch and on demand, under the course
directory as ``reports/<assignment>/``: ``report.html`` (one self-contained page: embedded
images, no script, no request), one CSV file per table, and ``batch.json``, the record of the
batches (grading times, submissions that could not be graded, the commands). It names
students: it is for instructors, and nothing here writes into ``autograded/`` or ``feedback/``.

Modules, one job each: ``records`` (the batch record), ``collect`` (facts from the gradebook
and notebooks), ``tables``, ``plots``, ``page`` (HTML), ``writer`` (files and the command line).
"""

from .collect import ClassData, collect
from .records import BatchRecord, load_record, merge_batch
from .writer import ReportFiles, main, report_after_batch, write_class_report

__all__ = [
    "BatchRecord",
    "ClassData",
    "ReportFiles",
    "collect",
    "load_record",
    "main",
    "merge_batch",
    "report_after_batch",
    "write_class_report",
]
