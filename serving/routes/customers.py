"""GET /v1/customers/{customer_id}/profile: the key-account view of one customer.

Load profile (daily, by weekday, half-hourly), peak demand (kW) and its time, load factor, the key-account
flag and its basis (from ``meterwise collections views``), the live arrears answer with its guardrail (or
the peers' cold-start prior), the live segment with its service strategy, and the next 28 days' kWh
(P10/P50/P90; from the peers' prior, flagged ``cold_start``, for a customer with fewer than 28 days of
readings). A view, not a decision: it is not written to the audit trail.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Path, Request, Response

from features.errors import UnknownCustomer
from serving.deps import require_any_scope
from serving.responses import json_response
from serving.routes.common import ERRORS, live_answers
from serving.routing import OrjsonRoute
from serving.schemas import ErrorEnvelope
from serving.snapshots import _stamp
from training.customer_views_job import VIEWS, views_dir

router = APIRouter(prefix="/v1/customers", tags=["collections"], route_class=OrjsonRoute)
BillingOrAdmin = Annotated[Any, Depends(require_any_scope("billing", "admin"))]
CustomerPath = Annotated[str, Path(min_length=1, max_length=64, examples=["MAC000009"])]
_lock = threading.Lock()


def _views(request: Request) -> pd.DataFrame | None:
    settings = request.app.state.settings
    path = views_dir(settings.var_dir, settings.tenant) / VIEWS
    stamp = _stamp(path)
    cached = getattr(request.app.state, "views_cache", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    if stamp == (-1, -1):
        return None
    with _lock:
        frame = pd.read_parquet(path).set_index("customer_id")
        request.app.state.views_cache = (stamp, frame)
    return frame


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v) for v in value.tolist()]
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


async def _arrears(request: Request, customer_id: str) -> dict | None:
    store, desk = request.app.state.store, request.app.state.collections
    try:
        runtime = store.get("arrears")
        live = await live_answers(store, runtime)
    except Exception:
        return None
    pos = live.snapshot.position(customer_id)
    if pos is None:
        return None
    cols = {
        "customer_id": [customer_id],
        "status": ["ok" if live.usable[pos] else "insufficient_features"],
        "probability": [live.columns["probability"][pos]],
        "grade": [live.columns["grade"][pos]],
        "action": [live.columns["action"][pos]],
    }
    desk.fill_cold_start(cols, live.snapshot, live, getattr(runtime.bundle, "grade", None))
    day = pd.Timestamp(desk.clock().date())
    guarded = desk.guard(live.snapshot, [customer_id], cols["action"], day)
    return {
        "status": cols["status"][0],
        "probability": _plain(cols["probability"][0]),
        "grade": cols["grade"][0],
        "action": guarded.action[0],
        "guardrail": guarded.guardrail[0],
        "original_action": guarded.original_action[0],
        "cold_start": cols.get("cold_start", [None])[0],
        "model_version": live.version,
        "snapshot_id": live.snapshot_id,
    }


async def _segment(request: Request, customer_id: str) -> dict | None:
    store = request.app.state.store
    try:
        live = await live_answers(store, store.get("segments"))
    except Exception:
        return None
    pos = live.snapshot.position(customer_id)
    if pos is None or not live.usable[pos]:
        return None
    return {k: _plain(live.columns[k][pos]) for k in ("segment_name", "strategy") if k in live.columns}


@router.get(
    "/{customer_id}/profile",
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Key-account view: load profile, peak kW and its time, load factor, arrears status, segment strategy",
)
async def get_profile(request: Request, customer_id: CustomerPath, _: BillingOrAdmin) -> Response:
    views = _views(request)
    arrears = await _arrears(request, customer_id)
    known = views is not None and customer_id in views.index
    if not known and arrears is None:
        raise UnknownCustomer([customer_id])
    usage = {k: _plain(v) for k, v in views.loc[customer_id].items()} if known else {}
    head = {
        k: usage.pop(k, None) for k in ("category", "tariff", "region", "key_account", "key_account_basis", "as_of")
    }
    forecast = {k: usage.pop(f"month_kwh_{k}", None) for k in ("p10", "p50", "p90")}
    forecast["cold_start"] = usage.pop("forecast_cold_start", None)
    return json_response(
        {
            "customer_id": customer_id,
            **head,
            "usage": usage or None,
            "arrears": arrears,
            "segment": await _segment(request, customer_id),
            "forecast_28d_kwh": forecast if forecast["p50"] is not None else None,
        }
    )
