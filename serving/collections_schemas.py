"""Request and response models of the collections routes: decisions (audit trail) and balance alerts."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from serving.schemas import Strict


class Decision(Strict):
    """One decision as it was served."""

    decision_id: int = Field(description="id of this decision in the audit trail")
    batch_id: int = Field(description="the request or batch run it was served in")
    decided_at: str = Field(description="when it was served (UTC, ISO 8601)")
    source: Literal["api", "batch"] = Field(description="api: served over HTTP; batch: a batch scoring run")
    request_id: str | None
    tenant: str
    model_version: str = Field(description="model version that computed the probability")
    snapshot_id: str | None = Field(description="feature snapshot the answer was computed on")
    as_of: str | None
    decision_day: str = Field(description="day the guardrail periods were checked against")
    customer_id: str | None
    status: str
    probability: float | None
    grade: str | None
    action: str | None = Field(description="the action that was said (after guardrails)")
    original_action: str | None = Field(description="the grade's action, where a guardrail replaced it")
    guardrail: str | None
    reasons: list[str | None]


class DecisionsResponse(Strict):
    customer_id: str
    count: int
    decisions: list[Decision] = Field(description="newest first")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "MAC000252",
                    "count": 1,
                    "decisions": [
                        {
                            "decision_id": 17,
                            "batch_id": 9,
                            "decided_at": "2026-11-28T09:41:07.512311+00:00",
                            "source": "api",
                            "request_id": None,
                            "tenant": "demo",
                            "model_version": "1",
                            "snapshot_id": "2014-03-05/a41876263d5c",
                            "as_of": "2014-03-05",
                            "decision_day": "2026-11-28",
                            "customer_id": "MAC000252",
                            "status": "ok",
                            "probability": 0.976,
                            "grade": "C",
                            "action": "welfare call + payment plan",
                            "original_action": "field visit",
                            "guardrail": "medical",
                            "reasons": ["unpaid balance of £313 for 38 days", None, None],
                        }
                    ],
                }
            ]
        },
    )


class AlertColumns(Strict):
    customer_id: list[str]
    kind: list[Literal["low_balance", "bill_shock"]]
    level: list[str] = Field(description="low_balance: 7d / 3d / 1d (days of credit left); bill_shock: warning")
    days_left: list[float | None] = Field(description="days until the balance runs out at the recent burn rate")
    balance: list[float | None]
    daily_cost: list[float | None] = Field(description="recent mean daily kWh x unit rate (currency/day)")
    projected_bill: list[float | None] = Field(description="bill_shock: the running month projected (currency)")
    usual_bill: list[float | None] = Field(description="bill_shock: median of the recent bills (currency)")
    recommended_action: list[str | None] = Field(
        description="by level; an exhausted balance of a protected customer or key account is never load control first"
    )


class AlertsResponse(Strict):
    as_of: str | None = Field(description="day the alert list was computed for")
    count: int
    level_counts: dict[str, int]
    results: AlertColumns
