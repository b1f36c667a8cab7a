"""The facts of a class report, read from the course: gradebook, notebooks, batch record.

Scores and pass rates come from nbgrader's ``Gradebook`` (what the students get); failure
messages, integrity refusals and kernel events from the autograded notebooks (what the grader
saw); which test cells have hidden parts from the source notebooks; grading times and
submissions that could not be graded from the batch record (:mod:`.records`), when there is one.
Nothing here writes to the course.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import nbformat

from ..gradebook import open_gradebook
from .records import BatchRecord

__all__ = [
    "ClassData",
    "FailureGroup",
    "IntegrityHit",
    "KernelEvent",
    "StudentScore",
    "TestCell",
    "collect",
    "first_line",
]

#: Error names that ``GuardedExecute`` gives a cell the kernel could not finish.
KERNEL_EVENTS = ("CellTimeoutError", "DeadKernelError", "NotRun")
#: The note ``GuardedExecute`` leaves where it cut a notebook's output.
TRUNCATED = "[output truncated by the autograder"
#: How the run-time integrity probe's message starts (``GuardedExecute``).
PROBE_FAILED = "the integrity check failed after this cell"
_RULE = re.compile(r"\[rule: ([^\]]+)\]\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MESSAGE_CHARS = 200


@dataclass
class StudentScore:
    """One graded submission's total."""

    student: str
    score: float
    max_score: float
    graded: bool = True  # False: in the gradebook, but no autograded notebook (grading failed)


@dataclass
class FailureGroup:
    """Failures of one test cell that share a first line."""

    message: str
    students: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.students)

    @property
    def example(self) -> str:
        return self.students[0] if self.students else ""


@dataclass
class TestCell:
    """One autograded test cell: its points, what kind of tests it holds, how the class did."""

    notebook: str
    name: str
    points: float
    visible: bool = True
    hidden: bool = False
    graded: int = 0
    passed: int = 0
    failures: list[FailureGroup] = field(default_factory=list)

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None

    @property
    def kind(self) -> str:
        return " + ".join(k for k, on in (("visible", self.visible), ("hidden", self.hidden)) if on)


@dataclass
class IntegrityHit:
    """An answer refused by the static policy (one rule broken in one cell)."""

    student: str
    notebook: str
    cell: str
    rule: str
    message: str


@dataclass
class KernelEvent:
    """A cell the sandbox or a time limit stopped, or an output cut by the grader."""

    student: str
    notebook: str
    cell: str
    kind: str
    message: str


