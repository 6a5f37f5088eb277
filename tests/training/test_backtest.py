"""Metrics and rolling-origin backtests on hand-checkable numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.series import Panel
from training.backtest import horizon_bucket, naive_scale, pinball, rolling_origin, score
from training.baselines import SeasonalNaive


def _frame(y, p50, p10=None, p90=None, sid="a"):
    y, p50 = np.asarray(y, float), np.asarray(p50, float)
    return pd.DataFrame(
        {
            "series_id": sid,
            "horizon": np.arange(1, len(y) + 1),
            "y": y,
            "p50": p50,
            "p10": p50 - 1 if p10 is None else p10,
            "p90": p50 + 1 if p90 is None else p90,
        }
    )


def test_mape_smape_and_coverage_by_hand():
    f = _frame([100, 200], [110, 180], p10=[105, 150], p90=[120, 210])
    s = score(f).iloc[0]
    assert s["mape"] == pytest.approx(10.0)
    assert s["smape"] == pytest.approx((10 / 105 + 20 / 190) / 2 * 100)
    assert s["coverage_p10_p90"] == pytest.approx(0.5)  # 100 is below its P10
    assert s["mae"] == pytest.approx(15.0)


def test_mase_uses_the_given_scale_and_pinball_is_asymmetric():
    f = _frame([10, 10], [12, 8])
    assert score(f, scale=pd.Series({"a": 4.0}))["mase"].iloc[0] == pytest.approx(0.5)
    assert pinball(np.array([10.0]), np.array([8.0]), 0.9)[0] == pytest.approx(1.8)
    assert pinball(np.array([10.0]), np.array([12.0]), 0.9)[0] == pytest.approx(0.2)


def test_mape_skips_zero_actuals():
    assert score(_frame([0, 100], [5, 110]))["mape"].iloc[0] == pytest.approx(10.0)


def test_horizon_buckets():
    assert horizon_bucket(pd.Series([1, 2, 7, 8, 28]), (1, 7, 28)).tolist() == ["1", "2-7", "2-7", "8-28", "8-28"]


def test_seasonal_naive_is_exact_on_a_periodic_series_and_scale_is_zero():
    index = pd.date_range("2024-01-01", periods=70, freq="D")
    y = np.tile(np.arange(1.0, 8.0), 10)[None, :]
    panel = Panel(index, y, pd.DataFrame({"series_id": ["p"]}), "D")
    fc = rolling_origin(panel, np.array([40, 47]), horizon=14, models={"snaive": lambda: SeasonalNaive(7)})
    assert len(fc) == 28 and np.allclose(fc["p50"], fc["y"])
    assert naive_scale(panel, 40, 7).iloc[0] == 0.0


def test_rolling_origin_refuses_origins_past_the_end():
    panel = Panel(
        pd.date_range("2024-01-01", periods=20, freq="D"), np.ones((1, 20)), pd.DataFrame({"series_id": ["p"]}), "D"
    )
    with pytest.raises(ValueError, match="past the panel end"):
        rolling_origin(panel, np.array([15]), horizon=7, models={"s": lambda: SeasonalNaive(7)})
