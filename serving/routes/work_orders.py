"""POST /v1/work-orders/classify: category, calibrated probability, 'unsure' and keywords for a batch of texts.

Needs the ``customer_service`` scope. The tenant's champion classifier (``meterwise work-orders train``) is
loaded on first use through the model store's loader (registry champion, else ``models/<tenant>/work-orders/``) and
kept on ``app.state``; without one the route answers 503 ``model_not_ready``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, StringConstraints

from features.errors import ModelNotReady
from features.work_orders import MAX_TEXT_CHARS
from serving.deps import ApiKey, GateDep, SettingsDep, require_scope
from serving.errors import InvalidRequest
from serving.responses import json_response
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute
from serving.schemas import Strict

logger = logging.getLogger(__name__)

KIND = "work-orders"
router = APIRouter(prefix="/v1/work-orders", tags=["work-orders"], route_class=OrjsonRoute)
CustomerServiceKey = Annotated[ApiKey, Depends(require_scope("customer_service"))]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS, strip_whitespace=False)]


class WorkOrderText(Strict):
    order_id: str | None = Field(None, min_length=1, max_length=64, examples=["WO000123"])
    text: Text = Field(examples=["My bill for January is much higher than usual, please check the meter reading."])


class ClassifyRequest(Strict):
    orders: list[WorkOrderText] = Field(min_length=1, description="work orders to classify (at most max_batch)")
    unsure_below: float | None = Field(
        None, ge=0.0, le=1.0, description="override the model's threshold: below it the category is 'unsure'"
    )


class Classification(Strict):
    order_id: str | None
    category: str = Field(description="predicted category, or 'unsure' below the threshold")
    probability: float = Field(description="calibrated probability of the most likely category")
    best_guess: str = Field(description="most likely category, even when unsure")
    keywords: list[str] = Field(description="tokens of the text that weigh most for the predicted category")


class ClassifyResponse(Strict):
    model_version: str
    unsure_below: float
    results: list[Classification]


async def _model(request: Request, settings) -> tuple[Any, str]:
    held = getattr(request.app.state, "work_orders_model", None)
    if held is None:
        from serving.model_store import registry_loader

        bundle, version, source = await asyncio.to_thread(registry_loader(settings), KIND, "champion")
        if not hasattr(bundle, "predict_frame"):
            raise ModelNotReady(KIND, f"{type(bundle).__name__} is not a work-order classifier")
        logger.info("work-orders v%s loaded from %s", version, source)
        held = request.app.state.work_orders_model = (bundle, version)
    return held


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=ERRORS,
    summary="Classify a batch of work-order texts (category, probability, unsure flag, keywords)",
)
async def classify(
    body: ClassifyRequest, request: Request, settings: SettingsDep, gate: GateDep, _: CustomerServiceKey
) -> Response:
    if len(body.orders) > settings.max_batch:
        raise InvalidRequest(f"{len(body.orders)} orders; at most max_batch={settings.max_batch}", field="orders")
    model, version = await _model(request, settings)
    frame = pd.DataFrame({"text": [o.text for o in body.orders]})
    with gate.admit(len(frame)):
        pred = await asyncio.to_thread(model.predict_frame, frame)
    threshold = float(model.unsure_below if body.unsure_below is None else body.unsure_below)
    best = pred["best_guess"].to_numpy(dtype=object)
    unsure = pred["probability"].to_numpy() < threshold
    category = np.where(unsure, "unsure", best)
    keywords = [k.split("; ") if k else [] for k in pred["keywords"]]
    results = [
        {"order_id": o.order_id, "category": c, "probability": float(p), "best_guess": b, "keywords": k}
        for o, c, p, b, k in zip(body.orders, category, pred["probability"], best, keywords, strict=True)
    ]
    return json_response({"model_version": str(version), "unsure_below": threshold, "results": results})
