"""Point-in-time theft (non-technical loss) features per customer from meter register reads (pure).

One row per customer with at least one read before the cutoff. Features are declared once in
:data:`THEFT_FEATURES` (name -> unit, meaning, an inspector's words); every value is a vectorised
group reduction of :func:`features.meter_reads.prepare_reads` (no per-customer loop).

Families: consumption level and volatility; drops against the customer's own past (last 365 days
vs before, last two reads vs before, the largest step down between three reads and the next three);
ratio to peers (same category, region, year and quarter); zero-usage spells; index inconsistencies
(rollbacks, gaps, jumps), estimated and abnormal statuses, remarks; meter, multiplier and tariff
changes; billed vs metered energy (when bills carry ``billed_kwh``); billing period length.

Invariants
----------
- Only reads with ``read_date < as_of`` are used (tested: changing later reads moves nothing).
- Status and remark codes become ``status_share_<code>``/``remark_share_<code>`` for the codes
  passed in (a fitted model passes its own so train and score columns agree).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.meter_reads import as_of_cutoff, prepare_reads

logger = logging.getLogger(__name__)

RECENT_DAYS = 365  # "recent" window for drops (days before the cutoff)
STEP_READS = 3  # reads on each side of a step down
LONG_PERIOD_DAYS = 90  # a billing period longer than this is read as "not read on time"
DAYS_PER_YEAR = 365.25

#: name -> (unit, meaning, an inspector's words when the value points to theft)
THEFT_FEATURES: dict[str, tuple[str, str, str]] = {
    "n_reads": ("reads", "reads before the cutoff", "number of reads on record"),
    "n_meters": ("meters", "distinct meters on the account", "meters on this account"),
    "history_days": ("days", "days from the first read to the cutoff", "length of the account's history"),
    "days_since_last_read": ("days", "days from the last read to the cutoff", "time since the last read"),
    "kwh_30d_mean": ("kWh/30 days", "mean metered consumption per 30 days", "consumption level"),
    "kwh_30d_std": ("kWh/30 days", "standard deviation of consumption per 30 days", "erratic consumption"),
    "kwh_30d_max": ("kWh/30 days", "highest consumption per 30 days", "peak consumption"),
    "kwh_30d_cv": ("ratio", "volatility: std / mean of consumption per 30 days", "erratic consumption"),
    "kwh_30d_mean_365d": ("kWh/30 days", "mean consumption in the last 365 days", "recent consumption level"),
    "kwh_drop_365d": (
        "ratio",
        "1 - mean of the last 365 days / mean before (positive = a drop)",
        "consumption fell against the customer's own past year",
    ),
    "kwh_drop_last2": (
        "ratio",
        "1 - mean of the last two reads / mean of the reads before",
        "the last two reads are far below the customer's usual",
    ),
    "step_drop_max": (
        "ratio",
        "largest 1 - mean(next 3 reads) / mean(previous 3 reads)",
        "a sudden, lasting step down in consumption",
    ),
    "kwh_slope_year": (
        "ratio/year",
        "least-squares trend of consumption / its mean, per year",
        "consumption trend over time",
    ),
    "peer_ratio_mean": (
        "ratio",
        "mean of consumption / peers' median (same category, region, quarter)",
        "uses less than peers",
    ),
    "peer_ratio_365d": ("ratio", "the same in the last 365 days", "uses far less than similar customers this year"),
    "peer_ratio_last": ("ratio", "the last read's consumption / its peers' median", "last read far below peers"),
    "zero_share": ("ratio", "share of reads with zero consumption", "many zero-consumption reads"),
    "zero_run_max": ("reads", "longest run of consecutive zero reads", "long spell of zero consumption"),
    "zero_run_current": ("reads", "zero reads in a row up to the cutoff", "consumption is zero right now"),
    "rollback_count": ("reads", "reads whose new index is below the old index", "meter index went backwards"),
    "index_gap_count": (
        "reads",
        "reads whose old index differs from the previous new index",
        "index does not follow on",
    ),
    "jump_count": ("reads", "reads above 5x the customer's median consumption", "catch-up jump in the index"),
    "estimated_share": ("ratio", "share of estimated (not read) reads", "often estimated, meter not read"),
    "abnormal_status_share": ("ratio", "share of reads with a status other than the usual", "meter status anomalies"),
    "status_changes": ("changes", "times the meter status changed between reads", "meter status keeps changing"),
    "remark_share": ("ratio", "share of reads with a reader's remark", "reader left remarks"),
    "remark_changes": ("changes", "times the reader's remark changed", "reader's remarks keep changing"),
    "multiplier_changes": ("changes", "distinct multipliers - 1", "meter multiplier changed"),
    "tariff_changes": ("changes", "distinct tariffs - 1", "tariff changed"),
    "period_days_mean": ("days", "mean billing period length", "long billing periods"),
    "long_period_share": ("ratio", "share of periods longer than 90 days", "often not read on time"),
    "billed_over_metered": ("ratio", "billed kWh / metered kWh", "bills do not match the meter"),
    "bill_mismatch_share": (
        "ratio",
        "share of reads whose billed kWh differs from metered by > 5 %",
        "bills do not match the meter",
    ),
}


def _codes(values: pd.Series, top: int = 6) -> list[str]:
    return [str(c) for c in values.astype(str).value_counts().index[:top]]


def _run_lengths(d: pd.DataFrame) -> pd.DataFrame:
    """Longest and current (ending at the last read) run of zero reads per customer (reads in date order)."""
    zero = d["zero"].to_numpy()
    run_id = (~d["zero"]).groupby(d["customer_id"], sort=False).cumsum()
    runs = pd.DataFrame({"customer_id": d["customer_id"], "run": run_id, "z": zero.astype(int)})
    length = runs.groupby(["customer_id", "run"], sort=False)["z"].transform("sum")
    runs["len"] = length.where(zero, 0)
    last = runs.groupby("customer_id", sort=False).tail(1).set_index("customer_id")
    out = runs.groupby("customer_id", sort=False)["len"].max().to_frame("zero_run_max")
    out["zero_run_current"] = last["len"].reindex(out.index).to_numpy()
    return out


def _steps(d: pd.DataFrame) -> pd.Series:
    """Largest relative step down: 1 - mean(reads i..i+2) / mean(reads i-3..i-1), per customer."""
    g = d.groupby("customer_id", sort=False)["kwh_30d"]
    cs = g.cumsum()
    gcs = cs.groupby(d["customer_id"], sort=False)
    before = (gcs.shift(1) - gcs.shift(1 + STEP_READS).fillna(0)) / STEP_READS
    before = before.where(d.groupby("customer_id", sort=False).cumcount() >= STEP_READS)
    after = (gcs.shift(1 - STEP_READS) - gcs.shift(1).fillna(0)) / STEP_READS
    drop = 1 - after / before.where(before > 1.0)
    return drop.groupby(d["customer_id"], sort=False).max()


def _slope(d: pd.DataFrame) -> pd.Series:
    """Least-squares slope of kWh/30 days against time (years), divided by the mean level."""
    t = -d["age_days"].to_numpy(float) / DAYS_PER_YEAR
    y = d["kwh_30d"].to_numpy(float)
    frame = pd.DataFrame({"c": d["customer_id"], "t": t, "y": y, "tt": t * t, "ty": t * y})
    s = frame.groupby("c", sort=False).agg(
        n=("t", "size"), t=("t", "sum"), y=("y", "sum"), tt=("tt", "sum"), ty=("ty", "sum")
    )
    var = s["tt"] - s["t"] ** 2 / s["n"]
    slope = (s["ty"] - s["t"] * s["y"] / s["n"]) / var.where(var > 1e-9)
    return slope / np.maximum(s["y"] / s["n"], 1.0)


def build_theft_features(
    reads: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
    status_codes: list[str] | None = None,
    remark_codes: list[str] | None = None,
) -> pd.DataFrame:
    """Theft-risk features per customer from reads strictly before `as_of`.

    Parameters
    ----------
    reads : pandas.DataFrame
        Validated ``meter_reads``.
    customers : pandas.DataFrame, optional
        ``customer_id``, ``category``, ``region`` for the peer ratios.
    as_of : timestamp, optional
        Cutoff; None = the whole history (the day after the last read).
    status_codes, remark_codes : list of str, optional
        Codes to count as ``status_share_<code>`` / ``remark_share_<code>``; default: the 6 most common here.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``; the columns of :data:`THEFT_FEATURES` plus the code shares; ``as_of`` in ``attrs``.
    """
    cutoff = as_of_cutoff(reads, as_of)
    d = prepare_reads(reads, customers, cutoff)
    if d.empty:
        cols = list(THEFT_FEATURES) + [
            f"{k}_share_{c}" for k, cs in (("status", status_codes), ("remark", remark_codes)) for c in cs or []
        ]
        return pd.DataFrame(columns=cols, index=pd.Index([], name="customer_id"), dtype=float)
    d = d.sort_values(["customer_id", "read_date", "meter_id"], kind="stable").reset_index(drop=True)
    g = d.groupby("customer_id", sort=False)
    out = g.agg(
        n_reads=("usage_kwh", "size"),
        n_meters=("meter_id", "nunique"),
        history_days=("age_days", "max"),
        days_since_last_read=("age_days", "min"),
        kwh_30d_mean=("kwh_30d", "mean"),
        kwh_30d_std=("kwh_30d", "std"),
        kwh_30d_max=("kwh_30d", "max"),
        peer_ratio_mean=("peer_ratio", "mean"),
        peer_ratio_last=("peer_ratio", "last"),
        zero_share=("zero", "mean"),
        rollback_count=("rollback", "sum"),
        index_gap_count=("index_gap", "sum"),
        jump_count=("jump", "sum"),
        estimated_share=("estimated", "mean"),
        abnormal_status_share=("abnormal_status", "mean"),
        remark_share=("has_remark", "mean"),
        multiplier_changes=("multiplier", "nunique"),
        period_days_mean=("period_days", "mean"),
    )
    out["multiplier_changes"] -= 1
    out["kwh_30d_cv"] = out["kwh_30d_std"] / np.maximum(out["kwh_30d_mean"], 1.0)
    recent = d["age_days"] < RECENT_DAYS
    rec = d.loc[recent].groupby("customer_id", sort=False).agg(m=("kwh_30d", "mean"), p=("peer_ratio", "mean"))
    old = d.loc[~recent].groupby("customer_id", sort=False)["kwh_30d"].mean()
    out["kwh_30d_mean_365d"] = rec["m"].reindex(out.index)
    out["peer_ratio_365d"] = rec["p"].reindex(out.index)
    out["kwh_drop_365d"] = 1 - out["kwh_30d_mean_365d"] / old.reindex(out.index).where(lambda s: s > 1.0)
    from_end = g.cumcount(ascending=False)
    last2 = d.loc[from_end < 2].groupby("customer_id", sort=False)["kwh_30d"].mean()
    before2 = d.loc[from_end >= 2].groupby("customer_id", sort=False)["kwh_30d"].mean()
    out["kwh_drop_last2"] = 1 - last2.reindex(out.index) / before2.reindex(out.index).where(lambda s: s > 1.0)
    out["step_drop_max"] = _steps(d).reindex(out.index)
    out["kwh_slope_year"] = _slope(d).reindex(out.index)
    out = out.join(_run_lengths(d))
    status = d["status"].astype(str).str.strip()
    remark = d["remark"].astype("string").fillna("").str.strip().astype(str)
    cid = d["customer_id"]
    out["status_changes"] = (status != status.groupby(cid, sort=False).shift(1)).groupby(cid, sort=False).sum() - 1
    out["remark_changes"] = (remark != remark.groupby(cid, sort=False).shift(1)).groupby(cid, sort=False).sum() - 1
    out["tariff_changes"] = g["tariff"].nunique() - 1 if "tariff" in d.columns else 0
    out["long_period_share"] = (d["period_days"] > LONG_PERIOD_DAYS).groupby(cid, sort=False).mean()
    if "billed_kwh" in d.columns and d["billed_kwh"].notna().any():
        billed = d["billed_kwh"].astype(float)
        sums = pd.DataFrame({"b": billed, "u": d["usage_kwh"]}).groupby(cid, sort=False).sum()
        out["billed_over_metered"] = sums["b"] / sums["u"].where(sums["u"] > 0)
        mismatch = (billed - d["usage_kwh"]).abs() > np.maximum(1.0, 0.05 * d["usage_kwh"])
        out["bill_mismatch_share"] = mismatch.where(billed.notna()).groupby(cid, sort=False).mean()
    else:
        out["billed_over_metered"] = np.nan
        out["bill_mismatch_share"] = np.nan
    for name, values, codes in (("status", status, status_codes), ("remark", remark, remark_codes)):
        for code in _codes(values) if codes is None else codes:
            out[f"{name}_share_{code}"] = (values == code).groupby(cid, sort=False).mean()
    cols = list(THEFT_FEATURES) + [c for c in out.columns if c not in THEFT_FEATURES]
    out = out[cols].astype(float)
    out.index.name = "customer_id"
    out.attrs["as_of"] = str(cutoff.date())
    logger.debug("theft features: %d customers, %d columns, as_of=%s", len(out), out.shape[1], cutoff.date())
    return out


def estimate_stolen_kwh(features: pd.DataFrame) -> pd.Series:
    """Estimated unbilled kWh per year if the customer steals: the drop against the own past, else the
    shortfall against peers, else 10 % of consumption (kWh/year; never negative)."""
    level = features["kwh_30d_mean"].fillna(0).clip(lower=0)
    recent = features["kwh_30d_mean_365d"].fillna(level)
    past = recent / (1 - features["kwh_drop_365d"].clip(upper=0.99)).where(features["kwh_drop_365d"].notna())
    own = (past - recent).clip(lower=0)
    peer = (recent / features["peer_ratio_365d"].where(features["peer_ratio_365d"] > 0.05) - recent).clip(lower=0)
    per_30d = own.fillna(0).where(own.fillna(0) > 0, peer.fillna(0).clip(upper=3 * level))
    per_30d = per_30d.where(per_30d > 0, 0.1 * level)
    return per_30d * DAYS_PER_YEAR / 30.0
