"""Kernel manager and client for grading kernels: started and stopped without idle waits.

A grading kernel runs one notebook and is thrown away, so two waits of jupyter_client that
make sense for a user's kernel are pure idle time here, paid by every graded notebook (about
0.3 s of the 1.4 s a NumPy assignment takes, measured by ``benchmarks/grading_throughput.py``):

- after the kernel answers ``kernel_info``, ``KernelClient.wait_for_ready`` reads IOPub until
  it has been silent for 0.2 s. :class:`GradingKernelClient` reads what is already there and
  goes on: nbclient ignores IOPub messages that answer another request.
- a graceful shutdown asks the kernel to exit and checks every 0.1 s whether it has.
  :class:`GradingKernelManager` kills the kernel (its process group; in the sandbox, the whole
  PID namespace) and waits for that process itself; nothing in a grading kernel needs a clean
  exit.

Grading kernels talk to their client over IPC sockets in a folder of their own (on POSIX), not
over TCP: jupyter_client picks a TCP kernel's ports by opening and closing them before the kernel
starts, so two kernels started at the same moment by two workers of a batch can be given the
same port (jupyter_client issue #487), and one of them fails.

``GuardedExecute`` uses :class:`GradingKernelManager` for kernels outside the sandbox and
:class:`~dnnkit_autograde.sandbox.SandboxedKernelManager`, a subclass, inside it, so both run
the same way and the sandbox's cost is measured alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import stat
import tempfile
import time
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Float, Type, default

__all__ = [
    "IPYTHON_OPTIONS",
    "GradingKernelClient",
    "KernelStartError",
    "GradingKernelManager",
    "RuntimeFolder",
    "remove_folder",
    "runs_ipykernel",
    "runtime_parent",
    "sweep_runtime_folders",
]

#: IPython options of every grading kernel: a cell runs as the Python that the static check
#: read. IPython's defaults turn a one-line cell that starts with a magic's name into that
#: magic (automagic: ``time <code>`` runs ``%time``, which runs ``<code>`` unchecked), and
#: autocall would turn ``f x`` into ``f(x)``.
IPYTHON_OPTIONS = ("--InteractiveShell.automagic=False", "--InteractiveShell.autocall=0")


def runtime_parent() -> str:
    """Where kernels' runtime folders (connection file, IPC sockets) are made: ``/dev/shm``
    where it is writable (in memory, and a short path: a socket's path has at most 107
    characters), else the temporary folder."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def runs_ipykernel(cmd: list[str]) -> bool:
    """Does the kernel command line start an IPython kernel (``-m ipykernel_launcher``)?"""
    return any("ipykernel" in part for part in cmd)


