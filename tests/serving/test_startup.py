"""Starting the service reads the registry and never writes MLflow run state (training cleans up runs)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.settings import ServingSettings
from tests.serving.conftest import write_var
from tests.serving.stubs import StubArrears
from training.registry import open_registry
from training.runs import OWNER_HOST, OWNER_PID
from training.settings import TrainingSettings


def test_service_start_leaves_orphaned_runs_alone(tmp_path: Path):
    import socket

    training = TrainingSettings(
        var_dir=tmp_path / "var", models_dir=tmp_path / "models", tracking_uri=f"sqlite:///{tmp_path}/m.db"
    )
    reg = open_registry(training, "demo")
    example = pd.DataFrame({"kwh_mean_28d": [10.0, 12.0], "late_bills_12m": [1.0, 0.0]})
    with reg.training_run("arrears", tags={}, params={}):
        uri = reg.log_model("arrears", StubArrears(), example)
    reg.promote_if_better("arrears", reg.register("arrears", uri), 0.8, None)
    dead = {OWNER_HOST: socket.gethostname(), OWNER_PID: "999999999"}  # a killed training job's run
    orphan = reg.client.create_run(reg._experiment_id("arrears"), tags=dead).info.run_id
    write_var(tmp_path / "var")
    settings = ServingSettings(
        var_dir=tmp_path / "var",
        models_dir=tmp_path / "models",
        tracking_uri=training.tracking_uri,
        kinds=("arrears",),
        required_kinds=("arrears",),
        rate_limit_per_s=0,
    )
    with TestClient(create_app(settings)) as client:  # the app owns its store: loads at start-up
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200
    assert reg.run_info(orphan)["status"] == "RUNNING"  # untouched by the service
    with reg.training_run("arrears", tags={}, params={}):  # the next training run cleans it up
        pass
    assert reg.run_info(orphan)["status"] == "FAILED"
