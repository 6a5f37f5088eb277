"""Key-account views of every customer (I/O edge of :mod:`features.customer_views`).

Writes ``<var>/customers/<tenant>/<YYYY-MM-DD>.parquet`` and replaces ``views.parquet`` atomically;
``GET /v1/customers/{id}/profile`` and ``meterwise collections report-customer`` read it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from features.customer_views import build_customer_views
from features.io import load_tenant, write_table
from features.settings import DataSettings, check_tenant
from features.snapshots import default_as_of
from features.usage_collapse import build_usage_collapse
from training.cold_start import month_ahead
from training.collections_settings import CollectionsSettings, load_collections_settings

logger = logging.getLogger(__name__)
VIEWS = "views.parquet"


def views_dir(var_dir: Path, tenant: str) -> Path:
    """Folder of a tenant's customer views: ``<var_dir>/customers/<tenant>/``."""
    return Path(var_dir) / "customers" / check_tenant(tenant)


def usage_collapse(tables: dict[str, pd.DataFrame], day: pd.Timestamp, late_days: int) -> pd.DataFrame:
    """Usage-collapse features with their interaction with arrears (amount past due at `day`)."""
    from features.payments import build_payment_profile

    arrears = None
    if "bills" in tables and "payments" in tables:
        profile = build_payment_profile(tables["bills"], tables["payments"], as_of=day, late_days=late_days)
        arrears = profile.set_index("customer_id")["arrears_amount"]
    return build_usage_collapse(tables["readings"], as_of=day, unpaid=arrears).set_index("customer_id")


def write_customer_views(
    data: DataSettings, *, as_of: pd.Timestamp | None = None, collections: CollectionsSettings | None = None
) -> tuple[Path, pd.DataFrame]:
    """Build the views as of `as_of` (default: the tenant's default as-of day) and write them."""
    collections = collections or load_collections_settings(data.data_dir)
    tables, _ = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    day = default_as_of(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    rule = collections.key_accounts
    views = build_customer_views(
        tables, as_of=day, flag_column=rule.flag_column, categories=rule.categories, top_share=rule.top_share
    )
    forecast = month_ahead(views, keys=collections.cold_start_keys, min_peers=collections.cold_start_min_peers)
    collapse = usage_collapse(tables, day, data.late_days)
    views = views.join(forecast).join(collapse).reset_index()
    folder = views_dir(data.var_dir, data.tenant)
    path = write_table(views, folder / f"{day.date()}.parquet")
    tmp = folder / f".views.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / VIEWS)
    logger.info(
        "customer views as of %s: %d customers, %d key accounts", day.date(), len(views), views["key_account"].sum()
    )
    return path, views
