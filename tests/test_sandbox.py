"""The OS sandbox around grading kernels (dnnkit_autograde.sandbox), with real kernels.

Each attack a hostile submission could make is run in a plain local kernel, where it works
(where that is safe to show), and in a sandboxed one, where it must fail; floods run only
sandboxed, against small limits, and the grader (this process) must come through them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from grading_support import sandbox_problem
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets.config import Config

from dnnkit_autograde.kernels import sweep_runtime_folders
from dnnkit_autograde.limits import CGROUP_PARENT, Enforcement, KernelCgroup, Limits, sweep_cgroups
from dnnkit_autograde.sandbox import (
    PROVISIONER_NAME,
    SCRATCH,
    KernelMounts,
    Sandbox,
    SandboxedKernelManager,
    SandboxUnavailable,
    bwrap_args,
    check_available,
    isolate_python,
)

REPO = Path(__file__).resolve().parents[1]
SUCCESS = "ATTACK-SUCCEEDED"


_sandbox_problem = sandbox_problem


needs_sandbox = pytest.mark.skipif(_sandbox_problem() is not None, reason=str(_sandbox_problem()))


# --- a kernel and a blocking client -------------------------------------------------------------


@dataclass
class Run:
    """What one cell did: ``status`` is "ok", "error", "dead" (kernel gone) or "timeout"."""

    status: str
    stdout: str = ""
    ename: str = ""
    evalue: str = ""


@dataclass
class Kernel:
    km: AsyncKernelManager
    kc: BlockingKernelClient
    launched: list = field(default_factory=list)

    def alive(self) -> bool:
        return run_sync(self.km.is_alive)()

    def run(self, code: str, timeout: float = 60) -> Run:
        """Execute ``code``; stop early when the kernel dies."""
        msg_id = self.kc.execute(code)
        result = Run("timeout")
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except Exception:  # queue.Empty: nothing yet
                if not self.alive():
                    return Run("dead", "".join(out))
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif kind == "error":
                result = Run("error", ename=content["ename"], evalue=content["evalue"])
            elif kind == "status" and content["execution_state"] == "idle":
                status = result.status if result.status == "error" else "ok"
                return Run(status, "".join(out), result.ename, result.evalue)
        return Run("timeout", "".join(out))


@contextlib.contextmanager
def kernel(cwd: Path, sandboxed: bool = True, **settings):
    """A started kernel (sandboxed with ``c.Sandbox.<settings>``, or plain) and its client."""
    config = Config()
    for name, value in settings.items():
        setattr(config.Sandbox, name, value)
    cls = SandboxedKernelManager if sandboxed else AsyncKernelManager
    km = cls(kernel_name="python3", config=config)
    run_sync(km.start_kernel)(cwd=str(cwd))
    kc = BlockingKernelClient(parent=km)  # asks the manager whether the kernel lives
    kc.load_connection_info(km.get_connection_info())
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        yield Kernel(km, kc)
    finally:
        kc.stop_channels()
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=True)
        else:
            run_sync(km.cleanup_resources)()


# --- a fake course, and the attacks on it -------------------------------------------------------


@pytest.fixture
def course(tmp_path):
    """A course folder: gradebook, solutions, and Alice's autograded folder (the kernel's cwd)."""
    root = tmp_path / "course"
    submission = root / "autograded" / "alice" / "ps1"
    submission.mkdir(parents=True)
    (root / "solutions" / "ps1").mkdir(parents=True)
    (root / "gradebook.db").write_text("GRADEBOOK")
    (root / "solutions" / "ps1" / "ps1.ipynb").write_text("SOLUTION")
    (submission / "ps1.ipynb").write_text("HIDDEN TESTS")  # nbgrader autograde runs it here
    (submission / "helper.py").write_text(f"print({SUCCESS!r})\n")
    return root


@pytest.fixture
def tcp_server():
    """A TCP server on 127.0.0.1 (accepting in the background) -> its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    yield server.getsockname()[1]
    server.close()


