"""Small helpers for the book's notebooks: glued values and result tables.

``glue`` records a computed value so that the page's text can show it (myst-nb's ``glue``
role, written ``{glue:}`` then the name in backquotes). It writes the same display data as
``myst_nb.glue`` but needs only IPython, so chapters run unchanged on Colab and in JupyterLab,
where the record is invisible, and importing it stays fast (myst-nb's own import takes
seconds). ``html_table`` shows rows of
results as a table that renders the same in Jupyter, Colab and the book; ``spread`` formats a
result over seeds as its median and range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from IPython.display import HTML

__all__ = ["GLUE_PREFIX", "glue", "html_table", "spread"]

#: The MIME prefix myst-nb reads glued values from (``myst_nb.ext.glue.GLUE_PREFIX``).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = False) -> None:
    """Make ``value`` available to the page's text under ``name`` (myst-nb's ``glue`` role).

    Parameters
    ----------
    name : str
        The key the text refers to.
    value : object
        Anything IPython can display (a number, a string, a figure).
    display : bool
        Also show the value in the cell's output.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipython_display

    mimebundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display({prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)


def _row(cells: Iterable[Any], tag: str) -> str:
    return "<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>"


def html_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> HTML:
    """Rows of results as an HTML table (it renders the same in Jupyter, Colab and the book).

    Parameters
    ----------
    header : sequence
        The column titles.
    rows : iterable of sequences
        One sequence of cells per row, each as long as ``header``. Cells are shown with
        ``str`` and not escaped, so a cell may hold markup such as ``"<b>no</b>"``.

    Returns
    -------
    IPython.display.HTML
        The last expression of a cell, or an argument of ``display``.

    Raises
    ------
    ValueError
        When a row has not as many cells as the header.
    """
    from IPython.display import HTML

    header = list(header)
    lines = []
    for i, row in enumerate(rows):
        cells = list(row)
        if len(cells) != len(header):
            raise ValueError(
                f"rows[{i}] of {len(cells)} cells is not allowed; expected {len(header)} cells, "
                "one per column of the header"
            )
        lines.append(_row(cells, "td"))
    head = f"<thead>{_row(header, 'th')}</thead>"
    return HTML(f"<table class='table'>{head}<tbody>{''.join(lines)}</tbody></table>")


def spread(values: ArrayLike, fmt: str = ".3g") -> str:
    """The median of ``values`` (e.g. one result per seed) and their range, as text.

    Parameters
    ----------
    values : array-like of numbers
        One value per run; at least one.
    fmt : str
        A format specification for each number, e.g. ``".3f"``.

    Returns
    -------
    str
        ``"median (min..max)"``, e.g. ``"0.912 (0.897..0.925)"``.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError("values=[] is not allowed; expected at least one value")
    median, low, high = (format(v, fmt) for v in (np.median(array), array.min(), array.max()))
    return f"{median} ({low}..{high})"
