"""Request and response models: the public API contract (OpenAPI examples included).

Batch responses are columnar (one list per field, rows in request order) so that 100,000 results
serialize straight from numpy columns without building a Python object per row.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=False)]
Status = Literal["ok", "unknown_customer", "insufficient_features", "cold_start"]
REASONS_COST = (
    "Reasons are LightGBM SHAP contributions and cost about 90 times a prediction, so they are opt-in "
    "when features are supplied; by id they are on by default, computed once per customer, model version "
    "and snapshot and cached (a background thread fills the cache after a reload or a new snapshot)."
)
SnapshotId = Field(
    description="feature snapshot the answer was computed from: `<as_of>/<profile hash prefix>`",
    examples=["2014-03-05/3f2a9c1b7e4d"],
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(Strict):
    code: str = Field(description="stable machine-readable code", examples=["unknown_customer"])
    message: str = Field(examples=["unknown customer_id: C999"])
    field: str | None = Field(None, description="dotted path of the offending field", examples=["customer_ids.3"])
    request_id: str = Field(examples=["5f0c6a1e9d4b4c57a3b1e2f0c9d8e7a6"])


class ErrorEnvelope(Strict):
    error: ErrorBody


#: the demo champion's answer for MAC000252 (README); reasons are sentences, not feature names
EXAMPLE_REASONS = [
    "unpaid balance of £313 for 38 days",
    "a bill went more than 30 days late less than a month ago",
    "2 bills past the due date and not fully paid",
]
#: one row of the demo arrears model's features (MAC000252 as of 2014-03-05): a features request must name
#: every feature the model declares (GET /v1/models/arrears), null for a missing value
EXAMPLE_FEATURES: dict[str, list[float | None]] = {
    name: [value]
    for name, value in {
        "tenure_months": 26.09, "kwh_mean_30d": 45.21, "kwh_mean_90d": 44.93, "kwh_mean_365d": 26.53,
        "bills_3m": 3.0, "bills_6m": 6.0, "bills_12m": 12.0, "bills_total": 26.0, "on_time_ratio_12m": 0.0,
        "days_late_mean_12m": 39.73, "days_late_max_12m": 66.0, "late_bills_12m": 10.0, "late_bills_total": 11.0,
        "unpaid_past_due_bills": 2.0, "arrears_amount": 313.12, "arrears_age_days": 38.0,
        "outstanding_amount": 513.29, "late_streak_max": 11.0, "months_since_last_late": 0.23, "payments_12m": 14.0,
        "partial_payments_12m": 4.0, "billing_tenure_months": 24.94, "bill_amount_last": 200.17,
        "bill_amount_mean_12m": 131.94, "bill_amount_change_prev3": 0.1, "bill_kwh_last": 1266.48,
        "bill_kwh_change_prev3": 0.11, "channel_share_direct_debit_12m": 0.0, "channel_share_bank_transfer_12m": 0.0,
        "channel_share_card_12m": 1.0, "channel_share_cash_12m": 0.0, "channel_share_online_12m": 0.0,
    }.items()
}  # fmt: skip


# ---- arrears -------------------------------------------------------------------------------------


class ArrearsScore(Strict):
    customer_id: str
    status: Status
    probability: float | None = Field(description="calibrated probability of arrears (0-1)")
    grade: str | None
    action: str | None
    reasons: list[str | None] = Field(description="top 3 reasons, in words (null when insufficient)")
    model_version: str = Field(description="version of the model that computed this answer")
    as_of: str | None = Field(description="as-of date of the feature snapshot the answer was computed on")
    snapshot_id: str = SnapshotId
    guardrail: str | None = Field(
        None, description="protection rule or period that replaced a strong action (e.g. medical), else null"
    )
    original_action: str | None = Field(None, description="the grade's action a guardrail replaced (audit)")
    decision_batch_id: int | None = Field(None, description="audit record of this answer (GET /v1/decisions)")
    cold_start: str | None = Field(
        None, description="status cold_start: too little history; the probability is the prior of these peers"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "MAC000252",
                    "status": "ok",
                    "probability": 0.976,
                    "grade": "C",
                    "action": "field visit",
                    "reasons": EXAMPLE_REASONS,
                    "model_version": "1",
                    "as_of": "2014-03-05",
                    "snapshot_id": "2014-03-05/a41876263d5c",
                }
            ]
        }
    )


class ArrearsScoreRequest(Strict):
    """By id (``customer_ids`` only) or with features (``features``, optional ``customer_ids`` as labels)."""

    customer_ids: list[CustomerId] | None = Field(None, min_length=1, description="up to max_batch unique ids")
    features: dict[str, list[float | None]] | None = Field(
        None, description="columnar features: one list per feature name, all the same length; null = missing"
    )
    include_reasons: bool | None = Field(None, description=f"default: true by id, false with features. {REASONS_COST}")

    @model_validator(mode="after")
    def _one_source(self) -> ArrearsScoreRequest:
        if self.customer_ids is None and self.features is None:
            raise ValueError("give customer_ids (score on the latest snapshot) or features (score these rows)")
        return self

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"customer_ids": ["MAC000252", "MAC000009"]},
                {"customer_ids": ["new-1"], "features": EXAMPLE_FEATURES, "include_reasons": False},
            ]
        }
    )


class ArrearsColumns(Strict):
    customer_id: list[str] | None
    status: list[Status]
    probability: list[float | None]
    grade: list[str | None]
    action: list[str | None]
    reasons: list[list[str | None]] | None = Field(description="[reason_1, reason_2, reason_3] per row, or null")
    guardrail: list[str | None] | None = Field(None, description="guardrail applied per row, else null")
    original_action: list[str | None] | None = Field(None, description="action a guardrail replaced, per row")
    cold_start: list[str | None] | None = Field(None, description="basis of a cold-start prior, per row")


class ArrearsBatchResponse(Strict):
    model_version: str = Field(description="version of the model that computed every row")
    source: Literal["snapshot", "features"] = Field(description="snapshot: by id, live on the feature snapshot")
    as_of: str | None = Field(description="as-of date of the feature snapshot (by id); null with features")
    snapshot_id: str | None = SnapshotId
    count: int
    status_counts: dict[str, int]
    unknown_customer_ids: list[str]
    results: ArrearsColumns
    guarded_count: int | None = Field(None, description="rows whose action a guardrail replaced")
    decision_batch_id: int | None = Field(None, description="audit record of this batch (GET /v1/decisions)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": "1",
                    "source": "snapshot",
                    "as_of": "2014-03-05",
                    "snapshot_id": "2014-03-05/a41876263d5c",
                    "count": 2,
                    "status_counts": {"ok": 1, "unknown_customer": 1, "insufficient_features": 0},
                    "unknown_customer_ids": ["NOPE-1"],
                    "results": {
                        "customer_id": ["MAC000252", "NOPE-1"],
                        "status": ["ok", "unknown_customer"],
                        "probability": [0.976, None],
                        "grade": ["C", None],
                        "action": ["field visit", None],
                        "reasons": [EXAMPLE_REASONS, [None, None, None]],
                    },
                }
            ]
        }
    )


# ---- segments ------------------------------------------------------------------------------------


class SegmentScore(Strict):
    customer_id: str
    status: Status
    segment_id: int | None
    segment_name: str | None
    strategy: str | None
    distance: float | None
    model_version: str | None
    source: Literal["snapshot", "batch"] = Field(
        description="snapshot: live on the feature snapshot; batch: the batch scores, while the snapshot "
        "lacks the model's load-shape features"
    )
    as_of: str | None
    snapshot_id: str | None = SnapshotId


class SegmentRequest(Strict):
    customer_ids: list[CustomerId] | None = Field(None, min_length=1)
    features: dict[str, list[float | None]] | None = Field(None, description="columnar load-shape features")

    @model_validator(mode="after")
    def _one_source(self) -> SegmentRequest:
        if self.customer_ids is None and self.features is None:
            raise ValueError("give customer_ids or features")
        return self

    model_config = ConfigDict(json_schema_extra={"examples": [{"customer_ids": ["MAC000252", "MAC000009"]}]})


class SegmentColumns(Strict):
    customer_id: list[str] | None
    status: list[Status]
    segment_id: list[int | None]
    segment_name: list[str | None]
    strategy: list[str | None]
    distance: list[float | None]


class SegmentBatchResponse(Strict):
    model_version: str | None
    source: Literal["snapshot", "batch", "features"]
    as_of: str | None
    snapshot_id: str | None = SnapshotId
    count: int
    status_counts: dict[str, int]
    unknown_customer_ids: list[str]
    results: SegmentColumns


# ---- forecasts -----------------------------------------------------------------------------------


class ForecastRequest(Strict):
    level: str = Field(description="aggregation level, e.g. total, region, category, customer", examples=["region"])
    key: str = Field(description="series key within the level", examples=["north"])
    horizon: int = Field(ge=1, description="steps ahead (at most the model's max horizon for freq)", examples=[14])
    freq: Literal["H", "D", "M"] = Field("D", description="H hourly, D daily, M monthly")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"level": "region", "key": "north", "horizon": 14, "freq": "D"}]}
    )


class ForecastPoint(Strict):
    timestamp: str
    p10: float
    p50: float
    p90: float


class ForecastResponse(Strict):
    level: str
    key: str
    freq: str
    horizon: int
    model_version: str
    issued_at: str | None = Field(None, description="issue time: the start of the first forecast period")
    data_cutoff: str | None = Field(None, description="end (exclusive) of the data the forecast was issued from")
    method: str | None = Field(None, description="served method for this level (chosen by backtest)")
    customers: int | None = Field(
        None, description="customers the series covers at this freq (hourly: those with interval meters)"
    )
    points: list[ForecastPoint]


# ---- models and health ---------------------------------------------------------------------------


class ModelInfo(BaseModel):
    kind: str
    ready: bool
    reason: str | None = None
    version: str | None = None
    source: str | None = Field(None, description="registry or models_dir")
    loaded_at: str | None = None
    bundle: str | None = None
    feature_names: list[str] = []
    feature_units: dict[str, str] = Field({}, description="declared unit per feature: the request bounds")
    live: dict[str, str | int | None] | None = Field(
        None, description="answers by id: snapshot_id, as_of, customers, usable, reasons_computed"
    )
    levels: dict[str, int] | None = None
    max_horizon: dict[str, int] | None = None
    forecast: dict[str, Any] | None = Field(
        None, description="forecast only: issue time, data cut-off, served method per level and its backtest scores"
    )


class ModelsResponse(Strict):
    models: list[ModelInfo]


class ReloadRequest(Strict):
    version: str = Field(
        "champion",
        pattern=r"^(champion|challenger|[0-9]{1,9})$",
        description="alias or version number to load",
        examples=["champion"],
    )


class Liveness(Strict):
    status: Literal["ok"] = "ok"


class Readiness(Strict):
    ready: bool
    not_ready: dict[str, str] = Field(description="kind -> reason, for kinds not loaded yet")
