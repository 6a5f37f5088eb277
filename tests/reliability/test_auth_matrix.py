"""Auth matrix from the OpenAPI schema; no API key in any log line; CORS stays off."""

from __future__ import annotations

import logging

import pytest
from harness.auth_matrix import IDENTITIES, POLICY, run_matrix
from harness.service import API_KEYS, BILLING


def test_every_route_and_identity_behaves_as_configured(rel_client, caplog):
    with caplog.at_level(logging.DEBUG):
        cells, problems = run_matrix(rel_client)
        rel_client.get("/v1/arrears/K0001", headers={"X-API-Key": "rel-billing-7f3a9c2eX"})  # near miss
    assert problems == []
    assert cells == len(POLICY) * len(IDENTITIES) >= 50
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    leaked = [k for k in API_KEYS if k in logged]
    assert leaked == [], "an API key reached the logs"


def test_a_new_route_without_policy_fails_the_matrix(rel_settings, rel_store):
    from harness.service import make_client

    client = make_client(rel_settings, rel_store)

    @client.app.get("/v1/secret")
    async def secret() -> dict:
        return {"open": True}

    client.app.openapi_schema = None
    _, problems = run_matrix(client)
    assert any("/v1/secret" in p and "no auth policy" in p for p in problems)


@pytest.mark.parametrize("path", ["/v1/arrears/score", "/v1/forecasts", "/healthz"])
def test_cors_is_off(rel_client, path):
    r = rel_client.options(
        path,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST", **BILLING},
    )
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}
    assert r.status_code in (404, 405)
