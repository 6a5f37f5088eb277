"""``python -m harness.train_job <tenant_dir> <var_dir> <models_dir> [--seed N]``: one arrears
training run (train, log, register, admit, promote) for the kill tests. Prints ``DONE <version>``."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from harness.tenant import small_tenant


def write_tenant(folder: Path, seed: int = 1) -> Path:
    """A 40-customer tenant with learnable late payers (small: one training run takes seconds)."""
    import numpy as np

    tables = small_tenant(40, days=400, seed=seed)
    bills, pay = tables["bills"], tables["payments"]
    rng = np.random.default_rng(7)
    risky = set(sorted(tables["customers"]["customer_id"])[:14])
    due = pay["bill_id"].map(bills.set_index("bill_id")["due_date"])
    late = pay["customer_id"].isin(risky).to_numpy() & (rng.random(len(pay)) < 0.6)
    shifted = (due + pd.to_timedelta(rng.integers(31, 80, len(pay)), unit="D")).dt.tz_localize("UTC")
    pay["paid_at"] = pay["paid_at"].where(~late, shifted + pd.Timedelta(hours=12))
    tables["payments"] = pay[pay["paid_at"] < pd.Timestamp("2024-06-10", tz="UTC")].reset_index(drop=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def main(argv: list[str]) -> None:
    from features.settings import DataSettings
    from training.arrears_job import train_arrears
    from training.settings import TrainingSettings

    tenant, var, models = (Path(a) for a in argv[:3])
    data = DataSettings(data_dir=tenant, var_dir=var, tenant="kill")
    training = TrainingSettings(var_dir=var, models_dir=models, seed=int(argv[4]) if len(argv) > 4 else 0)
    result = train_arrears(data, training, force=True)  # force: every completed run moves champion
    print(f"DONE {result.version}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
