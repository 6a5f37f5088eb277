"""GET /v1/decisions?customer_id=…: the audit trail of what was said to the billing system, and why."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from serving.collections_schemas import DecisionsResponse
from serving.deps import require_any_scope
from serving.responses import json_response
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute

router = APIRouter(prefix="/v1/decisions", tags=["collections"], route_class=OrjsonRoute)
BillingOrAdmin = Annotated[Any, Depends(require_any_scope("billing", "admin"))]


@router.get(
    "",
    response_model=DecisionsResponse,
    responses=ERRORS,
    summary="Every arrears decision served for one customer (API and batch runs), newest first",
    description=(
        "Exactly what was said and why: probability, grade, the action said (after guardrails), the grade's "
        "original action and the guardrail where one applied, the three reasons, the model version and the "
        "feature snapshot, and when. A decision is committed to the audit database before its answer is sent."
    ),
)
async def get_decisions(
    request: Request,
    _: BillingOrAdmin,
    customer_id: Annotated[str, Query(min_length=1, max_length=64, examples=["MAC000252"])],
    limit: Annotated[int, Query(ge=1, le=1000, examples=[20])] = 100,
) -> Response:
    desk = request.app.state.collections
    rows = await run_in_threadpool(lambda: desk.log.for_customer(customer_id, limit=limit))
    return json_response({"customer_id": customer_id, "count": len(rows), "decisions": rows})
