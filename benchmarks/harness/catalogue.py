# ruff: noqa: E501
"""The bad-input catalogue: one row per way a client can get a request wrong, with the answer it gets.

Shared by ``tests/reliability/test_catalogue.py`` (one test per row) and ``benchmarks/reliability.py``.
Each row names the app variant it needs (``default``, ``unloaded``, ``limited``, ``overloaded``,
``slow``); :func:`check_row` sends the request and returns the list of problems (empty = pass).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.service import ADMIN, BILLING, KNOWN, PLANNER, STALE

JSON = {"content-type": "application/json"}
UNKNOWN = [f"U{i:03d}" for i in range(37)]


def mixed_batch(seed: int = 0) -> list[str]:
    """1,000 ids in a seeded order: 958 known and fresh, the 5 stale ones, 37 unknown."""
    fresh = [k for k in KNOWN if k not in STALE][:958]
    ids = fresh + list(STALE) + UNKNOWN
    random.Random(seed).shuffle(ids)
    return ids


def _check_mixed(body: dict[str, Any]) -> list[str]:
    ids = mixed_batch()
    res, problems = body["results"], []
    if res["customer_id"] != ids:
        problems.append("results not in request order")
    expected = ["unknown_customer" if i in UNKNOWN else "ok" for i in ids]  # by id = live on the snapshot
    if res["status"] != expected:
        problems.append("wrong per-item statuses")
    if (
        body["status_counts"] != {"ok": 963, "unknown_customer": 37, "insufficient_features": 0}
        or body["count"] != 1000
    ):
        problems.append(f"counts {body['status_counts']} / {body['count']}")
    if sorted(body["unknown_customer_ids"]) != sorted(UNKNOWN):
        problems.append("unknown_customer_ids differ")
    p = np.array([np.nan if v is None else v for v in res["probability"]], dtype=float)
    if np.isnan(p).sum() != 37 or not np.all((p[~np.isnan(p)] >= 0) & (p[~np.isnan(p)] <= 1)):
        problems.append("probabilities: unknown rows must be null, others in [0, 1]")
    return problems


def _check_batch_unknown(body: dict[str, Any]) -> list[str]:
    ok = body["results"]["status"] == ["ok", "unknown_customer"] and body["unknown_customer_ids"] == ["NOPE"]
    return [] if ok else [f"per-item status wrong: {body['results']['status']}"]


def _chunks(payload: bytes, size: int = 4096) -> Callable[[], Any]:
    return lambda: (payload[i : i + size] for i in range(0, len(payload), size))


BIG_BODY = b'{"customer_ids": [' + b",".join(b'"K%06d"' % i for i in range(8_000)) + b"]}"  # ~80 KB > 64 KB
FEATS = {"kwh_mean_28d": [10.0, 20.0], "late_bills_12m": [1, 2]}


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    status: int
    code: str | None = None  # error code in the envelope (None: a success body)
    err_field: str | None = "any"  # expected error field ("any": not checked)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | Callable[[], Any] | None = None
    app: str = "default"
    retry_after: bool = False
    check: Callable[[dict[str, Any]], list[str]] | None = None


A, S, F = "/v1/arrears/score", "/v1/segments", "/v1/forecasts"
FC = {"level": "region", "key": "north", "horizon": 3}
ROWS: list[Row] = [
    # --- authentication and scopes
    Row("missing_key", "GET", "/v1/arrears/K0001", 401, "unauthenticated"),
    Row("unknown_key", "GET", "/v1/arrears/K0001", 401, "unauthenticated", headers={"X-API-Key": "nope"}),
    Row("unknown_bearer", "GET", "/v1/arrears/K0001", 401, "unauthenticated", headers={"Authorization": "Bearer x"}),
    Row("empty_key", "GET", "/v1/arrears/K0001", 401, "unauthenticated", headers={"X-API-Key": ""}),
    Row("wrong_scope_arrears", "POST", A, 403, "forbidden", headers=PLANNER, json={"customer_ids": ["K0001"]}),
    Row("wrong_scope_forecast", "POST", F, 403, "forbidden", headers=BILLING, json=FC),
    Row("wrong_scope_reload", "POST", "/v1/models/arrears/reload", 403, "forbidden", headers=BILLING),
    # --- framing: JSON, media type, size
    Row("invalid_json", "POST", A, 422, "invalid_json", headers={**BILLING, **JSON}, content=b'{"customer_ids": ['),
    Row("json_not_object", "POST", A, 422, "validation_error", headers=BILLING, json=["K0001"]),
    Row("empty_body", "POST", A, 422, None, headers={**BILLING, **JSON}, content=b""),
    Row(
        "wrong_content_type",
        "POST",
        A,
        415,
        "unsupported_media_type",
        headers={**BILLING, "content-type": "text/plain"},
        content=b"customer_ids=K0001",
    ),
    Row("body_over_limit", "POST", A, 413, "payload_too_large", headers={**BILLING, **JSON}, content=BIG_BODY),
    Row(
        "body_over_limit_chunked",
        "POST",
        A,
        413,
        "payload_too_large",
        headers={**BILLING, **JSON},
        content=_chunks(BIG_BODY),
    ),
    Row("deeply_nested_json", "POST", A, 422, "invalid_json", headers={**BILLING, **JSON}, content=b"[" * 5000),
    Row(
        "invalid_utf8",
        "POST",
        A,
        422,
        "invalid_json",
        headers={**BILLING, **JSON},
        content=b'{"customer_ids": ["K\xff\xfe0001"]}',
    ),
    Row("nan", "POST", A, 422, "invalid_json", headers={**BILLING, **JSON}, content=b'{"features": {"a": [NaN]}}'),
    Row(
        "infinity",
        "POST",
        A,
        422,
        "invalid_json",
        headers={**BILLING, **JSON},
        content=b'{"features": {"kwh_mean_28d": [Infinity], "late_bills_12m": [1]}}',
    ),
    Row(
        "overflow_number",
        "POST",
        A,
        422,
        "invalid_json",
        headers={**BILLING, **JSON},
        content=b'{"features": {"kwh_mean_28d": [1e999], "late_bills_12m": [1]}}',
    ),
    # --- routing
    Row("unknown_route", "GET", "/v1/nothing", 404, "not_found", headers=BILLING),
    Row("wrong_method", "PUT", F, 405, "method_not_allowed", headers=PLANNER, json=FC),
    Row("wrong_method_delete", "DELETE", A, 405, "method_not_allowed", headers=BILLING),
    # --- schema: missing, mistyped, extra fields (422 naming the path)
    Row("nothing_to_score", "POST", A, 422, "validation_error", None, headers=BILLING, json={}),
    Row("missing_field", "POST", F, 422, "validation_error", "level", headers=PLANNER, json={"key": "n", "horizon": 3}),
    Row("mistyped_field", "POST", F, 422, "validation_error", "horizon", headers=PLANNER, json={**FC, "horizon": "x"}),
    Row("mistyped_item", "POST", A, 422, "validation_error", "customer_ids.1", headers=BILLING, json={"customer_ids": ["K0001", 7]}),
    Row("mistyped_feature", "POST", A, 422, "validation_error", "features.kwh_mean_28d.0", headers=BILLING, json={"features": {"kwh_mean_28d": ["x"], "late_bills_12m": [1]}}),
    Row("unknown_extra_field", "POST", A, 422, "validation_error", "color", headers=BILLING, json={"customer_ids": ["K0001"], "color": 1}),
    Row("id_too_long", "POST", A, 422, "validation_error", "customer_ids.0", headers=BILLING, json={"customer_ids": ["K" * 65]}),
    Row("path_id_too_long", "GET", "/v1/arrears/" + "K" * 65, 422, "validation_error", "customer_id", headers=BILLING),
    Row("empty_batch", "POST", A, 422, "validation_error", "customer_ids", headers=BILLING, json={"customer_ids": []}),
    Row("oversized_batch", "POST", A, 422, "batch_too_large", "customer_ids", headers=BILLING, json={"customer_ids": [f"X{i}" for i in range(1001)]}),
    Row("duplicate_ids", "POST", A, 422, "duplicate_ids", "customer_ids", headers=BILLING, json={"customer_ids": ["K0001", "K0002", "K0001"]}),
    Row("duplicate_ids_segments", "POST", S, 422, "duplicate_ids", "customer_ids", headers=BILLING, json={"customer_ids": ["K0001", "K0001"]}),
    Row("missing_feature", "POST", A, 422, "missing_feature", "features.late_bills_12m", headers=BILLING, json={"features": {"kwh_mean_28d": [1.0]}}),
    Row("unknown_feature", "POST", A, 422, "unknown_feature", "features.zzz", headers=BILLING, json={"features": {**FEATS, "zzz": [1, 2]}}),
    Row("ragged_features", "POST", A, 422, "ragged_features", "features.late_bills_12m", headers=BILLING, json={"features": {"kwh_mean_28d": [1.0, 2.0], "late_bills_12m": [1]}}),
    Row("negative_feature", "POST", A, 422, "feature_out_of_range", "features.kwh_mean_28d", headers=BILLING, json={"features": {"kwh_mean_28d": [-1.0, 2.0], "late_bills_12m": [1, 2]}}),
    Row("negative_count_feature", "POST", A, 422, "feature_out_of_range", "features.late_bills_12m", headers=BILLING, json={"features": {"kwh_mean_28d": [1.0, 2.0], "late_bills_12m": [0, -3]}}),
    Row("horizon_zero", "POST", F, 422, "validation_error", "horizon", headers=PLANNER, json={**FC, "horizon": 0}),
    Row("horizon_too_long", "POST", F, 422, "horizon_too_long", "horizon", headers=PLANNER, json={**FC, "horizon": 31}),
    Row("unsupported_freq", "POST", F, 422, "unsupported_freq", "freq", headers=PLANNER, json={**FC, "freq": "M"}),
    Row("unknown_series", "POST", F, 404, "unknown_series", "key", headers=PLANNER, json={**FC, "key": "mars"}),
    Row("unknown_kind", "POST", "/v1/models/weather/reload", 422, "validation_error", "kind", headers=ADMIN),
    Row("reload_bad_version", "POST", "/v1/models/arrears/reload", 422, "validation_error", "version", headers=ADMIN, json={"version": "../x"}),
    # --- customers: unknown, per-item status, the 1,000-id batch
    Row("unknown_customer", "GET", "/v1/arrears/NOPE", 404, "unknown_customer", headers=BILLING),
    Row("unknown_customer_segment", "GET", "/v1/segments/NOPE", 404, "unknown_customer", headers=BILLING),
    Row("batch_unknown_item", "POST", A, 200, headers=BILLING, json={"customer_ids": ["K0001", "NOPE"]}, check=_check_batch_unknown),
    Row("batch_1000_mixed", "POST", A, 200, headers=BILLING, json={"customer_ids": mixed_batch()}, check=_check_mixed),
    # --- lifecycle and back-pressure
    Row("not_loaded_scoring", "POST", A, 503, "model_not_ready", headers=BILLING, json={"customer_ids": ["K0001"]}, app="unloaded", retry_after=True),
    Row("not_loaded_healthz", "GET", "/healthz", 200, app="unloaded"),
    Row("not_loaded_readyz", "GET", "/readyz", 503, app="unloaded", retry_after=True),
    Row("rate_limited", "GET", "/v1/arrears/K0001", 429, "rate_limited", headers=BILLING, app="limited", retry_after=True),
    Row("overloaded", "POST", A, 503, "overloaded", headers=BILLING, json={"customer_ids": ["K0001"]}, app="overloaded", retry_after=True),
    Row("deadline", "POST", A, 504, "deadline_exceeded", headers=BILLING, json={"features": {"kwh_mean_28d": [1.0] * 20, "late_bills_12m": [1] * 20}}, app="slow"),
]  # fmt: skip


def check_response(row: Row, r: Any) -> list[str]:
    """Problems with response `r` to `row` (status, envelope, code, field, Retry-After, no traceback)."""
    problems = []
    if r.status_code != row.status:
        return [f"status {r.status_code} != {row.status}: {r.text[:200]}"]
    if "Traceback" in r.text or 'File "' in r.text:
        problems.append("traceback in body")
    if row.retry_after and not r.headers.get("retry-after", "").isdigit():
        problems.append("no Retry-After")
    body = r.json() if r.content else None
    if row.code is not None or (r.status_code >= 400 and row.app != "unloaded"):
        err = (body or {}).get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict) or set(err) != {"code", "message", "field", "request_id"}:
            return [*problems, f"no error envelope: {r.text[:200]}"]
        if row.code is not None and err["code"] != row.code:
            problems.append(f"code {err['code']!r} != {row.code!r}")
        if row.err_field != "any" and err["field"] != row.err_field:
            problems.append(f"field {err['field']!r} != {row.err_field!r}")
        if err["request_id"] != r.headers.get("x-request-id"):
            problems.append("request_id differs from X-Request-ID")
    if row.check is not None:
        problems += row.check(body)
    return problems


def send(client: Any, row: Row) -> Any:
    kw: dict[str, Any] = {"headers": row.headers}
    if row.json is not None:
        kw["json"] = row.json
    elif row.content is not None:
        kw["content"] = row.content() if callable(row.content) else row.content
    return client.request(row.method, row.path, **kw)


def build_clients(settings: Any, store: Any) -> tuple[dict[str, Any], Callable[[], None]]:
    """One TestClient per app variant a row may need, and a cleanup function."""
    from harness.service import make_client
    from harness.stubs import SlowArrears, StubLoader
    from serving.model_store import ModelStore

    unloaded = make_client(settings, ModelStore(settings, loader=StubLoader()))
    limited = make_client(settings.model_copy(update={"rate_limit_per_s": 0.001, "rate_limit_burst": 1}), store)
    limited.get("/v1/arrears/K0001", headers=BILLING)  # spends the only token
    overloaded = make_client(settings.model_copy(update={"max_inflight_rows": 1}), store)
    slot = overloaded.app.state.gate.admit(1)
    slot.__enter__()  # another batch holds the only row slot
    slow_loader = StubLoader()
    slow_loader.bundles["arrears"] = (SlowArrears(delay_s=1.0), "1")
    slow_store = ModelStore(settings, loader=slow_loader)
    slow_store.load_all()
    slow = make_client(settings.model_copy(update={"deadline_s": 0.25}), slow_store)
    clients = {
        "default": make_client(settings, store),
        "unloaded": unloaded,
        "limited": limited,
        "overloaded": overloaded,
        "slow": slow,
    }
    return clients, lambda: slot.__exit__(None, None, None)
