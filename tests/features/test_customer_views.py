"""Key-account rule and customer views: each rule, peak kW and load factor, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.customer_views import build_customer_views, key_accounts

DAY = pd.Timestamp("2024-03-31")


def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "category": ["residential", "industrial", "residential", "residential"],
            "tariff": "std",
            "region": "north",
            "key_account": pd.array([False, False, True, None], dtype="boolean"),
        }
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"top_share": 0.25},
            ["top 25% by kWh over 365 days", "category industrial", "contract flag key_account", None],
            id="all_rules",
        ),
        pytest.param(
            {"top_share": 0.0, "categories": ()}, [None, None, "contract flag key_account", None], id="flag_only"
        ),
        pytest.param(
            {"top_share": 0.0, "flag_column": None}, [None, "category industrial", None, None], id="category_only"
        ),
    ],
)
def test_each_key_account_rule(kwargs, expected):
    kwh = pd.Series({"A": 9000.0, "B": 10.0, "C": 20.0, "D": 30.0})
    out = key_accounts(customers(), kwh, **kwargs)
    assert out["key_account_basis"].tolist() == expected
    assert out["key_account"].tolist() == [e is not None for e in expected]


def tables(late_spike: bool = False) -> dict[str, pd.DataFrame]:
    days = pd.date_range("2024-02-01", DAY, freq="D")
    readings = pd.DataFrame({"customer_id": "A", "reading_date": days, "kwh": 24.0})
    at = pd.date_range("2024-03-01", DAY + pd.Timedelta(hours=23, minutes=30), freq="30min", tz="UTC")
    kwh = np.full(len(at), 0.5)
    kwh[at.hour == 18] = 1.5  # the evening peak: 3 kW
    interval = pd.DataFrame({"customer_id": "A", "read_at": at, "kwh": kwh})
    if late_spike:  # after the cut-off: must change nothing
        later = pd.DataFrame(
            {"customer_id": ["A"], "read_at": [pd.Timestamp("2024-04-02 12:00", tz="UTC")], "kwh": [99.0]}
        )
        interval = pd.concat([interval, later], ignore_index=True)
        readings = pd.concat(
            [
                readings,
                pd.DataFrame({"customer_id": ["A"], "reading_date": [DAY + pd.Timedelta(days=2)], "kwh": [999.0]}),
            ]
        )
    return {"customers": customers(), "readings": readings, "interval_readings": interval}


def test_peak_kw_timing_and_load_factor():
    view = build_customer_views(tables(), as_of=DAY, top_share=0.0).loc["A"]
    assert view["peak_kw"] == pytest.approx(3.0)
    assert view["peak_at"].endswith("T18:00:00Z")
    mean_kw = (46 * 0.5 + 2 * 1.5) / 48 * 2  # 18:00 and 18:30 at 1.5 kWh
    assert view["load_factor"] == pytest.approx(mean_kw / 3.0)
    assert len(view["interval_profile"]) == 48 and view["interval_profile"][36] == pytest.approx(1.5)
    assert view["kwh_mean_28d"] == pytest.approx(24.0) and len(view["daily_28d"]) == 28


def test_views_are_point_in_time():
    before = build_customer_views(tables(), as_of=DAY, top_share=0.0).loc["A"]
    after = build_customer_views(tables(late_spike=True), as_of=DAY, top_share=0.0).loc["A"]
    assert after["peak_kw"] == before["peak_kw"] and after["kwh_365d"] == before["kwh_365d"]


def test_a_customer_without_interval_data_has_no_peak():
    t = tables()
    t["customers"] = pd.concat([t["customers"], pd.DataFrame({"customer_id": ["E"], "category": ["residential"]})])
    view = build_customer_views(t, as_of=DAY, top_share=0.0).loc["E"]
    assert pd.isna(view["peak_kw"]) and pd.isna(view["kwh_mean_28d"])