def attacks(course: Path, port: int) -> dict[str, str]:
    """Attack name -> code printing SUCCESS when the attack worked."""
    ps1 = course / "autograded" / "alice" / "ps1"
    home_entries = sorted(os.listdir(Path.home()))
    return {
        "read gradebook": f"print(open({str(course / 'gradebook.db')!r}).read() and {SUCCESS!r})",
        "read solutions": f"print(open({str(course / 'solutions/ps1/ps1.ipynb')!r}).read() and {SUCCESS!r})",
        "read graded notebook": f"print(open({str(ps1 / 'ps1.ipynb')!r}).read() and {SUCCESS!r})",
        "read course config": f"print(open({str(REPO / 'nbgrader_config.py')!r}).read() and {SUCCESS!r})",
        "read grader code": f"print(open({str(REPO / 'src/dnnkit_autograde/limits.py')!r}).read() and {SUCCESS!r})",
        "list instructor home": (
            f"import os\nif sorted(os.listdir(os.path.expanduser({str(Path.home())!r}))) == "
            f"{home_entries!r}: print({SUCCESS!r})"
        ),
        "overwrite gradebook": (
            f"open({str(course / 'gradebook.db')!r}, 'w').write('0'); print({SUCCESS!r})"
        ),
        "connect to 127.0.0.1": (
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
            f"print({SUCCESS!r})"
        ),
        "signal the grader": f"import os\nos.kill({os.getpid()}, 0)\nprint({SUCCESS!r})",
        "import a module beside the notebook": "import helper",
        "shadow numpy from the working folder": (
            "import sys\nassert 'numpy' not in sys.modules\n"
            f"open('numpy.py', 'w').write(\"print({SUCCESS!r})\")\n"
            "import importlib\nimportlib.invalidate_caches()\nimport numpy"
        ),
        "import the grader": f"import dnnkit_autograde\nprint({SUCCESS!r})",
    }


@pytest.mark.slow
@pytest.mark.parametrize("sandboxed", [False, True], ids=["plain", "sandboxed"])
def test_attacks_work_without_the_sandbox_and_fail_in_it(course, tcp_server, sandboxed):
    if sandboxed and _sandbox_problem():
        pytest.skip(_sandbox_problem())
    cwd = course / "autograded" / "alice" / "ps1"
    before = (course / "gradebook.db").read_text()
    outcome = {}
    with kernel(cwd, sandboxed=sandboxed) as k:
        for name, code in attacks(course, tcp_server).items():
            run = k.run(code)
            assert run.ename not in ("SyntaxError", "NameError", "AssertionError"), (name, run)
            outcome[name] = SUCCESS in run.stdout
        assert k.alive()
    if sandboxed:
        assert not any(outcome.values()), [name for name, ok in outcome.items() if ok]
        assert (course / "gradebook.db").read_text() == before
        assert not (cwd / "numpy.py").exists()  # the scratch folder is not the launch folder
    else:  # every attack works on a plain kernel (the numpy.py it wrote is in the course)
        assert all(outcome.values()), [name for name, ok in outcome.items() if not ok]


@needs_sandbox
@pytest.mark.slow
def test_sandboxed_kernel_sees_a_fresh_scratch_folder_and_a_minimal_environment(course):
    cwd = course / "autograded" / "alice" / "ps1"
    with kernel(cwd) as k:
        connection = Path(k.km.connection_file)
        assert connection.parent.name.startswith("dnnkit-sandbox-")
        run = k.run(
            "import os, sys, json\n"
            f"info = json.load(open({str(connection)!r}))\n"  # reachable inside, same path
            "print(json.dumps([os.getcwd(), os.path.expanduser('~'), os.getuid(), os.getpid(),"
            " sorted(os.listdir('.')), sorted(os.environ), sys.flags.isolated, info['transport'],"
            " '' in sys.path, os.access('/usr/bin', os.W_OK)]))"
        )
        assert run.status == "ok", run
        import json

        cwd_in, home, uid, pid, listing, env, isolated, transport, cwd_on_path, usr_writable = (
            json.loads(run.stdout)
        )
        assert cwd_in == home == SCRATCH and uid == 65534 and pid <= 3
        assert "ps1.ipynb" not in listing and "helper.py" not in listing
        assert isolated and not cwd_on_path and transport == "ipc" and not usr_writable
        assert "JPY_SESSION_NAME" not in env and "PYTHONPATH" not in env
        assert set(env) <= set(k.km.provisioner.sandbox.environment(dict(os.environ), {})) | {
            "PWD",
            "TERM",
            "CLICOLOR",
            "CLICOLOR_FORCE",
            "PAGER",
            "GIT_PAGER",
            "FORCE_COLOR",
            "MPLBACKEND",
            "PYDEVD_USE_FRAME_EVAL",
        }  # the rest is what ipykernel sets itself
        runtime = k.km.provisioner.runtime_dir
    assert not os.path.exists(runtime)  # removed with the kernel


