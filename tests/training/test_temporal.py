"""Hourly, daily and monthly forecasts of one series agree after alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.temporal import align


def _frame(freq: str, stamps: pd.DatetimeIndex, p50: np.ndarray, level: str = "customer") -> pd.DataFrame:
    return pd.DataFrame(
        {"level": level, "key": "c1", "freq": freq, "timestamp": stamps, "horizon": np.arange(1, len(stamps) + 1),
         "p10": p50 * 0.9, "p50": p50, "p90": p50 * 1.1}
    )  # fmt: skip


@pytest.fixture
def issued() -> pd.DataFrame:
    days = pd.date_range("2024-02-28", periods=40, freq="D")  # data observed up to 2024-02-27
    hours = pd.date_range("2024-02-28", periods=48, freq="h")
    months = pd.date_range("2024-02-01", periods=3, freq="MS")
    rng = np.random.default_rng(0)
    return pd.concat(
        [
            _frame("D", days, rng.uniform(9, 11, 40)),
            _frame("H", hours, rng.uniform(0.2, 0.6, 48)),
            _frame("M", months, np.array([300.0, 310.0, 290.0])),
        ],
        ignore_index=True,
    )


@pytest.fixture
def history() -> pd.DataFrame:
    days = pd.date_range("2024-02-01", "2024-02-27", freq="D")
    return pd.DataFrame({"level": "customer", "key": "c1", "freq": "D", "timestamp": days, "y": 10.0})


def test_hourly_days_sum_to_the_daily_forecast(issued, history):
    out = align(issued, history)
    h = out[out["freq"] == "H"].assign(day=lambda d: d["timestamp"].dt.normalize()).groupby("day")["p50"].sum()
    d = out[out["freq"] == "D"].set_index("timestamp")["p50"]
    np.testing.assert_allclose(h.to_numpy(), d.reindex(h.index).to_numpy(), rtol=0.01)


def test_months_are_observed_plus_daily_forecast_and_start_at_the_first_incomplete_month(issued, history):
    out = align(issued, history)
    m = out[out["freq"] == "M"].set_index("timestamp")["p50"]
    d = out[out["freq"] == "D"].set_index("timestamp")["p50"]
    assert m.index[0] == pd.Timestamp("2024-02-01")
    assert m.loc["2024-02-01"] == pytest.approx(27 * 10.0 + d.loc["2024-02-28":"2024-02-29"].sum())
    assert m.loc["2024-03-01"] == pytest.approx(d.loc["2024-03-01":"2024-03-31"].sum())
    assert m.loc["2024-04-01"] == 290.0  # April is not covered to its end by the daily forecast: unchanged
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()


def test_hourly_aggregates_covering_other_customers_are_left_alone(issued, history):
    other = issued.assign(level=np.where(issued["freq"] == "H", "region", issued["level"]))
    out = align(other, history)
    pd.testing.assert_series_equal(
        out[out["freq"] == "H"]["p50"].reset_index(drop=True), other[other["freq"] == "H"]["p50"].reset_index(drop=True)
    )
