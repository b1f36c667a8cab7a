"""Trust tests: the autograder separates right from wrong and cannot be gamed.

Real ``nbgrader generate_assignment`` and autograde runs, with the repository's
``nbgrader_config.py``, in a temporary course. Each submission variant is one student, and one
call of the course's batch grader (``dnnkit-autograde``, two Dask workers, nbgrader's own
``Autograde`` inside) grades all the variants of an assignment. Oracles: the source notebook's
points (full marks), zero, and the scores of simpler variants graded in the same batch (an
answer that loops forever scores like an answer that raises; a patched answer scores no more
than the wrong answer alone).

Two batches per assignment: the course's configuration (every layer on), and the same with the
static check off (``--IntegrityCheck.enabled=False``), which proves that the execution layer
(``GuardedExecute``) copes alone with kernels that die and libraries that are patched.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import grading_support as gs
import nbformat
import pytest

pytestmark = pytest.mark.slow

# A cell that loops costs `timeout` seconds; the other limits are generous (a busy machine).
EXEC_ARGS = (
    "--GuardedExecute.timeout=60",
    "--GuardedExecute.setup_timeout=300",
    "--GuardedExecute.notebook_timeout=2400",
)
STATIC_OFF = ("--IntegrityCheck.enabled=False",)
SCORES_BEFORE_REBUILD = Path(__file__).parent / "planted" / "scores_before_rebuild.json"

PATCH_LINES = """\
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True
grading.check_close = lambda *args, **kwargs: None
grading.check_equal = lambda *args, **kwargs: None
grading.check_gradient = lambda *args, **kwargs: None
grading.check_true = lambda *args, **kwargs: None
grading.check_shape = lambda *args, **kwargs: None
"""


def _selected(names: list[str]) -> list[str]:
    """All assignments, or those in DNNKIT_TRUST_ASSIGNMENTS (comma-separated)."""
    wanted = os.environ.get("DNNKIT_TRUST_ASSIGNMENTS")
    return [n for n in names if not wanted or n in wanted.split(",")]


# ============================================================================ the batches
@dataclass
class Batch:
    """One assignment graded for many students (one per submission variant)."""

    assignment: str
    course: gs.Course
    source: object
    release: object
    solved: object
    tests: dict  # test grade_id -> points
    tasks: list  # answer grade_ids in notebook order
    variants: dict = field(default_factory=dict)  # student -> NotebookNode (or None)
    scores: dict = field(default_factory=dict)
    logs: list = field(default_factory=list)
    submitted_digest: str = ""
    bugs: dict = field(default_factory=dict)
    cheats: dict = field(default_factory=dict)
    wrong_first: str = "stub_first"  # the student whose first answer is wrong (not patched)

    def add(self, student: str, nb) -> None:
        self.course.submit(student, self.assignment, nb)
        self.variants[student] = nb

    def score(self, student: str) -> dict:
        assert student in self.scores, f"{student} was not graded:\n{self.logs[-1][-3000:]}"
        return self.scores[student]

    def total(self, student: str) -> float:
        return gs.total(self.score(student))

    def full(self) -> float:
        return sum(self.tests.values())

    def outputs(self, student: str, grade_id: str) -> str:
        return self.course.outputs_text(student, self.assignment, grade_id)


def _first_task_bug(bugs: dict, task: str):
    return next(((n, b) for n, b in bugs.items() if b["cell"] == task), None)


def _stub(batch: Batch, nb, task: str):
    """``nb`` with the answer ``task`` as released (``raise NotImplementedError``)."""
    return gs.with_cell_source(nb, task, gs.cell_by_id(batch.release, task).source)


def _prepend(nb, task: str, text: str):
    return gs.with_cell_source(nb, task, text + gs.cell_by_id(nb, task).source)


def _redefine(batch: Batch, nb, task: str, body: str):
    """``nb`` with the answer ``task`` redefined at the end of its cell: its function (or the
    ``__init__`` of its class) runs ``body`` when called."""
    from dnnkit_autograde.scope import defined_names

    source = gs.cell_by_id(nb, task).source
    release_source = gs.cell_by_id(batch.release, task).source
    name = defined_names(release_source)[0]
    if release_source.lstrip().startswith("class "):
        header, indent = f"class {name}:\n    def __init__(self, *args, **kwargs):\n", " " * 8
    else:
        header, indent = f"def {name}(*args, **kwargs):\n", " " * 4
    code = header + "".join(f"{indent}{line}\n" for line in body.splitlines())
    return gs.with_cell_source(nb, task, f"{source}\n\n{code}")


def _tamper(nb, batch: Batch):
    nb = gs.copy_nb(nb)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"},
        "colab": {"provenance": []},
        "language_info": {"name": "python"},
    }
    nb.nbformat_minor = 4  # an older front end: no cell ids
    first_test = next(iter(batch.tests))
    nb.cells = [c for c in nb.cells if gs.nbgrader_meta(c).get("grade_id") != first_test]
    for cell in nb.cells:
        cell.pop("id", None)
        cell.metadata["collapsed"] = False
        meta = gs.nbgrader_meta(cell)
        if meta.get("grade"):
            cell.source = "grading.check_true(True, 'edited')"
            cell.metadata.setdefault("tags", []).append("skip-execution")
            meta["points"] = 100
        elif meta.get("solution"):
            meta.update(grade=True, points=50, locked=True)
    return nb


def build_batch(tmp: Path, assignment: str, notebook, bugs: dict, cheats: dict) -> Batch:
    course = gs.make_course(tmp, {assignment: notebook})
    course.generate(assignment)
    source, release = course.source(assignment), course.release(assignment)
    batch = Batch(
        assignment,
        course,
        source,
        release,
        gs.solved(source, release),
        gs.test_cells(source),
        gs.solution_ids(source),
    )
    solved, first, last = batch.solved, batch.tasks[0], batch.tasks[-1]
    add = batch.add

    add("solution", solved)
    add("release", release)
    for name, bug in bugs.items():
        add(gs.student_id("bug", name), gs.with_bug(solved, bug))
    for name, cheat in cheats.items():
        add(
            gs.student_id("cheat", name),
            gs.with_cell_source(solved, cheat["cell"], cheat["source"]),
        )

    # Reference points for "graded as if this answer simply failed".
    add("stub_first", _stub(batch, solved, first))
    add("stub_last", _stub(batch, solved, last))
    for task in sorted({c["cell"] for c in cheats.values()} - {first, last}):
        add(gs.student_id("stub", task), _stub(batch, solved, task))
    wrong = _first_task_bug(bugs, first)
    if wrong:  # the first answer's first planted bug is the "wrong answer alone"
        batch.wrong_first = gs.student_id("bug", wrong[0])
        wrong_nb = gs.with_bug(solved, wrong[1])
    else:
        batch.wrong_first, wrong_nb = "stub_first", _stub(batch, solved, first)

    # Patching NumPy and the grading helpers, in the answer cell or in a cell of its own.
    add("patch_in_answer", _prepend(wrong_nb, first, PATCH_LINES))
    add("patch_in_added_cell", gs.insert_before(wrong_nb, first, PATCH_LINES))

    # Tampering with the read-only cells: edited (and tagged skip-execution, worth 100
    # points), deleted (the first test), an answer cell posing as a test worth 50 points,
    # metadata as another front end (Colab) saves it.
    add("tampered_release", _tamper(release, batch))
    add("tampered_solution", _tamper(solved, batch))

    # Answers that never return or stop the kernel. (The loop goes in the last answer: each
    # test cell that calls it costs a time limit.)
    add("loop_last", _redefine(batch, solved, last, "while True:\n    pass"))
    add("exit_first", _prepend(solved, first, "import sys\nsys.exit(1)\nimport os\nos._exit(1)\n"))

    # Malformed submissions.
    course.submit("invalid_json", assignment, raw='{"cells": [ {"cell_type": "code", ')
    course.submit("not_a_notebook", assignment, raw='{"hello": "world"}')
    course.submit("wrong_file_name", assignment, solved, filename=f"Copy of {assignment}.ipynb")
    missing = gs.copy_nb(solved)
    missing.cells = [c for c in missing.cells if not gs.nbgrader_meta(c).get("solution")]
    add("missing_answer_cells", missing)

    # Execution layer alone (static check off): kernels that die, patches found at run time.
    add("rt_solution", solved)
    add("rt_kill_at_call", _redefine(batch, solved, first, "import os\nos._exit(1)"))
    add("rt_crash_at_definition", _prepend(solved, first, "import ctypes\nctypes.string_at(0)\n"))
    add("rt_patch", _prepend(wrong_nb, first, PATCH_LINES))
    if assignment == "tiny":  # a loop that an interrupt cannot stop (a long C call)
        add("rt_uninterruptible_loop", _redefine(batch, solved, first, "sum(range(10**15))"))

    batch.submitted_digest = gs.tree_digest(course.root / "submitted")
    # Graded with the course's batch grader, two workers (it gives nbgrader's own scores:
    # tests/test_batch_autograde.py), the execution-layer variants with the static check off.
    students = sorted(os.listdir(course.root / "submitted"))
    runtime = [s for s in students if s.startswith("rt_")]
    rest = [s for s in students if not s.startswith("rt_")]
    result = course.autograde_batch(assignment, rest, *EXEC_ARGS)
    batch.logs.append(result.stdout + result.stderr)
    result = course.autograde_batch(assignment, runtime, *EXEC_ARGS, *STATIC_OFF)
    batch.logs.append(result.stdout + result.stderr)
    batch.scores = course.scores(assignment)
    return batch


@pytest.fixture(
    scope="module",
    params=["tiny", *_selected(gs.assignments())],
)
def batch(request, tmp_path_factory) -> Batch:
    """``tiny`` is a three-task assignment built by the test itself (self-contained); the
    others are the course's assignments with their planted bugs and cheats."""
    assignment = request.param
    if assignment == "tiny":
        notebook, bugs, cheats = gs.tiny_assignment(), gs.TINY_BUGS, gs.TINY_CHEATS
    else:
        bugs, cheats = gs.load_planted(assignment)
        notebook = gs.SOLUTIONS / assignment / f"{assignment}.ipynb"
    batch = build_batch(tmp_path_factory.mktemp(assignment), assignment, notebook, bugs, cheats)
    batch.bugs, batch.cheats = bugs, cheats
    return batch


