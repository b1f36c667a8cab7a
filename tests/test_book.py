"""The book builds as a Jupyter Book website: every chapter executed, no error, no warning.

The site build is the one execution of the chapters in `make test`: the checks that nbval used
to make on a second execution (every code cell runs, none raises) read the notebooks the build
executed (`_build/jupyter_execute/`), chapter by chapter.
"""

import json
import re
from pathlib import Path

import browser_support
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [entry["file"] for part in toc["parts"] for entry in part["chapters"]]


def _chapters() -> list[str]:
    return [f for f in _toc_files() if re.match(r"book/0\d_", f)]


@pytest.fixture(scope="module")
def built_site():
    """Build the site (quick profile), failing on any execution error or warning.

    Built once for this module and tests/test_site.py (which may run at the same time on the
    other xdist worker): under one lock, and only when the site is missing or older than its
    sources (tests/browser_support.py), so a fresh clone always builds.
    """
    build = browser_support.ensure_site_built()
    assert build.returncode == 0, f"jupyter-book build failed:\n{build.log}"
    return HTML


@pytest.mark.slow
def test_site_has_an_index_and_every_toc_page(built_site):
    assert (built_site / "index.html").exists()
    missing = [f for f in ["book/intro", *_toc_files()] if not (built_site / f"{f}.html").exists()]
    assert not missing, f"pages missing from the site: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", _chapters())
def test_chapter_page_is_executed_with_plots_and_no_errors(built_site, chapter):
    html = (built_site / f"{chapter}.html").read_text()
    assert "cell_output" in html, f"{chapter}: no cell outputs (was it executed?)"
    assert re.search(r'<img[^>]+src="[^"]*\.png"', html), f"{chapter}: no plot on the page"
    for marker in ("Traceback (most recent call last)", "output traceback", "stderr"):
        assert marker not in html, f"{chapter}: page shows {marker!r}"


@pytest.mark.slow
def test_sources_are_not_published(built_site):
    leaked = [
        p
        for p in built_site.rglob("*")
        if re.search(r"solutions|exercises|tests", str(p.relative_to(built_site)))
    ]
    assert not leaked, f"files outside the table of contents were published: {leaked[:5]}"


def _executed_notebooks() -> list[str]:
    return [f for f in _toc_files() if (ROOT / f"{f}.ipynb").exists()]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", _executed_notebooks())
def test_every_code_cell_ran_without_error_in_the_site_build(built_site, notebook):
    """What `pytest --nbval-lax` checked, on the build's own execution: each code cell ran (in
    order, with an execution count) and none has an error output."""
    executed = json.loads((ROOT / "_build" / "jupyter_execute" / f"{notebook}.ipynb").read_text())
    source = json.loads((ROOT / f"{notebook}.ipynb").read_text())
    code = [
        c for c in executed["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]
    expected = [
        c for c in source["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]
    assert len(code) == len(expected), (
        f"{notebook}: {len(code)} code cells executed of {len(expected)}"
    )
    counts = [c.get("execution_count") for c in code]
    assert None not in counts, f"{notebook}: cell {counts.index(None)} was not executed"
    assert counts == sorted(counts), f"{notebook}: cells ran out of order: {counts}"
    errors = [
        (i, out.get("ename"), out.get("evalue"))
        for i, c in enumerate(code)
        for out in c.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{notebook}: cells raised: {errors[:3]}"


# TensorFlow's C++ runtime writes these to stderr while probing for CUDA; the site hides
# stderr (`stderr_output: remove`), so this test makes sure nothing else is hidden with them.
TF_RUNTIME_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", _chapters())
def test_chapter_writes_nothing_to_stderr_but_tensorflow_runtime_logs(built_site, chapter):
    executed = ROOT / "_build" / "jupyter_execute" / f"{chapter}.ipynb"
    nb = json.loads(executed.read_text())
    unexpected = [
        line
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr"
        for line in "".join(out["text"]).splitlines()
        if line.strip() and not TF_RUNTIME_LOG.match(line)
    ]
    assert not unexpected, f"{chapter} wrote to stderr (warnings?): {unexpected[:5]}"
