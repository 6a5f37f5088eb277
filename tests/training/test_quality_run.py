"""A data-quality report becomes one MLflow run with its figures as metrics and the report as artifacts."""

from __future__ import annotations

from mlflow import MlflowClient

from training.quality_run import KIND, log_quality, quality_metrics
from training.settings import TrainingSettings

SUMMARY = {
    "meters": 3,
    "meters_with_issue": 1,
    "meters_per_issue": {"gaps": 1, "spikes": 0},
    "completeness_median": 0.97,
    "completeness_p10": None,
    "as_of": "2024-06-30",
    "run_id": "20240701T000000Z-abcdef",
}


def test_metrics_are_flat_and_skip_missing_figures():
    assert quality_metrics(SUMMARY) == {
        "meters": 3.0,
        "meters_with_issue": 1.0,
        "completeness_median": 0.97,
        "meters_gaps": 1.0,
        "meters_spikes": 0.0,
    }


def test_log_quality_writes_one_run_with_metrics_tags_and_report(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "quality.html").write_text("<html></html>")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_quality("acme", SUMMARY, report, TrainingSettings(var_dir=tmp_path, tracking_uri=uri))
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.metrics["meters_gaps"] == 1.0 and run.data.tags["as_of"] == "2024-06-30"
    assert run.data.tags["kind"] == KIND and run.info.status == "FINISHED"
    listed = MlflowClient(tracking_uri=uri).list_artifacts(run_id, "quality")
    assert [a.path for a in listed] == ["quality/quality.html"]
