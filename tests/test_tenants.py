"""Tenants end to end: a second tenant trained, scored and served beside the demo leaves the demo's
registered models, files and API answers as they were, and each API serves its own tenant's champion."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.settings import DataSettings
from features.snapshots import build_snapshot
from serving.app import create_app
from serving.model_store import ModelStore
from serving.settings import ServingSettings
from tests.conftest import make_tenant
from training.arrears_job import score_arrears, train_arrears
from training.registry import open_registry
from training.settings import TrainingSettings

BILLING = {"X-API-Key": "billing-key"}
DEMO_ID, ACME_ID = "C001", "A-C001"


def write_tenant(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True)
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def acme_tables() -> dict[str, pd.DataFrame]:
    """Another supplier's export: other customers (ids ``A-…``), other habits (seed)."""
    tables = make_tenant(n_customers=40, seed=5)
    for df in tables.values():
        for col in ("customer_id", "bill_id", "payment_id"):
            if col in df:
                df[col] = "A-" + df[col].astype(str)
    return tables


def fingerprint(root: Path, reg) -> dict[str, object]:
    """What the demo tenant owns: registry state and the bytes of every file under its folders."""
    files = {}
    for sub in ("var/features/demo", "var/scores/demo", "models/demo"):
        for path in sorted((root / sub).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "champion": reg.champion_version("arrears"),
        "latest": reg.latest_version("arrears"),
        "files": files,
    }


def serving(root: Path, training: TrainingSettings, tenant: str) -> ServingSettings:
    return ServingSettings(
        tenant=tenant,
        var_dir=root / "var",
        models_dir=root / "models",
        tracking_uri=training.tracking_uri,
        kinds=("arrears",),
        required_kinds=("arrears",),
        rate_limit_per_s=0,
    )


def answer(client: TestClient, customer_id: str) -> tuple[int, dict]:
    r = client.get(f"/v1/arrears/{customer_id}", headers=BILLING)
    body = r.json()
    if r.status_code != 200:
        body = {"code": body["error"]["code"]}  # the request id differs per call
    body.pop("decision_batch_id", None)  # each answer is its own audit record
    return r.status_code, body


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tenants")


def test_second_tenant_leaves_the_demo_unchanged(root: Path):
    training = TrainingSettings(
        var_dir=root / "var", models_dir=root / "models", tracking_uri=f"sqlite:///{root}/mlflow.db"
    )
    demo = DataSettings(
        tenant="demo", data_dir=write_tenant(root / "demo", make_tenant(n_customers=40)), var_dir=root / "var"
    )
    acme = DataSettings(tenant="acme", data_dir=write_tenant(root / "acme", acme_tables()), var_dir=root / "var")
    demo_reg = open_registry(training, "demo")

    build_snapshot(demo.data_dir, demo.snapshot_dir, tenant="demo")
    assert train_arrears(demo, training, force=True).promoted  # tiny tenant: promotion rule is not under test here
    score_arrears(demo, training)
    demo_store = ModelStore(serving(root, training, "demo"))
    demo_store.load_all()
    with TestClient(create_app(demo_store.settings, demo_store)) as client:
        before_api = answer(client, DEMO_ID)
    assert before_api[0] == 200 and before_api[1]["model_version"] == "1"
    before = fingerprint(root, demo_reg)

    # the second tenant: its own snapshot, model (its own v1 and champion), scores and exported bundle
    build_snapshot(acme.data_dir, acme.snapshot_dir, tenant="acme")
    result = train_arrears(acme, training, force=True)
    assert result.promoted and result.version == "1" and result.champion_version is None  # never saw demo's
    score_arrears(acme, training)
    acme_reg = open_registry(training, "acme")
    assert acme_reg.champion_version("arrears") == "1"
    assert acme_reg.run_info(result.run_id)["tags"]["tenant"] == "acme"
    assert (root / "models" / "acme" / "arrears" / "model.joblib").exists()
    assert (root / "var" / "scores" / "acme" / "arrears" / "latest.parquet").exists()

    assert fingerprint(root, demo_reg) == before  # demo's models, snapshots and scores are untouched
    with TestClient(create_app(demo_store.settings, demo_store)) as client:
        demo_store.reload("arrears")  # a reload of the demo picks the demo champion again
        assert answer(client, DEMO_ID) == before_api
        assert answer(client, ACME_ID) == (404, {"code": "unknown_customer"})
    fresh = ModelStore(serving(root, training, "demo"))
    fresh.load_all()
    with TestClient(create_app(fresh.settings, fresh)) as client:
        assert answer(client, DEMO_ID) == before_api

    # the second tenant's API serves its own champion and customers only
    acme_store = ModelStore(serving(root, training, "acme"))
    acme_store.load_all()
    assert acme_store.get("arrears").version == "1"
    with TestClient(create_app(acme_store.settings, acme_store)) as client:
        status, body = answer(client, ACME_ID)
        assert status == 200 and body["customer_id"] == ACME_ID
        assert answer(client, DEMO_ID) == (404, {"code": "unknown_customer"})
