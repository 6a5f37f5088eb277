"""Arrears risk: one customer (GET) or a batch by id / with features (POST /v1/arrears/score).

By id, answers are computed live from the loaded champion and the current feature snapshot (cached per
model version and snapshot); with features, the rows of the request are scored in one model call.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Response

from features.errors import UnknownCustomer
from serving.collections import decide
from serving.deps import BillingService
from serving.errors import InvalidRequest, ReasonsPending
from serving.live import LiveScores, status_counts, usable_counts
from serving.responses import json_response
from serving.routes.common import ERRORS, INLINE_ROWS, batch_rows, live_answers, off_loop
from serving.routing import OrjsonRoute
from serving.runtimes import ArrearsRuntime
from serving.schemas import REASONS_COST, ArrearsBatchResponse, ArrearsScore, ArrearsScoreRequest, ErrorEnvelope
from serving.settings import ServingSettings
from serving.validation import check_bounds, check_ids, feature_matrix

router = APIRouter(prefix="/v1/arrears", tags=["arrears"], route_class=OrjsonRoute)
CustomerPath = Annotated[str, Path(min_length=1, max_length=64, examples=["MAC000009"])]


@router.get(
    "/{customer_id}",
    response_model=ArrearsScore,
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Arrears risk of one customer, computed live from the champion and the latest feature snapshot",
)
async def get_arrears(customer_id: CustomerPath, svc: BillingService) -> Response:
    store = svc.store
    runtime = store.get("arrears")
    live = await live_answers(store, runtime)
    pos = live.snapshot.position(customer_id)
    if pos is None:
        raise UnknownCustomer([customer_id])
    ok = bool(live.usable[pos])
    answer = {
        "customer_id": customer_id,
        "status": "ok" if ok else "insufficient_features",
        "probability": live.columns["probability"][pos],
        "grade": live.columns["grade"][pos],
        "action": live.columns["action"][pos],
        "reasons": live.reasons_of(pos),
        "model_version": live.version,
        "as_of": live.as_of,
        "snapshot_id": live.snapshot_id,
    }
    return json_response(await decide(svc, answer, live, runtime))  # guardrails + audit, committed before the reply


@router.post(
    "/score",
    response_model=ArrearsBatchResponse,
    responses=ERRORS,
    summary="Arrears risk of up to 100,000 customers, by id or with features",
    description=(
        "By id: computed live from the loaded champion on the latest feature snapshot (probability, grade, "
        "action and top-3 reasons), per-item status `ok` / `unknown_customer` / `insufficient_features`, "
        "rows in request order; duplicate ids are refused (422). With `features` (columnar), the rows are "
        f"scored in one call; an all-null row is `insufficient_features`. {REASONS_COST}"
    ),
)
async def score_arrears(body: ArrearsScoreRequest, svc: BillingService) -> Response:
    store, settings, metrics, gate = svc.store, svc.settings, svc.metrics, svc.gate
    runtime: ArrearsRuntime = store.get("arrears")  # held for the whole request: a reload cannot pull it away
    rows = batch_rows(body)
    with gate.admit(rows):  # 503 overloaded when too many batch rows are in flight
        if body.features is not None:
            inline = rows <= INLINE_ROWS and runtime.fast and not body.include_reasons
            out = await off_loop(inline, _score_features, body, runtime, settings)
            metrics.rows.labels("arrears", "features").inc(out["count"])
            return json_response(await decide(svc, out))
        check_ids(body.customer_ids, settings.max_batch)
        live = await live_answers(store, runtime)
        inline = rows <= INLINE_ROWS and (body.include_reasons is False or not live.pending(body.customer_ids))
        out = await off_loop(inline, _score_ids, body, live, settings)
        metrics.rows.labels("arrears", "snapshot").inc(rows)
        return json_response(await decide(svc, out, live, runtime))


def _score_features(body: ArrearsScoreRequest, runtime: ArrearsRuntime, settings: ServingSettings) -> dict:
    names = runtime.feature_names
    X = feature_matrix(body.features, names, settings.max_batch, body.customer_ids)
    check_bounds(X, names, runtime.lower, runtime.upper, runtime.units)
    if body.include_reasons and len(X) > settings.max_reasons_rows:
        raise InvalidRequest(
            f"include_reasons is limited to {settings.max_reasons_rows} rows per request ({len(X)} given): "
            "reasons cost ~90x a prediction; split the batch or score by id (reasons cached per snapshot)",
            field="include_reasons",
            code="reasons_batch_too_large",
        )
    out = runtime.score_features(X, include_reasons=bool(body.include_reasons))
    return {
        "model_version": runtime.version,
        "source": "features",
        "as_of": None,
        "snapshot_id": None,
        "count": len(X),
        "status_counts": usable_counts(out["usable"]),
        "unknown_customer_ids": [],
        "results": {
            "customer_id": body.customer_ids,
            "status": out["status"].tolist(),
            "probability": out["probability"],
            "grade": out["grade"].tolist(),
            "action": out["action"].tolist(),
            "reasons": None if out["reasons"] is None else out["reasons"].tolist(),
        },
    }


def _score_ids(body: ArrearsScoreRequest, live: LiveScores, settings: ServingSettings) -> dict:
    ids = body.customer_ids
    pos, known = live.snapshot.lookup(ids)
    status = live.status(pos, known)
    reasons = None
    if body.include_reasons is not False:  # by id, reasons come unless switched off
        pending = len(live.unexplained(pos, known))
        if pending > settings.max_reasons_rows:
            raise ReasonsPending(pending, settings.max_reasons_rows)
        reasons = live.reasons_at(pos, known).tolist()
    return {
        "model_version": live.version,
        "source": "snapshot",
        "as_of": live.as_of,
        "snapshot_id": live.snapshot_id,
        "count": len(ids),
        "status_counts": status_counts(status),
        "unknown_customer_ids": np.asarray(ids, dtype=object)[~known].tolist(),
        "results": {
            "customer_id": ids,
            "status": status.tolist(),
            "probability": live.take("probability", pos, known),
            "grade": live.take("grade", pos, known).tolist(),
            "action": live.take("action", pos, known).tolist(),
            "reasons": reasons,
        },
    }
