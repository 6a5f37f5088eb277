"""The inspection list and each customer's evidence pack (pure).

The list ranks customers by expected recovered revenue = P(theft confirmed) x estimated stolen kWh per
year x tariff, and marks the first ``capacity`` (inspections per day x days) as ``in_capacity``.
Customers inspected in the last ``recent_days`` stay scored but are not sent again (``recently_inspected``).

An evidence pack holds what an inspector needs at the door: consumption per 30 days against the
customer's own past and their peers' median (the chart's data), the top reasons in words, index and
status anomalies with dates, and past inspections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.meter_reads import as_of_cutoff, prepare_reads
from features.theft import RECENT_DAYS, THEFT_FEATURES, build_theft_features, estimate_stolen_kwh

ANOMALIES = {
    "rollback": "meter index went backwards",
    "index_gap": "index does not follow on from the previous read",
    "jump": "consumption jumped above 5x the usual",
    "zero": "zero consumption",
    "estimated": "estimated, not read",
    "abnormal_status": "unusual meter status",
}


@dataclass(frozen=True)
class InspectionList:
    """A scored list: ``frame`` ranked (one row per customer), with what the evidence packs need."""

    frame: pd.DataFrame
    features: pd.DataFrame
    reads: pd.DataFrame  # prepared reads (features.meter_reads.prepare_reads)
    inspections: pd.DataFrame
    as_of: pd.Timestamp
    tariff_per_kwh: float


def reason_words(feature: str) -> str:
    """An inspector's words for a feature (``gas_`` and code shares included)."""
    prefix = "gas: " if feature.startswith("gas_") else ""
    name = feature.removeprefix("gas_")
    if name in THEFT_FEATURES:
        return prefix + THEFT_FEATURES[name][2]
    for kind in ("status", "remark"):
        if name.startswith(f"{kind}_share_"):
            what = "meter status" if kind == "status" else "reader remark"
            return f"{prefix}{what} '{name.split('_share_', 1)[1]}' seen often"
    return prefix + name.replace("_", " ")


def build_inspection_list(
    model: Any,
    reads: pd.DataFrame,
    customers: pd.DataFrame | None,
    inspections: pd.DataFrame | None,
    *,
    as_of: pd.Timestamp | str | None = None,
    capacity: int = 10,
    tariff_per_kwh: float = 0.15,
    recent_days: int = 90,
) -> InspectionList:
    """Score every customer with reads before `as_of` and rank by expected recovered revenue.

    Parameters
    ----------
    model : TheftRiskModel
        Fitted; its ``feature_names_in_`` decide the status/remark code columns.
    capacity : int
        Inspections available (per day x days).
    tariff_per_kwh : float
        Unit price (currency/kWh) used to value stolen kWh.
    recent_days : int
        Customers inspected this many days before `as_of` are not sent again.
    """
    cutoff = as_of_cutoff(reads, as_of)
    names = [str(c) for c in model.feature_names_in_]
    codes = {k: [c.split("_share_", 1)[1] for c in names if c.startswith(f"{k}_share_")] for k in ("status", "remark")}
    features = build_theft_features(
        reads, customers, as_of=cutoff, status_codes=codes["status"], remark_codes=codes["remark"]
    )
    p = model.predict_proba(features)[:, 1]
    stolen = estimate_stolen_kwh(features).to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": features.index.astype(str),
            "probability": p,
            "stolen_kwh_year": stolen,
            "expected_revenue": p * stolen * tariff_per_kwh,
        }
    )
    past = _past(inspections, cutoff)
    last = past.groupby("customer_id")["inspected_date"].max() if len(past) else pd.Series(dtype="datetime64[ns]")
    frame["last_inspected_date"] = frame["customer_id"].map(last)
    frame["recently_inspected"] = (cutoff - frame["last_inspected_date"]).dt.days.lt(recent_days).to_numpy()
    frame = frame.sort_values(["recently_inspected", "expected_revenue"], ascending=[True, False], kind="mergesort")
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["in_capacity"] = (frame["rank"] <= capacity) & ~frame["recently_inspected"]
    top = model.reasons(features.loc[frame["customer_id"]], k=3)
    top["words"] = top["feature"].map(reason_words)
    frame["reasons"] = top.groupby("customer")["words"].agg("; ".join).to_numpy()
    prepared = prepare_reads(reads, customers, cutoff)
    return InspectionList(frame.reset_index(drop=True), features, prepared, past, cutoff, tariff_per_kwh)


