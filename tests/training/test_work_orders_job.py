"""train_work_orders: scored with champion and baseline on the same held-out orders; decide() rules."""

from __future__ import annotations

import pandas as pd

from features.settings import DataSettings
from tests.training.test_work_orders import corpus
from training.registry import open_registry
from training.work_orders_job import KIND, train_work_orders


def write_orders(folder, customers: pd.DataFrame) -> None:
    texts, labels = corpus(90)
    ids = customers["customer_id"].tolist()
    pd.DataFrame(
        {
            "order_id": [f"W{i:03d}" for i in range(90)],
            "customer_id": [ids[i % len(ids)] for i in range(90)],
            "created_at": pd.date_range("2024-01-01", periods=90, freq="D", tz="UTC"),
            "channel": "app",
            "category": labels,
            "text": texts,
        }
    ).to_parquet(folder / "work_orders.parquet", index=False)


def test_first_forced_then_the_same_model_is_not_promoted(tenant_dir, tenant, mlflow_settings):
    write_orders(tenant_dir, tenant["customers"])
    data = DataSettings(data_dir=tenant_dir, tenant="t1", var_dir=mlflow_settings.var_dir)
    first = train_work_orders(data, mlflow_settings, force=True)
    assert first.promoted and first.reason == "forced" and first.champion_macro_f1 is None
    second = train_work_orders(data, mlflow_settings)
    assert not second.promoted and second.champion_macro_f1 == first.macro_f1  # re-scored on the same orders
    assert open_registry(mlflow_settings, "t1").champion_version(KIND) == first.version
    assert (mlflow_settings.models_dir / "t1" / KIND / "model.joblib").exists()
