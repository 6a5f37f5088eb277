"""Training sets for arrears risk: one row per bill, features as of its issue date, label after (pure).

Invariants
----------
- Every feature of a bill's row uses only data known on that bill's ``issue_date`` (the cutoff):
  bills issued on or before it, payments whose UTC day is on or before it, readings dated on or
  before it. Its own bill counts as issued and unpaid unless paid that same day.
- The label uses data up to ``label_as_of`` and is never an input to a feature. A label is known only
  once its outcome window has closed (``due_date + late_days <= label_as_of``); before that a bill paid
  on time is not yet "known 0" (only the bills that pay early would be, a censored sample). Rows whose
  window is still open are kept for scoring with ``label_known = False``.
- Feature names and meanings equal those of the as-of profile (:func:`features.profiles.build_profiles`),
  so a model fitted here scores a profile row directly.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.asof import as_of_day, day_number, lookup, require_columns
from features.payments import BILL_COLUMNS, PAYMENT_COLUMNS, _bill_facts, payment_features
from features.payments import FEATURE_DESCRIPTIONS as PAYMENT_DESCRIPTIONS
from features.usage import FEATURE_DESCRIPTIONS as USAGE_DESCRIPTIONS
from features.usage import LEVEL_WINDOWS_DAYS, level_features, trailing_grid

logger = logging.getLogger(__name__)

USAGE_LEVEL_WINDOWS_DAYS = LEVEL_WINDOWS_DAYS  # -> kwh_mean_30d, kwh_mean_90d, kwh_mean_365d (features.usage)
DAYS_PER_MONTH = 30.4375
USAGE_LEVEL_FEATURES = ("has_readings", *(f"kwh_mean_{w}d" for w in LEVEL_WINDOWS_DAYS))

CONTEXT_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "category": ("category", "customer category (residential, commercial, ...)"),
    "tariff": ("category", "customer tariff"),
    "tenure_months": ("months", "months since the customer's supply start date"),
    **{c: USAGE_DESCRIPTIONS[c] for c in USAGE_LEVEL_FEATURES},
}
FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = {**CONTEXT_DESCRIPTIONS, **PAYMENT_DESCRIPTIONS}
"""column -> (unit, plain-English description) for every feature column of the training set.

