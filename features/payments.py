"""Per-customer payment profile as of a cutoff: billing level, lateness, arrears, channels (pure).

One engine, :func:`payment_features`, computes the features for any set of *targets* — a
``(customer_id, cutoff day)`` pair each. :func:`build_payment_profile` uses one target per customer
(cutoff = ``as_of``); :mod:`features.training_sets` uses one target per bill (cutoff = the bill's
issue date). Both therefore produce the same columns with the same meaning.

Invariants
----------
- Only bills with ``issue_date <= cutoff`` are seen; bills issued later never change a row.
- Only payments whose UTC day is ``<= cutoff`` count. A bill's paid amount, paid-in-full day and
  lateness are re-derived *as known at the cutoff*: a bill paid late after the cutoff is, at the
  cutoff, simply unpaid (and late only if ``cutoff - due_date > late_days``).
- Counts are 0 (not NaN) for a customer with bills; ratios with an empty denominator are NaN.

Vectorised: targets x earlier bills are expanded once (merge on an integer customer code), the
amount paid by each cutoff comes from one ``merge_asof`` on per-bill cumulative payments, and every
aggregate is a ``np.bincount`` over target codes.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.asof import NEVER, as_of_day, day_number, lookup, months_back, require_columns
from features.contracts import CHANNELS

logger = logging.getLogger(__name__)

BILL_COLUMNS = ("bill_id", "customer_id", "issue_date", "due_date", "kwh", "amount")
PAYMENT_COLUMNS = ("payment_id", "bill_id", "customer_id", "paid_at", "amount", "channel")
PAYMENT_WINDOWS_MONTHS = (3, 6, 12)  # -> bills_3m, bills_6m, bills_12m
HISTORY_MONTHS = 12  # window for ratios, lateness and channel mix -> *_12m
EPS = 0.005  # money: half a cent counts as paid
DAYS_PER_MONTH = 30.4375


def _describe() -> dict[str, tuple[str, str]]:
    d: dict[str, tuple[str, str]] = {"has_bills": ("bool", "customer has at least one bill issued by the cutoff")}
    for m in PAYMENT_WINDOWS_MONTHS:
        d[f"bills_{m}m"] = ("count", f"bills issued in the {m} months up to the cutoff")
    h = HISTORY_MONTHS
    d |= {
        "bills_total": ("count", "bills issued up to the cutoff, all history"),
        f"on_time_ratio_{h}m": (
            "ratio",
            f"share of bills issued in the last {h} months and due by the cutoff"
            " that were paid in full by their due date",
        ),
        f"days_late_mean_{h}m": (
            "days",
            "mean days between due date and full payment (or the cutoff, if still unpaid)"
            f" over bills issued in the last {h} months that are due; 0 when paid on time",
        ),
        f"days_late_max_{h}m": ("days", f"worst days late over bills issued in the last {h} months that are due"),
        f"late_bills_{h}m": (
            "count",
            f"bills issued in the last {h} months known late at the cutoff"
            " (paid, or still unpaid, more than late_days after due)",
        ),
        "late_bills_total": ("count", "bills known late at the cutoff, all history"),
        "unpaid_past_due_bills": ("count", "bills past their due date and not paid in full at the cutoff"),
        "arrears_amount": ("currency", "unpaid amount on bills past their due date at the cutoff"),
        "arrears_age_days": ("days", "days since the due date of the oldest bill still in arrears; 0 when none"),
        "outstanding_amount": ("currency", "unpaid amount on all issued bills, due or not, at the cutoff"),
        "late_streak_max": ("count", "longest run of consecutive bills (in issue order) known late at the cutoff"),
        "months_since_last_late": (
            "months",
            "months since a bill last crossed the late threshold (due date + late_days); NaN if never late",
        ),
        f"payments_{h}m": ("count", f"payments received in the last {h} months"),
        f"partial_payments_{h}m": (
            "count",
            f"payments received in the last {h} months that left their bill not fully paid",
        ),
        "billing_tenure_months": ("months", "months since the customer's first bill was issued"),
        "bill_amount_last": (
            "currency",
            "amount of the latest bill issued by the cutoff (in a training set: the bill being scored)",
        ),
        f"bill_amount_mean_{h}m": ("currency", f"mean amount of bills issued in the last {h} months"),
        "bill_amount_change_prev3": (
            "ratio",
            "latest bill amount / mean of the 3 bills before it - 1; NaN without earlier bills",
        ),
        "bill_kwh_last": ("kWh", "energy billed on the latest bill issued by the cutoff"),
        "bill_kwh_change_prev3": (
            "ratio",
            "latest billed kWh / mean of the 3 bills before it - 1; NaN without earlier bills",
        ),
    }
    for c in CHANNELS:
        d[f"channel_share_{c}_{h}m"] = (
            "ratio",
            f"share of payments in the last {h} months made by {c.replace('_', ' ')}",
        )
    return d


FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = _describe()
"""column -> (unit, plain-English description) for every payment feature."""
FEATURES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)


def _sorted(df: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """Rows of `df` stably sorted by `keys` (numpy lexsort; first key most significant)."""
    return df.iloc[np.lexsort([df[k].to_numpy() for k in reversed(keys)])]


def _instant(at: pd.Series) -> np.ndarray:
    """UTC timestamps as sortable integers in their native unit (no object conversion)."""
    if isinstance(at.dtype, pd.DatetimeTZDtype):
        at = at.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(at).to_numpy().view(np.int64)


def _bill_facts(
    bills: pd.DataFrame, payments: pd.DataFrame, customer_codes: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bills as integer day numbers plus paid-in-full day; payments with cumulative paid per bill."""
    b = pd.DataFrame(
        {
            "cust": lookup(bills["customer_id"], customer_codes),
            "bill": np.arange(len(bills)),
            "issue": day_number(bills["issue_date"]),
            "due": day_number(bills["due_date"]),
            "amount": bills["amount"].to_numpy(dtype=float),
            "kwh": bills["kwh"].to_numpy(dtype=float),
        }
    )
    p = pd.DataFrame(
        {
            "bill": lookup(payments["bill_id"], bills["bill_id"]),
            "cust": lookup(payments["customer_id"], customer_codes),
            "paid_at": _instant(payments["paid_at"]),
            "day": day_number(payments["paid_at"]),
            "paid": payments["amount"].to_numpy(dtype=float),
            "channel": lookup(payments["channel"], pd.Index(CHANNELS)),  # -1: unknown or missing
        }
    )
    unknown = int((p["bill"] < 0).sum())
    if unknown:  # payments on bills not (yet) issued at the cutoff, or unknown bills
        logger.debug("payments: %d rows for bills not in the bills frame ignored", unknown)
    p = p[p["bill"] >= 0]
    p = p.iloc[np.lexsort((p["paid_at"].to_numpy(), p["bill"].to_numpy()))].reset_index(drop=True)
    p["cum_paid"] = p.groupby("bill", sort=False)["paid"].cumsum()
    p["partial"] = p["cum_paid"].to_numpy() < b["amount"].to_numpy()[p["bill"].to_numpy()] - EPS
    full = p.loc[~p["partial"]].groupby("bill")["day"].min()
    b["full_day"] = NEVER
    b.loc[full.index, "full_day"] = full.to_numpy()
    b.loc[b["amount"] <= EPS, "full_day"] = b["issue"]
    return b, p


