"""GET /v1/monitoring (admin and planner scopes) and the meterwise_monitoring_* gauges on /metrics."""

from __future__ import annotations

import json
import os

import pytest

from tests.serving.conftest import ADMIN, BILLING, PLANNER
from training.monitoring_status import monitoring_dir

STATUS = {
    "tenant": "demo",
    "as_of": "2024-06-01",
    "generated_at": "2024-06-02T00:00:00+00:00",
    "status": "alert",
    "models": {
        "arrears": {
            "kind": "arrears", "version": "3", "status": "alert", "metrics": {"score_psi": 0.31, "matured_auc": 0.74},
            "breaches": [{"kind": "arrears", "check": "psi", "subject": "score", "severity": "alert", "message": "m"}],
            "note": None,
        },
        "forecast": {"kind": "forecast", "version": None, "status": "unavailable", "metrics": {}, "breaches": [],
                     "note": "not checked"},
    },
    "inputs": {"status": "ok", "tables": [{"table": "bills", "rows_in": 10, "quarantined": 0, "rejection_rate": 0.0}],
               "breaches": []},
    "retrain_recommended": ["arrears"],
    "recommendation": "retrain arrears",
    "thresholds": {"psi_warn": 0.1},
}  # fmt: skip


@pytest.fixture
def written(settings):
    folder = monitoring_dir(settings.var_dir, settings.tenant)
    folder.mkdir(parents=True)
    (folder / "latest.json").write_text(json.dumps(STATUS))
    return folder


@pytest.mark.parametrize("headers", [ADMIN, PLANNER], ids=["admin", "planner"])
def test_admin_and_planner_read_the_latest_status(client, written, headers):
    r = client.get("/v1/monitoring", headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "alert" and body["recommendation"] == "retrain arrears"
    assert body["models"]["arrears"]["metrics"]["score_psi"] == 0.31
    assert "thresholds" not in body


def test_billing_scope_is_forbidden_and_no_key_is_unauthenticated(client, written):
    assert client.get("/v1/monitoring", headers=BILLING).status_code == 403
    assert client.get("/v1/monitoring").status_code == 401
    assert client.get("/v1/monitoring", headers={"X-API-Key": "nope"}).status_code == 401


def test_before_the_first_run_the_status_is_unknown(client):
    r = client.get("/v1/monitoring", headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "unknown" and r.json()["models"] == {}


def test_a_new_status_file_is_picked_up(client, written):
    assert client.get("/v1/monitoring", headers=ADMIN).json()["status"] == "alert"
    (written / "latest.json").write_text(json.dumps({**STATUS, "status": "ok", "as_of": "2024-07-01"}))
    os.utime(written / "latest.json", ns=(1, 10**18))  # a distinct mtime even on a coarse clock
    assert client.get("/v1/monitoring", headers=ADMIN).json()["as_of"] == "2024-07-01"


def test_metrics_expose_monitoring_gauges(client, written):
    text = client.get("/metrics").text
    assert 'meterwise_monitoring_status{kind="arrears"} 2.0' in text
    assert 'meterwise_monitoring_status{kind="forecast"} -1.0' in text
    assert 'meterwise_monitoring_metric{kind="arrears",metric="score_psi"} 0.31' in text
    assert 'meterwise_monitoring_breaches{kind="arrears",severity="alert"} 1.0' in text
    assert 'meterwise_monitoring_metric{kind="inputs",metric="rejection_rate_bills"} 0.0' in text


def test_metrics_without_a_status_file_still_render(client):
    r = client.get("/metrics")
    assert r.status_code == 200 and "meterwise_monitoring_status" in r.text
