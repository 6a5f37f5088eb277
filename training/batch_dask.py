"""Batch scoring of a partitioned tenant on a Dask cluster: the model broadcast, one partition per task.

For each partition folder (:mod:`features.partitioned`) a worker validates the partition, builds the
features as of the day and scores them with the same pure code as the one-process path
(:func:`training.arrears_scoring.score_tables`, :func:`training.segments_scoring.score_tables`), and writes
``<var>/scores/<tenant>/<kind>/<as_of>/part-NNNNN.parquet``. The client streams the parts into
``<as_of>.parquet`` and ``latest.parquet`` (what the service reads), one part at a time. The fitted model
is sent once to every worker (``scatter(..., broadcast=True)``), not once per task.

Segments read each customer's arrears grade from the arrears parts of the same partition and day when
they exist (same partition folders, so the same customers), else from the arrears ``latest.parquet``
filtered to the partition's customers.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features.io import load_tenant
from features.partitioned import combined_hash, concat_parts, dask_client, part_path, run_partitions
from features.settings import DataSettings
from training import registry
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)


def _arrears_part(
    folder: str, index: int, *, model: Any, version: str, as_of: pd.Timestamp, late_days: int, out_dir: str
) -> int:
    from training.arrears_scoring import score_tables

    tables, _ = load_tenant(Path(folder))
    scores = score_tables(model, tables, as_of=as_of, late_days=late_days, version=version)
    scores.to_parquet(part_path(Path(out_dir), index), index=False, compression="zstd")
    return len(scores)


def _grades_for(folder: str, index: int, grades_dir: str | None, grades_file: str | None) -> pd.DataFrame | None:
    if grades_dir and part_path(Path(grades_dir), index).exists():
        return pd.read_parquet(part_path(Path(grades_dir), index), columns=["customer_id", "grade"])
    if grades_file and Path(grades_file).exists():
        ids = pd.read_parquet(Path(folder) / "customers.parquet", columns=["customer_id"])["customer_id"]
        table = pq.read_table(
            grades_file, columns=["customer_id", "grade"], filters=[("customer_id", "in", ids.astype(str).tolist())]
        )
        return table.to_pandas()
    return None


def _segments_part(
    folder: str,
    index: int,
    *,
    model: Any,
    version: str,
    as_of: pd.Timestamp,
    out_dir: str,
    grades_dir: str | None,
    grades_file: str | None,
) -> int:
    from training.segments_scoring import TABLES, score_tables

    tables, _ = load_tenant(Path(folder), tables=(*TABLES, "work_orders"))
    grades = _grades_for(folder, index, grades_dir, grades_file)
    scores = score_tables(model, tables, grades, as_of=as_of, version=version)
    scores.to_parquet(part_path(Path(out_dir), index), index=False, compression="zstd")
    return len(scores)


def _publish(
    parts_dir: Path, folder: Path, as_of: pd.Timestamp, finish: Callable[[Path], None] | None = None
) -> tuple[Path, int]:
    """Stream the parts into ``<as_of>.parquet``, let `finish` complete that file in place, then replace
    ``latest.parquet`` atomically with a copy."""
    path = folder / f"{as_of.date()}.parquet"
    rows = concat_parts(sorted(parts_dir.glob("part-*.parquet")), path)
    if finish is not None:
        finish(path)
    tmp = folder / f".latest.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / "latest.parquet")
    return path, rows


def _guard_published(path: Path, folders: list[Path], data: DataSettings, day: pd.Timestamp) -> None:
    """Guardrails and the audit trail over the published scores, as the pandas path applies them (issue 20).

    The scores (a few columns per customer) and the customers tables fit in one process; the tenant does not
    have to. Rewrites ``<as_of>.parquet`` in place, before :func:`_publish` copies it to ``latest.parquet``."""
    from training.collections_batch import guard_and_record

    customers = pd.concat([pd.read_parquet(Path(f) / "customers.parquet") for f in folders], ignore_index=True)
    scores = guard_and_record(pd.read_parquet(path), customers, data, day=day)
    scores.to_parquet(path, index=False, compression="zstd")


def _fresh_parts_dir(folder: Path, as_of: pd.Timestamp) -> Path:
    parts_dir = folder / str(as_of.date())
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    return parts_dir


def _as_of(folders: list[Path], client: Any, as_of: pd.Timestamp | None, *, bills: bool) -> pd.Timestamp:
    if as_of is not None:
        return pd.Timestamp(as_of).tz_localize(None).normalize()
    from features.snapshots_dask import partition_default_as_of

    found = run_partitions(client, partition_default_as_of, folders, "as-of", bills=bills)
    days = [d for d in found if d is not None]
    if not days:
        raise ValueError("no readings or bills to take a default as_of from; pass as_of")
    return max(days).normalize()


def score_arrears_partitioned(
    data: DataSettings,
    training: TrainingSettings,
    folders: list[Path],
    *,
    client: Any,
    as_of: pd.Timestamp | None = None,
    model: str = registry.CHAMPION,
    grade_policy: Any = None,
) -> Path:
    """:func:`training.arrears_scoring.score_arrears` for a partitioned tenant on `client`'s cluster."""
    bundle, version = registry.open_registry(training, data.tenant).load_or_exported("arrears", model)
    if grade_policy is not None:
        bundle.grade_policy_ = grade_policy
    day = _as_of(folders, client, as_of, bills=True)  # the rule of score_arrears: readings and bills
    folder = data.scores_dir("arrears")
    parts_dir = _fresh_parts_dir(folder, day)
    [shared] = client.scatter([bundle], broadcast=True)
    counts = run_partitions(
        client, _arrears_part, folders, "score-arrears",
        model=shared, version=str(version), as_of=day, late_days=data.late_days, out_dir=str(parts_dir),
    )  # fmt: skip
    path, rows = _publish(parts_dir, folder, day, lambda p: _guard_published(p, folders, data, day))
    logger.info(
        "arrears scores: %d customers in %d partitions as of %s (v%s) -> %s",
        rows,
        len(counts),
        day.date(),
        version,
        path,
    )
    return path


