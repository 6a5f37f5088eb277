"""Arrears risk: one customer (GET) or a batch by id / with features (POST /v1/arrears/score)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Response

from features.errors import UnknownCustomer
from serving.deps import BillingKey, GateDep, MetricsDep, SettingsDep, StoreDep
from serving.errors import InvalidRequest
from serving.responses import json_response
from serving.routes.common import ERRORS, batch_rows, check_ids, feature_matrix, require_scores, status_counts
from serving.routing import OrjsonRoute
from serving.runtimes import REASON_COLUMNS, ArrearsRuntime
from serving.schemas import REASONS_COST, ArrearsBatchResponse, ArrearsScore, ArrearsScoreRequest, ErrorEnvelope

router = APIRouter(prefix="/v1/arrears", tags=["arrears"], route_class=OrjsonRoute)
CustomerPath = Annotated[str, Path(min_length=1, max_length=64, examples=["MAC000009"])]


@router.get(
    "/{customer_id}",
    response_model=ArrearsScore,
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Arrears risk of one customer (from the latest batch scores)",
)
async def get_arrears(customer_id: CustomerPath, store: StoreDep, _: BillingKey) -> Response:
    runtime = store.get("arrears")
    scores = require_scores(runtime)
    pos = scores.position(customer_id)
    if pos is None:
        raise UnknownCustomer([customer_id])
    c = scores.columns
    return json_response(
        {
            "customer_id": customer_id,
            "status": "stale" if scores.stale[pos] else "ok",
            "probability": c["probability"][pos],
            "grade": c["grade"][pos],
            "action": c["action"][pos],
            "reasons": [c[r][pos] for r in REASON_COLUMNS],
            "model_version": c["model_version"][pos] or scores.model_version,
            "as_of": c["as_of"][pos],
        }
    )


@router.post(
    "/score",
    response_model=ArrearsBatchResponse,
    responses=ERRORS,
    summary="Arrears risk of up to 100,000 customers, by id or with features",
    description=(
        "By id: results come from the latest batch-scoring snapshot (probability, grade, action and "
        "top-3 reasons), per-item status `ok` / `unknown_customer` / `stale`, rows in request order; "
        "duplicate ids are refused (422). With `features` (columnar), the live model scores the rows in "
        f"one call. {REASONS_COST}"
    ),
)
def score_arrears(
    body: ArrearsScoreRequest,
    store: StoreDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    gate: GateDep,
    _: BillingKey,
) -> Response:
    runtime: ArrearsRuntime = store.get("arrears")  # held for the whole request: a reload cannot pull it away
    with gate.admit(batch_rows(body)):  # 503 overloaded when too many batch rows are in flight
        return _score_arrears(body, runtime, settings, metrics)


def _score_arrears(
    body: ArrearsScoreRequest, runtime: ArrearsRuntime, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    if body.features is not None:
        X = feature_matrix(body.features, runtime.feature_names, settings.max_batch, body.customer_ids)
        if body.include_reasons and len(X) > settings.max_reasons_rows:
            raise InvalidRequest(
                f"include_reasons is limited to {settings.max_reasons_rows} rows per request ({len(X)} given): "
                "reasons cost ~90x a prediction; split the batch or score by id (precomputed reasons)",
                field="include_reasons",
                code="reasons_batch_too_large",
            )
        out = runtime.score_features(X, include_reasons=body.include_reasons)
        n = len(X)
        metrics.rows.labels("arrears", "features").inc(n)
        return json_response(
            {
                "model_version": runtime.version,
                "source": "features",
                "as_of": None,
                "count": n,
                "status_counts": {"ok": n, "unknown_customer": 0, "stale": 0},
                "unknown_customer_ids": [],
                "results": {
                    "customer_id": body.customer_ids,
                    "status": ["ok"] * n,
                    "probability": out["probability"],
                    "grade": out["grade"].tolist(),
                    "action": out["action"].tolist(),
                    "reasons": None if out["reasons"] is None else out["reasons"].tolist(),
                },
            }
        )
    ids = body.customer_ids
    check_ids(ids, settings.max_batch)
    scores = require_scores(runtime)
    pos, known = scores.lookup(ids)
    status = scores.status(pos, known)
    reasons = np.column_stack([scores.take(r, pos, known) for r in REASON_COLUMNS])
    metrics.rows.labels("arrears", "snapshot").inc(len(ids))
    return json_response(
        {
            "model_version": scores.model_version or runtime.version,
            "source": "snapshot",
            "as_of": scores.as_of,
            "count": len(ids),
            "status_counts": status_counts(status),
            "unknown_customer_ids": np.asarray(ids, dtype=object)[~known].tolist(),
            "results": {
                "customer_id": ids,
                "status": status.tolist(),
                "probability": scores.take("probability", pos, known),
                "grade": scores.take("grade", pos, known).tolist(),
                "action": scores.take("action", pos, known).tolist(),
                "reasons": reasons.tolist(),
            },
        }
    )
