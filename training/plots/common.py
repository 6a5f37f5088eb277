"""Shared matplotlib look for every meterwise chart: CLI reports, MLflow artifacts and notebooks.

One palette, one figure factory and one way to save, so a chart drawn by a training job, embedded in
``meterwise report <run-id>`` or shown in a notebook looks the same. No backend is chosen here: the CLI
sets ``MPLBACKEND=Agg`` unless told otherwise, a notebook keeps its inline backend, and matplotlib falls
back to Agg by itself where there is no display.

Use::

    fig, ax = new_figure("wide")
    ax.plot(x, y, color=color("model"))
    save_png(fig, folder / "roc.png")      # tight layout, fixed dpi, closes the figure

Helpers for the plots modules: :func:`new_figure`, :func:`save_png`, :func:`color`,
:func:`series_colors`, :func:`reference_line`, :func:`png_bytes`. Generic charts for notebooks and
reports: :func:`plot_group_means`, :func:`plot_lines`, :func:`plot_heatmap`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

logger = logging.getLogger(__name__)

DPI = 110
SIZES: dict[str, tuple[float, float]] = {
    "square": (5.0, 5.0),
    "normal": (6.5, 4.0),
    "wide": (9.0, 3.5),
    "tall": (6.5, 6.0),
}
# Roles, not series: the same role is the same colour in every chart (colour-blind safe, Tableau 10).
COLORS: dict[str, str] = {
    "model": "#4e79a7",  # the model being reported (challenger / new version)
    "champion": "#f28e2b",  # the current champion
    "baseline": "#76b7b2",  # simple baselines (logistic, seasonal naive)
    "actual": "#222222",  # observed values
    "good": "#59a14f",
    "bad": "#e15759",
    "neutral": "#9c9c9c",  # reference lines, perfect calibration, lift = 1
    "band": "#a0cbe8",  # prediction intervals
}
CYCLE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
STYLE: dict[str, object] = {
    "axes.prop_cycle": matplotlib.cycler(color=list(CYCLE)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.dpi": 90,
    "savefig.dpi": DPI,
}


def color(role: str) -> str:
    """The colour of a role (``model``, ``champion``, ``baseline``, ``actual``, ``band`` ...).

    Raises
    ------
    KeyError
        When `role` is not one of :data:`COLORS`; the message lists the known roles.
    """
    try:
        return COLORS[role]
    except KeyError:
        raise KeyError(f"role={role!r}; expected one of {sorted(COLORS)}") from None


def series_colors(names: Iterable[str]) -> dict[str, str]:
    """A stable colour per name, in the order given (cycles after ten names)."""
    return {name: CYCLE[i % len(CYCLE)] for i, name in enumerate(names)}


def apply_style() -> None:
    """Set the meterwise rcParams globally (for notebooks; the plots modules use :func:`new_figure`)."""
    plt.rcParams.update(STYLE)


def new_figure(size: str | tuple[float, float] = "normal", *, nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure and axes in the meterwise style.

    Parameters
    ----------
    size : str or (float, float)
        One of :data:`SIZES` (per panel) or an explicit ``(width, height)`` in inches for the whole figure.
    nrows, ncols : int
        Panel grid; with a named size the figure grows with the grid.
    **kwargs
        Passed to :func:`matplotlib.pyplot.subplots` (``sharex``, ``squeeze`` ...).

    Returns
    -------
    (matplotlib.figure.Figure, Axes or array of Axes)
    """
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"size={size!r}; expected one of {sorted(SIZES)} or (width, height)")
        w, h = SIZES[size]
        size = (w * ncols, h * nrows)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=size, **kwargs)
    for ax in fig.axes:  # rc_context does not outlive the call: apply the look to the axes themselves
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, alpha=0.3)
        ax.set_prop_cycle(color=list(CYCLE))
    return fig, axes


def reference_line(ax, y: float = 1.0, *, diagonal: bool = False, label: str | None = None) -> None:
    """A grey dotted reference: horizontal at `y`, or the ``y = x`` diagonal on [0, 1]."""
    kw = {"color": COLORS["neutral"], "linestyle": ":", "linewidth": 1, "label": label}
    if diagonal:
        ax.plot([0, 1], [0, 1], **kw)
    else:
        ax.axhline(y, **kw)


def save_png(fig, path: Path | str, *, dpi: int = DPI, close: bool = True) -> Path:
    """Tight layout, write `fig` as PNG at `path` (folders created), close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, format="png")
    if close:
        plt.close(fig)
    logger.debug("saved %s", path)
    return path


def png_bytes(fig, *, dpi: int = DPI, close: bool = True) -> bytes:
    """`fig` as PNG bytes (for embedding in HTML without touching disk)."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, dpi=dpi, format="png")
    if close:
        plt.close(fig)
    return buf.getvalue()


# ------------------------------------------------------------------ generic charts (notebooks, reports)
def plot_group_means(frame, group: str, columns: list[str], path: Path | str, *, title: str | None = None) -> Path:
    """One bar panel per column: its mean per `group` value, with the customer count on each bar.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per customer (e.g. profiles joined with customers).
    group : str
        Column to group by (``socio_group``, ``category``, ``region`` ...).
    columns : list of str
        Numeric columns; NaN values are left out of each mean.
    """
    missing = [c for c in [group, *columns] if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in frame; it has {list(frame.columns)[:20]}")
    grouped = frame.groupby(group, observed=True)
    means, counts = grouped[columns].mean(), grouped.size()
    fig, axes = new_figure((3.6 * len(columns), 3.4), ncols=len(columns), squeeze=False)
    colors = list(series_colors(means.index.astype(str)).values())
    for ax, col in zip(axes[0], columns, strict=True):
        bars = ax.bar(means.index.astype(str), means[col].to_numpy(), color=colors)
        for bar, n in zip(bars, counts.reindex(means.index).to_numpy(), strict=True):
            ax.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", fontsize=7)
        ax.set_title(col)
        ax.tick_params(axis="x", labelrotation=30)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


def plot_lines(frame, path: Path | str, *, title: str, ylabel: str, xlabel: str = "") -> Path:
    """One line per column of `frame` against its index (e.g. monthly values per group)."""
    fig, ax = new_figure("wide")
    for column, col in zip(frame.columns, CYCLE * (1 + len(frame.columns) // len(CYCLE)), strict=False):
        ax.plot(frame.index, frame[column].to_numpy(), lw=1.2, color=col, label=str(column))
    ax.set(title=title, ylabel=ylabel, xlabel=xlabel)
    if len(frame.columns) > 1:
        ax.legend(ncols=min(len(frame.columns), 4))
    return save_png(fig, path)


def plot_heatmap(table, path: Path | str, *, title: str, fmt: str = "{:.0f}", cmap: str = "Blues") -> Path:
    """A labelled heatmap of a small numeric table (rows x columns), each cell annotated."""
    values = table.to_numpy(dtype=float)
    fig, ax = new_figure((1.1 * table.shape[1] + 2.5, 0.6 * table.shape[0] + 1.8))
    ax.grid(False)
    image = ax.imshow(values, cmap=cmap, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    ax.set(xlabel=str(table.columns.name or ""), ylabel=str(table.index.name or ""), title=title)
    finite = values[values == values]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for (i, j), v in np.ndenumerate(values):
        if v == v:
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8, color="white" if v > middle else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return save_png(fig, path)
