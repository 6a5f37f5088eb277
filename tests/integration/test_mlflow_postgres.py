"""Train, promote, reload and serve through a real ``mlflow server`` backed by PostgreSQL (CI starts both).

Nothing here is special-cased for a server: the same :class:`~training.settings.TrainingSettings` and
:class:`~serving.settings.ServingSettings` a team would set (``METERWISE_TRACKING_URI``), and the
service must load its champion from the registry (its fallback bundle folder is left empty).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.settings import DataSettings
from serving.app import create_app
from serving.model_store import ModelStore
from serving.settings import ServingSettings
from tests.training.test_arrears_job import risky_tenant
from training import registry
from training.arrears_job import promote_version, score_arrears, train_arrears
from training.settings import TrainingSettings

ADMIN = {"X-API-Key": "it-admin-key-0123456789"}
BILLING = {"X-API-Key": "it-billing-key-0123456789"}
pytestmark = pytest.mark.integration
KEYS = {ADMIN["X-API-Key"]: ["admin", "billing"], BILLING["X-API-Key"]: ["billing"]}


@pytest.fixture(scope="module")
def tenant_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tenant")
    for name, df in risky_tenant().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def test_postgres_backed_server_trains_promotes_reloads_and_serves(
    mlflow_server_uri, fresh_tenant, tenant_folder, tmp_path
):
    data = DataSettings(data_dir=tenant_folder, var_dir=tmp_path / "var", tenant=fresh_tenant)
    training = TrainingSettings(
        var_dir=tmp_path / "var", models_dir=tmp_path / "models", tracking_uri=mlflow_server_uri
    )
    reg = registry.open_registry(training, fresh_tenant)
    assert reg.artifact_root is None  # the server keeps the artifacts (--artifacts-destination), not this process

    first = train_arrears(data, training)
    assert first.promoted and first.version == "1"
    assert reg.champion_version("arrears") == "1"
    second = train_arrears(data, training, as_of=pd.Timestamp("2024-05-01"))
    assert second.version == "2"
    assert promote_version(data, training, "2", force=True).promote is True
    assert reg.champion_version("arrears") == "2"
    assert score_arrears(data, training).exists()  # batch scoring downloads the champion from the server

    empty_models = tmp_path / "no-bundles"
    empty_models.mkdir()
    settings = ServingSettings(
        tracking_uri=mlflow_server_uri,
        tenant=fresh_tenant,
        var_dir=tmp_path / "serve-var",
        models_dir=empty_models,
        api_keys=KEYS,
        kinds=("arrears",),
        required_kinds=("arrears",),
        rate_limit_per_s=0,
    )
    store = ModelStore(settings)
    store.load_all()
    with TestClient(create_app(settings, store)) as client:
        model = client.get("/v1/models/arrears", headers=BILLING).json()
        assert model["version"] == "2", model
        bundle, _ = reg.load_or_exported("arrears", "2")
        features = {name: [1.0, 5.0] for name in bundle.feature_names_in_}
        scored = client.post("/v1/arrears/score", json={"features": features}, headers=BILLING)
        assert scored.status_code == 200, scored.text
        assert scored.json()["model_version"] == "2"

        assert promote_version(data, training, "1", force=True).promote is True  # the alias moves on the server
        reloaded = client.post("/v1/models/arrears/reload", headers=ADMIN)
        assert reloaded.status_code == 200, reloaded.text
        again = client.post("/v1/arrears/score", json={"features": features}, headers=BILLING).json()
        assert again["model_version"] == "1"


def test_the_product_database_is_postgresql_and_reachable(database_url):
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
            assert engine.dialect.name == "postgresql"
    finally:
        engine.dispose()
