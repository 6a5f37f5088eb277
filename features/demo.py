"""Build the embedded demo tenant from the real public data in ``../shared/data`` (seeded, deterministic).

What is real and what is generated (also in ``data/demo/SOURCE.md``):

- **Real**: daily kWh of London households (Low Carbon London, UK Power Networks), sampled across
  ACORN groups; their tariff (Std / ToU) and ACORN group; half-hourly kWh of four households;
  hourly London weather (DarkSky); UK bank holidays (via the ``holidays`` package).
- **Derived with a documented rule**: monthly bills from the real daily kWh and :data:`TARIFF`.
- **Generated (seeded)**: region and feeder area (random, uniform), payment behaviour
  (:func:`simulate_payments`): delay states follow Markov transitions estimated from the real
  Taiwan credit-card repayment histories (``PAY_6 → … → PAY_0``), one transition matrix per
  credit-limit tercile, matched to ACORN groups (Adversity ↔ lowest tercile), scaled per customer
  by the lateness of one matched Taiwan client and raised by bill shocks (a bill well above the
  customer's recent average).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.io import frame_hash, write_table

logger = logging.getLogger(__name__)

SEED = 20_241_123
EXPORT_DATE = pd.Timestamp("2014-04-30")  # the tenant's export: later payments have not happened yet
FIRST_DAY, LAST_DAY = pd.Timestamp("2012-01-01"), pd.Timestamp("2014-02-28")
REGIONS = ("north", "south", "east", "west")
FEEDERS_PER_REGION = 3
TARIFF = {  # GBP, VAT 5% on top; ToU households pay the trial's average unit rate
    "std": {"standing_per_day": 0.25, "unit_rate": 0.145},
    "tou": {"standing_per_day": 0.25, "unit_rate": 0.140},
}
VAT = 0.05
ISSUE_LAG_DAYS, PAY_TERM_DAYS = 5, 21
ACORN_TO_TERCILE = {"Adversity": 0, "Comfortable": 1, "Affluent": 2, "ACORN-U": 1}
CHANNEL_MIX = {  # preferred payment channel by ACORN group (generated)
    "Affluent": {"direct_debit": 0.65, "online": 0.2, "card": 0.1, "bank_transfer": 0.05},
    "Comfortable": {"direct_debit": 0.55, "online": 0.2, "card": 0.12, "bank_transfer": 0.08, "cash": 0.05},
    "Adversity": {"direct_debit": 0.35, "online": 0.15, "card": 0.15, "bank_transfer": 0.05, "cash": 0.3},
}
N_STATES = 4  # 0 on time, 1 one month late, 2 two months, 3 three or more / unpaid


def taiwan_transitions(taiwan_csv: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Delay-state transition matrices per credit-limit tercile from the Taiwan repayment histories.

    Returns
    -------
    matrices : ndarray, shape (3, 4, 4)
        Row-stochastic transitions between months, ``[tercile, from_state, to_state]``.
    clients : DataFrame
        ``tercile``, ``late_months`` (months with a delay, of 6) and ``first_state`` per client.
    """
    raw = pd.read_csv(taiwan_csv)
    # X11 = PAY_6 (April) ... X6 = PAY_0 (September): oldest first
    status = raw[["X11", "X10", "X9", "X8", "X7", "X6"]].to_numpy()
    states = np.clip(status, 0, N_STATES - 1)
    tercile = pd.qcut(raw["X1"].rank(method="first"), 3, labels=False).to_numpy()
    matrices = np.zeros((3, N_STATES, N_STATES))
    for t in range(3):
        s = states[tercile == t]
        np.add.at(matrices[t], (s[:, :-1].ravel(), s[:, 1:].ravel()), 1.0)
    matrices += 0.5  # Laplace smoothing: no transition is impossible
    matrices /= matrices.sum(axis=2, keepdims=True)
    clients = pd.DataFrame({"tercile": tercile, "late_months": (states > 0).sum(axis=1), "first_state": states[:, 0]})
    return matrices, clients


