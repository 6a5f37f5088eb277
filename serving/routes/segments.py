"""Customer segments: one customer (GET) or many, by id or with load-shape features (POST)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Response

from features.errors import UnknownCustomer
from serving.deps import BillingKey, GateDep, MetricsDep, SettingsDep, StoreDep
from serving.responses import json_response
from serving.routes.common import ERRORS, batch_rows, check_ids, feature_matrix, require_scores, status_counts
from serving.routing import OrjsonRoute
from serving.runtimes import SegmentsRuntime
from serving.schemas import ErrorEnvelope, SegmentBatchResponse, SegmentRequest, SegmentScore

router = APIRouter(prefix="/v1/segments", tags=["segments"], route_class=OrjsonRoute)
CustomerPath = Annotated[str, Path(min_length=1, max_length=64, examples=["MAC000009"])]
FIELDS = ("segment_id", "segment_name", "strategy")


@router.get(
    "/{customer_id}",
    response_model=SegmentScore,
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Load-shape segment of one customer (from the latest batch scores)",
)
async def get_segment(customer_id: CustomerPath, store: StoreDep, _: BillingKey) -> Response:
    scores = require_scores(store.get("segments"))
    pos = scores.position(customer_id)
    if pos is None:
        raise UnknownCustomer([customer_id])
    c = scores.columns
    return json_response(
        {
            "customer_id": customer_id,
            "status": "stale" if scores.stale[pos] else "ok",
            **{f: c[f][pos] for f in FIELDS},
            "distance": c["distance"][pos],
            "model_version": c["model_version"][pos] or scores.model_version,
        }
    )


@router.post(
    "",
    response_model=SegmentBatchResponse,
    responses=ERRORS,
    summary="Segments of up to 100,000 customers, by id or with features (columnar)",
)
def score_segments(
    body: SegmentRequest, store: StoreDep, settings: SettingsDep, metrics: MetricsDep, gate: GateDep, _: BillingKey
) -> Response:
    runtime: SegmentsRuntime = store.get("segments")
    with gate.admit(batch_rows(body)):  # 503 overloaded when too many batch rows are in flight
        return _score_segments(body, runtime, settings, metrics)


def _score_segments(
    body: SegmentRequest, runtime: SegmentsRuntime, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    if body.features is not None:
        X = feature_matrix(body.features, runtime.feature_names, settings.max_batch, body.customer_ids)
        out = runtime.score_features(X)
        metrics.rows.labels("segments", "features").inc(len(X))
        return json_response(
            {
                "model_version": runtime.version,
                "source": "features",
                "count": len(X),
                "status_counts": {"ok": len(X), "unknown_customer": 0, "stale": 0},
                "unknown_customer_ids": [],
                "results": {
                    "customer_id": body.customer_ids,
                    "status": ["ok"] * len(X),
                    **{f: out[f].tolist() for f in FIELDS},
                    "distance": out["distance"],
                },
            }
        )
    ids = body.customer_ids
    check_ids(ids, settings.max_batch)
    scores = require_scores(runtime)
    pos, known = scores.lookup(ids)
    status = scores.status(pos, known)
    metrics.rows.labels("segments", "snapshot").inc(len(ids))
    return json_response(
        {
            "model_version": scores.model_version or runtime.version,
            "source": "snapshot",
            "count": len(ids),
            "status_counts": status_counts(status),
            "unknown_customer_ids": np.asarray(ids, dtype=object)[~known].tolist(),
            "results": {
                "customer_id": ids,
                "status": status.tolist(),
                **{f: scores.take(f, pos, known).tolist() for f in FIELDS},
                "distance": scores.take("distance", pos, known),
            },
        }
    )
