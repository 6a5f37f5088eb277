"""``create_app(settings, store)``: routers, middleware and the ONE error -> HTTP mapping.

Every error leaves as ``{"error": {"code", "message", "field", "request_id"}}`` with an
``X-Request-ID`` header; no stack trace ever reaches a client.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import math
import os
import re
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.errors import (
    ContractViolation,
    MeterwiseError,
    ModelNotReady,
    ModelRejected,
    SnapshotNotFound,
    UnknownCustomer,
    UnknownSeries,
)
from serving.collections import AuditUnavailable, CollectionsDesk
from serving.deps import KeyRing, Service
from serving.docs import install_docs
from serving.errors import Forbidden, InvalidRequest, Overloaded, RateLimited, ReasonsPending, Unauthenticated
from serving.fastlane import FastLane
from serving.limits import BatchGate, deadline_for
from serving.metrics import Metrics
from serving.model_store import ModelStore
from serving.responses import envelope, error_response
from serving.routes import (
    alerts,
    arrears,
    customers,
    decisions,
    forecasts,
    health,
    models,
    monitoring,
    segments,
    theft,
    work_orders,
)
from serving.settings import ServingSettings

logger = logging.getLogger(__name__)

#: The only place where meterwise errors become HTTP status codes.
HTTP_STATUS: dict[type[MeterwiseError], int] = {
    InvalidRequest: 422,
    ContractViolation: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    UnknownCustomer: 404,
    UnknownSeries: 404,
    ModelRejected: 409,
    RateLimited: 429,
    Overloaded: 503,
    ReasonsPending: 503,
    ModelNotReady: 503,
    SnapshotNotFound: 503,
    AuditUnavailable: 503,
}
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    504: "deadline_exceeded",
}
#: FastAPI's OpenTelemetry bridge looks up three providers on every request; metrics here are Prometheus's.
TELEMETRY_OFF = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters
    else {}
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def status_of(err: MeterwiseError) -> int:
    """Status of the nearest mapped class; other named errors by their builtin base (KeyError 404,
    ValueError 422), so a new error subclass elsewhere in the code base never becomes a 500."""
    for cls in type(err).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    if isinstance(err, KeyError):
        return 404
    if isinstance(err, ValueError):
        return 422
    return 500


def _field_of(err: MeterwiseError) -> str | None:
    if isinstance(err, ContractViolation) and len(err.failures):
        return str(err.failures["column"].iloc[0])
    return getattr(err, "field", None)


class RequestContext:
    """Pure ASGI: request id, body limit (Content-Length and chunked), deadline (504), metrics by route.

    A request still running at its deadline gets a 504 envelope at once; its work (a thread cannot be
    cancelled) finishes in the background and its late response is dropped.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body_bytes: int,
        deadline_s: float = 30.0,
        route_deadlines_s: dict[str, float] | None = None,
    ):
        self.app, self.metrics, self.max_body = app, metrics, max_body_bytes
        self.deadline_s, self.route_deadlines_s = deadline_s, dict(route_deadlines_s or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        if rid is None or not _REQUEST_ID.match(rid):
            rid = os.urandom(16).hex()  # 32 hex characters, as uuid4().hex, at a fifth of its cost
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode())
        status = 500
        limit = self.max_body
        started = timed_out = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if timed_out:  # the 504 already went out: drop the late response
                return
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = message.get("headers", [])
                if not any(k == b"x-request-id" for k, _ in headers):
                    message["headers"] = [*headers, rid_header]
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body exceeds {limit} bytes")
            return message

        try:
            if length is not None and length.isdigit() and int(length) > limit:  # refuse before reading
                body = envelope("payload_too_large", f"request body exceeds {limit} bytes", None, rid)
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            deadline = deadline_for(scope["path"], self.deadline_s, self.route_deadlines_s)

            async def on_deadline() -> None:
                nonlocal timed_out, started, status
                if started:
                    return
                started = timed_out = True
                status = 504
                logger.warning("%s %s exceeded its %gs deadline", scope["method"], scope["path"], deadline)
                body = envelope("deadline_exceeded", f"request exceeded its {deadline:g}s deadline", None, rid)
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 504, "headers": [*headers, rid_header]})
                await send({"type": "http.response.body", "body": body})

            loop = asyncio.get_running_loop()
            pending: list[asyncio.Task] = []
            timer = loop.call_later(deadline, lambda: pending.append(loop.create_task(on_deadline())))
            try:
                await self.app(scope, receive_limited, send_with_id)
            except Exception:
                if not timed_out:
                    raise
                logger.exception("%s %s failed after its deadline", scope["method"], scope["path"])
            finally:
                timer.cancel()
                if pending:
                    await pending[0]
        finally:
            route = scope.get("route")
            self.metrics.observe(
                scope["method"], getattr(route, "path", "unmatched"), status, time.perf_counter() - start
            )


