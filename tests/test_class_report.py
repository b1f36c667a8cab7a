"""Tests of the instructor's grading report (``dnnkit_autograde.class_report``).

One batch, graded by the real ``dnnkit-autograde`` command on its default local Dask cluster
(sandbox on): the tiny assignment's solution, blank release, planted bugs and cheat, an answer
that loops (a time limit), a malformed notebook, an empty submission folder and a student on the
roster who submitted nothing. Oracles, computed here without the module under test: nbgrader's
``Gradebook`` API (which student passed which test cell) and the autograded notebooks' error
outputs (the failure messages); the HTML is checked in headless Chromium.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import grading_support as gs
import nbformat
import pytest

A = "tiny"
LOOP = "def cube(x):\n    while True:\n        pass"
EXEC_ARGS = ("--GuardedExecute.timeout=10", "--GuardedExecute.setup_timeout=300")


def autograde_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("dnnkit-autograde")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dnnkit_autograde.batch"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", DNNKIT_PROFILE="quick")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(root.parent)
    env.pop("DNNKIT_INSTALL_FROM", None)
    return subprocess.run(
        [*command, *args], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from nbgrader.api import Gradebook

    course = gs.make_course(tmp_path_factory.mktemp("report") / "course", {A: gs.tiny_assignment()})
    course.generate(A)
    source, release = course.source(A), course.release(A)
    solved = gs.solved(source, release)
    course.submit("solution", A, solved)
    course.submit("release", A, release)
    for name, bug in gs.TINY_BUGS.items():
        course.submit(name, A, gs.with_bug(solved, bug))
    for name, cheat in gs.TINY_CHEATS.items():
        course.submit(name, A, gs.with_cell_source(solved, cheat["cell"], cheat["source"]))
    course.submit("loops", A, gs.with_cell_source(solved, "cube_solution", LOOP))
    course.submit("malformed", A, raw="{not json")
    course.submitted_dir("empty", A).mkdir(parents=True)
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        gb.add_student("absent")  # on the roster, never submitted
    result = autograde_cli(course.root, A, "--no-progress", *EXEC_ARGS)
    log = result.stdout + result.stderr
    assert "Grading report:" in result.stdout, log
    return course, log


def reports(course) -> Path:
    return course.root / "reports" / A


def oracle(course) -> tuple[dict, Counter]:
    """From nbgrader's Gradebook and the autograded notebooks: (notebook, cell) ->
    (graded, passed), and (cell, first line of the failure) -> count."""
    from nbgrader.api import Gradebook

    tests = gs.test_cells(course.source(A))
    rates, messages = {name: [0, 0] for name in tests}, Counter()
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(A):
            path = course.autograded_path(sub.student.id, A)
            if not path.exists():
                continue  # nbgrader made the row but could not grade the submission
            nb = nbformat.read(path, as_version=4)
            for grade in sub.notebooks[0].grades:
                if grade.name not in tests:
                    continue
                passed = grade.auto_score >= grade.max_score
                rates[grade.name][0] += 1
                rates[grade.name][1] += passed
                if not passed:
                    outputs = gs.cell_by_id(nb, grade.name).outputs
                    last = [o for o in outputs if o.output_type == "error"][-1]
                    text = f"{last.ename}: {last.evalue}" if last.evalue else last.ename
                    messages[(grade.name, text.splitlines()[0][:199])] += 1
    return rates, messages


# ============================================================================= the tables
def test_pass_rates_equal_the_gradebook(batch):
    course, log = batch
    rates, _ = oracle(course)
    rows = {r["cell"]: r for r in read_csv(reports(course) / "cells.csv")}
    assert list(rows) == list(gs.test_cells(course.source(A))), "notebook order"
    for cell, (graded, passed) in rates.items():
        row = rows[cell]
        assert (int(row["graded"]), int(row["passed"])) == (graded, passed), (cell, log)
        assert float(row["pass_rate"]) == pytest.approx(round(passed / graded, 4))
        assert float(row["points"]) == gs.TINY_TASKS[cell.removesuffix("_tests")][3]
        assert row["tests"] == "visible + hidden"


def test_failure_counts_equal_the_notebooks(batch):
    course, _ = batch
    _, messages = oracle(course)
    rows = read_csv(reports(course) / "failures.csv")
    found = Counter()
    for row in rows:
        found[(row["cell"], row["message"].removesuffix("…"))] += int(row["count"])
    assert found == messages


def test_a_planted_bug_fails_its_cell_with_its_message(batch):
    course, _ = batch
    rows = read_csv(reports(course) / "failures.csv")
    square = [r for r in rows if r["example_student"] == "square_cubes"]
    assert [(r["cell"], r["count"]) for r in square] == [("square_tests", "1")]
    assert square[0]["message"].startswith("AssertionError: square(3): 1 of 1 values differ")
    mean = [r for r in rows if r["example_student"] == "mean_wrong_axis"]
    assert [r["cell"] for r in mean] == ["mean_rows_tests"]
    assert "expected shape (3,), got shape (2,)" in mean[0]["message"]


def test_integrity_limits_and_ungraded(batch):
    course, _ = batch
    folder = reports(course)
    integrity = read_csv(folder / "integrity.csv")
    assert [(r["rule"], r["students"]) for r in integrity] == [("reference", "cube_from_reference")]
    limits = read_csv(folder / "limits.csv")
    assert [(r["kind"], r["student"], r["cell"]) for r in limits] == [
        ("CellTimeoutError", "loops", "cube_tests")
    ]
    ungraded = {r["student"]: r for r in read_csv(folder / "ungraded.csv")}
    assert set(ungraded) == {"absent", "empty", "malformed"}
    assert ungraded["absent"]["status"] == "missing"
    assert "invalid-json" in ungraded["malformed"]["reason"]
    assert ungraded["empty"]["status"] == "failed"


def test_timing_and_command(batch):
    course, _ = batch
    folder = reports(course)
    timing = read_csv(folder / "timing.csv")
    graded = {p.parent.parent.name for p in (course.root / "autograded").glob(f"*/{A}/{A}.ipynb")}
    assert {r["student"] for r in timing} == graded
    assert all(float(r["seconds"]) > 0 for r in timing)
    seconds = [float(r["seconds"]) for r in timing]
    assert seconds == sorted(seconds, reverse=True)
    summary = {r["key"]: r["value"] for r in read_csv(folder / "summary.csv")}
    assert summary["command"].startswith(f"dnnkit-autograde {A} --no-progress")
    assert int(summary["graded"]) == len(graded)


def test_on_demand_report_matches_and_says_what_is_unavailable(batch, tmp_path):
    course, _ = batch
    folder = reports(course)
    before = {p.name: p.read_text() for p in folder.glob("*.csv")}
    autograded = gs.tree_digest(course.root / "autograded")
    result = autograde_cli(course.root, "report", A)
    assert result.returncode == 0, result.stderr
    after = {p.name: p.read_text() for p in folder.glob("*.csv")}
    assert after == before  # the batch record supplies timings and failures
    assert gs.tree_digest(course.root / "autograded") == autograded
    assert not (course.root / "feedback").exists()
    # Without the batch record: the same gradebook facts, timings declared unavailable.
    result = autograde_cli(course.root, "report", A, "--output-dir", str(tmp_path))
    assert "unavailable" in result.stdout
    for name in ("cells.csv", "failures.csv", "integrity.csv", "limits.csv"):
        assert (tmp_path / name).read_text() == before[name], name
    assert read_csv(tmp_path / "timing.csv") == []
    assert "No batch record" in (tmp_path / "report.html").read_text()


# ============================================================================ the page
@pytest.mark.slow
def test_page_opens_offline_without_errors(batch):
    from browser_support import launch_chromium, require_chromium, screenshot_path

    require_chromium()
    course, _ = batch
    page_path = reports(course) / "report.html"
    html = page_path.read_text()
    assert "http://" not in html and "https://" not in html
    console, external, failed = [], [], []
    with launch_chromium() as browser:
        tab = browser.new_page(viewport={"width": 1200, "height": 900})

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                external.append(r.request.url)
                r.abort()

        tab.route("**/*", route)
        tab.on("console", lambda m: m.type == "error" and console.append(m.text))
        tab.on("pageerror", lambda e: console.append(str(e)))
        tab.on("requestfailed", lambda r: failed.append(r.url[:80]))
        tab.goto(page_path.as_uri(), wait_until="load")
        images = tab.evaluate(
            "() => Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0,"
            " i.alt, i.src.slice(0, 22)])"
        )
        tab.screenshot(path=str(screenshot_path("grading-report")), full_page=True)
    assert not console and not external and not failed, (console, external, failed)
    assert len(images) == 2
    for loaded, alt, src in images:
        assert loaded and src == "data:image/png;base64,"
        assert len(alt) > 30
