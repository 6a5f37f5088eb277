"""Schemathesis over the OpenAPI schema through ASGI: no 5xx, no schema violation, no undocumented
status, no leak. ``METERWISE_FUZZ_CASES`` sets the examples per operation (CI: 50)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from harness.fuzz import CHECKS
from harness.service import ADMIN, API_KEYS, write_big_var
from harness.stubs import StubLoader
from hypothesis import HealthCheck, settings

from serving.app import create_app
from serving.model_store import ModelStore
from serving.settings import ServingSettings

CASES = int(os.environ.get("METERWISE_FUZZ_CASES", "50"))


def _app():
    """Built at collection (schemathesis parametrizes from a loaded schema): a temp var/, stub models."""
    root = Path(tempfile.mkdtemp(prefix="meterwise-fuzz-"))
    write_big_var(root / "var")
    cfg = ServingSettings(
        var_dir=root / "var", models_dir=root / "models", use_registry=False, api_keys=API_KEYS, rate_limit_per_s=0
    )
    store = ModelStore(cfg, loader=StubLoader())
    store.load_all()
    return create_app(cfg, store)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_fuzz(case):
    case.call_and_validate(headers=ADMIN, checks=CHECKS)
