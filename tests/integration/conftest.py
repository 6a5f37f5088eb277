"""Services the integration tests talk to, started by ``.ci/services.sh`` (CI) or by hand.

Each fixture reads its service's address from the environment and skips with the reason when it is
absent, unless ``METERWISE_REQUIRE_SERVICES=1`` (set by ``.ci/services.sh``): then a missing service
fails the test, so CI can never pass with these tests skipped.
"""

from __future__ import annotations

import os
import uuid

import pytest

SERVICES = {
    "METERWISE_TEST_MLFLOW_URI": "an MLflow tracking server on PostgreSQL (http://host:port)",
    "METERWISE_TEST_DASK_SCHEDULER": "a Dask scheduler with two workers (tcp://host:port)",
    "METERWISE_DATABASE_URL": "the product's PostgreSQL database (postgresql://user:password@host:port/db)",
}


def service(name: str) -> str:
    """The service address in env var `name`; skip (or fail under ``METERWISE_REQUIRE_SERVICES=1``) without it."""
    value = os.environ.get(name, "")
    if not value:
        why = f"{name} is not set: start {SERVICES[name]} with `source .ci/services.sh && services_start`"
        if os.environ.get("METERWISE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"METERWISE_REQUIRE_SERVICES=1 but {why}")
        pytest.skip(why)
    return value


@pytest.fixture(scope="module")
def mlflow_server_uri() -> str:
    return service("METERWISE_TEST_MLFLOW_URI")


@pytest.fixture(scope="module")
def dask_scheduler() -> str:
    return service("METERWISE_TEST_DASK_SCHEDULER")


@pytest.fixture(scope="module")
def database_url() -> str:
    return service("METERWISE_DATABASE_URL")


@pytest.fixture
def fresh_tenant() -> str:
    """A tenant name of its own, so reruns against one long-lived server never meet an old champion."""
    return f"it{uuid.uuid4().hex[:10]}"
