"""nbgrader cells as the autograder sees them: test cells, error outputs, stubs.

Cell metadata is read with nbgrader's own helpers (``nbgrader.utils.is_grade``,
``is_solution``, ``is_locked``) once :class:`~.restore_cells.RestoreCells` has made every
tracked cell's metadata well formed.
"""

from __future__ import annotations

import nbformat
from nbgrader.utils import is_grade, is_solution

from .rules import Violation
from .scope import defined_names

#: Run after every cell by ``GuardedExecute``: NumPy, the built-ins and the grading helpers
#: untouched (``dnnkit.grading.verify_integrity`` inside the student's kernel).
PROBE = "__import__('dnnkit.grading', fromlist=['verify_integrity']).verify_integrity(globals())"


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id`` (None for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def error_output(ename: str, evalue: str):
    """An error output as the kernel would send it (nbgrader scores its cell 0)."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


def is_test_cell(cell) -> bool:
    """An autograded test cell: read-only code with points (nbgrader's ``grade`` and not
    ``solution``)."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def is_setup_cell(cell) -> bool:
    """A read-only code cell without points (the set-up that imports the libraries)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("locked")) and not is_grade(cell)


def settle_test_outputs(cell, reply_content: dict | None) -> None:
    """Make a test cell's outputs say what the kernel's reply says about its run.

    nbgrader scores a test cell 0 when one of its outputs is an error *or any text on stderr*,
    full marks otherwise. Whether the cell raised is in the kernel's reply, not in its outputs:

    - the cell raised but shows no error output (the display of tracebacks was tampered
      with): an error output is added, so it scores 0;
    - the cell ran to the end: its stderr text (a ``RuntimeWarning`` from an answer's
      ``np.exp``, TensorFlow's start-up logs) is moved to stdout, still shown, so a warning
      does not cost a correct answer its marks.

    nbgrader also reads the first ``execute_result`` of a test cell as its score (partial
    credit; a value that is not a number counts as full marks) and looks no further. Answer
    code can make one appear (``sys.displayhook`` called during the test), so in a test cell
    every ``execute_result`` becomes a ``display_data`` with the same content: still shown,
    never scored. The course's tests pass or fail; they give no partial credit.
    """
    if reply_content is None or not is_test_cell(cell):
        return
    for out in cell.outputs:
        if out.get("output_type") == "execute_result":
            out["output_type"] = "display_data"
            out.pop("execution_count", None)
    if reply_content.get("status") == "error":
        if not any(out.get("output_type") == "error" for out in cell.outputs):
            cell.outputs.append(
                error_output(
                    str(reply_content.get("ename", "Error")),
                    str(reply_content.get("evalue", "the test raised an exception")),
                )
            )
        return
    for out in cell.outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            out["name"] = "stdout"


def stub_source(
    names: list[str], message: str, *, header: str, original: str = "", raise_at_end: bool = True
) -> str:
    """Code that defines ``names`` as functions raising ``IntegrityError(message)`` and then
    raises it itself; the original code is kept as comments for the reader."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    if original:
        lines.append("# Your code, kept here as comments:")
        lines += [f"# | {line}" for line in original.splitlines()]
    lines.append("from dnnkit.grading import IntegrityError as _DnnkitIntegrityError")
    lines.append(f"_dnnkit_message = {message!r}")
    for name in names:
        lines += [
            f"def {name}(*args, **kwargs):",
            "    raise _DnnkitIntegrityError(_dnnkit_message)",
        ]
    if raise_at_end:
        lines.append("raise _DnnkitIntegrityError(_dnnkit_message)")
    return "\n".join(lines)


def replacement_for(cell, violations: list[Violation]) -> str:
    """The source that replaces an editable cell that broke the rules."""
    name = grade_id(cell)
    where = f"answer `{name}`" if name else "a cell you added"
    rules = "; ".join(str(v) for v in violations)
    message = f"{where} was not run because it breaks the course's integrity rules: {rules}"
    header = (
        f"Not run by the autograder: {where} breaks the course's integrity rules.\n"
        + "\n".join(f"- {v}" for v in violations)
    )
    return stub_source(defined_names(cell.source), message, header=header, original=cell.source)