# ============================================================================ the tests
def test_every_assignment_has_planted_bugs_and_cheats():
    names = gs.assignments()
    assert names, "no assignment found under solutions/"
    for assignment in names:
        bugs, cheats = gs.load_planted(assignment)
        assert len(bugs) >= 4, f"{assignment}: {len(bugs)} planted bugs, at least 4 expected"
        assert len(cheats) >= 1, f"{assignment}: no planted cheat"


def test_solution_gets_full_marks(batch):
    assert batch.score("solution") == batch.tests, batch.logs[0][-3000:]


def test_released_notebook_gets_zero(batch):
    assert batch.score("release") == {k: 0.0 for k in batch.tests}


def test_each_planted_bug_loses_marks(batch):
    bugs = batch.bugs
    kept = {
        name: batch.total(gs.student_id("bug", name))
        for name in bugs
        if batch.total(gs.student_id("bug", name)) >= batch.full()
    }
    assert not kept, f"planted bugs that keep full marks ({batch.full()} points): {kept}"


def test_each_cheat_earns_nothing_for_its_task(batch):
    """A cheat is refused with a clear message and graded exactly like its answer left
    unanswered (the released ``raise NotImplementedError``)."""
    assert batch.cheats, "no planted cheat"
    for name, cheat in batch.cheats.items():
        student = gs.student_id("cheat", name)
        text = batch.outputs(student, cheat["cell"])
        assert "IntegrityError" in text and "integrity rules" in text, (name, text)
        task = cheat["cell"]
        unanswered = {batch.tasks[0]: "stub_first", batch.tasks[-1]: "stub_last"}.get(
            task, gs.student_id("stub", task)
        )
        assert batch.score(student) == batch.score(unanswered), name
        assert batch.total(student) < batch.full(), f"cheat {name} kept full marks"


