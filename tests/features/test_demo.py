"""The embedded demo tenant: valid as shipped, and rebuilt deterministically from ../shared/data."""

from __future__ import annotations

import pandas as pd
import pytest

from features.calendar import holiday_dates
from features.demo import build_demo
from features.io import load_tenant
from features.settings import DEMO_DIR
from tests.conftest import SHARED_DATA, needs_shared


def test_shipped_demo_passes_every_contract():
    tables, report = load_tenant(DEMO_DIR)
    assert report.quarantined == 0
    assert len(tables["customers"]) == 300
    assert tables["customers"]["socio_group"].nunique() >= 3
    # every customer has usage and bills; some bills are still open at the export date
    assert tables["readings"]["customer_id"].nunique() == 300
    paid = tables["payments"].groupby("bill_id")["amount"].sum()
    open_bills = tables["bills"]["bill_id"].map(paid).fillna(0) < tables["bills"]["amount"] - 0.01
    assert 0 < open_bills.mean() < 0.5


@needs_shared()
@pytest.mark.slow
def test_demo_rebuild_is_deterministic(tmp_path):
    first = build_demo(SHARED_DATA, tmp_path / "a", n_households=12)
    second = build_demo(SHARED_DATA, tmp_path / "b", n_households=12)
    assert first == second
    assert pd.read_parquet(tmp_path / "a" / "payments.parquet").equals(
        pd.read_parquet(tmp_path / "b" / "payments.parquet")
    )
    other_seed = build_demo(SHARED_DATA, tmp_path / "c", n_households=12, seed=1)
    assert other_seed["customers"] != first["customers"]


@needs_shared()
def test_holidays_package_matches_the_real_uk_bank_holidays():
    # Quirk of the source file: 6 of its 25 rows have day and month swapped (2012-09-04 is Easter
    # Monday, 9 April 2012), so each date is accepted as written or with day/month swapped.
    raw = pd.read_csv(SHARED_DATA / "london_smart_meters" / "uk_bank_holidays.csv")["Bank holidays"]
    as_written = pd.to_datetime(raw, format="%Y-%m-%d")
    swapped = pd.to_datetime(raw, format="%Y-%d-%m", errors="coerce")
    ours = set(holiday_dates(pd.Timestamp("2012-01-01"), pd.Timestamp("2014-12-31")))
    matched = as_written.isin(ours) | swapped.isin(ours)
    assert matched.all(), raw[~matched].tolist()
    assert (~as_written.isin(ours)).sum() == 6
