"""The class report as one self-contained HTML page: inline CSS, images as data: URIs, no
script, and a Content-Security-Policy that forbids any request (it opens offline)."""

from __future__ import annotations

from html import escape

from .collect import ClassData
from .plots import Figure
from .tables import Table

__all__ = ["render_page"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 68em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; }
.note { color: #555; font-style: italic; } code { background: #f4f4f4; padding: 0 .2em; }
img { max-width: 100%; }
.warn { background: #fff4e5; border-left: 4px solid #e69500; padding: .4em .8em; }
"""

#: Tables shown on the page, with the sentence that introduces each (the scores table is in
#: the CSV only: the histogram shows it).
SECTIONS = {
    "cells": "Points, kind of tests, share of graded submissions that passed, and the most "
    "frequent failure messages (first line, count, one example student).",
    "failures": "Every failure message of every test cell, grouped by its first line.",
    "integrity": "Answers the static policy refused (they score 0 for the tests that use them).",
    "limits": "Cells stopped by a time limit or the sandbox (a kernel killed by a memory or "
    "process limit shows as DeadKernelError), and outputs cut by the grader.",
    "ungraded": "Submissions that could not be graded, and students without one.",
    "timing": "Time a worker spent grading each submission.",
}


def _cell(value) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{value}</td>' if numeric else f"<td>{escape(str(value))}</td>"


def _table(table: Table) -> str:
    if not table.rows:
        return f'<p class="note">{escape(table.empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(figure: Figure) -> str:
    return (
        f'<figure><img src="{figure.data_uri}" alt="{escape(figure.alt)}" '
        f'id="fig-{figure.name}"><figcaption>{escape(figure.alt)}</figcaption></figure>'
    )


def _summary(data: ClassData, summary: Table) -> str:
    values = dict(summary.rows)
    items = [
        f"<li>{escape(str(k)).replace('_', ' ')}: <b>{escape(str(v))}</b></li>"
        for k, v in values.items()
        if k not in ("assignment", "command", "batch_finished")
    ]
    command = values.get("command", "")
    run = data.record.last_run if data.record is not None else None
    if run is not None:
        items.append(
            f"<li>command: <code>{escape(str(command))}</code> (finished {run.finished})</li>"
        )
    return "<ul>" + "".join(items) + "</ul>"


def _unavailable(data: ClassData) -> str:
    if data.record is not None:
        return ""
    return (
        '<p class="warn">No batch record: this report was written on demand for a course that '
        "<code>dnnkit-autograde</code> has not graded (or whose record was removed). Grading "
        "times, the batch command and malformed submissions are unavailable; scores, pass rates, "
        "failures, integrity refusals and limits come from the gradebook and notebooks.</p>"
    )


def render_page(data: ClassData, tables: list[Table], figures: list[Figure], generated: str):
    """The report's HTML.

    Parameters
    ----------
    data : ClassData
    tables : list of Table
        From :func:`~.tables.build_tables` (the first is the summary).
    figures : list of Figure
        Shown after the summary, in order.
    generated : str
        When the report was written (shown in its header).

    Returns
    -------
    str
    """
    by_name = {t.name: t for t in tables}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Grading report: {escape(data.assignment)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Grading report: {escape(data.assignment)}</h1>",
        f'<p class="note">Written {escape(generated)}. For instructors only: it names students. '
        "Tables are also in the CSV files beside this page.</p>",
        _unavailable(data),
        "<h2>Summary</h2>",
        _summary(data, by_name["summary"]),
        *(_figure(f) for f in figures),
    ]
    for name, intro in SECTIONS.items():
        table = by_name[name]
        parts += [f'<h2 id="{name}">{escape(table.title)}</h2>', f"<p>{escape(intro)}</p>"]
        parts.append(_table(table))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
