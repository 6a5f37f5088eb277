"""The customer attributes serving needs beside the features: region and protection flags (pure).

Written into each feature snapshot as ``protection.parquet`` (one row per customer), so the API applies
vulnerable-customer guardrails and protected periods by region from the snapshot it scores, with no
extra read per request.
"""

from __future__ import annotations

import pandas as pd

#: customers columns carried (each optional in the contract except ``region``)
PROTECTION_COLUMNS = (
    "region",
    "medical",
    "priority_services",
    "elderly",
    "low_income",
    "protection_other",
    "key_account",
)


def protection_table(customers: pd.DataFrame) -> pd.DataFrame:
    """``customer_id`` and whichever of :data:`PROTECTION_COLUMNS` the tenant's customers table has."""
    cols = [c for c in PROTECTION_COLUMNS if c in customers.columns]
    out = customers[["customer_id", *cols]].drop_duplicates("customer_id", keep="last").reset_index(drop=True)
    return out.assign(customer_id=out["customer_id"].astype(str))
