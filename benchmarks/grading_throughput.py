"""Grading throughput: ``dnnkit-autograde`` (its local Dask cluster, as shipped) against serial
``nbgrader autograde`` on the same batches of submissions (the repository's nbgrader_config.py
and solutions), and what the kernels' OS sandbox costs per notebook.

Each assignment is one batch of ``--submissions`` submissions (40 by default, a class):
solution copies, planted-bug variants (``tests/planted/<a>.py``) and unanswered releases, dealt
round-robin; by default the NumPy-only assignments, quickest to grade, where the grader's own
overhead shows most. Three identical copies of the course are graded, one per command: serial
``nbgrader autograde`` (sandboxed, the course's configuration), ``dnnkit-autograde`` and
``dnnkit-autograde --no-sandbox``; batch by batch, the order of the three rotating, so a change
in the machine's load hits all of them. Ratios: speed-up = serial / batch; sandbox cost = batch
/ batch without sandbox - 1 (per notebook, as both grade the same notebooks). The gradebooks
must agree, score for score, or the measurement is void.

    python benchmarks/grading_throughput.py --submissions 40
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NUMPY_ASSIGNMENTS = ("01_gradients", "02_initializers", "04_batchnorm")
KERAS_ASSIGNMENTS = ("03_activations", "05_clipping", "06_transfer")  # ~5x slower to grade

GENERATE_ALL = textwrap.dedent(
    """
    import sys
    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp

    for assignment in sys.argv[1:]:
        app = NbGraderApp.instance()
        try:
            app.initialize(["generate_assignment", assignment, "--force"])
            app.start()
        except NoStart:
            pass
        finally:
            app.reset()
    """
)


# ------------------------------------------------------------------------------- submissions
def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _solved(source, release):
    """The release with every answer cell filled in from the source (markers removed)."""
    import nbformat

    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    answers = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if grade_id in answers:
            lines = answers[grade_id].splitlines()
            cell.source = "\n".join(
                line
                for line in lines
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            )
    return nb


def _with_bug(nb, bug: dict):
    import nbformat

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if _meta(cell).get("grade_id") == bug["cell"]:
            cell.source = cell.source.replace(bug["find"], bug["replace"], 1)
    return nb


def _planted_bugs(assignment: str) -> list[dict]:
    path = REPO / "tests" / "planted" / f"{assignment}.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"planted_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(getattr(module, "BUGS", {}).values())


def _variants(root: Path, assignment: str) -> list:
    """Submissions to deal out: the solution, each planted bug, the unanswered release."""
    import nbformat

    source = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    release = nbformat.read(root / "exercises" / assignment / f"{assignment}.ipynb", 4)
    good = _solved(source, release)
    return [good, *(_with_bug(good, bug) for bug in _planted_bugs(assignment)), release]


def build_course(root: Path, per_batch: int, assignments) -> dict[str, int]:
    """A course under ``root`` where ``per_batch`` students submitted each of ``assignments``;
    returns the number of submissions per assignment."""
    import nbformat

    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
    result = subprocess.run(
        [sys.executable, "-c", GENERATE_ALL, *assignments],
        cwd=root,
        env=_env(root),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"generate_assignment failed:\n{result.stderr[-3000:]}")
    for assignment in assignments:
        variants = _variants(root, assignment)
        for i in range(per_batch):
            folder = root / "submitted" / f"student{i:03d}" / assignment
            folder.mkdir(parents=True)
            nbformat.write(variants[i % len(variants)], folder / f"{assignment}.ipynb")
            (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")
    return dict.fromkeys(assignments, per_batch)


# ---------------------------------------------------------------------------------- grading
def _env(root: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(root.parent)
    env.setdefault("DNNKIT_PROFILE", "quick")
    env.pop("DNNKIT_INSTALL_FROM", None)
    return env


def serial_command(assignment: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", "autograde", assignment]


def batch_command(assignment: str, jobs: int | None = None, *, sandbox: bool = True) -> list[str]:
    """Grading only, as ``nbgrader autograde`` does: the instructor's report that a batch
    writes at its end (a few seconds, whatever the batch's size) is left out. ``jobs=None``:
    the local cluster's default size."""
    cmd = [sys.executable, "-m", "dnnkit_autograde.batch", assignment, "--no-progress"]
    cmd += ["--no-report", *(["--jobs", str(jobs)] if jobs else [])]
    return cmd if sandbox else [*cmd, "--no-sandbox"]


#: The three commands timed on each assignment, by the name of their course copy.
VARIANTS = ("serial", "batch", "batch_nosandbox")


def _commands(assignment: str, jobs: int | None) -> dict[str, list[str]]:
    return {
        "serial": serial_command(assignment),
        "batch": batch_command(assignment, jobs),
        "batch_nosandbox": batch_command(assignment, jobs, sandbox=False),
    }


def _load() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other programs competing for the cores)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``): the
    grader, its workers and the sandboxed kernels, whose time ``getrusage`` does not see
    (they are reaped inside their own PID namespace), and anything else running. NaN
    elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _timed(cmd: list[str], root: Path) -> tuple[float, float, int]:
    """Wall seconds, busy CPU seconds of the machine (``_busy_cpu_seconds``) and exit code of
    a grading command (non-zero when a submission could not be graded; the comparison of the
    gradebooks says whether both commands agree)."""
    cpu, start = _busy_cpu_seconds(), time.perf_counter()
    result = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True)
    return time.perf_counter() - start, _busy_cpu_seconds() - cpu, result.returncode


