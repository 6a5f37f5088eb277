"""API behaviour through TestClient around stub bundles: scopes, errors, batches, reload."""

from __future__ import annotations

import numpy as np
import pytest

from serving.app import create_app
from serving.model_store import ModelStore
from tests.serving.conftest import ADMIN, BILLING, IDS, PLANNER
from tests.serving.stubs import StubArrears


def assert_envelope(r, status: int, code: str, field: str | None = "any") -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert set(err) == {"code", "message", "field", "request_id"}
    assert err["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text
    if field != "any":
        assert err["field"] == field, err
    return err


def test_health_and_readiness(client, settings, loader):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True, "not_ready": {}}
    empty = create_app(settings, ModelStore(settings, loader=loader))  # nothing loaded yet
    from fastapi.testclient import TestClient

    r = TestClient(empty).get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"] == str(settings.retry_after_s)
    assert set(r.json()["not_ready"]) == {"arrears", "segments", "forecast"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        pytest.param("get", "/v1/arrears/C001", {}, 401, "unauthenticated", id="no_key"),
        pytest.param("get", "/v1/arrears/C001", {"X-API-Key": "billing-keyX"}, 401, "unauthenticated", id="bad_key"),
        pytest.param(
            "get", "/v1/arrears/C001", {"Authorization": "Bearer nope"}, 401, "unauthenticated", id="bad_bearer"
        ),
        pytest.param("get", "/v1/arrears/C001", PLANNER, 403, "forbidden", id="planner_on_arrears"),
        pytest.param("get", "/v1/segments/C001", PLANNER, 403, "forbidden", id="planner_on_segments"),
        pytest.param("post", "/v1/forecasts", BILLING, 403, "forbidden", id="billing_on_forecasts"),
        pytest.param("post", "/v1/models/arrears/reload", BILLING, 403, "forbidden", id="billing_reload"),
        pytest.param("get", "/v1/nothing", BILLING, 404, "not_found", id="unknown_route"),
    ],
)
def test_auth_and_scopes(client, method, path, headers, status, code):
    r = getattr(client, method)(path, headers=headers)
    assert_envelope(r, status, code)
    if status == 401:
        assert "x-api-key" in r.headers["www-authenticate"].lower()


def test_bearer_and_admin_scope_work(client):
    assert client.get("/v1/arrears/C001", headers={"Authorization": "Bearer billing-key"}).status_code == 200
    assert client.get("/v1/arrears/C001", headers=ADMIN).status_code == 200


def test_single_customer_is_scored_live_on_the_snapshot(client):
    r = client.get("/v1/arrears/C003", headers=BILLING)
    body = r.json()
    p = StubArrears().predict_proba(np.array([[13.0, 3]]))[0, 1]
    assert body["probability"] == pytest.approx(p)
    assert body["status"] == "ok" and body["grade"] in "ABCDE" and body["model_version"] == "1"
    assert body["reasons"] == ["late_bills_12m", "kwh_mean_28d", None]
    assert body["as_of"] == "2014-02-28" and body["snapshot_id"].startswith("2014-02-28/")
    err = assert_envelope(client.get("/v1/arrears/NOPE", headers=BILLING), 404, "unknown_customer")
    assert "NOPE" in err["message"]


@pytest.mark.parametrize("customer_id", ["C008", "C009"], ids=["no_bill_yet", "all_features_null"])
def test_customer_without_usable_features_is_insufficient_never_ok(client, customer_id):
    body = client.get(f"/v1/arrears/{customer_id}", headers=BILLING).json()
    assert body["status"] == "insufficient_features"
    assert body["probability"] is None and body["grade"] is None and body["action"] is None
    assert body["reasons"] == [None, None, None]


