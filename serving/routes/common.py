"""Helpers shared by the scoring routes: error docs, batch sizes, live answers off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from serving.live import LiveScores
from serving.model_store import ModelStore
from serving.runtimes import Runtime
from serving.schemas import ErrorEnvelope

T = TypeVar("T")
INLINE_ROWS = 256  # up to this many rows a request is scored on the event loop (a thread hop costs more)
ERRORS = {
    401: {"model": ErrorEnvelope, "description": "missing or invalid API key"},
    403: {"model": ErrorEnvelope, "description": "API key lacks the scope"},
    413: {"model": ErrorEnvelope, "description": "request body over the limit"},
    415: {"model": ErrorEnvelope, "description": "body is not JSON"},
    422: {"model": ErrorEnvelope, "description": "malformed input; `field` names the path"},
    429: {"model": ErrorEnvelope, "description": "rate limit of this API key (Retry-After)"},
    503: {"model": ErrorEnvelope, "description": "model or snapshot not loaded yet, or overloaded (Retry-After)"},
    504: {"model": ErrorEnvelope, "description": "request exceeded its deadline"},
}


def batch_rows(body) -> int:
    """Rows a batch request asks for: its ids, or the length of its first feature column."""
    if body.features is not None:
        return len(next(iter(body.features.values()), []))
    return len(body.customer_ids)


async def off_loop(inline: bool, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the event loop when `inline` (small work of known cost: a thread hop would cost
    more), else in the thread pool, so that a big batch or a slow model never stalls the loop and the
    request deadline (504) can still fire."""
    if inline:
        return fn(*args)
    return await run_in_threadpool(fn, *args)


async def live_answers(store: ModelStore, runtime: Runtime) -> LiveScores:
    """The runtime's answers on the current snapshot; reading a new snapshot or scoring it happens in the
    thread pool, never on the event loop."""
    live = store.cached_live(runtime)
    if live is not None:
        return live
    return await run_in_threadpool(store.live, runtime)
