"""Matplotlib's font list for sandboxed kernels, made once per machine outside the sandbox.

The first ``import matplotlib.pyplot`` (Keras imports it too) looks for
``fontlist-v<N>.json`` in ``MPLCONFIGDIR`` and, when it is missing, parses every font file of
the system to write it: 0.8 s on 2 cores. A sandboxed kernel starts with an empty home, so every
notebook that imports Keras paid that again (a sixth of its grading time). The grader makes the
list once, from the system's fonts only (its ``HOME`` is an empty folder), in
``~/.cache/dnnkit-sandbox/matplotlib-<version>/``; each sandbox binds that one file read-only
into the kernel's ``MPLCONFIGDIR``. The kernel can read it and cannot change it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["cache_folder", "matplotlib_font_list"]

log = logging.getLogger(__name__)


def cache_folder(version: str) -> Path:
    """Where the font list of matplotlib ``version`` is kept (``$XDG_CACHE_HOME`` or
    ``~/.cache``)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(root) / "dnnkit-sandbox" / f"matplotlib-{version}"


@functools.cache
def matplotlib_font_list() -> str | None:
    """The path of matplotlib's font list for the installed matplotlib, made on first use
    (about a second, once per machine); None where matplotlib is not installed or the list
    could not be made (kernels then make their own, as before)."""
    try:
        version = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        return None
    folder = cache_folder(version)
    found = sorted(folder.glob("fontlist-v*.json"))
    if found:
        return str(found[-1])
    try:
        return _make_font_list(folder)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("dnnkit sandbox: could not make matplotlib's font list: %s", exc)
        return None


def _make_font_list(folder: Path) -> str | None:
    """Run matplotlib's font scan in a fresh folder, then move its list into ``folder`` in one
    rename (two workers making it at once both succeed)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": scratch, "MPLCONFIGDIR": scratch}
        subprocess.run(
            [sys.executable, "-I", "-c", "import matplotlib.font_manager"],
            env=env,
            capture_output=True,
            timeout=300,
            check=True,
        )
        made = sorted(Path(scratch).glob("fontlist-v*.json"))
        if not made:
            return None
        target = folder / made[-1].name
        os.replace(made[-1], target)
    return str(target)