def remove_folder(path: str) -> None:
    """Remove a kernel's runtime folder and everything in it, also the sub-folders the kernel
    made read-only or unreadable (``chmod 0``): it writes there as the grader's own user, so
    the grader may always make them writable again. Symbolic links are removed, not followed."""
    with contextlib.suppress(OSError):
        os.chmod(path, stat.S_IRWXU)
    for folder, subfolders, _ in os.walk(path):  # top-down: each is opened after its chmod
        for name in subfolders:
            inner = os.path.join(folder, name)
            if not os.path.islink(inner):
                with contextlib.suppress(OSError):
                    os.chmod(inner, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


#: Names of kernels' runtime folders: ``<prefix><random>`` in :func:`runtime_parent`.
RUNTIME_PREFIXES = ("dnnkit-kernel-", "dnnkit-sandbox-")

#: A runtime folder or kernel cgroup younger than this (s) is never swept: it may be between
#: being made and being locked by its grader (or joined by its kernel).
SWEEP_MIN_AGE_S = 60.0


class RuntimeFolder:
    """A kernel's runtime folder (connection file, IPC sockets), locked while its grader runs.

    The grader holds an exclusive ``flock`` on the folder itself; the lock goes when the grader's
    process ends, however it ends. So a folder left behind by a grader that was killed (a lost
    Dask worker; the kernel died with it) is unlocked, and :func:`sweep_runtime_folders`, run
    before every new folder is made, removes it. A sandboxed kernel sees only its own folder,
    never the folder that holds it, so it cannot take, move or replace another one.
    """

    def __init__(self, prefix: str, parent: str | None = None):
        parent = parent or runtime_parent()
        sweep_runtime_folders(parent)
        self.path = os.path.realpath(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._fd: int | None = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def remove(self) -> None:
        """Remove the folder (see :func:`remove_folder`), then let go of its lock."""
        remove_folder(self.path)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep_runtime_folders(parent: str) -> list[str]:
    """Remove the runtime folders in ``parent`` that no live grader holds (see
    :class:`RuntimeFolder`); return their paths. Only folders of this user are touched (in
    ``/dev/shm``, a sticky folder, nobody else can then rename or replace them), and never
    one younger than :data:`SWEEP_MIN_AGE_S`, a link or another kind of file."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(RUNTIME_PREFIXES):
            continue
        try:
            found = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
                continue
            if time.time() - found.st_mtime < SWEEP_MIN_AGE_S:
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino):
                continue  # replaced since it was listed
            remove_folder(entry.path)
            removed.append(entry.path)
        except OSError:  # a live grader holds it
            continue
        finally:
            os.close(fd)
    return removed


class KernelStartError(RuntimeError):
    """A kernel died, or did not answer, before it had run any code: the machine's failure,
    never the notebook's (``GuardedExecute`` starts another one)."""


def exit_status(returncode: int | None) -> str:
    """``returncode`` of a process, in words: "exit code 1", "killed by SIGKILL"."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class GradingKernelClient(AsyncKernelClient):
    """An ``AsyncKernelClient`` that is ready as soon as the kernel has answered."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """Wait until the kernel answers ``kernel_info`` on the shell channel and IOPub is
        connected (a message arrives on it); raise :class:`KernelStartError` if the kernel
        dies or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:  # the reply's "busy"/"idle" status messages show IOPub is connected
                    await self.iopub_channel.get_msg(timeout=0.2)
                except Empty:
                    pass  # not yet subscribed (ZeroMQ's slow joiner): ask again
                else:
                    self._handle_kernel_info_reply(reply)
                    break
            if not await self._async_is_alive():
                raise KernelStartError(
                    "Kernel died before replying to kernel_info" + self._why_it_ended()
                )
            if time.monotonic() > deadline:
                raise KernelStartError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:  # drop what has arrived; later messages for kernel_info are ignored
            try:
                await self.iopub_channel.get_msg(timeout=0)
            except Empty:
                break

    def _why_it_ended(self) -> str:
        """ " (exit code 1: <what the launcher wrote>)", from the manager that started the
        kernel; "" when this client has no such manager."""
        if not isinstance(self.parent, GradingKernelManager):
            return ""
        return f" ({self.parent.why_it_ended()})"


class GradingKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels are killed, not asked to exit, at shutdown."""

    client_class = DottedObjectName("dnnkit_autograde.kernels.GradingKernelClient", config=True)
    client_factory = Type(GradingKernelClient, klass=AsyncKernelClient, config=True)

    reap_timeout = Float(
        5.0, help="Seconds to wait for a killed kernel's process to exit.", config=True
    )

    #: The kernel's own runtime folder (connection file and IPC sockets), while it runs.
    runtime_folder: RuntimeFolder | None = None

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc" if os.name == "posix" else "tcp"

    def use_runtime_folder(self) -> None:
        """Put the connection file and the IPC sockets in a new folder of this kernel's own."""
        if self.transport == "ipc" and self.runtime_folder is None:
            self.runtime_folder = RuntimeFolder(RUNTIME_PREFIXES[0])
            self.connection_file = os.path.join(self.runtime_folder.path, "kernel.json")
            self.ip = os.path.join(self.runtime_folder.path, "kernel-ipc")

    def why_it_ended(self) -> str:
        """The kernel process's exit status, and for a sandboxed kernel the start of what its
        launcher wrote on stderr (``SandboxProvisioner.launch_errors``)."""
        process = getattr(self.provisioner, "process", None)
        if process is None:
            return "no process"
        why = exit_status(process.poll())
        errors = getattr(self.provisioner, "launch_errors", lambda: "")()
        return f"{why}: {errors}" if errors else why

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel's command line, with :data:`IPYTHON_OPTIONS` for an IPython kernel."""
        cmd = super().format_kernel_cmd(extra_arguments)
        if runs_ipykernel(cmd):
            cmd += list(IPYTHON_OPTIONS)
        return cmd

    async def _async_pre_start_kernel(self, **kw):
        self.use_runtime_folder()
        return await super()._async_pre_start_kernel(**kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.runtime_folder is not None:
            self.runtime_folder.remove()
            self.runtime_folder = None

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        """As ``_async_cleanup_resources``: jupyter_client's ``AsyncKernelManager`` binds this
        name to its base class's method, so nbclient's clean-up after a kernel that never
        answered would skip this class's (and leave the runtime folder behind)."""
        await self._async_cleanup_resources(restart=restart)

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        """Kill the kernel and wait for its process to exit, then let jupyter_client clean
        up (it then finds the process gone and does not poll)."""
        process = getattr(self.provisioner, "process", None) if self.has_kernel else None
        if process is not None and not restart:
            await self.provisioner.kill()
            try:
                await asyncio.to_thread(process.wait, self.reap_timeout)
            except Exception:  # noqa: BLE001 - jupyter_client's shutdown below still runs
                self.log.warning(
                    "A killed grading kernel did not exit within %s s", self.reap_timeout
                )
        await super().shutdown_kernel(now=True, restart=restart)
