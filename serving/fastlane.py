"""The arrears hot routes without FastAPI's per-request machinery; every error still comes from FastAPI.

FastAPI spends about 300 us of one core per request on routing, dependency solving and pydantic
validation: more than scoring one customer live. :class:`FastLane` (pure ASGI, inside ``RequestContext``)
answers the *plainly valid* requests of ``GET /v1/arrears/{customer_id}`` and ``POST /v1/arrears/score``
itself by calling the same route functions with the same :class:`~serving.deps.Service`:

- the body is decoded and type-checked by ``msgspec`` (C) into :class:`~serving.json_columns.ScoreBody`,
  the strict subset of :class:`~serving.schemas.ArrearsScoreRequest` (numbers or null as features, ids of
  1-64 characters, nothing else); a large body's feature columns become float64 arrays without a Python
  object per value (:mod:`serving.json_columns`); no per-row Python;
- the API key, its scope and its rate limit are checked by the app's :class:`~serving.deps.KeyRing`.

Anything else (another route, a missing or wrong key, an exhausted rate limit, a body that is not plainly
valid, such as a string where a number belongs) is handed untouched, body included, to the FastAPI route,
which answers it exactly as before (field, row and value in the 422). Up to that hand-over the lane has
no side effect. An error raised while scoring goes to the app's own exception handler for it, as it would
from the route.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.errors import MeterwiseError
from serving.json_columns import decode_score_body
from serving.routes import arrears

logger = logging.getLogger(__name__)
PREFIX = "/v1/arrears/"
SCORE = "/v1/arrears/score"
SCOPE = "billing"
Handler = Callable[[Request, Exception], Awaitable[Response]]


class FastLane:
    """Pure ASGI middleware: the arrears hot routes answered directly, all else passed to `app`."""

    def __init__(self, app: ASGIApp, api: FastAPI, enabled: bool = True):
        self.app, self.api = app, api
        routes = {(r.path, m): r for r in _routes(api.routes) if hasattr(r, "methods") for m in r.methods}
        self.get_route = routes.get((PREFIX + "{customer_id}", "GET"))
        self.score_route = routes.get((SCORE, "POST"))
        # another GET route under /v1/arrears/ with a fixed path would be shadowed: leave those to FastAPI
        self.fixed = {path for path, method in routes if path.startswith(PREFIX) and "{" not in path}
        self.enabled = enabled and self._routes_unchanged()

    def _routes_unchanged(self) -> bool:
        """The lane calls the route functions with (path or body, service): a route that grew another
        parameter (a new dependency) disables it rather than being called wrongly."""
        for route, params in ((self.get_route, ["customer_id", "svc"]), (self.score_route, ["body", "svc"])):
            if route is None or list(inspect.signature(route.endpoint).parameters) != params:
                logger.warning("fast lane off: %s changed its parameters", getattr(route, "path", "a route"))
                return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "GET" and path.startswith(PREFIX) and path not in self.fixed:
                customer_id = path[len(PREFIX) :]
                if 0 < len(customer_id) <= 64 and "/" not in customer_id:
                    await self._get(customer_id, scope, receive, send)
                    return
            elif method == "POST" and path == SCORE and _json(scope):
                await self._score(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _service(self, request: Request) -> Any:
        """The app's Service when the key is valid, holds the scope and has a token left; else None
        (FastAPI's dependency then answers 401 / 403 / 429). Spends the token only on success."""
        state = self.api.state
        try:
            key = state.keyring.authenticate(request)
            if SCOPE not in key.scopes:
                return None
            state.keyring.spend(key)
        except MeterwiseError:
            return None
        return state.service

    async def _get(self, customer_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        svc = self._service(request)
        if svc is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.get_route
        await self._answer(request, send, arrears.get_arrears(customer_id, svc))

    async def _score(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await request.body()  # the body limit (413) is enforced by RequestContext's receive
        except Exception as err:
            await self._error(request, send, err)
            return
        try:
            parsed = decode_score_body(body)
        except Exception:  # malformed JSON, a wrong type, an out-of-range number, an unknown key, too deep
            parsed = None
        if parsed is None or (parsed.customer_ids is None and parsed.features is None):
            await self.app(scope, _replay(body, receive), send)
            return
        svc = self._service(request)
        if svc is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.score_route
        await self._answer(request, send, arrears.score_arrears(parsed, svc))

    async def _answer(self, request: Request, send: Send, work: Awaitable[Response]) -> None:
        try:
            response = await work
        except Exception as err:
            await self._error(request, send, err)
            return
        await response(request.scope, request.receive, send)

    async def _error(self, request: Request, send: Send, err: Exception) -> None:
        """The response the app's exception handler for `err` gives (as from the route itself)."""
        handler = _handler(self.api, err)
        if handler is None:
            raise err
        response = await handler(request, err)
        await response(request.scope, request.receive, send)


def _routes(routes: list[Any]) -> Any:
    """Every route of the app, through included routers (FastAPI wraps those in ``original_router``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def _json(scope: Scope) -> bool:
    """Content-Type ``application/json`` (parameters allowed); other bodies go to FastAPI (415 / 422)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def _handler(api: FastAPI, err: Exception) -> Handler | None:
    """The app's handler for the nearest class of `err` (as Starlette picks it)."""
    for cls in type(err).__mro__:
        handler = api.exception_handlers.get(cls)
        if handler is not None:
            return handler
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields the already-read `body` once, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
