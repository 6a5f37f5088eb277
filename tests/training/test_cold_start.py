"""Cold start: priors of comparable customers, the credibility mix, the month-ahead view and arrears priors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.cold_start import arrears_priors, build_prior, cold_start_forecast, month_ahead

ISSUE = pd.Timestamp("2024-03-01")


def peers() -> tuple[pd.DataFrame, pd.DataFrame]:
    days = pd.date_range(ISSUE - pd.Timedelta(days=56), ISSUE - pd.Timedelta(days=1))
    ids = [f"P{i}" for i in range(6)]
    level = {"P0": 10, "P1": 12, "P2": 14, "P3": 30, "P4": 32, "P5": 34}
    readings = pd.DataFrame(
        {
            "customer_id": np.repeat(ids, len(days)),
            "reading_date": np.tile(days, 6),
            "kwh": np.repeat([float(level[i]) for i in ids], len(days)),
        }
    )
    later = pd.DataFrame({"customer_id": "P0", "reading_date": [ISSUE + pd.Timedelta(days=3)], "kwh": [999.0]})
    attrs = pd.DataFrame({"customer_id": ids, "tariff": ["std"] * 3 + ["tou"] * 3})
    return pd.concat([readings, later], ignore_index=True), attrs


def test_prior_uses_the_most_specific_group_with_enough_peers_and_says_so():
    readings, attrs = peers()
    new = pd.DataFrame({"customer_id": ["N1", "N2"], "tariff": ["std", "ev"]})
    prior = build_prior(readings, attrs, new, issue=ISSUE, keys=("tariff",), min_peers=3)
    assert prior.level.loc["N1"] == pytest.approx(12.0)  # the reading after the issue day is not seen
    assert prior.basis.loc["N1"] == "tariff=std (n=3 peers)"
    assert prior.level.loc["N2"] == pytest.approx(22.0) and prior.basis.loc["N2"] == "all customers (n=6 peers)"


def test_own_days_move_the_forecast_towards_the_customer():
    readings, attrs = peers()
    new = pd.DataFrame({"customer_id": ["N1"], "tariff": ["std"]})
    prior = build_prior(readings, attrs, new, issue=ISSUE, keys=("tariff",), min_peers=3)
    none = cold_start_forecast(prior, readings.iloc[:0], issue=ISSUE, horizon_days=7)
    own = pd.DataFrame(
        {"customer_id": "N1", "reading_date": pd.date_range(ISSUE - pd.Timedelta(days=7), periods=7), "kwh": 40.0}
    )
    seen = cold_start_forecast(prior, own, issue=ISSUE, horizon_days=7)
    assert none["kwh_p50"].mean() == pytest.approx(12.0) and none["own_days"].iloc[0] == 0
    assert 12.0 < seen["kwh_p50"].mean() <= 40.0 and seen["own_days"].iloc[0] == 7


def test_arrears_priors_fall_back_and_skip_unscored():
    attrs = pd.DataFrame({"region": ["n", "n", "n", "s", "s"]})
    prior, basis = arrears_priors(
        attrs, np.array([0.2, 0.4, np.nan, 0.9, np.nan]), np.array([1, 1, 0, 1, 0], bool), keys=("region",), min_peers=2
    )
    assert prior[2] == pytest.approx(0.3) and basis[2] == "region=n (n=2 peers)"
    assert prior[4] == pytest.approx(0.5) and basis[4] == "all customers (n=3 peers)"


def test_month_ahead_flags_cold_start_and_mixes_by_credibility():
    views = pd.DataFrame(
        {
            "category": "residential",
            "days_with_readings_28d": [28, 28, 28, 0],
            "kwh_mean_28d": [10.0, 20.0, 30.0, np.nan],
            "kwh_mean_prev_28d": [10.0, 20.0, 30.0, np.nan],
            "kwh_var_28d": [1.0, 1.0, 1.0, np.nan],
        },
        index=["A", "B", "C", "NEW"],
    )
    out = month_ahead(views, keys=("category",), min_peers=3)
    assert out.loc["NEW", "month_kwh_p50"] == pytest.approx(28 * 20.0)
    assert out.loc["NEW", "forecast_cold_start"] == "category=residential (n=3 peers)"
    assert out.loc["A", "forecast_cold_start"] is None and out.loc["A", "month_kwh_p50"] == pytest.approx(
        280.0, rel=0.01
    )