def _streak_max(tid: np.ndarray, late: np.ndarray, n: int) -> np.ndarray:
    """Longest run of True per target in arrays sorted by target, then issue order."""
    pos = np.arange(len(tid))
    start = np.ones(len(tid), dtype=bool)
    start[1:] = tid[1:] != tid[:-1]
    brk = np.where(~late, pos, np.where(start, pos - 1, -1))
    last_break = np.maximum.accumulate(brk) if len(brk) else brk
    run = np.where(late, pos - last_break, 0).astype(float)
    out = np.zeros(n)
    np.maximum.at(out, tid, run)
    return out


def payment_features(
    targets: pd.DataFrame, bills: pd.DataFrame, payments: pd.DataFrame, *, late_days: int = 30
) -> pd.DataFrame:
    """Payment features for each target row (``customer_id``, ``cutoff`` day, optional ``bill_id``).

    Parameters
    ----------
    targets : pandas.DataFrame, shape (n_targets, 2 or 3)
        ``customer_id``, ``cutoff`` (datetime64 calendar day) and, for training rows, ``bill_id`` of
        the bill being scored (it is then ordered last among bills issued the same day).
    bills, payments : pandas.DataFrame
        Tables as in :mod:`features.contracts`; only bills/payments of target customers are used.
    late_days : int
        A bill is *late* when paid in full more than this many days after its due date.

    Returns
    -------
    pandas.DataFrame, shape (n_targets, len(FEATURES))
        Row ``i`` describes target ``i``; index is ``targets``' positional range.
    """
    n = len(targets)
    cust_index = pd.Index(pd.unique(targets["customer_id"])).astype(str)
    b, p = _bill_facts(bills, payments, cust_index)
    b = b[b["cust"] >= 0]
    p = p[p["cust"] >= 0]
    cutoff = day_number(targets["cutoff"])
    tgt = pd.DataFrame({"tid": np.arange(n), "cust": lookup(targets["customer_id"], cust_index), "t": cutoff})
    if "bill_id" in targets:
        tgt["own"] = lookup(targets["bill_id"], bills["bill_id"])
    start = {m: months_back(cutoff, m) for m in PAYMENT_WINDOWS_MONTHS}
    hist_start = start[HISTORY_MONTHS] if HISTORY_MONTHS in start else months_back(cutoff, HISTORY_MONTHS)

    # targets x bills issued by the cutoff, sorted by target, issue day, own bill last
    pr = tgt.merge(b, on="cust", how="inner")
    pr = pr[pr["issue"].to_numpy() <= pr["t"].to_numpy()]
    own = (pr["bill"].to_numpy() == pr["own"].to_numpy()) if "own" in pr else np.zeros(len(pr), dtype=bool)
    order = np.lexsort((pr["bill"].to_numpy(), own, pr["issue"].to_numpy(), pr["tid"].to_numpy()))
    pr = pr.iloc[order].reset_index(drop=True)
    # amount paid on each bill as known at each cutoff (cumulative, latest payment day <= cutoff)
    paid = pd.merge_asof(
        _sorted(pr[["t", "bill"]].assign(row=np.arange(len(pr))), "t"),
        _sorted(p[["day", "bill", "cum_paid"]], "day", "cum_paid"),
        left_on="t",
        right_on="day",
        by="bill",
        direction="backward",
    )
    paid_by_t = np.zeros(len(pr))
    paid_by_t[paid["row"].to_numpy()] = paid["cum_paid"].fillna(0.0).to_numpy()

    tid, t = pr["tid"].to_numpy(), pr["t"].to_numpy()
    issue, due, amount = pr["issue"].to_numpy(), pr["due"].to_numpy(), pr["amount"].to_numpy()
    full_day = pr["full_day"].to_numpy()
    full_known = full_day <= t
    due_passed = due < t
    assessable = full_known | due_passed
    days_late = np.where(full_known, np.maximum(full_day - due, 0), np.maximum(t - due, 0)).astype(float)
    late = np.where(full_known, full_day - due > late_days, t - due > late_days)
    outstanding = np.where(full_known, 0.0, np.maximum(amount - paid_by_t, 0.0))
    arrears = due_passed & (outstanding > EPS)
    in_hist = issue > hist_start[tid]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(tid, weights=mask.astype(float), minlength=n)

    def total(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(tid, weights=values if mask is None else np.where(mask, values, 0.0), minlength=n)

    def group_max(values: np.ndarray, mask: np.ndarray, fill: float = np.nan) -> np.ndarray:
        out = np.full(n, -np.inf)
        np.maximum.at(out, tid[mask], values[mask])
        return np.where(np.isinf(out), fill, out)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    f: dict[str, np.ndarray] = {"has_bills": np.bincount(tid, minlength=n) > 0}
    for m in PAYMENT_WINDOWS_MONTHS:
        f[f"bills_{m}m"] = count(issue > start[m][tid])
    h = HISTORY_MONTHS
    f["bills_total"] = count(np.ones(len(tid), dtype=bool))
    hist_due = in_hist & assessable
    f[f"on_time_ratio_{h}m"] = ratio(count(hist_due & full_known & (full_day <= due)), count(hist_due))
    f[f"days_late_mean_{h}m"] = ratio(total(days_late, hist_due), count(hist_due))
    f[f"days_late_max_{h}m"] = group_max(days_late, hist_due)
    f[f"late_bills_{h}m"] = count(in_hist & late)
    f["late_bills_total"] = count(late)
    f["unpaid_past_due_bills"] = count(arrears)
    f["arrears_amount"] = total(outstanding, arrears)
    oldest_due = -group_max(-due.astype(float), arrears)
    f["arrears_age_days"] = np.where(np.isnan(oldest_due), 0.0, cutoff - oldest_due)
    f["outstanding_amount"] = total(outstanding)
    f["late_streak_max"] = _streak_max(tid, late, n)
    crossed = (due + late_days + 1).astype(float)
    f["months_since_last_late"] = (cutoff - group_max(crossed, late)) / DAYS_PER_MONTH
    f |= _payment_window_features(tgt, p, hist_start, n)
    first_issue = -group_max(-issue.astype(float), np.ones(len(tid), dtype=bool))
    f["billing_tenure_months"] = (cutoff - first_issue) / DAYS_PER_MONTH
    f |= _bill_level_features(tid, amount, pr["kwh"].to_numpy(), in_hist, n, count, total, ratio)
    out = pd.DataFrame(f)
    missing = ~out["has_bills"].to_numpy()
    out.loc[missing, [c for c in FEATURES if c != "has_bills"]] = np.nan
    return out[list(FEATURES)]


def _payment_window_features(
    tgt: pd.DataFrame, p: pd.DataFrame, hist_start: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """Payment counts and channel mix over payments received in (cutoff - 12 months, cutoff]."""
    h = HISTORY_MONTHS
    pp = tgt[["tid", "cust", "t"]].merge(p[["cust", "day", "partial", "channel"]], on="cust", how="inner")
    tid = pp["tid"].to_numpy()
    keep = (pp["day"].to_numpy() <= pp["t"].to_numpy()) & (pp["day"].to_numpy() > hist_start[tid])
    tid, partial, channel = tid[keep], pp["partial"].to_numpy()[keep], pp["channel"].to_numpy()[keep]
    k = len(CHANNELS)
    n_pay = np.bincount(tid, minlength=n).astype(float)
    out = {
        f"payments_{h}m": n_pay,
        f"partial_payments_{h}m": np.bincount(tid, weights=partial.astype(float), minlength=n),
    }
    valid = channel >= 0
    by_channel = np.bincount(tid[valid] * k + channel[valid], minlength=n * k).reshape(n, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = by_channel / np.where(n_pay > 0, n_pay, np.nan)[:, None]
    for j, c in enumerate(CHANNELS):
        out[f"channel_share_{c}_{h}m"] = shares[:, j]
    return out


def _bill_level_features(tid, amount, kwh, in_hist, n, count, total, ratio) -> dict[str, np.ndarray]:
    """Latest bill amount and kWh, 12-month mean, and change against the 3 bills before the latest."""
    h = HISTORY_MONTHS
    size = np.bincount(tid, minlength=n)
    ends = np.cumsum(size)
    has = size > 0
    last = np.where(has, ends - 1, 0)
    pos = np.arange(len(tid))
    from_end = ends[tid] - 1 - pos  # 0 = latest bill of the target
    prev3 = (from_end >= 1) & (from_end <= 3)
    out = {}
    for name, values in (("amount", amount), ("kwh", kwh)):
        latest = np.where(has, values[last] if len(values) else np.nan, np.nan)
        prev_mean = ratio(total(values, prev3), count(prev3))
        out[f"bill_{name}_last"] = latest
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"bill_{name}_change_prev3"] = np.where(prev_mean > 0, latest / prev_mean - 1, np.nan)
        if name == "amount":
            out[f"bill_amount_mean_{h}m"] = ratio(total(values, in_hist), count(in_hist))
    return out


def build_payment_profile(
    bills: pd.DataFrame, payments: pd.DataFrame, *, as_of: pd.Timestamp, late_days: int = 30
) -> pd.DataFrame:
    """One row per customer with a bill issued by `as_of`: ``customer_id`` + :data:`FEATURES`.

    Invariants
    ----------
    Uses only bills with ``issue_date <= as_of`` and payments whose UTC day is ``<= as_of``. Adding,
    removing or changing a later bill or payment leaves every row unchanged.

    Raises
    ------
    ValueError
        `as_of` is not a timestamp.
    ContractViolation
        A required column is missing (the message names it).
    """
    day = as_of_day(as_of)
    require_columns(bills, "bills", BILL_COLUMNS)
    require_columns(payments, "payments", PAYMENT_COLUMNS)
    if late_days < 0:
        raise ValueError(f"late_days={late_days}; expected >= 0")
    known = bills[bills["issue_date"] <= day]
    customers = pd.unique(known["customer_id"])
    targets = pd.DataFrame({"customer_id": customers, "cutoff": day})
    feats = payment_features(targets, known, payments, late_days=late_days)
    out = pd.concat([pd.DataFrame({"customer_id": pd.Series(customers).astype(str)}), feats], axis=1)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)
