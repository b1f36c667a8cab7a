"""The course library never reaches into the grader: ``dnnkit`` (and ``dnnkit.grading``, which
runs inside the student's kernel) imports neither nbgrader nor ``dnnkit_autograde``.

Oracle: ``sys.modules`` of a fresh interpreter after importing every module of ``dnnkit``, and
the import statements of its source (read with :mod:`ast`).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import dnnkit

SRC = Path(dnnkit.__file__).parent
GRADER_SIDE = ("nbgrader", "dnnkit_autograde", "nbclient", "nbconvert", "jupyter_client")


def _dnnkit_modules() -> list[str]:
    return sorted(f"dnnkit.{m.name}" for m in pkgutil.iter_modules([str(SRC)]))


def test_importing_every_dnnkit_module_loads_no_grader_module():
    code = (
        "import importlib, json, sys\n"
        f"for name in {_dnnkit_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    leaked = [m for m in loaded if m.split(".")[0] in GRADER_SIDE]
    assert leaked == [], f"importing dnnkit loaded the grader's side: {leaked[:10]}"


def test_no_dnnkit_source_file_imports_the_grader():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in GRADER_SIDE]
    assert offenders == []
