"""``IntegrityCheck``: answers that break the assignment's policy are replaced by stubs.

Runs after nbgrader's ``OverwriteCells`` (the test cells are then complete) and outside the
student's kernel. The policy is the assignment's ``policy.toml`` in the course's source folder
(:mod:`.policy`), never the notebook's metadata, which a student can edit.
"""

from __future__ import annotations

from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_locked

from .cells import grade_id, replacement_for
from .checker import check_notebook
from .policy import load_policy
from .rules import violation
from .scope import defined_names


class IntegrityCheck(NbGraderPreprocessor):
    """Replace every editable code cell that breaks the assignment's policy by stubs that raise
    ``IntegrityError`` naming the rule (so only the tests of that answer fail)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            stubs = {c.name: c.source for c in source_nb.source_cells}
            tasks = {c.name: defined_names(stubs.get(c.name, "")) for c in source_nb.solution_cells}
        try:
            found = check_notebook(nb, self._policy(info["assignment"]), tasks)
        except Exception as exc:  # noqa: BLE001 - a crafted cell must not skip the check
            self.log.error("Integrity check failed (%r): every editable cell is refused", exc)
            refused = [violation(0, "checker", error=repr(exc))]
            found = {
                i: refused
                for i, c in enumerate(nb.cells)
                if c.get("cell_type") == "code" and not is_locked(c)
            }
        for index, violations in found.items():
            cell = nb.cells[index]
            name = grade_id(cell) or f"added cell {index}"
            self.log.warning(
                "Integrity: %s, %s, %s not run: %s",
                info.get("student"),
                info["assignment"],
                name,
                "; ".join(map(str, violations)),
            )
            cell.source = replacement_for(cell, violations)
            cell.metadata.setdefault("dnnkit", {})["integrity"] = [str(v) for v in violations]
        return nb, resources

    def _policy(self, assignment: str):
        """The assignment's policy, from its folder in the course's source directory."""
        coursedir = CourseDirectory(config=self.config)
        return load_policy(coursedir.format_path(coursedir.source_directory, ".", assignment))
