"""GET /v1/alerts: the day's low-balance alerts (prepaid / deposit) and bill-shock warnings (post-paid).

Serves the list ``meterwise collections alerts`` last wrote (``var/alerts/<tenant>/latest.parquet``),
re-read when that file changes; filter by ``level``, ``kind`` or ``customer_id``. Before any list has been
written the answer has ``as_of`` null and no rows.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response

from features.balances import ALERT_COLUMNS
from serving.collections_schemas import AlertsResponse
from serving.deps import require_any_scope
from serving.responses import json_response
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute
from serving.snapshots import _stamp
from training.alerts_job import LATEST, alerts_dir

router = APIRouter(prefix="/v1/alerts", tags=["collections"], route_class=OrjsonRoute)
BillingOrAdmin = Annotated[Any, Depends(require_any_scope("billing", "admin"))]
COLUMNS = (*ALERT_COLUMNS, "recommended_action")
_lock = threading.Lock()


def _current(request: Request) -> pd.DataFrame:
    settings = request.app.state.settings
    path = alerts_dir(settings.var_dir, settings.tenant) / LATEST
    stamp = _stamp(path)
    cached = getattr(request.app.state, "alerts_cache", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    if stamp == (-1, -1):  # no list computed yet: as_of null, nothing to alert on
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (*COLUMNS, "as_of")})
    with _lock:
        frame = pd.read_parquet(path)
        request.app.state.alerts_cache = (stamp, frame)
    return frame


@router.get(
    "",
    response_model=AlertsResponse,
    responses=ERRORS,
    summary="The day's balance alerts (7 / 3 / 1 days of credit left) and bill-shock warnings",
)
async def get_alerts(
    request: Request,
    _: BillingOrAdmin,
    level: Annotated[str | None, Query(max_length=16, examples=["3d"])] = None,
    kind: Annotated[str | None, Query(pattern="^(low_balance|bill_shock)$", examples=["low_balance"])] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64, examples=["MAC001586"])] = None,
) -> Response:
    frame = _current(request)
    mask = np.ones(len(frame), dtype=bool)
    for column, value in (("level", level), ("kind", kind), ("customer_id", customer_id)):
        if value is not None:
            mask &= (frame[column] == value).to_numpy()
    rows = frame[mask]
    as_of = None if frame.empty or "as_of" not in frame else pd.Timestamp(frame["as_of"].iloc[0]).strftime("%Y-%m-%d")
    return json_response(
        {
            "as_of": as_of,
            "count": len(rows),
            "level_counts": {str(k): int(v) for k, v in rows["level"].value_counts().items()},
            "results": {c: rows[c].tolist() if c in rows else [None] * len(rows) for c in COLUMNS},  # NaN -> null
        }
    )
