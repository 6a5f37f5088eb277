"""Usage profile: values against independent references, point-in-time, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ContractViolation
from features.usage import FEATURE_DESCRIPTIONS, FEATURES, build_usage_profile
from tests.conftest import make_tenant

AS_OF = pd.Timestamp("2024-05-31")


@pytest.fixture(scope="module")
def tenant() -> dict[str, pd.DataFrame]:
    return make_tenant(n_customers=6)


def _daily(kwh_of_date, start="2022-06-01", end="2024-05-31", customer="A") -> pd.DataFrame:
    dates = pd.date_range(start, end, freq="D")
    return pd.DataFrame({"customer_id": customer, "reading_date": dates, "kwh": kwh_of_date(dates)})


def test_matches_pandas_groupby_reference(tenant):
    readings = tenant["readings"]
    got = build_usage_profile(readings, as_of=AS_OF).set_index("customer_id")
    for w in (30, 90, 365):
        win = readings[(readings["reading_date"] <= AS_OF) & (readings["reading_date"] > AS_OF - pd.Timedelta(days=w))]
        g = win.groupby("customer_id")["kwh"]
        np.testing.assert_allclose(got[f"kwh_mean_{w}d"], g.mean().reindex(got.index), rtol=1e-12)
        np.testing.assert_allclose(got[f"kwh_median_{w}d"], g.median().reindex(got.index), atol=5e-4)
        if w == 365:
            np.testing.assert_allclose(got["kwh_std_365d"], g.std().reindex(got.index), rtol=1e-9)
            np.testing.assert_allclose(got["kwh_max_365d"], g.max().reindex(got.index))
            np.testing.assert_array_equal(got["days_observed_365d"], g.size().reindex(got.index))


def test_hand_built_customer():
    def kwh(d):
        return np.where(d.day_of_week >= 5, 5.0, 10.0) * np.where(d.month.isin([12, 1, 2]), 2.0, 1.0)

    row = build_usage_profile(_daily(kwh), as_of=AS_OF).iloc[0]
    year = pd.date_range(AS_OF - pd.Timedelta(days=364), AS_OF)
    weekend = year.day_of_week >= 5
    assert row["weekday_weekend_ratio_365d"] == pytest.approx(kwh(year)[~weekend].mean() / kwh(year)[weekend].mean())
    assert row["winter_summer_ratio_365d"] == pytest.approx(
        kwh(pd.date_range("2023-12-01", "2024-02-29")).mean() / kwh(pd.date_range("2023-06-02", "2023-08-31")).mean()
    )
    assert row["kwh_trend_yoy"] == pytest.approx(0.0, abs=0.01)
    assert row["kwh_max_365d"] == 20.0 and row["zero_share_365d"] == 0.0 and row["missing_share_365d"] == 0.0
    assert row["load_factor_365d"] == pytest.approx(row["kwh_mean_365d"] / 20.0)
    assert row["has_readings"] and not row["has_interval"]


def test_trend_and_missing_days():
    ramp = _daily(lambda d: 1.0 + (d - pd.Timestamp("2022-06-01")).days.to_numpy() / 365.25)
    ramp = ramp[ramp["reading_date"].dt.day != 1]  # 11 firsts of the month in (2023-06-01, 2024-05-31]
    row = build_usage_profile(ramp, as_of=AS_OF).iloc[0]
    assert row["kwh_slope_365d"] == pytest.approx(1.0, rel=1e-6)  # kWh/day per year
    assert row["missing_share_365d"] == pytest.approx(11 / 365)


def test_degree_day_slopes_recover_known_sensitivity():
    dates = pd.date_range("2022-06-01", "2024-05-31", freq="D")
    temp = 14 - 12 * np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 15) / 365.25)
    hdd, cdd = np.maximum(15.5 - temp, 0), np.maximum(temp - 22, 0)
    readings = pd.DataFrame({"customer_id": "A", "reading_date": dates, "kwh": 3 + 0.5 * hdd + 0.2 * cdd})
    weather = pd.DataFrame(
        {
            "region": "north",
            "observed_at": dates.tz_localize("UTC") + pd.Timedelta(hours=12),
            "temperature_c": temp,
        }
    )
    customers = pd.DataFrame({"customer_id": ["A"], "region": ["north"]})
    row = build_usage_profile(readings, as_of=AS_OF, customers=customers, weather=weather).iloc[0]
    assert row["hdd_slope_365d"] == pytest.approx(0.5, rel=1e-6)
    assert row["cdd_slope_365d"] == pytest.approx(0.2, rel=1e-6)


def test_interval_shape_sums_to_one_and_finds_the_peak():
    at = pd.date_range("2024-05-01", "2024-05-31 23:30", freq="30min", tz="UTC")
    interval = pd.DataFrame({"customer_id": "A", "read_at": at, "kwh": np.where(at.hour == 18, 1.0, 0.1)})
    row = build_usage_profile(_daily(lambda d: np.ones(len(d))), as_of=AS_OF, interval_readings=interval).iloc[0]
    shape = row[[f"load_shape_h{h:02d}" for h in range(24)]].to_numpy(float)
    assert shape.sum() == pytest.approx(1.0) and row["peak_hour"] == 18 and row["has_interval"]


def test_later_readings_never_change_the_profile(tenant):
    readings = tenant["readings"]
    base = build_usage_profile(readings, as_of=AS_OF)
    later = readings["reading_date"] > AS_OF
    assert later.any()
    edited = readings.copy()
    edited.loc[later, "kwh"] = edited.loc[later, "kwh"] * 10 + 100
    pd.testing.assert_frame_equal(base, build_usage_profile(edited, as_of=AS_OF))
    pd.testing.assert_frame_equal(base, build_usage_profile(readings[~later], as_of=AS_OF))
    # control: editing the as_of day itself does change it
    on_day = readings.copy()
    on_day.loc[on_day["reading_date"] == AS_OF, "kwh"] += 100
    assert not base.equals(build_usage_profile(on_day, as_of=AS_OF))


def test_categorical_ids_and_shuffled_rows_give_the_same_result(tenant):
    readings = tenant["readings"]
    base = build_usage_profile(readings, as_of=AS_OF)
    shuffled = readings.sample(frac=1.0, random_state=1).assign(
        customer_id=lambda d: d["customer_id"].astype("category")
    )
    pd.testing.assert_frame_equal(base, build_usage_profile(shuffled, as_of=AS_OF))


def test_customer_with_only_old_readings_gets_nan_and_flag():
    old = _daily(lambda d: np.ones(len(d)), start="2022-06-01", end="2023-01-31", customer="OLD")
    row = build_usage_profile(old, as_of=AS_OF).iloc[0]
    assert not row["has_readings"] and np.isnan(row["kwh_mean_365d"]) and np.isnan(row["kwh_median_30d"])


def test_bad_inputs_are_named(tenant):
    with pytest.raises(ValueError, match="as_of"):
        build_usage_profile(tenant["readings"], as_of="2024-05-31")
    with pytest.raises(ContractViolation, match="kwh"):
        build_usage_profile(tenant["readings"].drop(columns="kwh"), as_of=AS_OF)
    assert set(FEATURES) == set(FEATURE_DESCRIPTIONS)
