"""Timing harness shared by the benchmark sections.

Every figure is a ratio measured side by side: in each repetition every variant runs once, in
an order that rotates from one repetition to the next, so a change in the machine's load hits
all variants alike. A ratio is computed per repetition (variant / baseline of the same
repetition) and reported as the median over the repetitions with its min-max range.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable

MIN_REPEATS = 5


# ------------------------------------------------------------------------------- measuring
def calibrate(fn: Callable[[], object], target_s: float, max_number: int = 10_000) -> int:
    """How many calls of ``fn`` (already warmed up) take about ``target_s`` seconds."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target_s / 4 or number >= max_number:
            break
        number *= 4
    per_call = max(elapsed / number, 1e-9)
    return max(1, min(max_number, round(target_s / per_call)))


def interleaved(
    variants: dict[str, Callable[[], object]],
    *,
    repeats: int,
    target_s: float,
    warmup: int = 2,
) -> dict[str, list[float]]:
    """Time each variant ``repeats`` times, interleaved; return seconds per call per repetition.

    Each variant is first called ``warmup`` times (tracing, XLA compilation, caches), then its
    number of calls per measurement is calibrated to about ``target_s`` seconds. Repetition
    ``r`` runs the variants in the order rotated by ``r``.
    """
    if repeats < MIN_REPEATS:
        raise ValueError(f"repeats must be at least {MIN_REPEATS} (median of >= 5); got {repeats}")
    names = list(variants)
    numbers = {}
    for name in names:
        for _ in range(warmup):
            variants[name]()
        numbers[name] = calibrate(variants[name], target_s)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn, number = variants[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return samples


def ratio_stats(samples: list[float], baseline: list[float]) -> dict[str, float]:
    """Median, min and max of the per-repetition ratios ``samples[r] / baseline[r]``."""
    ratios = [s / b for s, b in zip(samples, baseline, strict=True)]
    return {
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def time_stats(samples: list[float]) -> dict[str, float]:
    """Median, min and max of the per-call times, in milliseconds."""
    return {
        "ms": 1e3 * statistics.median(samples),
        "ms_min": 1e3 * min(samples),
        "ms_max": 1e3 * max(samples),
    }


def compare(samples: dict[str, list[float]], baseline: str) -> list[dict]:
    """One row per variant: its time and its ratio to ``baseline`` (same repetitions)."""
    return [
        {"variant": name, **time_stats(s), **ratio_stats(s, samples[baseline])}
        for name, s in samples.items()
    ]


# ------------------------------------------------------------------------------- the header
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


LIBRARIES = ("numpy", "scipy", "tensorflow", "keras", "dnnkit", "nbgrader", "jupyter-book")


def device() -> str:
    """The accelerator TensorFlow sees (``"CPU"`` when none), without importing TF twice."""
    try:
        from dnnkit.profile import device_description

        return device_description()
    except Exception as exc:  # a missing or broken TensorFlow must not stop the header
        return f"unknown ({type(exc).__name__})"


def header(command: str, *, with_device: bool = True) -> dict:
    """The machine, the libraries, the device, the date and the command of this run."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "device": device() if with_device else "not queried (no TensorFlow section in this run)",
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "command": command,
    }


def format_header(h: dict) -> list[str]:
    libs = ", ".join(f"{k} {v}" for k, v in h["libraries"].items())
    load = h.get("load_average_at_start")
    lines = [
        f"Date: {h['date']}",
        f"CPU: {h['cpu']}, {h['cores']} cores available ({h['platform']})",
        f"Device: {h['device']}",
        f"Python {h['python']}; {libs}",
        f"Command: {h['command']}",
    ]
    if load:
        lines.append(f"Load average at start (1, 5, 15 min): {load[0]}, {load[1]}, {load[2]}")
    return lines


# ------------------------------------------------------------------------------- the tables
def fmt_ratio(row: dict) -> str:
    return f"{row['ratio']:.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"


def fmt_ms(row: dict) -> str:
    ms = row["ms"]
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    """A GitHub/MyST Markdown table (also readable as plain text)."""
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])
