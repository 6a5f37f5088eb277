"""Shared fixtures: a ten-customer tenant built in code, and a throw-away MLflow store.

The registry holds no process-global MLflow state (see :mod:`training.registry`), so no fixture has
to reset ``MLFLOW_TRACKING_URI`` between tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NOW = pd.Timestamp("2024-07-01", tz="UTC")


def make_tenant(n_customers: int = 10, days: int = 400, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A small, valid tenant: daily readings from 2023-05-01, monthly bills, payments (some late, some missing)."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:03d}" for i in range(n_customers)]
    start = pd.Timestamp("2023-05-01")
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "category": ["residential"] * (n_customers - 2) + ["commercial", "industrial"],
            "tariff": "std",
            "region": [("north", "south")[i % 2] for i in range(n_customers)],
            "area": "F1",
            "start_date": start,
            "end_date": pd.NaT,
        }
    )
    dates = pd.date_range(start, periods=days, freq="D")
    season = 1 + 0.3 * np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 15) / 365.25)
    level = rng.uniform(5, 30, n_customers)
    kwh = level[:, None] * season[None, :] * rng.lognormal(0, 0.2, (n_customers, days))
    readings = pd.DataFrame(
        {
            "customer_id": np.repeat(ids, days),
            "reading_date": np.tile(dates, n_customers),
            "kwh": kwh.ravel().round(3),
        }
    )
    months = pd.period_range(start, periods=days // 31, freq="M")
    bills = pd.DataFrame(
        [
            {
                "bill_id": f"{c}-{m.strftime('%Y%m')}",
                "customer_id": c,
                "period_start": m.start_time,
                "period_end": m.end_time.normalize(),
                "issue_date": m.end_time.normalize() + pd.Timedelta(days=5),
                "due_date": m.end_time.normalize() + pd.Timedelta(days=26),
                "kwh": 300.0,
                "amount": 60.0,
            }
            for c in ids
            for m in months
        ]
    )
    late = rng.random(len(bills)) < np.where(bills["customer_id"].isin(ids[:3]), 0.6, 0.1)
    days_late = np.where(late, rng.integers(31, 80, len(bills)), -rng.integers(0, 10, len(bills)))
    paid_at = (bills["due_date"] + pd.to_timedelta(days_late, unit="D")).dt.tz_localize("UTC") + pd.Timedelta(hours=12)
    payments = pd.DataFrame(
        {
            "payment_id": "P" + bills["bill_id"],
            "bill_id": bills["bill_id"],
            "customer_id": bills["customer_id"],
            "paid_at": paid_at,
            "amount": bills["amount"],
            "channel": "direct_debit",
        }
    )
    payments = payments[payments["paid_at"] < NOW - pd.Timedelta(days=20)].reset_index(drop=True)
    weather = pd.DataFrame(
        {
            "region": np.repeat(["north", "south"], days),
            "observed_at": np.tile(dates.tz_localize("UTC"), 2),
            "temperature_c": np.tile(10 - 8 * np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 15) / 365.25), 2),
        }
    )
    return {
        "customers": customers,
        "readings": readings,
        "bills": bills,
        "payments": payments,
        "weather": weather,
    }


@pytest.fixture
def tenant() -> dict[str, pd.DataFrame]:
    return make_tenant()


@pytest.fixture
def tenant_dir(tmp_path: Path, tenant: dict[str, pd.DataFrame]) -> Path:
    folder = tmp_path / "tenant"
    folder.mkdir()
    for name, df in tenant.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture
def mlflow_settings(tmp_path: Path):
    from training.settings import TrainingSettings

    return TrainingSettings(
        var_dir=tmp_path / "var",
        models_dir=tmp_path / "models",
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
    )


def needs_shared() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not beside the checkout")
