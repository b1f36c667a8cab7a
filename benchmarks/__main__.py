"""Run the course's benchmarks: ``python -m benchmarks`` (what ``make bench`` does).

Prints a table per section and writes them as Markdown and JSON under ``benchmarks/results/``;
``--publish`` also writes the book's page ``book/benchmarks.md``. Benchmarks never fail for
speed: a target that is not met is reported, not raised.

    python -m benchmarks                    # everything (under 15 minutes on 2 cores)
    python -m benchmarks --quick            # tiny sizes, seconds: checks that the suite runs
    python -m benchmarks --only bn activations
    python -m benchmarks --publish          # also write book/benchmarks.md
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

from benchmarks import harness

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "book" / "benchmarks.md"
SECTIONS = {
    "bn": "benchmarks.bn_fusion",
    "activations": "benchmarks.activations",
    "numpy": "benchmarks.numpy_reference",
    "course": "benchmarks.course_runtime",
    "grading": "benchmarks.grading_throughput",
}
GRADING_PER_BATCH = 40  # a class: one batch per NumPy assignment
KERAS_PER_BATCH = 4  # Keras assignments grade ~10x slower: small batches, reported apart
GRADING_TITLE = "Grading throughput: batch autograde vs serial nbgrader autograde"


# ------------------------------------------------------------------------------- grading
def run_grading(quick: bool) -> dict:
    """Section 5 through ``benchmarks/grading_throughput.py``: one batch of 40 submissions per
    NumPy assignment (the speed-up target), small batches of the Keras assignments."""
    module = importlib.import_module("benchmarks.grading_throughput")
    if quick:
        numpy_part = module.run(2, assignments=("01_gradients",))
        result = numpy_part
    else:
        numpy_part = module.run(GRADING_PER_BATCH)
        keras_part = module.run(KERAS_PER_BATCH, assignments=module.KERAS_ASSIGNMENTS)
        result = module.merge(numpy_part, keras_part)
    rows = [_grading_row(name, r) for name, r in result["per_assignment"].items()]
    rows.append(_grading_row(f"NumPy batches of {numpy_part['per_batch']}", numpy_part))
    if result is not numpy_part:
        rows.append(_grading_row("all", result))
    return {
        "title": GRADING_TITLE,
        "tables": [
            {
                "columns": [
                    "batch",
                    "submissions",
                    "serial s",
                    "batch s",
                    "batch, no sandbox s",
                    "speed-up",
                    "sandbox cost",
                    "cores busy: serial / batch",
                ],
                "rows": rows,
            }
        ],
        "data": result,
        "targets": [
            {
                "target": "batch autograde gives the same scores as nbgrader autograde",
                "met": bool(result["scores_equal"]),
                "why": "scores compared student by student",
            },
            {
                "target": "batch at least 1.8x faster than serial nbgrader autograde",
                "met": numpy_part["speedup"] >= 1.8,
                "why": f"speed-up {numpy_part['speedup']:.2f} (serial s / batch s, the NumPy "
                f"batches of {numpy_part['per_batch']})",
            },
            {
                "target": "the sandbox costs at most 5 % per notebook",
                "met": result["sandbox_cost"] <= 0.05,
                "why": f"batch / batch without sandbox - 1 = {result['sandbox_cost']:+.1%}, "
                "all batches",
            },
        ],
        "notes": [
            f"serial: `{result['commands']['serial']}`; batch: `{result['commands']['batch']}`, "
            f"its local cluster as shipped: {result['workers']} workers on {result['cores']} "
            "cores; one timed run of each command per batch, in rotating order (not a median: "
            "each run grades every submission).",
            "Cores busy: the machine's busy CPU seconds (/proc/stat, kernels included) over "
            "the wall time. Serial grading keeps one core busy. Over all batches the batch "
            f"spent {result['batch_cpu_s']:.0f} busy CPU-seconds and serial grading "
            f"{result['serial_cpu_s']:.0f}: the speed-up comes from the other core, not from "
            "doing less work. It is bounded by the cores and by the start-up the batch pays "
            "on one core (importing nbgrader, then starting the cluster).",
            f"To rerun alone: `{result['commands']['benchmark']}`.",
        ],
    }


def _grading_row(name: str, r: dict) -> list[str]:
    n = r.get("submissions", r.get("n_submissions"))
    return [
        name,
        str(n),
        f"{r['serial_s']:.1f}",
        f"{r['batch_s']:.1f}",
        f"{r['batch_nosandbox_s']:.1f}",
        f"{r['serial_s'] / r['batch_s']:.2f}",
        f"{r['batch_s'] / r['batch_nosandbox_s'] - 1:+.1%}",
        f"{r['serial_cpu_s'] / r['serial_s']:.2f} / {r['batch_cpu_s'] / r['batch_s']:.2f}",
    ]


def _skipped(title: str, why: str) -> dict:
    return {
        "title": title,
        "tables": [],
        "data": None,
        "targets": [],
        "notes": [f"Skipped: {why}."],
    }


def run_section(name: str, quick: bool) -> dict:
    start = time.perf_counter()
    try:
        if name == "grading":
            result = run_grading(quick)
        else:
            result = importlib.import_module(SECTIONS[name]).run(quick=quick)
    except Exception as exc:  # one broken section must not lose the others' figures
        result = _skipped(SECTIONS[name], f"failed with {type(exc).__name__}: {exc}")
        result["error"] = repr(exc)
    result["section"] = name
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


# ------------------------------------------------------------------------------- rendering
def _verdict(met) -> str:
    return {True: "met", False: "NOT met", None: "no target"}[met]


def render_section(result: dict, level: str = "##") -> str:
    parts = [f"{level} {result['title']}", ""]
    for table in result["tables"]:
        parts += [harness.markdown_table(table["columns"], table["rows"]), ""]
    parts += [f"- {note}" for note in result["notes"]]
    parts += [
        f"- Target: {t['target']}: **{_verdict(t['met'])}** ({t['why']})."
        for t in result["targets"]
    ]
    parts += [f"- Section time: {result['seconds']:.0f} s.", ""]
    return "\n".join(parts)


def render_markdown(report: dict, *, page: bool = False) -> str:
    h = report["header"]
    title = "# Benchmarks" if page else "# Benchmark results"
    intro = [
        title,
        "",
        "Every figure below is a ratio measured side by side in one run: the variants run "
        "interleaved within each repetition, and the table gives the median over the "
        "repetitions with the min-max range in brackets. Absolute times are for this machine "
        "only. Benchmarks never fail for speed; the targets say what the chapters claim.",
        "",
        f"Regenerate this page with `{h['command_publish']}` (from the repository root, in "
        "the course's environment); `make bench` prints the same tables and writes them as "
        "Markdown and JSON under `benchmarks/results/`.",
        "",
        *[f"- {line}" for line in harness.format_header(h)],
        f"- Sections run: {', '.join(r['section'] for r in report['sections'])}"
        f"{' (--quick: tiny sizes, not meaningful figures)' if report['quick'] else ''}; "
        f"total time {report['seconds']:.0f} s.",
        "",
    ]
    body = [render_section(r) for r in report["sections"]]
    targets = [t | {"section": r["section"]} for r in report["sections"] for t in r["targets"]]
    summary = [
        "## Targets",
        "",
        harness.markdown_table(
            ["section", "target", "verdict"],
            [[t["section"], t["target"], _verdict(t["met"])] for t in targets],
        )
        if targets
        else "No target was measured in this run.",
        "",
    ]
    return "\n".join(intro + body + summary)


def write_outputs(report: dict, results_dir: Path) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = "-".join(
        ["bench"]
        + (["quick"] if report["quick"] else [])
        + (report["only"] if report["only"] else [])
    )
    md, js = results_dir / f"{stem}.md", results_dir / f"{stem}.json"
    md.write_text(render_markdown(report))
    js.write_text(json.dumps(report, indent=2, default=str))
    return [md, js]


# ------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SECTIONS),
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="where to write .md/.json"
    )
    parser.add_argument(
        "--publish",
        nargs="?",
        const=PAGE,
        type=Path,
        default=None,
        metavar="PATH",
        help=f"also write the book page (default {PAGE.relative_to(REPO)})",
    )
    args = parser.parse_args(argv)
    if args.publish is not None and args.quick:
        parser.error("--publish needs a full run: --quick figures are not meaningful")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    names = args.only or list(SECTIONS)
    needs_tf = any(n in ("bn", "activations") for n in names)
    if needs_tf:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # the many small tf.functions are traced on purpose
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    header = harness.header(command, with_device=needs_tf)
    header["command_publish"] = ".venv/bin/python -m benchmarks --publish"
    print("\n".join(harness.format_header(header)), flush=True)
    start = time.perf_counter()
    report = {"header": header, "quick": args.quick, "only": args.only, "sections": []}
    for name in names:
        result = run_section(name, args.quick)
        report["sections"].append(result)
        print("\n" + render_section(result), flush=True)
    report["seconds"] = round(time.perf_counter() - start, 1)
    for path in write_outputs(report, args.results_dir):
        print(f"wrote {path}")
    if args.publish is not None:
        args.publish.write_text(render_markdown(report, page=True))
        print(f"wrote {args.publish}")
    print(f"total {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
