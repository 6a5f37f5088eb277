"""Series aggregation and origin-anchored features: sums, names, and no future information."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.series import FeatureBuilder, FeatureSpec, Panel, aggregate_series, climatology, panel_from_long
from tests.conftest import make_tenant


@pytest.fixture
def panel() -> Panel:
    rng = np.random.default_rng(1)
    index = pd.date_range("2023-01-01", periods=120, freq="D")
    y = 10 + np.sin(np.arange(120) * 2 * np.pi / 7)[None, :] + rng.normal(0, 0.3, (3, 120))
    series = pd.DataFrame({"series_id": ["a", "b", "c"], "level": "customer"})
    temp = np.tile(5 + 5 * np.cos(np.arange(120) / 20), (3, 1))
    return Panel(index, y, series, "D", {"temperature_c": temp})


def test_aggregate_series_sums_customers_to_levels():
    t = make_tenant(n_customers=6, days=60)
    agg = aggregate_series(t["readings"], t["customers"], freq="D")
    day = agg[agg["timestamp"] == "2023-05-10"].set_index("series_id")
    customers = day[day["level"] == "customer"]
    assert day.loc["total:all", "kwh"] == pytest.approx(customers["kwh"].sum())
    assert day.loc["total:all", "n_meters"] == 6
    north = t["customers"].loc[t["customers"]["region"] == "north", "customer_id"]
    assert day.loc["region:north", "kwh"] == pytest.approx(customers.loc["customer:" + north, "kwh"].sum())
    assert np.allclose(agg["kwh_per_meter"], agg["kwh"] / agg["n_meters"])


def test_monthly_aggregation_drops_incomplete_last_month():
    t = make_tenant(n_customers=3, days=75)  # 2023-05-01 .. 2023-07-14
    agg = aggregate_series(t["readings"], t["customers"], freq="M", levels=("total",))
    assert agg["timestamp"].dt.month.tolist() == [5, 6]
    assert agg["n_meters"].tolist() == pytest.approx([3, 3])


def test_feature_names_follow_the_declaration():
    spec = FeatureSpec(lags=(1, 7), seasons=(7,), origin_lags=(1,), windows=(28,), calendar=("dayofweek",))
    assert spec.names == [
        "horizon",
        "y_last",
        "y_lag_1",
        "y_lag_7",
        "y_season_7",
        "y_origin_lag_1",
        "y_mean_28",
        "temperature_c",
        "dayofweek_target",
    ]


def test_lags_shorter_than_horizon_are_missing(panel):
    spec = FeatureSpec(lags=(1, 7), seasons=(7,))
    X, _ = FeatureBuilder(panel, spec).build(np.zeros(3, int), np.full(3, 60), np.array([1, 5, 9]))
    assert X["y_lag_1"].notna().tolist() == [True, False, False]
    assert X["y_lag_7"].notna().tolist() == [True, True, False]
    assert X["y_season_7"].notna().all()


def test_features_at_an_origin_ignore_values_after_it(panel):
    """Leakage check: perturbing every value after the origin leaves that origin's features unchanged."""
    spec = FeatureSpec(lags=(1, 2, 7, 14), seasons=(7, 14), origin_lags=(1, 7), windows=(3, 28))
    origin = 80
    rows, hh = np.repeat(np.arange(3), 28), np.tile(np.arange(1, 29), 3)
    before, _ = FeatureBuilder(panel, spec).build(rows, np.full(len(rows), origin), hh)
    poisoned = Panel(panel.index, panel.y.copy(), panel.series, "D", panel.exog)
    poisoned.y[:, origin + 1 :] = 1e6
    after, _ = FeatureBuilder(poisoned, spec).build(rows, np.full(len(rows), origin), hh)
    pd.testing.assert_frame_equal(before, after)


