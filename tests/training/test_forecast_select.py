"""Served intervals: conformal on reconciled residuals, fitted only on what each issue time had observed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.series import Panel
from training.forecast_select import MIN_RESIDUALS, calibrated, interval_table, reconciled
from training.forecast_tenant import hierarchy


def _backtest(n_origins: int = 10, horizon: int = 7, seed: int = 0) -> pd.DataFrame:
    """Daily origins one day apart, one series per level, relative errors of about 10 %."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=n_origins + horizon + 1, freq="D")
    rows = [
        {"series_id": f"{lvl}:x", "level": lvl, "origin": days[o], "timestamp": days[o + h], "horizon": h}
        for lvl in ("total", "region")
        for o in range(n_origins)
        for h in range(1, horizon + 1)
    ]
    f = pd.DataFrame(rows).assign(p50=100.0)
    return f.assign(y=100.0 * (1 + rng.normal(0, 0.1, len(f))), p10=np.nan, p90=np.nan)


def test_held_out_intervals_use_only_residuals_observed_by_the_issue_time():
    frame = _backtest()
    out = calibrated(frame, "D")
    first = out["origin"].min()
    assert first == frame["origin"].sort_values().unique()[5]  # the later half is held out
    # a residual observed after the first held-out issue time changes nothing issued then ...
    later = (frame["origin"] < first) & (frame["timestamp"] > first)
    moved = frame.assign(y=np.where(later, frame["y"] * 5, frame["y"]))
    again = calibrated(moved, "D")
    at = out["origin"] == first
    np.testing.assert_array_equal(again.loc[at, ["p10", "p90"]], out.loc[at, ["p10", "p90"]])
    # ... while one observed before it does (the control)
    seen = (frame["origin"] < first) & (frame["timestamp"] <= first)
    moved = frame.assign(y=np.where(seen, frame["y"] * 5, frame["y"]))
    assert not np.allclose(calibrated(moved, "D").loc[at, "p90"], out.loc[at, "p90"])


def test_intervals_borrow_residuals_when_few_and_grow_past_the_observed_horizons():
    frame = _backtest(n_origins=3)
    known = frame[frame["horizon"] <= 3]  # long horizons not yet observed
    table = interval_table(known, "D", horizon=7).set_index(["level", "bucket"])
    assert len(known[known["level"] == "total"]) < MIN_RESIDUALS  # so bucket '1' borrows the '2-7' residuals
    lo, hi = known[known["level"] == "total"].eval("(y - p50) / p50").quantile([0.1, 0.9])
    assert table.loc[("total", "1"), "lo"] == pytest.approx(min(lo, 0.0))
    assert table.loc[("total", "1"), "hi"] == pytest.approx(max(hi, 0.0))
    assert (table["lo"] <= 0).all() and (table["hi"] >= 0).all()
    assert set(table.index.get_level_values("bucket")) == {"1", "2-7"}
    # with no residual past horizon 1 observed, '2-7' grows the known band as sqrt(7 / 1)
    first = interval_table(frame[frame["horizon"] == 1], "D", horizon=7).set_index(["level", "bucket"])
    assert first.loc[("total", "2-7"), "hi"] == pytest.approx(first.loc[("total", "1"), "hi"] * np.sqrt(7))


def test_a_total_over_one_grouping_reconciles_with_its_groups_as_bottom():
    series = pd.DataFrame(
        {"series_id": ["total:all", "g:a", "g:b"], "level": ["total", "g", "g"], "key": ["all", "a", "b"]}
    )
    panel = Panel(pd.date_range("2024-01-01", periods=3, freq="D"), np.ones((3, 3)), series)
    S, ids = hierarchy(panel, None)
    assert ids == ["total:all", "g:a", "g:b"] and S.tolist() == [[1, 1], [1, 0], [0, 1]]
    base = pd.DataFrame(
        {"series_id": ids, "origin": pd.Timestamp("2024-01-01"), "timestamp": pd.Timestamp("2024-01-02"),
         "p50": [10.0, 4.0, 4.0]}
    )  # fmt: skip
    rec = reconciled(base, S, ids, "wls_struct").set_index("series_id")["p50"]
    assert rec["total:all"] == pytest.approx(rec["g:a"] + rec["g:b"]) and rec["total:all"] < 10.0
    assert reconciled(base, S, ids, "none") is base
