"""Customer segments: one customer (GET) or many, by id or with load-shape features (POST).

By id, segments are computed live from the loaded champion on the latest feature snapshot when the
snapshot carries the model's load-shape features; until it does, they come from the batch-scoring file
(``source: "batch"``, its own ``as_of`` and model version).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Response

from features.errors import SnapshotNotFound, UnknownCustomer
from serving.deps import BillingService
from serving.live import INSUFFICIENT, OK, UNKNOWN, status_counts
from serving.responses import json_response
from serving.routes.common import ERRORS, batch_rows, live_answers, off_loop
from serving.routing import OrjsonRoute
from serving.runtimes import ScoreIndex, SegmentsRuntime
from serving.schemas import ErrorEnvelope, SegmentBatchResponse, SegmentRequest, SegmentScore
from serving.settings import ServingSettings
from serving.validation import check_bounds, check_ids, feature_matrix

router = APIRouter(prefix="/v1/segments", tags=["segments"], route_class=OrjsonRoute)
CustomerPath = Annotated[str, Path(min_length=1, max_length=64, examples=["MAC000009"])]
FIELDS = ("segment_id", "segment_name", "strategy", "distance")


@router.get(
    "/{customer_id}",
    response_model=SegmentScore,
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Load-shape segment of one customer, computed live on the latest feature snapshot",
)
async def get_segment(customer_id: CustomerPath, svc: BillingService) -> Response:
    out = await _answers(svc.store, svc.store.get("segments"), [customer_id])
    if out["status"][0] == UNKNOWN:
        raise UnknownCustomer([customer_id])
    return json_response(
        {
            "customer_id": customer_id,
            "status": out["status"][0],
            **{f: out[f][0] for f in FIELDS},
            **{k: out[k] for k in ("model_version", "source", "as_of", "snapshot_id")},
        }
    )


@router.post(
    "",
    response_model=SegmentBatchResponse,
    responses=ERRORS,
    summary="Segments of up to 100,000 customers, by id or with features (columnar)",
)
async def score_segments(body: SegmentRequest, svc: BillingService) -> Response:
    store, settings, metrics, gate = svc.store, svc.settings, svc.metrics, svc.gate
    runtime: SegmentsRuntime = store.get("segments")
    rows = batch_rows(body)
    with gate.admit(rows):  # 503 overloaded when too many batch rows are in flight
        if body.features is not None:
            out = await off_loop(False, _score_features, body, runtime, settings)  # segmenters: unknown cost
            metrics.rows.labels("segments", "features").inc(rows)
            return json_response(out)
        ids = body.customer_ids
        check_ids(ids, settings.max_batch)
        out = await _answers(store, runtime, ids)
        metrics.rows.labels("segments", out["source"]).inc(rows)
        status = out.pop("status")
        return json_response(
            {
                **{k: out.pop(k) for k in ("model_version", "source", "as_of", "snapshot_id")},
                "count": len(ids),
                "status_counts": status_counts(status),
                "unknown_customer_ids": np.asarray(ids, dtype=object)[status == UNKNOWN].tolist(),
                "results": {
                    "customer_id": ids,
                    "status": status.tolist(),
                    **{f: out[f].tolist() if f != "distance" else out[f] for f in FIELDS},
                },
            }
        )


def _score_features(body: SegmentRequest, runtime: SegmentsRuntime, settings: ServingSettings) -> dict:
    names = runtime.feature_names
    X = feature_matrix(body.features, names, settings.max_batch, body.customer_ids)
    check_bounds(X, names, runtime.lower, runtime.upper, runtime.units)
    out = runtime.score_features(X)
    return {
        "model_version": runtime.version,
        "source": "features",
        "as_of": None,
        "snapshot_id": None,
        "count": len(X),
        "status_counts": status_counts(out["status"]),
        "unknown_customer_ids": [],
        "results": {
            "customer_id": body.customer_ids,
            "status": out["status"].tolist(),
            **{f: out[f].tolist() if f != "distance" else out[f] for f in FIELDS},
        },
    }


async def _answers(store: Any, runtime: SegmentsRuntime, ids: list[str]) -> dict[str, Any]:
    """Columns for `ids` in request order: live from the snapshot, or from the batch-scoring fallback."""
    if runtime.scores is not None:
        return _from_batch(runtime.scores, ids)
    live = await live_answers(store, runtime)
    pos, known = live.snapshot.lookup(ids)
    return {
        "status": live.status(pos, known),
        **{f: live.take(f, pos, known) for f in FIELDS},
        "model_version": live.version,
        "source": "snapshot",
        "as_of": live.as_of,
        "snapshot_id": live.snapshot_id,
    }


def _from_batch(scores: ScoreIndex, ids: list[str]) -> dict[str, Any]:
    if scores is None:
        raise SnapshotNotFound("latest", "var/scores/<tenant>/segments/latest.parquet (run `meterwise score segments`)")
    pos, known = scores.lookup(ids)
    seg = scores.take("segment_id", pos, known)
    assigned = pd.to_numeric(pd.Series(seg, dtype=object), errors="coerce").to_numpy(dtype=float) >= 0
    return {
        "status": np.where(known, np.where(assigned, OK, INSUFFICIENT), UNKNOWN).astype(object),
        **{f: scores.take(f, pos, known) for f in FIELDS},
        "model_version": scores.model_version,
        "source": "batch",
        "as_of": scores.as_of,
        "snapshot_id": None,
    }
