"""build_profiles: one point-in-time feature row per customer, usage + payments (pure).

Invariants
----------
- Every column is computed from data known at ``as_of``: readings dated on or before it, bills
  issued on or before it, payments and interval readings whose UTC day is on or before it.
  Changing or adding anything dated later never changes a row.
- Customers whose ``start_date`` is after ``as_of`` are not yet customers and get no row.
- A customer with no readings or no bills gets NaN features with ``has_readings`` / ``has_bills``
  False; it never raises.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features import payments as pay
from features import usage
from features.asof import as_of_day, day_number, require_columns
from features.work_orders_profile import add_complaint_features
from features.work_orders_profile import feature_descriptions as complaint_descriptions

logger = logging.getLogger(__name__)

DAYS_PER_MONTH = 30.4375
CUSTOMER_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "category": ("category", "customer category (residential, commercial, ...)"),
    "tariff": ("category", "customer tariff"),
    "tenure_months": ("months", "months since the customer's supply start date"),
    "is_active": ("bool", "supply has not ended by the cutoff"),
}
FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    **CUSTOMER_DESCRIPTIONS,
    **usage.FEATURE_DESCRIPTIONS,
    **pay.FEATURE_DESCRIPTIONS,
}
"""column -> (unit, plain-English description) for every profile column except ``customer_id``."""
FEATURES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)
FEATURE_DESCRIPTIONS.update(complaint_descriptions())  # extra columns, only for tenants with work orders
FEATURE_VERSION = "1"


def _customer_frame(tables: dict[str, pd.DataFrame], day: pd.Timestamp) -> pd.DataFrame:
    """Customers known at `day` with category, tariff, tenure and activity."""
    if "customers" in tables:
        c = tables["customers"]
        require_columns(c, "customers", ("customer_id", "category", "tariff", "start_date"))
        c = c[c["start_date"] <= day]
        t = float(day_number(pd.Series([day]))[0])
        end = c["end_date"] if "end_date" in c else pd.Series(pd.NaT, index=c.index)
        return pd.DataFrame(
            {
                "customer_id": c["customer_id"].astype(str).to_numpy(),
                "category": c["category"].astype(str).to_numpy(),
                "tariff": c["tariff"].astype(str).to_numpy(),
                "tenure_months": (t - day_number(c["start_date"])) / DAYS_PER_MONTH,
                "is_active": (end.isna() | (end > day)).to_numpy(),
            }
        )
    ids = pd.unique(
        np.concatenate([tables[n]["customer_id"].astype(str).unique() for n in ("readings", "bills") if n in tables])
    )
    logger.warning("no customers table: profiles for %d ids seen in readings/bills, without attributes", len(ids))
    return pd.DataFrame(
        {"customer_id": ids, "category": None, "tariff": None, "tenure_months": np.nan, "is_active": True}
    )


def _usage_in_chunks(tables: dict[str, pd.DataFrame], day: pd.Timestamp, chunk_customers: int) -> pd.DataFrame:
    """:func:`usage.build_usage_profile` over blocks of `chunk_customers` customers, concatenated.

    Memory: the usage builder lays the last 365 days out as a dense customer x day grid with a few
    temporaries of the same size; building it per block of customers bounds that working set by the
    block instead of the tenant (100,000 customers x 365 days: ~1.3 GiB in one block). A customer's
    features depend only on its own readings (and its region's weather), so blocks give the same
    values as one pass (tested).
    """
    readings = tables["readings"]
    require_columns(readings, "readings", usage.READING_COLUMNS)
    codes, categories = usage.customer_codes(readings["customer_id"])
    if codes.dtype == np.int64 and len(categories) < 2**31:
        codes = codes.astype(np.int32)  # one per reading: half the memory
    kwargs = {k: tables.get(k) for k in ("customers", "weather", "interval_readings")}
    if len(categories) <= chunk_customers:
        return usage.build_usage_profile(readings, as_of=day, **kwargs)
    frames = []
    in_order = bool((codes[1:] >= codes[:-1]).all())  # stored customer by customer: blocks are slices
    for lo in range(0, len(categories), chunk_customers):
        hi = min(lo + chunk_customers, len(categories))
        if in_order:
            start, stop = np.searchsorted(codes, np.asarray([lo, hi], dtype=codes.dtype))  # no cast of codes
            rows = slice(int(start), int(stop))
        else:
            rows = np.flatnonzero((codes >= lo) & (codes < hi))
        block = pd.DataFrame(
            {
                "customer_id": pd.Categorical.from_codes(codes[rows] - lo, categories=categories[lo:hi]),
                "reading_date": readings["reading_date"].iloc[rows].reset_index(drop=True),
                "kwh": readings["kwh"].iloc[rows].reset_index(drop=True),
            }
        )
        del rows
        frames.append(usage.build_usage_profile(block, as_of=day, **kwargs))
        del block
    return pd.concat(frames, ignore_index=True)


def build_profiles(
    tables: dict[str, pd.DataFrame], *, as_of: pd.Timestamp, late_days: int = 30, chunk_customers: int = 25_000
) -> pd.DataFrame:
    """Usage and payment profile of every customer as of `as_of`.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        ``customers``, ``readings``, ``bills``, ``payments`` (validated, see :mod:`features.contracts`);
        ``weather`` and ``interval_readings`` optional. Missing readings/bills tables count as empty.
    as_of : pandas.Timestamp
        The cutoff day.
    late_days : int, default 30
        A bill is late when paid in full more than this many days after its due date.
    chunk_customers : int, default 25,000
        Usage features are built per block of this many customers (bounds peak memory; the values
        do not depend on it).

    Returns
    -------
    pandas.DataFrame, shape (n_customers, 1 + len(FEATURES))
        ``customer_id`` then :data:`FEATURES`, sorted by ``customer_id``.

    Raises
    ------
    ValueError
        `as_of` is not a timestamp, or `tables` is not a dict.
    ContractViolation
        A required column is missing (named in the message).
    """
    day = as_of_day(as_of)
    if not isinstance(tables, dict):
        raise ValueError(f"tables is {type(tables).__name__}; expected a dict of DataFrames")
    base = _customer_frame(tables, day)
    if chunk_customers < 1:
        raise ValueError(f"chunk_customers={chunk_customers}; expected >= 1")
    if "readings" in tables:
        u = _usage_in_chunks(tables, day, chunk_customers)
    else:
        u = pd.DataFrame(columns=["customer_id", *usage.FEATURES])
    if "bills" in tables:
        p = pay.build_payment_profile(
            tables["bills"], tables.get("payments", _no_payments()), as_of=day, late_days=late_days
        )
    else:
        p = pd.DataFrame(columns=["customer_id", *pay.FEATURES])
    out = base.merge(u, on="customer_id", how="left").merge(p, on="customer_id", how="left")
    flags = ("is_active", "has_readings", "has_bills", "has_interval")
    for col in FEATURES:
        if col in flags:
            out[col] = out[col].fillna(False).astype(bool)
        elif col not in ("category", "tariff"):
            out[col] = out[col].astype(float)
    out["customer_id"] = out["customer_id"].astype(str)
    out = out[["customer_id", *FEATURES]].sort_values("customer_id", kind="stable").reset_index(drop=True)
    if "work_orders" in tables:  # complaint columns (features/work_orders_profile.py) when the tenant has orders
        out = add_complaint_features(out, tables["work_orders"], as_of=day)
    logger.info(
        "profiles as of %s: %d customers, %d with readings, %d with bills",
        day.date(),
        len(out),
        int(out["has_readings"].sum()),
        int(out["has_bills"].sum()),
    )
    return out


def _no_payments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payment_id": pd.Series(dtype=str),
            "bill_id": pd.Series(dtype=str),
            "customer_id": pd.Series(dtype=str),
            "paid_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "amount": pd.Series(dtype=float),
            "channel": pd.Series(dtype=str),
        }
    )