@dataclass
class ClassData:
    """Everything a class report shows about one assignment."""

    assignment: str
    notebooks: list[str]
    max_score: float
    scores: list[StudentScore] = field(default_factory=list)
    cells: list[TestCell] = field(default_factory=list)
    integrity: list[IntegrityHit] = field(default_factory=list)
    events: list[KernelEvent] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # on the roster, no submission
    unreadable: dict[str, str] = field(default_factory=dict)  # student -> why not counted
    record: BatchRecord | None = None


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` without terminal colours, at most 200 characters."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def error_message(cell) -> str:
    """What a failed test cell said: its last error output's first line (``Name: value``; the
    grader appends its own verdict, e.g. ``CellTimeoutError`` after the interrupt's
    ``KeyboardInterrupt``), else its first stderr line (nbgrader fails a cell that wrote to
    stderr)."""
    for out in reversed(cell.get("outputs", [])):
        if out.get("output_type") == "error":
            ename, evalue = str(out.get("ename", "Error")), first_line(str(out.get("evalue", "")))
            return first_line(f"{ename}: {evalue}" if evalue else ename)
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return first_line(f"stderr: {out.get('text', '')}")
    return "(no error output)"


# ============================================================================== gradebook
def _read_gradebook(coursedir, assignment: str, data: ClassData) -> dict:
    """Scores and per-cell grades; returns ``{(notebook, cell): {student: passed}}``."""
    results: dict = defaultdict(dict)
    with open_gradebook(coursedir.db_url, coursedir.course_id) as gb:
        record = gb.find_assignment(assignment)
        data.notebooks = sorted(nb.name for nb in record.notebooks)
        data.max_score = float(record.max_score)
        for nb in sorted(record.notebooks, key=lambda n: n.name):
            answers = {c.name for c in nb.solution_cells}
            tests = [c for c in nb.grade_cells if c.cell_type == "code" and c.name not in answers]
            for cell in sorted(tests, key=lambda c: c.name):  # notebook order: _source_order
                data.cells.append(TestCell(nb.name, cell.name, float(cell.max_score)))
        for sub in gb.assignment_submissions(assignment):
            student = sub.student.id
            data.scores.append(StudentScore(student, float(sub.score), float(sub.max_score)))
            for snb in sub.notebooks:
                for grade in snb.grades:
                    passed = (grade.auto_score or 0.0) >= grade.max_score
                    results[(snb.name, grade.name)][student] = passed
        submitted = {s.student for s in data.scores}
        data.missing = sorted(s.id for s in gb.students if s.id not in submitted)
    data.scores.sort(key=lambda s: s.student)
    return results


def _source_order(coursedir, assignment: str, data: ClassData, config) -> None:
    """Test cells in notebook order, each marked visible and/or hidden from its source."""
    from nbgrader.preprocessors import ClearHiddenTests

    begin = ClearHiddenTests(config=config).begin_test_delimeter
    end = ClearHiddenTests(config=config).end_test_delimeter
    folder = coursedir.format_path(coursedir.source_directory, ".", assignment)
    order: dict[tuple[str, str], int] = {}
    for name in data.notebooks:
        path = os.path.join(folder, f"{name}.ipynb")
        if not os.path.isfile(path):
            continue
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        for index, cell in enumerate(nb.cells):
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            order[(name, grade_id)] = index
            test = next((t for t in data.cells if (t.notebook, t.name) == (name, grade_id)), None)
            if test is not None:
                test.hidden, test.visible = _split_hidden(cell.source, begin, end)
    data.cells.sort(key=lambda t: (t.notebook, order.get((t.notebook, t.name), 1 << 30)))


def _split_hidden(source: str, begin: str, end: str) -> tuple[bool, bool]:
    """(has hidden tests, has visible tests) of a test cell's source."""
    visible, hidden, inside = [], False, False
    for line in source.splitlines():
        if begin in line:
            inside, hidden = True, True
        elif end in line:
            inside = False
        elif not inside and line.strip() and not line.strip().startswith("#"):
            visible.append(line)
    return hidden, bool(visible)


# ============================================================================== notebooks
def _cell_name(cell, index: int) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"


def _scan_notebook(nb, student: str, notebook: str, data: ClassData) -> dict[str, str]:
    """Integrity refusals and kernel events of one autograded notebook; returns each test
    cell's failure message by grade id."""
    messages = {}
    for index, cell in enumerate(nb.cells):
        name = _cell_name(cell, index)
        for line in cell.get("metadata", {}).get("dnnkit", {}).get("integrity", []) or []:
            match = _RULE.search(str(line))
            rule = match.group(1) if match else "unknown"
            data.integrity.append(IntegrityHit(student, notebook, name, rule, first_line(line)))
        if cell.get("cell_type") != "code":
            continue
        messages[name] = error_message(cell)
        for out in cell.get("outputs", []):
            kind = _event_kind(out)
            if kind:
                text = out.get("evalue", "") if out.get("output_type") == "error" else out["text"]
                data.events.append(KernelEvent(student, notebook, name, kind, first_line(text)))
    return messages


def _event_kind(out) -> str | None:
    if out.get("output_type") == "error":
        ename, evalue = out.get("ename", ""), str(out.get("evalue", ""))
        if ename in KERNEL_EVENTS:
            return ename
        if ename == "IntegrityError" and evalue.startswith(PROBE_FAILED):
            return "IntegrityError (run time)"
    elif out.get("output_type") == "stream" and TRUNCATED in str(out.get("text", "")):
        return "OutputTruncated"
    return None


def _read_notebooks(coursedir, assignment: str, data: ClassData, results: dict) -> None:
    """Fill every test cell's pass counts and failure groups (failures as the gradebook says,
    messages as the autograded notebook shows)."""
    groups: dict = defaultdict(lambda: defaultdict(list))
    for score in data.scores:
        student = score.student
        folder = coursedir.format_path(coursedir.autograded_directory, student, assignment)
        for notebook in data.notebooks:
            try:
                nb = nbformat.read(os.path.join(folder, f"{notebook}.ipynb"), as_version=4)
            except (OSError, ValueError) as exc:
                why = f"no readable autograded {notebook}.ipynb ({type(exc).__name__})"
                data.unreadable[student] = why
                score.graded = False
                continue  # nbgrader made the row, but did not grade it: not counted
            messages = _scan_notebook(nb, student, notebook, data)
            for test in data.cells:
                passed = results.get((test.notebook, test.name), {}).get(student)
                if test.notebook != notebook or passed is None:
                    continue
                test.graded += 1
                test.passed += passed
                if not passed:
                    message = messages.get(test.name, "(cell missing from the notebook)")
                    groups[(notebook, test.name)][message].append(student)
    for test in data.cells:
        found = groups.get((test.notebook, test.name), {})
        test.failures = [FailureGroup(m, s) for m, s in found.items()]
        test.failures.sort(key=lambda g: (-g.count, g.message))


def collect(coursedir, assignment: str, config=None, record: BatchRecord | None = None):
    """Read everything a class report shows about ``assignment``.

    Parameters
    ----------
    coursedir : nbgrader.coursedir.CourseDirectory
        The course, as ``nbgrader`` (or ``dnnkit-autograde``) configured it.
    assignment : str
    config : traitlets Config, optional
        The course's configuration (for the hidden-test delimiters).
    record : BatchRecord, optional
        The batches' record (timings, submissions that could not be graded).

    Returns
    -------
    ClassData
    """
    data = ClassData(assignment, [], 0.0, record=record)
    results = _read_gradebook(coursedir, assignment, data)
    _source_order(coursedir, assignment, data, config)
    _read_notebooks(coursedir, assignment, data, results)
    return data


def rule_counts(data: ClassData) -> Counter:
    """How many refused cells each integrity rule caused."""
    return Counter(hit.rule for hit in data.integrity)
