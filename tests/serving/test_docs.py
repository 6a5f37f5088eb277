"""API docs offline (no CDN), the API-key security scheme in OpenAPI, and every request example in the schema
accepted by the service with the key its operation names.

The service is the stub one (tests/serving/stubs.py) over a snapshot holding the example customers, with the
arrears stub declaring the example's features and their real units; the examples' ids, features and series
are also checked against the demo tenant and the declared feature set, so they stay true for the real service.
Theft answers from the demo's own inspection list (fitted once per module), work orders from a stub classifier.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.io import find_table, load_tenant, read_table
from features.settings import DEMO_DIR
from features.snapshots import build_manifest, write_snapshot
from features.training_sets import FEATURE_DESCRIPTIONS
from serving.app import create_app
from serving.model_store import ModelStore
from serving.schemas import EXAMPLE_FEATURES, ArrearsBatchResponse, ArrearsScore
from serving.settings import ServingSettings
from tests.serving.conftest import UNITS, snapshot_frame
from tests.serving.stubs import StubArrears, StubLoader
from tests.serving.test_routes_work_orders import StubClassifier

URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def schema_examples(schema: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    """Request bodies a schema offers: its own ``examples``, else one built from its properties' examples."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        return [ex for option in schema["anyOf"] for ex in schema_examples(option, components)]
    if schema.get("examples"):
        return list(schema["examples"])
    props = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("examples"):
            props[name] = prop["examples"][0]
        elif prop.get("type") == "array" and (items := schema_examples(prop.get("items", {}), components)):
            props[name] = items[:1]
    return [props] if props else []


def example_ids(openapi: dict[str, Any]) -> set[str]:
    """Every customer id that a request example (path or body) names."""
    text = json.dumps(openapi)
    return set(re.findall(r"MAC\d{6}", text))


@pytest.fixture(scope="module")
def theft():
    from serving.routes.theft import TheftService
    from training.theft_job import TABLES, fit_theft
    from training.theft_list import build_inspection_list

    tables, _ = load_tenant(DEMO_DIR, tables=TABLES)
    model, _, _ = fit_theft(tables)
    listing = build_inspection_list(model, tables["meter_reads"], tables["customers"], tables["inspections"])
    return TheftService(model, "1", listing)


@pytest.fixture
def openapi_client(tmp_path: Path, theft):
    # a snapshot with the example customers, the stub segmenter's shares and the example's arrears features
    base = snapshot_frame()
    ids = sorted({"MAC000252", "MAC000009", "MAC002932"} | set(base["customer_id"]))
    profiles = pd.DataFrame({"customer_id": ids})
    for column in ("share_night", "share_evening", "has_bills"):
        profiles[column] = base[column].iloc[0]
    for name, values in EXAMPLE_FEATURES.items():
        profiles[name] = values[0]
    descriptions = {**UNITS, **{n: FEATURE_DESCRIPTIONS[n] for n in EXAMPLE_FEATURES}}
    manifest = build_manifest(
        profiles, as_of=pd.Timestamp("2014-03-05"), descriptions=descriptions, source_hashes={}, source_rows={},
        feature_version="test",
    )  # fmt: skip
    write_snapshot(profiles, manifest, tmp_path / "var" / "features" / "demo")
    arrears = StubArrears()
    arrears.feature_names_in_ = list(EXAMPLE_FEATURES)
    arrears.feature_descriptions = {n: FEATURE_DESCRIPTIONS[n] for n in EXAMPLE_FEATURES}
    loader = StubLoader()
    loader.bundles["arrears"] = (arrears, "1")
    settings = ServingSettings(
        var_dir=tmp_path / "var", models_dir=tmp_path / "models", use_registry=False, tenant="demo", rate_limit_per_s=0
    )
    store = ModelStore(settings, loader=loader)
    store.load_all()
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as client:
        client.app.state.theft = theft
        client.app.state.work_orders_model = (StubClassifier(), "1")
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_service(openapi_client, page):
    r = openapi_client.get(page)
    assert r.status_code == 200
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, no web font
    urls = [a or b for a, b in URL.findall(r.text)]
    assets = [u for u in urls if u.endswith((".js", ".css", ".png"))]
    assert assets, r.text
    for url in assets:
        asset = openapi_client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url


