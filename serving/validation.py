"""Request checks for the scoring routes: batch ids, and columnar features bounded by their declared units.

A feature's allowed range comes from its declared unit (the snapshot manifest, the model bundle's
``feature_descriptions`` or the feature modules' ``FEATURE_DESCRIPTIONS``), never from its name: a count
or an amount cannot be negative, a share lies in [0, 1], while a ratio such as ``kwh_trend_yoy``
(a relative change) or a slope may take any sign. The whole matrix is checked in one comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from serving.errors import DuplicateIds, InvalidRequest

INF = math.inf
#: Declared unit -> (lowest, highest) allowed value. Units not listed here (``ratio``, trends, slopes,
#: ``kWh per degree-day``, categories) carry no range: JSON already rules out NaN and infinity.
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    "count": (0.0, INF),
    "days": (0.0, INF),
    "months": (0.0, INF),
    "kWh": (0.0, INF),
    "kWh/day": (0.0, INF),
    "currency": (0.0, INF),
    "share": (0.0, 1.0),
    "bool": (0.0, 1.0),
    "hour (UTC)": (0.0, 23.0),
}


def declared_units(names: list[str], *sources: Mapping[str, object] | None) -> dict[str, str]:
    """Unit of each of `names` from the first source declaring it.

    Each source maps a feature name to its unit, or to a ``(unit, description)`` pair (the form of
    ``FEATURE_DESCRIPTIONS`` and of ``ArrearsRiskModel.feature_descriptions``).
    """
    out: dict[str, str] = {}
    for source in sources:
        for name in names:
            if name in out or not source or name not in source:
                continue
            value = source[name]
            out[name] = str(value[0] if isinstance(value, tuple | list) else value)
    return out


def unit_bounds(names: list[str], units: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) float arrays in `names` order; an undeclared or unbounded unit gets (-inf, inf)."""
    pairs = [UNIT_BOUNDS.get(units.get(n, ""), (-INF, INF)) for n in names]
    return np.array([p[0] for p in pairs], dtype=np.float64), np.array([p[1] for p in pairs], dtype=np.float64)


def check_ids(ids: list[str], max_batch: int, field: str = "customer_ids") -> None:
    """At most `max_batch` ids, no duplicates (422 naming them)."""
    if len(ids) > max_batch:
        raise InvalidRequest(
            f"{len(ids)} customers; at most {max_batch} per request", field=field, code="batch_too_large"
        )
    if len(ids) > 1:
        index = pd.Index(ids, dtype=object)
        if not index.is_unique:
            raise DuplicateIds([str(x) for x in index[index.duplicated()].unique()], field)


def check_bounds(
    matrix: np.ndarray, names: list[str], lower: np.ndarray, upper: np.ndarray, units: Mapping[str, str]
) -> None:
    """Raise InvalidRequest (``feature_out_of_range``) naming the first value outside its unit's range.

    NaN (a missing value) compares False and passes.
    """
    bad = (matrix < lower) | (matrix > upper)
    if not bad.any():
        return
    cols = np.flatnonzero(bad.any(axis=0))
    j = int(cols[0])
    rows = np.flatnonzero(bad[:, j])
    i, name = int(rows[0]), names[j]
    unit = units.get(name, "")
    raise InvalidRequest(
        f"features.{name}[{i}] = {matrix[i, j]:g}; a value in {unit} must lie in [{lower[j]:g}, {upper[j]:g}] "
        f"({len(rows)} values of {name} out of range)",
        field=f"features.{name}",
        code="feature_out_of_range",
    )


def feature_matrix(
    features: dict[str, list[float | None]], names: list[str], max_batch: int, labels: list[str] | None
) -> np.ndarray:
    """Columnar request -> (n, k) float64 matrix in the model's feature order; null -> NaN."""
    if len(features) != len(names) or any(n not in features for n in names):
        missing = [n for n in names if n not in features]
        if missing:
            raise InvalidRequest(
                f"missing features {missing[:10]}; the model needs {len(names)}: {names[:10]}...",
                field=f"features.{missing[0]}",
                code="missing_feature",
            )
        known = set(names)
        extra = [n for n in features if n not in known]
        raise InvalidRequest(f"unknown features {extra[:10]}", field=f"features.{extra[0]}", code="unknown_feature")
    if not names:
        raise InvalidRequest("the model declares no features", field="features")
    n = len(features[names[0]])
    for name in names:
        if len(features[name]) != n:
            raise InvalidRequest(
                f"features.{name} has {len(features[name])} values; {names[0]} has {n}",
                field=f"features.{name}",
                code="ragged_features",
            )
    if n == 0:
        raise InvalidRequest("features hold no rows", field=f"features.{names[0]}")
    if labels is not None:
        if len(labels) != n:
            raise InvalidRequest(
                f"{len(labels)} customer_ids for {n} feature rows", field="customer_ids", code="ragged_features"
            )
        check_ids(labels, max_batch)
    elif n > max_batch:
        raise InvalidRequest(f"{n} rows; at most {max_batch} per request", field="features", code="batch_too_large")
    if n == 1:  # one customer: one small array, no per-column allocations
        return np.array([[features[name][0] for name in names]], dtype=np.float64)
    # one conversion per column (None -> NaN), written straight into the transposed matrix
    X = np.empty((len(names), n), dtype=np.float64)
    for j, name in enumerate(names):
        X[j] = features[name]
    return X.T