def read_london_daily(london_dir: Path, households: pd.DataFrame) -> pd.DataFrame:
    """Full-day (48 half-hours) kWh of `households`, reading only the blocks that hold them."""
    frames = []
    for block in sorted(households["file"].unique()):
        df = pd.read_csv(
            london_dir / "daily_dataset" / f"{block}.csv.xz",
            usecols=["LCLid", "day", "energy_sum", "energy_count"],
        )
        frames.append(df[df["LCLid"].isin(households["LCLid"])])
    daily = pd.concat(frames, ignore_index=True)
    daily = daily[(daily["energy_count"] == 48) & daily["energy_sum"].notna()]
    daily = daily.assign(reading_date=pd.to_datetime(daily["day"]))
    daily = daily[daily["reading_date"].between(FIRST_DAY, LAST_DAY)]
    return (
        daily.rename(columns={"LCLid": "customer_id", "energy_sum": "kwh"})[["customer_id", "reading_date", "kwh"]]
        .sort_values(["customer_id", "reading_date"])
        .reset_index(drop=True)
    )


def sample_households(london_dir: Path, n: int, rng: np.random.Generator, forced: list[str]) -> pd.DataFrame:
    """Households sampled across ACORN groups (proportional), never contiguous blocks."""
    info = pd.read_csv(london_dir / "informations_households.csv")
    info = info[info["Acorn_grouped"].isin(ACORN_TO_TERCILE)]
    shares = info["Acorn_grouped"].value_counts(normalize=True).sort_index()
    want = (shares * n * 1.6).round().astype(int)  # oversample: some households have too little data
    picks = [info[info["LCLid"].isin(forced)]]
    for group, k in want.items():
        pool = info[(info["Acorn_grouped"] == group) & ~info["LCLid"].isin(forced)]
        picks.append(pool.iloc[np.sort(rng.choice(len(pool), size=min(k, len(pool)), replace=False))])
    return pd.concat(picks, ignore_index=True)


