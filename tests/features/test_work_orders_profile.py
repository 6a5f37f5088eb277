"""Complaint profile: counts, recency, open orders and repeat complainers, strictly as of the cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.profiles import build_profiles
from features.work_orders_profile import build_complaint_profile, complaint_features_at, feature_descriptions

AS_OF = pd.Timestamp("2024-03-31")


def orders() -> pd.DataFrame:
    created = pd.to_datetime(
        [
            "2023-01-10 00:00:00",
            "2024-01-05 00:00:00",
            "2024-02-10 00:00:00",
            "2024-03-20 00:00:00",
            "2024-03-31 23:00:00",
            "2024-04-02 00:00:00",
            "2024-03-01 00:00:00",
        ],
        utc=True,
    )
    return pd.DataFrame(
        {
            "order_id": [f"W{i}" for i in range(7)],
            "customer_id": ["C000", "C000", "C000", "C000", "C001", "C001", None],
            "created_at": created,
            "channel": "app",
            "category": ["billing", "billing", "outage", None, "meter", "billing", "billing"],
            "text": "x",
            "closed_at": [
                created[0] + pd.Timedelta(days=1),
                pd.NaT,
                created[2] + pd.Timedelta(days=3),
                pd.Timestamp("2024-04-05", tz="UTC"),
                pd.NaT,
                pd.NaT,
                pd.NaT,
            ],
        }
    )


def test_counts_recency_open_and_repeat():
    p = build_complaint_profile(orders(), as_of=AS_OF).set_index("customer_id")
    assert list(p.index) == ["C000", "C001"]  # the anonymous order feeds nobody
    c0, c1 = p.loc["C000"], p.loc["C001"]
    assert (c0["complaints_90d"], c0["complaints_365d"], c0["complaints_total"]) == (3, 3, 4)
    assert c0["days_since_last_complaint"] == 11
    assert c0["open_orders"] == 2  # W1 never closed, W3 closed after the cutoff
    assert c0["top_category"] == "billing" and c0["categories_365d"] == 2
    assert bool(c0["is_repeat_complainer"]) and not bool(c1["is_repeat_complainer"])
    assert c1["complaints_total"] == 1 and c1["days_since_last_complaint"] == 0  # created on the cutoff day
    assert set(p.columns) == set(feature_descriptions())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda o: o.assign(closed_at=o["closed_at"].where(o["created_at"] < "2024-04-01", pd.NaT)),
            id="later_closing_dates",
        ),
        pytest.param(
            lambda o: o.assign(
                closed_at=o["closed_at"].where(o["closed_at"] < "2024-04-01", pd.Timestamp("2024-04-01", tz="UTC"))
            ),
            id="open_ones_closed_next_day",
        ),
        pytest.param(
            lambda o: o.assign(category=np.where(o["created_at"] >= "2024-04-01", "meter", o["category"])),
            id="later_categories",
        ),
        pytest.param(
            lambda o: pd.concat(
                [o, o.assign(order_id=o["order_id"] + "x", created_at=pd.Timestamp("2024-05-01", tz="UTC"))]
            ),
            id="new_orders_after_cutoff",
        ),
    ],
)
def test_nothing_after_the_cutoff_moves_a_row(change):
    base = build_complaint_profile(orders(), as_of=AS_OF)
    later = build_complaint_profile(change(orders()), as_of=AS_OF)
    pd.testing.assert_frame_equal(base, later)


def test_the_point_in_time_test_can_fail():
    """Control: a change *before* the cutoff does move the profile."""
    o = orders()
    o.loc[1, "closed_at"] = pd.Timestamp("2024-01-06", tz="UTC")
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(
            build_complaint_profile(orders(), as_of=AS_OF), build_complaint_profile(o, as_of=AS_OF)
        )


def test_build_profiles_adds_complaint_columns_only_with_work_orders(tenant):
    plain = build_profiles(tenant, as_of=pd.Timestamp("2024-03-31"))
    o = orders().assign(created_at=orders()["created_at"].clip(lower=pd.Timestamp("2023-06-01", tz="UTC")))
    with_orders = build_profiles({**tenant, "work_orders": o}, as_of=pd.Timestamp("2024-03-31"))
    added = [c for c in with_orders.columns if c not in plain.columns]
    assert set(added) == set(feature_descriptions())
    pd.testing.assert_frame_equal(with_orders[plain.columns], plain)
    quiet = with_orders.set_index("customer_id").loc["C005"]
    assert quiet["complaints_total"] == 0 and np.isnan(quiet["days_since_last_complaint"])
    assert not quiet["is_repeat_complainer"]


def test_per_row_cutoffs_use_the_same_implementation():
    cutoffs = pd.DataFrame(
        {"customer_id": ["C000", "C000", "C009"], "cutoff": pd.to_datetime(["2024-01-04", "2024-03-31", "2024-03-31"])}
    )
    rows = complaint_features_at(orders(), cutoffs)
    assert rows["complaints_total"].tolist() == [1.0, 4.0, 0.0]
    assert np.isnan(rows.loc[2, "days_since_last_complaint"]) and rows.loc[2, "top_category"] is None
    profile = build_complaint_profile(orders(), as_of=AS_OF).set_index("customer_id").loc["C000"]
    pd.testing.assert_series_equal(
        rows.drop(columns=["customer_id", "cutoff"]).iloc[1], profile, check_names=False, check_dtype=False
    )
