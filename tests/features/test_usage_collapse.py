"""Usage-collapse features: a sudden drop, a vacancy, their interaction with an unpaid balance, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.usage_collapse import build_usage_collapse

DAY = pd.Timestamp("2024-06-30")


def readings(profile: dict[str, np.ndarray]) -> pd.DataFrame:
    days = pd.date_range(end=DAY, periods=400, freq="D")
    return pd.concat(
        [pd.DataFrame({"customer_id": cid, "reading_date": days, "kwh": kwh}) for cid, kwh in profile.items()],
        ignore_index=True,
    )


def steady() -> np.ndarray:
    return np.full(400, 10.0)


def dropped() -> np.ndarray:
    kwh = steady()
    kwh[-14:] = 2.0
    return kwh


def vacant() -> np.ndarray:
    kwh = steady()
    kwh[-20:] = 0.3  # standby only, for the last 20 days
    return kwh


@pytest.fixture
def features() -> pd.DataFrame:
    r = readings({"S": steady(), "D": dropped(), "V": vacant()})
    unpaid = pd.Series({"D": 120.0, "V": 0.0})
    return build_usage_collapse(r, as_of=DAY, unpaid=unpaid).set_index("customer_id")


def test_a_sudden_drop_shows_in_the_ratio_and_meets_arrears(features):
    assert features.loc["S", "kwh_ratio_14d_56d"] == pytest.approx(1.0)
    assert features.loc["D", "kwh_ratio_14d_56d"] == pytest.approx(0.2)
    assert features["collapse_with_unpaid"].to_dict() == {"S": 0.0, "D": 1.0, "V": 0.0}  # V owes nothing


def test_a_vacancy_counts_near_zero_days_and_the_run(features):
    assert features.loc["V", "near_zero_days_28d"] == 20 and features.loc["V", "longest_near_zero_run_90d"] == 20
    assert features.loc["S", "near_zero_days_28d"] == 0 and features.loc["D", "near_zero_days_28d"] == 0  # 2 > 1


def test_year_on_year_ratio(features):
    assert features.loc["S", "kwh_ratio_28d_yoy"] == pytest.approx(1.0)
    assert features.loc["V", "kwh_ratio_28d_yoy"] == pytest.approx((8 * 10 + 20 * 0.3) / 28 / 10)


def test_nothing_after_the_cut_off_moves_a_feature():
    base = readings({"V": vacant()})
    later = pd.DataFrame(
        {"customer_id": "V", "reading_date": pd.date_range(DAY + pd.Timedelta(days=1), periods=10), "kwh": 99.0}
    )
    a = build_usage_collapse(base, as_of=DAY)
    b = build_usage_collapse(pd.concat([base, later], ignore_index=True), as_of=DAY)
    pd.testing.assert_frame_equal(a, b)


def test_without_unpaid_the_interaction_is_unknown():
    out = build_usage_collapse(readings({"S": steady()}), as_of=DAY)
    assert out["collapse_with_unpaid"].isna().all()