Every one of these columns also exists, with the same meaning, in the as-of profile
(:data:`features.profiles.FEATURES`), so a model fitted on the training set scores a profile row."""
FEATURES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)
LABEL_DESCRIPTIONS = {
    "label": (
        "bool",
        "1 if the bill was paid in full more than late_days after its due date,"
        " or is still unpaid that late at label_as_of",
    ),
    "label_known": (
        "bool",
        "the outcome window has closed at label_as_of (due_date + late_days <= label_as_of), paid or not",
    ),
}


def context_features(
    customers: pd.DataFrame | None,
    readings: pd.DataFrame | None,
    customer_id: pd.Series,
    cutoff: np.ndarray,
) -> pd.DataFrame:
    """Customer attributes and mean daily kWh per target (customer, cutoff day number).

    Invariants
    ----------
    ``tenure_months`` uses ``start_date`` (a static attribute); ``has_readings`` and the kWh means come
    from :func:`features.usage.level_features` (the profile's implementation) over readings with
    ``cutoff - 365 < reading_date <= cutoff`` only.
    """
    n = len(customer_id)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    if customers is not None and len(customers):
        idx = lookup(customer_id, customers["customer_id"])
        ok = idx >= 0
        for col in ("category", "tariff"):
            vals = customers[col].astype(object).to_numpy()[np.where(ok, idx, 0)] if col in customers else None
            out[col] = np.where(ok, vals, None) if vals is not None else None
        start = day_number(customers["start_date"])[np.where(ok, idx, 0)].astype(float)
        out["tenure_months"] = np.where(ok, (cutoff - start) / DAYS_PER_MONTH, np.nan)
    else:
        out["category"], out["tariff"], out["tenure_months"] = None, None, np.nan
    codes = pd.Index(pd.unique(customer_id)).astype(str)
    q_cust = lookup(customer_id, codes)
    if readings is not None and len(readings):
        r_cust = lookup(readings["customer_id"], codes)
        keep = r_cust >= 0
        r_cust, r_day = r_cust[keep], day_number(readings["reading_date"])[keep]
        r_kwh = readings["kwh"].to_numpy(dtype=float)[keep]
    else:
        r_cust, r_day, r_kwh = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    levels = {c: np.empty(n, dtype=bool if c == "has_readings" else float) for c in USAGE_LEVEL_FEATURES}
    for rows, grid, seen in trailing_grid(r_cust, r_day, r_kwh, q_cust, np.asarray(cutoff, dtype=np.int64)):
        for name, values in level_features(grid, seen).items():  # the profile's own implementation
            levels[name][rows] = values
    for name in USAGE_LEVEL_FEATURES:
        out[name] = levels[name]
    for col in ("category", "tariff"):  # plain strings, as in the profiles (the model sets categories)
        out[col] = pd.Series(out[col].to_numpy(), dtype="str")
    return out


def bill_labels(
    bills: pd.DataFrame, payments: pd.DataFrame, *, late_days: int, label_as_of: pd.Timestamp
) -> pd.DataFrame:
    """``label`` and ``label_known`` per bill (row order of `bills`) as known at `label_as_of`.

    The outcome window of a bill closes on ``due_date + late_days`` (payments on that UTC day count):
    from then on the label is final -- 1 when not paid in full by then -- and ``label_known`` is True.
    Before it, ``label_known`` is False whether or not the bill is already paid, so a set filtered on
    ``label_known`` is never censored towards the early payers.
    """
    cust = pd.Index(pd.unique(bills["customer_id"]))
    b, _ = _bill_facts(bills, payments, cust)
    day = day_number(pd.Series([label_as_of]))[0]
    due, full = b["due"].to_numpy(), b["full_day"].to_numpy()
    closed = due + late_days <= day
    paid_by_day = np.minimum(full, day + 1)  # a payment after label_as_of is not known yet
    label = closed & (paid_by_day - due > late_days)
    return pd.DataFrame({"label": label.astype(np.int8), "label_known": closed})


def build_arrears_training_set(
    tables: dict[str, pd.DataFrame], *, late_days: int = 30, label_as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per bill: identifiers, features as of its issue date, then ``label``, ``label_known``.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        ``bills`` and ``payments`` (required); ``customers`` and ``readings`` (optional, for
        category/tariff/tenure and kWh levels).
    late_days : int, default 30
        The label is 1 when a bill is paid in full more than `late_days` after its due date or is
        unpaid at `label_as_of` more than `late_days` after due. The same threshold defines "late"
        in the features.
    label_as_of : pandas.Timestamp, optional
        When outcomes are read. Default: the latest issue date or payment day in the data.

    Returns
    -------
    pandas.DataFrame, shape (n_bills, 4 + len(FEATURES) + 2)
        ``customer_id, bill_id, issue_date, due_date``, :data:`FEATURES`, ``label`` (int8),
        ``label_known`` (bool); sorted by ``issue_date, customer_id, bill_id``.

    Invariants
    ----------
    See the module docstring: features strictly as of ``issue_date``; label only afterwards.
    """
    if not isinstance(tables, dict):
        raise ValueError(f"tables is {type(tables).__name__}; expected a dict of DataFrames")
    for name, cols in (("bills", BILL_COLUMNS), ("payments", PAYMENT_COLUMNS)):
        if name not in tables:
            raise ValueError(f"tables has no {name!r}; expected keys bills, payments (customers, readings optional)")
        require_columns(tables[name], name, cols)
    if late_days < 0:
        raise ValueError(f"late_days={late_days}; expected >= 0")
    bills, payments = tables["bills"].reset_index(drop=True), tables["payments"]
    if label_as_of is None:
        latest = [bills["issue_date"].max()]
        if len(payments):
            latest.append(payments["paid_at"].max().tz_convert("UTC").tz_localize(None))
        label_as_of = max(pd.Timestamp(x) for x in latest if pd.notna(x))
    label_day = as_of_day(label_as_of, name="label_as_of")
    customers, readings = tables.get("customers"), tables.get("readings")
    if customers is not None:
        require_columns(customers, "customers", ("customer_id", "start_date"))
    if readings is not None:
        require_columns(readings, "readings", ("customer_id", "reading_date", "kwh"))

    targets = pd.DataFrame(
        {
            "customer_id": bills["customer_id"].to_numpy(),
            "cutoff": bills["issue_date"].to_numpy(),
            "bill_id": bills["bill_id"].to_numpy(),
        }
    )
    cutoff = day_number(targets["cutoff"])
    pay = payment_features(targets, bills, payments, late_days=late_days)
    ctx = context_features(customers, readings, targets["customer_id"], cutoff)
    labels = bill_labels(bills, payments, late_days=late_days, label_as_of=label_day)
    ids = bills[["customer_id", "bill_id", "issue_date", "due_date"]].reset_index(drop=True)
    out = pd.concat([ids, ctx, pay, labels], axis=1)[[*ids.columns, *FEATURES, "label", "label_known"]]
    out = out.sort_values(["issue_date", "customer_id", "bill_id"], kind="stable").reset_index(drop=True)
    logger.info(
        "arrears training set: %d bills, %d with known label, positive rate %.3f",
        len(out),
        int(out["label_known"].sum()),
        float(out.loc[out["label_known"], "label"].mean() if len(out) else np.nan),
    )
    return out
