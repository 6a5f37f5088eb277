"""Scale data for benchmarks: a seeded synthetic tenant of any size, generated with vectorised numpy.

Not a model of real customers (use the demo tenant for that): it only has the shapes that matter
for speed and memory — one daily reading per customer and day, monthly bills, one or two payments
per bill with some late and some missing, hourly weather for a few regions. ``customer_id`` in the
large tables is categorical (dictionary-encoded in Parquet), as a loader of big exports would keep it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

REGIONS = ("north", "south", "east", "west")
CHANNELS = ("direct_debit", "card", "bank_transfer", "online", "cash")
TARIFF_PER_KWH = 0.18


def customer_ids(start: int, stop: int) -> np.ndarray:
    """Ids ``S00000000``... for customer numbers ``start..stop-1`` (stable across partitions)."""
    return np.char.add("S", np.char.zfill(np.arange(start, stop).astype(str), 8)).astype(object)


def generate_tenant(
    n_customers: int,
    *,
    days: int = 365,
    end: pd.Timestamp = pd.Timestamp("2024-12-31"),
    first_customer: int = 0,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """A valid tenant of `n_customers` with `days` daily readings each and monthly bills and payments.

    Bills cover the 12 calendar months issued by `end`, each issued 5 days after
    the month ends and due 21 days later; payments land up to ~90 days late, ~4% of bills are unpaid
    and ~8% are paid in two parts. Deterministic for a given (`seed`, `first_customer`).
    """
    rng = np.random.default_rng([seed, first_customer])
    n = n_customers
    ids = customer_ids(first_customer, first_customer + n)
    cat_ids = pd.Categorical(ids, categories=ids)
    dates = pd.date_range(end=end, periods=days, freq="D")
    start = dates[0]
    region = rng.integers(0, len(REGIONS), n)
    category = np.where(rng.random(n) < 0.9, "residential", "commercial")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "category": category,
            "tariff": np.where(rng.random(n) < 0.7, "std", "e7"),
            "region": np.asarray(REGIONS, dtype=object)[region],
            "start_date": start - pd.to_timedelta(rng.integers(0, 3000, n), unit="D"),
            "end_date": pd.NaT,
        }
    )
    doy = dates.day_of_year.to_numpy()
    season = (1 + 0.35 * np.cos(2 * np.pi * (doy - 15) / 365.25)).astype(np.float32)
    weekend = np.where(dates.day_of_week.to_numpy() >= 5, 1.1, 1.0).astype(np.float32)
    level = rng.lognormal(2.2, 0.5, n).astype(np.float32) * np.where(category == "commercial", 5, 1).astype(np.float32)
    kwh = level[:, None] * (season * weekend)[None, :]
    kwh *= rng.lognormal(0, 0.25, (n, days)).astype(np.float32)
    kwh[rng.random((n, days), dtype=np.float32) < 0.01] = 0.0
    readings = pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(
                np.repeat(np.arange(n, dtype=np.int32), days), dtype=cat_ids.dtype
            ),
            "reading_date": np.tile(dates.to_numpy(), n),
            "kwh": np.round(kwh.ravel().astype(np.float64), 3),
        }
    )
    del kwh
    bills, payments = _bills_and_payments(rng, ids, cat_ids.dtype, dates, level)
    hours = pd.date_range(start - pd.Timedelta(days=1), end + pd.Timedelta(days=1), freq="h", tz="UTC")
    hdoy = hours.day_of_year.to_numpy()
    weather = pd.DataFrame(
        {
            "region": np.repeat(np.asarray(REGIONS, dtype=object), len(hours)),
            "observed_at": np.tile(hours, len(REGIONS)),
            "temperature_c": np.concatenate(
                [
                    11 - 7 * np.cos(2 * np.pi * (hdoy - 15) / 365.25) + r + rng.normal(0, 2, len(hours))
                    for r in range(len(REGIONS))
                ]
            ),
        }
    )
    return {"customers": customers, "readings": readings, "bills": bills, "payments": payments, "weather": weather}


def _bills_and_payments(rng, ids, id_dtype, dates, level) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(ids)
    last_issued = (dates[-1] - pd.Timedelta(days=5)).to_period("M") - 1  # issued 5 days after month end
    months = pd.period_range(end=last_issued, periods=12, freq="M")
    m = len(months)
    cust = np.repeat(np.arange(n), m)
    period_start = np.tile(months.start_time.to_numpy(), n)
    period_end = np.tile(months.end_time.normalize().to_numpy(), n)
    issue = period_end + np.timedelta64(5, "D")
    due = issue + np.timedelta64(21, "D")
    kwh = np.round(
        level[cust].astype(float) * np.tile(months.days_in_month.to_numpy(), n) * rng.lognormal(0, 0.1, n * m), 3
    )
    amount = np.round(kwh * TARIFF_PER_KWH + 8.0, 2)
    bill_id = np.char.add(
        np.char.add(ids[cust].astype(str), "-"), np.tile(months.strftime("%Y%m").to_numpy().astype(str), n)
    )
    bills = pd.DataFrame(
        {
            "bill_id": bill_id.astype(object),
            "customer_id": pd.Categorical.from_codes(cust.astype(np.int32), dtype=id_dtype),
            "period_start": period_start,
            "period_end": period_end,
            "issue_date": issue,
            "due_date": due,
            "kwh": kwh,
            "amount": amount,
        }
    )
    risk = rng.beta(1, 6, n)[cust]  # per-customer propensity to pay late
    days_late = np.where(rng.random(n * m) < risk, rng.integers(1, 90, n * m), -rng.integers(0, 15, n * m))
    paid_at = due + days_late.astype("timedelta64[D]") + rng.integers(0, 86400, n * m).astype("timedelta64[s]")
    unpaid = rng.random(n * m) < 0.04 + 0.2 * risk
    split = ~unpaid & (rng.random(n * m) < 0.08)
    first_amount = np.where(split, np.round(amount * 0.4, 2), amount)
    channel = rng.integers(0, len(CHANNELS), n)[cust]
    pay1 = pd.DataFrame({"bill": np.flatnonzero(~unpaid), "part": 1})
    pay2 = pd.DataFrame({"bill": np.flatnonzero(split), "part": 2})
    p = pd.concat([pay1, pay2], ignore_index=True)
    b = p["bill"].to_numpy()
    second = p["part"].to_numpy() == 2
    payments = pd.DataFrame(
        {
            "payment_id": np.char.add(np.char.add("P", bill_id[b]), np.where(second, "-2", "-1")).astype(object),
            "bill_id": bill_id[b].astype(object),
            "customer_id": pd.Categorical.from_codes(cust[b].astype(np.int32), dtype=id_dtype),
            "paid_at": pd.DatetimeIndex(np.where(second, paid_at[b] - np.timedelta64(10, "D"), paid_at[b])).tz_localize(
                "UTC"
            ),
            "amount": np.where(second, np.round(amount[b] - first_amount[b], 2), first_amount[b]),
            "channel": np.asarray(CHANNELS, dtype=object)[channel[b]],
        }
    )
    payments = payments[payments["amount"] > 0].reset_index(drop=True)
    return bills, payments


def write_tenant(tables: dict[str, pd.DataFrame], folder: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """Write each table as ``folder/<table>.parquet`` (zstd); categorical ids stay dictionary-encoded."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if name not in skip:
            df.to_parquet(folder / f"{name}.parquet", index=False, compression="zstd")
    return folder


def write_partitioned(
    root: Path, n_customers: int, n_partitions: int, *, days: int = 365, seed: int = 0
) -> tuple[list[Path], Path]:
    """Generate a large tenant partition by partition straight to disk (never all in memory).

    Returns the partition folders (``root/part-NNNNN``) and the shared ``root/weather.parquet``.
    """
    root = Path(root)
    bounds = np.linspace(0, n_customers, n_partitions + 1).astype(int)
    folders = []
    for i in range(n_partitions):
        tables = generate_tenant(int(bounds[i + 1] - bounds[i]), days=days, first_customer=int(bounds[i]), seed=seed)
        folders.append(write_tenant(tables, root / f"part-{i:05d}", skip=("weather",)))
        if i == 0:
            tables["weather"].to_parquet(root / "weather.parquet", index=False)
        logger.info("partition %d/%d: %d customers", i + 1, n_partitions, bounds[i + 1] - bounds[i])
        del tables
    return folders, root / "weather.parquet"
