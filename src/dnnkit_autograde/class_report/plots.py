"""The class report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot
state) and kept as PNG bytes for embedding in the page."""

from __future__ import annotations

import base64
import io
import math
import statistics
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from .collect import ClassData

__all__ = ["Figure", "pass_rate_bars", "score_histogram"]

DPI = 100
BAR_COLOR = "#4c72b0"
MAX_COLOR = "#c44e52"
MEAN_COLOR = "#dd8452"
MEDIAN_COLOR = "#55a868"


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its title, alt text and PNG image."""

    name: str
    title: str
    alt: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _png(figure: MplFigure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def score_histogram(data: ClassData) -> Figure:
    """Histogram of the submissions' scores with the maximum, mean and median marked."""
    scores = [s.score for s in data.scores if s.graded]
    figure = MplFigure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    top = max([data.max_score, *scores, 1.0])
    if top <= 40:  # one bar per whole point, centred on it
        bins = [i - 0.5 for i in range(math.ceil(top) + 2)]
    else:
        bins = [top * i / 20 for i in range(21)]
    ax.hist(scores, bins=bins, color=BAR_COLOR, edgecolor="white")
    ax.axvline(data.max_score, color=MAX_COLOR, linewidth=2, label=f"maximum {data.max_score:g}")
    alt = f"Histogram of the scores of {len(scores)} graded submissions out of {data.max_score:g}"
    if scores:
        mean, median = statistics.fmean(scores), statistics.median(scores)
        ax.axvline(mean, color=MEAN_COLOR, linestyle="--", label=f"mean {mean:.2f}")
        ax.axvline(median, color=MEDIAN_COLOR, linestyle=":", label=f"median {median:g}")
        full = sum(s >= data.max_score for s in scores)
        alt += f": mean {mean:.2f}, median {median:g}, {full} with full marks."
    ax.set_xlabel("score (points)")
    ax.set_ylabel("submissions")
    ax.set_title(f"{data.assignment}: score distribution")
    ax.legend(loc="upper left")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return Figure("scores", "Score distribution", alt, _png(figure))


def pass_rate_bars(data: ClassData) -> Figure:
    """One horizontal bar per test cell: the share of graded submissions that passed it."""
    cells = [t for t in data.cells if t.graded]
    figure = MplFigure(figsize=(7, 0.9 + 0.38 * max(len(cells), 1)))
    ax = figure.add_subplot()
    labels = [f"{t.name} ({t.points:g} pt)" for t in cells]
    rates = [100 * (t.pass_rate or 0.0) for t in cells]
    positions = list(range(len(cells)))[::-1]
    ax.barh(positions, rates, color=BAR_COLOR)
    ax.set_yticks(positions, labels)
    for y, rate in zip(positions, rates, strict=True):
        ax.text(min(rate + 1, 92), y, f"{rate:.0f} %", va="center", fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("submissions that passed (%)")
    ax.set_title(f"{data.assignment}: pass rate per test cell")
    hardest = min(cells, key=lambda t: t.pass_rate or 0.0, default=None)
    alt = f"Bar chart of the pass rate of {len(cells)} test cells"
    if hardest is not None:
        alt += f"; lowest: {hardest.name}, passed by {hardest.passed} of {hardest.graded}."
    return Figure("pass_rates", "Pass rate per test cell", alt, _png(figure))
