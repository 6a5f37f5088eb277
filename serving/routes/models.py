"""Model metadata and admin reload without downtime."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Response
from starlette.concurrency import run_in_threadpool

from features.errors import ModelRejected
from serving.deps import AdminKey, AnyKey, MetricsDep, StoreDep
from serving.responses import json_response
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute
from serving.schemas import ErrorEnvelope, ModelInfo, ModelsResponse, ReloadRequest

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=OrjsonRoute)
Kind = Annotated[Literal["arrears", "segments", "forecast"], Path(description="model kind")]


@router.get("", response_model=ModelsResponse, responses=ERRORS, summary="Loaded models: version, source, time")
async def list_models(store: StoreDep, _: AnyKey) -> Response:
    return json_response({"models": store.describe()})


@router.get("/{kind}", response_model=ModelInfo, responses=ERRORS, summary="One model kind")
async def get_model(kind: Kind, store: StoreDep, _: AnyKey) -> Response:
    return json_response(next(m for m in store.describe() if m["kind"] == kind))


@router.post(
    "/{kind}/reload",
    response_model=ModelInfo,
    responses={**ERRORS, 409: {"model": ErrorEnvelope, "description": "candidate refused; old model keeps serving"}},
    summary="Load a version (default: champion), admit it, swap it in without downtime (admin)",
)
async def reload_model(
    kind: Kind,
    store: StoreDep,
    metrics: MetricsDep,
    _: AdminKey,
    body: Annotated[ReloadRequest | None, Body()] = None,
) -> Response:
    ref = body.version if body else "champion"
    try:
        runtime = await run_in_threadpool(store.reload, kind, ref)  # loading must not block the event loop
    except ModelRejected:
        metrics.reloads.labels(kind, "refused").inc()
        raise
    metrics.reloads.labels(kind, "ok").inc()
    return json_response({"ready": True, "reason": None, **runtime.describe()})
