"""Small seeded tenants for the reliability checks, built with the product's own scale generator
(:func:`features.synthetic.generate_tenant`): daily readings, monthly bills, payments (some late, some
missing) and hourly weather, with nothing dated after the end day."""

from __future__ import annotations

import pandas as pd

from features.synthetic import generate_tenant

NOW = pd.Timestamp("2024-07-01", tz="UTC")  # the loader's "now": no row of these tenants is later
END = pd.Timestamp("2024-06-10")


def small_tenant(n_customers: int, days: int, seed: int, *, end: pd.Timestamp = END) -> dict[str, pd.DataFrame]:
    """A valid tenant of `n_customers` x `days` daily readings ending at `end`; payments after `end` dropped.

    Ids are plain strings (``S00000000``...), as a CSV export would carry them.
    """
    tables = generate_tenant(n_customers, days=days, end=end, seed=seed)
    cutoff = end.tz_localize("UTC")
    tables["payments"] = tables["payments"][tables["payments"]["paid_at"] < cutoff].reset_index(drop=True)
    tables["weather"] = tables["weather"][tables["weather"]["observed_at"] < cutoff].reset_index(drop=True)
    for df in tables.values():
        if "customer_id" in df and isinstance(df["customer_id"].dtype, pd.CategoricalDtype):
            df["customer_id"] = df["customer_id"].astype(str)
    return tables
