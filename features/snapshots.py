"""Feature snapshots on disk: one Parquet file plus a manifest per ``as_of``, and a ``latest`` pointer.

Layout under a tenant's snapshot folder (``DataSettings.snapshot_dir``)::

    <root>/<YYYY-MM-DD>/profiles.parquet
    <root>/<YYYY-MM-DD>/manifest.json   # as_of, source hashes, row counts, features (unit, description)
    <root>/latest                       # text: the folder name of the newest snapshot written

Files are written to a temporary name and moved into place (``os.replace``), the manifest after the
Parquet file and the ``latest`` pointer last, so a reader never sees a half-written snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

import pandas as pd

from features.asof import as_of_day
from features.errors import SnapshotNotFound
from features.io import frame_hash, write_table

logger = logging.getLogger(__name__)

PROFILES_FILE, MANIFEST_FILE, LATEST_FILE = "profiles.parquet", "manifest.json", "latest"


def snapshot_path(root: Path, as_of: pd.Timestamp) -> Path:
    """Folder of the snapshot for `as_of` under `root`."""
    return Path(root) / as_of_day(as_of).strftime("%Y-%m-%d")


def build_manifest(
    profiles: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    descriptions: dict[str, tuple[str, str]],
    source_hashes: dict[str, str],
    source_rows: dict[str, int],
    feature_version: str,
    extra: dict | None = None,
) -> dict:
    """The manifest of one snapshot (pure): what it holds, from what, and what each column means."""
    undescribed = [c for c in profiles.columns if c != "customer_id" and c not in descriptions]
    if undescribed:
        raise ValueError(f"columns without a description: {undescribed}; add them to FEATURE_DESCRIPTIONS")
    return {
        "as_of": as_of_day(as_of).strftime("%Y-%m-%d"),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "feature_version": feature_version,
        "rows": len(profiles),
        "profile_hash": frame_hash(profiles),
        "source_hashes": dict(source_hashes),
        "source_rows": {k: int(v) for k, v in source_rows.items()},
        "features": [
            {"name": c, "dtype": str(profiles[c].dtype), "unit": descriptions[c][0], "description": descriptions[c][1]}
            for c in profiles.columns
            if c != "customer_id"
        ],
        **(extra or {}),
    }


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_snapshot(
    profiles: pd.DataFrame,
    manifest: dict,
    root: Path,
    *,
    update_latest: bool = True,
    extra: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write `profiles` and `manifest` under ``root/<as_of>/``; point ``root/latest`` at it.

    `extra` tables keyed by ``customer_id`` (e.g. ``{"shapes": ...}``) are written beside the profiles as
    ``<name>.parquet``, before the manifest and the ``latest`` pointer, so a reader never sees half a snapshot.
    Returns the snapshot folder.
    """
    folder = snapshot_path(root, pd.Timestamp(manifest["as_of"]))
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (extra or {}).items():
        tmp = write_table(table, folder / f".{name}.tmp.parquet")
        os.replace(tmp, folder / f"{name}.parquet")
    tmp = write_table(profiles, folder / f".{PROFILES_FILE}.tmp.parquet")
    os.replace(tmp, folder / PROFILES_FILE)
    _replace_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2, default=str))
    if update_latest:
        _replace_text(Path(root) / LATEST_FILE, folder.name + "\n")
    logger.info("snapshot %s: %d rows, %d features", folder, len(profiles), len(manifest["features"]))
    return folder


def latest_as_of(root: Path) -> pd.Timestamp:
    """The `as_of` the ``latest`` pointer names. Raises :class:`SnapshotNotFound` when there is none."""
    pointer = Path(root) / LATEST_FILE
    if not pointer.exists():
        raise SnapshotNotFound("latest", str(root))
    return pd.Timestamp(pointer.read_text().strip())


def read_snapshot(root: Path, as_of: pd.Timestamp | None = None) -> tuple[pd.DataFrame, dict]:
    """Profiles and manifest of the snapshot for `as_of` (default: the ``latest`` one).

    Raises
    ------
    SnapshotNotFound
        No snapshot for that day (or no ``latest`` pointer).
    """
    day = latest_as_of(root) if as_of is None else as_of_day(as_of)
    folder = snapshot_path(root, day)
    if not (folder / PROFILES_FILE).exists() or not (folder / MANIFEST_FILE).exists():
        raise SnapshotNotFound(day.strftime("%Y-%m-%d"), str(root))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    return pd.read_parquet(folder / PROFILES_FILE), manifest


def list_snapshots(root: Path) -> list[pd.Timestamp]:
    """Days with a complete snapshot under `root`, oldest first."""
    root = Path(root)
    if not root.exists():
        return []
    days = []
    for p in root.iterdir():
        if p.is_dir() and (p / MANIFEST_FILE).exists() and (p / PROFILES_FILE).exists():
            try:
                days.append(pd.Timestamp(p.name))
            except ValueError:
                continue
    return sorted(days)


