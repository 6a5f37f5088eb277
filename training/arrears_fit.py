"""The pure arrears fit: closed-window training frame, embargoed time slices, LightGBM + calibration + baseline.

Invariants
----------
- Every bill in any slice has a closed outcome window at ``as_of`` (``due_date + late_days <= as_of``).
- Early stopping, calibration and validation each use their own later time slice, each embargoed: a
  row's outcome is settled before the next slice starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.training_sets import FEATURE_DESCRIPTIONS, build_arrears_training_set
from training.arrears import ArrearsRiskModel, GradePolicy, as_matrix, feature_columns, make_baseline
from training.evaluation import classification_metrics
from training.splits import TimeSplit, time_split

logger = logging.getLogger(__name__)
EARLY_STOPPING_FRAC, CALIBRATION_FRAC, VALIDATION_FRAC = 0.15, 0.15, 0.2


@dataclass
class ArrearsFit:
    """Everything the pure fit produces; the job logs it."""

    model: ArrearsRiskModel
    baseline: Any
    features: list[str]
    split: TimeSplit
    validation: pd.DataFrame  # validation rows of the training set (ids, features, label)
    p_model: np.ndarray
    p_baseline: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)


def training_frame(tables: dict[str, pd.DataFrame], *, as_of: pd.Timestamp, late_days: int) -> pd.DataFrame:
    """Bills issued by `as_of` whose outcome window has closed by `as_of`, in issue order."""
    frame = build_arrears_training_set(tables, late_days=late_days, label_as_of=as_of)
    keep = (frame["issue_date"] <= as_of) & frame["label_known"]
    return frame.loc[keep].reset_index(drop=True)


def label_dates(frame: pd.DataFrame, late_days: int) -> pd.Series:
    """The day each bill's outcome is settled: due date + `late_days` (payments that day count)."""
    return frame["due_date"] + pd.Timedelta(days=late_days)


def split_frame(
    frame: pd.DataFrame,
    *,
    late_days: int,
    as_of: pd.Timestamp | None = None,
    validation_start: pd.Timestamp | None = None,
) -> TimeSplit:
    """Train / early stopping / calibration / validation by issue date, each slice embargoed.

    Shares: validation 20 %, calibration 15 %, early stopping 15 % of the bills (the rest trains).
    With `as_of`, a bill whose window closes after it is dropped from every slice.
    """
    return time_split(
        frame["issue_date"],
        label_dates=label_dates(frame, late_days),
        early_stopping_frac=EARLY_STOPPING_FRAC,
        calibration_frac=CALIBRATION_FRAC,
        validation_frac=VALIDATION_FRAC,
        validation_start=validation_start,
        label_cutoff=as_of,
    )


def informative_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """`columns` that take at least two distinct values in `frame` (constants teach the trees nothing)."""
    return [c for c in columns if frame[c].nunique(dropna=True) > 1]


def fit_arrears(
    frame: pd.DataFrame,
    *,
    late_days: int = 30,
    as_of: pd.Timestamp | None = None,
    seed: int = 0,
    calibration: str = "sigmoid",
    grade_policy: GradePolicy | None = None,
) -> ArrearsFit:
    """Pure: split by time, fit LightGBM (early stopping and calibration on their own later slices) and the
    baseline, evaluate both on the validation slice."""
    split = split_frame(frame, late_days=late_days, as_of=as_of)
    features = informative_columns(frame.iloc[split.train], feature_columns(frame))
    train, stop, cal, val = (
        frame.iloc[i] for i in (split.train, split.early_stopping, split.calibration, split.validation)
    )
    model = ArrearsRiskModel(
        calibration=calibration,
        grade_policy=grade_policy,
        feature_descriptions=FEATURE_DESCRIPTIONS,
        late_days=late_days,
        random_state=seed,
    )
    model.fit(
        train[features],
        train["label"],
        eval_set=(stop[features], stop["label"]) if len(stop) else None,
        calibration_set=(cal[features], cal["label"]) if len(cal) else None,
    )
    baseline = make_baseline(seed).fit(as_matrix(train[features], features), train["label"])
    p_model = model.predict_risk(val[features])
    p_base = baseline.predict_proba(as_matrix(val[features], features))[:, 1]
    metrics = {
        **classification_metrics(val["label"], p_model),
        **classification_metrics(val["label"], p_base, prefix="baseline_"),
        "validation_positive_rate": float(val["label"].mean()),
    }
    return ArrearsFit(model, baseline, features, split, val.reset_index(drop=True), p_model, p_base, metrics)
