"""Load forecasts with p10/p50/p90 intervals by level, key and horizon."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from fastapi import APIRouter, Response

from features.errors import UnknownSeries
from features.settings import DataSettings
from serving.deps import PlannerKey, StoreDep
from serving.errors import InvalidRequest
from serving.responses import json_response
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute
from serving.schemas import ErrorEnvelope, ForecastRequest, ForecastResponse
from training.forecast_job import refresh_bundle

logger = logging.getLogger(__name__)


def latest(bundle, tenant: str):
    """The champion's forecasts re-issued from the served tenant's current data (cached per data fingerprint).

    Falls back to the forecasts stored with the version when the data cannot be read; a partitioned tenant
    is not aggregated inside a request (the version's own issue is served, its issue time says so).
    """
    try:
        return refresh_bundle(bundle, DataSettings(tenant=tenant), cluster=False)
    except (OSError, ValueError, KeyError) as err:  # unreadable tenant data must not break serving
        logger.warning("forecasts not re-issued from current data: %s", err)
        return bundle


router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"], route_class=OrjsonRoute)


@router.post(
    "",
    response_model=ForecastResponse,
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown level or key"}},
    summary="Forecast one series (level/key) `horizon` steps ahead with 80% intervals",
)
def forecast(body: ForecastRequest, store: StoreDep, _: PlannerKey) -> Response:
    runtime = store.get("forecast")
    bundle = latest(runtime.bundle, store.settings.tenant)
    levels = bundle.levels_
    if body.key not in {str(k) for k in levels.get(body.level, ())}:
        raise UnknownSeries(body.level, body.key, body.freq, levels)
    max_h = bundle.max_horizon_.get(body.freq)
    if max_h is None:
        raise InvalidRequest(
            f"freq {body.freq!r} is not forecast; available: {sorted(bundle.max_horizon_)}",
            field="freq",
            code="unsupported_freq",
        )
    if body.horizon > max_h:
        raise InvalidRequest(
            f"horizon {body.horizon} exceeds the model's maximum {max_h} for freq {body.freq}",
            field="horizon",
            code="horizon_too_long",
        )
    try:
        out = bundle.forecast(body.level, body.key, body.horizon, freq=body.freq)
    except UnknownSeries:
        raise
    except KeyError as err:  # a bundle that raises a plain KeyError
        raise UnknownSeries(body.level, body.key, body.freq, levels) from err
    except ValueError as err:
        raise InvalidRequest(str(err), field="horizon") from err
    values = out[["p10", "p50", "p90"]].to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(out["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    points = [
        {"timestamp": t, "p10": v[0], "p50": v[1], "p90": v[2]}
        for t, v in zip(stamps, values.tolist(), strict=True)  # at most max_horizon points
    ]
    info = bundle.issue_info(body.freq) if hasattr(bundle, "issue_info") else {}
    picks = getattr(bundle, "meta_", {}).get("methods", {}).get(body.freq, {}).get("picks", {})
    return json_response(
        {
            "level": body.level,
            "key": body.key,
            "freq": body.freq,
            "horizon": body.horizon,
            "model_version": runtime.version,
            "issued_at": info.get("issued_at"),
            "data_cutoff": info.get("data_cutoff"),
            "method": picks.get(body.level),
            "customers": bundle.customers(body.level, body.key, body.freq) if hasattr(bundle, "customers") else None,
            "points": points,
        }
    )
