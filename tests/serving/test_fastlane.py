"""The fast lane answers exactly what the FastAPI routes answer, and hands everything else to them."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.fastlane import FastLane
from tests.serving.conftest import ADMIN, BILLING, PLANNER

FEATURES = {"kwh_mean_28d": [11.0, None, 3.5], "late_bills_12m": [2, None, 0]}
#: a body past ARRAY_BODY_BYTES: its columns are parsed to arrays (serving/json_columns.py)
BIG = {"kwh_mean_28d": [11.123456789, None, 3.5, 0.25e1, -0.0] * 3_000, "late_bills_12m": [2, None, 0, 1, 3] * 3_000}


def big(column: str, row: int, value) -> dict:
    return {"features": {**BIG, column: [*BIG[column][:row], value, *BIG[column][row + 1 :]]}}


CASES = [
    ("GET", "/v1/arrears/C001", None, BILLING),
    ("GET", "/v1/arrears/C008", None, BILLING),  # insufficient: no bill yet
    ("GET", "/v1/arrears/NOPE", None, BILLING),  # 404
    ("GET", "/v1/arrears/" + "x" * 65, None, BILLING),  # over 64 characters: FastAPI's 422
    ("GET", "/v1/arrears/C001", None, PLANNER),  # 403
    ("GET", "/v1/arrears/C001", None, {}),  # 401
    ("POST", "/v1/arrears/score", {"customer_ids": ["C001", "C999", "C008"]}, BILLING),
    ("POST", "/v1/arrears/score", {"customer_ids": ["C001"], "include_reasons": False}, BILLING),
    ("POST", "/v1/arrears/score", {"features": FEATURES}, BILLING),
    ("POST", "/v1/arrears/score", {"features": FEATURES, "include_reasons": True}, BILLING),
    ("POST", "/v1/arrears/score", {"features": FEATURES, "customer_ids": ["a", "b", "c"]}, BILLING),
    ("POST", "/v1/arrears/score", {"features": {**FEATURES, "late_bills_12m": [2, -1, 0]}}, BILLING),  # bounds
    ("POST", "/v1/arrears/score", {"features": {**FEATURES, "late_bills_12m": [2, "1.5", 0]}}, BILLING),  # coerced
    ("POST", "/v1/arrears/score", {"features": {**FEATURES, "late_bills_12m": [2, "x", 0]}}, BILLING),
    ("POST", "/v1/arrears/score", {"features": {**FEATURES, "late_bills_12m": [2, True, 0]}}, BILLING),
    ("POST", "/v1/arrears/score", {"features": BIG}, BILLING),
    ("POST", "/v1/arrears/score", big("kwh_mean_28d", 7_001, "x"), BILLING),  # 422 names row 7001
    ("POST", "/v1/arrears/score", big("kwh_mean_28d", 7_001, "1.5"), BILLING),  # coerced by the route
    ("POST", "/v1/arrears/score", big("kwh_mean_28d", 14_999, 9e99), BILLING),  # the null sentinel, sent: bounds
    ("POST", "/v1/arrears/score", big("late_bills_12m", 3, True), BILLING),
    ("POST", "/v1/arrears/score", {"customer_ids": ["C001", "C001"]}, BILLING),
    ("POST", "/v1/arrears/score", {"customer_ids": []}, BILLING),
    ("POST", "/v1/arrears/score", {"customer_ids": ["C001"], "color": 1}, BILLING),
    ("POST", "/v1/arrears/score", {}, BILLING),
    ("POST", "/v1/arrears/score", {"customer_ids": ["C001"]}, PLANNER),
    ("POST", "/v1/arrears/score", {"customer_ids": ["C001"]}, ADMIN),
]


def app_with_lane(settings, store, enabled: bool):
    app = create_app(settings, store)
    (lane,) = [m for m in app.user_middleware if m.cls is FastLane]
    lane.kwargs["enabled"] = enabled
    return app


def answer(client: TestClient, method: str, path: str, body, headers) -> tuple[int, dict]:
    r = client.request(method, path, json=body, headers=headers)
    payload = r.json()
    if "error" in payload:
        assert payload["error"].pop("request_id") == r.headers["x-request-id"]
    payload.pop("decision_batch_id", None)  # each answer is its own audit record (issue 20), numbered per call
    return r.status_code, payload


@pytest.mark.parametrize(("method", "path", "body", "headers"), CASES)
def test_lane_answers_exactly_what_the_route_answers(settings, store, method, path, body, headers):
    with (
        TestClient(app_with_lane(settings, store, True)) as on,
        TestClient(app_with_lane(settings, store, False)) as off,
    ):
        assert answer(on, method, path, body, headers) == answer(off, method, path, body, headers)


def test_lane_is_taken_for_plain_requests_and_labels_metrics_by_route(settings, store, monkeypatch):
    calls = []
    original = FastLane._answer

    async def spy(self, request, send, work):
        calls.append(request.url.path)
        await original(self, request, send, work)

    monkeypatch.setattr(FastLane, "_answer", spy)
    with TestClient(create_app(settings, store)) as c:
        assert c.get("/v1/arrears/C001", headers=BILLING).status_code == 200
        assert c.post("/v1/arrears/score", json={"features": FEATURES}, headers=BILLING).status_code == 200
        bad = {"features": {**FEATURES, "late_bills_12m": [2, "x", 0]}}
        assert c.post("/v1/arrears/score", json=bad, headers=BILLING).status_code == 422  # handed over
        text = c.get("/metrics").text
    assert calls == ["/v1/arrears/C001", "/v1/arrears/score"]
    assert 'meterwise_requests_total{method="GET",route="/v1/arrears/{customer_id}",status="200"} 1.0' in text
    assert 'meterwise_requests_total{method="POST",route="/v1/arrears/score",status="200"} 1.0' in text


def test_hand_over_spends_no_rate_limit_token(settings, store):
    limited = settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 2})
    bad = {"features": {**FEATURES, "late_bills_12m": [2, "x", 0]}}  # not plain: FastAPI decides (and spends)
    with TestClient(create_app(limited, store)) as c:
        codes = [
            c.post("/v1/arrears/score", json=bad, headers=BILLING).status_code,
            c.get("/v1/arrears/C001", headers=BILLING).status_code,
            c.get("/v1/arrears/C001", headers=BILLING).status_code,
        ]
    assert codes == [422, 200, 429]  # one token per request, whichever path answered


def test_lane_switches_off_when_a_route_grows_a_parameter(settings, store, monkeypatch, caplog):
    from serving.routes import arrears

    route = next(r for r in arrears.router.routes if r.path == "/v1/arrears/{customer_id}")

    async def with_audit(customer_id, svc, audit):  # e.g. a new dependency
        raise AssertionError("never called by the lane")

    monkeypatch.setattr(route, "endpoint", with_audit)
    with caplog.at_level(logging.WARNING, logger="serving.fastlane"):
        lane = FastLane(app=None, api=create_app(settings, store))
    assert not lane.enabled and "fast lane off" in caplog.text