def test_panel_extend_leaves_future_observations_unknown_and_climatology_reads_the_past():
    idx = pd.date_range("2022-01-01", periods=730, freq="D")
    long = pd.DataFrame(
        {"series_id": "x", "timestamp": idx, "kwh_per_meter": 1.0, "temperature_c": np.asarray(idx.day_of_year, float)}
    )
    p = panel_from_long(long, freq="D", exog=("temperature_c",)).extend(10)
    assert p.y.shape == (1, 740) and np.isnan(p.y[0, -10:]).all()
    assert np.isnan(p.exog["temperature_c"][0, -10:]).all()  # future observations are not invented
    future = pd.date_range("2024-01-01", periods=10, freq="D")
    assert climatology(idx, np.asarray(idx.day_of_year, float), future) == pytest.approx(np.arange(1, 11))
    assert climatology(idx, np.ones(730), idx[:3]) == pytest.approx(1.0)


def test_observed_exog_is_read_as_known_at_the_origin_not_at_the_target(panel):
    """Issue-time honesty: temperatures after the origin never enter that origin's features."""
    spec = FeatureSpec(lags=(1,), seasons=(7,), windows=(7,))
    origin, rows, hh = 80, np.zeros(14, int), np.arange(1, 15)
    before, _ = FeatureBuilder(panel, spec).build(rows, np.full(14, origin), hh)
    poisoned = Panel(panel.index, panel.y, panel.series, "D", {"temperature_c": panel.exog["temperature_c"].copy()})
    poisoned.exog["temperature_c"][:, origin + 1 :] = np.nan
    after, _ = FeatureBuilder(poisoned, spec).build(rows, np.full(14, origin), hh)
    pd.testing.assert_frame_equal(before, after)
    leaky_before, _ = FeatureBuilder(panel, spec, actual_exog=True).build(rows, np.full(14, origin), hh)
    leaky_after, _ = FeatureBuilder(poisoned, spec, actual_exog=True).build(rows, np.full(14, origin), hh)
    assert not leaky_before.equals(leaky_after)  # the check catches a builder that reads the target's weather


def test_issued_weather_forecasts_are_used_only_once_issued(panel):
    spec = FeatureSpec(lags=(1,), seasons=(7,), windows=(7,))
    idx = panel.index
    issued = pd.DataFrame(
        {
            "issued_at": [idx[79], idx[81]],  # one issued before the origin (80), one after
            "valid_at": [idx[82], idx[83]],
            "temperature_c": [-30.0, -40.0],
        }
    )
    p = Panel(idx, panel.y, panel.series, "D", panel.exog, issued)
    X, _ = FeatureBuilder(p, spec).build(np.zeros(3, int), np.full(3, 80), np.array([1, 2, 3]))
    assert X["temperature_c"].iloc[1] == -30.0  # issued at 79 for 82: known at 80
    assert X["temperature_c"].iloc[2] != -40.0  # issued at 81: not yet known, climatology instead


def test_hourly_energy_equals_daily_energy_for_the_same_customers():
    """Half-hourly kWh summed per hour, then per day, equals the daily kWh within 1 % (the unit bug)."""
    rng = np.random.default_rng(3)
    stamps = pd.date_range("2024-01-01", "2024-01-10 00:00", freq="30min", tz="UTC")  # ends on a lone half-hour
    interval = pd.concat(
        [pd.DataFrame({"customer_id": c, "read_at": stamps, "kwh": rng.uniform(0.1, 1, len(stamps))}) for c in "ab"]
    )
    hourly = aggregate_series(interval, freq="H", levels=("total", "customer"))
    daily = aggregate_series(interval, freq="D", levels=("total", "customer"))
    assert hourly["timestamp"].max() == pd.Timestamp("2024-01-09 23:00")  # the incomplete last hour is left out
    assert daily["timestamp"].max() == pd.Timestamp("2024-01-09")
    h = hourly.assign(day=hourly["timestamp"].dt.normalize()).groupby(["series_id", "day"])["kwh"].sum()
    d = daily.set_index(["series_id", "timestamp"])["kwh"]
    np.testing.assert_allclose(h.to_numpy(), d.reindex(h.index).to_numpy(), rtol=0.01)
    # the forecast target times the meter count gives back kWh per hour (2 half-hours per meter and hour)
    total = hourly[hourly["series_id"] == "total:all"]
    assert total["n_meters"].iloc[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(total["kwh_per_meter"] * total["n_meters"], total["kwh"])