def score_segments_partitioned(
    data: DataSettings,
    training: TrainingSettings,
    folders: list[Path],
    *,
    client: Any,
    as_of: pd.Timestamp | None = None,
    model: str = registry.CHAMPION,
    grades_path: Path | None = None,
) -> Path:
    """:func:`training.segments_scoring.score_segments` for a partitioned tenant on `client`'s cluster."""
    bundle, version = registry.open_registry(training, data.tenant).load_or_exported("segments", model)
    day = _as_of(folders, client, as_of, bills=False)  # the rule of score_segments: readings only
    folder = data.scores_dir("segments")
    parts_dir = _fresh_parts_dir(folder, day)
    arrears_parts = data.scores_dir("arrears") / str(day.date())
    grades_file = Path(grades_path) if grades_path else data.scores_dir("arrears") / "latest.parquet"
    use_parts = grades_path is None and len(list(arrears_parts.glob("part-*.parquet"))) == len(folders)
    if not use_parts and not grades_file.exists():
        logger.warning("no arrears scores at %s: every customer's grade is 'unscored'", grades_file)
    [shared] = client.scatter([bundle], broadcast=True)
    counts = run_partitions(
        client, _segments_part, folders, "score-segments",
        model=shared, version=str(version), as_of=day, out_dir=str(parts_dir),
        grades_dir=str(arrears_parts) if use_parts else None, grades_file=None if use_parts else str(grades_file),
    )  # fmt: skip
    path, rows = _publish(parts_dir, folder, day)
    logger.info(
        "segment scores: %d customers in %d partitions as of %s (v%s) -> %s",
        rows,
        len(counts),
        day.date(),
        version,
        path,
    )
    return path


def _training_part(folder: str, index: int, *, as_of: pd.Timestamp, late_days: int) -> tuple[pd.DataFrame, dict]:
    from training.arrears_fit import training_frame

    tables, report = load_tenant(Path(folder))
    return training_frame(tables, as_of=as_of, late_days=late_days), dict(report.hashes)


def partitioned_training_frame(
    data: DataSettings, folders: list[Path], as_of: pd.Timestamp | None
) -> tuple[pd.DataFrame, dict[str, str], pd.Timestamp]:
    """The arrears training frame of a partitioned tenant, built one partition per task on the cluster.

    Each worker validates its partition and builds its bills' rows (features as of each issue date,
    labels); the client concatenates them in the order of the one-process frame (issue date, customer,
    bill), so the fit that follows is the same as on the plain tenant. The raw tables never meet in one
    process; the training frame (one row per bill) must fit in the training process. Returns the frame,
    the combined source hashes per table and the ``as_of`` used.
    """
    with dask_client(data.dask_scheduler, data.dask_workers) as client:
        day = _as_of(folders, client, as_of, bills=True)
        results = run_partitions(
            client, _training_part, folders, "arrears-training", as_of=day, late_days=data.late_days
        )
    frame = pd.concat([f for f, _ in results], ignore_index=True)
    frame = frame.sort_values(["issue_date", "customer_id", "bill_id"], kind="stable").reset_index(drop=True)
    hashes = {t: combined_hash([h.get(t, "") for _, h in results]) for t in results[0][1]}
    logger.info("arrears training frame: %d bills from %d partitions as of %s", len(frame), len(folders), day.date())
    return frame, hashes, day
