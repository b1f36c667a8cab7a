"""``GuardedExecute``: nbgrader's ``Execute`` for code that cannot be trusted.

Replaces ``nbgrader.preprocessors.Execute`` in ``c.Autograde.autograde_preprocessors``. Every
kernel it starts runs in the OS sandbox of :mod:`.sandbox` unless ``sandbox`` is turned off.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

import nbformat
from jupyter_core.utils import run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_locked
from traitlets import Bool, Float, Integer, default

from .cells import PROBE, error_output, is_setup_cell, settle_test_outputs, stub_source
from .kernels import GradingKernelManager, KernelStartError
from .scope import defined_names, names_in_binding_places

#: Run silently after every cell: wrap the callables bound to ``names`` by editable cells
#: (dnnkit.answer_guard; see ``GuardedExecute._guard_answers``).
GUARD = "__import__('dnnkit.answer_guard', fromlist=['guard_answers']).guard_answers(globals(), {names!r})"


@dataclass
class _Run:
    """Where the run of one notebook stands, across kernel restarts."""

    started: float
    probing: bool
    position: int = 0
    restarts: int = 0
    ran: list[int] = field(default_factory=list)  # code cells run so far (replayed)
    dropped: dict[int, str] = field(default_factory=dict)  # cells left out after a failure


@dataclass(frozen=True)
class _Failure:
    """A cell that stopped the kernel: which, why, and whether grading stops there."""

    index: int
    ename: str
    evalue: str
    give_up: bool = False


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` for code that cannot be trusted.

    - A time limit per cell (``timeout``; ``setup_timeout`` for the read-only cells that
      are not tests, e.g. the set-up importing TensorFlow) and for the whole notebook.
    - When a cell kills the kernel (``os._exit``, a crash, out of memory) or hangs beyond
      an interrupt, it gets an error output, a fresh kernel re-runs the cells above
      (without it; the functions it defined raise a clear error) and grading goes on.
    - After every cell, ``dnnkit.grading.verify_integrity`` checks that NumPy, the
      built-ins, the grading helpers... are untouched; if a cell changed them, it gets
      an ``IntegrityError`` and the kernel is restarted without it.
    - A test cell passes or fails by the kernel's reply (see :func:`settle_test_outputs`):
      a warning on stderr does not fail it, a hidden traceback does not pass it.
    - Kernels are :class:`~.kernels.GradingKernelManager`'s (sandboxed or not): ready as
      soon as they answer, killed when done, with none of jupyter_client's idle waits.
    - ``skip-execution`` tags are ignored, and a test cell that is not run (after
      ``max_restarts`` or past ``notebook_timeout``) gets an error output, hence 0:
      nbgrader gives full marks to a test cell with no output.
    """

    setup_timeout = Integer(
        300, help="Time limit (s) for read-only cells that are not tests (set-up)."
    ).tag(config=True)
    notebook_timeout = Float(
        1800.0, help="Time limit (s) for the whole notebook; later cells are not run."
    ).tag(config=True)
    max_restarts = Integer(
        5,
        help="Kernel restarts allowed per notebook before the remaining cells are "
        "given up (not run, so 0 for their tests).",
    ).tag(config=True)
    kernel_start_attempts = Integer(
        3,
        help="Kernels started, one after another, before a notebook is given up because none "
        "answered. A kernel that dies before it answers has run no code of the notebook: the "
        "machine failed (a namespace or memory it could not get), not the student.",
    ).tag(config=True)
    probe = Bool(True, help="Run dnnkit.grading.verify_integrity after every cell.").tag(
        config=True
    )
    sandbox = Bool(
        True,
        help="Run every kernel in the OS sandbox (dnnkit_autograde.sandbox). Turn off only "
        "for trusted notebooks: student code then runs with the grader's rights.",
    ).tag(config=True)
    guard_answers = Bool(
        True,
        help="Wrap the functions answer cells define so that tests call them on inputs they "
        "cannot change in place and get plain values back (dnnkit.answer_guard).",
    ).tag(config=True)
    max_output_bytes = Integer(
        2_000_000,
        help="Output kept in the graded notebook, in bytes; beyond it, a note says it was cut.",
    ).tag(config=True)

    @default("error_on_timeout")
    def _error_on_timeout_default(self):
        message = "the cell ran past its time limit and was interrupted"
        return {
            "ename": "CellTimeoutError",
            "evalue": message,
            "traceback": [f"\x1b[0;31mCellTimeoutError\x1b[0m: {message}"],
        }

    def _get_timeout(self, cell):
        if cell is not None and is_setup_cell(cell):
            return self.setup_timeout
        return super()._get_timeout(cell)

    def preprocess(self, nb, resources=None, km=None):
        """Run every code cell; after a failure, restart and go on (see the class docstring)."""
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.skip_cells_with_tag = "dnnkit-never-skip-" + secrets.token_hex(8)
        self._prepare_kernel_manager()
        run = _Run(started=time.monotonic(), probing=self.probe)
        self._output_bytes, self._output_cut = 0, False
        self._answer_names: set[str] = set()  # bound by editable cells (see _guard_answers)
        self._probe_works = False  # set by the first successful probe
        while run.position < len(self.nb.cells):
            failure = self._run_in_fresh_kernel(run)
            if failure is None:
                break
            if self._settle_failure(run, failure):
                break
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _prepare_kernel_manager(self) -> None:
        """Every kernel in the sandbox (or a loud warning when it is turned off)."""
        from .sandbox import Sandbox, SandboxedKernelManager, check_available

        settings = Sandbox(parent=self)
        if not (self.sandbox and settings.enabled):
            self.kernel_manager_class = GradingKernelManager
            self.log.warning(
                "SANDBOX OFF: student code runs with the grader's rights, files and network "
                "(--GuardedExecute.sandbox=False or --Sandbox.enabled=False). Use this only "
                "for trusted notebooks."
            )
            return
        check_available(settings.bwrap)
        self.kernel_manager_class = SandboxedKernelManager

    def _run_in_fresh_kernel(self, run: _Run) -> _Failure | None:
        """Start a kernel, replay what ran before, run cells until one fails (or the end).
        The kernel is then killed (:class:`~.kernels.GradingKernelManager`)."""
        failure = None
        self._start_kernel()
        with self.setup_kernel():  # the kernel is up: this only stops it at the end
            reply = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = reply["content"]["language_info"]
            if run.ran or run.dropped:
                failure = self._replay(run.ran, run.dropped, run.position)
            while failure is None and run.position < len(self.nb.cells):
                failure = self._run_next(run)
        return failure

    def _start_kernel(self) -> None:
        """Start a kernel and its client, trying again (``kernel_start_attempts``) when one
        dies or stays silent before it answers; nbclient has then cleaned it up."""
        attempts = max(1, self.kernel_start_attempts)
        for attempt in range(1, attempts + 1):
            if self.km is None:
                self.km = self.create_kernel_manager()
            try:
                self.start_new_kernel()
                self.start_new_kernel_client()
                return
            except KernelStartError as exc:
                if attempt == attempts:
                    raise
                self.log.warning(
                    "Grading kernel %d of %d did not start (%s); starting another.",
                    attempt,
                    attempts,
                    exc,
                )

    def _run_next(self, run: _Run) -> _Failure | None:
        """Run the cell at ``run.position`` (skipping empty and markdown cells)."""
        index, cell = run.position, self.nb.cells[run.position]
        if cell.cell_type != "code" or not cell.source.strip():
            run.position += 1
            return None
        if time.monotonic() - run.started > self.notebook_timeout:
            limit = f"the notebook ran past its time limit ({self.notebook_timeout:g} s)"
            return _Failure(index, "NotRun", limit, give_up=True)
        try:
            self.preprocess_cell(cell, self.resources, index)
        except DeadKernelError:
            why = "the kernel died while running this cell (os._exit, a crash, a sandbox limit)"
            return _Failure(index, "DeadKernelError", why)
        except CellTimeoutError:
            why = (
                f"this cell did not stop within {self._get_timeout(cell)} s, even when interrupted"
            )
            return _Failure(index, "CellTimeoutError", why)
        run.position += 1
        problem = self._probe(cell) if run.probing else None
        if problem == "unavailable":
            run.probing, problem = False, None
        if problem is not None:
            return _Failure(index, "IntegrityError", problem)
        run.ran.append(index)
        self._guard_answers(cell)
        return None

    def _guard_answers(self, cell) -> None:
        """After every cell, wrap what the editable cells so far bound at their top level
        (``dnnkit.answer_guard``): the tests then call the answers on copies of their inputs
        and get plain values back. Names are gathered from every editable cell and all of them
        are checked after every cell, so an answer rebound later (by a later cell, or by code
        a test ran) is wrapped again before the next cell."""
        if not self.guard_answers:
            return
        if not is_locked(cell):  # wherever the cell binds them (a walrus in an annotation...)
            self._answer_names.update(names_in_binding_places(cell.source))
        if self._answer_names:
            run_sync(self._run_silently)(GUARD.format(names=sorted(self._answer_names)))

    def _settle_failure(self, run: _Run, failure: _Failure) -> bool:
        """Mark the failed cell; True when grading stops here."""
        cells = self.nb.cells
        run.restarts += 1
        give_up = failure.give_up or run.restarts > self.max_restarts
        note = (
            " Grading stopped here: the cells below were not run."
            if give_up
            else " The autograder restarted the kernel, re-ran the cells above "
            "without this one, and went on."
        )
        index = failure.index
        if index < len(cells) and index not in run.dropped:
            evalue = failure.evalue.rstrip(".") + "." + note
            cells[index].outputs.append(error_output(failure.ename, evalue))
            self.log.warning("Cell %s: %s: %s", index, failure.ename, failure.evalue)
        if give_up:
            self._give_up(index + 1)
            return True
        run.dropped[index] = f"{failure.ename}: {failure.evalue}"
        run.position = max(run.position, index + 1)
        return False

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` of output per notebook; then a visible note."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self._output_bytes + size > self.max_output_bytes:
            if not self._output_cut:
                self._output_cut = True
                note = (
                    f"[output truncated by the autograder: this notebook's output passed "
                    f"{self.max_output_bytes} bytes; the rest is not kept]\n"
                )
                outs.append(nbformat.v4.new_output("stream", name="stdout", text=note))
            return None
        self._output_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        settle_test_outputs(cell, None if exec_reply is None else exec_reply["content"])
        await super()._check_raise_for_error(cell, cell_index, exec_reply)

    def _give_up(self, start: int) -> None:
        for cell in self.nb.cells[start:]:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs.append(
                    error_output(
                        "NotRun",
                        "not run: grading of this notebook stopped above (see the first error).",
                    )
                )

    def _replay(self, ran, dropped, position):
        """Re-run, in a fresh kernel, the cells that ran before (without their outputs)
        and define the functions of the dropped answer cells as stubs."""
        for index in sorted(set(ran) | set(dropped)):
            cell = self.nb.cells[index]
            if index in dropped:
                names = defined_names(cell.source) if not is_locked(cell) else []
                if not names:
                    continue
                message = (
                    f"{', '.join(names)} could not be graded: its cell stopped the "
                    f"autograder ({dropped[index]})"
                )
                source = stub_source(names, message, header="stub", raise_at_end=False)
            else:
                source = cell.source
            try:
                reply = run_sync(self._run_silently)(source, cell)
            except (DeadKernelError, CellTimeoutError):
                reply = None
            if reply is None:
                why = "re-running the cells above in a fresh kernel failed"
                return _Failure(position, "NotRun", why, give_up=True)
            if index not in dropped:
                self._guard_answers(cell)
        return None

    async def _run_silently(self, source, cell=None):
        msg_id = self.kc.execute(source, silent=True, store_history=False, allow_stdin=False)
        return await self.async_wait_for_reply(msg_id, cell)

    def _probe(self, cell):
        """None if the kernel is untouched, else the IntegrityError message (or
        "unavailable" when the probe cannot run at all)."""
        try:
            reply = run_sync(self._run_silently)(PROBE)
        except (DeadKernelError, CellTimeoutError):
            return "the integrity check could not run after this cell"
        if reply is None:
            return "the integrity check did not finish after this cell"
        content = reply["content"]
        if content.get("status") == "ok":
            self._probe_works = True
            return None
        if is_setup_cell(cell):
            if not self._probe_works and content.get("ename") != "IntegrityError":
                self.log.warning(
                    "Integrity probe unavailable: %s: %s",
                    content.get("ename"),
                    content.get("evalue"),
                )
                return "unavailable"  # e.g. dnnkit missing in the kernel
            return None  # the set-up cells themselves are trusted
        if content.get("ename") == "IntegrityError":
            return content.get("evalue", "integrity check failed")
        # The probe worked before this cell: a cell that breaks it counts as tampering.
        return (
            f"the integrity check failed after this cell ({content.get('ename')}: "
            f"{content.get('evalue')})"
        )
