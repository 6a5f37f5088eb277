"""Liveness (process up), readiness (required models loaded) and Prometheus metrics. No API key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from serving.deps import MetricsDep, SettingsDep, StoreDep
from serving.responses import json_response
from serving.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])
_LIVE = b'{"status":"ok"}'


@router.get("/healthz", response_model=Liveness, summary="Liveness: the process answers")
async def healthz() -> Response:
    return Response(_LIVE, media_type="application/json")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
    summary="Readiness: every required model kind is loaded (503 + Retry-After otherwise)",
)
async def readyz(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    missing = store.not_ready()
    if getattr(request.app.state, "draining", False):
        missing = {**missing, "server": "draining: shutting down (SIGTERM)"}
    if missing:
        return json_response({"ready": False, "not_ready": missing}, 503, {"Retry-After": str(settings.retry_after_s)})
    return json_response({"ready": True, "not_ready": {}})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(m: MetricsDep) -> Response:
    body, content_type = m.render()
    return Response(body, media_type=content_type)
