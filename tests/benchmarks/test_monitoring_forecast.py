"""The London forecast stream of benchmarks/monitoring.py on a small synthetic series: the weekly issue grid,
targets trimmed to the next issue, and a backtest that never reads past the cut-off."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import monitoring_forecast as mf


def _daily(days: int = 200) -> pd.DataFrame:
    dates = pd.date_range("2013-01-01", periods=days, freq="D")
    kwh = 10 + 2 * (dates.day_of_week >= 5) + np.random.default_rng(0).normal(0, 0.3, days)
    return pd.DataFrame({"customer_id": "H1", "day": dates, "kwh": kwh})


def test_issue_grid_is_weekly_from_the_day_before_each_issue_to_the_next_issue():
    panel = mf.household_panel(_daily())
    origins, last = mf.issue_grid(panel, pd.PeriodIndex(["2013-03"], freq="M"))
    assert [str(panel.index[o + 1].date()) for o in origins] == [
        "2013-03-01", "2013-03-08", "2013-03-15", "2013-03-22", "2013-03-29",
    ]  # fmt: skip
    assert [str(panel.index[x].date()) for x in last] == [
        "2013-03-07", "2013-03-14", "2013-03-21", "2013-03-28", "2013-03-31",
    ]  # fmt: skip


def test_issue_grid_stops_at_the_data():
    panel = mf.household_panel(_daily(days=75))  # to 2013-03-16
    origins, last = mf.issue_grid(panel, pd.PeriodIndex(["2013-03"], freq="M"))
    assert len(origins) == 3 and str(panel.index[last[-1]].date()) == "2013-03-16"


def test_monthly_check_scores_each_day_once_and_names_its_reference():
    panel = mf.household_panel(_daily())
    hist = mf.history(panel, pd.Timestamp("2013-04-30"))
    model = type("Flat", (), {})()

    def predict(p, origins, horizon):  # P50 = the last known value, band +- 20 %
        rows = [(o, h) for o in origins for h in range(1, horizon + 1)]
        p50 = np.array([p.y[0, o] for o, _ in rows])
        return pd.DataFrame({"series_id": "total:all", "origin": p.index[[o for o, _ in rows]],
                             "timestamp": p.index[[o + h for o, h in rows]], "horizon": [h for _, h in rows],
                             "p10": p50 * 0.8, "p50": p50, "p90": p50 * 1.2})  # fmt: skip

    model.predict = predict
    reference = pd.DataFrame({"freq": ["D"], "level": ["total"], "month": [5], "mape": [50.0],
                              "coverage_p10_p90": [0.8]})  # fmt: skip
    out = mf.monitor_month(model, panel, pd.Period("2013-05", "M"), reference, reference.drop(columns="month"),
                           hist, mf.MonitoringSettings())  # fmt: skip
    assert out["periods"] == 31 and out["backtest_mape_same_month"] == 50.0
    assert out["forecast_alerts"] == [] and out["mape_lower_bound"] <= out["mape"]


def test_backtest_refuses_months_past_the_cutoff():
    panel = mf.household_panel(_daily())
    with pytest.raises(ValueError, match="past the cut-off 2013-03-31"):
        mf.backtest(panel, pd.period_range("2013-02", "2013-04", freq="M"), pd.Timestamp("2013-03-31"))
