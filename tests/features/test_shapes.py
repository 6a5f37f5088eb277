"""Load shapes: known patterns are recovered, sufficiency is explicit, nothing after as_of leaks in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.shapes import ANNUAL_COLUMNS, DAILY_COLUMNS, WEEKLY_COLUMNS, build_shapes, temperature_response
from tests.conftest import SHARED_DATA, make_tenant, needs_shared

AS_OF = pd.Timestamp("2024-04-30")


def _daily(customer: str, start: str, days: int, kwh) -> pd.DataFrame:
    dates = pd.date_range(start, periods=days, freq="D")
    values = kwh(dates) if callable(kwh) else np.full(days, float(kwh))
    return pd.DataFrame({"customer_id": customer, "reading_date": dates, "kwh": values})


@pytest.fixture
def readings() -> pd.DataFrame:
    weekend = lambda d: np.where(d.day_of_week >= 5, 20.0, 10.0)  # noqa: E731
    winter = lambda d: np.where(d.month.isin([12, 1, 2]), 30.0, 10.0)  # noqa: E731
    return pd.concat(
        [
            _daily("WEEKEND", "2023-05-01", 366, weekend),
            _daily("WINTER", "2023-05-01", 366, winter),
            _daily("NEW", "2024-03-01", 61, 8.0),
            _daily("ZERO", "2023-05-01", 366, 0.0),
        ],
        ignore_index=True,
    )


def test_weekly_shape_recovers_a_weekend_pattern(readings):
    shapes = build_shapes(readings, as_of=AS_OF)
    row = shapes.loc["WEEKEND"]
    mean = (5 * 10 + 2 * 20) / 7
    assert row["shape_dow_sat"] == pytest.approx(20 / mean, rel=0.02)
    assert row["shape_dow_mon"] == pytest.approx(10 / mean, rel=0.02)
    assert row[list(WEEKLY_COLUMNS)].mean() == pytest.approx(1.0, abs=0.01)
    assert row["kwh_mean_day"] == pytest.approx(mean, rel=0.02)
    assert row["level_log1p_kwh"] == pytest.approx(np.log1p(row["kwh_mean_day"]))


def test_annual_shape_recovers_winter_and_needs_a_year(readings):
    shapes = build_shapes(readings, as_of=AS_OF)
    winter = shapes.loc["WINTER", list(ANNUAL_COLUMNS)]
    assert winter["shape_month_01"] / winter["shape_month_07"] == pytest.approx(3.0, rel=1e-6)
    assert winter.mean() == pytest.approx(1.0)
    new = shapes.loc["NEW"]
    assert new["days_observed"] == 61
    assert new[list(ANNUAL_COLUMNS)].isna().all()  # 61 days: no annual shape, explicitly missing
    assert new[list(WEEKLY_COLUMNS)].notna().all()


def test_zero_consumption_gives_missing_shapes_not_division_errors(readings):
    zero = build_shapes(readings, as_of=AS_OF).loc["ZERO"]
    assert zero["kwh_mean_day"] == 0.0
    assert zero[list(WEEKLY_COLUMNS)].isna().all()


def test_readings_after_as_of_are_ignored(readings):
    before = build_shapes(readings, as_of=AS_OF)
    later = readings["reading_date"] > AS_OF
    changed = readings.assign(kwh=np.where(later, 999.0, readings["kwh"]))
    changed = pd.concat([changed, _daily("FUTURE", "2024-05-01", 30, 5.0)], ignore_index=True)
    after = build_shapes(changed, as_of=AS_OF)
    pd.testing.assert_frame_equal(before, after)
    assert "FUTURE" not in after.index


def test_hourly_shape_from_interval_readings(readings):
    read_at = pd.date_range("2024-03-01", periods=48 * 40, freq="30min", tz="UTC")
    kwh = np.where(read_at.hour == 18, 1.0, 0.1)
    interval = pd.DataFrame({"customer_id": "WEEKEND", "read_at": read_at, "kwh": kwh})
    shapes = build_shapes(readings, as_of=AS_OF, interval_readings=interval)
    row = shapes.loc["WEEKEND", list(DAILY_COLUMNS)]
    assert row.idxmax() == "shape_hour_18"
    assert row.mean() == pytest.approx(1.0)
    assert shapes.loc["WEEKEND", "interval_days"] == 40
    assert shapes.loc["WINTER", list(DAILY_COLUMNS)].isna().all()


def test_temperature_slope_is_positive_for_heating_and_flat_for_constant_use():
    tenant = make_tenant(n_customers=4, days=400)
    readings = pd.concat(
        [tenant["readings"], _daily("C003", "2023-05-01", 400, 7.0).assign(customer_id="FLAT")], ignore_index=True
    )
    customers = pd.concat([tenant["customers"], tenant["customers"].iloc[[0]].assign(customer_id="FLAT")])
    shapes = build_shapes(readings, as_of=pd.Timestamp("2024-06-01"), weather=tenant["weather"], customers=customers)
    assert (shapes.loc[["C000", "C001", "C002"], "temp_slope_hdd"] > 0.01).all()
    assert shapes.loc["FLAT", "temp_slope_hdd"] == pytest.approx(0.0, abs=1e-9)
    labels = pd.Series("seasonal", index=shapes.index)
    curve = temperature_response(readings, tenant["weather"], customers, labels, as_of=pd.Timestamp("2024-06-01"))
    cold, warm = curve["kwh_rel"].iloc[0], curve["kwh_rel"].iloc[-1]
    assert cold > warm


def test_bad_arguments_are_refused(readings):
    with pytest.raises(ValueError, match="as_of"):
        build_shapes(readings, as_of="2024-04-30")
    with pytest.raises(ValueError, match="window_days"):
        build_shapes(readings, as_of=AS_OF, window_days=3)


@needs_shared()
@pytest.mark.slow
def test_shapes_of_real_london_households():
    blocks = [SHARED_DATA / "london_smart_meters" / "daily_dataset" / f"block_{i}.csv.xz" for i in (0, 60)]
    raw = pd.concat([pd.read_csv(p, usecols=["LCLid", "day", "energy_sum", "energy_count"]) for p in blocks])
    raw = raw[raw["energy_count"].eq(48)]
    readings = pd.DataFrame(
        {"customer_id": raw["LCLid"], "reading_date": pd.to_datetime(raw["day"]), "kwh": raw["energy_sum"]}
    )
    shapes = build_shapes(readings, as_of=pd.Timestamp("2014-02-27"))
    full = shapes.dropna(subset=list(ANNUAL_COLUMNS))
    assert len(full) > 50
    assert (full["days_observed"] >= 300).all()
    # London households use more electricity in winter than in summer (lighting, heating appliances)
    assert (full["shape_month_01"] > full["shape_month_07"]).mean() > 0.8


@pytest.mark.parametrize("order", ["sorted", "shuffled", "categorical"])
def test_same_shapes_however_the_ids_are_stored(readings, order):
    """Sorted text ids take a no-hashing path; a customer with no reading in the window gets no row either way."""
    old = _daily("VANISHED", "2021-01-01", 30, 5.0)  # sorts between other ids, every reading before the window
    frame = pd.concat([readings, old], ignore_index=True).sort_values(["customer_id", "reading_date"])
    want = build_shapes(frame.astype({"customer_id": object}).sample(frac=1, random_state=0), as_of=AS_OF)
    if order == "shuffled":
        frame = frame.sample(frac=1, random_state=1)
    frame = frame.astype({"customer_id": "category" if order == "categorical" else "str"})
    got = build_shapes(frame.reset_index(drop=True), as_of=AS_OF)
    assert "VANISHED" not in got.index and list(got.index) == sorted(got.index)
    pd.testing.assert_frame_equal(got, want, check_index_type=False, rtol=1e-12)
