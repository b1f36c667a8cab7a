"""Small helpers for the book's notebooks.

``glue`` records a computed value for the text of the page (myst-nb's ``glue``) when the book
is being built, and simply returns the value elsewhere (JupyterLab, Colab), so chapters run
everywhere without myst-nb.
"""


def glue(name: str, value, display: bool = False):
    """Make ``value`` available to the page's text as ``{glue:}`name```; returns ``value``."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # not building the book: nothing to record
        return value
    myst_glue(name, value, display=display)
    return value
