"""Section 4, course run time: wall time to execute each chapter once in the quick profile (with
nbclient, as ``jupyter nbconvert --execute`` does), their sum as the whole book's execution time,
and the wall time of ``make test`` when a previous run recorded it.

``make test`` takes too long to rerun inside the benchmark. To record it::

    start=$(date +%s); make test; echo $(( $(date +%s) - start )) > benchmarks/results/make_test_seconds.txt
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAKE_TEST_FILE = REPO / "benchmarks" / "results" / "make_test_seconds.txt"
MEASURE_MAKE_TEST = (
    "start=$(date +%s); make test; "
    "echo $(( $(date +%s) - start )) > benchmarks/results/make_test_seconds.txt"
)
TITLE = "Course run time: executing the chapters (quick profile)"


def chapters() -> list[Path]:
    """The book's chapter notebooks, in order (``book/[0-9]*.ipynb``)."""
    return sorted((REPO / "book").glob("[0-9]*.ipynb"))


def execute(path: Path, *, timeout: int = 900) -> float:
    """Execute the notebook at ``path`` once in a fresh kernel (cwd: its folder); seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def _tiny_notebook(folder: Path) -> Path:
    """A two-cell notebook, used by ``--quick`` to exercise the code path in seconds."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("x + 1")]
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def make_test_seconds() -> float | None:
    """``make test``'s wall time from a previous run's record, or None."""
    try:
        return float(MAKE_TEST_FILE.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def run(quick: bool = False, notebooks: list[Path] | None = None) -> dict:
    os.environ.setdefault("DNNKIT_PROFILE", "quick")  # the kernels inherit the environment
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with tempfile.TemporaryDirectory() as tmp:
        if notebooks is None:
            notebooks = [_tiny_notebook(Path(tmp))] if quick else chapters()
        data, rows = [], []
        for path in notebooks:
            try:
                seconds, error = execute(path), None
            except Exception as exc:  # report the failure, go on with the others
                seconds, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            data.append({"notebook": path.name, "seconds": seconds, "error": error})
            rows.append(
                [path.name, f"{seconds:.1f}" if seconds is not None else f"failed ({error})"]
            )
    measured = [d["seconds"] for d in data if d["seconds"] is not None]
    total = sum(measured)
    rows.append(["whole book (sum of the above)", f"{total:.1f}"])
    make_test = make_test_seconds()
    rows.append(
        [
            "make test",
            f"{make_test:.0f} (recorded in {MAKE_TEST_FILE.relative_to(REPO)})"
            if make_test is not None
            else "not measured in this run",
        ]
    )
    return {
        "title": TITLE,
        "tables": [{"columns": ["notebook", "seconds"], "rows": rows}],
        "data": {"notebooks": data, "book_seconds": total, "make_test_seconds": make_test},
        "targets": [],
        "notes": [
            f"DNNKIT_PROFILE={os.environ['DNNKIT_PROFILE']}; each notebook executed once in a "
            "fresh kernel (nbclient), kernel start-up included; single runs, not ratios, so they "
            "move with the machine's load.",
            f"`make test` is too long to rerun here; to record its wall time: `{MEASURE_MAKE_TEST}`.",
        ],
    }
