"""dnnkit.notebook.glue writes exactly what myst-nb's glue writes (the oracle), without myst-nb."""

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from dnnkit.notebook import glue


def _captured(function, *args, **kwargs):
    InteractiveShell.instance()
    with capture_output() as captured:
        function(*args, **kwargs)
    assert len(captured.outputs) == 1
    return captured.outputs[0]


@pytest.mark.parametrize("display", [False, True])
@pytest.mark.parametrize("value", [0.25, "He normal", [1, 2]])
def test_glue_matches_myst_nb(value, display):
    myst_nb = pytest.importorskip("myst_nb")
    ours = _captured(glue, "x", value, display=display)
    theirs = _captured(myst_nb.glue, "x", value, display=display)
    assert ours.data == theirs.data
    assert ours.metadata == theirs.metadata


def test_glue_returns_nothing_so_a_cell_ending_in_glue_prints_nothing():
    InteractiveShell.instance()
    with capture_output():
        assert glue("answer", 42) is None


def test_html_table_matches_chapter_2s_table_helper():
    """The oracle: chapter 2's helper as it stood, less the (empty) tbody wrapper."""
    from dnnkit.notebook import html_table

    header, rows = ["initializer", "accuracy"], [["he_normal", "0.91"], ["<b>no</b>", 3]]
    html = html_table(header, rows).data
    assert html.startswith("<table class='table'><thead><tr><th>initializer</th>")
    assert "<tr><td>he_normal</td><td>0.91</td></tr>" in html
    assert "<td><b>no</b></td><td>3</td>" in html  # markup is kept, numbers shown with str
    with pytest.raises(ValueError, match=r"rows\[1\]"):
        html_table(header, [["a", "b"], ["c"]])


def test_spread_is_median_and_range_as_chapter_2_printed_it():
    from dnnkit.notebook import spread

    assert spread([0.9, 0.8, 1.0], ".2f") == "0.90 (0.80..1.00)"  # by hand
    assert spread(np.array([[3.0], [1.0]]), "g") == "2 (1..3)"
    with pytest.raises(ValueError, match="values"):
        spread([])
