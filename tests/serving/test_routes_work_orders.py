"""POST /v1/work-orders/classify: customer_service scope, validation, stub model, 503 without one."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.serving.conftest import BILLING

SERVICE = {"X-API-Key": "service-key"}
ADMIN = {"X-API-Key": "admin-key"}
BODY = {"orders": [{"order_id": "W1", "text": "power cut since 6pm"}, {"text": "hello"}]}


class StubClassifier:
    """Outage when the text says 'power', else a weak billing guess."""

    unsure_below = 0.5

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        power = frame["text"].str.contains("power")
        return pd.DataFrame(
            {
                "category": power.map({True: "outage", False: "unsure"}),
                "best_guess": power.map({True: "outage", False: "billing"}),
                "probability": power.map({True: 0.9, False: 0.4}),
                "unsure": ~power,
                "keywords": power.map({True: "power; cut", False: ""}),
            }
        )


@pytest.fixture
def wo_client(client):
    client.app.state.work_orders_model = (StubClassifier(), "7")
    return client


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no_key"),
        pytest.param({"X-API-Key": "nope"}, 401, id="wrong_key"),
        pytest.param(BILLING, 403, id="billing_scope"),
        pytest.param(SERVICE, 200, id="customer_service_scope"),
        pytest.param(ADMIN, 200, id="admin_has_every_scope"),
    ],
)
def test_scopes(wo_client, headers, status):
    assert wo_client.post("/v1/work-orders/classify", json=BODY, headers=headers).status_code == status


def test_classify_batch(wo_client):
    r = wo_client.post("/v1/work-orders/classify", json=BODY, headers=SERVICE)
    body = r.json()
    assert body["model_version"] == "7" and body["unsure_below"] == 0.5
    first, second = body["results"]
    assert first == {"order_id": "W1", "category": "outage", "probability": 0.9, "best_guess": "outage",
                     "keywords": ["power", "cut"]}  # fmt: skip
    assert second["category"] == "unsure" and second["best_guess"] == "billing" and second["keywords"] == []


def test_threshold_override(wo_client):
    r = wo_client.post("/v1/work-orders/classify", json={**BODY, "unsure_below": 0.3}, headers=SERVICE)
    assert [x["category"] for x in r.json()["results"]] == ["outage", "billing"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"orders": []}, "orders", id="empty_batch"),
        pytest.param({"orders": [{"text": ""}]}, "orders.0.text", id="empty_text"),
        pytest.param({"orders": [{"text": "x" * 20_001}]}, "orders.0.text", id="text_too_long"),
        pytest.param({"orders": [{"text": "x", "extra": 1}]}, "orders.0.extra", id="unknown_field"),
        pytest.param({**BODY, "unsure_below": 1.5}, "unsure_below", id="threshold_above_1"),
    ],
)
def test_bad_requests_are_422_naming_the_field(wo_client, body, field):
    r = wo_client.post("/v1/work-orders/classify", json=body, headers=SERVICE)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_batch_over_max_batch_is_422(wo_client):
    wo_client.app.state.settings.max_batch = 1
    r = wo_client.post("/v1/work-orders/classify", json=BODY, headers=SERVICE)
    assert r.status_code == 422 and r.json()["error"]["field"] == "orders"


def test_no_model_is_503(client):
    r = client.post("/v1/work-orders/classify", json=BODY, headers=SERVICE)
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_ready"
