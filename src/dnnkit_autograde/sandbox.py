"""Every grading kernel in an OS sandbox: bubblewrap, through a Jupyter kernel provisioner.

:class:`SandboxedKernelManager` is the kernel manager of ``GuardedExecute``; its kernel spec names
the provisioner ``dnnkit-sandbox`` (:class:`SandboxProvisioner`, an entry point of this package),
which jupyter_client's ``KernelProvisionerFactory`` then uses to launch the kernel, so nbgrader and
nbclient are not patched. The provisioner runs the kernel command as::

    [sh -c <join the kernel's cgroup>]  prlimit <rlimits>  bwrap <namespaces, mounts>  python -I ...

Inside, the kernel (``uid`` 65534, no capabilities, ``no_new_privs``) sees:

- a read-only system: ``/usr``, ``/etc`` (less :attr:`Sandbox.hidden_paths`), the ``/bin``,
  ``/lib*`` links, the Python installation (``sys.base_prefix``), the environment
  (``sys.prefix``), the folder of the installed ``dnnkit`` package and :attr:`Sandbox.ro_paths`;
  not the course folder, not this package, not the home folders;
- one writable folder, :data:`SCRATCH` (its working directory and ``HOME``), and ``/tmp``: both
  fresh, size-limited tmpfs per kernel, gone when it ends. Neither is on ``sys.path``
  (``python -I``, IPython's ``ignore_cwd``), so a file written there never shadows a module.
  The notebook being graded is *not* there by default (:attr:`Sandbox.copy_notebooks`): in
  ``nbgrader autograde`` it holds the hidden tests. Matplotlib's font list, made once by the
  grader (:mod:`.font_list`), is bound read-only into its ``MPLCONFIGDIR``;
- no network (its own, empty network namespace) and its own PID, IPC, UTS, cgroup and user
  namespaces, so it can signal nothing outside; it dies with the grader (``--die-with-parent``)
  and cannot reach the terminal (``--new-session``). It talks to its client over unix sockets
  (``transport="ipc"``) in a per-kernel runtime folder bound at the same path, which also holds
  the connection file;
- a minimal environment (``--clearenv``; :attr:`Sandbox.env_keep` passes chosen variables);
- limits on memory, CPU time, processes/threads and file size: see :mod:`.limits` for what holds
  where (a per-kernel cgroup where one can be made, rlimits always).

Interrupts go as ``interrupt_request`` messages (``interrupt_mode="message"``): a signal would
reach ``bwrap``, not the kernel.

:func:`check_available` says, with the fix, why sandboxing cannot work on this machine.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from .font_list import matplotlib_font_list
from .kernels import GradingKernelManager, RuntimeFolder, runs_ipykernel, runtime_parent
from .limits import (
    Enforcement,
    KernelCgroup,
    Limits,
    join_cgroup_command,
    prlimit_command,
)

__all__ = [
    "PROVISIONER_NAME",
    "SCRATCH",
    "Sandbox",
    "SandboxProvisioner",
    "SandboxUnavailable",
    "SandboxedKernelManager",
    "check_available",
]

#: The provisioner's entry point name (group ``jupyter_client.kernel_provisioners``).
PROVISIONER_NAME = "dnnkit-sandbox"

#: The kernel's working directory and ``HOME`` inside the sandbox.
SCRATCH = "/home/student"

#: File in a kernel's runtime folder that receives its launcher's stderr (see
#: :meth:`SandboxProvisioner.launch_errors`).
LAUNCH_ERRORS = "launch-errors.txt"

#: Matplotlib's configuration and cache folder inside the sandbox (``MPLCONFIGDIR``).
MPLCONFIG_DIR = f"{SCRATCH}/.config/matplotlib"

#: The user and group the kernel runs as inside the sandbox ("nobody").
SANDBOX_ID = 65534

#: Top-level folders that are often links into /usr (merged /usr); bound or linked as found.
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

#: Kernel-wide sysctls that can keep unprivileged user namespaces off, and their "on" value.
_USERNS_SYSCTLS = {
    "kernel.unprivileged_userns_clone": "1",
    "kernel.apparmor_restrict_unprivileged_userns": "0",
    "user.max_user_namespaces": "a number > 0",
}


class SandboxUnavailable(RuntimeError):
    """The OS sandbox cannot run on this machine; the message names the fix."""


class Sandbox(LoggingConfigurable):
    """Settings of the sandbox around each grading kernel (``c.Sandbox.<name>`` in config)."""

    enabled = Bool(
        True,
        help="Run grading kernels in the sandbox. False: plain local kernels (trusted code only).",
    ).tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable (name on PATH or path).").tag(
        config=True
    )
    memory_mb = Integer(
        4096,
        help="Memory of a kernel in MiB, its tmpfs files included (cgroup), or data (writable "
        "private memory) of each of its processes where no cgroup can be made. 0: no limit.",
    ).tag(config=True)
    cpu_seconds = Integer(
        1800,
        help="CPU time (s) of each process of a kernel, all its threads together; a kernel "
        "over it is killed (a fresh one then runs the rest of the notebook). 0: no limit.",
    ).tag(config=True)
    max_processes = Integer(
        512,
        help="Processes and threads of a kernel together (TensorFlow starts about 2 per core "
        "plus a few dozen). 0: no limit.",
    ).tag(config=True)
    max_file_mb = Integer(
        64, help="Largest file a kernel may write, in MiB (a bigger write fails). 0: no limit."
    ).tag(config=True)
    use_cgroups = Bool(
        True,
        help="Enforce memory and process limits with a per-kernel cgroup where one can be made "
        "(whole kernel); False: rlimits only (memory per process; no process limit for root).",
    ).tag(config=True)
    scratch_mb = Integer(
        512, help="Size in MiB of each of the kernel's writable tmpfs folders (HOME and /tmp)."
    ).tag(config=True)
    runtime_root = Unicode(
        "",
        help="Where each kernel's runtime folder (connection file, IPC sockets; the one host "
        "folder it can write) is made. Empty: /dev/shm where writable (a tmpfs, so what a "
        "kernel writes there is memory and counts against its cgroup), else the temp folder.",
    ).tag(config=True)
    ro_paths = List(
        Unicode(),
        help="More host folders or files the kernel may read (bound read-only at the same "
        "path), e.g. a Keras datasets cache (set KERAS_HOME through env_keep).",
    ).tag(config=True)
    hidden_paths = List(
        Unicode(),
        default_value=["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssh"],
        help="Paths under the bound system folders that the kernel must not see (replaced by "
        "an empty file or folder).",
    ).tag(config=True)
    env_keep = List(
        Unicode(),
        default_value=[
            "DNNKIT_PROFILE",
            "TF_CPP_MIN_LOG_LEVEL",
            "TF_ENABLE_ONEDNN_OPTS",
            "KERAS_BACKEND",
            "NBGRADER_EXECUTION",
            "OMP_NUM_THREADS",
        ],
        help="Variables of the grader's environment passed on to the kernel, when set.",
    ).tag(config=True)
    kernel_output = Bool(
        False,
        help="Let the kernel process's own stdout/stderr (not cell outputs, which go to the "
        "notebook) through to the grader's; off: discarded, so a kernel cannot flood the log.",
    ).tag(config=True)
    copy_notebooks = Bool(
        False,
        help="Put the notebooks of the kernel's launch folder, read-only, in its scratch "
        "folder. Off by default: in nbgrader autograde they hold the hidden tests.",
    ).tag(config=True)

    def runtime_parent(self) -> str:
        """The folder in which kernels' runtime folders are made (see ``runtime_root``)."""
        return self.runtime_root or runtime_parent()

    def limits(self) -> Limits:
        """The configured per-kernel limits."""
        return Limits(self.memory_mb, self.cpu_seconds, self.max_processes, self.max_file_mb)

    def read_only_paths(self) -> list[str]:
        """Host paths bound read-only at the same path (existing ones, outermost first)."""
        paths = ["/usr", "/etc", sys.base_prefix, sys.prefix, _dnnkit_folder(), *self.ro_paths]
        real = [os.path.realpath(p) for p in paths if p and os.path.exists(p)]
        return sorted(dict.fromkeys(real), key=lambda p: p.count(os.sep))

    def environment(self, launch_env: dict[str, str], spec_env: dict[str, str]) -> dict[str, str]:
        """The kernel's whole environment, built from scratch.

        Parameters
        ----------
        launch_env : dict
            The environment jupyter_client prepared (the grader's, plus the kernel spec's).
        spec_env : dict
            The kernel spec's own ``env`` (passed on in full).
        """
        env = {
            "PATH": os.pathsep.join(
                [os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
            ),
            "HOME": SCRATCH,
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "MPLCONFIGDIR": MPLCONFIG_DIR,
            "KERAS_HOME": f"{SCRATCH}/.keras",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONNOUSERSITE": "1",
            "PYTHONSAFEPATH": "1",
            # ipykernel: 1 means "no parent to watch" (bwrap kills the kernel with its parent),
            # and it keeps the kernel from printing its console banner into the grader's log.
            "JPY_PARENT_PID": "1",
        }
        env.update({k: launch_env[k] for k in self.env_keep if k in launch_env})
        env.update({k: launch_env.get(k, v) for k, v in spec_env.items()})
        return env


def _dnnkit_folder() -> str:
    """The folder of the installed ``dnnkit`` package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("dnnkit")
    if spec is None or not spec.submodule_search_locations:
        return ""
    return list(spec.submodule_search_locations)[0]


# --- availability ------------------------------------------------------------------------------


def _sysctl_problems() -> list[str]:
    """The user-namespace sysctls that are off now, as ``name=value (needs ...)``."""
    problems = []
    for name, wanted in _USERNS_SYSCTLS.items():
        path = Path("/proc/sys") / name.replace(".", "/")
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        off = value == "0" if name == "user.max_user_namespaces" else value != wanted
        if off:
            problems.append(f"{name}={value} (needs {wanted})")
    return problems


@functools.lru_cache(maxsize=8)
def check_available(bwrap: str = "bwrap") -> str:
    """Check that bubblewrap can make a sandbox here; return its path.

    Raises
    ------
    SandboxUnavailable
        When ``bwrap`` or ``prlimit`` is missing or user namespaces are off, with the fix.
    """
    path = shutil.which(bwrap)
    if path is None:
        raise SandboxUnavailable(
            f"bubblewrap ({bwrap!r}) is not installed, so grading kernels cannot be sandboxed. "
            "Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf "
            "install bubblewrap`; or `make sandbox`), or grade without the sandbox at your own "
            "risk: `--no-sandbox` (dnnkit-autograde), `--GuardedExecute.sandbox=False` (nbgrader)."
        )
    if shutil.which("prlimit") is None:
        raise SandboxUnavailable(
            "`prlimit` is missing: install util-linux (`apt-get install util-linux`)."
        )
    probe = [path, "--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "--", "true"]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        sysctls = _sysctl_problems()
        fix = (
            "turn unprivileged user namespaces on: " + "; ".join(f"sysctl -w {p}" for p in sysctls)
            if sysctls
            else "allow user namespaces for this user (in a container: run it with "
            "`--security-opt seccomp=unconfined` or a profile that allows unshare/clone)"
        )
        raise SandboxUnavailable(
            f"bubblewrap cannot create a sandbox here ({result.stderr.strip() or result.returncode}); "
            f"{fix}. Or grade without the sandbox at your own risk (`--no-sandbox`)."
        )
    return path


# --- the bwrap command -------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelMounts:
    """What one kernel's sandbox binds besides the system.

    Attributes
    ----------
    runtime : str
        Host folder with the connection file and the IPC sockets (bound read-write, same path).
    notebooks : tuple of str
        Host notebooks bound read-only into the scratch folder.
    font_list : str, optional
        Matplotlib's font list (:mod:`.font_list`), bound read-only into ``MPLCONFIG_DIR``.
    """

    runtime: str
    notebooks: tuple[str, ...] = ()
    font_list: str | None = None


def _system_args() -> list[str]:
    """``/bin``, ``/lib*``...: a link where the host has a link (merged /usr), else a bind."""
    args = []
    for name in _SYSTEM_LINKS:
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def _hide_args(paths: list[str]) -> list[str]:
    """Cover each existing path with an empty folder (tmpfs) or file (/dev/null)."""
    args = []
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            args += ["--ro-bind", "/dev/null", path]
    return args


def bwrap_args(sandbox: Sandbox, mounts: KernelMounts, env: dict[str, str]) -> list[str]:
    """The options of ``bwrap`` (everything before the kernel command).

    Parameters
    ----------
    sandbox : Sandbox
    mounts : KernelMounts
    env : dict
        The kernel's whole environment.
    """
    size = str(sandbox.scratch_mb * 1024 * 1024)
    args = ["--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--uid", str(SANDBOX_ID), "--gid", str(SANDBOX_ID), "--cap-drop", "ALL"]
    args += ["--die-with-parent", "--new-session", "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    # Fresh mounts first: a bind below them (a venv or runtime folder under /tmp) comes after,
    # or the tmpfs would hide it (bwrap applies its options in order).
    args += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/tmp"]
    for path in sandbox.read_only_paths():
        args += ["--ro-bind", path, path]
    args += _system_args() + _hide_args(sandbox.hidden_paths)
    args += ["--bind", mounts.runtime, mounts.runtime]
    args += ["--size", size, "--tmpfs", SCRATCH]
    for notebook in mounts.notebooks:
        args += ["--ro-bind", notebook, f"{SCRATCH}/{os.path.basename(notebook)}"]
    if mounts.font_list:
        args += ["--dir", MPLCONFIG_DIR]  # made by the kernel's user: matplotlib writes there
        args += [
            "--ro-bind",
            mounts.font_list,
            f"{MPLCONFIG_DIR}/{os.path.basename(mounts.font_list)}",
        ]
    args += ["--chdir", SCRATCH, "--remount-ro", "/"]
    return args


def isolate_python(cmd: list[str]) -> list[str]:
    """Keep the kernel's folder off ``sys.path``: ``python -I`` and IPython's ``ignore_cwd``."""
    if not cmd or not os.path.basename(cmd[0]).startswith("python"):
        return list(cmd)
    cmd = [cmd[0], "-I", *cmd[1:]]
    if runs_ipykernel(cmd):
        cmd.append("--IPKernelApp.ignore_cwd=True")
    return cmd


# --- the provisioner ---------------------------------------------------------------------------


class SandboxProvisioner(LocalProvisioner):
    """A ``LocalProvisioner`` that launches the kernel inside bubblewrap, with limits.

    Registered as the ``dnnkit-sandbox`` kernel provisioner. Settings come from
    :class:`Sandbox` (``c.Sandbox.*``, read through the kernel manager's config).
    """

    runtime_dir: str | None = None
    cgroup: KernelCgroup | None = None
    enforcement: Enforcement | None = None
    _stderr_file: Any = None
    _runtime_folder: RuntimeFolder | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox settings (from the kernel manager's configuration)."""
        if getattr(self, "_sandbox", None) is None:
            self._sandbox = Sandbox(parent=self)
        return self._sandbox

    def _prepare_runtime(self) -> str:
        """The per-kernel runtime folder; points the manager's connection file and sockets there."""
        km = self.parent
        if self.runtime_dir is None:
            self._runtime_folder = RuntimeFolder("dnnkit-sandbox-", self.sandbox.runtime_parent())
            self.runtime_dir = self._runtime_folder.path
        km.transport = "ipc"
        km.connection_file = os.path.join(self.runtime_dir, "kernel.json")
        km.ip = os.path.join(self.runtime_dir, "kernel-ipc")
        return self.runtime_dir

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Write the connection file in the runtime folder and wrap the command in the sandbox."""
        bwrap = check_available(self.sandbox.bwrap)
        runtime = self._prepare_runtime()
        spec_env = dict(self.kernel_spec.env or {})
        kwargs = await super().pre_launch(**kwargs)
        launch_cwd = kwargs.pop("cwd", None) or os.getcwd()
        notebooks = ()
        if self.sandbox.copy_notebooks:
            notebooks = tuple(sorted(str(p) for p in Path(launch_cwd).glob("*.ipynb")))
        env = self.sandbox.environment(kwargs.pop("env"), spec_env)
        mounts = KernelMounts(runtime, notebooks, matplotlib_font_list())
        inner = [bwrap, *bwrap_args(self.sandbox, mounts, env), "--"]
        kwargs["cmd"] = self._limit(inner + isolate_python(kwargs["cmd"]))
        kwargs["cwd"] = runtime
        kwargs["env"] = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
        if not self.sandbox.kernel_output:
            kwargs.setdefault("stdout", subprocess.DEVNULL)
            # in the kernel's own runtime folder (which it can fill anyway): read back only if
            # the kernel dies before it answers, to say why (a bwrap error, a missing module)
            self._stderr_file = open(os.path.join(runtime, LAUNCH_ERRORS), "wb")  # noqa: SIM115
            kwargs.setdefault("stderr", self._stderr_file)
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        """Launch as ``LocalProvisioner`` does, then close the grader's copy of the stderr file."""
        try:
            return await super().launch_kernel(cmd, **kwargs)
        finally:
            if self._stderr_file is not None:
                self._stderr_file.close()
                self._stderr_file = None

    def launch_errors(self, limit: int = 2000) -> str:
        """The start of what the kernel's launcher (bwrap, then Python) wrote on stderr; ""
        when it goes elsewhere (``kernel_output``) or is gone. Meant for a kernel that died
        before answering: no code of the notebook has run in it yet."""
        if self.runtime_dir is None:
            return ""
        path = os.path.join(self.runtime_dir, LAUNCH_ERRORS)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as fh:
            try:
                text = fh.read(limit).decode(errors="replace")
            except OSError:  # not a plain file
                return ""
        return " ".join(text.split())

    def _limit(self, cmd: list[str]) -> list[str]:
        """Prefix ``cmd`` with the cgroup join and the rlimits."""
        limits = self.sandbox.limits()
        self.cgroup = None
        if self.sandbox.use_cgroups:
            self.cgroup = KernelCgroup.create(limits, name=self.kernel_id)
        self.enforcement = Enforcement.CGROUP if self.cgroup else Enforcement.RLIMIT
        if self.cgroup is None and os.getuid() == 0 and limits.max_processes:
            self.log.warning(
                "dnnkit sandbox: no writable cgroup and running as root, so the kernel has no "
                "process limit (RLIMIT_NPROC does not apply to root)."
            )
        return join_cgroup_command(self.cgroup) + prlimit_command(limits, self.enforcement) + cmd

    def resolve_path(self, path_str: str) -> str | None:
        """Kernel paths are not host paths: nothing is resolved."""
        return None

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the kernel's cgroup, and its runtime folder unless it restarts."""
        await super().cleanup(restart=restart)
        if self.cgroup is not None:
            if not self.cgroup.remove():
                self.log.warning("dnnkit sandbox: could not remove cgroup %s", self.cgroup.folders)
            self.cgroup = None
        if not restart and self._runtime_folder is not None:
            self._runtime_folder.remove()
            self._runtime_folder = None
            self.runtime_dir = None


# --- the kernel manager ------------------------------------------------------------------------


class SandboxedKernelManager(GradingKernelManager):
    """A :class:`~.kernels.GradingKernelManager` whose kernels run in the sandbox.

    Its kernel spec is the named kernel's (``python3``...) with
    ``metadata.kernel_provisioner = {"provisioner_name": "dnnkit-sandbox"}`` and
    ``interrupt_mode = "message"``; with ``c.Sandbox.enabled = False`` it is a plain manager.
    """

    def use_runtime_folder(self) -> None:
        """Without the sandbox, as a plain grading kernel; in it, the provisioner makes the
        runtime folder (where the sandbox can bind it)."""
        if not Sandbox(parent=self).enabled:
            super().use_runtime_folder()

    @property
    def kernel_spec(self):
        """The kernel spec, pointed at the sandbox provisioner (a copy; the original is kept)."""
        if self._kernel_spec is None and self.kernel_name != "":
            spec = self.kernel_spec_manager.get_kernel_spec(self.kernel_name)
            if Sandbox(parent=self).enabled:
                spec.metadata = dict(spec.metadata or {})
                spec.metadata["kernel_provisioner"] = {
                    "provisioner_name": PROVISIONER_NAME,
                    "config": {},
                }
                spec.interrupt_mode = "message"
            self._kernel_spec = spec
        return self._kernel_spec
