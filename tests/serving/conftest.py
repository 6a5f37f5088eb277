"""Serving fixtures: a tiny var/ folder (snapshot + batch scores) and an app around stub bundles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.model_store import ModelStore
from serving.settings import ServingSettings
from tests.serving.stubs import StubArrears, StubLoader

IDS = [f"C{i:03d}" for i in range(10)]
BILLING = {"X-API-Key": "billing-key"}
PLANNER = {"X-API-Key": "planner-key"}
ADMIN = {"X-API-Key": "admin-key"}


def write_var(var: Path) -> None:
    profiles = pd.DataFrame(
        {
            "customer_id": IDS,
            "kwh_mean_28d": [10.0 + i for i in range(10)],
            "late_bills_12m": [i % 4 for i in range(10)],
            "share_night": [0.1 * (i % 5) for i in range(10)],
            "share_evening": 0.3,
        }
    )
    (var / "features/demo/2014-02-28").mkdir(parents=True)
    profiles.to_parquet(var / "features/demo/2014-02-28/profiles.parquet")
    scored = StubArrears().predict_frame(profiles)
    reasons = StubArrears().reasons_frame(profiles)
    arrears = pd.concat([profiles[["customer_id"]], scored, reasons], axis=1)
    arrears["model_version"] = "1"
    arrears["as_of"] = pd.Timestamp("2014-02-28")
    arrears.loc[9, "as_of"] = pd.Timestamp("2013-10-31")  # C009 is stale
    (var / "scores/demo/arrears").mkdir(parents=True)
    arrears.to_parquet(var / "scores/demo/arrears/latest.parquet")
    segs = pd.DataFrame(
        {
            "customer_id": IDS,
            "segment_id": [i % 2 for i in range(10)],
            "segment_name": ["night owls", "evening peak"] * 5,
            "strategy": ["night tariff", "peak alerts"] * 5,
            "distance": 0.5,
            "model_version": "1",
        }
    )
    (var / "scores/demo/segments").mkdir(parents=True)
    segs.to_parquet(var / "scores/demo/segments/latest.parquet")


@pytest.fixture
def settings(tmp_path: Path) -> ServingSettings:
    write_var(tmp_path / "var")
    return ServingSettings(
        var_dir=tmp_path / "var", models_dir=tmp_path / "models", use_registry=False, tenant="demo", rate_limit_per_s=0
    )


@pytest.fixture
def loader() -> StubLoader:
    return StubLoader()


@pytest.fixture
def store(settings: ServingSettings, loader: StubLoader) -> ModelStore:
    s = ModelStore(settings, loader=loader)
    s.load_all()
    return s


@pytest.fixture
def client(settings: ServingSettings, store: ModelStore):
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as c:
        yield c
