"""A stub service to test and benchmark against: API keys, a 1,000-customer ``var/`` folder (5 stale),
settings for a registry-less app over it, in-process clients and the environment of a stub server.

Shared by ``tests/reliability/`` (its fixtures) and ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from harness.stubs import StubArrears, StubForecaster, StubSegmenter

N_CUSTOMERS = 1_000
KNOWN = [f"K{i:04d}" for i in range(N_CUSTOMERS)]
STALE = KNOWN[100:105]  # scored on an old snapshot
API_KEYS = {
    "rel-billing-7f3a9c2e": ["billing"],
    "rel-planner-51be08d4": ["planner"],
    "rel-admin-c0ffee99aa": ["admin", "billing", "planner"],
}
BILLING = {"X-API-Key": "rel-billing-7f3a9c2e"}
PLANNER = {"X-API-Key": "rel-planner-51be08d4"}
ADMIN = {"X-API-Key": "rel-admin-c0ffee99aa"}


def api_keys_env(keys: dict[str, list[str]]) -> dict[str, str]:
    """``METERWISE_API_KEYS`` for a server subprocess, with the rate limit off (load comes from one client)."""
    return {"METERWISE_API_KEYS": json.dumps(keys), "METERWISE_RATE_LIMIT_PER_S": "0"}


def write_big_var(var: Path) -> None:
    """Snapshot + batch scores for 1,000 customers; the 5 ids in STALE carry an old ``as_of``."""
    rng = np.random.default_rng(0)
    profiles = pd.DataFrame(
        {
            "customer_id": KNOWN,
            "kwh_mean_28d": rng.uniform(5, 40, N_CUSTOMERS).round(2),
            "late_bills_12m": rng.integers(0, 6, N_CUSTOMERS),
            "share_night": rng.uniform(0, 0.5, N_CUSTOMERS),
            "share_evening": rng.uniform(0, 0.5, N_CUSTOMERS),
        }
    )
    (var / "features/demo/2014-02-28").mkdir(parents=True)
    profiles.to_parquet(var / "features/demo/2014-02-28/profiles.parquet")
    arrears = pd.concat(
        [profiles[["customer_id"]], StubArrears().predict_frame(profiles), StubArrears().reasons_frame(profiles)],
        axis=1,
    )
    arrears["model_version"] = "1"
    arrears["as_of"] = pd.Timestamp("2014-02-28")
    arrears.loc[arrears["customer_id"].isin(STALE), "as_of"] = pd.Timestamp("2013-10-31")
    (var / "scores/demo/arrears").mkdir(parents=True)
    arrears.to_parquet(var / "scores/demo/arrears/latest.parquet")
    segs = pd.DataFrame(
        {
            "customer_id": KNOWN,
            "segment_id": np.arange(N_CUSTOMERS) % 2,
            "segment_name": ["night owls", "evening peak"] * (N_CUSTOMERS // 2),
            "strategy": ["night tariff", "peak alerts"] * (N_CUSTOMERS // 2),
            "distance": 0.5,
            "model_version": "1",
        }
    )
    (var / "scores/demo/segments").mkdir(parents=True)
    segs.to_parquet(var / "scores/demo/segments/latest.parquet")


def stub_settings(root: Path):
    """Settings for a registry-less service over the stub scores written under `root`."""
    from serving.settings import ServingSettings

    write_big_var(root / "var")
    return ServingSettings(
        var_dir=root / "var",
        models_dir=root / "models",
        use_registry=False,
        api_keys=API_KEYS,
        rate_limit_per_s=0,
        max_batch=1_000,
        max_body_bytes=64 * 1024,
    )


def stub_store(settings):
    """A loaded :class:`~serving.model_store.ModelStore` over the stub bundles."""
    from harness.stubs import StubLoader
    from serving.model_store import ModelStore

    store = ModelStore(settings, loader=StubLoader())
    store.load_all()
    return store


def make_client(settings, store):
    """An in-process client (no server exceptions raised: a 500 must show up as a response)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    return TestClient(create_app(settings, store), raise_server_exceptions=False)


def write_stub_models(models: Path, bundles: dict | None = None, *, tenant: str = "demo") -> None:
    """``models/<tenant>/<kind>/model.joblib`` + ``meta.json`` (version 1) for a server run without a registry."""
    import joblib

    bundles = bundles or {"arrears": StubArrears(), "segments": StubSegmenter(), "forecast": StubForecaster()}
    for kind, bundle in bundles.items():
        (models / tenant / kind).mkdir(parents=True)
        joblib.dump(bundle, models / tenant / kind / "model.joblib")
        (models / tenant / kind / "meta.json").write_text('{"version": "1"}')


def stub_server_env(root: Path, bundles: dict | None = None) -> dict[str, str]:
    """Write a stub ``var/`` and ``models/`` under `root`; the METERWISE_* environment that serves them."""
    write_big_var(root / "var")
    write_stub_models(root / "models", bundles)
    return {
        "METERWISE_VAR_DIR": str(root / "var"),
        "METERWISE_MODELS_DIR": str(root / "models"),
        "METERWISE_USE_REGISTRY": "false",
        **api_keys_env(API_KEYS),
    }


@contextlib.contextmanager
def isolated_mlflow() -> Iterator[None]:
    """``mlflow.set_tracking_uri`` exports ``MLFLOW_TRACKING_URI``: restore it so later code sees no registry."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
