"""The shipped demo work orders are valid, linked to demo customers, and exactly what the generator makes."""

from __future__ import annotations

import pandas as pd

from features.io import load_tenant
from features.settings import DEMO_DIR
from features.work_orders_demo import PLANTED_WEEK, generate_work_orders


def test_shipped_demo_orders_are_valid_and_reproducible():
    tables, report = load_tenant(DEMO_DIR, tables=("customers", "bills", "weather", "work_orders"))
    assert report.counts["work_orders"]["quarantined"] == 0
    shipped = tables["work_orders"]
    assert shipped["customer_id"].isin(tables["customers"]["customer_id"]).all()
    again = generate_work_orders(tables["customers"], tables["bills"], tables["weather"])
    pd.testing.assert_frame_equal(
        shipped.reset_index(drop=True), again.astype(shipped.dtypes.to_dict()), check_exact=True
    )
    week = shipped["created_at"].between(PLANTED_WEEK, PLANTED_WEEK + pd.Timedelta(days=7))
    assert shipped.loc[week, "text"].str.contains("display", case=False).sum() >= 10