def _scores(root: Path, assignment: str) -> dict[str, dict]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "training-dnns") as gb:
        scores = {
            s.student.id: {g.name: g.auto_score for nb in s.notebooks for g in nb.grades}
            for s in gb.assignment_submissions(assignment)
        }
        gb.engine.dispose()
    return scores


def run(per_batch: int = 40, jobs: int | None = None, *, assignments=None, workdir=None) -> dict:
    """Grade a batch of ``per_batch`` submissions of each assignment three ways: serially,
    on the local cluster (``jobs`` workers; None: its default size) and on it without the
    sandbox; return the timings.

    Returns
    -------
    dict with ``serial_s``, ``batch_s``, ``batch_nosandbox_s`` (and ``*_cpu_s``: busy CPU
    seconds of the machine), ``speedup`` (serial / batch), ``sandbox_cost`` (batch /
    batch_nosandbox - 1), ``scores_equal``, ``per_assignment`` (submissions, seconds and seconds
    per notebook for each command), ``commands``, ``workers``, ``cores``, ``n_submissions``
    (all batches together), ``per_batch``, ``load_before``, ``load_after``.
    """
    from dnnkit_autograde.cluster import available_cores, local_workers

    if per_batch < 1:
        raise ValueError(f"per_batch must be at least 1, got {per_batch}")
    cores = available_cores()
    assignments = tuple(
        a for a in (assignments or NUMPY_ASSIGNMENTS) if (REPO / "solutions" / a).is_dir()
    )
    if not assignments:
        raise RuntimeError("none of the assignments exists under solutions/")
    scratch = Path(workdir or tempfile.mkdtemp(prefix="grading-throughput-"))
    load_before = _load()
    try:
        counts = build_course(scratch / VARIANTS[0], per_batch, assignments)
        for name in VARIANTS[1:]:
            shutil.copytree(scratch / VARIANTS[0], scratch / name)
        per_assignment = {}
        for turn, assignment in enumerate(assignments):
            per_assignment[assignment] = _time_assignment(scratch, assignment, jobs, turn)
            per_assignment[assignment]["submissions"] = counts[assignment]
            _per_notebook(per_assignment[assignment])
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    totals = {
        f"{name}{suffix}": round(sum(r[f"{name}{suffix}"] for r in per_assignment.values()), 2)
        for name in VARIANTS
        for suffix in ("_s", "_cpu_s")
    }
    jobs_arg = f" --jobs {jobs}" if jobs else ""
    return {
        "n_submissions": sum(counts.values()),
        "per_batch": per_batch,
        "workers": jobs or local_workers(cores),
        "cores": cores,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        **totals,
        **_ratios(totals),
        "scores_equal": all(not r["students_differing"] for r in per_assignment.values()),
        "per_assignment": per_assignment,
        "commands": {
            "serial": "nbgrader autograde <assignment>",
            "batch": f"dnnkit-autograde <assignment>{jobs_arg} --no-report",
            "batch_nosandbox": f"dnnkit-autograde <assignment>{jobs_arg} --no-report --no-sandbox",
            "benchmark": f"python benchmarks/grading_throughput.py --submissions {per_batch}"
            + jobs_arg,
        },
        "load_before": load_before,
        "load_after": _load(),
    }


