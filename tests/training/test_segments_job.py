"""Segments job end to end on a small tenant: MLflow run, registry champion, names kept, scores file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.settings import DataSettings
from tests.conftest import make_tenant
from training import registry
from training.segments_job import SCORE_COLUMNS, SegmentsConfig, score_segments, train_segments


def test_train_registers_champion_keeps_names_and_scores(tmp_path: Path, mlflow_settings):
    tenant = make_tenant(n_customers=24, days=400)
    folder = tmp_path / "tenant"
    folder.mkdir()
    for name, df in tenant.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    data = DataSettings(data_dir=folder, var_dir=tmp_path / "var", tenant="t1")
    config = SegmentsConfig(k_min=2, k_max=3, n_boot=1)

    first = train_segments(data, mlflow_settings, config=config)
    assert first.promoted and first.version == "1"
    assert registry.open_registry(mlflow_settings, "t1").champion_version("segments") == "1"
    assert {"silhouette", "davies_bouldin", "stability_ari_mean", "size_0"} <= set(first.metrics)
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
    assert len(scores) == 24 and scores["customer_id"].is_unique
    assert set(scores["segment_name"]) <= set(second.segment_names) | {"insufficient data"}
    assert scores.set_index("customer_id").loc["C000", "grade"] == "C"
    assert (scores["grade"] == "unscored").sum() == 22
    assert scores["model_version"].eq("2").all()