def test_planted_bugs_and_cheats_score_as_before_the_rebuild(batch):
    """Cell by cell, every planted bug and cheat scores what the grader before the rebuild
    gave it (``tests/planted/scores_before_rebuild.json``: both graders were run on every
    variant; ``tiny`` is this file's own assignment and has no such record)."""
    recorded = json.loads(SCORES_BEFORE_REBUILD.read_text())["scores"]
    expected = recorded.get(batch.assignment)
    assert expected or batch.assignment == "tiny", f"no recorded scores for {batch.assignment}"
    planted = {gs.student_id("bug", n) for n in batch.bugs}
    planted |= {gs.student_id("cheat", n) for n in batch.cheats}
    assert set(expected or {}) <= planted, "a recorded bug or cheat is no longer planted"
    changed = {
        student: {cell: (score, batch.score(student).get(cell)) for cell, score in old.items()}
        for student, old in (expected or {}).items()
        if batch.score(student) != old
    }
    assert not changed, f"scores differ from the grader before the rebuild: {changed}"


@pytest.mark.parametrize("student", ["patch_in_answer", "patch_in_added_cell", "rt_patch"])
def test_patching_numpy_and_grading_earns_no_marks(batch, student):
    """No test scores more than with the wrong answer alone, unpatched."""
    wrong = batch.score(batch.wrong_first)
    for grade_id, points in batch.score(student).items():
        assert points <= wrong[grade_id], (grade_id, batch.score(student), wrong)


