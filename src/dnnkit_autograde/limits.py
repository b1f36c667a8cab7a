"""Resource limits for one sandboxed kernel: a control group where one can be made, rlimits always.

What holds where (Linux):

- **CPU time** and **size of a written file**: ``RLIMIT_CPU`` (soft, then a hard limit
  :data:`CPU_GRACE_S` later: SIGXCPU, then SIGKILL) and ``RLIMIT_FSIZE`` (a write past it fails
  with ``EFBIG``; Python ignores SIGXFSZ), set by ``prlimit`` (util-linux) just before
  ``bwrap`` runs. Both are per process and inherited by every process the kernel starts.
- **Memory** and **processes/threads**: a per-kernel control group when this process can create
  one (:class:`KernelCgroup`, cgroup v1 ``memory`` + ``pids`` hierarchies or cgroup v2 with
  both controllers; as root, or with a delegated hierarchy). It caps the whole kernel: every
  process and thread it starts, and files it writes to its tmpfs folders, which are memory.
  Otherwise (:attr:`Enforcement.RLIMIT`): ``RLIMIT_DATA`` per process for memory (its
  writable private memory: heap, anonymous maps, thread stacks; not the address space, which
  TensorFlow reserves by gigabytes: 2.9 GB of address space for 0.6 GB of data in a small Keras
  fit), and
  ``RLIMIT_NPROC`` set to the user's current number of tasks plus the limit (it counts all of
  the user's threads). The kernel exempts root from ``RLIMIT_NPROC``, so a root grader without a
  writable cgroup has **no process limit** (a warning is logged).

The cgroup is joined by a ``sh`` wrapper before it ``exec``s the rest of the command, so no
process of the kernel ever runs outside it; :meth:`KernelCgroup.remove` kills what is left in it
and removes it when the kernel ends. A grader that is killed (a lost Dask worker) leaves its
kernel's cgroup behind, empty (the kernel dies with it): :func:`sweep_cgroups`, run before each
new cgroup is made, removes such leftovers.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .kernels import SWEEP_MIN_AGE_S

__all__ = [
    "CPU_GRACE_S",
    "Enforcement",
    "KernelCgroup",
    "Limits",
    "join_cgroup_command",
    "prlimit_command",
    "sweep_cgroups",
    "user_task_count",
]

#: Seconds of CPU time between SIGXCPU (soft limit) and SIGKILL (hard limit).
CPU_GRACE_S = 2

#: Folder, under each cgroup hierarchy's root, holding one cgroup per sandboxed kernel.
CGROUP_PARENT = "dnnkit-sandbox"


_MIB = 1024 * 1024

# `sh -c` script: write the shell's pid into each cgroup.procs file named before "--", then
# exec the command after it (so the command and all its children start inside the cgroups).
_JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class Enforcement(enum.Enum):
    """How memory and process limits are enforced for a kernel."""

    CGROUP = "cgroup"  # a per-kernel control group (memory and pids controllers)
    RLIMIT = "rlimit"  # per-process rlimits only (RLIMIT_DATA, RLIMIT_NPROC)


@dataclass(frozen=True)
class Limits:
    """The limits of one kernel (0 means no limit for that resource).

    Attributes
    ----------
    memory_mb : int
        Memory of the whole kernel (cgroup) or data (writable private memory) of each of its
        processes (rlimit).
    cpu_seconds : int
        CPU time of each process of the kernel (all its threads together).
    max_processes : int
        Processes and threads of the kernel together.
    max_file_mb : int
        Size of any one file the kernel writes.
    """

    memory_mb: int
    cpu_seconds: int
    max_processes: int
    max_file_mb: int


def user_task_count(uid: int | None = None) -> int:
    """Number of tasks (processes and threads) that ``uid`` (default: ours) runs now."""
    uid = os.getuid() if uid is None else uid
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
    return count


def prlimit_command(limits: Limits, enforcement: Enforcement) -> list[str]:
    """``prlimit`` and its options: the rlimits for ``limits`` (put before the command).

    Parameters
    ----------
    limits : Limits
    enforcement : Enforcement
        With :attr:`Enforcement.RLIMIT`, memory and processes are rlimits too.

    Returns
    -------
    list of str
    """
    options = []
    if limits.cpu_seconds:
        options.append(f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + CPU_GRACE_S}")
    if limits.max_file_mb:
        options.append(f"--fsize={limits.max_file_mb * _MIB}")
    if enforcement is Enforcement.RLIMIT:
        if limits.memory_mb:
            options.append(f"--data={limits.memory_mb * _MIB}")
        if limits.max_processes and os.getuid() != 0:
            options.append(f"--nproc={user_task_count() + limits.max_processes}")
    return ["prlimit", *options] if options else []


def join_cgroup_command(cgroup: KernelCgroup | None) -> list[str]:
    """A ``sh`` prefix that moves itself into ``cgroup`` and then runs the rest of the command."""
    if cgroup is None:
        return []
    procs = [str(folder / "cgroup.procs") for folder in cgroup.folders]
    return ["sh", "-c", _JOIN_SCRIPT, "dnnkit-sandbox", *procs, "--"]


def _cgroup_mounts() -> tuple[dict[str, Path], Path | None]:
    """(cgroup v1 mount point per controller, cgroup v2 mount point or None)."""
    v1: dict[str, Path] = {}
    v2 = None
    with contextlib.suppress(OSError), open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, point, kind, options, *_ = line.split()
            if kind == "cgroup":
                for option in options.split(","):
                    v1.setdefault(option, Path(point))
            elif kind == "cgroup2" and v2 is None:
                v2 = Path(point)
    return v1, v2


def sweep_cgroups(parents: list[Path]) -> list[Path]:
    """Remove the kernels' cgroups in ``parents`` that no process is in any more (left by a
    grader that was killed); return them. The kernel refuses to remove a cgroup that holds a
    process, so a live kernel's is never touched; one younger than
    :data:`~.kernels.SWEEP_MIN_AGE_S` is left alone (made, not yet joined)."""
    removed = []
    for parent in parents:
        with contextlib.suppress(OSError):
            for folder in parent.iterdir():
                with contextlib.suppress(OSError):  # busy (a live kernel), or swept by another
                    if folder.is_dir() and time.time() - folder.stat().st_mtime >= SWEEP_MIN_AGE_S:
                        folder.rmdir()
                        removed.append(folder)
    return removed


def _write(path: Path, value: str) -> None:
    path.write_text(value)


@dataclass
class KernelCgroup:
    """The control group(s) of one kernel: one folder per v1 hierarchy, or one v2 folder.

    Attributes
    ----------
    folders : list of Path
        The cgroup folders the kernel joins (``memory`` and ``pids`` for v1).
    version : int
        1 or 2.
    """

    folders: list[Path]
    version: int

    @classmethod
    def create(cls, limits: Limits, name: str | None = None) -> KernelCgroup | None:
        """Make the kernel's cgroup with ``limits``, or return None where none can be made.

        Parameters
        ----------
        limits : Limits
        name : str, optional
            The cgroup's folder name (default: a fresh random one).
        """
        name = name or uuid.uuid4().hex
        v1, v2 = _cgroup_mounts()
        makers = []
        if "memory" in v1 and "pids" in v1:
            sweep_cgroups([v1["memory"] / CGROUP_PARENT, v1["pids"] / CGROUP_PARENT])
            makers.append(lambda: cls._create_v1(v1, name, limits))
        if v2 is not None:
            sweep_cgroups([v2 / CGROUP_PARENT])
            makers.append(lambda: cls._create_v2(v2, name, limits))
        for make in makers:
            with contextlib.suppress(OSError):  # not writable here: try the next, or rlimits
                return make()
        return None

    @classmethod
    def _create_v1(cls, mounts: dict[str, Path], name: str, limits: Limits) -> KernelCgroup:
        memory = mounts["memory"] / CGROUP_PARENT / name
        pids = mounts["pids"] / CGROUP_PARENT / name
        cgroup = cls([memory, pids], 1)
        try:
            for folder in cgroup.folders:
                folder.mkdir(parents=True)
            if limits.memory_mb:
                _write(memory / "memory.limit_in_bytes", str(limits.memory_mb * _MIB))
                swap = memory / "memory.memsw.limit_in_bytes"  # only with swap accounting
                with contextlib.suppress(OSError):
                    _write(swap, str(limits.memory_mb * _MIB))
            if limits.max_processes:
                _write(pids / "pids.max", str(limits.max_processes))
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    @classmethod
    def _create_v2(cls, mount: Path, name: str, limits: Limits) -> KernelCgroup:
        parent = mount / CGROUP_PARENT
        cgroup = cls([parent / name], 2)
        try:
            parent.mkdir(exist_ok=True)
            for folder in (mount, parent):  # both controllers must reach the kernel's cgroup
                _write(folder / "cgroup.subtree_control", "+memory +pids")
            cgroup.folders[0].mkdir()
            if limits.memory_mb:
                _write(cgroup.folders[0] / "memory.max", str(limits.memory_mb * _MIB))
                with contextlib.suppress(OSError):
                    _write(cgroup.folders[0] / "memory.swap.max", "0")
            if limits.max_processes:
                _write(cgroup.folders[0] / "pids.max", str(limits.max_processes))
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def pids(self) -> set[int]:
        """The processes in the cgroup now."""
        found: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return found

    def remove(self, timeout: float = 5.0) -> bool:
        """Kill every process left in the cgroup and remove it; True when it is gone."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for folder in self.folders:
                with contextlib.suppress(FileNotFoundError):
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            if not any(folder.exists() for folder in self.folders):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
