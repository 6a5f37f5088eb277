"""Plots and the markdown report of a segmentation run: centroid shapes, sizes, temperature response."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from features.shapes import ANNUAL_COLUMNS, DAILY_COLUMNS, DOW_NAMES, WEEKLY_COLUMNS

logger = logging.getLogger(__name__)

PANELS = (
    ("weekly shape (day / mean)", WEEKLY_COLUMNS, [d.title() for d in DOW_NAMES]),
    ("annual shape (month / mean)", ANNUAL_COLUMNS, list("JFMAMJJASOND")),
    ("24-hour shape (hour / mean, UTC)", DAILY_COLUMNS, [str(h) for h in range(24)]),
)


def plot_centroids(centroids: pd.DataFrame, path: Path) -> Path:
    """One panel per shape group present in `centroids` (rows: segments, columns: features)."""
    panels = [p for p in PANELS if all(c in centroids.columns for c in p[1])]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.5 * max(len(panels), 1), 4), squeeze=False)
    for ax, (title, cols, ticks) in zip(axes[0], panels, strict=False):
        for name, row in centroids.iterrows():
            ax.plot(range(len(cols)), row[list(cols)].to_numpy(), marker="o", ms=3, label=str(name))
        ax.axhline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_xticks(range(len(cols)), ticks, fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle("segment centroids", fontsize=10)
    return _save(fig, path)


def plot_sizes(sizes: dict[str, int], levels: pd.Series | None, path: Path) -> Path:
    """Customers per segment (bars), annotated with the centroid's mean daily kWh when given."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(sizes) + 1.5))
    names = list(sizes)
    ax.barh(names, [sizes[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        label = f"{sizes[n]}" + (f"  ({levels[n]:.1f} kWh/day)" if levels is not None and n in levels else "")
        ax.text(sizes[n], i, " " + label, va="center", fontsize=7)
    ax.set_xlabel("customers")
    ax.set_title("segment sizes", fontsize=10)
    return _save(fig, path)


def plot_temperature_response(curve: pd.DataFrame, path: Path, order: list[str] | None = None) -> Path:
    """Relative daily kWh against daily mean temperature, one line per segment (in `order` when given)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    names = order if order is not None else list(dict.fromkeys(curve["segment_name"]))
    for name in names:
        part = curve[curve["segment_name"] == name]
        ax.plot(part["temperature_c"], part["kwh_rel"], marker="o", ms=3, label=str(name))
    ax.axhline(1.0, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("daily mean temperature (°C)")
    ax.set_ylabel("daily kWh / customer mean")
    ax.set_title("temperature response by segment", fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    folder: Path,
    centroids: pd.DataFrame,
    metrics: dict[str, float],
    sizes: dict[str, int],
    matrix_cells: pd.DataFrame | None = None,
    curve: pd.DataFrame | None = None,
    profiles: pd.DataFrame | None = None,
) -> Path:
    """Write ``report.md`` with ``centroids.png``, ``sizes.png`` and ``temperature_response.png`` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot_centroids(centroids, folder / "centroids.png")
    levels = np.expm1(centroids["level_log1p_kwh"]) if "level_log1p_kwh" in centroids.columns else None
    plot_sizes(sizes, levels, folder / "sizes.png")
    lines = ["# Customer segments", "", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "## Segments", ""]
    if profiles is not None:
        lines.append(markdown_table(profiles[["segment_name", "customers", "description"]]))
    else:
        lines += ["| segment | customers |", "|---|---|"] + [f"| {n} | {c} |" for n, c in sizes.items()]
    lines += ["", "![centroids](centroids.png)", "", "![sizes](sizes.png)"]
    if curve is not None and len(curve):
        plot_temperature_response(curve, folder / "temperature_response.png", order=list(centroids.index))
        lines += ["", "![temperature response](temperature_response.png)"]
    if matrix_cells is not None:
        lines += ["", "## Value x credit matrix", "", markdown_table(matrix_cells)]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n")
    logger.debug("segment report written to %s", path)  # a temporary folder: logged to MLflow by the job
    return path


def plot_transitions(table: pd.DataFrame, path: Path) -> Path:
    """Heat map of customers per (from segment, to segment); `table` as from :func:`transitions`."""
    m = table.set_index("from_segment")
    fig, ax = plt.subplots(figsize=(1.3 * m.shape[1] + 3, 0.6 * m.shape[0] + 2))
    ax.imshow(m.to_numpy(dtype=float), cmap="Blues")
    for (i, j), v in np.ndenumerate(m.to_numpy()):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(m.shape[1]), [str(c) for c in m.columns], rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(m.shape[0]), [str(r) for r in m.index], fontsize=7)
    ax.set_xlabel("to segment")
    ax.set_ylabel("from segment")
    ax.set_title("segment migration (customers)", fontsize=10)
    return _save(fig, path)


def write_migration_files(folder: Path, migration: pd.DataFrame) -> dict[str, Path]:
    """``migration.csv`` + ``migration.parquet`` (per customer), ``transitions.csv``, ``top_reasons.csv`` and
    ``transitions.png`` into `folder`; returns the paths by name."""
    from training.segment_migration import top_reasons, transitions

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = transitions(migration)
    paths = {
        "migration_csv": folder / "migration.csv",
        "migration_parquet": folder / "migration.parquet",
        "transitions": folder / "transitions.csv",
        "top_reasons": folder / "top_reasons.csv",
    }
    migration.to_csv(paths["migration_csv"], index=False)
    migration.to_parquet(paths["migration_parquet"], index=False)
    table.to_csv(paths["transitions"], index=False)
    top_reasons(migration).head(30).to_csv(paths["top_reasons"], index=False)
    if len(table):
        paths["plot"] = plot_transitions(table, folder / "transitions.png")
    return paths


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A DataFrame as a GitHub markdown table (no tabulate dependency)."""
    cells = df.map(lambda v: "" if v is None or v != v else format(v, floatfmt) if isinstance(v, float) else str(v))
    rows = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    rows += ["| " + " | ".join(r) + " |" for r in cells.to_numpy().tolist()]
    return "\n".join(rows)
