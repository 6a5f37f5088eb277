"""Key-account view per customer as of a day: load profiles, peak demand, load factor, key-account flag (pure).

One row per customer: daily kWh over the last 28 days, the mean by weekday (8 weeks), the half-hourly
profile (mean kWh per half hour over 28 days, where the customer has interval readings), peak demand in kW
and when it happened, the load factor (mean kW / peak kW over the same 28 days), kWh over 365 days, and the
key-account flag with the rule that made it (contract flag, category, or top consumption share).

Invariants
----------
- Readings dated on or before ``as_of`` only (interval readings by their UTC day).
- Group-bys and pivots only: no per-customer Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import as_of_day

RECENT_DAYS, SHAPE_WEEKS, YEAR_DAYS = 28, 8, 365


def key_accounts(
    customers: pd.DataFrame,
    kwh_365d: pd.Series,
    *,
    flag_column: str | None = "key_account",
    categories: tuple[str, ...] = ("industrial",),
    top_share: float = 0.02,
) -> pd.DataFrame:
    """``key_account`` (bool) and ``key_account_basis`` per customer: the contract flag, then the category,
    then the top `top_share` of customers by kWh over 365 days (ties included)."""
    ids = customers["customer_id"].astype(str).to_numpy()
    basis = np.full(len(ids), None, dtype=object)
    if top_share > 0 and len(kwh_365d.dropna()):
        cut = kwh_365d.dropna().quantile(1 - top_share)
        top = (kwh_365d.reindex(ids) >= cut).to_numpy()
        basis[top] = f"top {top_share:.0%} by kWh over 365 days"
    if categories and "category" in customers:
        in_category = customers["category"].isin(categories).to_numpy()
        basis[in_category] = ("category " + customers["category"].astype(str)).to_numpy()[in_category]
    if flag_column and flag_column in customers:
        basis[customers[flag_column].fillna(False).to_numpy(dtype=bool)] = f"contract flag {flag_column}"
    keyed = pd.notna(basis).astype(bool)
    return pd.DataFrame(
        {"key_account": keyed, "key_account_basis": pd.Series(basis, dtype=object, index=ids)}, index=ids
    )


def _daily_grid(readings: pd.DataFrame, day: pd.Timestamp, days: int) -> pd.DataFrame:
    """Customers x the last `days` days (NaN where no reading)."""
    span = pd.date_range(day - pd.Timedelta(days=days - 1), day, freq="D")
    recent = readings[(readings["reading_date"] >= span[0]) & (readings["reading_date"] <= day)]
    return recent.pivot_table(index="customer_id", columns="reading_date", values="kwh", aggfunc="sum").reindex(
        columns=span
    )


def interval_view(interval: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Half-hourly profile (48 means), peak kW, its time and the load factor over the last 28 days."""
    end = (day + pd.Timedelta(days=1)).tz_localize("UTC")
    start = end - pd.Timedelta(days=RECENT_DAYS)
    recent = interval[(interval["read_at"] >= start) & (interval["read_at"] < end)]
    if recent.empty:
        return pd.DataFrame(columns=["interval_profile", "peak_kw", "peak_at", "load_factor"])
    step_h = recent.groupby("customer_id")["read_at"].diff().dt.total_seconds().median() / 3600 or 0.5
    slot = ((recent["read_at"].dt.hour * 60 + recent["read_at"].dt.minute) // int(step_h * 60)).rename("slot")
    profile = recent.groupby(["customer_id", slot])["kwh"].mean().unstack()
    kw = recent["kwh"] / step_h
    peak_pos = kw.groupby(recent["customer_id"]).idxmax()
    peak_kw = kw.loc[peak_pos.to_numpy()].to_numpy()
    mean_kw = kw.groupby(recent["customer_id"]).mean().reindex(peak_pos.index).to_numpy()
    return pd.DataFrame(
        {
            "interval_profile": list(profile.reindex(peak_pos.index).to_numpy().round(4)),
            "peak_kw": peak_kw,
            "peak_at": recent.loc[peak_pos.to_numpy(), "read_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "load_factor": mean_kw / np.where(peak_kw > 0, peak_kw, np.nan),
        },
        index=peak_pos.index,
    )


def build_customer_views(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: pd.Timestamp,
    flag_column: str | None = "key_account",
    categories: tuple[str, ...] = ("industrial",),
    top_share: float = 0.02,
) -> pd.DataFrame:
    """One row per customer of ``tables["customers"]`` (see module docstring); index ``customer_id``."""
    day = as_of_day(as_of)
    customers = tables["customers"]
    readings = tables["readings"]
    year = readings[(readings["reading_date"] > day - pd.Timedelta(days=YEAR_DAYS)) & (readings["reading_date"] <= day)]
    kwh_365d = year.groupby("customer_id")["kwh"].sum()
    recent = _daily_grid(readings, day, RECENT_DAYS)
    previous = _daily_grid(readings, day - pd.Timedelta(days=RECENT_DAYS), RECENT_DAYS)
    weeks = _daily_grid(readings, day, 7 * SHAPE_WEEKS)
    weekday = weeks.T.groupby(weeks.columns.dayofweek).mean().T.reindex(columns=range(7))
    ids = customers["customer_id"].astype(str).to_numpy()
    out = pd.DataFrame(index=pd.Index(ids, name="customer_id"))
    for col in ("category", "tariff", "region"):
        if col in customers:
            out[col] = customers[col].astype(str).to_numpy()
    out["kwh_365d"] = kwh_365d.reindex(ids).to_numpy()
    out["kwh_mean_28d"] = recent.mean(axis=1).reindex(ids).to_numpy()
    out["kwh_mean_prev_28d"] = previous.mean(axis=1).reindex(ids).to_numpy()
    out["kwh_var_28d"] = recent.var(axis=1).reindex(ids).to_numpy()
    out["daily_max_kwh_28d"] = recent.max(axis=1).reindex(ids).to_numpy()
    out["days_with_readings_28d"] = recent.notna().sum(axis=1).reindex(ids).fillna(0).astype(int).to_numpy()
    out["daily_28d"] = list(recent.reindex(ids).to_numpy().round(3))
    out["weekday_profile"] = list(weekday.reindex(ids).to_numpy().round(3))
    if "interval_readings" in tables:
        out = out.join(interval_view(tables["interval_readings"], day))
    for col in ("interval_profile", "peak_kw", "peak_at", "load_factor"):
        if col not in out:
            out[col] = None
    out = out.join(
        key_accounts(customers, kwh_365d, flag_column=flag_column, categories=categories, top_share=top_share)
    )
    return out.assign(as_of=day)
