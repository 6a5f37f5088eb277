"""Complaint profile per customer as of a cutoff: counts, recency, categories, unresolved orders (pure).

Invariants
----------
- Only orders created on or before the cutoff day (UTC) are read, as for payments in
  :mod:`features.profiles`. An order closed after the cutoff counts as open at the cutoff, so changing or
  adding anything dated later (a new order, a later closing date, a resolution) never changes a row.
- Orders without a ``customer_id`` (anonymous channels) feed no customer's profile.
"""

from __future__ import annotations

import pandas as pd

from features.asof import as_of_day

WINDOWS_DAYS = (90, 365)
REPEAT_MIN_ORDERS = 3
REPEAT_WINDOW_DAYS = 90


def feature_descriptions(windows_days: tuple[int, ...] = WINDOWS_DAYS) -> dict[str, tuple[str, str]]:
    """column -> (unit, description) of :func:`build_complaint_profile`'s output (names derived from windows)."""
    out = {
        f"complaints_{w}d": ("orders", f"work orders created in the {w} days up to the cutoff") for w in windows_days
    }
    return {
        **out,
        "complaints_total": ("orders", "work orders created up to the cutoff"),
        "days_since_last_complaint": ("days", "days from the latest work order to the cutoff (NaN: none)"),
        "open_orders": ("orders", "work orders not closed at the cutoff"),
        f"categories_{max(windows_days)}d": ("count", f"distinct categories in the {max(windows_days)} days"),
        "top_category": ("category", "most frequent category up to the cutoff (ties: alphabetical)"),
        "is_repeat_complainer": ("bool", f">= {REPEAT_MIN_ORDERS} orders in the last {REPEAT_WINDOW_DAYS} days"),
    }


def build_complaint_profile(
    orders: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    windows_days: tuple[int, ...] = WINDOWS_DAYS,
    repeat_min_orders: int = REPEAT_MIN_ORDERS,
    repeat_window_days: int = REPEAT_WINDOW_DAYS,
) -> pd.DataFrame:
    """One row per customer with at least one order up to `as_of` (see the module invariants).

    Parameters
    ----------
    orders : pandas.DataFrame
        Validated ``work_orders`` (``customer_id``, ``created_at``; ``closed_at`` and ``category`` optional).
    as_of : pandas.Timestamp
        The cutoff day.
    windows_days : tuple of int
        Count windows, each giving ``complaints_<w>d``.
    repeat_min_orders, repeat_window_days : int
        A repeat complainer has at least this many orders in this many days.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` then the columns of :func:`feature_descriptions`.
    """
    day = as_of_day(as_of)
    end = day + pd.Timedelta(days=1)  # first instant after the cutoff day
    created = pd.to_datetime(orders["created_at"], utc=True).dt.tz_convert(None)
    known = orders["customer_id"].notna().to_numpy() & (created < end).to_numpy()
    o = orders.loc[known]
    created = created[known]
    age_days = (day - created.dt.normalize()).dt.days.to_numpy()  # 0 = created on the cutoff day
    closed = (
        pd.to_datetime(o["closed_at"], utc=True).dt.tz_convert(None)
        if "closed_at" in o
        else pd.Series(pd.NaT, index=o.index)
    )
    frame = pd.DataFrame(
        {
            "customer_id": o["customer_id"].astype(str).to_numpy(),
            "age_days": age_days,
            "open": (closed.isna() | (closed >= end)).to_numpy(),
            "category": (o["category"] if "category" in o else pd.Series(None, index=o.index)).to_numpy(),
        }
    )
    for w in windows_days:
        frame[f"complaints_{w}d"] = frame["age_days"] < w
    frame["repeat_window"] = frame["age_days"] < repeat_window_days
    g = frame.groupby("customer_id", sort=True)
    out = pd.DataFrame({f"complaints_{w}d": g[f"complaints_{w}d"].sum() for w in windows_days})
    out["complaints_total"] = g.size()
    out["days_since_last_complaint"] = g["age_days"].min().astype(float)
    out["open_orders"] = g["open"].sum()
    longest = max(windows_days)
    recent = frame[frame[f"complaints_{longest}d"] & frame["category"].notna()]
    out[f"categories_{longest}d"] = recent.groupby("customer_id")["category"].nunique().reindex(out.index).fillna(0)
    labelled = frame[frame["category"].notna()]
    if len(labelled):
        tally = labelled.groupby(["customer_id", "category"]).size().rename("n").reset_index()
        tally = tally.sort_values(["customer_id", "n", "category"], ascending=[True, False, True], kind="stable")
        out["top_category"] = tally.drop_duplicates("customer_id").set_index("customer_id")["category"]
    else:
        out["top_category"] = None
    out["is_repeat_complainer"] = g["repeat_window"].sum() >= repeat_min_orders
    counts = [c for c in out.columns if c.startswith(("complaints_", "open_", "categories_"))]
    out[counts] = out[counts].astype(float)
    return out.reset_index()


def add_complaint_features(profiles: pd.DataFrame, orders: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """`profiles` plus the complaint columns; customers without orders get 0 counts, NaN recency, False flag."""
    cp = build_complaint_profile(orders, as_of=as_of)
    out = profiles.merge(cp, on="customer_id", how="left")
    counts = [c for c in cp.columns if c.startswith(("complaints_", "open_", "categories_"))]
    out[counts] = out[counts].fillna(0.0)
    out["is_repeat_complainer"] = out["is_repeat_complainer"].fillna(False).astype(bool)
    return out
