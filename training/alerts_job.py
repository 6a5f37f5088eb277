"""The day's balance and bill-shock alert list (I/O edge): load the tenant, build alerts, write them.

Writes ``<var>/alerts/<tenant>/<YYYY-MM-DD>.parquet`` and ``.csv`` and replaces ``latest.parquet``
atomically; ``GET /v1/alerts`` serves ``latest.parquet``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from features.balances import build_alerts
from features.io import load_tenant, write_table
from features.settings import DataSettings, check_tenant
from features.snapshots import default_as_of
from training.collections_settings import CollectionsSettings, load_collections_settings

logger = logging.getLogger(__name__)
LATEST = "latest.parquet"


def alerts_dir(var_dir: Path, tenant: str) -> Path:
    """Folder of a tenant's alert lists: ``<var_dir>/alerts/<tenant>/``."""
    return Path(var_dir) / "alerts" / check_tenant(tenant)


def write_alerts(
    data: DataSettings, *, as_of: pd.Timestamp | None = None, collections: CollectionsSettings | None = None
) -> tuple[Path, pd.DataFrame]:
    """Build and write the alert list as of `as_of` (default: the tenant's default as-of day)."""
    collections = collections or load_collections_settings(data.data_dir)
    tables, _ = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    day = default_as_of(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    alerts = build_alerts(
        tables,
        as_of=day,
        alert_days=collections.alert_days,
        window_days=collections.usage_window_days,
        shock_ratio=collections.bill_shock_ratio,
        shock_min_days=collections.bill_shock_min_days,
        tariff_rates=collections.unit_rates,
    )
    folder = alerts_dir(data.var_dir, data.tenant)
    path = write_table(alerts, folder / f"{day.date()}.parquet")
    alerts.to_csv(folder / f"{day.date()}.csv", index=False)
    tmp = folder / f".latest.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / LATEST)
    counts = alerts["level"].value_counts().to_dict()
    logger.info("alerts as of %s: %d (%s) -> %s", day.date(), len(alerts), counts, path)
    return path, alerts
