"""Arrears job end to end on a small in-code tenant with a throw-away MLflow store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import ModelNotReady
from features.settings import DataSettings
from tests.conftest import make_tenant
from training import arrears_job, registry
from training.arrears_job import promote_arrears, score_arrears, train_arrears

RISKY = [f"C{i:03d}" for i in range(20)]


def risky_tenant() -> dict[str, pd.DataFrame]:
    """make_tenant with a third of the customers paying most bills 31-80 days late (a learnable habit)."""
    tables = make_tenant(n_customers=60, days=400, seed=1)
    bills, pay = tables["bills"], tables["payments"]
    rng = np.random.default_rng(7)
    due = pay["bill_id"].map(bills.set_index("bill_id")["due_date"])
    late = pay["customer_id"].isin(RISKY).to_numpy() & (rng.random(len(pay)) < 0.6)
    shifted = (due + pd.to_timedelta(rng.integers(31, 80, len(pay)), unit="D")).dt.tz_localize("UTC")
    pay["paid_at"] = pay["paid_at"].where(~late, shifted + pd.Timedelta(hours=12))
    tables["payments"] = pay[pay["paid_at"] < pd.Timestamp("2024-06-10", tz="UTC")].reset_index(drop=True)
    return tables


@pytest.fixture(scope="module")
def tenant_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tenant")
    for name, df in risky_tenant().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture
def data_settings(tenant_folder: Path, tmp_path: Path) -> DataSettings:
    return DataSettings(data_dir=tenant_folder, var_dir=tmp_path / "var", tenant="t1")


def test_train_promote_refuses_worse_then_force_and_score(data_settings, mlflow_settings, monkeypatch):
    reg = registry.open_registry(mlflow_settings, "t1")
    with pytest.raises(ModelNotReady, match="no registered version"):
        promote_arrears(data_settings, mlflow_settings)
    first = train_arrears(data_settings, mlflow_settings)
    assert first.promoted and first.version == "1"
    assert {"roc_auc", "pr_auc", "ks", "brier", "calibration_error", "lift_top_decile", "baseline_roc_auc"} <= set(
        first.metrics
    )
    assert first.metrics["roc_auc"] > 0.65
    info = reg.version_run("arrears", "1")
    assert info["params"]["data_hash_bills"] and info["tags"]["tenant"] == "t1"
    assert (mlflow_settings.models_dir / "t1" / "arrears" / "model.joblib").exists()

    # a model that cannot rank (one constant feature) must not replace the champion
    monkeypatch.setattr(arrears_job, "informative_columns", lambda frame, cols: ["has_bills"])
    second = train_arrears(data_settings, mlflow_settings)
    assert not second.promoted and second.version == "2"
    # the champion was judged on the very same validation rows
    assert second.metrics["champion_roc_auc"] == pytest.approx(first.metrics["roc_auc"])
    assert second.metrics["roc_auc"] < first.metrics["roc_auc"]
    assert reg.champion_version("arrears") == "1"
    monkeypatch.undo()

    assert promote_arrears(data_settings, mlflow_settings, version="2") is False
    assert reg.champion_version("arrears") == "1"
    assert promote_arrears(data_settings, mlflow_settings, version="2", force=True) is True
    assert reg.champion_version("arrears") == "2"
    assert promote_arrears(data_settings, mlflow_settings, version="1") is True  # better again
    assert reg.champion_version("arrears") == "1"

    as_of = pd.Timestamp("2024-05-15")
    path = score_arrears(data_settings, mlflow_settings, as_of=as_of)
    assert path == data_settings.var_dir / "scores" / "t1" / "arrears" / "2024-05-15.parquet"
    scores = pd.read_parquet(path)
    latest = pd.read_parquet(path.parent / "latest.parquet")
    assert scores.equals(latest)
    assert list(scores.columns) == [
        "customer_id",
        "probability",
        "grade",
        "action",
        "reason_1",
        "reason_2",
        "reason_3",
        "model_version",
        "as_of",
    ]
    assert len(scores) == 60 and scores["customer_id"].is_unique
    assert scores["reason_1"].notna().all()
    assert ((scores["probability"] >= 0) & (scores["probability"] <= 1)).all()
    assert set(scores["model_version"]) == {"1"}
    # the habitual late payers rank above the others
    risky = scores["customer_id"].isin(RISKY)
    assert scores.loc[risky, "probability"].mean() > 2 * scores.loc[~risky, "probability"].mean()


def test_comparison_rows_skip_bills_a_later_champion_trained_on():
    from training.arrears_job import comparison_rows

    validation = pd.DataFrame(
        {
            "issue_date": pd.to_datetime(["2024-01-05"] * 4 + ["2024-02-05"] * 4),
            "label": [0, 1, 0, 1, 0, 1, 1, 0],
        }
    )
    assert comparison_rows(validation, {}) is validation
    assert comparison_rows(validation, {"validation_start": "2023-12-05"}) is validation
    later = comparison_rows(validation, {"validation_start": "2024-02-05"})
    assert len(later) == 4 and (later["issue_date"] == "2024-02-05").all()
    one_class = validation.assign(label=[0, 1, 0, 1, 1, 1, 1, 1])
    assert comparison_rows(one_class, {"validation_start": "2024-02-05"}) is one_class
