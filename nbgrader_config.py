"""nbgrader configuration for the course (run nbgrader commands from the repository root).

Autograding runs student code that cannot be trusted, so on top of nbgrader's own steps it
adds the layers of ``dnnkit_autograde`` (see its package docstring):

- sanitising (outside the kernel): ``RestoreCells`` puts back deleted read-only cells and
  resets the metadata of tracked cells, nbgrader's ``OverwriteCells`` restores the source of
  edited ones, then ``IntegrityCheck`` replaces answers that break the assignment's
  allow-list (``solutions/<assignment>/policy.toml``: what each task may use; anything else,
  such as the reference, file access, exec, os/sys, is refused) by stubs that fail their
  tests with a message naming the refused name and the rule;
- executing: ``GuardedExecute`` runs every kernel in an OS sandbox (bubblewrap: read-only
  system, one scratch folder, no network, no course files, limits; see
  ``dnnkit_autograde.sandbox``), limits the time of each cell and the output kept, survives a
  cell that hangs or kills the kernel (fresh kernel, cells above re-run, grading goes on),
  and checks after every cell that NumPy and the grading helpers are untouched.
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader/traitlets)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "training-dnns"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# --- autograding ----------------------------------------------------------------------------
c.Autograde.sanitize_preprocessors = [
    "dnnkit_autograde.RestoreCells",  # first: malformed/duplicate metadata, deleted cells
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",  # edited read-only cells get their source back
    "dnnkit_autograde.IntegrityCheck",  # after: the test cells are complete (hidden tests)
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "dnnkit_autograde.GuardedExecute",  # instead of nbgrader.preprocessors.Execute
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Time limits: a cell (tests and answers), the read-only set-up cells (TensorFlow imports can
# be slow on a busy machine), and a whole notebook. After an interrupt that does not stop a
# cell, or a dead kernel, a fresh kernel re-runs the cells above and grading goes on.
c.GuardedExecute.timeout = 60
c.GuardedExecute.setup_timeout = 300
c.GuardedExecute.notebook_timeout = 900
c.GuardedExecute.max_restarts = 5
c.GuardedExecute.interrupt_on_timeout = True

# --- feedback -------------------------------------------------------------------------------
# nbgrader's feedback shows hidden tests (by design); students must not see them.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "dnnkit_autograde.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# --- collecting from an LMS -----------------------------------------------------------------
# `nbgrader zip_collect` file names like "jdoe_12345_67890_01_gradients.ipynb" (edit for your LMS).
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[a-z]+)_\d+_\d+_(?P<file_id>[^/]+\.ipynb)$"
)