def test_batch_by_id_keeps_order_and_flags_items(client):
    ids = ["C005", "X1", "C009", "C000", "X2"]
    body = client.post("/v1/arrears/score", json={"customer_ids": ids}, headers=BILLING).json()
    res = body["results"]
    assert res["customer_id"] == ids
    assert res["status"] == ["ok", "unknown_customer", "insufficient_features", "ok", "unknown_customer"]
    assert body["unknown_customer_ids"] == ["X1", "X2"]
    assert body["status_counts"] == {"ok": 2, "unknown_customer": 2, "insufficient_features": 1}
    assert res["probability"][1] is None and res["grade"][1] is None and res["probability"][2] is None
    single = client.get("/v1/arrears/C005", headers=BILLING).json()
    assert res["probability"][0] == pytest.approx(single["probability"])
    assert res["reasons"][0] == single["reasons"]
    assert body["source"] == "snapshot" and body["as_of"] == "2014-02-28" and body["model_version"] == "1"
    assert body["snapshot_id"] == single["snapshot_id"]
    quiet = client.post("/v1/arrears/score", json={"customer_ids": ids, "include_reasons": False}, headers=BILLING)
    assert quiet.json()["results"]["reasons"] is None


def test_batch_with_features_scores_live_and_reasons_opt_in(client):
    feats = {"kwh_mean_28d": [10.0, 30.0, None], "late_bills_12m": [0, 5, 1]}
    r = client.post("/v1/arrears/score", json={"features": feats, "customer_ids": ["a", "b", "c"]}, headers=BILLING)
    body = r.json()
    X = np.array([[10.0, 0], [30.0, 5], [np.nan, 1]])
    expected = StubArrears().predict_proba(X)[:, 1]
    got = np.array(body["results"]["probability"], dtype=float)
    np.testing.assert_allclose(got[:2], expected[:2])
    assert body["results"]["reasons"] is None and body["source"] == "features"
    assert body["results"]["status"] == ["ok", "ok", "ok"]  # one feature present is enough
    r = client.post("/v1/arrears/score", json={"features": feats, "include_reasons": True}, headers=BILLING)
    assert r.json()["results"]["reasons"][0] == ["late_bills_12m", "kwh_mean_28d", None]


