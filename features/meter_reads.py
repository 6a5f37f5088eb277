"""Per-read derivations of meter register reads as of a cutoff (pure, vectorised).

Each read of the ``meter_reads`` contract gets: its metered energy (``usage_kwh`` = (new - old) x
multiplier), its period length in days, its rate per 30 days, and flags an inspector reads directly:
a rollback (new index below old), an index gap (old index differs from the previous read's new
index on the same meter), a jump (rate above 5x the customer's median), a zero read, an estimated
or abnormal status, a remark. Peers' medians per (category, region, year, quarter) give each read a
ratio to its peers, so seasons and tariff changes that hit everyone cancel out.

Invariants
----------
- Only reads with ``read_date < as_of`` are used; a read on or after the cutoff changes nothing.
- Peers' medians use the same filtered reads, so they are point in time too.
- No per-row Python loop: sorts, ``groupby(...).shift``/``transform`` and numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

READ_COLUMNS = ("customer_id", "meter_id", "read_date", "old_index", "new_index", "status", "remark", "multiplier")
#: status values read as "the reading was estimated, not read" (case-insensitive)
ESTIMATED = ("estimated", "estimate", "e", "est")
#: a read's rate above this many times the customer's median rate is a jump
JUMP_FACTOR = 5.0
#: default period when a meter's first read has no previous read and no ``months`` column (days)
DEFAULT_PERIOD_DAYS = 30.0


def as_of_cutoff(reads: pd.DataFrame, as_of: pd.Timestamp | str | None) -> pd.Timestamp:
    """The cutoff: `as_of` as a naive day, or the day after the last read when None (whole history)."""
    if as_of is None:
        if reads.empty:
            raise ValueError("meter_reads: no reads, so no default cutoff; pass as_of")
        return pd.Timestamp(reads["read_date"].max()).normalize() + pd.Timedelta(days=1)
    ts = pd.Timestamp(as_of)
    return (ts.tz_convert(None) if ts.tzinfo is not None else ts).normalize()


def prepare_reads(reads: pd.DataFrame, customers: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """Reads before `as_of`, sorted by customer, meter and date, with per-read derived columns.

    Parameters
    ----------
    reads : pandas.DataFrame
        Validated ``meter_reads`` rows (optional ``billed_kwh``, ``months``, ``tariff`` used if present).
    customers : pandas.DataFrame, optional
        ``customer_id`` with ``category`` and ``region`` for peers; missing ones form one peer group.
    as_of : pandas.Timestamp
        Cutoff (naive day); reads on or after it are dropped first.

    Returns
    -------
    pandas.DataFrame
        One row per read kept, with ``usage_kwh`` (kWh), ``period_days`` (days), ``kwh_30d`` (kWh per
        30 days), ``peer_kwh_30d`` (peers' median), ``peer_ratio``, flags ``rollback``, ``index_gap``,
        ``jump``, ``zero``, ``estimated``,
        ``abnormal_status``, ``has_remark`` and ``age_days`` (days before the cutoff).
    """
    missing = [c for c in READ_COLUMNS if c not in reads.columns]
    if missing:
        raise ValueError(f"meter_reads: missing columns {missing}; expected {list(READ_COLUMNS)}")
    d = reads.loc[pd.to_datetime(reads["read_date"]) < as_of].copy()
    d["read_date"] = pd.to_datetime(d["read_date"])
    d = d.sort_values(["customer_id", "meter_id", "read_date"], kind="stable").reset_index(drop=True)
    old, new = d["old_index"].to_numpy(float), d["new_index"].to_numpy(float)
    mult = d["multiplier"].to_numpy(float)
    d["usage_kwh"] = np.clip(new - old, 0, None) * mult
    d["rollback"] = new < old
    by_meter = d.groupby(["customer_id", "meter_id"], sort=False)
    prev_new, prev_date = by_meter["new_index"].shift(1), by_meter["read_date"].shift(1)
    d["index_gap"] = (prev_new.notna() & (np.abs(prev_new.to_numpy(float) - old) > 0.5)).to_numpy()
    gap_days = (d["read_date"] - prev_date).dt.days.to_numpy(float)
    if "months" in d.columns:
        period = d["months"].to_numpy(float) * 30.44
        period = np.where(np.isfinite(period) & (period > 0), period, gap_days)
    else:
        period = gap_days
    d["period_days"] = np.where(np.isfinite(period) & (period > 0), period, DEFAULT_PERIOD_DAYS)
    d["kwh_30d"] = d["usage_kwh"] / d["period_days"] * 30.0
    d["zero"] = d["usage_kwh"].to_numpy() <= 0
    median = d.groupby("customer_id", sort=False)["kwh_30d"].transform("median").to_numpy()
    d["jump"] = d["kwh_30d"].to_numpy() > JUMP_FACTOR * np.maximum(median, 1.0)
    status = d["status"].astype(str).str.strip().str.lower()
    normal = status.mode().iloc[0] if len(status) else ""
    d["estimated"] = status.isin(ESTIMATED).to_numpy()
    d["abnormal_status"] = (status != normal).to_numpy()
    remark = d["remark"].astype("string").fillna("").str.strip()
    d["has_remark"] = (remark != "").to_numpy()
    d["age_days"] = (as_of - d["read_date"]).dt.days.to_numpy()
    d["peer_kwh_30d"] = _peer_median(d, customers)
    d["peer_ratio"] = d["kwh_30d"].to_numpy() / np.maximum(d["peer_kwh_30d"].to_numpy(), 1.0)
    return d


def _peer_median(d: pd.DataFrame, customers: pd.DataFrame | None) -> np.ndarray:
    """Median rate (kWh/30 days) of the peers' reads in each read's (category, region, year, quarter)."""
    if customers is not None and {"category", "region"} <= set(customers.columns):
        attrs = customers.drop_duplicates("customer_id").set_index("customer_id")[["category", "region"]]
        cat = d["customer_id"].map(attrs["category"]).astype(str).fillna("?")
        reg = d["customer_id"].map(attrs["region"]).astype(str).fillna("?")
    else:
        cat = reg = pd.Series("?", index=d.index)
    key = [cat, reg, d["read_date"].dt.year, d["read_date"].dt.quarter]
    return d["kwh_30d"].groupby(key).transform("median").to_numpy()
