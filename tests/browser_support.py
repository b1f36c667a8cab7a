"""Shared helpers for the browser checks (website and JupyterLab) and the site build they need.

- ``find_chromium`` / ``require_chromium``: the system Chromium (Debian's ``chromium``; the
  Makefile's ``browser`` target installs it). Playwright drives it through ``executable_path``;
  its own browser downloads are never used (there is no network). A test skips, loudly, only
  when no Chromium binary exists at all.
- ``launch_chromium``: a headless Chromium through Playwright's sync API.
- ``serve_directory``: a static HTTP server on 127.0.0.1 with a free port, in a thread.
- ``ensure_site_built``: builds ``_build/html`` with the same command as ``make book`` when it is
  missing or older than its sources, under a file lock that other site tests can share.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
BUILD_LOCK = BUILD / ".site-build.lock"

# `make book` runs exactly this (see the Makefile); the tests reuse it.
BUILD_COMMAND = ["build", ".", "--warningiserror", "--keep-going"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium")
# --no-sandbox: the tests run as root in a container, where Chromium's sandbox cannot start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


# ---------------------------------------------------------------------------- Chromium


def find_chromium() -> str | None:
    """Path of a Chromium executable: ``$CHROMIUM`` if set, else the first one on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)), None)


def require_chromium() -> str:
    """Return Chromium's path, or skip the test loudly (message and warning) when there is none."""
    path = find_chromium()
    if path is None:
        message = (
            "BROWSER CHECK SKIPPED: no Chromium executable found (looked for $CHROMIUM, "
            f"{', '.join(CHROMIUM_NAMES)} on PATH and {', '.join(CHROMIUM_PATHS)}). "
            "Install it with `make browser` (Debian: apt-get install chromium)."
        )
        warnings.warn(message, UserWarning, stacklevel=2)
        print(f"\n*** {message} ***", file=sys.stderr)
        pytest.skip(message)
    return path


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    """Yield a headless Playwright ``Browser`` running the system Chromium."""
    executable = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # a missing test dependency is a failure, not a skip
        pytest.fail(f"Playwright is not installed ({error}); run `make setup`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot_path(name: str) -> Path:
    """Where a screenshot called ``name`` goes (``_build/screenshots/<name>.png``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


# ---------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class' name)
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (free port); yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ---------------------------------------------------------------------------- the site


def toc_pages() -> list[str]:
    """Every page of ``_toc.yml`` (root first), as paths without suffix, e.g. ``book/intro``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            pages.append(entry["file"])
            pages.extend(section["file"] for section in entry.get("sections", []))
    return pages


def site_sources() -> list[Path]:
    """Files whose change makes the built site stale (config, TOC, book/, the library)."""
    sources = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    sources += [p for p in (ROOT / "book").rglob("*") if p.is_file()]
    sources += list((ROOT / "src" / "dnnkit").rglob("*.py"))
    sources += list((ROOT / "_ext").rglob("*.py"))  # local Sphinx extensions, if any
    return [p for p in sources if ".ipynb_checkpoints" not in p.parts]


def site_is_stale() -> bool:
    """True when ``_build/html`` lacks a TOC page or is older than any of its sources."""
    index = HTML / "index.html"
    pages = [HTML / f"{page}.html" for page in toc_pages()]
    if not index.exists() or not all(p.exists() for p in pages):
        return True
    newest_source = max(p.stat().st_mtime for p in site_sources())
    return index.stat().st_mtime < newest_source


@contextlib.contextmanager
def site_build_lock(exclusive: bool = True) -> Iterator[None]:
    """Hold a lock on ``_build`` (exclusive to build, shared to read) across processes."""
    BUILD.mkdir(exist_ok=True)
    with open(BUILD_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class SiteBuild:
    """What ``ensure_site_built`` did: ``built`` is False when the site was already fresh."""

    built: bool
    returncode: int = 0
    log: str = ""
    seconds: float = 0.0


def build_site(timeout: float = 1800) -> SiteBuild:
    """Run ``jupyter-book build . --warningiserror --keep-going`` (quick profile) at the root."""
    env = dict(os.environ, DNNKIT_PROFILE="quick", TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    result = subprocess.run(
        [str(jupyter_book), *BUILD_COMMAND],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return SiteBuild(
        built=True,
        returncode=result.returncode,
        log=result.stdout[-6000:] + result.stderr[-6000:],
        seconds=time.perf_counter() - start,
    )


def ensure_site_built() -> SiteBuild:
    """Build the site when it is missing or stale (under the build lock); say what happened."""
    with site_build_lock(exclusive=True):
        if site_is_stale():
            return build_site()
    return SiteBuild(built=False)
