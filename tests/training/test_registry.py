"""The MLflow door: per-tenant names, no process-global MLflow state, run bookkeeping, pyfunc compatibility."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.errors import ModelNotReady
from tests.serving.stubs import StubArrears
from training.registry import Registry, model_name, open_registry
from training.runs import OWNER_HOST, OWNER_PID, orphaned
from training.settings import TrainingSettings

EXAMPLE = pd.DataFrame({"kwh_mean_28d": [10.0, 12.0], "late_bills_12m": [1.0, 0.0]})


def store(root: Path) -> TrainingSettings:
    return TrainingSettings(var_dir=root / "var", models_dir=root / "models", tracking_uri=f"sqlite:///{root}/m.db")


def log_version(reg: Registry, bias: float = 0.0, kind: str = "arrears") -> str:
    with reg.training_run(kind, tags={"as_of": "2024-06-01"}, params={"bias": bias}) as run_id:
        reg.log_metrics({"roc_auc": 0.7 + bias})
        uri = reg.log_model(kind, StubArrears(bias=bias), EXAMPLE)
    assert reg.run_info(run_id)["status"] == "FINISHED"
    return reg.register(kind, uri)


def test_two_stores_in_one_process_do_not_interfere(tmp_path: Path):
    global_uri, env_uri = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    a = open_registry(store(tmp_path / "a"), "demo")
    b = open_registry(store(tmp_path / "b"), "demo")
    assert a.uri != b.uri
    assert log_version(a, 0.1) == "1"
    assert b.champion_version("arrears") is None and b.latest_version("arrears") is None  # b saw nothing
    assert log_version(b, 0.2) == "1" and log_version(b, 0.3) == "2"
    a.promote_if_better("arrears", "1", 0.8, None)
    b.promote_if_better("arrears", "2", 0.8, None)
    assert (a.champion_version("arrears"), b.champion_version("arrears")) == ("1", "2")
    assert a.load_version("arrears")[0].bias == pytest.approx(0.1)
    assert b.load_version("arrears")[0].bias == pytest.approx(0.3)
    assert a.version_run("arrears", "1")["params"]["bias"] == "0.1"
    # nothing global moved: no tracking URI set, no environment variable written, no active run left
    assert mlflow.get_tracking_uri() == global_uri and os.environ.get("MLFLOW_TRACKING_URI") == env_uri
    assert mlflow.active_run() is None


def test_tenants_in_one_store_have_their_own_models_and_aliases(tmp_path: Path):
    settings = store(tmp_path)
    demo, acme = open_registry(settings, "demo"), open_registry(settings, "acme")
    assert demo.model_name("arrears") == model_name("arrears", "demo") == "meterwise-demo-arrears"
    assert acme.model_name("arrears") == "meterwise-acme-arrears"
    log_version(demo, 0.1)
    demo.promote_if_better("arrears", "1", 0.8, None)
    assert log_version(acme, 0.2) == "1"  # acme's first version, not demo's v2
    acme.promote_if_better("arrears", "1", 0.9, None)
    assert demo.load_version("arrears")[0].bias == pytest.approx(0.1)  # acme did not touch demo's champion
    assert demo.latest_version("arrears") == "1"
    assert acme.run_info(acme.version_run("arrears", "1")["run_id"])["tags"]["tenant"] == "acme"
    with pytest.raises(ModelNotReady, match="meterwise-acme-segments@champion"):
        acme.load_version("segments")


@pytest.mark.parametrize("tenant", ["", "Demo", "../demo", "a/b", "a.b", "x" * 41, "-a"])
def test_bad_tenant_names_are_refused(tmp_path: Path, tenant: str):
    with pytest.raises(ValueError, match="tenant="):
        open_registry(store(tmp_path), tenant)


def test_a_failing_block_ends_its_run_failed(tmp_path: Path):
    reg = open_registry(store(tmp_path), "demo")
    with pytest.raises(RuntimeError, match="boom"), reg.training_run("arrears", tags={}, params={}) as run_id:
        raise RuntimeError("boom")
    assert reg.run_info(run_id)["status"] == "FAILED"
    with pytest.raises(RuntimeError, match="no run"):
        reg.log_metrics({"x": 1.0})  # outside a run there is no implicit active run


def test_orphaned_runs_of_the_tenant_are_failed_when_training_starts(tmp_path: Path):
    settings = store(tmp_path)
    demo, acme = open_registry(settings, "demo"), open_registry(settings, "acme")
    dead = {OWNER_HOST: socket.gethostname(), OWNER_PID: "999999999"}  # no such process
    orphans = {
        reg.tenant: reg.client.create_run(reg._experiment_id("arrears"), tags=dead).info.run_id for reg in (demo, acme)
    }
    alive = demo.client.create_run(
        demo._experiment_id("arrears"), tags={OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getppid())}
    ).info.run_id
    with demo.training_run("arrears", tags={}, params={}):
        pass
    assert demo.run_info(orphans["demo"])["status"] == "FAILED"
    assert demo.run_info(alive)["status"] == "RUNNING"  # its process is alive
    assert acme.run_info(orphans["acme"])["status"] == "RUNNING"  # another tenant's runs are left alone


def test_orphaned_is_decided_by_owner_and_age():
    here = socket.gethostname()
    assert orphaned({OWNER_HOST: here, OWNER_PID: "999999999"}, 0)  # its process is gone
    assert orphaned({OWNER_HOST: here, OWNER_PID: str(os.getpid())}, 0)  # this process is in no such run
    assert not orphaned({OWNER_HOST: here, OWNER_PID: str(os.getppid())}, 0)  # alive
    assert not orphaned({OWNER_HOST: "another-host", OWNER_PID: "999999999"}, 0)  # may be alive elsewhere
    day_ms = 24 * 3600 * 1000
    assert orphaned({}, 0, now_ms=day_ms) and not orphaned({}, 1, now_ms=day_ms)  # untagged: only after a day


def test_registered_version_is_a_servable_pyfunc_and_exports_per_tenant(tmp_path: Path):
    reg = open_registry(store(tmp_path), "acme")
    version = log_version(reg, 0.2)
    source = reg.client.get_model_version_download_uri(reg.model_name("arrears"), version)
    pyfunc = mlflow.pyfunc.load_model(source)  # what `mlflow models serve` loads for this version
    assert list(pyfunc.predict(EXAMPLE).columns) == list(StubArrears(bias=0.2).predict_frame(EXAMPLE).columns)
    bundle, _ = reg.load_version("arrears", version)
    folder = reg.export_bundle("arrears", bundle, version, meta={"roc_auc": 0.9})
    assert folder == tmp_path / "models" / "acme" / "arrears"
    assert reg.load_exported("arrears")[1] == version
    with pytest.raises(ModelNotReady, match="meterwise-demo-arrears@champion"):  # acme's bundle is not demo's
        open_registry(store(tmp_path), "demo").load_or_exported("arrears")


def test_loading_a_version_fetches_two_files_and_reads_the_logged_signature(tmp_path: Path):
    from mlflow.models import Model

    from training import registry_load

    reg = open_registry(store(tmp_path), "acme")
    version = log_version(reg, 0.2)
    source = reg.client.get_model_version_download_uri(reg.model_name("arrears"), version)

    local = registry_load.download_model_files(source, tmp_path / "dl", reg.uri)
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == [
        "MLmodel",
        "artifacts/bundle.joblib",
    ]  # not the environments, examples and pyfunc pickle that serving never reads
    full = Path(mlflow.artifacts.download_artifacts(source, dst_path=str(tmp_path / "full")))
    assert registry_load.logged_signature(local) == Model.load(str(full)).signature  # libyaml reads the same
    bundle, loaded = reg.load_version("arrears", version)
    assert loaded == version and list(bundle.feature_names_in_) == list(EXAMPLE.columns)
