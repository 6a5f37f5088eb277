"""Demo collections data: protection flags and key accounts on the demo customers, prepaid / deposit balances.

Rebuild: ``python -m features.collections_demo`` (reads ``data/demo/customers.parquet``, ``readings.parquet``
and ``bills.parquet``; adds the optional flag columns to ``customers.parquet`` and writes
``balances.parquet`` and ``collections.json``; deterministic, seed :data:`SEED`; idempotent). Documented in
data/demo/SOURCE.md. Everything here is **generated**; nothing is a real customer's circumstance.

- **Protection flags** (drawn among the households, seeded): ``medical`` 4, ``priority_services`` 4,
  ``elderly`` 6, ``low_income`` 8 drawn among ACORN ``Adversity`` households, ``protection_other`` 2
  (free text). Two of the medical households are among the riskiest payers (most bills paid late), so the
  demo shows a guardrail at work.
- **Key accounts**: the ``key_account`` flag on 3 households (a contract flag); the key-account rule adds the
  top 2 % by kWh.
- **Balances** (24 households, ``prepaid`` or ``deposit``): one balance reported on 2014-02-20 per household,
  set from the household's real mean daily cost over the 14 days before it (kWh x its bills' unit rate) so
  that on 2014-02-27 (the last reading day) the days of credit left are spread over
  exhausted / 1 / 3 / 7 days and comfortable levels.
- **Policy** (``collections.json``): a winter disconnection moratorium for ``north`` and ``east``
  (15 Nov - 15 Mar) and a summer heat moratorium for ``south`` (1 Jul - 31 Aug).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.settings import DEMO_DIR

logger = logging.getLogger(__name__)
SEED = 20_241_123
REPORTED, CHECK_DAY = pd.Timestamp("2014-02-20"), pd.Timestamp("2014-02-27")
DAYS_LEFT = (-1.0, 0.5, 0.8, 2.0, 2.5, 4.0, 5.5, 6.5, 9.0, 12.0, 20.0, 45.0)  # on CHECK_DAY, two households each
POLICY = {
    "protected_periods": [
        {"name": "winter_moratorium", "regions": ["north", "east"], "start": "11-15", "end": "03-15"},
        {"name": "heat_moratorium", "regions": ["south"], "start": "07-01", "end": "08-31"},
    ]
}
OTHER_NOTES = ("carer for a disabled child", "recent bereavement")


def add_protection(customers: pd.DataFrame, risky: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """`customers` with the generated flag columns (booleans nullable, free text for ``protection_other``)."""
    out = customers.drop(
        columns=[
            c
            for c in ("medical", "priority_services", "elderly", "low_income", "protection_other", "key_account")
            if c in customers
        ]
    )
    ids = out["customer_id"].to_numpy()
    medical = list(rng.choice([i for i in ids if i not in risky], 2, replace=False)) + risky[:2]
    rest = [i for i in ids if i not in medical]
    picks = rng.permutation(rest)
    priority, elderly, other = picks[:4], picks[4:10], picks[10:12]
    adversity = out.loc[out["socio_group"].eq("Adversity"), "customer_id"]
    low_income = rng.choice(adversity[~adversity.isin(medical)].to_numpy(), 8, replace=False)
    key = picks[12:15]
    flag = lambda chosen: pd.array(np.isin(ids, chosen), dtype="boolean")  # noqa: E731
    out["medical"], out["priority_services"], out["elderly"] = flag(medical), flag(priority), flag(elderly)
    out["low_income"], out["key_account"] = flag(low_income), flag(key)
    notes = pd.Series(None, index=out.index, dtype=object)
    notes[np.isin(ids, other)] = list(OTHER_NOTES)
    out["protection_other"] = notes
    return out


def make_balances(readings: pd.DataFrame, bills: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One balance per chosen household on :data:`REPORTED`, set for the days of credit in :data:`DAYS_LEFT`."""
    window = readings[
        (readings["reading_date"] > REPORTED - pd.Timedelta(days=14)) & (readings["reading_date"] <= REPORTED)
    ]
    kwh = window.groupby("customer_id")["kwh"].mean()
    sums = bills[bills["issue_date"] <= REPORTED].groupby("customer_id")[["amount", "kwh"]].sum()
    rate = sums["amount"] / sums["kwh"]
    cost = (kwh * rate).dropna()
    cost = cost[cost > 0]
    chosen = rng.choice(cost.index.to_numpy(), 2 * len(DAYS_LEFT), replace=False)
    days_left = np.repeat(DAYS_LEFT, 2)
    elapsed = (CHECK_DAY - REPORTED).days
    balance = cost.loc[chosen].to_numpy() * (days_left + elapsed)
    return pd.DataFrame(
        {
            "customer_id": chosen,
            "as_of": REPORTED,
            "balance": balance.round(2),
            "account_type": np.where(np.arange(len(chosen)) % 3 == 0, "deposit", "prepaid"),
        }
    ).sort_values("customer_id", ignore_index=True)


def build_collections_demo(folder: Path = DEMO_DIR, seed: int = SEED) -> dict[str, int]:
    """Write the generated columns and tables into `folder` (the demo tenant); returns row counts."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    readings = pd.read_parquet(folder / "readings.parquet")
    bills = pd.read_parquet(folder / "bills.parquet")
    payments = pd.read_parquet(folder / "payments.parquet")
    paid = payments.groupby("bill_id")["amount"].sum()
    unpaid = bills.assign(open=bills["amount"] - bills["bill_id"].map(paid).fillna(0.0))
    risky = unpaid.groupby("customer_id")["open"].sum().sort_values(ascending=False).index[:2].tolist()
    customers = add_protection(customers, risky, rng)
    balances = make_balances(readings, bills, rng)
    customers.to_parquet(folder / "customers.parquet", index=False)
    balances.to_parquet(folder / "balances.parquet", index=False)
    (folder / "collections.json").write_text(json.dumps(POLICY, indent=2) + "\n")
    counts = {
        "medical": int(customers["medical"].sum()),
        "protected": int(customers[["medical", "priority_services", "elderly", "low_income"]].any(axis=1).sum()),
        "key_accounts": int(customers["key_account"].sum()),
        "balances": len(balances),
    }
    logger.info("collections demo: %s", counts)
    return counts


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build_collections_demo()