#: the one default cutoff rule, quoted in every command's ``--as-of`` help and in the README
AS_OF_RULE = "the last day with a meter reading or an issued bill in the tenant's data"


def default_as_of(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The default ``as_of`` of every command (:data:`AS_OF_RULE`): the natural cutoff of an export.

    The latest ``readings.reading_date`` or ``bills.issue_date``. Payments do not move it: they keep
    arriving after a billing run, and a cutoff past the last reading would leave usage windows empty.
    Features, training, scoring and the demo all use this one rule, so their ``as_of`` agree.
    """
    days = [tables[t][c].max() for t, c in (("readings", "reading_date"), ("bills", "issue_date")) if t in tables]
    days = [d for d in days if pd.notna(d)]
    if not days:
        raise ValueError("no readings or bills to take a default as_of from; pass as_of")
    return as_of_day(max(pd.Timestamp(d) for d in days))


def resolve_as_of(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp | str | None) -> pd.Timestamp:
    """`as_of` as a tz-naive day, or :func:`default_as_of` when it is None."""
    return default_as_of(tables) if as_of is None else as_of_day(pd.Timestamp(as_of))


def build_snapshot(
    data_dir: Path,
    root: Path,
    *,
    as_of: pd.Timestamp | None = None,
    tenant: str = "demo",
    late_days: int = 30,
    engine: str = "pandas",
    n_workers: int = 2,
    scheduler: str | None = None,
) -> Path:
    """Load a tenant, build its profiles as of `as_of` (default :func:`default_as_of`), write a snapshot.

    The I/O edge of the feature pipeline: ``load_tenant`` -> ``build_profiles`` (pandas, or Dask
    partitioned by ``customer_id`` with ``engine="dask"``) -> :func:`write_snapshot`. With Dask, a
    partitioned tenant (``part-NNNNN/`` folders, :mod:`features.partitioned`) is built out of core, one
    partition per task; `scheduler` (``tcp://host:port``) names a running cluster, else a local one of
    `n_workers` processes is started.
    """
    from features.io import load_tenant
    from features.partitioned import dask_client, partition_folders
    from features.profiles import FEATURE_DESCRIPTIONS, FEATURE_VERSION, build_profiles

    if engine not in ("pandas", "dask"):
        raise ValueError(f"engine={engine!r}; expected 'pandas' or 'dask'")
    parts = partition_folders(data_dir)
    if parts and engine == "dask":
        from features.snapshots_dask import build_snapshot_partitioned

        with dask_client(scheduler, n_workers) as client:
            return build_snapshot_partitioned(
                parts, root, client=client, as_of=as_of, tenant=tenant, late_days=late_days, data_dir=data_dir
            )
    if parts:
        raise ValueError(f"{data_dir} is partitioned ({len(parts)} part-* folders): build it with --engine dask")
    tables, report = load_tenant(Path(data_dir))
    day = resolve_as_of(tables, as_of)
    if engine == "dask":
        from features.distributed import build_profiles_dask

        with dask_client(scheduler, n_workers) as client:
            profiles = build_profiles_dask(tables, as_of=day, late_days=late_days, client=client)
    else:
        profiles = build_profiles(tables, as_of=day, late_days=late_days)
    from features import quality

    quality_table = quality.check_readings(tables["readings"], quality.QualitySettings(), as_of=day)
    profiles = quality.flag_profiles(profiles, quality_table)  # low_completeness, for models and segments
    manifest = build_manifest(
        profiles,
        as_of=day,
        descriptions=FEATURE_DESCRIPTIONS | quality.PROFILE_DESCRIPTION,
        source_hashes=report.hashes,
        source_rows={t: c["accepted"] for t, c in report.counts.items()},
        feature_version=FEATURE_VERSION,
        extra={
            "tenant": tenant,
            "late_days": late_days,
            "engine": engine,
            "data_dir": str(data_dir),
            "quality": quality.summarize(quality_table),
        },
    )
    from features.shapes import build_shapes

    shapes = build_shapes(  # the segmenter's load-shape features, so segments are answered live by id too
        tables["readings"],
        as_of=day,
        interval_readings=tables.get("interval_readings"),
        weather=tables.get("weather"),
        customers=tables.get("customers"),
    )
    # per-meter quality in a subfolder: serving merges every sibling *.parquet into the live profiles
    write_table(quality_table, snapshot_path(root, day) / "quality" / "meters.parquet")
    from features.protection import protection_table

    extra = {"shapes": shapes.reset_index()}
    if "customers" in tables:  # region + protection flags: guardrails of the API (issue 20)
        extra["protection"] = protection_table(tables["customers"])
    return write_snapshot(profiles, manifest, root, extra=extra)
