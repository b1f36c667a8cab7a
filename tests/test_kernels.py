"""Grading kernels start and stop without idle waits (dnnkit_autograde.kernels), and lose
nothing for it: the first cell's output arrives, and a stopped kernel leaves no process
behind, in the sandbox and outside it."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest
from grading_support import sandbox_problem
from traitlets.config import Config

from dnnkit_autograde.kernels import (
    SWEEP_MIN_AGE_S,
    GradingKernelClient,
    GradingKernelManager,
    KernelStartError,
    RuntimeFolder,
    remove_folder,
    runtime_parent,
    sweep_runtime_folders,
)
from dnnkit_autograde.sandbox import SandboxedKernelManager

MANAGERS = [
    pytest.param(GradingKernelManager, id="plain"),
    pytest.param(
        SandboxedKernelManager,
        id="sandboxed",
        marks=pytest.mark.skipif(sandbox_problem() is not None, reason=str(sandbox_problem())),
    ),
]


async def _run(kc, code: str) -> tuple[str, str]:
    """Execute ``code``; return (status, stdout) from the kernel's messages."""
    out: list[str] = []

    def keep(msg):
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = await kc.execute_interactive(code, output_hook=keep, timeout=60)
    return reply["content"]["status"], "".join(out)


async def _start(cwd, manager_class=GradingKernelManager):
    """A started kernel's manager and client (channels open, not yet waited for)."""
    km = manager_class(kernel_name="python3", config=Config())
    await km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    return km, kc


def _gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@pytest.mark.slow
@pytest.mark.parametrize("manager_class", MANAGERS)
def test_first_output_arrives_and_shutdown_leaves_no_process(tmp_path, manager_class):
    async def scenario():
        for _ in range(3):  # fresh kernels: the first message of each must not be lost
            km, kc = await _start(tmp_path, manager_class)
            assert isinstance(kc, GradingKernelClient)
            try:
                await kc.wait_for_ready(timeout=60)
                status, out = await _run(kc, "print('first', 6 * 7)")
                assert (status, out) == ("ok", "first 42\n")
                status, out = await _run(
                    kc,
                    "import subprocess\nchild = subprocess.Popen(['sleep', '300'])\n"
                    "print(child.pid)",
                )
                assert status == "ok" and int(out) > 0
            finally:
                kc.stop_channels()
            process = km.provisioner.process
            await km.shutdown_kernel()
            assert process.returncode is not None  # reaped, not left to a later poll
            assert not await km.is_alive()
            if manager_class is GradingKernelManager:  # outside the sandbox, pids are ours
                assert _gone(int(out)), "the kernel's child survived the shutdown"

    asyncio.run(scenario())


def test_kernel_that_exited_by_itself_is_shut_down_cleanly(tmp_path):
    async def scenario():
        km, kc = await _start(tmp_path)
        try:
            await kc.wait_for_ready(timeout=60)
            kc.execute("import os; os._exit(3)")
            process = km.provisioner.process
            await asyncio.to_thread(process.wait, 30)
        finally:
            kc.stop_channels()
        await km.shutdown_kernel()  # nothing left to kill: must not raise
        assert process.returncode == 3

    asyncio.run(scenario())


def test_wait_for_ready_names_a_kernel_that_died_before_answering(tmp_path):
    """The error says the kernel died, and how: the exit status of its process."""

    async def scenario():
        km = GradingKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(tmp_path))
        os.killpg(km.provisioner.pgid, 9)
        await asyncio.to_thread(km.provisioner.process.wait, 30)
        kc = km.client()
        kc.start_channels()
        try:
            with pytest.raises(
                KernelStartError, match=r"died before replying.*\(killed by SIGKILL\)"
            ):
                await kc.wait_for_ready(timeout=30)
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()

    asyncio.run(scenario())


def _kernel_spec(folder: Path, name: str, argv: list[str]) -> None:
    """A kernel spec ``name`` in ``folder/kernels`` (put ``folder`` on ``JUPYTER_PATH``)."""
    spec = folder / "kernels" / name
    spec.mkdir(parents=True)
    spec_json = {"argv": argv, "display_name": name, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(spec_json))