# --- limits ---------------------------------------------------------------------------------------

FORK_BOMB = """
import os, time
if os.fork() == 0:
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.2)
time.sleep(2)
print('parent alive')
"""

THREAD_FLOOD = """
import threading, time
threads = []
try:
    while True:
        t = threading.Thread(target=time.sleep, args=(3,), daemon=True)
        t.start()
        threads.append(t)
except RuntimeError:
    pass
print(len(threads))
"""


@needs_sandbox
@pytest.mark.slow
def test_process_flood_and_big_files_are_contained(tmp_path):
    with kernel(tmp_path, max_processes=64, max_file_mb=4) as k:
        cgroup = k.km.provisioner.cgroup
        if os.getuid() == 0:
            assert k.km.provisioner.enforcement is Enforcement.CGROUP, "no process limit as root"
        big = k.run("open('/tmp/big', 'wb').write(b'0' * (5 << 20))")
        assert big.status == "error" and "File too large" in big.evalue, big
        small = k.run("print(open('small', 'wb').write(b'0' * (3 << 20)))")
        assert small.stdout.strip() == str(3 << 20)
        threads = k.run(THREAD_FLOOD)
        assert threads.status == "ok" and 10 < int(threads.stdout) < 64, threads
        time.sleep(4)  # the flood's threads end
        assert k.run("print(1 + 1)").stdout.strip() == "2"
        assert k.run(FORK_BOMB).stdout.strip() == "parent alive"
        if cgroup is not None:
            assert int((cgroup.folders[-1] / "pids.current").read_text()) <= 64
        assert subprocess.run(["true"], check=False).returncode == 0  # the grader can still fork
    if cgroup is not None:  # every process of the bomb was killed with the kernel
        assert not any(folder.exists() for folder in cgroup.folders)


@needs_sandbox
@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"memory_mb": 512}, "x = b'x' * (2 << 30)"),
        ({"cpu_seconds": 3}, "while True: pass"),
    ],
    ids=["memory flood", "cpu hog"],
)
def test_a_kernel_over_its_memory_or_cpu_limit_dies_and_the_grader_does_not(
    tmp_path, settings, code
):
    with kernel(tmp_path, **settings) as k:
        started = time.monotonic()
        run = k.run(code, timeout=90)
        assert run.status == "dead", run
        assert time.monotonic() - started < 60
        assert not k.alive()
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0


