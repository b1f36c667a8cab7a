"""Smoke test of the benchmark suite (``python -m benchmarks --quick``): it runs end to end on
tiny sizes and writes its tables. Not a timing assertion: benchmarks never fail for speed."""

import json
import sys
from pathlib import Path

import pytest

# benchmarks/ is a folder of the repository, not part of the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import __main__ as bench  # noqa: E402
from benchmarks import course_runtime, grading_throughput, harness  # noqa: E402


def test_interleaved_runs_every_variant_in_rotating_order():
    calls = []
    variants = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    samples = harness.interleaved(variants, repeats=5, target_s=1e-4, warmup=0)
    assert {len(s) for s in samples.values()} == {5}
    rows = harness.compare(samples, baseline="a")
    assert rows[0]["ratio"] == rows[0]["ratio_min"] == rows[0]["ratio_max"] == 1.0
    assert all(r["ratio_min"] <= r["ratio"] <= r["ratio_max"] for r in rows)


def test_interleaved_needs_five_repetitions():
    with pytest.raises(ValueError, match="at least 5"):
        harness.interleaved({"a": lambda: None}, repeats=4, target_s=1e-4)


def test_ratio_is_per_repetition_median_hand_computed():
    stats = harness.ratio_stats([2.0, 3.0, 12.0], [1.0, 1.0, 2.0])
    assert stats == {"ratio": 3.0, "ratio_min": 2.0, "ratio_max": 6.0}


def test_grading_results_merge_by_adding_times():
    def part(name, n, serial, batch, equal):
        timing = {"submissions": n, "serial_s": serial, "batch_s": batch}
        return {
            "n_submissions": n,
            "serial_s": serial,
            "batch_s": batch,
            "serial_cpu_s": serial,
            "batch_cpu_s": 2 * batch,
            "speedup": serial / batch,
            "scores_equal": equal,
            "per_assignment": {name: timing},
            "commands": {"serial": "s", "batch": "b", "benchmark": "python g.py"},
            "load_after": [n],
        }

    merged = grading_throughput.merge(
        part("a", 40, 120.0, 80.0, True), part("k", 6, 90.0, 60.0, True)
    )
    assert (merged["n_submissions"], merged["serial_s"], merged["batch_s"]) == (46, 210.0, 140.0)
    assert merged["speedup"] == 1.5 and merged["scores_equal"] is True
    assert list(merged["per_assignment"]) == ["a", "k"] and merged["load_after"] == [6]
    assert merged["commands"]["benchmark"] == (
        "python g.py --assignments a; python g.py --assignments k"
    )
    assert not grading_throughput.merge(
        part("a", 1, 1.0, 1.0, True), part("k", 1, 1.0, 1.0, False)
    )["scores_equal"]


def test_make_test_seconds_is_read_when_recorded(tmp_path, monkeypatch):
    record = tmp_path / "make_test_seconds.txt"
    monkeypatch.setattr(course_runtime, "MAKE_TEST_FILE", record)
    assert course_runtime.make_test_seconds() is None
    record.write_text("612\n")
    assert course_runtime.make_test_seconds() == 612.0


@pytest.mark.slow
def test_quick_bench_runs_end_to_end_and_writes_markdown_and_json(tmp_path, capsys):
    sections = ["bn", "activations", "numpy", "course"]
    assert bench.main(["--quick", "--only", *sections, "--results-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / f"bench-quick-{'-'.join(sections)}.json").read_text())
    assert [s["section"] for s in report["sections"]] == sections
    assert not [s for s in report["sections"] if "error" in s]
    assert report["header"]["cores"] >= 1 and report["header"]["libraries"]["numpy"]
    markdown = (tmp_path / f"bench-quick-{'-'.join(sections)}.md").read_text()
    for section in report["sections"]:
        assert section["title"] in markdown
    assert "library layers within 1.3x" in markdown and "Date:" in markdown
    page = bench.render_markdown(report, page=True)
    assert page.startswith("# Benchmarks") and "-m benchmarks --publish" in page
    assert "Target: library layers" in capsys.readouterr().out


def test_publish_refuses_quick_figures():
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--publish"])