@pytest.mark.skipif(sandbox_problem() is not None, reason=str(sandbox_problem()))
def test_a_sandboxed_kernel_that_cannot_start_says_why(tmp_path, monkeypatch):
    """A sandboxed kernel's stderr is discarded (``Sandbox.kernel_output``), except that a
    kernel that dies before it answers reports what its launcher wrote: here Python's own
    error for a module that does not exist, through bwrap, with its exit status."""
    _kernel_spec(
        tmp_path,
        "broken",
        [sys.executable, "-m", "no_such_kernel_module", "-f", "{connection_file}"],
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))

    async def scenario():
        km = SandboxedKernelManager(kernel_name="broken", config=Config())
        await km.start_kernel(cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        try:
            with pytest.raises(KernelStartError) as raised:
                await kc.wait_for_ready(timeout=60)
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        return str(raised.value)

    message = asyncio.run(scenario())
    assert "(exit code 1: " in message, message
    assert "No module named no_such_kernel_module" in message, message


@pytest.mark.slow
def test_kernels_started_together_each_talk_over_their_own_ipc_folder(tmp_path):
    """Grading kernels outside the sandbox use no TCP port (two kernels started at the same
    moment could be given the same one: jupyter_client issue #487): each has IPC sockets in a
    folder of its own, nothing in the notebook's folder, and the folder goes with the kernel.
    Oracle: each kernel prints its own number; the connection files and the file system."""
    import json

    async def start_and_ask(number: int):
        km, kc = await _start(tmp_path)
        try:
            await kc.wait_for_ready(timeout=60)
            answer = await _run(kc, f"print({number} * 2)")
        finally:
            kc.stop_channels()
        connection = json.loads(Path(km.connection_file).read_text())
        return km, answer, connection

    async def scenario():
        started = await asyncio.gather(*(start_and_ask(n) for n in range(4)))
        folders = [km.runtime_folder.path for km, _, _ in started]
        await asyncio.gather(*(km.shutdown_kernel() for km, _, _ in started))
        return started, folders

    started, folders = asyncio.run(scenario())
    assert len(set(folders)) == 4 and None not in folders
    for number, ((_, answer, connection), folder) in enumerate(zip(started, folders, strict=True)):
        assert answer == ("ok", f"{number * 2}\n")
        assert connection["transport"] == "ipc"
        assert connection["ip"] == os.path.join(folder, "kernel-ipc")
        assert not os.path.exists(folder)
    assert list(tmp_path.iterdir()) == []


def _lock_tree(root: str) -> None:
    """What a kernel may do in its runtime folder: files, a link out, sub-folders chmod-ed."""
    for name in ("keep", "keep/deeper"):
        os.makedirs(os.path.join(root, name))
        Path(root, name, "data").write_bytes(b"x" * 1000)
    os.symlink("/etc", os.path.join(root, "keep", "outside"))
    os.chmod(os.path.join(root, "keep", "deeper"), 0)
    os.chmod(os.path.join(root, "keep"), 0o500)


def _plain_rmtree(root: str) -> None:
    shutil.rmtree(root, ignore_errors=True)


def _as_kernel_user(function, *args) -> None:
    """Call ``function(*args)`` in a child process as the user a kernel writes as: this one,
    or nobody when root (root ignores file modes; the point is what the owner can do)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            function(*args)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_runtime_folder_is_removed_even_when_the_kernel_locked_its_subfolders():
    """A kernel can `chmod` what it writes in its runtime folder so that a plain
    ``shutil.rmtree(ignore_errors=True)`` leaves it behind on the host (in /dev/shm, memory);
    ``remove_folder`` removes it all and does not follow a link out of it. Oracle: the folder
    is gone, the link's target is untouched; the plain rmtree, run as the same user, is not
    enough."""
    import tempfile

    parent = tempfile.mkdtemp(dir=runtime_parent())
    try:
        os.chmod(parent, 0o777)
        trees = [os.path.join(parent, name) for name in ("plain", "removed")]
        for tree in trees:
            os.mkdir(tree)
            if os.geteuid() == 0:
                os.chown(tree, 65534, 65534)
            _as_kernel_user(_lock_tree, tree)
        etc_before = sorted(os.listdir("/etc"))
        _as_kernel_user(_plain_rmtree, trees[0])
        assert os.path.exists(os.path.join(trees[0], "keep", "deeper"))
        _as_kernel_user(remove_folder, trees[1])
        assert not os.path.exists(trees[1])
        assert sorted(os.listdir("/etc")) == etc_before
    finally:
        remove_folder(parent)


@pytest.mark.slow
@pytest.mark.parametrize("manager_class", MANAGERS)
def test_grading_kernels_run_a_line_as_python_never_as_a_magic(tmp_path, manager_class):
    """IPython's automagic would run ``time <code>`` as ``%time <code>`` (code the static
    check never parsed) and ``pycat / etc / passwd`` (valid Python) as ``%pycat``. Grading
    kernels start with automagic and autocall off. Oracle: the kernel's replies, and the same
    line run in a kernel of jupyter_client's own manager, where the magic runs."""
    from jupyter_client.manager import AsyncKernelManager

    async def outcome(manager) -> tuple[str, str]:
        km, kc = await _start(tmp_path, manager)
        try:
            await kc.wait_for_ready(timeout=60)
            return await _run(kc, "time print('ran', 6 * 7)")
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    async def scenario():
        status, out = await outcome(manager_class)
        assert (status, out) == ("error", "")  # a SyntaxError: nothing ran
        status, out = await outcome(AsyncKernelManager)
        assert status == "ok" and out.startswith("ran 42\nCPU times:")  # %time ran it

    asyncio.run(scenario())