GRADER = """
import sys, time
from pathlib import Path
from jupyter_client.blocking import BlockingKernelClient
from jupyter_core.utils import run_sync
from dnnkit_autograde.sandbox import SandboxedKernelManager
km = SandboxedKernelManager(kernel_name="python3")
run_sync(km.start_kernel)(cwd=sys.argv[1])
kc = BlockingKernelClient(parent=km)
kc.load_connection_info(km.get_connection_info())
kc.start_channels()
kc.wait_for_ready(timeout=120)
marker = km.provisioner.runtime_dir.encode()  # on the command line of bwrap and the kernel
pids = []
for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
    try:
        if marker in cmdline.read_bytes():
            pids.append(cmdline.parent.name)
    except OSError:
        pass
print(",".join(pids), km.provisioner.runtime_dir, km.kernel_id, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@needs_sandbox
@pytest.mark.slow
def test_without_a_cgroup_memory_is_an_rlimit_and_an_allocation_fails(tmp_path):
    with kernel(tmp_path, memory_mb=512, use_cgroups=False) as k:
        assert k.km.provisioner.enforcement is Enforcement.RLIMIT
        run = k.run("x = b'x' * (2 << 30)")
        assert run.status == "error" and run.ename == "MemoryError", run
        assert k.run("print(1 + 1)").stdout.strip() == "2"


def _start_grader(cwd: Path) -> tuple[subprocess.Popen, list[int], Path, str]:
    """A grader process holding one sandboxed kernel: (process, the kernel's pids, its runtime
    folder, its kernel id)."""
    grader = subprocess.Popen(
        [sys.executable, "-c", GRADER, str(cwd)], stdout=subprocess.PIPE, text=True
    )
    line, runtime, kernel_id = grader.stdout.readline().split()
    return grader, [int(p) for p in line.split(",")], Path(runtime), kernel_id


def _kernel_cgroups(kernel_id: str) -> list[Path]:
    """The cgroup folders named for ``kernel_id`` (none where no cgroup could be made)."""
    return [p for p in Path("/sys/fs/cgroup").glob(f"**/{CGROUP_PARENT}/{kernel_id}") if p.is_dir()]


def _age(paths, seconds: float = 3600) -> None:
    """Make ``paths`` look ``seconds`` old (one swept meanwhile, by a kernel another test
    starts, is skipped)."""
    then = time.time() - seconds
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.utime(path, (then, then))


@needs_sandbox
@pytest.mark.slow
def test_the_kernel_dies_with_its_grader_and_what_it_left_is_swept(tmp_path):
    """SIGKILL to a grader (a lost Dask worker): its kernel dies with it, and the runtime
    folder and cgroup it could not remove are removed when the next kernel starts, while a
    live grader's, as old, are kept. Oracle: /proc, and the folders themselves."""
    killed, pids, runtime, kernel_id = _start_grader(tmp_path)
    live, _, live_runtime, live_id = _start_grader(tmp_path)
    try:
        assert len(pids) >= 3 and all(_alive(pid) for pid in pids)  # bwrap, its child, python
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids)
        left = [runtime, *_kernel_cgroups(kernel_id)]
        kept = [live_runtime, *_kernel_cgroups(live_id)]
        assert all(p.exists() for p in left + kept)
        _age(left + kept)  # both older than the sweep's minimum age

        with kernel(tmp_path) as k:  # the next kernel
            assert k.run("print(6 * 7)").stdout == "42\n"
        assert not any(p.exists() for p in left), [p for p in left if p.exists()]
        assert all(p.exists() for p in kept)
    finally:
        for grader in (killed, live):
            grader.kill()
            grader.wait()
    time.sleep(1)  # the live grader's kernel dies with it; its folders are already "old",
    _age(kept)  # so a kernel another test starts now may sweep them first
    sweep_runtime_folders(str(live_runtime.parent))
    sweep_cgroups([p.parent for p in kept[1:]])
    assert not any(p.exists() for p in kept)


# --- what the exercises need ----------------------------------------------------------------------

FIT = """
import resource
import numpy as np, keras, dnnkit
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)])
model.compile("adam", "mse")
history = model.fit(np.random.rand(128, 4), np.random.rand(128, 1), epochs=2, verbose=0)
threads = int(open('/proc/self/status').read().split('Threads:')[1].split()[0])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(len(history.history['loss']), threads, round(usage.ru_maxrss / 1024), dnnkit.__name__)
"""


@needs_sandbox
@pytest.mark.slow
def test_numpy_keras_and_dnnkit_work_in_the_sandbox_with_default_limits(tmp_path):
    with kernel(tmp_path) as k:
        run = k.run(FIT, timeout=300)
        assert run.status == "ok", run
        epochs, threads, rss_mb, name = run.stdout.split()
        limits = k.km.provisioner.sandbox.limits()
        print(f"keras fit in the sandbox: {threads} threads, {rss_mb} MiB")
        assert epochs == "2" and name == "dnnkit"
        assert int(threads) < limits.max_processes / 4 and int(rss_mb) < limits.memory_mb / 2


