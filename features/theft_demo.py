"""Demo revenue-protection tables: meter reads from the demo's real London usage, with seeded theft injections.

Rebuild: ``python -m features.theft_demo`` (reads ``data/demo/readings.parquet`` and
``customers.parquet``, writes ``meter_reads.parquet``, ``inspections.parquet`` and
``theft_injections.parquet`` there; deterministic, seed :data:`SEED`). Documented in data/demo/SOURCE.md.

- **Reads**: one register read per household and calendar month (on the month's last day with data);
  the index is a random starting index plus the cumulative real daily kWh. A month with fewer than 25
  days of data is an ``estimated`` read (the month's mean x its days). 3 % of reads carry a reader's
  remark ``no access`` at random (noise).
- **Injections** (households with data since 2012-09 at least; start date drawn in 2013-03 .. 2013-09):
  ``bypass`` (:data:`N_PER_TYPE` households): daily kWh x (1 - f) from the start, f ~ U(0.3, 0.7);
  ``tampering``: from the start each month is zeroed (new index = old) with probability 0.5, the first
  always; half of them get one ``seal broken`` remark; ``rollback``: at the first read after the start the
  register is wound back by 30-60 % of the household's yearly kWh, later reads follow on.
- **Inspections** (January 2014, a minority): 3 of each type's 5 (``theft_confirmed``, recovered kWh =
  the kWh taken so far), 85 other households (``no_irregularity``) and 6 (``not_reached``).
  The other 6 injected households are never inspected: the list has to find them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SEED = 20241123
N_PER_TYPE = 5
INSPECTED_PER_TYPE = 3
N_CLEAN_INSPECTED, N_NOT_REACHED = 85, 6
INJECTIONS = ("bypass", "tampering", "rollback")
INSPECTION_START = pd.Timestamp("2014-01-06")
FULL_MONTH_DAYS = 25


def _inject(readings: pd.DataFrame, truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Daily kWh with the bypass step downs applied (vectorised by customer mapping)."""
    d = readings.copy()
    by = truth[truth["injection"] == "bypass"].set_index("customer_id")
    start = d["customer_id"].map(by["start_date"])
    factor = d["customer_id"].map(1 - by["severity"])
    hit = start.notna() & (d["reading_date"] >= start)
    d.loc[hit, "kwh"] = d.loc[hit, "kwh"] * factor[hit]
    return d


def _monthly(readings: pd.DataFrame) -> pd.DataFrame:
    month = readings["reading_date"].dt.to_period("M")
    m = readings.groupby(["customer_id", month], sort=True).agg(
        kwh=("kwh", "sum"), days=("kwh", "size"), read_date=("reading_date", "max")
    )
    m = m.reset_index().rename(columns={"reading_date": "month"})
    in_month = m["month"].dt.days_in_month
    m["estimated"] = m["days"] < FULL_MONTH_DAYS
    m.loc[m["estimated"], "kwh"] = m["kwh"] / m["days"] * in_month
    m.loc[m["estimated"], "read_date"] = m["month"].dt.to_timestamp(how="end").dt.normalize()
    return m


