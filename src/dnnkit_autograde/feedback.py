"""Feedback that students may see: nbgrader's feedback without the hidden tests.

nbgrader shows hidden tests in generated feedback by design, and a failing check's traceback
quotes the test lines around it. ``HideHiddenTests`` removes the hidden-test regions and, for
cells that had them, cuts error outputs down to ``ename: evalue`` (the check's message, which
names the input and the expected value, stays; the test source does not).
"""

from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    """Feedback preprocessor: drop hidden tests and the tracebacks that would quote them."""

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = cell.cell_type == "code" and self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
        return cell, resources
