"""Realised vs predicted late rates per grade, matured AUC and forecast error against the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.monitoring_outcomes import (
    against_backtest,
    backtest_by_month,
    calibration_by_grade,
    calibration_over_time,
    forecast_errors,
    matured_auc,
)


def test_calibration_by_grade_by_hand():
    grades = np.array(["A", "A", "B", "B", "B", "B"])
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.3, 0.5, 0.5, 0.5, 0.5])
    out = calibration_by_grade(grades, y, p, order=["A", "B", "C"]).set_index("grade")
    assert out.loc["A", ["n", "predicted_rate", "realised_rate"]].tolist() == pytest.approx([2, 0.2, 0.0])
    assert out.loc["B", "gap"] == pytest.approx(0.25)
    assert out.loc["C", "n"] == 0 and np.isnan(out.loc["C", "realised_rate"])


def test_calibration_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        calibration_by_grade(np.array(["A"]), np.array([0, 1]), np.array([0.1, 0.2]))


def test_calibration_over_time_has_an_all_row_per_period():
    out = calibration_over_time(
        pd.Series(["2024-01", "2024-01", "2024-02"]),
        np.array(["A", "B", "A"]),
        np.array([0, 1, 1]),
        np.array([0.2, 0.6, 0.4]),
    )
    every = out[out["grade"] == "all"].set_index("period")
    assert every["realised_rate"].to_dict() == {"2024-01": 0.5, "2024-02": 1.0}


def test_matured_auc_is_nan_with_one_class():
    assert np.isnan(matured_auc(np.array([0, 0]), np.array([0.1, 0.2])))
    assert matured_auc(np.array([0, 1]), np.array([0.1, 0.2])) == 1.0


def _forecasts(p50, p10, p90):
    ts = pd.date_range("2024-01-01", periods=len(p50), freq="D")
    return pd.DataFrame(
        {"level": "total", "key": "all", "freq": "D", "timestamp": ts, "p10": p10, "p50": p50, "p90": p90}
    )


def test_forecast_errors_by_hand():
    fc = _forecasts([100.0, 100.0], [90.0, 90.0], [110.0, 110.0])
    actuals = fc[["level", "key", "freq", "timestamp"]].assign(y=[100.0, 125.0])
    out = forecast_errors(fc, actuals).iloc[0]
    assert out["n"] == 2
    assert out["mape"] == pytest.approx((0 + 25 / 125 * 100) / 2)
    assert out["coverage_p10_p90"] == pytest.approx(0.5)
    assert out["mape_se"] == pytest.approx(np.std([0.0, 20.0], ddof=1) / np.sqrt(2))


def test_forecast_errors_only_on_arrived_actuals_and_against_backtest():
    fc = _forecasts([100.0] * 3, [90.0] * 3, [110.0] * 3)
    actuals = fc.iloc[:1][["level", "key", "freq", "timestamp"]].assign(y=[80.0])
    out = against_backtest(
        forecast_errors(fc, actuals),
        pd.DataFrame({"freq": ["D"], "level": ["total"], "mape": [10.0], "coverage_p10_p90": [0.8]}),
    )
    assert out.loc[0, "n"] == 1
    assert out.loc[0, "mape_excess"] == pytest.approx(25 / 10 - 1)
    assert forecast_errors(fc, actuals.iloc[:0]).empty


def test_against_backtest_compares_with_the_same_calendar_month_when_the_backtest_has_one():
    realised = pd.DataFrame({"freq": ["D", "D"], "level": ["total"] * 2, "month": [4, 10], "mape": [8.0, 6.0]})
    backtest = pd.DataFrame(
        {"freq": ["D"] * 3, "level": ["total"] * 3, "month": [4, 7, 10], "mape": [8.0, 2.0, 3.0],
         "coverage_p10_p90": [0.8, 0.8, 0.8]}
    )  # fmt: skip
    out = against_backtest(realised, backtest)
    assert out["backtest_mape"].tolist() == [8.0, 3.0] and out["mape_excess"].tolist() == pytest.approx([0.0, 1.0])
    whole = pd.DataFrame({"freq": ["D"], "level": ["total"], "mape": [4.0], "coverage_p10_p90": [0.8]})
    assert against_backtest(realised, whole)["mape_excess"].tolist() == pytest.approx([1.0, 0.5])


def test_mase_uses_the_seasonal_naive_scale_of_the_history():
    hist_ts = pd.date_range("2023-12-01", periods=14, freq="D")
    history = pd.DataFrame(
        {"level": "total", "key": "all", "freq": "D", "timestamp": hist_ts, "y": np.r_[[100.0] * 7, [110.0] * 7]}
    )
    fc = _forecasts([100.0], [90.0], [110.0])
    actuals = fc[["level", "key", "freq", "timestamp"]].assign(y=[105.0])
    out = forecast_errors(fc, actuals, history).iloc[0]
    assert out["mase"] == pytest.approx(5 / 10)  # naive-7 errors: 7 x |110 - 100| -> scale 10


def test_forecast_errors_by_month_splits_the_targets_by_calendar_month():
    ts = pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-01"])
    fc = pd.DataFrame({"level": "total", "key": "all", "freq": "D", "timestamp": ts, "p10": 90.0, "p50": 100.0,
                       "p90": 110.0})  # fmt: skip
    actuals = fc[["level", "key", "freq", "timestamp"]].assign(y=[100.0, 125.0, 50.0])
    out = forecast_errors(fc, actuals, by_month=True)
    assert out["period"].tolist() == ["2024-01", "2024-02"] and out["month"].tolist() == [1, 2]
    assert out["n"].tolist() == [2, 1]
    assert out["mape"].tolist() == pytest.approx([(0 + 20) / 2, 100.0])
    assert out["mape_se"].iloc[0] == pytest.approx(np.std([0.0, 20.0], ddof=1) / np.sqrt(2))
    assert out["coverage_p10_p90"].tolist() == pytest.approx([0.5, 0.0])


def test_backtest_by_month_by_hand():
    held_out = pd.DataFrame(
        {"freq": "D", "level": "total", "series_id": "total:all",
         "timestamp": pd.to_datetime(["2024-03-31", "2024-04-01", "2024-04-01", "2024-04-02"]),
         "y": [100.0, 100.0, 100.0, 80.0], "p10": 90.0, "p50": [110.0, 100.0, 95.0, 100.0], "p90": 120.0}
    )  # fmt: skip
    out = backtest_by_month(held_out)
    assert out.columns.tolist() == ["freq", "level", "month", "n", "mape", "mape_se", "coverage_p10_p90"]
    assert out["month"].tolist() == [3, 4] and out["n"].tolist() == [1, 3]  # a target from two origins counts twice
    assert out["mape"].tolist() == pytest.approx([10.0, (0 + 5 + 25) / 3])
    assert out["coverage_p10_p90"].tolist() == pytest.approx([1.0, 2 / 3])
    assert np.isnan(out["mape_se"].iloc[0])  # one period: no standard error
    assert backtest_by_month(held_out.iloc[:0]).empty


def test_against_backtest_falls_back_to_the_whole_backtest_for_a_month_it_did_not_cover():
    realised = pd.DataFrame({"freq": ["D"] * 3, "level": ["total"] * 3, "month": [4, 5, 6], "mape": [8.0, 6.0, 9.0]})
    by_month = pd.DataFrame({"freq": ["D"] * 2, "level": ["total"] * 2, "month": [4, 5], "n": [30, 5],
                             "mape": [4.0, 2.0], "coverage_p10_p90": [0.8, 0.8]})  # fmt: skip
    whole = pd.DataFrame({"freq": ["D"], "level": ["total"], "mape": [6.0], "coverage_p10_p90": [0.75]})
    out = against_backtest(realised, by_month, whole, min_n=14)
    # April: its own month; May: only 5 backtest rows (< 14), the whole backtest; June: not in the backtest
    assert out["reference"].tolist() == ["same_month", "whole_backtest", "whole_backtest"]
    assert out["backtest_mape"].tolist() == [4.0, 6.0, 6.0]
    assert out["backtest_coverage"].tolist() == [0.8, 0.75, 0.75]
    assert out["mape_excess"].tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert against_backtest(realised, by_month, whole)["reference"].tolist()[:2] == ["same_month", "same_month"]
    none = against_backtest(realised, pd.DataFrame(columns=["freq", "level", "month"]), pd.DataFrame())
    assert none["reference"].tolist() == ["none"] * 3 and none["mape_excess"].isna().all()