def build_theft_demo(
    readings: pd.DataFrame, customers: pd.DataFrame, seed: int = SEED
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``meter_reads``, ``inspections`` and the injection truth (customer_id, injection, start_date, severity)."""
    rng = np.random.default_rng(seed)
    readings = readings.assign(reading_date=pd.to_datetime(readings["reading_date"]))
    first = readings.groupby("customer_id")["reading_date"].min()
    eligible = np.sort(first[first <= pd.Timestamp("2012-09-01")].index.to_numpy())
    chosen = rng.choice(eligible, size=N_PER_TYPE * len(INJECTIONS), replace=False)
    days = (pd.Timestamp("2013-09-30") - pd.Timestamp("2013-03-01")).days
    truth = pd.DataFrame(
        {
            "customer_id": chosen,
            "injection": np.repeat(INJECTIONS, N_PER_TYPE),
            "start_date": pd.Timestamp("2013-03-01") + pd.to_timedelta(rng.integers(0, days, len(chosen)), unit="D"),
            "severity": rng.uniform(0.3, 0.7, len(chosen)),
        }
    )
    m = _monthly(_inject(readings, truth, rng))
    t = truth.set_index("customer_id")
    start = m["customer_id"].map(t["start_date"])
    kind = m["customer_id"].map(t["injection"]).fillna("")
    after = start.notna() & (m["read_date"] >= start)
    first_after = after & ~after.groupby(m["customer_id"]).shift(1, fill_value=False)
    zeroed = (kind == "tampering") & after & ((rng.uniform(size=len(m)) < 0.5) | first_after)
    m.loc[zeroed, "kwh"] = 0.0
    yearly = m.groupby("customer_id")["kwh"].transform("mean") * 12
    wind = np.where((kind == "rollback") & first_after, yearly * rng.uniform(0.3, 0.6, len(m)), 0.0)
    base = m["customer_id"].map(pd.Series(rng.uniform(5_000, 50_000, len(first)).round(), index=first.index))
    new = base + m.groupby("customer_id")["kwh"].cumsum() - pd.Series(wind).groupby(m["customer_id"]).cumsum()
    new = new.round(1)
    old = new.groupby(m["customer_id"]).shift(1).fillna(base.round(1))
    remark = np.where(rng.uniform(size=len(m)) < 0.03, "no access", "")
    seal = (kind == "tampering") & first_after & m["customer_id"].isin(truth["customer_id"][N_PER_TYPE::2])
    remark = np.where(seal, "seal broken", remark)
    reads = pd.DataFrame(
        {
            "customer_id": m["customer_id"],
            "meter_id": "M-" + m["customer_id"],
            "read_date": m["read_date"].dt.normalize(),
            "old_index": old.to_numpy(),
            "new_index": new.to_numpy(),
            "status": np.where(m["estimated"], "estimated", "normal"),
            "remark": remark,
            "multiplier": 1.0,
        }
    )
    inspections = _inspections(truth, reads, customers, rng)
    logger.info("theft demo: %d reads, %d injections, %d inspections", len(reads), len(truth), len(inspections))
    return reads, inspections, truth


def _inspections(
    truth: pd.DataFrame, reads: pd.DataFrame, customers: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    found = truth.groupby("injection", sort=False).head(INSPECTED_PER_TYPE)
    clean = np.sort(customers.loc[~customers["customer_id"].isin(truth["customer_id"]), "customer_id"].to_numpy())
    others = rng.choice(clean, size=N_CLEAN_INSPECTED + N_NOT_REACHED, replace=False)
    ids = np.r_[found["customer_id"].to_numpy(), others]
    outcome = ["theft_confirmed"] * len(found) + ["no_irregularity"] * N_CLEAN_INSPECTED
    outcome += ["not_reached"] * N_NOT_REACHED
    when = INSPECTION_START + pd.to_timedelta(rng.integers(0, 25, len(ids)), unit="D")
    usage = (reads["new_index"] - reads["old_index"]).clip(lower=0)
    level = usage.groupby(reads["customer_id"]).median()
    months = ((pd.Timestamp("2014-01-01") - found["start_date"]).dt.days / 30.44).to_numpy()
    recovered = np.full(len(ids), np.nan)
    taken = level.reindex(found["customer_id"]).to_numpy() * found["severity"].to_numpy() * months
    recovered[: len(found)] = taken.round()
    return pd.DataFrame({"customer_id": ids, "inspected_date": when, "outcome": outcome, "recovered_kwh": recovered})


def write_theft_demo(folder: Path) -> dict[str, Path]:
    """Rebuild the three files in `folder` from its readings and customers; returns their paths."""
    folder = Path(folder)
    readings = pd.read_parquet(folder / "readings.parquet")
    customers = pd.read_parquet(folder / "customers.parquet")
    reads, inspections, truth = build_theft_demo(readings, customers)
    out = {
        "meter_reads": folder / "meter_reads.parquet",
        "inspections": folder / "inspections.parquet",
        "theft_injections": folder / "theft_injections.parquet",
    }
    for (_, path), frame in zip(out.items(), (reads, inspections, truth), strict=True):
        frame.to_parquet(path, index=False)
    return out


if __name__ == "__main__":
    from features.settings import PROJECT_ROOT

    logging.basicConfig(level=logging.INFO)
    write_theft_demo(PROJECT_ROOT / "data" / "demo")