@needs_sandbox
@pytest.mark.slow
def test_nbclient_runs_a_notebook_in_the_sandbox_and_interrupts_by_message(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        cells=[
            nbformat.v4.new_code_cell("x = 41"),
            nbformat.v4.new_code_cell("while True: pass"),
            nbformat.v4.new_code_cell("import os\nprint(x + 1, os.getcwd())"),
        ],
    )
    client = NotebookClient(
        nb,
        kernel_manager_class=SandboxedKernelManager,
        timeout=5,
        interrupt_on_timeout=True,
        allow_errors=True,
        error_on_timeout={"ename": "Timeout", "evalue": "", "traceback": []},
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    assert nb.cells[2].outputs[0]["text"].strip() == f"42 {SCRATCH}"  # same kernel, interrupted


# --- configuration, availability, cost ------------------------------------------------------------


def test_kernel_spec_names_the_provisioner_unless_disabled():
    km = SandboxedKernelManager(kernel_name="python3")
    spec = km.kernel_spec
    assert spec.metadata["kernel_provisioner"]["provisioner_name"] == PROVISIONER_NAME
    assert spec.interrupt_mode == "message" and km.transport == "ipc"
    config = Config()
    config.Sandbox.enabled = False
    plain = SandboxedKernelManager(kernel_name="python3", config=config)
    assert "kernel_provisioner" not in plain.kernel_spec.metadata
    assert plain.transport == "ipc"  # as every grading kernel: no TCP port to race for
    plain.use_runtime_folder()  # ... in a folder of its own, as outside the sandbox
    assert plain.runtime_folder and plain.ip.startswith(plain.runtime_folder.path + os.sep)
    plain.runtime_folder.remove()
    km.use_runtime_folder()  # in the sandbox, the provisioner makes it (where it can bind it)
    assert km.runtime_folder is None
    original = AsyncKernelManager(kernel_name="python3").kernel_spec  # not changed for others
    assert "kernel_provisioner" not in original.metadata


def test_bwrap_command_binds_no_course_and_isolates_python(tmp_path):
    config = Config()
    config.Sandbox.memory_mb = 123
    sandbox = Sandbox(config=config)
    assert sandbox.limits() == Limits(123, 1800, 512, 64)
    args = bwrap_args(sandbox, KernelMounts(str(tmp_path)), {"HOME": SCRATCH})
    bound = {args[i + 1] for i, a in enumerate(args) if a in ("--ro-bind", "--bind")}
    assert str(REPO / "src" / "dnnkit") in bound and str(REPO) not in bound
    assert not any(path.startswith(str(REPO / "src" / "dnnkit_autograde")) for path in bound)
    assert str(Path.home()) not in bound
    assert {"--unshare-all", "--unshare-user", "--die-with-parent", "--clearenv"} <= set(args)
    assert isolate_python([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) == [
        sys.executable, "-I", "-m", "ipykernel_launcher", "-f", "c.json",
        "--IPKernelApp.ignore_cwd=True",
    ]  # fmt: skip


def test_check_available_names_the_fix_when_bwrap_is_missing():
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        check_available("no-such-bwrap-here")


@needs_sandbox
def test_cgroup_limits_are_written_and_removed():
    cgroup = KernelCgroup.create(Limits(100, 0, 7, 0), name="dnnkit-test-cgroup")
    if cgroup is None:
        pytest.skip("no writable cgroup here (limits fall back to rlimits)")
    try:
        if cgroup.version == 1:
            memory, pids = cgroup.folders
            assert (memory / "memory.limit_in_bytes").read_text().strip() == str(100 << 20)
            assert (pids / "pids.max").read_text().strip() == "7"
        else:
            assert (cgroup.folders[0] / "pids.max").read_text().strip() == "7"
    finally:
        assert cgroup.remove()
    assert not any(folder.exists() for folder in cgroup.folders)


@needs_sandbox
@pytest.mark.slow
def test_sandbox_start_up_cost(tmp_path):
    """Kernel start to first reply, sandboxed vs plain, interleaved (printed; loose bound)."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(5):
        for sandboxed in (False, True):
            started = time.monotonic()
            with kernel(tmp_path, sandboxed=sandboxed) as k:
                assert k.run("1").status == "ok"
                times[sandboxed].append(time.monotonic() - started)
    plain, boxed = statistics.median(times[False]), statistics.median(times[True])
    print(f"kernel start-up, median of 5: plain {plain:.2f} s, sandboxed {boxed:.2f} s")
    assert boxed < plain + 2.0


@needs_sandbox
@pytest.mark.slow
def test_read_only_folders_under_tmp_stay_visible(course, tmp_path):
    """A course or environment under /tmp (CI clones there) is bound after the kernel's own
    /tmp, not hidden by it: a folder of ``ro_paths`` under /tmp is readable, not writable."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("visible")
    assert str(shared).startswith("/tmp/")
    with kernel(course / "autograded" / "alice" / "ps1", ro_paths=[str(shared)]) as k:
        run = k.run(
            f"import os\nprint(open({str(shared / 'data.txt')!r}).read(), "
            f"os.access({str(shared)!r}, os.W_OK))"
        )
    assert run.status == "ok" and run.stdout.split() == ["visible", "False"], run


MATPLOTLIB_IN_KERNEL = """
import logging, os, matplotlib
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("matplotlib.font_manager").addHandler(handler)
logging.getLogger("matplotlib.font_manager").setLevel(logging.INFO)
import matplotlib.font_manager as fm
listed = [n for n in os.listdir(matplotlib.get_cachedir()) if n.startswith("fontlist")]
path = os.path.join(matplotlib.get_cachedir(), listed[0])
try:
    open(path, "a").close()
    writable = "writable"
except OSError:
    writable = "read-only"
rebuilt = any("generated new fontManager" in r.getMessage() for r in records)
print(matplotlib.get_cachedir(), len(listed), writable, rebuilt, len(fm.fontManager.ttflist) > 0)
"""


@needs_sandbox
@pytest.mark.slow
def test_matplotlib_reads_the_graders_font_list_and_cannot_change_it(tmp_path):
    """A sandboxed kernel starts with an empty home; matplotlib's font scan (0.8 s, Keras
    triggers it) is not redone: the grader's list is bound read-only into MPLCONFIGDIR, which
    stays writable. Oracle: matplotlib's own "generated new fontManager" log line, and the
    file's bytes before and after."""
    from dnnkit_autograde.font_list import matplotlib_font_list
    from dnnkit_autograde.sandbox import MPLCONFIG_DIR

    font_list = matplotlib_font_list()
    assert font_list is not None
    before = Path(font_list).read_bytes()
    with kernel(tmp_path) as k:
        run = k.run(MATPLOTLIB_IN_KERNEL, timeout=120)
    assert run.status == "ok", run
    assert run.stdout.split() == [MPLCONFIG_DIR, "1", "read-only", "False", "True"]
    assert Path(font_list).read_bytes() == before


def test_font_list_is_made_once_from_system_fonts(tmp_path, monkeypatch):
    """Made on first use in $XDG_CACHE_HOME/dnnkit-sandbox/matplotlib-<version>/ by
    matplotlib itself (its JSON, its version), from the system's fonts and not from the
    grader's home, then found there without running it again. Oracle: the file matplotlib
    wrote (a font placed in the home's ~/.fonts, which matplotlib scans, is not in it); a
    second call made nothing new."""
    import importlib.metadata
    import json

    import matplotlib

    from dnnkit_autograde import font_list

    home = tmp_path / "home"
    (home / ".fonts").mkdir(parents=True)
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    shutil.copy(dejavu, home / ".fonts" / "GraderOwnSans.ttf")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    font_list.matplotlib_font_list.cache_clear()
    try:
        path = Path(font_list.matplotlib_font_list())
        version = importlib.metadata.version("matplotlib")
        assert path.parent == tmp_path / "cache" / "dnnkit-sandbox" / f"matplotlib-{version}"
        data = json.loads(path.read_text())
        assert (
            data["__class__"] == "FontManager" and path.name == f"fontlist-v{data['_version']}.json"
        )
        fonts = [entry["fname"] for entry in data["ttflist"]]
        assert any(name.endswith("DejaVuSans.ttf") for name in fonts)
        assert not any("GraderOwnSans" in name for name in fonts)
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # its scratch folder gone
        font_list.matplotlib_font_list.cache_clear()
        mtime = path.stat().st_mtime_ns
        assert font_list.matplotlib_font_list() == str(path)
        assert path.stat().st_mtime_ns == mtime
    finally:
        font_list.matplotlib_font_list.cache_clear()
