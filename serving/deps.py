"""FastAPI dependencies as ``Annotated`` aliases: settings, store, metrics and API-key scopes.

Everything hangs off ``app.state`` (set by ``create_app``), so two apps in one process never share
state. API keys are compared with ``hmac.compare_digest`` against *every* configured key, so the time
taken does not reveal which key (or which prefix) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from serving.errors import Forbidden, RateLimited, Unauthenticated
from serving.limits import BatchGate
from serving.metrics import Metrics
from serving.model_store import ModelStore
from serving.settings import ServingSettings


@dataclass(frozen=True)
class ApiKey:
    key_id: str  # sha256 prefix of the key: safe to log, used for rate limiting
    scopes: frozenset[str]


class KeyRing:
    """Configured keys and a per-key token bucket."""

    def __init__(self, settings: ServingSettings):
        self._keys = [
            (key.encode(), ApiKey(hashlib.sha256(key.encode()).hexdigest()[:12], frozenset(scopes)))
            for key, scopes in settings.api_keys.items()
        ]
        self._rate, self._burst = settings.rate_limit_per_s, float(settings.rate_limit_burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key_id -> (tokens, last time)

    def authenticate(self, request: Request) -> ApiKey:
        given = request.headers.get("x-api-key")
        if given is None:
            auth = request.headers.get("authorization", "")
            given = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not given:
            raise Unauthenticated("missing API key: send it in the X-API-Key header")
        raw = given.encode()
        found = None
        for key, api_key in self._keys:  # no early exit: constant work over all keys
            if hmac.compare_digest(raw, key):
                found = api_key
        if found is None:
            raise Unauthenticated("invalid API key")
        return found

    def spend(self, key: ApiKey) -> None:
        """Take one token from the key's bucket (runs on the event loop: no lock needed)."""
        if self._rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(key.key_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key.key_id] = (tokens, now)
            raise RateLimited((1.0 - tokens) / self._rate)
        self._buckets[key.key_id] = (tokens - 1.0, now)


async def get_settings(request: Request) -> ServingSettings:
    return request.app.state.settings


async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_gate(request: Request) -> BatchGate:
    return request.app.state.gate


@dataclass(frozen=True)
class Service:
    """What a scoring route uses, handed over by its one auth dependency (each FastAPI dependency costs
    tens of microseconds per request: the scoring routes resolve one instead of five)."""

    settings: ServingSettings
    store: ModelStore
    metrics: Metrics
    gate: BatchGate
    collections: Any = None  # serving.collections.CollectionsDesk: guardrails + audit trail of arrears answers


def require_service(scope: str):
    """Dependency factory: authenticate the key for `scope` (401/403/429 as :func:`require_scope`), then
    hand the route the app's :class:`Service`."""
    check = require_scope(scope)

    async def dependency(request: Request) -> Service:
        await check(request)
        return request.app.state.service

    dependency.__name__ = f"require_{scope}_service"
    return dependency


def require_scope(scope: str | None):
    """Dependency factory: a valid API key carrying `scope` (401 without/invalid key, 403 wrong scope).

    ``None`` accepts any valid key."""

    async def dependency(request: Request) -> ApiKey:
        ring: KeyRing = request.app.state.keyring
        key = ring.authenticate(request)
        if scope is not None and scope not in key.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        ring.spend(key)
        return key

    dependency.__name__ = f"require_{scope or 'any_key'}"
    return dependency


def require_any_scope(*scopes: str):
    """Dependency factory: a valid API key carrying at least one of `scopes` (e.g. billing or admin)."""

    async def dependency(request: Request) -> ApiKey:
        ring: KeyRing = request.app.state.keyring
        key = ring.authenticate(request)
        if not key.scopes & set(scopes):
            raise Forbidden(f"this API key lacks all of the scopes {list(scopes)}")
        ring.spend(key)
        return key

    dependency.__name__ = f"require_{scopes[0]}"  # the docs (serving/docs.py) name the first scope
    return dependency


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
GateDep = Annotated[BatchGate, Depends(get_gate)]
BillingKey = Annotated[ApiKey, Depends(require_scope("billing"))]
PlannerKey = Annotated[ApiKey, Depends(require_scope("planner"))]
AnyKey = Annotated[ApiKey, Depends(require_scope(None))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
BillingService = Annotated[Service, Depends(require_service("billing"))]