def test_a_kernel_that_dies_before_answering_is_replaced(tmp_path, monkeypatch):
    """``GuardedExecute`` starts another kernel when one dies before it answers (no code of
    the notebook has run in it, so the machine failed, not the student), and names the exit
    status in its log; with ``kernel_start_attempts=1`` the same kernel stops the notebook.
    The launcher here fails the first time it runs (a marker file), then starts IPython."""
    import logging

    import nbformat

    from dnnkit_autograde import GuardedExecute

    marker = tmp_path / "failed-once"
    script = (
        f'if [ -e "$0" ]; then exec {shlex.quote(sys.executable)} -m ipykernel_launcher -f "$@"; '
        'fi; touch "$0"; exit 3'
    )
    _kernel_spec(tmp_path, "flaky", ["sh", "-c", script, str(marker), "{connection_file}"])
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))

    def run(attempts: int) -> tuple[nbformat.NotebookNode, list[str]]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
        nb.metadata["kernelspec"] = {"name": "flaky", "display_name": "flaky", "language": "python"}
        records: list[str] = []
        log = logging.Logger("grading")
        log.addHandler(logging.Handler())
        log.handlers[0].emit = lambda record: records.append(record.getMessage())
        execute = GuardedExecute(
            timeout=60, sandbox=False, kernel_start_attempts=attempts, kernel_name="flaky", log=log
        )
        execute.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
        return nb, records

    nb, records = run(attempts=3)
    assert marker.exists()
    assert nb.cells[0].outputs[0]["text"] == "42\n"
    started = [r for r in records if "did not start" in r]
    assert len(started) == 1, records
    assert "Grading kernel 1 of 3 did not start" in started[0]
    assert "died before replying to kernel_info (exit code 3)" in started[0]

    marker.unlink()
    with pytest.raises(KernelStartError, match=r"\(exit code 3\)"):
        run(attempts=1)


def test_the_sweep_removes_only_old_unlocked_runtime_folders(tmp_path):
    """``sweep_runtime_folders`` removes a runtime folder that no grader holds and that is
    older than its minimum age, with what a kernel left in it; it keeps a folder held by a
    live grader (its lock), a young one, a link with a runtime folder's name (not followed),
    anything not named as a runtime folder and, when run as root, another user's folder
    (another user could swap it for a link between the check and the removal)."""
    parent = tmp_path / "runtime"
    parent.mkdir()
    held = RuntimeFolder("dnnkit-sandbox-", str(parent))
    stale, young, other = (
        parent / "dnnkit-kernel-stale",
        parent / "dnnkit-kernel-young",
        parent / "mine",
    )
    for folder in (stale, young, other):
        folder.mkdir()
    _lock_tree(str(stale))
    target = tmp_path / "target"
    target.mkdir()
    (parent / "dnnkit-sandbox-link").symlink_to(target)
    kept = [Path(held.path).name, young.name, other.name, "dnnkit-sandbox-link"]
    foreign = parent / "dnnkit-kernel-foreign"
    if os.geteuid() == 0:
        foreign.mkdir()
        os.chown(foreign, 65534, 65534)
        kept.append(foreign.name)
    then = time.time() - 2 * SWEEP_MIN_AGE_S
    for path in (Path(held.path), stale, other, foreign):
        if path.exists():
            os.utime(path, (then, then))
    os.utime(parent / "dnnkit-sandbox-link", (then, then), follow_symlinks=False)

    assert sweep_runtime_folders(str(parent)) == [str(stale)]
    assert sorted(p.name for p in parent.iterdir()) == sorted(kept)
    assert target.exists()
    held.remove()
    assert not Path(held.path).exists()