def _time_assignment(scratch: Path, assignment: str, jobs: int | None, turn: int) -> dict:
    """Run the three commands on their own copy of the course, in an order rotated by
    ``turn``; compare the gradebooks with the serial one."""
    commands = _commands(assignment, jobs)
    order = VARIANTS[turn % 3 :] + VARIANTS[: turn % 3]
    row: dict = {"exit_codes": {}}
    for name in order:
        seconds, cpu, code = _timed(commands[name], scratch / name)
        row[f"{name}_s"], row[f"{name}_cpu_s"] = round(seconds, 2), round(cpu, 2)
        row["exit_codes"][name] = code
    expected = _scores(scratch / "serial", assignment)
    differ = set()
    for name in VARIANTS[1:]:
        got = _scores(scratch / name, assignment)
        differ |= {s for s in set(expected) | set(got) if expected.get(s) != got.get(s)}
    row["students_differing"] = sorted(differ)
    return row


def _per_notebook(row: dict) -> None:
    for name in VARIANTS:
        row[f"{name}_s_per_notebook"] = round(row[f"{name}_s"] / row["submissions"], 2)


def _ratios(totals: dict) -> dict:
    """speed-up = serial / batch; sandbox cost = batch / batch without sandbox - 1."""
    ratios = {"speedup": round(totals["serial_s"] / totals["batch_s"], 2)}
    if totals.get("batch_nosandbox_s"):
        ratios["sandbox_cost"] = round(totals["batch_s"] / totals["batch_nosandbox_s"] - 1, 3)
    return ratios


def merge(*results: dict) -> dict:
    """One result from several ``run`` results on different assignments (times add up)."""
    merged = dict(results[0])
    merged["per_assignment"] = {k: v for r in results for k, v in r["per_assignment"].items()}
    keys = ["n_submissions"] + [f"{n}{x}" for n in VARIANTS for x in ("_s", "_cpu_s")]
    for key in keys:
        if all(key in r for r in results):
            merged[key] = round(sum(r[key] for r in results), 2)
    merged.update(_ratios(merged))
    merged["scores_equal"] = all(r["scores_equal"] for r in results)
    merged["commands"] = dict(
        results[0]["commands"],
        benchmark="; ".join(
            f"{r['commands']['benchmark']} --assignments {' '.join(r['per_assignment'])}"
            for r in results
        ),
    )
    merged["load_after"] = results[-1]["load_after"]
    return merged


def _cores_busy(result: dict, name: str) -> float:
    """Average cores kept busy while ``name`` ran."""
    return result[f"{name}_cpu_s"] / result[f"{name}_s"] if result[f"{name}_s"] else float("nan")


def format_table(result: dict) -> str:
    lines = [
        f"Grading throughput: {len(result['per_assignment'])} batch(es) of "
        f"{result['per_batch']} submissions; local cluster of {result['workers']} workers on "
        f"{result['cores']} cores",
        f"{'assignment':<18}{'n':>4}{'serial s':>10}{'batch s':>10}{'no-sandbox s':>14}"
        f"{'serial s/nb':>13}{'batch s/nb':>12}",
    ]
    for name, r in result["per_assignment"].items():
        lines.append(
            f"{name:<18}{r['submissions']:>4}{r['serial_s']:>10.1f}{r['batch_s']:>10.1f}"
            f"{r.get('batch_nosandbox_s', float('nan')):>14.1f}"
            f"{r['serial_s_per_notebook']:>13.2f}{r['batch_s_per_notebook']:>12.2f}"
        )
    lines.append(
        f"{'total':<18}{result['n_submissions']:>4}{result['serial_s']:>10.1f}"
        f"{result['batch_s']:>10.1f}{result.get('batch_nosandbox_s', float('nan')):>14.1f}"
    )
    lines.append(
        f"speed-up (serial / batch): {result['speedup']:.2f}x (target >= 1.8x on 2 cores); "
        f"scores equal: {result['scores_equal']}"
    )
    if "sandbox_cost" in result:
        lines.append(
            f"sandbox cost per notebook (batch / batch --no-sandbox - 1): "
            f"{100 * result['sandbox_cost']:+.1f} % (target <= 5 %)"
        )
    lines.append(
        f"busy CPU: serial {result['serial_cpu_s']:.1f} s "
        f"({_cores_busy(result, 'serial'):.2f} cores), batch {result['batch_cpu_s']:.1f} s "
        f"({_cores_busy(result, 'batch'):.2f} cores); load average before/after: "
        f"{result['load_before']} / {result['load_after']}"
    )
    for name in VARIANTS:
        if name in result["commands"]:
            lines.append(f"{name + ':':<17}{result['commands'][name]} (one run per assignment)")
    lines.append(f"command: {result['commands']['benchmark']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--submissions", "-n", type=int, default=40, help="submissions per batch [40]"
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=None, help="workers [the local cluster's default]"
    )
    parser.add_argument("--assignments", nargs="+", default=None)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    result = run(args.submissions, args.jobs, assignments=args.assignments)
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["scores_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