def _install_error_handlers(app: FastAPI, settings: ServingSettings) -> None:
    @app.exception_handler(MeterwiseError)
    async def meterwise_error(request: Request, err: MeterwiseError) -> Response:
        status = status_of(err)
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
        elif status == 503:
            headers["Retry-After"] = str(settings.retry_after_s)
        elif isinstance(err, RateLimited):
            headers["Retry-After"] = str(max(1, math.ceil(err.retry_after_s)))
        if status == 500:
            logger.error("unmapped %s: %s", type(err).__name__, err)
        return error_response(request, status, err.code, str(err), _field_of(err), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> Response:
        errors = err.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
        loc = [str(p) for p in first.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        if first.get("type") == "json_invalid":
            ctx = first.get("ctx") or {}
            return error_response(
                request,
                422,
                "invalid_json",
                f"body is not valid JSON: {ctx.get('error', '')} (NaN and Infinity are not JSON)",
            )
        content_type = request.headers.get("content-type", "")
        if not loc and request.method == "POST" and "json" not in content_type:
            return error_response(
                request,
                415,
                "unsupported_media_type",
                f"send a JSON body with Content-Type: application/json (got {content_type[:60]!r})",
            )
        more = f" (+{len(errors) - 1} more errors)" if len(errors) > 1 else ""
        field = ".".join(loc) or None
        return error_response(request, 422, "validation_error", f"{field or 'body'}: {first['msg']}{more}", field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(err.status_code, "http_error")
        return error_response(request, err.status_code, code, str(err.detail), None, dict(err.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal_error", "internal error; quote the request_id to support")


def create_app(settings: ServingSettings | None = None, store: ModelStore | None = None) -> FastAPI:
    """Build the API. Without `store`, one is created and loads every kind in a background thread
    at startup (``/healthz`` answers at once, ``/readyz`` turns 200 when the required kinds are in)."""
    settings = settings or ServingSettings()
    owns_store = store is None
    store = store or ModelStore(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if owns_store:

            def load() -> None:
                store.load_all()
                gc.freeze()  # models, mlflow and pandas are long-lived: keep them out of GC scans

            threading.Thread(target=load, name="model-load", daemon=True).start()
        yield

    app = FastAPI(
        title="meterwise prediction API",
        version="1",
        summary="Arrears risk, customer segments and load forecasts for an electricity supplier",
        description=(
            "Authenticate with `X-API-Key`. Scopes: `billing` (arrears, segments), `planner` (forecasts), "
            '`admin` (reload). Errors: `{"error": {"code", "message", "field", "request_id"}}`.'
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc from packaged assets (serving.docs), not a CDN
        redoc_url=None,
        **TELEMETRY_OFF,
    )
    app.state.settings, app.state.store = settings, store
    app.state.keyring = KeyRing(settings)
    app.state.gate = BatchGate(settings.max_inflight_rows)
    app.state.draining = False  # set on SIGTERM (serving/server.py): /readyz answers 503 from then on
    app.state.metrics = metrics = Metrics(store.describe)
    app.state.collections = CollectionsDesk(settings)  # guardrails + decision audit trail (issue 20)
    app.state.service = Service(settings, store, metrics, app.state.gate, app.state.collections)
    _install_error_handlers(app, settings)
    for module in (arrears, segments, forecasts, models, health, theft):  # routers carry their full /v1 prefix
        app.include_router(module.router)
    app.include_router(work_orders.router)
    for module in (decisions, alerts, customers):  # collections: audit trail, balance alerts, key accounts
        app.include_router(module.router)
    app.include_router(monitoring.router)
    metrics.watch_monitoring(monitoring.latest_status(app))
    install_docs(app)
    app.add_middleware(FastLane, api=app)  # inside RequestContext: the arrears hot routes (serving/fastlane.py)
    app.add_middleware(
        RequestContext,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        deadline_s=settings.deadline_s,
        route_deadlines_s=settings.route_deadlines_s,
    )
    return app
