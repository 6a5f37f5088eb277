"""`meterwise monitor` end to end on a small tenant: status file, report, MLflow run, and the retrain trigger
going through the normal promotion rule."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.settings import DataSettings
from tests.training.test_arrears_job import risky_tenant
from training import registry
from training.arrears_job import train_arrears
from training.monitoring_job import monitor, read_history
from training.monitoring_rules import MonitoringSettings
from training.settings import TrainingSettings

TRAINED, LATER = pd.Timestamp("2024-03-01"), pd.Timestamp("2024-06-01")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[DataSettings, TrainingSettings]:
    root = tmp_path_factory.mktemp("monitor")
    folder = root / "tenant"
    folder.mkdir()
    for name, df in risky_tenant().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    data = DataSettings(data_dir=folder, var_dir=root / "var", tenant="t1")
    training = TrainingSettings(var_dir=root / "var", models_dir=root / "models", tracking_uri=f"sqlite:///{root}/m.db")
    assert train_arrears(data, training, as_of=TRAINED, force=True).version == "1"
    return data, training


def test_monitor_writes_status_report_history_and_an_mlflow_run(trained):
    data, training = trained
    result = monitor(data, training, as_of=LATER)
    status = json.loads(Path(result.path).read_text())
    assert result.path == data.var_dir / "monitoring" / "t1" / "latest.json"
    arrears = status["models"]["arrears"]
    assert arrears["version"] == "1" and arrears["status"] in {"warn", "alert"}
    assert {"score_psi", "grade_mix_psi", "matured_auc", "matured_bills"} <= set(arrears["metrics"])
    assert arrears["metrics"]["matured_bills"] > 0
    assert status["models"]["segments"]["status"] == "unavailable"  # no segments champion: said, not crashed
    assert {t["table"] for t in status["inputs"]["tables"]} >= {"bills", "payments"}
    assert "<img" in result.report.read_text()
    assert read_history(result.path.parent)["as_of"].tolist() == ["2024-06-01"]
    reg = registry.open_registry(training, "t1")
    runs = reg.client.search_runs([reg.client.get_experiment_by_name("meterwise-t1-monitoring").experiment_id])
    assert runs and "arrears.score_psi" in runs[0].data.metrics


def test_lenient_thresholds_raise_nothing_and_recommend_nothing(trained):
    data, training = trained
    lenient = MonitoringSettings(psi_warn=50, psi_alert=100, calibration_margin=1, auc_drop=1)
    status = monitor(data, training, lenient, as_of=LATER, report=False, log_mlflow=False).status
    assert status["models"]["arrears"]["status"] == "ok"
    assert status["retrain_recommended"] == []


def test_retrain_trigger_goes_through_promotion_and_a_worse_model_is_not_promoted(trained):
    data, training = trained
    strict = MonitoringSettings(psi_warn=0.0, psi_alert=0.0)  # every feature alerts: retraining recommended
    unbeatable = training.model_copy(update={"promote_margin": 10.0})  # the retrain cannot beat v1 by 1000 %
    result = monitor(data, unbeatable, strict, as_of=LATER, do_retrain=True, report=False, log_mlflow=False)
    assert result.status["retrain_recommended"] == ["arrears"]
    outcome = result.retrained["arrears"]
    assert outcome["version"] == "2" and outcome["promoted"] is False
    assert "below margin" in outcome["reason"]
    reg = registry.open_registry(training, "t1")
    assert reg.champion_version("arrears") == "1"  # the champion did not move
    assert json.loads(result.path.read_text())["retrained"]["arrears"]["promoted"] is False