def make_bills(readings: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Monthly bills from daily kWh: days without a reading are estimated at the month's mean (as utilities do)."""
    r = readings.assign(month=readings["reading_date"].dt.to_period("M"))
    m = r.groupby(["customer_id", "month"], observed=True).agg(
        kwh=("kwh", "sum"),
        days_read=("kwh", "size"),
        first=("reading_date", "min"),
        last=("reading_date", "max"),
    )
    m = m.reset_index()
    start = m["month"].dt.start_time.dt.normalize()
    end = m["month"].dt.end_time.dt.normalize()
    cust = customers.set_index("customer_id")
    period_start = np.maximum(start, m["customer_id"].map(cust["start_date"]))
    end_date = m["customer_id"].map(cust["end_date"]).fillna(LAST_DAY)
    period_end = np.minimum(end, end_date)
    days = (period_end - period_start).dt.days + 1
    kwh = (m["kwh"] / m["days_read"] * days).round(3)
    tariff = m["customer_id"].map(cust["tariff"])
    standing = tariff.map({k: v["standing_per_day"] for k, v in TARIFF.items()})
    rate = tariff.map({k: v["unit_rate"] for k, v in TARIFF.items()})
    issue = period_end + pd.Timedelta(days=ISSUE_LAG_DAYS)
    bills = pd.DataFrame(
        {
            "bill_id": m["customer_id"] + "-" + m["month"].dt.strftime("%Y%m"),
            "customer_id": m["customer_id"],
            "period_start": period_start,
            "period_end": period_end,
            "issue_date": issue,
            "due_date": issue + pd.Timedelta(days=PAY_TERM_DAYS),
            "kwh": kwh,
            "amount": ((kwh * rate + days * standing) * (1 + VAT)).round(2),
        }
    )
    bills = bills[(days >= 7) & (bills["issue_date"] <= EXPORT_DATE)]
    return bills.sort_values(["customer_id", "issue_date"]).reset_index(drop=True)


def simulate_payments(
    bills: pd.DataFrame,
    customers: pd.DataFrame,
    matrices: np.ndarray,
    clients: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Payments for `bills` from the delay-state model (module docstring); one loop step per billing month."""
    cust = customers.set_index("customer_id")
    tercile_of = cust["socio_group"].map(ACORN_TO_TERCILE).fillna(1).astype(int)
    # one matched Taiwan client per customer: its lateness scales the tercile's odds of getting worse
    matched = np.array([rng.choice(np.flatnonzero(clients["tercile"].to_numpy() == t)) for t in tercile_of])
    late = clients["late_months"].to_numpy()[matched]
    mean_late = clients.groupby("tercile")["late_months"].mean().to_numpy()[tercile_of.to_numpy()]
    propensity = pd.Series(np.clip((1 + late) / (1 + mean_late), 0.3, 4.0), index=cust.index)
    first_state = pd.Series(clients["first_state"].to_numpy()[matched], index=cust.index)

    b = bills.reset_index(drop=True)
    step = b.groupby("customer_id").cumcount().to_numpy()
    prior = b.groupby("customer_id")["amount"].transform(lambda s: s.shift(1).rolling(3, min_periods=1).mean())
    shock = 1.0 + 1.5 * np.clip(b["amount"] / prior - 1.2, 0, None).fillna(0).to_numpy()
    terc = b["customer_id"].map(tercile_of).to_numpy()
    prop = b["customer_id"].map(propensity).to_numpy()
    state = np.zeros(len(b), dtype=int)
    last: dict[str, int] = first_state.to_dict()
    prev_state = b["customer_id"].map(last).to_numpy().copy()
    for k in range(step.max() + 1):
        idx = np.flatnonzero(step == k)
        if k > 0:  # previous bill of the same customer sits at idx - 1 (bills sorted per customer)
            prev_state[idx] = state[idx - 1]
        p = matrices[terc[idx], prev_state[idx]]
        worse = np.arange(N_STATES)[None, :] > prev_state[idx][:, None]
        pw = np.minimum((p * worse).sum(1) * prop[idx] * shock[idx], 0.95)
        scale_w = np.divide(pw, (p * worse).sum(1), out=np.zeros_like(pw), where=(p * worse).sum(1) > 0)
        scale_r = (1 - pw) / np.maximum((p * ~worse).sum(1), 1e-12)
        q = p * np.where(worse, scale_w[:, None], scale_r[:, None])
        state[idx] = (rng.random(len(idx))[:, None] > np.cumsum(q, axis=1)).sum(1).clip(0, N_STATES - 1)
    return _payments_from_states(b, state, cust, rng)


def _payments_from_states(
    b: pd.DataFrame, state: np.ndarray, cust: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    n = len(b)
    u = rng.random(n)
    days_late = np.select(
        [state == 0, state == 1, state == 2],
        [
            np.where(u < 0.85, -rng.integers(0, 21, n), rng.integers(1, 26, n)),
            rng.integers(31, 60, n),
            rng.integers(61, 90, n),
        ],
        rng.integers(91, 151, n),
    )
    unpaid = (state == 3) & (rng.random(n) < 0.5)
    partial = (state >= 1) & (rng.random(n) < 0.3) & ~unpaid
    share = np.where(partial, rng.uniform(0.4, 0.7, n), 1.0)
    seconds = pd.to_timedelta(rng.integers(9 * 3600, 20 * 3600, n), unit="s")
    due = b["due_date"].dt.tz_localize("UTC")
    final = due + pd.to_timedelta(days_late, unit="D") + seconds
    first = due + pd.to_timedelta(days_late // 2, unit="D") + seconds
    prefs = _preferred_channels(cust, rng)
    channel = b["customer_id"].map(prefs).to_numpy().astype(object)
    channel[(state >= 1) & (channel == "direct_debit")] = "card"  # the direct debit failed; paid later by card
    parts = [
        pd.DataFrame(
            {
                "bill_id": b["bill_id"],
                "customer_id": b["customer_id"],
                "paid_at": final,
                "amount": (b["amount"] * (1 - share) + np.where(partial, 0, b["amount"] * share)).round(2),
                "channel": channel,
                "part": 2,
            }
        )[~unpaid],
        pd.DataFrame(
            {
                "bill_id": b["bill_id"],
                "customer_id": b["customer_id"],
                "paid_at": first,
                "amount": (b["amount"] * share).round(2),
                "channel": channel,
                "part": 1,
            }
        )[partial],
    ]
    pay = pd.concat(parts, ignore_index=True)
    pay = pay[(pay["paid_at"] <= EXPORT_DATE.tz_localize("UTC")) & (pay["amount"] > 0)]
    pay = pay.sort_values(["customer_id", "paid_at", "part"]).reset_index(drop=True)
    pay.insert(0, "payment_id", "P" + pay["bill_id"] + "-" + pay["part"].astype(str))
    return pay.drop(columns="part")


def _preferred_channels(cust: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    out = pd.Series("direct_debit", index=cust.index, dtype=object)
    for group, mix in CHANNEL_MIX.items():
        ids = cust.index[cust["socio_group"].fillna("Comfortable") == group]
        out[ids] = rng.choice(list(mix), size=len(ids), p=np.array(list(mix.values())) / sum(mix.values()))
    return out


def read_halfhourly(london_dir: Path) -> pd.DataFrame:
    """The four real half-hourly households (timestamps are GMT = UTC, no DST shift in the source)."""
    frames = []
    for path in sorted((london_dir / "halfhourly_sample").glob("dfMAC*.csv.gz")):
        df = pd.read_csv(path, usecols=["mac", "datetime", "kwhh"])
        # LCL half-hours are stamped in GMT all year: 48 readings on DST days, no repeats (checked)
        utc = pd.to_datetime(df["datetime"]).dt.tz_localize("UTC")
        frames.append(pd.DataFrame({"customer_id": df["mac"], "read_at": utc, "kwh": df["kwhh"]}))
    out = pd.concat(frames, ignore_index=True)
    return out.dropna(subset=["kwh"]).sort_values(["customer_id", "read_at"]).reset_index(drop=True)


def read_weather(london_dir: Path) -> pd.DataFrame:
    """Hourly London weather (DarkSky, local time → UTC), the same for every region (one city)."""
    w = pd.read_csv(london_dir / "weather_hourly_darksky.csv", usecols=["time", "temperature", "humidity"])
    local = pd.to_datetime(w["time"]).dt.tz_localize("Europe/London", ambiguous="NaT", nonexistent="NaT")
    w = pd.DataFrame(
        {
            "observed_at": local.dt.tz_convert("UTC"),
            "temperature_c": w["temperature"],
            "humidity": w["humidity"],
        }
    ).dropna(subset=["observed_at"])
    w = w.drop_duplicates("observed_at").sort_values("observed_at")
    return pd.concat([w.assign(region=r) for r in REGIONS], ignore_index=True)[
        ["region", "observed_at", "temperature_c", "humidity"]
    ]


def build_demo(shared_data: Path, out_dir: Path, *, n_households: int = 300, seed: int = SEED) -> dict[str, str]:
    """Rebuild the demo tenant into `out_dir`; returns each table's content hash.

    Deterministic: the same `shared_data`, `n_households` and `seed` give the same hashes.
    """
    rng = np.random.default_rng(seed)
    london = Path(shared_data) / "london_smart_meters"
    halfhourly = read_halfhourly(london)
    forced = sorted(halfhourly["customer_id"].unique())
    candidates = sample_households(london, n_households, rng, forced)
    daily = read_london_daily(london, candidates)
    days = daily.groupby("customer_id").size()
    eligible = candidates[candidates["LCLid"].isin(days.index[days >= 300])]
    rest = eligible[~eligible["LCLid"].isin(forced)]
    quota = (rest["Acorn_grouped"].value_counts(normalize=True) * (n_households - len(forced))).round()
    rest = rest[rest.groupby("Acorn_grouped").cumcount() < rest["Acorn_grouped"].map(quota)]
    keep = pd.concat([eligible[eligible["LCLid"].isin(forced)], rest]).head(n_households).sort_values("LCLid")
    daily = daily[daily["customer_id"].isin(keep["LCLid"])].reset_index(drop=True)
    span = daily.groupby("customer_id")["reading_date"].agg(["min", "max"])
    region = rng.choice(REGIONS, size=len(keep))
    customers = pd.DataFrame(
        {
            "customer_id": keep["LCLid"].to_numpy(),
            "category": "residential",
            "tariff": keep["stdorToU"].str.lower().to_numpy(),
            "region": region,
            "area": [
                f"{r}-F{i}" for r, i in zip(region, rng.integers(1, FEEDERS_PER_REGION + 1, len(keep)), strict=True)
            ],
            "socio_group": keep["Acorn_grouped"].to_numpy(),
            "acorn": keep["Acorn"].to_numpy(),
        }
    )
    customers["start_date"] = customers["customer_id"].map(span["min"])
    last = customers["customer_id"].map(span["max"])
    customers["end_date"] = last.where(last < LAST_DAY - pd.Timedelta(days=30))
    bills = make_bills(daily, customers)
    matrices, clients = taiwan_transitions(Path(shared_data) / "taiwan_credit_default" / "UCI_Credit_Card.csv")
    payments = simulate_payments(bills, customers, matrices, clients, rng)
    tables = {
        "customers": customers,
        "readings": daily,
        "interval_readings": halfhourly[halfhourly["customer_id"].isin(customers["customer_id"])],
        "bills": bills,
        "payments": payments,
        "weather": read_weather(london),
    }
    hashes = {}
    for name, df in tables.items():
        write_table(df.reset_index(drop=True), Path(out_dir) / f"{name}.parquet")
        hashes[name] = frame_hash(df.reset_index(drop=True))
        logger.info("demo %s: %d rows, hash %s", name, len(df), hashes[name])
    return hashes
