"""A tenant's hierarchy at one frequency: the served method is chosen by a backtest of what is served."""

from __future__ import annotations

import pytest

from tests.conftest import make_tenant
from training.forecast_tenant import evaluate_freq, tenant_panel


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
