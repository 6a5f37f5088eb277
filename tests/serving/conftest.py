"""Serving fixtures: a tiny var/ folder (one feature snapshot) and an app around stub bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.snapshots import build_manifest, write_snapshot
from serving.app import create_app
from serving.model_store import ModelStore
from serving.settings import ServingSettings
from tests.serving.stubs import StubLoader

IDS = [f"C{i:03d}" for i in range(10)]
BILLING = {"X-API-Key": "billing-key"}
PLANNER = {"X-API-Key": "planner-key"}
ADMIN = {"X-API-Key": "admin-key"}


UNITS = {
    "kwh_mean_28d": ("kWh/day", "mean daily kWh over 28 days"),
    "late_bills_12m": ("count", "bills paid late in 12 months"),
    "share_night": ("share", "share of kWh at night"),
    "share_evening": ("share", "share of kWh in the evening"),
    "has_bills": ("bool", "customer has a bill"),
}


def snapshot_frame(bump: float = 0.0) -> pd.DataFrame:
    """Ten customers; C008 has no bill yet and C009 no usable arrears feature (both insufficient)."""
    profiles = pd.DataFrame(
        {
            "customer_id": IDS,
            "kwh_mean_28d": [10.0 + i + bump for i in range(10)],
            "late_bills_12m": [float(i % 4) for i in range(10)],
            "share_night": [0.1 * (i % 5) for i in range(10)],
            "share_evening": 0.3,
            "has_bills": [True] * 8 + [False, True],
        }
    )
    profiles.loc[9, ["kwh_mean_28d", "late_bills_12m"]] = np.nan
    return profiles


def write_features(var: Path, profiles: pd.DataFrame, as_of: str = "2014-02-28") -> Path:
    """A snapshot as ``features build`` writes it: profiles, manifest (units) and the latest pointer."""
    manifest = build_manifest(
        profiles,
        as_of=pd.Timestamp(as_of),
        descriptions={c: UNITS[c] for c in profiles.columns if c != "customer_id"},
        source_hashes={},
        source_rows={},
        feature_version="test",
    )
    return write_snapshot(profiles, manifest, var / "features" / "demo")


def write_var(var: Path) -> None:
    write_features(var, snapshot_frame())


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
