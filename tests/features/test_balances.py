"""Balance alerts (each level, point in time) and bill-shock warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.balances import EXHAUSTED, build_alerts, low_balance_alerts, unit_rates

DAY = pd.Timestamp("2024-03-20")


def readings(kwh_per_day: dict[str, float], start: str = "2024-02-01", end: str = "2024-03-20") -> pd.DataFrame:
    days = pd.date_range(start, end, freq="D")
    return pd.DataFrame(
        {
            "customer_id": np.repeat(list(kwh_per_day), len(days)),
            "reading_date": np.tile(days, len(kwh_per_day)),
            "kwh": np.repeat(list(kwh_per_day.values()), len(days)),
        }
    )


def bills(ids: list[str], amount: float = 30.0, kwh: float = 300.0) -> pd.DataFrame:
    issue = pd.to_datetime(["2023-10-05", "2023-11-05", "2023-12-05", "2024-01-05", "2024-02-05", "2024-03-05"])
    return pd.DataFrame(
        {
            "customer_id": np.repeat(ids, len(issue)),
            "issue_date": np.tile(issue, len(ids)),
            "kwh": kwh,
            "amount": amount,
        }
    )


RATE = pd.Series({"P": 0.1}, name="unit_rate")  # 10 kWh/day x 0.1 = 1.0 per day


@pytest.mark.parametrize(
    ("balance", "level"),
    [
        pytest.param(20.0, None, id="20_days_no_alert"),
        pytest.param(7.0, "7d", id="7_days"),
        pytest.param(5.5, "7d", id="5.5_days"),
        pytest.param(3.0, "3d", id="3_days"),
        pytest.param(1.0, "1d", id="1_day"),
        pytest.param(0.5, "1d", id="half_a_day"),
        pytest.param(0.0, EXHAUSTED, id="empty"),
        pytest.param(-4.0, EXHAUSTED, id="in_debt"),
    ],
)
def test_each_alert_level(balance, level):
    bal = pd.DataFrame({"customer_id": ["P"], "as_of": [DAY], "balance": [balance]})
    out = low_balance_alerts(bal, readings({"P": 10.0}), RATE, as_of=DAY)
    if level is None:
        assert out.empty
    else:
        assert out["level"].tolist() == [level]
        assert out["days_left"].iloc[0] == pytest.approx(balance)
        assert out["daily_cost"].iloc[0] == pytest.approx(1.0)


def test_configured_levels_are_used():
    bal = pd.DataFrame({"customer_id": ["P"], "as_of": [DAY], "balance": [12.0]})
    out = low_balance_alerts(bal, readings({"P": 10.0}), RATE, as_of=DAY, alert_days=(14, 2))
    assert out["level"].tolist() == ["14d"]


def test_usage_since_the_balance_was_reported_is_burnt():
    bal = pd.DataFrame({"customer_id": ["P"], "as_of": [DAY - pd.Timedelta(days=4)], "balance": [6.0]})
    out = low_balance_alerts(bal, readings({"P": 10.0}), RATE, as_of=DAY)
    assert out["balance"].iloc[0] == pytest.approx(2.0) and out["level"].tolist() == ["3d"]


def test_a_later_balance_top_up_is_not_seen_point_in_time():
    bal = pd.DataFrame({"customer_id": ["P", "P"], "as_of": [DAY, DAY + pd.Timedelta(days=1)], "balance": [2.0, 500.0]})
    assert low_balance_alerts(bal, readings({"P": 10.0}), RATE, as_of=DAY)["level"].tolist() == ["3d"]


def test_unit_rate_from_recent_bills_or_the_tariff():
    b = bills(["A"], amount=30.0, kwh=300.0)
    customers = pd.DataFrame({"customer_id": ["A"], "tariff": ["tou"]})
    assert unit_rates(b, customers, DAY, {}).loc["A"] == pytest.approx(0.1)
    assert unit_rates(b, customers, DAY, {"tou": 0.2}).loc["A"] == pytest.approx(0.2)


def test_bill_shock_warns_only_far_above_the_usual_bill_and_not_prepaid():
    # usual bill 30 at 0.1/kWh = 300 kWh a month (~10/day); S uses 20/day this month, N 11/day, P 30/day (prepaid)
    r = readings({"S": 10.0, "N": 10.0, "P": 10.0}, end="2024-02-29")
    month = readings({"S": 20.0, "N": 11.0, "P": 30.0}, start="2024-03-01", end="2024-03-20")
    tables = {
        "readings": pd.concat([r, month], ignore_index=True),
        "bills": bills(["S", "N", "P"]),
        "balances": pd.DataFrame({"customer_id": ["P"], "as_of": [DAY], "balance": [500.0]}),
    }
    out = build_alerts(tables, as_of=DAY)
    assert out["customer_id"].tolist() == ["S"] and out["kind"].tolist() == ["bill_shock"]
    assert out["projected_bill"].iloc[0] == pytest.approx(20 * 31 * 0.1)
    assert out["usual_bill"].iloc[0] == pytest.approx(30.0)


def test_bill_shock_needs_enough_days_of_the_month():
    month = readings({"S": 50.0}, start="2024-03-01", end="2024-03-03")
    tables = {"readings": month, "bills": bills(["S"])}
    assert build_alerts(tables, as_of=pd.Timestamp("2024-03-03")).empty


def test_recommended_action_never_puts_a_protected_customer_under_load_control():
    bal = pd.DataFrame({"customer_id": ["P", "M", "K", "Q"], "as_of": [DAY] * 4, "balance": [-1.0, -1.0, -1.0, 5.0]})
    customers = pd.DataFrame(
        {
            "customer_id": ["P", "M", "K", "Q"],
            "medical": pd.array([False, True, False, False], dtype="boolean"),
            "key_account": pd.array([False, False, True, None], dtype="boolean"),
        }
    )
    tables = {
        "readings": readings({c: 10.0 for c in "PMKQ"}),
        "bills": bills(list("PMKQ")),
        "balances": bal,
        "customers": customers,
    }
    out = build_alerts(tables, as_of=DAY).set_index("customer_id")["recommended_action"]
    assert out["P"].startswith("load control")
    assert out["M"] == "welfare call; no load control (protected customer)"
    assert out["K"] == "key-account manager call before any load control"
    assert out["Q"] == "balance reminder SMS"
