"""Small helpers for the book's notebooks.

``glue`` records a computed value so that the page's text can show it (myst-nb's
``{glue:}`name``` role). It writes the same display data as ``myst_nb.glue`` but needs only
IPython, so chapters run unchanged on Colab and in JupyterLab, where the record is invisible,
and importing it stays fast (myst-nb's own import takes seconds).
"""

# The MIME prefix myst-nb reads glued values from (myst_nb.ext.glue.GLUE_PREFIX).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, display: bool = False) -> None:
    """Make ``value`` available to the page's text as ``{glue:}`name```.

    With ``display=True`` the value is also shown in the cell's output.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipython_display

    mimebundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display({prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
