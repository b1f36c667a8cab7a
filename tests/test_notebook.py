"""dnnkit.notebook.glue writes exactly what myst-nb's glue writes (the oracle), without myst-nb."""

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