def test_the_schema_declares_the_api_key_and_which_operations_need_it(openapi_client):
    openapi = openapi_client.get("/openapi.json").json()
    scheme = openapi["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    ops = {(m, p): op for p, item in openapi["paths"].items() for m, op in item.items()}
    assert ops[("post", "/v1/arrears/score")]["security"] == [{"ApiKey": []}]
    assert ops[("post", "/v1/arrears/score")]["x-required-scopes"] == ["billing"]
    assert ops[("post", "/v1/forecasts")]["x-required-scopes"] == ["planner"]
    assert ops[("post", "/v1/models/{kind}/reload")]["x-required-scopes"] == ["admin"]
    assert ops[("get", "/v1/models")]["x-required-scopes"] == []  # any valid key
    assert "security" not in ops[("get", "/healthz")] and "security" not in ops[("get", "/readyz")]
    unauthenticated = openapi_client.post("/v1/arrears/score", json={"customer_ids": ["MAC000252"]})
    assert unauthenticated.status_code == 401


def requests_from_schema(openapi: dict[str, Any]) -> list[tuple[str, str, Any, list[str]]]:
    """(method, url, body or None, scopes) for every example request of every operation."""
    components = openapi["components"]["schemas"]
    out = []
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            url = path
            for param in op.get("parameters", []):
                schema = param["schema"]
                value = (schema.get("examples") or schema.get("enum") or [schema.get("default")])[0]
                assert value is not None, f"{method} {path}: parameter {param['name']} has no example"
                if param.get("in") == "query":  # e.g. GET /v1/decisions?customer_id=…
                    url += ("&" if "?" in url else "?") + f"{param['name']}={value}"
                else:
                    url = url.replace("{" + param["name"] + "}", str(value))
            scopes = op.get("x-required-scopes", []) if "security" in op else None
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            bodies = schema_examples(body, components) if body is not None else [None]
            assert bodies, f"{method} {path}: the request body has no example"
            out += [(method, url, b, scopes) for b in bodies]
    return out


def test_every_request_example_succeeds_with_the_key_it_names(openapi_client):
    openapi = openapi_client.get("/openapi.json").json()
    keys = ServingSettings().api_keys  # the demo keys the docs name
    sent = []
    for method, url, body, scopes in requests_from_schema(openapi):
        headers = {}
        if scopes is not None:
            key = next(k for k, has in keys.items() if set(scopes) <= set(has))
            headers["X-API-Key"] = key
        r = openapi_client.request(method.upper(), url, json=body, headers=headers)
        assert 200 <= r.status_code < 300, (method, url, body, r.status_code, r.text[:300])
        sent.append((method, url))
    assert ("post", "/v1/arrears/score") in sent and ("post", "/v1/forecasts") in sent
    assert sum(1 for s in sent if s == ("post", "/v1/arrears/score")) == 2  # by id and with features
    assert ("post", "/v1/theft/score") in sent and ("post", "/v1/work-orders/classify") in sent


def test_examples_name_real_demo_customers_features_and_series(openapi_client):
    openapi = openapi_client.get("/openapi.json").json()
    customers = read_table(find_table(DEMO_DIR, "customers"))
    assert example_ids(openapi) <= set(customers["customer_id"])
    assert set(EXAMPLE_FEATURES) <= set(FEATURE_DESCRIPTIONS)  # the features an arrears model is fitted on
    forecast = openapi["components"]["schemas"]["ForecastRequest"]["examples"][0]
    assert forecast["level"] in customers.columns and forecast["key"] in set(customers[forecast["level"]])


@pytest.mark.parametrize("model", [ArrearsScore, ArrearsBatchResponse])
def test_response_examples_match_their_schema_and_the_grade_policy(model):
    from training.arrears import GradePolicy

    actions = {band.grade: band.action for band in GradePolicy().bands}
    for example in model.model_config["json_schema_extra"]["examples"]:
        parsed = model.model_validate(example)
        rows = [parsed] if isinstance(parsed, ArrearsScore) else [parsed.results]
        pairs = (
            [(r.grade, r.action) for r in rows]
            if isinstance(parsed, ArrearsScore)
            else list(zip(parsed.results.grade, parsed.results.action, strict=True))
        )
        assert rows and all(actions[g] == a for g, a in pairs if g is not None), pairs
