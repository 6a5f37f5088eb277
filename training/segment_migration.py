"""Per-customer segment migration between two segmentation versions: who moved where, and why.

:func:`migration_frame` takes the *from* model with the shapes as of its cutoff and the *to* model with the
shapes as of its own, and returns one row per customer: the segment under each version, whether the
customer moved, the cause and the three features that explain the move.

Why, by feature (all in the *to* model's scaled space, the one fixed space of the comparison): with
``c_from`` and ``c_to`` the centres of the two segments (``c_from`` is the *to* model's centre of that name,
or the *from* model's centre mapped into the space when the name is gone), the preference for ``to`` over
``from`` is ``sum_j g_j(z)`` with ``g_j(z) = (z_j - c_from_j)^2 - (z_j - c_to_j)^2``. A feature's share of
the move is ``g_j(z_new) - g_j(z_old)``: how much the *change* in that feature between the two cutoffs
pushed the customer towards ``to``. When the data did not change (same cutoff), it is ``g_j(z_new)``.

:func:`write_migration_report` (the I/O edge) loads two registered versions, rebuilds each one's shapes
from the tenant's data and writes the file, the HTML report and the plot; ``meterwise report-migration``
runs it (:mod:`training.cli.segments`).

``cause`` is ``usage`` when the *from* model itself puts the customer's new shape elsewhere (the customer
changed), ``model`` when only the new model moves it (the segments changed), ``-`` when not moved.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from training.segmentation import LoadShapeSegmenter

logger = logging.getLogger(__name__)
TOP_FEATURES = 3
COLUMNS = (
    "customer_id", "from_version", "to_version", "from_segment", "to_segment", "moved", "cause",
    *[f"feature_{i + 1}" for i in range(TOP_FEATURES)], "explanation",
)  # fmt: skip


def _indexed(X: pd.DataFrame) -> pd.DataFrame:
    if "customer_id" in X.columns:
        X = X.set_index(X["customer_id"].astype(str)).drop(columns="customer_id")
    return X.set_axis(X.index.astype(str), axis=0)


def _centres(to_model: LoadShapeSegmenter, from_model: LoadShapeSegmenter) -> pd.DataFrame:
    """Segment centre per name in the *to* model's space: its own, plus the *from* model's missing names."""
    cols = list(to_model.feature_names_in_)
    own = pd.DataFrame(to_model.cluster_centers_, index=list(to_model.segment_names_), columns=cols)
    gone = [n for n in from_model.segment_names_ if n not in own.index]
    if gone and all(c in from_model.centroids_.columns for c in cols):
        units = from_model.centroids_.loc[gone, cols].to_numpy(dtype=float)
        own = pd.concat([own, pd.DataFrame(to_model._transform(units), index=gone, columns=cols)])
    return own


def migration_frame(
    from_model: LoadShapeSegmenter,
    from_shapes: pd.DataFrame,
    to_model: LoadShapeSegmenter,
    to_shapes: pd.DataFrame,
    *,
    from_version: str,
    to_version: str,
) -> pd.DataFrame:
    """One row per customer in both shape frames (see the module docstring); columns :data:`COLUMNS`."""
    old, new = _indexed(from_shapes), _indexed(to_shapes)
    ids = old.index.intersection(new.index)
    old, new = old.loc[ids], new.loc[ids]
    seg_from = from_model.predict_frame(old)["segment_name"].to_numpy()
    seg_to = to_model.predict_frame(new)["segment_name"].to_numpy()
    seg_from_on_new = from_model.predict_frame(new)["segment_name"].to_numpy()
    moved = seg_from != seg_to
    cols = list(to_model.feature_names_in_)
    top = np.full((len(ids), TOP_FEATURES), None, dtype=object)
    text = np.full(len(ids), "", dtype=object)
    rows = np.flatnonzero(moved & old[cols].notna().all(axis=1).to_numpy() & new[cols].notna().all(axis=1).to_numpy())
    centres = _centres(to_model, from_model)
    rows = rows[np.isin(seg_from[rows], centres.index) & np.isin(seg_to[rows], centres.index)]
    if rows.size:
        z_old = to_model._transform(old.iloc[rows][cols].to_numpy(dtype=float))
        z_new = to_model._transform(new.iloc[rows][cols].to_numpy(dtype=float))
        c_from = centres.loc[seg_from[rows]].to_numpy()
        c_to = centres.loc[seg_to[rows]].to_numpy()

        def pull(z: np.ndarray) -> np.ndarray:
            return (z - c_from) ** 2 - (z - c_to) ** 2

        share = pull(z_new) - pull(z_old)
        share = np.where(np.abs(share).sum(axis=1, keepdims=True) > 1e-12, share, pull(z_new))
        order = np.argsort(-share, axis=1, kind="stable")[:, :TOP_FEATURES]
        names = np.asarray(cols, dtype=object)
        top[rows, : order.shape[1]] = names[order]
        raw_old, raw_new = old.iloc[rows][cols].to_numpy(dtype=float), new.iloc[rows][cols].to_numpy(dtype=float)
        text[rows] = [
            "; ".join(f"{names[j]} {raw_old[i, j]:.3g}→{raw_new[i, j]:.3g}" for j in order[i]) for i in range(rows.size)
        ]  # one string per mover (report text, not a hot path)
    cause = np.where(~moved, "-", np.where(seg_from_on_new != seg_from, "usage", "model"))
    out = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "from_version": str(from_version),
            "to_version": str(to_version),
            "from_segment": seg_from,
            "to_segment": seg_to,
            "moved": moved,
            "cause": cause,
            **{f"feature_{i + 1}": top[:, i] for i in range(TOP_FEATURES)},
            "explanation": text,
        }
    )
    logger.info("segment migration v%s -> v%s: %d of %d moved", from_version, to_version, moved.sum(), len(out))
    return out[list(COLUMNS)]


def transitions(migration: pd.DataFrame) -> pd.DataFrame:
    """Customers per (from segment, to segment): rows *from*, columns *to*, plus a ``from_segment`` column."""
    table = pd.crosstab(migration["from_segment"], migration["to_segment"])
    return table.rename_axis(None, axis=1).reset_index()


def top_reasons(migration: pd.DataFrame) -> pd.DataFrame:
    """How often each feature is the first reason of a move, per (from, to) pair: ``from, to, feature, movers``."""
    movers = migration[migration["moved"] & migration["feature_1"].notna()]
    if movers.empty:
        return pd.DataFrame(columns=["from_segment", "to_segment", "feature_1", "movers"])
    grouped = movers.groupby(["from_segment", "to_segment", "feature_1"]).size().rename("movers").reset_index()
    return grouped.sort_values("movers", ascending=False, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------ I/O edge
def write_migration_report(data, training, from_version: str, to_version: str, *, out: Path | None = None) -> Path:
    """Write ``<var_dir>/reports/<tenant>/segments_migration_v<from>_v<to>/`` (files + ``report.html``).

    Each version segments the customers' shapes as of its own training cutoff (its ``as_of`` param).
    Returns the folder. Raises :class:`~features.errors.ModelNotReady` for an unknown version.
    """
    from features.io import load_tenant
    from training import registry
    from training.plots.segments import write_migration_files
    from training.reports import write_folder_report
    from training.segments_scoring import TABLES, _shapes

    reg = registry.open_registry(training, data.tenant)
    tables, _ = load_tenant(data.data_dir, tables=TABLES)
    models, shapes = [], []
    for version in (from_version, to_version):
        bundle, v = reg.load_version("segments", str(version))
        as_of = pd.Timestamp(reg.version_run("segments", v)["params"]["as_of"])
        models.append(bundle)
        shapes.append(_shapes(tables, as_of, int(getattr(bundle, "window_days", 365))))
    migration = migration_frame(
        models[0], shapes[0], models[1], shapes[1], from_version=from_version, to_version=to_version
    )
    name = f"segments_migration_v{from_version}_v{to_version}"
    folder = Path(out) if out is not None else Path(data.var_dir) / "reports" / data.tenant / name
    write_migration_files(folder, migration)
    moved = migration["moved"]
    metrics = {"customers": float(len(migration)), "moved": float(moved.sum()), "moved_share": float(moved.mean())}
    write_folder_report(folder, run_id=name, kind="segments-migration", metrics=metrics, title=name)
    logger.info("migration v%s -> v%s: %d of %d moved -> %s", from_version, to_version, moved.sum(), len(moved), folder)
    return folder