def test_patch_is_reported_clearly(batch):
    assert "IntegrityError" in batch.outputs("patch_in_answer", batch.tasks[0])
    text = batch.outputs("rt_patch", batch.tasks[0])
    assert "was replaced by code in the notebook" in text, text


def test_edited_deleted_and_skipped_tests_are_restored_and_run(batch):
    assert batch.score("tampered_release") == {k: 0.0 for k in batch.tests}
    assert batch.score("tampered_solution") == batch.tests
    graded = nbformat.read(
        batch.course.autograded_path("tampered_solution", batch.assignment), as_version=4
    )
    ids = [gs.nbgrader_meta(c).get("grade_id") for c in graded.cells]
    source_ids = [gs.nbgrader_meta(c).get("grade_id") for c in batch.source.cells]
    assert [i for i in ids if i] == [i for i in source_ids if i]  # all there, in source order
    for grade_id in batch.tests:  # as written in the source, hidden tests included
        assert (
            gs.cell_by_id(graded, grade_id).source == gs.cell_by_id(batch.source, grade_id).source
        )


@pytest.mark.parametrize(
    ("student", "unanswered", "error"),
    [
        ("loop_last", "stub_last", "CellTimeoutError"),
        ("exit_first", "stub_first", "IntegrityError"),  # refused before it runs
        ("rt_kill_at_call", "stub_first", "DeadKernelError"),
        ("rt_crash_at_definition", "stub_first", "DeadKernelError"),
    ],
)
def test_runaway_answer_fails_alone_and_the_rest_is_graded(batch, student, unanswered, error):
    """Graded exactly like the same answer left unanswered, with a clear error."""
    assert batch.score(student) == batch.score(unanswered), batch.score(student)
    assert any(batch.score(student)[k] == v for k, v in batch.tests.items()), "nothing graded"
    text = "".join(batch.outputs(student, k) for k in [*batch.tasks, *batch.tests])
    assert f"{error}: " in text, text


def test_execution_layer_alone_grades_the_solution(batch):
    assert batch.score("rt_solution") == batch.tests


# Only on the tiny assignment (the same batch as the tests above): it costs a time limit.
@pytest.mark.parametrize("batch", ["tiny"], indirect=True)
def test_uninterruptible_loop_is_stopped_and_the_rest_is_graded(batch):
    assert batch.score("rt_uninterruptible_loop") == batch.score("stub_first")
    text = "".join(batch.outputs("rt_uninterruptible_loop", k) for k in batch.tests)
    assert "did not stop" in text, text


def test_malformed_submissions_are_reported_and_do_not_stop_the_batch(batch):
    from dnnkit_autograde.submission import check_submission

    folder = batch.course.root / "submitted"
    expected = [batch.assignment]
    report = {
        s: check_submission(folder / s / batch.assignment, expected)
        for s in ("invalid_json", "not_a_notebook", "wrong_file_name", "missing_answer_cells")
    }
    ids = {batch.assignment: [*batch.tasks, *batch.tests]}
    report["missing_answer_cells"] = check_submission(
        folder / "missing_answer_cells" / batch.assignment, expected, grade_ids=ids
    )
    assert [p.kind for p in report["invalid_json"]] == ["invalid-json"]
    assert [p.kind for p in report["not_a_notebook"]] == ["invalid-notebook"]
    kinds = [p.kind for p in report["wrong_file_name"]]
    assert kinds == ["missing-notebook", "unexpected-file"]
    assert f"rename it to '{batch.assignment}.ipynb'" in str(report["wrong_file_name"][0])
    assert [p.kind for p in report["missing_answer_cells"]] == ["missing-cells"]
    # nbgrader records no score (left for a human) for a notebook it cannot grade ...
    for student in ("invalid_json", "not_a_notebook", "wrong_file_name"):
        assert set(batch.score(student).values()) == {None}, student
    # ... grades the notebook without answers (tests restored, all failing) ...
    assert batch.score("missing_answer_cells") == {k: 0.0 for k in batch.tests}
    # ... and the rest of the batch is graded; submitted/ is untouched.
    assert batch.score("solution") == batch.tests
    assert gs.tree_digest(folder) == batch.submitted_digest


