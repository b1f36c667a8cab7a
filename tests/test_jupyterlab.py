"""An exercise as a student meets it: JupyterLab in headless Chromium.

A real ``jupyter lab`` server (loopback, token, free port, no browser of its own) serves a
temporary folder holding a copy of one exercise notebook. The test opens it, waits for the
kernel, runs all cells from the Run menu, and looks for nbgrader's Validate button; then it
presses Validate. The unanswered exercise stops with ``NotImplementedError``, as it should.
The server is always shut down by the fixture's finalizer; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_support import ROOT, free_port, launch_chromium, require_chromium, screenshot_path

pytestmark = pytest.mark.slow

EXERCISES = sorted((ROOT / "exercises").glob("*/*.ipynb"))
# The first assignment needs NumPy only: no TensorFlow start-up in the kernel.
PREFERRED = "01_gradients"
SERVER_START_S = 120
UI_TIMEOUT_MS = 120_000
RUN_ALL_TIMEOUT_MS = 180_000


def _exercise() -> Path:
    preferred = [p for p in EXERCISES if p.parent.name == PREFERRED]
    if not (preferred or EXERCISES):
        pytest.fail("no exercise notebook in exercises/*/ (run nbgrader generate_assignment)")
    return (preferred or EXERCISES)[0]


def _api(url: str, method: str = "GET", timeout: float = 5) -> dict:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else {}


def _stop(process: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to shut down (kernels included); kill its process group if it lingers."""
    if process.poll() is None:
        try:
            _api(f"{base}api/shutdown?token={token}", method="POST")
        except (urllib.error.URLError, OSError):
            pass
    for sig, wait in ((None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if sig is not None and process.poll() is None:
            os.killpg(process.pid, sig)  # the group this test started: server and its kernels
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a copy of one exercise; shut down afterwards."""
    require_chromium()
    exercise = _exercise()
    home = tmp_path_factory.mktemp("jupyterlab")
    notebook_dir = home / "root" / exercise.parent.name
    notebook_dir.mkdir(parents=True)
    shutil.copy2(exercise, notebook_dir / exercise.name)
    # Lab settings of this server only: no news pop-up, no update check.
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}/"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        DNNKIT_PROFILE="quick",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed in the finalizer)
    jupyter = Path(sys.executable).with_name("jupyter")
    process = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            "--allow-root",  # containers and CI run as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={home / 'root'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=home / "root",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited ({process.returncode}):\n{_tail(home)}")
            try:
                _api(f"{base}api/status?token={token}")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S} s:\n{_tail(home)}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "exercise": exercise, "home": home}
    finally:
        _stop(process, base, token)
        log.close()


def _tail(home: Path) -> str:
    return (home / "server.log").read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def session(lab):
    """Open the notebook in Chromium, run all cells and press Validate; record what happened."""
    exercise = lab["exercise"]
    relative = f"{exercise.parent.name}/{exercise.name}"
    url = f"{lab['base']}lab/tree/{relative}?token={lab['token']}&reset"
    seen: dict = {"page_errors": [], "timings": {}}
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.on("pageerror", lambda error: seen["page_errors"].append(str(error)))
        start = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        page.wait_for_selector(".jp-NotebookPanel .jp-RenderedMarkdown h1")
        seen["title"] = page.inner_text(".jp-NotebookPanel .jp-RenderedMarkdown h1")
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell .jp-InputArea-editor")
        # JupyterLab renders only the cells near the viewport (windowing): count what is shown.
        seen["cells"] = page.locator(".jp-NotebookPanel .jp-Cell").count()
        seen["timings"]["rendered"] = time.perf_counter() - start

        # The kernel: the status bar says "<kernel> | Idle" once it has started.
        # (The text is kept from the moment it said Idle: the kernel may be busy again later.)
        idle = page.wait_for_function(
            "() => { const text = document.querySelector('#jp-main-statusbar')?.innerText;"
            " return /\\|\\s*Idle/.test(text) ? text : null; }"
        )
        seen["status_bar"] = idle.json_value()
        seen["kernels"] = _api(f"{lab['base']}api/kernels?token={lab['token']}")
        seen["timings"]["kernel idle"] = time.perf_counter() - start

        toolbar = page.locator(".jp-NotebookPanel-toolbar")
        validate = toolbar.get_by_role("button", name="Validate")
        seen["validate_buttons"] = validate.count()

        # Run > Run All Cells, as a student would.
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        error = page.locator(".jp-OutputArea-output", has_text="NotImplementedError").first
        error.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
        seen["timings"]["run all"] = time.perf_counter() - start
        seen["outputs"] = page.locator(".jp-Cell .jp-OutputArea-output").count()
        seen["executed"] = page.locator(".jp-InputPrompt", has_text="[1]:").count()
        error.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_path(f"jupyterlab-{exercise.stem}-run-all")))

        # Validate: nbgrader's server extension runs the notebook and answers in a dialog.
        if seen["validate_buttons"]:
            validate.first.click()
            dialog = page.locator(".jp-Dialog-content")
            dialog.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
            page.wait_for_function(
                "() => !/validating/i.test(document.querySelector('.jp-Dialog-content')"
                "?.innerText || '')",
                timeout=RUN_ALL_TIMEOUT_MS,
            )
            seen["validation"] = dialog.inner_text()
            seen["timings"]["validate"] = time.perf_counter() - start
            page.screenshot(path=str(screenshot_path(f"jupyterlab-{exercise.stem}-validate")))
    print(f"\njupyterlab: {exercise.name}, timings (s from opening): {seen['timings']}")
    return seen


def test_notebook_renders_in_jupyterlab(session):
    """The first markdown cell shows as a heading and a code cell has its editor."""
    assert session["cells"] >= 2, f"only {session['cells']} cells rendered"
    assert session["title"].strip(), "the exercise's title did not render"


def test_kernel_starts_and_goes_idle(session):
    kernels = session["kernels"]
    assert len(kernels) == 1, f"expected one running kernel, got {kernels}"
    assert "Idle" in session["status_bar"], session["status_bar"]


def test_run_all_executes_until_the_first_unanswered_exercise(session):
    """Run All stops at the first ``raise NotImplementedError()`` left for the student."""
    assert session["outputs"] >= 1, "Run All produced no output"
    assert session["executed"] == 1, "the first code cell was not executed"


def test_nbgrader_validate_button_is_in_the_toolbar(session):
    assert session["validate_buttons"] == 1, "nbgrader's Validate button is not in the toolbar"


def test_validate_reports_the_failing_exercise(session):
    """Oracle: the student version is unanswered, so validation must report a failure."""
    text = session.get("validation", "")
    assert "NotImplementedError" in text or "failed" in text.lower(), (
        f"Validate did not report the unanswered exercise: {text[:500]!r}"
    )


def test_no_uncaught_errors_in_jupyterlab(session):
    assert not session["page_errors"], session["page_errors"]
