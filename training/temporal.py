"""Temporal consistency of issued forecasts: hourly, daily and monthly totals of one series agree (pure).

The daily forecast is the anchor (it has the longest backtested history of the three):

* a month's P50 becomes the kWh already observed in that month plus the daily P50s of its remaining days,
  for every month the daily forecast covers to its end (the first month not yet complete included);
* an hour's P10/P50/P90 are scaled so that each day fully covered by the hourly forecast sums to that
  day's daily P50 (the hourly model keeps the shape within the day), for customers (hourly aggregates
  cover only the customers with interval meters, so they are not the daily aggregates of the same name).

Monthly P10/P90 move with their P50 (same offsets). Series present at one frequency only are unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["level", "key"]


def align_months(issued: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Monthly P50 = observed kWh of the month so far + daily P50 of its remaining days (covered months)."""
    daily, monthly = issued[issued["freq"] == "D"], issued[issued["freq"] == "M"]
    if daily.empty or monthly.empty:
        return issued
    seen = history[history["freq"] == "D"]
    month_of = lambda ts: pd.DatetimeIndex(ts).to_period("M").to_timestamp()  # noqa: E731
    fc = daily.assign(month=month_of(daily["timestamp"]))
    end = fc.groupby(KEYS)["timestamp"].transform("max")
    covered = fc[month_of(end + pd.Timedelta(days=1)) > fc["month"]]  # months the daily forecast finishes
    sums = covered.groupby([*KEYS, "month"])["p50"].sum().rename("d_p50")
    start = fc.groupby(KEYS)["timestamp"].min().rename("first")
    obs = seen.merge(start.reset_index(), on=KEYS)
    obs = obs[(obs["timestamp"] < obs["first"]) & (month_of(obs["timestamp"]) == month_of(obs["first"]))]
    observed = obs.assign(month=month_of(obs["timestamp"])).groupby([*KEYS, "month"])["y"].sum().rename("obs")
    target = pd.concat([sums, observed], axis=1).fillna({"obs": 0.0}).dropna(subset=["d_p50"])
    target = (target["d_p50"] + target["obs"]).rename("target").reset_index().rename(columns={"month": "timestamp"})
    m = monthly.merge(target, on=[*KEYS, "timestamp"], how="left")
    shift = (m["target"] - m["p50"]).fillna(0.0).to_numpy()
    m = m.drop(columns="target").assign(p10=m["p10"] + shift, p50=m["p50"] + shift, p90=m["p90"] + shift)
    m[["p10", "p50"]] = np.minimum(m[["p10", "p50"]].to_numpy(), m[["p50", "p50"]].to_numpy())
    return pd.concat([issued[issued["freq"] != "M"], m], ignore_index=True)


def align_hours(issued: pd.DataFrame) -> pd.DataFrame:
    """Scale hourly P10/P50/P90 so each fully covered day sums to the daily P50 of the same series."""
    daily = issued[(issued["freq"] == "D") & (issued["level"] == "customer")]
    hourly = issued[(issued["freq"] == "H") & (issued["level"] == "customer")]
    if daily.empty or hourly.empty:
        return issued
    h = hourly.assign(day=pd.DatetimeIndex(hourly["timestamp"]).normalize())
    per_day = h.groupby([*KEYS, "day"])["p50"].agg(["sum", "size"]).reset_index()
    per_day = per_day[per_day["size"] == 24].merge(
        daily[[*KEYS, "timestamp", "p50"]].rename(columns={"timestamp": "day", "p50": "d_p50"}), on=[*KEYS, "day"]
    )
    per_day["factor"] = np.where(per_day["sum"] > 1e-12, per_day["d_p50"] / per_day["sum"], 1.0)
    h = h.merge(per_day[[*KEYS, "day", "factor"]], on=[*KEYS, "day"], how="left")
    f = h.pop("factor").fillna(1.0).to_numpy()
    h = h.drop(columns="day").assign(p10=h["p10"] * f, p50=h["p50"] * f, p90=h["p90"] * f)
    rest = issued[~((issued["freq"] == "H") & (issued["level"] == "customer"))]
    return pd.concat([rest, h], ignore_index=True)


def align(issued: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Both alignments (see the module docstring)."""
    return align_hours(align_months(issued, history))