def test_static_check_accepts_every_reference_solution(batch):
    from dnnkit_autograde.checker import check_notebook, task_names
    from dnnkit_autograde.policy import load_policy

    rules = load_policy(gs.SOLUTIONS / batch.assignment)
    assert check_notebook(batch.solved, rules, task_names(batch.release)) == {}


# ================================================= the execution layer, without nbgrader's CLI
def _cell(source, grade_id, **flags):
    meta = {"grade_id": grade_id, "grade": False, "solution": False, "locked": False, **flags}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def test_guarded_execute_restarts_after_a_dead_kernel_and_a_patch():
    """GuardedExecute on a notebook: a cell that kills the kernel and one that patches NumPy
    each get a clear error, the cells after them run in a fresh kernel, and a skip-execution
    tag does not skip a test."""
    from dnnkit_autograde import GuardedExecute

    setup = "import numpy as np\nfrom dnnkit import grading"
    nb = nbformat.v4.new_notebook(
        cells=[
            _cell(setup, "setup", locked=True),
            _cell("def f(x):\n    return 2 * x", "f_solution", solution=True),
            _cell("import os\nos._exit(1)", "g_solution", solution=True),
            _cell("grading.check_close('f(1)', f(1.0), 2.0)", "f_tests", grade=True, points=1),
            _cell(
                "np.allclose = lambda *a, **k: True\ndef h(x):\n    return x",
                "h_solution",
                solution=True,
            ),
            _cell("grading.check_close('h(1)', h(1.0), 2.0)", "h_tests", grade=True, points=1),
            _cell("grading.check_close('f(2)', f(2.0), 5.0)", "skipped", grade=True, points=1),
        ]
    )
    nb.cells[-1].metadata["tags"] = ["skip-execution"]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    GuardedExecute(timeout=60).preprocess(nb, {})
    errors = {
        gs.nbgrader_meta(c)["grade_id"]: [
            o.get("ename") for o in c.outputs if o.output_type == "error"
        ]
        for c in nb.cells
    }
    assert errors["g_solution"] == ["DeadKernelError"]
    assert errors["f_tests"] == []  # graded in the fresh kernel: f was re-defined
    assert errors["h_solution"] == ["IntegrityError"]
    assert errors["h_tests"] == ["IntegrityError"]  # h is a stub that names the reason
    assert errors["skipped"] == ["AssertionError"]  # the tag did not skip the failing test


def test_test_cells_pass_or_fail_by_the_kernel_reply_not_by_stderr():
    """nbgrader scores a test cell with any stderr text 0: a correct answer that warns
    (NumPy overflow in ``np.exp``) keeps its marks, and a failing test whose traceback
    display was switched off still scores 0."""
    from nbgrader.utils import determine_grade

    from dnnkit_autograde import GuardedExecute

    warns = "def f(x):\n    return 1.0 / (1.0 + np.exp(-x))  # overflows for x << 0"
    nb = nbformat.v4.new_notebook(
        cells=[
            _cell(
                "import sys\nimport numpy as np\nfrom dnnkit import grading", "setup", locked=True
            ),
            _cell(warns, "f_solution", solution=True),
            _cell(
                "print('to stderr', file=sys.stderr)\n"
                "grading.check_close('f(-1000)', f(np.array([-1000.0])), [0.0])",
                "f_tests",
                grade=True,
                points=2,
            ),
            _cell("get_ipython().showtraceback = lambda *a, **k: None", "hide", locked=True),
            _cell("grading.check_close('f(0)', f(0.0), 1.0)", "wrong_tests", grade=True, points=1),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    GuardedExecute(timeout=60).preprocess(nb, {})
    cells = {gs.nbgrader_meta(c)["grade_id"]: c for c in nb.cells}
    text = "".join(o.get("text", "") for o in cells["f_tests"].outputs)
    assert "RuntimeWarning" in text and "to stderr" in text, cells["f_tests"].outputs  # shown
    assert determine_grade(cells["f_tests"]) == (2, 2)
    assert [o.output_type for o in cells["wrong_tests"].outputs] == ["error"]
    assert cells["wrong_tests"].outputs[0].ename == "AssertionError"
    assert determine_grade(cells["wrong_tests"]) == (0, 1)
