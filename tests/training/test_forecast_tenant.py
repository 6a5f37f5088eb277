"""A tenant's hierarchy at one frequency: the served method is chosen by a backtest of what is served."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make_tenant
from training.forecast_select import Selection
from training.forecast_tenant import evaluate_freq, issue_freq, tenant_panel


@pytest.fixture(scope="module")
def daily():
    tables = make_tenant(n_customers=8, days=400)
    attrs = tables["customers"].set_index("customer_id")[["region", "category"]].astype(str)
    return tenant_panel(tables, "D"), attrs


def test_a_method_losing_to_seasonal_naive_is_never_served(daily):
    """The control: a deliberately weak LightGBM (one tiny tree) loses at the aggregates and is not served there."""
    panel, attrs = daily
    sel, _ = evaluate_freq(panel, "D", 0, {"n_estimators": 1, "learning_rate": 0.001}, attrs)
    cand = sel.candidates.set_index(["model", "level"])["mase"]
    losing = [lvl for lvl in sel.picks if cand[("lightgbm", lvl)] > cand[("seasonal_naive", lvl)]]
    assert losing  # the control does fail somewhere
    assert all(sel.picks[lvl] != "lightgbm" for lvl in losing)
    for lvl, method in sel.picks.items():  # what is picked never loses to the naive on the backtest
        assert cand[(method, lvl)] <= cand[("seasonal_naive", lvl)] + 1e-12
    assert (sel.served["mae"] <= sel.served["naive_mae"] + 1e-9).all()  # nor does what is served, held out
    assert set(sel.served["level"]) == set(panel.series["level"])


def test_served_backtest_is_reconciled_and_reports_coverage_with_width(daily):
    panel, attrs = daily
    sel, held_out = evaluate_freq(panel, "D", 0, {"n_estimators": 30, "max_rows": 20_000}, attrs)
    if sel.coherent:  # reconciled P50: the regions sum to the total at every held-out (origin, timestamp)
        wide = held_out.pivot_table(index=["origin", "timestamp"], columns="level", values="p50", aggfunc="sum")
        assert wide["region"].to_numpy() == pytest.approx(wide["total"].to_numpy(), rel=1e-6)
    assert {"coverage_p10_p90", "mean_width_pct"} <= set(sel.served.columns)
    assert set(sel.candidates["model"]) >= {"lightgbm", "seasonal_naive", "ets"}


def _naive_everywhere(panel) -> Selection:
    levels = set(panel.series["level"])
    empty = pd.DataFrame(columns=["level", "bucket", "lo", "hi"])
    return Selection(dict.fromkeys(levels, "seasonal_naive"), pd.DataFrame(), pd.DataFrame(), empty, "none")


def test_each_aggregate_says_whom_it_covers_and_the_hourly_total_is_named_apart():
    tables = make_tenant(n_customers=6, days=60)
    stamps = pd.date_range("2023-06-01", "2023-06-29 23:30", freq="30min", tz="UTC")
    tables["interval_readings"] = pd.concat(
        [pd.DataFrame({"customer_id": c, "read_at": stamps, "kwh": 0.25}) for c in ("C000", "C001")]
    )
    daily, hourly = tenant_panel(tables, "D"), tenant_panel(tables, "H")
    d = daily.series.set_index("series_id")["customers"]
    h = hourly.series.set_index("series_id")["customers"]
    assert d["total:all"] == 6 and d["region:north"] == 3
    assert "total:all" not in h and h["total:interval"] == 2  # not the same customers: not the same name
    assert h["region:north"] == 1 and h["customer:C000"] == 1
    # hourly kWh per hour: two half-hours of 0.25 kWh per meter
    assert hourly.y[0, -1] * hourly.exog["n_meters"][0, -1] == pytest.approx(2 * 0.5)
    tables["interval_readings"] = pd.concat(
        [pd.DataFrame({"customer_id": c, "read_at": stamps, "kwh": 0.25}) for c in tables["customers"]["customer_id"]]
    )
    assert "total:all" in set(tenant_panel(tables, "H").ids)  # every customer has interval data: the same total


def test_the_monthly_forecast_starts_at_the_first_month_not_yet_complete():
    tables = make_tenant(n_customers=4, days=400)  # daily readings 2023-05-01 .. 2024-06-03
    panel = tenant_panel(tables, "M")
    assert panel.index[panel.last_observed()] == pd.Timestamp("2024-05-01")  # June is not complete
    attrs = tables["customers"].set_index("customer_id")[["region", "category"]].astype(str)
    issued, _ = issue_freq(panel, "M", 3, _naive_everywhere(panel), 0, None, attrs)
    assert issued.groupby("series_id")["timestamp"].min().eq(pd.Timestamp("2024-06-01")).all()
