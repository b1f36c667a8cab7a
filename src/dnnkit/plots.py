"""The book's plots: one colour per method, activation or initializer in every chapter.

``METHOD_COLORS`` / ``color_for`` give a name the same colour wherever it is plotted;
``plot_per_layer`` and ``plot_history`` draw the per-layer and per-epoch figures of the
chapters. matplotlib is imported when a figure is made, not on import.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dnnkit._checks import fail

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["METHOD_COLORS", "color_for", "plot_per_layer", "plot_history"]


_PALETTE = (  # matplotlib's tab10 then the lighter half of tab20
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip

#: Stable colour of every method / activation / initializer name the book plots. Names that
#: appear in the same figure have different colours.
METHOD_COLORS: dict[str, str] = {
    # activations
    "sigmoid": _PALETTE[0],
    "tanh": _PALETTE[1],
    "relu": _PALETTE[2],
    "leaky_relu": _PALETTE[3],
    "rrelu": _PALETTE[4],
    "prelu": _PALETTE[5],
    "elu": _PALETTE[6],
    "selu": _PALETTE[7],
    "gelu": _PALETTE[8],
    "swish": _PALETTE[9],
    "silu": _PALETTE[9],
    "mish": _PALETTE[10],
    "softplus": _PALETTE[11],
    "linear": _PALETTE[17],
    # initializers
    "random_normal": _PALETTE[7],
    "glorot_uniform": _PALETTE[0],
    "glorot_normal": _PALETTE[10],
    "he_uniform": _PALETTE[2],
    "he_normal": _PALETTE[12],
    "lecun_uniform": _PALETTE[4],
    "lecun_normal": _PALETTE[14],
    # methods
    "baseline": _PALETTE[7],
    "no_batchnorm": _PALETTE[7],
    "batchnorm": _PALETTE[3],
    "batchnorm_before_activation": _PALETTE[3],
    "batchnorm_after_activation": _PALETTE[1],
    "no_clipping": _PALETTE[7],
    "clip_value": _PALETTE[1],
    "clip_norm": _PALETTE[4],
    "clip_global_norm": _PALETTE[9],
    "from_scratch": _PALETTE[7],
    "transfer": _PALETTE[0],
    "frozen": _PALETTE[10],
    "unfrozen": _PALETTE[0],
}


def _normalize(name: object) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def color_for(name: object) -> str:
    """The colour of ``name`` (case, spaces and dashes ignored): ``METHOD_COLORS`` or, for other
    names, a colour of the same palette chosen from a checksum of the name (stable across runs)."""
    key = _normalize(name)
    if key in METHOD_COLORS:
        return METHOD_COLORS[key]
    return _PALETTE[zlib.crc32(key.encode()) % len(_PALETTE)]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    axes: Axes = plt.subplots(figsize=(6, 4))[1]
    return axes


def plot_per_layer(
    values: Mapping[str, Sequence[float] | np.ndarray],
    *,
    ylabel: str,
    title: str,
    logy: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """One line per method of a per-layer quantity (e.g. gradient norms), layer 1 = input side.

    Parameters
    ----------
    values : dict mapping a name to a sequence of L numbers (one per layer)
    ylabel, title : str
    logy : bool, logarithmic y axis (for quantities that vanish or explode)
    ax : matplotlib Axes or None (a new figure)

    Returns
    -------
    matplotlib Axes
    """
    if not values:
        fail("values", values, "a non-empty dict {name: per-layer values}")
    ax = _axes(ax)
    for name, series in values.items():
        numbers = np.asarray(series, dtype=np.float64)
        layers = np.arange(1, len(numbers) + 1)
        ax.plot(layers, numbers, marker="o", color=color_for(name), label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("layer (1 = closest to the input)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(values) > 1:
        ax.legend()
    return ax


def plot_history(
    histories: Mapping[str, Any],
    metric: str = "loss",
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Axes:
    """Training (solid) and validation (dashed) curves of ``metric`` for several runs.

    Parameters
    ----------
    histories : dict mapping a name to a keras History (from ``fit``) or a dict of lists
        (``History.history``). A History's epoch numbers are used, so the two histories of
        ``dnnkit.transfer.fine_tune`` line up end to end.
    metric : str, e.g. "loss" or "accuracy"
    ax : matplotlib Axes or None (a new figure)
    title : str or None (default: the metric per epoch)

    Returns
    -------
    matplotlib Axes
    """
    if not histories:
        fail("histories", histories, "a non-empty dict {name: History or dict}")
    ax = _axes(ax)
    for name, history in histories.items():
        logs = getattr(history, "history", history)
        if metric not in logs:
            raise ValueError(f"{name!r} has no {metric!r} history; it has {sorted(logs)}")
        epochs = np.asarray(getattr(history, "epoch", range(len(logs[metric]))))[
            : len(logs[metric])
        ]
        color = color_for(name)
        ax.plot(epochs + 1, logs[metric], color=color, label=f"{name} (train)")
        if f"val_{metric}" in logs:
            ax.plot(
                epochs + 1, logs[f"val_{metric}"], "--", color=color, label=f"{name} (validation)"
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title if title is not None else f"{metric} per epoch")
    ax.legend()
    return ax
