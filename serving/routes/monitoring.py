"""``GET /v1/monitoring``: the latest monitoring status per model kind (admin and planner scopes).

The status is what ``meterwise monitor`` last wrote to ``<var_dir>/monitoring/<tenant>/latest.json``
(:class:`training.monitoring_status.StatusFile`, re-read only when the file changes). Before the first
monitoring run the answer is ``status: "unknown"`` with no models (200: nothing is wrong with the request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, Field

from serving.deps import ApiKey, require_any_scope
from serving.responses import json_response
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute
from training.monitoring_status import StatusFile

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"], route_class=OrjsonRoute)
SCOPES = frozenset({"admin", "planner"})


class MonitoredModel(BaseModel):
    kind: str = Field(examples=["arrears"])
    version: str | None = Field(None, description="champion version checked", examples=["3"])
    status: str = Field(description="ok, warn, alert or unavailable", examples=["warn"])
    metrics: dict[str, float] = Field(default_factory=dict, examples=[{"score_psi": 0.04, "matured_auc": 0.78}])
    breaches: list[dict[str, Any]] = Field(default_factory=list, description="what moved, against which threshold")
    checks: list[dict[str, Any]] = Field(
        default_factory=list,
        description="forecasts: each level/frequency/month checked, with the backtest reference it was held to "
        "(same_month or whole_backtest)",
    )
    note: str | None = None


class MonitoringResponse(BaseModel):
    tenant: str = Field(examples=["demo"])
    as_of: str | None = Field(None, description="day the monitoring run compared against", examples=["2024-06-01"])
    generated_at: str | None = None
    status: str = Field(description="ok, warn, alert, or unknown before the first run", examples=["ok"])
    models: dict[str, MonitoredModel] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict, description="contract rejection rates per table")
    retrain_recommended: list[str] = Field(default_factory=list, examples=[["arrears"]])
    recommendation: str = Field("no action", examples=["retrain arrears"])


def status_file(app: FastAPI) -> StatusFile:
    """The app's :class:`StatusFile` (made on first use from the serving settings' var_dir and tenant)."""
    found = getattr(app.state, "monitoring_status", None)
    if found is None:
        settings = app.state.settings
        found = app.state.monitoring_status = StatusFile(settings.var_dir, settings.tenant)
    return found


def latest_status(app: FastAPI) -> Callable[[], dict[str, Any] | None]:
    """A reader of the app's latest status (for the Prometheus collector)."""
    return lambda: status_file(app).read()


MonitoringKey = Annotated[ApiKey, Depends(require_any_scope(*sorted(SCOPES)))]  # 401 without a key, 403 with neither


@router.get(
    "",
    response_model=MonitoringResponse,
    responses=ERRORS,
    summary="Latest monitoring status per model: drift, realised performance, breaches (admin, planner)",
)
async def get_monitoring(request: Request, _: MonitoringKey) -> Response:
    status = status_file(request.app).read()
    if status is None:
        return json_response({"tenant": request.app.state.settings.tenant, "status": "unknown", "models": {}})
    keys = MonitoringResponse.model_fields
    return json_response({k: v for k, v in status.items() if k in keys})
