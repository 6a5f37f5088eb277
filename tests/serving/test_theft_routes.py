"""/v1/theft: the revenue_protection scope, evidence packs, list rows, and 4xx (never 500) for bad input."""

from __future__ import annotations

import pytest

from features.io import load_tenant
from features.settings import DEMO_DIR
from serving.routes.theft import TheftService
from training.theft_job import TABLES, fit_theft
from training.theft_list import build_inspection_list

REVENUE = {"X-API-Key": "revenue-key"}


@pytest.fixture(scope="module")
def service() -> TheftService:
    tables, _ = load_tenant(DEMO_DIR, tables=TABLES)
    model, _, _ = fit_theft(tables)
    listing = build_inspection_list(model, tables["meter_reads"], tables["customers"], tables["inspections"])
    return TheftService(model, "7", listing)


@pytest.fixture
def theft_client(client, service):
    client.app.state.theft = service
    return client


def _first_listed(service: TheftService) -> str:
    return str(service.listing.frame["customer_id"].iloc[0])


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthenticated"),
        ({"X-API-Key": "billing-key"}, 403, "forbidden"),
        ({"X-API-Key": "planner-key"}, 403, "forbidden"),
    ],
)
def test_both_routes_need_the_revenue_protection_scope(theft_client, service, headers, status, code):
    cid = _first_listed(service)
    for r in (
        theft_client.get(f"/v1/theft/{cid}", headers=headers),
        theft_client.post("/v1/theft/score", json={"customer_ids": [cid]}, headers=headers),
    ):
        assert r.status_code == status and r.json()["error"]["code"] == code


def test_get_returns_the_evidence_pack(theft_client, service):
    cid = _first_listed(service)
    r = theft_client.get(f"/v1/theft/{cid}", headers=REVENUE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rank"] == 1 and body["model_version"] == "7"
    assert len(body["reasons"]) == 3 and body["chart"] and "past_inspections" in body and "anomalies" in body


def test_post_returns_list_rows_in_request_order(theft_client, service):
    ids = service.listing.frame["customer_id"].iloc[[3, 0]].tolist()
    r = theft_client.post("/v1/theft/score", json={"customer_ids": ids}, headers=REVENUE)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["customer_id"] for i in items] == ids and [i["rank"] for i in items] == [4, 1]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/theft/NOBODY", None, 404),
        ("POST", "/v1/theft/score", {"customer_ids": ["NOBODY"]}, 404),
        ("POST", "/v1/theft/score", {"customer_ids": []}, 422),
        ("POST", "/v1/theft/score", {"customer_ids": [""]}, 422),
        ("POST", "/v1/theft/score", {"customer_ids": ["a"], "extra": 1}, 422),
        ("POST", "/v1/theft/score", {"ids": ["a"]}, 422),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(theft_client, method, path, body, status):
    r = theft_client.request(method, path, json=body, headers=REVENUE)
    assert r.status_code == status, r.text
    if status == 404:
        assert "NOBODY" in r.json()["error"]["message"]


def test_without_an_exported_theft_model_the_api_answers_503(client):
    r = client.get("/v1/theft/MAC000009", headers=REVENUE)
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_ready"


def test_the_demo_key_and_scope_are_configured():
    from serving.settings import DEV_API_KEYS, SCOPES

    assert "revenue_protection" in SCOPES and DEV_API_KEYS["revenue-key"] == ["revenue_protection"]
