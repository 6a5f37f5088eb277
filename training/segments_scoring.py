"""Segment batch scoring (I/O at the edge): segment, value band, grade and strategy per customer.

:func:`score_segments` writes ``<var>/scores/<tenant>/segments/<as_of>.parquet`` and ``latest.parquet``;
:func:`score_frame` is the pure part.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from features.io import load_tenant, write_table
from features.settings import DataSettings
from features.shapes import build_shapes
from features.snapshots import default_as_of
from features.work_orders_profile import add_complaint_features
from training import registry
from training.segmentation import LoadShapeSegmenter
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
KIND = "segments"
TABLES = ("customers", "readings", "interval_readings", "weather")
SCORE_COLUMNS = (
    "customer_id", "segment_id", "segment_name", "distance", "value_band", "grade", "strategy",
    "is_key_account", "is_high_risk", "kwh_mean_day", "days_observed", "model_version", "as_of",
)  # fmt: skip


def _latest_day(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    return default_as_of(tables)  # the one default as_of rule of every command


def _shapes(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, window_days: int) -> pd.DataFrame:
    return build_shapes(
        tables["readings"],
        as_of=as_of,
        window_days=window_days,
        interval_readings=tables.get("interval_readings"),
        weather=tables.get("weather"),
        customers=tables.get("customers"),
    )


def score_frame(
    model: LoadShapeSegmenter, shapes: pd.DataFrame, grades: pd.DataFrame | None, *, version: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Pure: segment, distance, value band, grade, flags and strategy per customer of `shapes`."""
    out = model.assign_strategies(shapes, grades)
    out["days_observed"] = shapes["days_observed"].reindex(out["customer_id"]).to_numpy()
    out = out.assign(model_version=str(version), as_of=pd.Timestamp(as_of).normalize())
    return out[list(SCORE_COLUMNS)]


def score_tables(
    model: LoadShapeSegmenter,
    tables: dict[str, pd.DataFrame],
    grades: pd.DataFrame | None,
    *,
    as_of: pd.Timestamp,
    version: str,
) -> pd.DataFrame:
    """Shapes as of `as_of` (+ complaint features) -> segment scores (pure; one partition or a whole tenant)."""
    shapes = _shapes(tables, as_of, int(getattr(model, "window_days", 365)))
    if "work_orders" in tables:  # repeat complainers get their named handling (training/value_matrix.py)
        complaints = add_complaint_features(shapes.reset_index(), tables["work_orders"], as_of=as_of)
        shapes = complaints.set_index("customer_id")
    return score_frame(model, shapes, grades, version=version, as_of=as_of)


def _read_grades(data: DataSettings, path: Path | None) -> pd.DataFrame | None:
    path = path or data.scores_dir("arrears") / "latest.parquet"
    if not Path(path).exists():
        logger.warning("no arrears scores at %s: every customer's grade is 'unscored'", path)
        return None
    return pd.read_parquet(path, columns=["customer_id", "grade"])


def score_segments(
    data: DataSettings,
    training: TrainingSettings,
    *,
    as_of: pd.Timestamp | None = None,
    model: str = registry.CHAMPION,
    grades_path: Path | None = None,
) -> Path:
    """Score every customer with readings in the window; returns the written file.

    Writes ``<var_dir>/scores/<tenant>/segments/<YYYY-MM-DD>.parquet`` and replaces ``latest.parquet``
    atomically. Grades come from `grades_path` (default: the arrears batch scores' ``latest.parquet``).
    A partitioned tenant is scored on the Dask cluster ``data.dask_scheduler`` (training/batch_dask.py).
    """
    from features.partitioned import dask_client, partition_folders

    parts = partition_folders(data.data_dir)
    if parts:  # a partitioned tenant: out of core on the cluster (training/batch_dask.py)
        from training.batch_dask import score_segments_partitioned

        with dask_client(data.dask_scheduler, data.dask_workers) as client:
            return score_segments_partitioned(
                data, training, parts, client=client, as_of=as_of, model=model, grades_path=grades_path
            )
    bundle, version = registry.open_registry(training, data.tenant).load_or_exported(KIND, model)
    tables, _ = load_tenant(data.data_dir, tables=(*TABLES, "work_orders"))
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    scores = score_tables(bundle, tables, _read_grades(data, grades_path), as_of=as_of, version=version)
    folder = data.scores_dir(KIND)
    path = write_table(scores, folder / f"{as_of.date()}.parquet")
    tmp = folder / f".latest.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / "latest.parquet")
    counts = scores["segment_name"].value_counts().to_dict()
    logger.info(
        "segment scores: %d customers as of %s (model v%s) %s -> %s", len(scores), as_of.date(), version, counts, path
    )
    return path
