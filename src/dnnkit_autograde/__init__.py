"""dnnkit_autograde: the instructor's side of grading the course with nbgrader.

Installed by the ``grading`` extra (``pip install -e ".[grading]"``). Student code is never
trusted, so grading has three layers, each useful alone:

1. before the run, outside the kernel: read-only cells restored from the gradebook and an
   allow-list policy per assignment and task (kept with the course in ``solutions/``);
2. during the run: every grading kernel in an OS sandbox (bubblewrap) with limits;
3. after the run: one coordinator writes the gradebook; batches run on Dask.

The course library ``dnnkit`` (and ``dnnkit.grading``, which runs inside the student's kernel)
never imports this package.

Modules, one job each: ``policy`` (the allow-list, read from ``policy.toml``), ``rules`` (rule
ids and messages), ``scope`` and ``checker`` (the static check), ``cells`` (nbgrader cells,
stubs), ``submission`` (malformed submissions), the nbgrader preprocessors ``restore_cells``,
``integrity_check``, ``guarded_execute`` and ``feedback``, ``sandbox`` (the kernel sandbox) and
``batch`` (``dnnkit-autograde``).
"""

from .feedback import HideHiddenTests
from .guarded_execute import GuardedExecute
from .integrity_check import IntegrityCheck
from .restore_cells import RestoreCells

__all__ = ["GuardedExecute", "HideHiddenTests", "IntegrityCheck", "RestoreCells"]
