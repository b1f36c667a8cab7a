"""``RestoreCells``: a submission's tracked cells put back as the gradebook has them.

Runs first among the sanitising preprocessors, before nbgrader's ``OverwriteCells``.
"""

from __future__ import annotations

import os

import nbformat
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from .cells import grade_id


def _source_order(config, assignment: str, notebook: str) -> list[str] | None:
    """grade_ids in the order of the source notebook (None if it cannot be read)."""
    try:
        coursedir = CourseDirectory(config=config)
        folder = coursedir.format_path(coursedir.source_directory, ".", assignment)
        nb = nbformat.read(os.path.join(folder, f"{notebook}.ipynb"), as_version=4)
    except Exception:  # noqa: BLE001 - fall back on the gradebook's order
        return None
    return [g for g in (grade_id(c) for c in nb.cells) if g]


class RestoreCells(NbGraderPreprocessor):
    """Put the submission's tracked cells back as the gradebook has them.

    Runs before nbgrader's ``OverwriteCells`` (which restores the *source* of edited
    read-only cells). This step (1) rewrites every tracked cell's nbgrader metadata from
    the gradebook and, for read-only cells, drops all other metadata (so a
    ``skip-execution`` tag or a cell turned into a "solution" changes nothing); cells with
    an unknown ``grade_id`` become ordinary cells; (2) moves the read-only cells that open
    the notebook (introduction, set-up) back to the top, so they run before any answer;
    (3) re-inserts deleted read-only cells (tests, set-up, text) after the cell that
    precedes them in the source notebook.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            sources = {
                c.name: (c.cell_type, c.source, bool(c.locked), c.checksum)
                for c in source_nb.source_cells
            }
            points = {c.name: float(c.max_score) for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            tasks = {c.name: float(c.max_score) for c in source_nb.task_cells}
            fallback_order = [c.name for c in source_nb.source_cells]
        order = _source_order(self.config, info["assignment"], info["notebook"])
        order = [n for n in (order or fallback_order) if n in sources]
        order += [n for n in fallback_order if n not in order]

        self._deduplicate(nb)
        for cell in nb.cells:
            self._normalise(cell, sources, points, solutions, tasks)
        self._pin_head(nb, order, sources)
        self._restore_missing(nb, order, sources, points)
        return nb, resources

    def _deduplicate(self, nb):
        """Malformed metadata dropped; a ``grade_id`` used twice stays on its last cell
        (as nbgrader's ``DeduplicateIds`` does)."""
        seen = set()
        for cell in reversed(nb.cells):
            if not isinstance(cell.get("metadata"), dict):
                cell["metadata"] = nbformat.NotebookNode()
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if not isinstance(grade_id, str) or grade_id in seen:
                self.log.warning("Cell with nbgrader metadata %r made an ordinary cell", grade_id)
                del cell.metadata["nbgrader"]
                continue
            seen.add(grade_id)

    def _normalise(self, cell, sources, points, solutions, tasks):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            return
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in sources:
            if grade_id:
                self.log.warning(
                    "Cell '%s' is not in the gradebook: graded as an ordinary cell", grade_id
                )
            del cell.metadata["nbgrader"]
            return
        _, _, locked, checksum = sources[grade_id]
        new = {
            "grade": grade_id in points,
            "grade_id": grade_id,
            "locked": locked,
            "schema_version": 3,
            "solution": grade_id in solutions,
            "task": grade_id in tasks,
            "checksum": meta.get("checksum", checksum),
        }
        if grade_id in points or grade_id in tasks:
            new["points"] = points.get(grade_id, tasks.get(grade_id))
        if locked and grade_id not in solutions:
            if set(cell.metadata) - {"nbgrader", "deletable", "editable"}:
                self.log.warning("Metadata of read-only cell '%s' reset", grade_id)
            cell.metadata = nbformat.NotebookNode(
                {"deletable": False, "editable": False, "nbgrader": new}
            )
        else:
            cell.metadata["nbgrader"] = nbformat.NotebookNode(new)

    @staticmethod
    def _index(nb):
        return {
            c.metadata["nbgrader"]["grade_id"]: i
            for i, c in enumerate(nb.cells)
            if "nbgrader" in c.get("metadata", {})
        }

    def _pin_head(self, nb, order, sources):
        head = []
        for name in order:
            if not sources[name][2]:  # the first editable cell ends the head
                break
            head.append(name)
        index = self._index(nb)
        present = [index[name] for name in head if name in index]
        if present == list(range(len(present))):
            return
        self.log.warning(
            "Read-only cells moved back to the top: %s",
            ", ".join(n for n in head if n in index),
        )
        moved = [nb.cells[i] for i in present]
        nb.cells = moved + [c for i, c in enumerate(nb.cells) if i not in set(present)]

    def _restore_missing(self, nb, order, sources, points):
        anchor = -1  # index in nb.cells after which the next missing cell goes
        for name in order:
            index = self._index(nb)
            if name in index:
                anchor = index[name]
                continue
            cell_type, source, locked, checksum = sources[name]
            if not locked:
                continue  # a deleted answer stays deleted: its tests will fail
            meta = {
                "grade": name in points,
                "grade_id": name,
                "locked": True,
                "schema_version": 3,
                "solution": False,
                "task": False,
                "checksum": checksum,
            }
            if name in points:
                meta["points"] = points[name]
            make = (
                nbformat.v4.new_code_cell
                if cell_type == "code"
                else (nbformat.v4.new_markdown_cell)
            )
            cell = make(
                source=source,
                metadata={
                    "deletable": False,
                    "editable": False,
                    "nbgrader": meta,
                    "dnnkit": {"restored": True},
                },
            )
            nb.cells.insert(anchor + 1, cell)
            anchor += 1
            self.log.warning("Read-only cell '%s' was missing: restored from the gradebook", name)