def _past(inspections: pd.DataFrame | None, cutoff: pd.Timestamp) -> pd.DataFrame:
    cols = ["customer_id", "inspected_date", "outcome"]
    if inspections is None or inspections.empty:
        return pd.DataFrame(columns=cols)
    return inspections.loc[pd.to_datetime(inspections["inspected_date"]) < cutoff].copy()


def evidence_pack(model: Any, listing: InspectionList, customer_id: str) -> dict[str, Any]:
    """Everything an inspector needs for one customer (JSON-ready). Raises KeyError for an unknown id."""
    row = listing.frame.loc[listing.frame["customer_id"] == customer_id]
    if row.empty:
        raise KeyError(customer_id)
    r = row.iloc[0]
    reasons = model.reasons(listing.features.loc[[customer_id]], k=3)
    d = listing.reads.loc[listing.reads["customer_id"] == customer_id].sort_values("read_date")
    past_mean = d.loc[d["age_days"] >= RECENT_DAYS, "kwh_30d"].mean()
    chart = pd.DataFrame(
        {
            "read_date": d["read_date"].dt.strftime("%Y-%m-%d"),
            "kwh_30d": d["kwh_30d"].round(1),
            "own_past_mean_kwh_30d": round(float(past_mean), 1) if np.isfinite(past_mean) else None,
            "peer_median_kwh_30d": d["peer_kwh_30d"].round(1),
        }
    )
    flags = d[[*ANOMALIES, "read_date", "status", "remark", "old_index", "new_index"]]
    anomalies = [
        {"read_date": f.read_date.strftime("%Y-%m-%d"), "kind": kind, "what": ANOMALIES[kind], "status": str(f.status),
         "old_index": float(f.old_index), "new_index": float(f.new_index)}
        for kind in ANOMALIES
        for f in flags.loc[flags[kind].to_numpy(bool)].itertuples(index=False)
    ]  # fmt: skip
    remarks = d.loc[d["has_remark"], ["read_date", "remark"]]
    past = listing.inspections.loc[listing.inspections["customer_id"] == customer_id]
    return {
        "customer_id": customer_id,
        "as_of": str(listing.as_of.date()),
        "rank": int(r["rank"]),
        "in_capacity": bool(r["in_capacity"]),
        "probability": float(r["probability"]),
        "stolen_kwh_year": float(r["stolen_kwh_year"]),
        "expected_revenue": float(r["expected_revenue"]),
        "tariff_per_kwh": listing.tariff_per_kwh,
        "reasons": [
            {
                "feature": x.feature,
                "words": reason_words(x.feature),
                "value": _num(x.value),
                "unit": _unit(x.feature),
                "contribution": float(x.contribution),
            }
            for x in reasons.itertuples(index=False)
        ],
        "anomalies": sorted(anomalies, key=lambda a: a["read_date"]),
        "remarks": [
            {"read_date": t.strftime("%Y-%m-%d"), "remark": str(m)}
            for t, m in zip(remarks["read_date"], remarks["remark"], strict=True)
        ],
        "chart": chart.astype(object).where(chart.notna(), None).to_dict("records"),
        "past_inspections": [
            {"inspected_date": pd.Timestamp(x.inspected_date).strftime("%Y-%m-%d"), "outcome": x.outcome}
            for x in past.itertuples(index=False)
        ],
        "past_inspections_link": f"#inspections-{customer_id}",
    }


def _unit(feature: str) -> str:
    spec = THEFT_FEATURES.get(feature.removeprefix("gas_"))
    return spec[0] if spec else ("ratio" if "_share_" in feature else "")


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None