def test_all_null_feature_row_is_insufficient_not_ok(client):
    feats = {"kwh_mean_28d": [12.0, None], "late_bills_12m": [1, None]}
    body = client.post("/v1/arrears/score", json={"features": feats, "include_reasons": True}, headers=BILLING).json()
    res = body["results"]
    assert res["status"] == ["ok", "insufficient_features"]
    assert res["probability"][1] is None and res["grade"][1] is None and res["reasons"][1] == [None, None, None]
    assert body["status_counts"] == {"ok": 1, "unknown_customer": 0, "insufficient_features": 1}


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        pytest.param({"customer_ids": ["C001", "C002", "C001"]}, "duplicate_ids", "customer_ids", id="duplicates"),
        pytest.param({"customer_ids": "C001"}, "validation_error", "customer_ids", id="not_a_list"),
        pytest.param({"customer_ids": ["C001", 7]}, "validation_error", "customer_ids.1", id="id_not_str"),
        pytest.param({"customer_ids": []}, "validation_error", "customer_ids", id="empty"),
        pytest.param({"customer_ids": ["C001"], "color": 1}, "validation_error", "color", id="extra_field"),
        pytest.param({}, "validation_error", None, id="nothing_to_score"),
        pytest.param(
            {"features": {"kwh_mean_28d": [1.0]}}, "missing_feature", "features.late_bills_12m", id="missing_feature"
        ),
        pytest.param(
            {"features": {"kwh_mean_28d": [1.0], "late_bills_12m": [1], "zzz": [1]}},
            "unknown_feature",
            "features.zzz",
            id="unknown_feature",
        ),
        pytest.param(
            {"features": {"kwh_mean_28d": [1.0, 2.0], "late_bills_12m": [1]}},
            "ragged_features",
            "features.late_bills_12m",
            id="ragged",
        ),
        pytest.param(
            {"features": {"kwh_mean_28d": ["x"], "late_bills_12m": [1]}},
            "validation_error",
            "features.kwh_mean_28d.0",
            id="feature_not_number",
        ),
    ],
)
def test_malformed_batches_are_422_naming_the_field(client, payload, code, field):
    r = client.post("/v1/arrears/score", json=payload, headers=BILLING)
    err = assert_envelope(r, 422, code, field)
    if code == "duplicate_ids":
        assert "C001" in err["message"] and "C002" not in err["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"customer_ids": ["C001"], "features": {"kwh_mean_28d": [NaN]}}',
        b'{"features": {"kwh_mean_28d": [Infinity], "late_bills_12m": [1]}}',
        b'{"features": {"kwh_mean_28d": [1e999], "late_bills_12m": [1]}}',
        b'{"customer_ids": ["C001"',
    ],
)
def test_nan_infinity_and_broken_json_are_rejected(client, raw):
    r = client.post("/v1/arrears/score", content=raw, headers={**BILLING, "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in {"invalid_json", "validation_error"}


def test_wrong_content_type_is_415(client):
    r = client.post(
        "/v1/arrears/score",
        content=b"customer_ids=C001",
        headers={**BILLING, "content-type": "application/x-www-form-urlencoded"},
    )
    assert_envelope(r, 415, "unsupported_media_type")


def test_batch_size_limit(settings, store):
    from fastapi.testclient import TestClient

    small = settings.model_copy(update={"max_batch": 3})
    c = TestClient(create_app(small, store))
    r = c.post("/v1/arrears/score", json={"customer_ids": IDS[:4]}, headers=BILLING)
    assert_envelope(r, 422, "batch_too_large", "customer_ids")
    feats = {"kwh_mean_28d": [1.0] * 4, "late_bills_12m": [0] * 4}
    r = c.post("/v1/arrears/score", json={"features": feats}, headers=BILLING)
    assert_envelope(r, 422, "batch_too_large", "features")
    limited = TestClient(create_app(settings.model_copy(update={"max_reasons_rows": 3}), store))
    r = limited.post("/v1/arrears/score", json={"features": feats, "include_reasons": True}, headers=BILLING)
    assert_envelope(r, 422, "reasons_batch_too_large", "include_reasons")
    assert limited.post("/v1/arrears/score", json={"features": feats}, headers=BILLING).status_code == 200


def test_body_limit_413_with_and_without_content_length(settings, store):
    from fastapi.testclient import TestClient

    small = settings.model_copy(update={"max_body_bytes": 2048})
    c = TestClient(create_app(small, store))
    payload = b'{"customer_ids": [' + b",".join(b'"C%04d"' % i for i in range(1000)) + b"]}"
    assert_envelope(
        c.post("/v1/arrears/score", content=payload, headers={**BILLING, "content-type": "application/json"}),
        413,
        "payload_too_large",
    )

    def chunks():  # no Content-Length: transfer-encoding chunked
        for i in range(0, len(payload), 512):
            yield payload[i : i + 512]

    r = c.post("/v1/arrears/score", content=chunks(), headers={**BILLING, "content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_envelope(r, 413, "payload_too_large")


def test_rate_limit_429(settings, store):
    from fastapi.testclient import TestClient

    limited = settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 2})
    c = TestClient(create_app(limited, store))
    codes = [c.get("/v1/arrears/C001", headers=BILLING).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = c.get("/v1/arrears/C001", headers=BILLING)
    assert_envelope(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    assert c.get("/v1/arrears/C001", headers=ADMIN).status_code == 200  # buckets are per key


def test_segments_by_id_are_live_with_strategies_from_live_grades(client):
    single = client.get("/v1/segments/C001", headers=BILLING).json()
    assert single["segment_name"] == "evening peak" and single["source"] == "snapshot"
    assert single["model_version"] == "1" and single["as_of"] == "2014-02-28"
    body = client.post("/v1/segments", json={"customer_ids": ["C001", "Z", "C003"]}, headers=BILLING).json()
    assert body["results"]["status"] == ["ok", "unknown_customer", "ok"]
    assert body["results"]["strategy"] == ["peak alerts", None, "collect first"]  # C003 is arrears grade E
    feats = {"share_night": [0.9, 0.1], "share_evening": [0.1, 0.5]}
    body = client.post("/v1/segments", json={"features": feats}, headers=BILLING).json()
    assert body["results"]["segment_id"] == [0, 1]
    assert body["results"]["strategy"] == ["night tariff", "peak alerts"]


def test_forecasts(client):
    r = client.post("/v1/forecasts", json={"level": "region", "key": "north", "horizon": 3}, headers=PLANNER)
    pts = r.json()["points"]
    assert len(pts) == 3 and pts[0] == {"timestamp": "2014-03-01T00:00:00", "p10": 90.0, "p50": 100.0, "p90": 110.0}
    bad_key = {"level": "region", "key": "mars", "horizon": 3}
    assert_envelope(client.post("/v1/forecasts", json=bad_key, headers=PLANNER), 404, "unknown_series", "key")
    bad_level = {"level": "planet", "key": "x", "horizon": 3}
    assert_envelope(client.post("/v1/forecasts", json=bad_level, headers=PLANNER), 404, "unknown_series", "level")
    too_long = {"level": "total", "key": "all", "horizon": 31}
    assert_envelope(client.post("/v1/forecasts", json=too_long, headers=PLANNER), 422, "horizon_too_long", "horizon")
    assert_envelope(
        client.post("/v1/forecasts", json={**too_long, "horizon": 0}, headers=PLANNER),
        422,
        "validation_error",
        "horizon",
    )
    assert_envelope(
        client.post("/v1/forecasts", json={**too_long, "freq": "M", "horizon": 1}, headers=PLANNER),
        422,
        "unsupported_freq",
        "freq",
    )


def test_models_reload_and_refusal(client, loader):
    models = {m["kind"]: m for m in client.get("/v1/models", headers=PLANNER).json()["models"]}
    assert models["arrears"]["version"] == "1" and models["arrears"]["ready"]
    loader.bundles["arrears"] = (StubArrears(bias=1.0), "2")
    r = client.post("/v1/models/arrears/reload", headers=ADMIN)
    assert r.status_code == 200 and r.json()["version"] == "2"
    feats = {"features": {"kwh_mean_28d": [10.0], "late_bills_12m": [0]}}
    p2 = client.post("/v1/arrears/score", json=feats, headers=BILLING).json()
    assert p2["model_version"] == "2"
    loader.bundles["arrears"] = (StubArrears(broken=True), "3")  # NaN canary
    err = assert_envelope(client.post("/v1/models/arrears/reload", headers=ADMIN), 409, "model_rejected")
    assert "finite" in err["message"]
    loader.bundles["arrears"] = ("not a model", "4")  # wrong interface
    assert_envelope(client.post("/v1/models/arrears/reload", headers=ADMIN), 409, "model_rejected")
    assert client.post("/v1/arrears/score", json=feats, headers=BILLING).json()["model_version"] == "2"
    assert_envelope(client.post("/v1/models/weather/reload", headers=ADMIN), 422, "validation_error", "kind")
    bad = client.post("/v1/models/arrears/reload", json={"version": "../x"}, headers=ADMIN)
    assert_envelope(bad, 422, "validation_error", "version")


def test_metrics_request_id_and_openapi(client):
    r = client.get("/v1/arrears/C001", headers={**BILLING, "X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"]) == 32
    text = client.get("/metrics").text
    assert 'meterwise_requests_total{method="GET",route="/v1/arrears/{customer_id}",status="200"}' in text
    assert 'meterwise_model_info{kind="arrears",source="stub",version="1"} 1.0' in text
    spec = client.get("/openapi.json").json()
    assert {
        "/v1/arrears/{customer_id}",
        "/v1/arrears/score",
        "/v1/segments",
        "/v1/forecasts",
        "/v1/models",
        "/v1/models/{kind}/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(spec["paths"])
    score = spec["paths"]["/v1/arrears/score"]["post"]
    assert "90 times" in score["description"]
    assert spec["components"]["schemas"]["ArrearsScoreRequest"]["examples"]


def test_named_errors_from_other_packages_map_by_builtin_base():
    from features.errors import MeterwiseError
    from serving.app import status_of

    class NewKeyError(MeterwiseError, KeyError):
        pass

    class NewValueError(MeterwiseError, ValueError):
        pass

    assert (status_of(NewKeyError()), status_of(NewValueError()), status_of(MeterwiseError())) == (404, 422, 500)


def test_unexpected_failure_is_a_500_envelope_without_trace(client, loader):
    class Flaky(StubArrears):
        def predict_proba(self, X):
            if len(X) > 10:  # passes the canary and the 10-customer snapshot, fails on a bigger batch
                raise RuntimeError("secret internal detail")
            return super().predict_proba(X)

    loader.bundles["arrears"] = (Flaky(), "2")
    assert client.post("/v1/models/arrears/reload", headers=ADMIN).status_code == 200
    feats = {"kwh_mean_28d": [1.0] * 11, "late_bills_12m": [0] * 11}
    r = client.post("/v1/arrears/score", json={"features": feats}, headers=BILLING)
    err = assert_envelope(r, 500, "internal_error")
    assert "secret" not in r.text and len(err["request_id"]) == 32
