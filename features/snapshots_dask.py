"""Feature snapshots of a partitioned tenant, built on a Dask cluster one partition per task (out of core).

Each task validates its partition (:func:`features.io.load_tenant`), builds its profiles and load shapes and
writes them as parts; the client then streams the parts into the usual snapshot layout of
:mod:`features.snapshots` (``profiles.parquet``, ``shapes.parquet``, ``manifest.json``, ``latest``), so the
service and every other reader see the same snapshot whatever engine built it. The parts stay beside
them under ``parts/`` for partitioned readers.

Identical to the pandas build up to row order (``tests/integration/test_dask_cluster.py``): the manifest's
``profile_hash`` is the hash of the parts' hashes (:func:`features.partitioned.combined_hash`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features.asof import as_of_day
from features.partitioned import combined_hash, concat_parts, part_path, run_partitions
from features.snapshots import (
    LATEST_FILE,
    MANIFEST_FILE,
    PROFILES_FILE,
    _replace_text,
    build_manifest,
    snapshot_path,
)

logger = logging.getLogger(__name__)


def partition_default_as_of(folder: str, index: int, *, bills: bool = True) -> pd.Timestamp | None:
    """The partition's latest reading or bill issue day (the default ``as_of`` rule), reading two columns.

    ``bills=False`` for commands that do not load bills (segments): their default is the last reading day.
    """
    days = []
    for table, column in (("readings", "reading_date"), ("bills", "issue_date"))[: 2 if bills else 1]:
        path = Path(folder) / f"{table}.parquet"
        if path.exists():
            days.append(pd.read_parquet(path, columns=[column])[column].max())
    days = [pd.Timestamp(d).tz_localize(None) if pd.Timestamp(d).tz else pd.Timestamp(d) for d in days if pd.notna(d)]
    return max(days) if days else None


def snapshot_part(folder: str, index: int, *, out_dir: str, as_of: pd.Timestamp, late_days: int) -> dict[str, Any]:
    """Validate one partition, build its profiles and shapes, write them as parts; return counts and hashes."""
    from features import quality
    from features.io import frame_hash, load_tenant
    from features.profiles import build_profiles
    from features.shapes import build_shapes

    tables, report = load_tenant(Path(folder))
    profiles = build_profiles(tables, as_of=as_of, late_days=late_days)
    quality_table = quality.check_readings(tables["readings"], quality.QualitySettings(), as_of=as_of)
    profiles = quality.flag_profiles(profiles, quality_table)  # low_completeness, as features.snapshots does
    shapes = build_shapes(
        tables["readings"],
        as_of=as_of,
        interval_readings=tables.get("interval_readings"),
        weather=tables.get("weather"),
        customers=tables.get("customers"),
    )
    profiles.to_parquet(part_path(Path(out_dir) / "profiles", index), index=False, compression="zstd")
    shapes.reset_index().to_parquet(part_path(Path(out_dir) / "shapes", index), index=False, compression="zstd")
    return {
        "rows": len(profiles),
        "hash": frame_hash(profiles),
        "source_hashes": dict(report.hashes),
        "source_rows": {t: int(c["accepted"]) for t, c in report.counts.items()},
    }


def build_snapshot_partitioned(
    folders: list[Path],
    root: Path,
    *,
    client: Any,
    as_of: pd.Timestamp | None = None,
    tenant: str = "demo",
    late_days: int = 30,
    data_dir: Path | None = None,
) -> Path:
    """Build and write the snapshot of a partitioned tenant on `client`'s cluster; returns its folder.

    `as_of` defaults to the latest reading or bill issue day over all partitions (the one default rule).
    """
    from features import quality
    from features.profiles import FEATURE_DESCRIPTIONS, FEATURE_VERSION

    if not folders:
        raise ValueError("no partition folders (part-NNNNN/) to build from")
    if as_of is None:
        days = [d for d in run_partitions(client, partition_default_as_of, folders, "as-of") if d is not None]
        if not days:
            raise ValueError("no readings or bills to take a default as_of from; pass as_of")
        as_of = max(days)
    day = as_of_day(as_of)
    folder = snapshot_path(root, day)
    parts_dir = folder / "parts"
    for sub in ("profiles", "shapes"):
        (parts_dir / sub).mkdir(parents=True, exist_ok=True)
        for old in (parts_dir / sub).glob("part-*.parquet"):
            old.unlink()
    results = run_partitions(
        client, snapshot_part, folders, "snapshot", out_dir=str(parts_dir), as_of=day, late_days=late_days
    )
    concat_parts(sorted((parts_dir / "shapes").glob("part-*.parquet")), folder / "shapes.parquet")
    rows = concat_parts(sorted((parts_dir / "profiles").glob("part-*.parquet")), folder / PROFILES_FILE)
    empty = pq.read_schema(folder / PROFILES_FILE).empty_table().to_pandas()
    source_hashes = {
        t: combined_hash([r["source_hashes"].get(t, "") for r in results]) for t in results[0]["source_hashes"]
    }
    source_rows = {t: sum(r["source_rows"].get(t, 0) for r in results) for t in results[0]["source_rows"]}
    manifest = build_manifest(
        empty,
        as_of=day,
        descriptions=FEATURE_DESCRIPTIONS | quality.PROFILE_DESCRIPTION,
        source_hashes=source_hashes,
        source_rows=source_rows,
        feature_version=FEATURE_VERSION,
        extra={
            "tenant": tenant,
            "late_days": late_days,
            "engine": "dask-partitioned",
            "data_dir": str(data_dir or Path(folders[0]).parent),
            "partitions": len(folders),
        },
    )
    manifest |= {"rows": rows, "profile_hash": combined_hash([r["hash"] for r in results])}
    _replace_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2, default=str))
    _replace_text(Path(root) / LATEST_FILE, folder.name + "\n")
    logger.info("partitioned snapshot %s: %d rows from %d partitions", folder, rows, len(folders))
    return folder
