"""Monitoring thresholds (settings) and the breaches they raise (pure).

Each check turns one measured table into :class:`Breach` records that say what moved, by how much, against
which threshold, and whether retraining is recommended. Drift and performance breaches at ``alert`` level
recommend retraining the model kind; input-quality breaches recommend fixing the data (retraining on
rejected rows would not help).

Forecast checks are sample-size aware: a month of daily forecasts is about 30 periods, and a perfectly
calibrated P10-P90 band realises a coverage outside 70-90 % in about one month in six by sampling noise
alone. A coverage or error breach is therefore raised only when the whole ``breach_confidence`` interval of
the realised figure lies on the wrong side of the threshold: the Wilson score interval of the coverage (hits
out of periods), and ``MAPE +- z * mape_se`` for the error. With many periods the interval shrinks to the
point figure; ``breach_confidence = 0`` restores the point rule. The periods are treated as independent;
autocorrelated errors make the intervals too narrow, so the rule errs towards raising a breach.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

SEVERITY = {"ok": 0, "warn": 1, "alert": 2}
AGAINST = {"same_month": "the same calendar month's backtest", "whole_backtest": "the whole backtest"}


class MonitoringSettings(BaseSettings):
    """Thresholds of ``meterwise monitor`` (env prefix ``METERWISE_MONITOR_``)."""

    model_config = SettingsConfigDict(env_prefix="METERWISE_MONITOR_", env_file=".env", extra="ignore")

    psi_warn: float = Field(0.10, ge=0, description="PSI at or above this: moderate shift (warn)")
    psi_alert: float = Field(0.25, ge=0, description="PSI at or above this: significant shift (alert, retrain)")
    psi_bins: int = Field(10, ge=2, description="quantile bins of the reference sample per numeric feature")
    coverage_low: float = Field(0.70, ge=0, le=1, description="P10-P90 coverage below this is an alert")
    coverage_high: float = Field(0.90, ge=0, le=1, description="P10-P90 coverage above this is an alert")
    error_margin: float = Field(
        0.25, ge=0, description="realised MAPE above the backtest MAPE by this relative margin is an alert"
    )
    calibration_margin: float = Field(
        0.05, ge=0, description="|realised - predicted| late rate of a grade above this (absolute) is an alert"
    )
    auc_drop: float = Field(0.05, ge=0, description="matured AUC this far below the training validation AUC: alert")
    share_shift: float = Field(0.10, ge=0, description="a segment's share moving this much (absolute) warns")
    distance_ratio: float = Field(1.25, ge=1, description="mean distance-to-centroid ratio above this warns")
    rejection_warn: float = Field(0.01, ge=0, le=1, description="share of a table's rows quarantined: warn")
    rejection_alert: float = Field(0.05, ge=0, le=1, description="share of a table's rows quarantined: alert")
    min_rows: int = Field(50, ge=1, description="fewest matured bills a calibration or AUC check needs")
    min_periods: int = Field(14, ge=1, description="fewest forecast periods (per level and freq) an error check needs")
    breach_confidence: float = Field(
        0.95,
        ge=0,
        lt=1,
        description="two-sided confidence of the interval of a realised forecast coverage (Wilson) or MAPE "
        "(normal) that must lie wholly outside the band / above the margin to raise a breach (0: point rule)",
    )
    psi_ignore: tuple[str, ...] = Field(
        ("tenure_months", "billing_tenure_months", "bills_total"),
        description="features that grow with calendar time by definition: reported, never a breach",
    )
    period_days: int = Field(30, ge=1, description="length of the current period compared with the reference")

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSettings:
        if self.psi_warn > self.psi_alert or self.coverage_low >= self.coverage_high:
            raise ValueError(
                f"psi_warn={self.psi_warn} > psi_alert={self.psi_alert} or coverage_low={self.coverage_low} >= "
                f"coverage_high={self.coverage_high}; expected warn <= alert and low < high"
            )
        if self.rejection_warn > self.rejection_alert:
            raise ValueError(f"rejection_warn={self.rejection_warn} > rejection_alert={self.rejection_alert}")
        return self


@dataclass(frozen=True)
class Breach:
    """One threshold crossed: `kind` (arrears/segments/forecast/inputs), `check`, `subject` (feature, grade,
    level...), the measured `value` against `threshold`, `severity` (warn/alert) and what to do; `reference`
    names what a forecast figure was compared with (``same_month`` or ``whole_backtest``; None elsewhere)."""

    kind: str
    check: str
    subject: str
    value: float
    threshold: float
    severity: str
    message: str
    retrain: bool
    reference: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _psi_level(value: float, s: MonitoringSettings) -> str:
    if not math.isfinite(value):
        return "ok"
    return "alert" if value >= s.psi_alert else "warn" if value >= s.psi_warn else "ok"


def psi_breaches(kind: str, drift: pd.DataFrame, s: MonitoringSettings, *, check: str = "psi") -> list[Breach]:
    """A breach per row of a drift table (``feature``, ``psi``, optional ``ks``) at or above ``psi_warn``."""
    out = []
    for row in drift.itertuples(index=False):
        if row.feature in s.psi_ignore:
            continue
        level = _psi_level(float(row.psi), s)
        if level == "ok":
            continue
        threshold = s.psi_alert if level == "alert" else s.psi_warn
        ks = getattr(row, "ks", float("nan"))
        detail = f", KS {ks:.3f}" if isinstance(ks, float) and math.isfinite(ks) else ""
        msg = f"{kind} {check} of {row.feature} is {row.psi:.3f} (>= {threshold}{detail}): its distribution moved"
        out.append(Breach(kind, check, str(row.feature), float(row.psi), threshold, level, msg, level == "alert"))
    return out


def calibration_breaches(table: pd.DataFrame, s: MonitoringSettings) -> list[Breach]:
    """Grades whose realised late rate on matured bills is off the predicted rate by more than the margin."""
    out = []
    for row in table.itertuples(index=False):
        if row.n < s.min_rows or not math.isfinite(row.gap) or abs(row.gap) <= s.calibration_margin:
            continue
        direction = "above" if row.gap > 0 else "below"
        msg = (
            f"grade {row.grade}: realised late rate {row.realised_rate:.1%} is {direction} the predicted "
            f"{row.predicted_rate:.1%} by {abs(row.gap):.1%} on {row.n} matured bills "
            f"(margin {s.calibration_margin:.0%})"
        )
        out.append(
            Breach("arrears", "calibration", str(row.grade), float(row.gap), s.calibration_margin, "alert", msg, True)
        )
    return out


def auc_breach(auc: float, reference_auc: float, n: int, s: MonitoringSettings) -> list[Breach]:
    """An alert when the matured AUC fell more than ``auc_drop`` below the training validation AUC."""
    if n < s.min_rows or not (math.isfinite(auc) and math.isfinite(reference_auc)):
        return []
    if reference_auc - auc <= s.auc_drop:
        return []
    msg = (
        f"matured-bill AUC {auc:.3f} is {reference_auc - auc:.3f} below the training validation AUC {reference_auc:.3f}"
    )
    return [Breach("arrears", "auc", "matured", float(auc), float(reference_auc - s.auc_drop), "alert", msg, True)]


def share_breaches(kind: str, shift: pd.DataFrame, s: MonitoringSettings) -> list[Breach]:
    """Labels (segments) whose share moved more than ``share_shift`` (absolute) since training."""
    out = []
    for row in shift.itertuples(index=False):
        if abs(row.change) > s.share_shift:
            msg = f"{kind} share of {row.label} moved {row.reference_share:.1%} -> {row.current_share:.1%}"
            out.append(Breach(kind, "share", str(row.label), float(row.change), s.share_shift, "warn", msg, False))
    return out


def distance_breach(ratio: float, s: MonitoringSettings) -> list[Breach]:
    """A warning when customers sit further from their centroids than at training (mean distance ratio)."""
    if not math.isfinite(ratio) or ratio <= s.distance_ratio:
        return []
    msg = f"mean distance to segment centre is {ratio:.2f}x the training level: shapes no longer fit the segments"
    return [Breach("segments", "distance", "centroid", float(ratio), s.distance_ratio, "warn", msg, False)]


def coverage_interval(hits: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a realised coverage (`hits` of `n` periods inside the band) at `confidence`
    (two-sided); the point figure when `confidence` is 0."""
    if confidence <= 0:
        return hits / n, hits / n
    lo, hi = proportion_confint(round(hits), n, alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


def forecast_breaches(errors: pd.DataFrame, s: MonitoringSettings) -> list[Breach]:
    """Coverage outside [coverage_low, coverage_high] and MAPE above the backtest by more than the margin,
    each beyond sampling noise (see the module docstring; ``mape_se`` absent: the point rule).

    A row with a ``period`` (the targets' month, from ``forecast_errors(..., by_month=True)``) names it in
    the subject (``total@D 2024-07``); its ``reference`` (:func:`~training.monitoring_outcomes.against_backtest`)
    is named in the error message and carried by the breach.
    """
    out = []
    z = float(norm.ppf(0.5 + s.breach_confidence / 2))
    shown = f"{s.breach_confidence:.0%} interval"
    for row in errors.itertuples(index=False):
        if row.n < s.min_periods:
            continue
        period = getattr(row, "period", None)
        subject = f"{row.level}@{row.freq}" + (f" {period}" if period else "")
        reference = getattr(row, "reference", None)
        cov = float(row.coverage_p10_p90)
        if math.isfinite(cov):
            lo, hi = coverage_interval(cov * row.n, int(row.n), s.breach_confidence)
            if hi < s.coverage_low or lo > s.coverage_high:
                bound = s.coverage_low if hi < s.coverage_low else s.coverage_high
                band = f"{s.coverage_low:.0%}-{s.coverage_high:.0%}"
                msg = (
                    f"forecast {subject}: P10-P90 coverage {cov:.0%} ({shown} {lo:.0%}-{hi:.0%}) outside {band} "
                    f"over {row.n} periods"
                )
                out.append(Breach("forecast", "coverage", subject, cov, bound, "alert", msg, True, reference))
        excess = float(getattr(row, "mape_excess", float("nan")))
        se = float(getattr(row, "mape_se", float("nan")))
        low_mape = float(row.mape) - z * se if math.isfinite(se) else float(row.mape)
        limit = float(getattr(row, "backtest_mape", float("nan"))) * (1 + s.error_margin)
        if math.isfinite(excess) and excess > s.error_margin and low_mape > limit:
            msg = (
                f"forecast {subject}: realised MAPE {row.mape:.1f} % (lower bound {low_mape:.1f} %) is {excess:.0%} "
                f"above {AGAINST.get(reference, 'the backtest')} {row.backtest_mape:.1f} % "
                f"(margin {s.error_margin:.0%})"
            )
            out.append(Breach("forecast", "error", subject, excess, s.error_margin, "alert", msg, True, reference))
    return out


def input_breaches(rates: pd.DataFrame, s: MonitoringSettings) -> list[Breach]:
    """Tables whose contract rejection rate is at or above the warn/alert thresholds (fix data, not model)."""
    out = []
    for row in rates.itertuples(index=False):
        rate = float(row.rejection_rate)
        level = "alert" if rate >= s.rejection_alert else "warn" if rate >= s.rejection_warn else "ok"
        if level == "ok" or rate == 0:
            continue
        threshold = s.rejection_alert if level == "alert" else s.rejection_warn
        msg = f"{row.table}: {row.quarantined} of {row.rows_in} rows ({rate:.1%}) rejected by the contract"
        out.append(Breach("inputs", "rejection", str(row.table), rate, threshold, level, msg, False))
    return out


def overall(breaches: list[Breach]) -> str:
    """``ok``, ``warn`` or ``alert``: the most severe breach."""
    return max((b.severity for b in breaches), key=SEVERITY.__getitem__, default="ok")


def retrain_kinds(breaches: list[Breach]) -> list[str]:
    """Model kinds with at least one breach recommending retraining, in a fixed order."""
    wanted = {b.kind for b in breaches if b.retrain}
    return [k for k in ("arrears", "segments", "forecast") if k in wanted]
