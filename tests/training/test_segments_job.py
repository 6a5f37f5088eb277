"""Segments job end to end on a small tenant: MLflow run, registry champion, names kept, scores file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from features.settings import DataSettings
from tests.conftest import make_tenant
from training import registry, segments_job
from training.segment_migration import write_migration_report
from training.segments_job import SCORE_COLUMNS, SegmentsConfig, score_segments, train_segments


def test_train_registers_champion_keeps_names_and_scores(tmp_path: Path, mlflow_settings):
    tenant = make_tenant(n_customers=60, days=400)
    folder = tmp_path / "tenant"
    folder.mkdir()
    for name, df in tenant.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    data = DataSettings(data_dir=folder, var_dir=tmp_path / "var", tenant="t1")
    config = SegmentsConfig(k_min=2, k_max=3, n_boot=1)

    first = train_segments(data, mlflow_settings, config=config)
    assert first.promoted and first.version == "1"
    assert registry.open_registry(mlflow_settings, "t1").champion_version("segments") == "1"
    assert {"silhouette", "silhouette_heldout", "davies_bouldin", "size_0"} <= set(first.metrics)
    assert {"bootstrap_ari_oob_mean", "bootstrap_ari_oob_p10", "bootstrap_ari_oob_p90"} <= set(first.metrics)
    assert (mlflow_settings.models_dir / "t1" / "segments" / "model.joblib").exists()

    # a retrain a month earlier sees slightly different data and keeps the champion's names
    second = train_segments(data, mlflow_settings, as_of=pd.Timestamp("2024-05-04"), config=config, force=True)
    assert second.version == "2"
    assert set(second.segment_names) == set(first.segment_names)

    grades = pd.DataFrame({"customer_id": ["C000", "C001"], "grade": ["C", "AA"]})
    grades_path = tmp_path / "grades.parquet"
    grades.to_parquet(grades_path)
    path = score_segments(data, mlflow_settings, grades_path=grades_path)
    assert path.parent == tmp_path / "var" / "scores" / "t1" / "segments"
    scores = pd.read_parquet(path.parent / "latest.parquet")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert len(scores) == 60 and scores["customer_id"].is_unique
    assert set(scores["segment_name"]) <= set(second.segment_names) | {"insufficient data"}
    assert scores.set_index("customer_id").loc["C000", "grade"] == "C"
    assert (scores["grade"] == "unscored").sum() == 58
    assert scores["model_version"].eq("2").all()


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory) -> DataSettings:
    folder = tmp_path_factory.mktemp("seg-tenant")
    for name, df in make_tenant(n_customers=60, days=400, seed=3).items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return DataSettings(data_dir=folder, var_dir=folder.parent / "seg-var", tenant="t1")


def test_a_champion_trained_on_newer_data_is_not_replaced_by_a_worse_challenger(seg_data, mlflow_settings):
    newer = train_segments(seg_data, mlflow_settings, config=SegmentsConfig(k_min=2, k_max=3, n_boot=0))
    assert newer.promoted
    # an older, over-split challenger (k forced to 8 on 48 customers) is judged on the champion's newer data
    worse = SegmentsConfig(k_min=8, k_max=8, n_boot=0)
    older = train_segments(seg_data, mlflow_settings, as_of=pd.Timestamp("2024-05-10"), config=worse)
    assert (
        not older.promoted
        and registry.open_registry(mlflow_settings, "t1").champion_version("segments") == newer.version
    )
    assert older.metrics["champion_silhouette"] > older.metrics["heldout_silhouette"]
    tags = (
        registry.open_registry(mlflow_settings, "t1")
        .client.get_model_version(registry.open_registry(mlflow_settings, "t1").model_name("segments"), older.version)
        .tags
    )
    assert tags["promotion"] == "challenger" and tags["champion_version"] == newer.version
    # promote_version re-scores both on the same held-out customers and refuses again; --force overrides
    decision = segments_job.promote_version(seg_data, mlflow_settings, older.version)
    assert not decision.promote and decision.champion.data_id == decision.challenger.data_id
    assert segments_job.promote_version(seg_data, mlflow_settings, older.version, force=True).promote
    assert registry.open_registry(mlflow_settings, "t1").champion_version("segments") == older.version

    # the migration report between the two versions: one row per customer, files and HTML
    folder = write_migration_report(seg_data, mlflow_settings, newer.version, older.version)
    migration = pd.read_parquet(folder / "migration.parquet")
    assert len(migration) == 60 and migration["customer_id"].is_unique
    assert migration["moved"].any() and migration.loc[migration["moved"], "feature_1"].notna().all()
    assert set(migration.loc[migration["moved"], "cause"]) <= {"usage", "model"}
    assert (folder / "transitions.csv").exists() and "transitions" in (folder / "report.html").read_text()


def test_refused_when_the_champion_cannot_be_rescored(seg_data, mlflow_settings, monkeypatch):
    config = SegmentsConfig(k_min=2, k_max=3, n_boot=0)
    first = train_segments(seg_data, mlflow_settings, config=config)
    second = train_segments(seg_data, mlflow_settings, config=config, promote=False)
    champion = segments_job._load_champion(registry.open_registry(mlflow_settings, "t1"))

    class Blind:  # a champion needing features today's shapes no longer have
        def predict_frame(self, X):
            raise KeyError("shape_feature_dropped_since")

    monkeypatch.setattr(segments_job, "_load_champion", lambda reg: dataclasses.replace(champion, bundle=Blind()))
    decision = segments_job.promote_version(seg_data, mlflow_settings, second.version)
    assert not decision.promote and "not scored" in decision.reason
    assert registry.open_registry(mlflow_settings, "t1").champion_version("segments") == first.version
