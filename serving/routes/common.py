"""Helpers shared by the scoring routes: batch checks and columnar feature matrices (no row loops)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.errors import SnapshotNotFound
from serving.errors import DuplicateIds, InvalidRequest
from serving.runtimes import Runtime, ScoreIndex
from serving.schemas import ErrorEnvelope

ERRORS = {
    401: {"model": ErrorEnvelope, "description": "missing or invalid API key"},
    403: {"model": ErrorEnvelope, "description": "API key lacks the scope"},
    413: {"model": ErrorEnvelope, "description": "request body over the limit"},
    415: {"model": ErrorEnvelope, "description": "body is not JSON"},
    422: {"model": ErrorEnvelope, "description": "malformed input; `field` names the path"},
    429: {"model": ErrorEnvelope, "description": "rate limit of this API key (Retry-After)"},
    503: {"model": ErrorEnvelope, "description": "model not loaded yet, or overloaded (Retry-After)"},
    504: {"model": ErrorEnvelope, "description": "request exceeded its deadline"},
}

#: Features that count or measure consumption, bills, payments or shares: never negative (null is fine).
#: ``*_change_*`` features are differences and may be negative.
NON_NEGATIVE = re.compile(
    r"^(kwh_|bills_|late_|days_|payments_|partial_payments_|arrears_|unpaid_|tenure_|billing_tenure_"
    r"|months_since_|on_time_|channel_share_|share_)"
)


def non_negative(name: str) -> bool:
    return bool(NON_NEGATIVE.match(name)) and "change" not in name


def batch_rows(body) -> int:
    """Rows a batch request asks for: its ids, or the length of its first feature column."""
    if body.customer_ids is not None:
        return len(body.customer_ids)
    return len(next(iter(body.features.values()), []))


def check_ids(ids: list[str], max_batch: int, field: str = "customer_ids") -> None:
    """At most `max_batch` ids, no duplicates (422 naming them)."""
    if len(ids) > max_batch:
        raise InvalidRequest(
            f"{len(ids)} customers; at most {max_batch} per request", field=field, code="batch_too_large"
        )
    index = pd.Index(ids, dtype=object)
    if not index.is_unique:
        raise DuplicateIds([str(x) for x in index[index.duplicated()].unique()], field)


def require_scores(runtime: Runtime) -> ScoreIndex:
    if runtime.scores is None:
        raise SnapshotNotFound(
            "latest", f"var/scores/<tenant>/{runtime.kind}/latest.parquet (run `meterwise score {runtime.kind}`)"
        )
    return runtime.scores


def feature_matrix(
    features: dict[str, list[float | None]], names: list[str], max_batch: int, labels: list[str] | None
) -> np.ndarray:
    """Columnar request -> (n, k) float64 matrix in the model's feature order; null -> NaN."""
    missing = [n for n in names if n not in features]
    if missing:
        raise InvalidRequest(
            f"missing features {missing[:10]}; the model needs {len(names)}: {names[:10]}...",
            field=f"features.{missing[0]}",
            code="missing_feature",
        )
    extra = [n for n in features if n not in set(names)]
    if extra:
        raise InvalidRequest(f"unknown features {extra[:10]}", field=f"features.{extra[0]}", code="unknown_feature")
    n = len(features[names[0]]) if names else 0
    for name in names:
        if len(features[name]) != n:
            raise InvalidRequest(
                f"features.{name} has {len(features[name])} values; {names[0]} has {n}",
                field=f"features.{name}",
                code="ragged_features",
            )
    if n == 0:
        raise InvalidRequest("features hold no rows", field=f"features.{names[0]}" if names else "features")
    if labels is not None:
        if len(labels) != n:
            raise InvalidRequest(
                f"{len(labels)} customer_ids for {n} feature rows", field="customer_ids", code="ragged_features"
            )
        check_ids(labels, max_batch)
    elif n > max_batch:
        raise InvalidRequest(f"{n} rows; at most {max_batch} per request", field="features", code="batch_too_large")
    X = np.empty((n, len(names)), dtype=np.float64)
    for j, name in enumerate(names):  # one conversion per column, not per row
        X[:, j] = np.array(features[name], dtype=np.float64)
        if non_negative(name):
            bad = np.flatnonzero(X[:, j] < 0)  # NaN compares False: missing values pass
            if len(bad):
                raise InvalidRequest(
                    f"features.{name}[{bad[0]}] = {X[bad[0], j]:g}; {name} cannot be negative "
                    f"({len(bad)} negative values)",
                    field=f"features.{name}",
                    code="feature_out_of_range",
                )
    return X


def status_counts(status: np.ndarray) -> dict[str, int]:
    return {s: int(np.count_nonzero(status == s)) for s in ("ok", "unknown_customer", "stale")}
