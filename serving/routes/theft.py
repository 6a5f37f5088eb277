"""Theft risk for revenue protection: one customer's evidence pack (GET) or many customers' list rows (POST).

Both need an API key with the ``revenue_protection`` scope. The inspection list is built once per
service from the tenant's ``meter_reads``/``inspections`` and the exported theft champion
(``models/<tenant>/theft/model.joblib``), kept on ``app.state.theft`` and rebuilt when that bundle changes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from features.errors import ModelNotReady, UnknownCustomer
from serving.deps import SettingsDep, require_scope
from serving.routes.common import ERRORS
from serving.routing import OrjsonRoute
from serving.schemas import ErrorEnvelope

router = APIRouter(prefix="/v1/theft", tags=["theft"], route_class=OrjsonRoute)
RevenueKey = Annotated[Any, Depends(require_scope("revenue_protection"))]
CustomerPath = Annotated[str, Path(min_length=1, max_length=64, examples=["MAC002932"])]
ROW_FIELDS = ("rank", "probability", "stolen_kwh_year", "expected_revenue", "in_capacity", "recently_inspected")


class TheftScoreRequest(BaseModel):
    """Customers to look up in today's inspection list."""

    model_config = ConfigDict(extra="forbid")
    customer_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=10_000, examples=[["MAC002932", "MAC000009"]]
    )


class TheftRow(BaseModel):
    customer_id: str
    rank: int
    probability: float = Field(description="calibrated P(theft confirmed if inspected)")
    stolen_kwh_year: float = Field(description="estimated unbilled kWh per year")
    expected_revenue: float = Field(description="probability x stolen kWh x tariff (currency)")
    in_capacity: bool
    recently_inspected: bool
    reasons: str


class TheftScoreResponse(BaseModel):
    as_of: str
    model_version: str
    items: list[TheftRow]


@dataclass
class TheftService:
    """A fitted theft model and the inspection list it built."""

    model: Any
    version: str
    listing: Any

    def pack(self, customer_id: str) -> dict[str, Any]:
        from training.theft_list import evidence_pack

        try:
            return {**evidence_pack(self.model, self.listing, customer_id), "model_version": self.version}
        except KeyError:
            raise UnknownCustomer([customer_id]) from None

    def rows(self, ids: list[str]) -> dict[str, Any]:
        frame = self.listing.frame.set_index("customer_id")
        missing = [i for i in ids if i not in frame.index]
        if missing:
            raise UnknownCustomer(missing)
        sub = frame.loc[ids, [*ROW_FIELDS, "reasons"]].reset_index()
        return {"as_of": str(self.listing.as_of.date()), "model_version": self.version, "items": sub.to_dict("records")}


def build_service(models_dir: FsPath, data_dir: FsPath, tenant: str) -> TheftService:
    """Load the tenant's exported theft champion and build today's list from the tenant's tables."""
    from training.exported import load_exported
    from training.theft_job import score_theft

    model, version = load_exported("theft", models_dir, tenant=tenant)
    try:
        listing = score_theft(data_dir, model)
    except (FileNotFoundError, KeyError) as err:
        raise ModelNotReady("theft", f"no meter_reads/inspections for this tenant ({err})") from err
    return TheftService(model, version, listing)


_LOCK = threading.Lock()


async def get_theft(request: Request, settings: SettingsDep) -> TheftService:
    """The app's theft service, built on first use (tests put a ready one on ``app.state.theft``)."""
    service = getattr(request.app.state, "theft", None)
    if service is not None:
        return service

    def build() -> TheftService:
        from features.settings import get_data_settings

        with _LOCK:
            cached = getattr(request.app.state, "theft", None)
            if cached is None:
                cached = build_service(settings.models_dir, get_data_settings().data_dir, settings.tenant)
                request.app.state.theft = cached
            return cached

    return await asyncio.to_thread(build)


TheftDep = Annotated[TheftService, Depends(get_theft)]


@router.get(
    "/{customer_id}",
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Evidence pack of one customer: rank, probability, reasons, anomalies, chart data, past inspections",
)
async def get_theft_pack(customer_id: CustomerPath, _: RevenueKey, service: TheftDep) -> dict[str, Any]:
    return service.pack(customer_id)


@router.post(
    "/score",
    response_model=TheftScoreResponse,
    responses={**ERRORS, 404: {"model": ErrorEnvelope, "description": "unknown customer"}},
    summary="Theft risk and list position of up to 10,000 customers",
)
async def score_theft(body: TheftScoreRequest, _: RevenueKey, service: TheftDep) -> dict[str, Any]:
    return service.rows(body.customer_ids)
