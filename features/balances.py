"""Balance alerts for prepaid / deposit customers and bill-shock warnings for post-paid ones (pure).

Low balance: the latest balance reported on or before ``as_of``, less what the customer burnt since it was
reported, divided by the daily cost (mean daily kWh over the last ``window_days`` x unit rate) gives the
days of credit left; the alert level is the smallest of ``alert_days`` (e.g. 7 / 3 / 1) it is within,
``exhausted`` at or below zero. The unit rate is the tariff's (``unit_rates``) or, without one, the
customer's own recent bills (amount / kWh, standing charges included).

Bill shock: for customers without a balance, the running month's kWh so far, projected to the whole
month at its daily mean and priced at the unit rate, against the median of the customer's last six bills;
a projection of ``shock_ratio`` times the usual bill or more is a warning.

Invariants
----------
- Only data known at ``as_of`` is used: balances reported, readings dated and bills issued on or before it.
- No per-customer Python: group-bys and vectorised arithmetic only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import as_of_day

ALERT_COLUMNS = (
    "customer_id",
    "kind",
    "level",
    "days_left",
    "balance",
    "daily_cost",
    "projected_bill",
    "usual_bill",
)
#: what the collections team does at each level (load control only for customers neither protected nor key)
ACTIONS = {
    "7d": "balance reminder SMS",
    "3d": "balance reminder SMS + top-up link",
    "1d": "urgent top-up call",
    "exhausted": "load control (remote limit) after a final notice",
    "warning": "bill-shock warning SMS",
}
PROTECTED_ACTION = "welfare call; no load control (protected customer)"
KEY_ACCOUNT_ACTION = "key-account manager call before any load control"
PROTECTION_FLAGS = ("medical", "priority_services", "elderly", "low_income")
EXHAUSTED = "exhausted"
BILLS_FOR_RATE, BILLS_FOR_USUAL = 3, 6


def unit_rates(
    bills: pd.DataFrame, customers: pd.DataFrame | None, day: pd.Timestamp, tariff_rates: dict[str, float]
) -> pd.Series:
    """Price per kWh per customer: the tariff's rate when configured, else amount / kWh of the customer's
    last three bills issued by `day` (NaN without either)."""
    known = bills[bills["issue_date"] <= day].sort_values(["customer_id", "issue_date"], kind="stable")
    recent = known.groupby("customer_id", sort=False).tail(BILLS_FOR_RATE)
    sums = recent.groupby("customer_id")[["amount", "kwh"]].sum()
    rate = (sums["amount"] / sums["kwh"].where(sums["kwh"] > 0)).rename("unit_rate")
    if tariff_rates and customers is not None and "tariff" in customers:
        by_tariff = customers.set_index("customer_id")["tariff"].map(tariff_rates).dropna()
        rate = by_tariff.combine_first(rate)
    return rate.rename("unit_rate")


def _level(days_left: np.ndarray, alert_days: tuple[int, ...]) -> np.ndarray:
    levels = np.full(len(days_left), None, dtype=object)
    for days in sorted(alert_days, reverse=True):  # tighter levels overwrite looser ones
        levels[days_left <= days] = f"{days}d"
    levels[days_left <= 0] = EXHAUSTED
    return levels


def low_balance_alerts(
    balances: pd.DataFrame,
    readings: pd.DataFrame,
    rates: pd.Series,
    *,
    as_of: pd.Timestamp,
    alert_days: tuple[int, ...] = (7, 3, 1),
    window_days: int = 14,
) -> pd.DataFrame:
    """One row per customer with a balance whose credit runs out within ``max(alert_days)`` days.

    Returns
    -------
    pandas.DataFrame
        :data:`ALERT_COLUMNS` (``kind`` = ``low_balance``; ``balance`` is the projected balance at `as_of`,
        currency; ``daily_cost`` currency/day; ``days_left`` days), most urgent first.
    """
    day = as_of_day(as_of)
    known = balances[balances["as_of"] <= day].sort_values(["customer_id", "as_of"], kind="stable")
    latest = known.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    recent = readings[
        (readings["reading_date"] > day - pd.Timedelta(days=window_days)) & (readings["reading_date"] <= day)
    ]
    kwh_per_day = recent.groupby("customer_id")["kwh"].mean()
    frame = latest[["as_of", "balance"]].join(kwh_per_day.rename("kwh_per_day")).join(rates)
    daily_cost = (frame["kwh_per_day"] * frame["unit_rate"]).to_numpy(dtype=float)
    elapsed = (day - frame["as_of"]).dt.days.to_numpy(dtype=float)
    balance = frame["balance"].to_numpy(dtype=float) - np.nan_to_num(daily_cost) * elapsed
    with np.errstate(divide="ignore", invalid="ignore"):
        days_left = np.where(daily_cost > 0, balance / daily_cost, np.where(balance <= 0, 0.0, np.inf))
    level = _level(days_left, alert_days)
    out = pd.DataFrame(
        {
            "customer_id": frame.index.astype(str),
            "kind": "low_balance",
            "level": level,
            "days_left": days_left,
            "balance": balance,
            "daily_cost": daily_cost,
            "projected_bill": np.nan,
            "usual_bill": np.nan,
        }
    )
    out = out[out["level"].notna()].sort_values(["days_left", "customer_id"], kind="stable")
    return out.reset_index(drop=True)[list(ALERT_COLUMNS)]


def bill_shock_alerts(
    bills: pd.DataFrame,
    readings: pd.DataFrame,
    rates: pd.Series,
    *,
    as_of: pd.Timestamp,
    exclude: pd.Index | None = None,
    ratio: float = 1.5,
    min_days: int = 7,
) -> pd.DataFrame:
    """One row per post-paid customer whose running month projects at `ratio` x their usual bill or more."""
    day = as_of_day(as_of)
    month_start = day.replace(day=1)
    in_month = readings[(readings["reading_date"] >= month_start) & (readings["reading_date"] <= day)]
    month = in_month.groupby("customer_id")["kwh"].agg(["sum", "count"])
    month = month[month["count"] >= min_days]
    known = bills[bills["issue_date"] <= day].sort_values(["customer_id", "issue_date"], kind="stable")
    usual = known.groupby("customer_id", sort=False).tail(BILLS_FOR_USUAL).groupby("customer_id")["amount"].median()
    frame = month.join(usual.rename("usual_bill"), how="inner").join(rates)
    if exclude is not None:
        frame = frame[~frame.index.isin(exclude)]
    projected = frame["sum"] / frame["count"] * day.days_in_month * frame["unit_rate"]
    shock = (frame["usual_bill"] > 0) & (projected >= ratio * frame["usual_bill"])
    out = pd.DataFrame(
        {
            "customer_id": frame.index[shock].astype(str),
            "kind": "bill_shock",
            "level": "warning",
            "days_left": np.nan,
            "balance": np.nan,
            "daily_cost": (frame["sum"] / frame["count"] * frame["unit_rate"])[shock].to_numpy(),
            "projected_bill": projected[shock].to_numpy(),
            "usual_bill": frame["usual_bill"][shock].to_numpy(),
        }
    )
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)[list(ALERT_COLUMNS)]


def build_alerts(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: pd.Timestamp,
    alert_days: tuple[int, ...] = (7, 3, 1),
    window_days: int = 14,
    shock_ratio: float = 1.5,
    shock_min_days: int = 7,
    tariff_rates: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The day's alert list: low-balance alerts (most urgent first), then bill-shock warnings."""
    day = as_of_day(as_of)
    readings, bills = tables["readings"], tables["bills"]
    rates = unit_rates(bills, tables.get("customers"), day, tariff_rates or {})
    balances = tables.get("balances")
    parts, prepaid = [], pd.Index([])
    if balances is not None and len(balances):
        prepaid = pd.Index(balances.loc[balances["as_of"] <= day, "customer_id"].astype(str).unique())
        parts.append(
            low_balance_alerts(balances, readings, rates, as_of=day, alert_days=alert_days, window_days=window_days)
        )
    parts.append(
        bill_shock_alerts(
            bills, readings, rates, as_of=day, exclude=prepaid, ratio=shock_ratio, min_days=shock_min_days
        )
    )
    alerts = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return recommend(alerts, tables.get("customers")).assign(as_of=day)


def recommend(alerts: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """``recommended_action`` per alert: by level, except that an exhausted balance of a protected customer
    gets a welfare call and a key account its manager's call instead of load control (vectorised)."""
    action = alerts["level"].map(ACTIONS).astype(object).to_numpy()
    if customers is not None and len(alerts):
        info = customers.drop_duplicates("customer_id").set_index("customer_id").reindex(alerts["customer_id"])
        flags = [c for c in PROTECTION_FLAGS if c in info]
        protected = info[flags].fillna(False).astype(bool).any(axis=1).to_numpy() if flags else False
        key = info["key_account"].fillna(False).astype(bool).to_numpy() if "key_account" in info else False
        exhausted = (alerts["level"] == EXHAUSTED).to_numpy()
        action = np.where(exhausted & key, KEY_ACCOUNT_ACTION, action)
        action = np.where(exhausted & protected, PROTECTED_ACTION, action)
    return alerts.assign(recommended_action=pd.Series(action, index=alerts.index, dtype=object))
