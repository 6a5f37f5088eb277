"""Arrears job end to end on a small in-code tenant with a throw-away MLflow store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import ModelNotReady
from features.settings import DataSettings
from features.training_sets import build_arrears_training_set
from tests.conftest import make_tenant
from training import arrears_fit, arrears_job, registry
from training.arrears_job import promote_version, score_arrears, train_arrears
from training.decisions import DecisionLog

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
    with pytest.raises(ModelNotReady, match="version 1"):
        promote_version(data_settings, mlflow_settings, "1")
    first = train_arrears(data_settings, mlflow_settings)
    assert first.promoted and first.version == "1"
    assert first.decision.baseline is not None  # the first model had to beat the logistic baseline
    assert {"roc_auc", "pr_auc", "ks", "brier", "calibration_error", "lift_top_decile", "baseline_roc_auc"} <= set(
        first.metrics
    )
    assert first.metrics["roc_auc"] > 0.65
    info = registry.open_registry(mlflow_settings, "t1").version_run("arrears", "1")
    assert info["params"]["data_hash_bills"] and info["tags"]["tenant"] == "t1"
    assert int(info["params"]["n_early_stopping"]) > 0  # early stopping has its own slice
    assert (mlflow_settings.models_dir / "t1" / "arrears" / "model.joblib").exists()

    # a model that cannot rank (one constant feature) must not replace the champion
    monkeypatch.setattr(arrears_fit, "informative_columns", lambda frame, cols: ["has_bills"])
    second = train_arrears(data_settings, mlflow_settings)
    assert not second.promoted and second.version == "2"
    # the champion was judged on the very same held-out rows, and the decision is tagged on the version
    assert second.decision.champion.data_id == second.decision.challenger.data_id
    assert second.metrics["champion_roc_auc"] == pytest.approx(first.metrics["heldout_roc_auc"])
    assert second.metrics["heldout_roc_auc"] < first.metrics["heldout_roc_auc"]
    assert registry.open_registry(mlflow_settings, "t1").champion_version("arrears") == "1"
    tags = (
        registry.open_registry(mlflow_settings, "t1")
        .client.get_model_version(registry.open_registry(mlflow_settings, "t1").model_name("arrears"), "2")
        .tags
    )
    assert tags["promotion"] == "challenger" and tags["champion_version"] == "1"
    assert "margin" in tags["promotion_reason"]
    monkeypatch.undo()

    assert promote_version(data_settings, mlflow_settings, "2").promote is False
    assert registry.open_registry(mlflow_settings, "t1").champion_version("arrears") == "1"
    assert promote_version(data_settings, mlflow_settings, "2", force=True).promote is True
    assert registry.open_registry(mlflow_settings, "t1").champion_version("arrears") == "2"
    assert promote_version(data_settings, mlflow_settings, "1").promote is True  # better again
    assert registry.open_registry(mlflow_settings, "t1").champion_version("arrears") == "1"

    as_of = pd.Timestamp("2024-05-15")
    monkeypatch.delenv("METERWISE_DATABASE_URL", raising=False)  # this run's own SQLite audit file
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
        "original_action",
        "guardrail",
    ]
    assert len(scores) == 60 and scores["customer_id"].is_unique
    audit = DecisionLog.open(f"sqlite:///{data_settings.var_dir / 'decisions.db'}")
    assert audit.count() == 60  # the batch run is in the audit trail too
    audit.close()
    assert scores["reason_1"].notna().all()
    assert ((scores["probability"] >= 0) & (scores["probability"] <= 1)).all()
    assert set(scores["model_version"]) == {"1"}
    # the habitual late payers rank above the others
    risky = scores["customer_id"].isin(RISKY)
    assert scores.loc[risky, "probability"].mean() > 1.5 * scores.loc[~risky, "probability"].mean()


def test_a_champion_trained_on_newer_data_is_not_replaced_by_a_worse_challenger(
    data_settings, mlflow_settings, monkeypatch
):
    newer = train_arrears(data_settings, mlflow_settings)
    assert newer.promoted
    monkeypatch.setattr(arrears_fit, "informative_columns", lambda frame, cols: ["bills_total", "has_bills"])
    older = train_arrears(data_settings, mlflow_settings, as_of=pd.Timestamp("2024-05-01"))
    assert (
        not older.promoted
        and registry.open_registry(mlflow_settings, "t1").champion_version("arrears") == newer.version
    )
    # both were scored on the champion's newer held-out bills (the later validation start), not the challenger's
    d = older.decision
    assert d.champion.version == newer.version and d.champion.data_id == d.challenger.data_id
    assert d.champion.value == pytest.approx(newer.metrics["heldout_roc_auc"])
    assert older.metrics["heldout_rows"] == newer.metrics["heldout_rows"]
    assert older.metrics["heldout_rows"] > older.metrics["n"]  # more than its own (older) validation slice saw


def test_refused_when_the_champion_cannot_be_rescored(data_settings, mlflow_settings, monkeypatch):
    first = train_arrears(data_settings, mlflow_settings)
    second = train_arrears(data_settings, mlflow_settings, promote=False)
    champion = arrears_job._load_champion(registry.open_registry(mlflow_settings, "t1"))

    class Blind:  # a champion needing a feature today's pipeline no longer builds
        feature_names_in_ = ("feature_dropped_since",)

    monkeypatch.setattr(arrears_job, "_load_champion", lambda reg: dataclasses.replace(champion, bundle=Blind()))
    decision = promote_version(data_settings, mlflow_settings, second.version)
    assert decision.promote is False and "not scored" in decision.reason
    assert registry.open_registry(mlflow_settings, "t1").champion_version("arrears") == first.version
    assert promote_version(data_settings, mlflow_settings, second.version, force=True).promote is True


def test_validation_holds_only_closed_windows_and_is_not_censored():
    """Bills due within late_days of as_of are out of every split, even the ones already paid."""
    tables = risky_tenant()
    as_of = pd.Timestamp("2024-06-06")
    frame = arrears_job.training_frame(tables, as_of=as_of, late_days=30)
    assert (frame["due_date"] + pd.Timedelta(days=30) <= as_of).all()
    fit = arrears_job.fit_arrears(frame, late_days=30, as_of=as_of)
    # with hindsight (every payment known), the validation bills have exactly the rate seen at as_of
    hindsight = build_arrears_training_set(tables, label_as_of=pd.Timestamp("2030-01-01")).set_index("bill_id")
    truth = hindsight.loc[fit.validation["bill_id"], "label"]
    assert fit.metrics["validation_positive_rate"] == pytest.approx(truth.mean())
    # the censored protocol (open windows kept when already paid) would have understated it
    censored = build_arrears_training_set(tables, label_as_of=as_of)
    paid_early = censored[(censored["due_date"] + pd.Timedelta(days=30) > as_of) & (censored["issue_date"] <= as_of)]
    assert len(paid_early) and not paid_early["label_known"].any()
    split = fit.split
    for rows, nxt in ((split.train, split.early_stopping_start), (split.early_stopping, split.calibration_start)):
        assert (arrears_job.label_dates(frame.iloc[rows], 30) < nxt).all()
