"""Complaint profile per customer as of a cutoff: counts, recency, categories, unresolved orders (pure).

Invariants
----------
- Only orders created on or before the cutoff day (UTC) are read, as for payments in
  :mod:`features.profiles`. An order closed after the cutoff counts as open at the cutoff, so changing or
  adding anything dated later (a new order, a later closing date, a resolution) never changes a row.
- Orders without a ``customer_id`` (anonymous channels) feed no customer's profile.
"""

from __future__ import annotations

import numpy as np
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
    ids = pd.Series(orders["customer_id"].dropna().astype(str).unique())
    cutoffs = pd.DataFrame({"customer_id": ids, "cutoff": day})
    out = complaint_features_at(orders, cutoffs, windows_days=windows_days, repeat_min_orders=repeat_min_orders,
                                repeat_window_days=repeat_window_days)  # fmt: skip
    out = out[out["complaints_total"] > 0].drop(columns="cutoff")
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def complaint_features_at(
    orders: pd.DataFrame,
    cutoffs: pd.DataFrame,
    *,
    windows_days: tuple[int, ...] = WINDOWS_DAYS,
    repeat_min_orders: int = REPEAT_MIN_ORDERS,
    repeat_window_days: int = REPEAT_WINDOW_DAYS,
) -> pd.DataFrame:
    """Complaint features of each (``customer_id``, ``cutoff`` day) row of `cutoffs`, in its order.

    The one implementation behind :func:`build_complaint_profile` (one cutoff for all) and per-bill training
    rows (each bill's issue date). Rows without orders get 0 counts, NaN recency and no top category.
    """
    keys = cutoffs[["customer_id", "cutoff"]].reset_index(drop=True)
    keys = keys.assign(customer_id=keys["customer_id"].astype(str), key=np.arange(len(keys)))
    created = pd.to_datetime(orders["created_at"], utc=True).dt.tz_convert(None)
    closed = (
        pd.to_datetime(orders["closed_at"], utc=True).dt.tz_convert(None)
        if "closed_at" in orders
        else pd.Series(pd.NaT, index=orders.index)
    )
    o = pd.DataFrame(
        {
            "customer_id": orders["customer_id"].astype("string").to_numpy(),
            "created_day": created.dt.normalize().to_numpy(),
            "closed_at": closed.to_numpy(),
            "category": (
                orders["category"] if "category" in orders else pd.Series(None, index=orders.index)
            ).to_numpy(),
        }
    ).dropna(subset=["customer_id"])
    pairs = keys.merge(o.astype({"customer_id": str}), on="customer_id", how="inner")
    pairs = pairs[pairs["created_day"] <= pairs["cutoff"]]  # created on or before the cutoff day
    pairs["age_days"] = (pairs["cutoff"] - pairs["created_day"]).dt.days  # 0 = created on the cutoff day
    end = pairs["cutoff"] + pd.Timedelta(days=1)
    pairs["open"] = pairs["closed_at"].isna() | (pairs["closed_at"] >= end)
    longest = max(windows_days)
    for w in windows_days:
        pairs[f"complaints_{w}d"] = pairs["age_days"] < w
    g = pairs.groupby("key")
    out = pd.DataFrame(index=pd.RangeIndex(len(keys)))
    for w in windows_days:
        out[f"complaints_{w}d"] = g[f"complaints_{w}d"].sum()
    out["complaints_total"] = g.size()
    out["days_since_last_complaint"] = g["age_days"].min().astype(float)
    out["open_orders"] = g["open"].sum()
    recent = pairs[pairs[f"complaints_{longest}d"] & pairs["category"].notna()]
    out[f"categories_{longest}d"] = recent.groupby("key")["category"].nunique()
    labelled = pairs[pairs["category"].notna()]
    tally = labelled.groupby(["key", "category"]).size().rename("n").reset_index()
    tally = tally.sort_values(["key", "n", "category"], ascending=[True, False, True], kind="stable")
    out["top_category"] = tally.drop_duplicates("key").set_index("key")["category"]
    repeat = pairs[pairs["age_days"] < repeat_window_days].groupby("key").size()
    out["is_repeat_complainer"] = repeat.reindex(out.index).fillna(0).to_numpy() >= repeat_min_orders
    counts = [c for c in out.columns if c.startswith(("complaints_", "open_", "categories_"))]
    out[counts] = out[counts].fillna(0.0).astype(float)
    out["top_category"] = out["top_category"].astype(object).where(out["top_category"].notna(), None)
    return pd.concat([keys[["customer_id", "cutoff"]], out], axis=1)


def add_complaint_features(profiles: pd.DataFrame, orders: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """`profiles` plus the complaint columns; customers without orders get 0 counts, NaN recency, False flag."""
    cp = build_complaint_profile(orders, as_of=as_of)
    out = profiles.merge(cp, on="customer_id", how="left")
    counts = [c for c in cp.columns if c.startswith(("complaints_", "open_", "categories_"))]
    out[counts] = out[counts].fillna(0.0)
    out["is_repeat_complainer"] = out["is_repeat_complainer"].fillna(False).astype(bool)
    return out
