"""The auth matrix: every OpenAPI operation x {billing, planner, admin, no key, wrong key}.

``POLICY`` is the configuration under test: the scope each operation needs (``None`` = public).
:func:`operations` reads the live OpenAPI schema, so a new route without a policy entry fails the
matrix instead of escaping it.
"""

from __future__ import annotations

from typing import Any

from harness.service import ADMIN, API_KEYS, BILLING, PLANNER

POLICY: dict[tuple[str, str], str | tuple[str, ...] | None] = {
    ("GET", "/v1/arrears/{customer_id}"): "billing",
    ("POST", "/v1/arrears/score"): "billing",
    ("GET", "/v1/segments/{customer_id}"): "billing",
    ("POST", "/v1/segments"): "billing",
    ("POST", "/v1/forecasts"): "planner",
    ("GET", "/v1/theft/{customer_id}"): "revenue_protection",
    ("POST", "/v1/theft/score"): "revenue_protection",
    ("POST", "/v1/work-orders/classify"): "customer_service",
    ("GET", "/v1/models"): "any",
    ("GET", "/v1/models/{kind}"): "any",
    ("POST", "/v1/models/{kind}/reload"): "admin",
    ("GET", "/v1/decisions"): "billing",
    ("GET", "/v1/alerts"): "billing",
    ("GET", "/v1/customers/{customer_id}/profile"): "billing",
    ("GET", "/v1/monitoring"): ("admin", "planner"),  # any one of these scopes
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
}
IDENTITIES: dict[str, dict[str, str]] = {
    "billing": BILLING,
    "planner": PLANNER,
    "admin": ADMIN,
    "no_key": {},
    "wrong_key": {"X-API-Key": "rel-wrong-0000"},
}
PATH_VALUES = {"customer_id": "K0001", "kind": "arrears"}
QUERIES: dict[str, dict[str, str]] = {"/v1/decisions": {"customer_id": "K0001"}}
BODIES: dict[str, Any] = {
    "/v1/arrears/score": {"customer_ids": ["K0001", "K0002"]},
    "/v1/segments": {"customer_ids": ["K0001"]},
    "/v1/forecasts": {"level": "region", "key": "north", "horizon": 3},
    "/v1/theft/score": {"customer_ids": ["K0001"]},
}


def operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, ops in openapi["paths"].items() for m in ops if m != "parameters"]


def scopes_of(identity: str) -> set[str]:
    headers = IDENTITIES[identity]
    return set(API_KEYS.get(headers.get("X-API-Key", ""), []))


def expected(op: tuple[str, str], identity: str) -> str:
    """``allowed``, ``401`` or ``403`` for one cell."""
    need = POLICY[op]
    if need is None:
        return "allowed"
    if identity in ("no_key", "wrong_key"):
        return "401"
    if need == "any" or ({need} if isinstance(need, str) else set(need)) & scopes_of(identity):
        return "allowed"
    return "403"


def call(client: Any, op: tuple[str, str], identity: str) -> Any:
    method, template = op
    path = template.format(**PATH_VALUES)
    body = BODIES.get(template)
    return client.request(method, path, headers=IDENTITIES[identity], json=body, params=QUERIES.get(template))


def check_cell(op: tuple[str, str], identity: str, r: Any) -> list[str]:
    want = expected(op, identity)
    got = r.status_code
    if want == "allowed":
        return [] if got < 400 else [f"{op} as {identity}: {got} (expected success) {r.text[:150]}"]
    if str(got) != want:
        return [f"{op} as {identity}: {got} (expected {want})"]
    code = r.json()["error"]["code"]
    if code != {"401": "unauthenticated", "403": "forbidden"}[want]:
        return [f"{op} as {identity}: code {code}"]
    return []


def run_matrix(client: Any) -> tuple[int, list[str]]:
    """All cells; returns (cells, problems). Problems include routes missing from POLICY."""
    ops = operations(client.app.openapi())
    problems = [f"{op} has no auth policy" for op in ops if op not in POLICY]
    problems += [f"{op} in POLICY but not in the OpenAPI schema" for op in POLICY if op not in ops]
    cells = 0
    for op in ops:
        if op not in POLICY:
            continue
        for identity in IDENTITIES:
            r = call(client, op, identity)
            cells += 1
            problems += check_cell(op, identity, r)
            problems += [f"{op} as {identity}: a key is echoed" for k in API_KEYS if k in r.text]
    return cells, problems
