"""One monitoring section per model kind (pure): the champion's reference against the current period.

- :func:`arrears_section`: bills with features as of their issue date (the training set's rows, so the
  features mean what they meant in training). Reference = the champion's validation bills (issued from its
  ``validation_start`` to its cutoff); current = bills issued in the last ``period_days`` up to ``as_of``.
  PSI/KS per feature and on the score, grade-mix shift, and on *matured* bills (outcome window closed after
  the champion's cutoff and by ``as_of``: the model never saw their outcome) the realised vs predicted late rate
  per grade, per issue month, and the AUC.
- :func:`segments_section`: load shapes as of the champion's cutoff and as of ``as_of``, both assigned by
  the champion: share per segment, migration counts, distance-to-centroid ratio, PSI per shape feature.
- :func:`forecast_section`: realised error of the champion's issued forecasts against the actuals that
  have arrived, per level, frequency and calendar month, beside the backtest figures stored with the
  champion (of the same calendar month where its backtest covered that month, else of the whole backtest).

Each returns a :class:`Section` (metrics for MLflow and the status file, tables for the report, breaches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.monitoring_drift import drift_table, migration_counts, share_psi, share_shift
from training.monitoring_outcomes import (
    against_backtest,
    calibration_by_grade,
    calibration_over_time,
    forecast_errors,
    matured_auc,
)
from training.monitoring_rules import (
    Breach,
    MonitoringSettings,
    auc_breach,
    calibration_breaches,
    distance_breach,
    forecast_breaches,
    overall,
    psi_breaches,
    share_breaches,
)

SCORE = "score"


@dataclass
class Section:
    """What one model kind's checks measured."""

    kind: str
    version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    breaches: list[Breach] = field(default_factory=list)
    note: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "unavailable" if self.note and not self.metrics else overall(self.breaches)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: version, status, finite metrics, breaches, note; ``checks`` (one row per compared unit,
        e.g. a forecast level and month with its reference) when the kind has them."""
        metrics = {k: float(v) for k, v in self.metrics.items() if v is not None and np.isfinite(v)}
        out = {
            "kind": self.kind,
            "version": self.version,
            "status": self.status,
            "metrics": metrics,
            "breaches": [b.as_dict() for b in self.breaches],
            "note": self.note,
        }
        if self.checks:
            out["checks"] = [
                {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                for row in self.checks
            ]
        return out


def _window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, col: str = "issue_date") -> pd.DataFrame:
    return frame[(frame[col] > start) & (frame[col] <= end)]


def arrears_section(
    bills: pd.DataFrame,
    bundle: Any,
    *,
    version: str | None,
    trained_as_of: pd.Timestamp,
    validation_start: pd.Timestamp,
    reference_auc: float,
    as_of: pd.Timestamp,
    settings: MonitoringSettings,
    late_days: int = 30,
) -> Section:
    """Drift and realised performance of an arrears champion (see the module docstring).

    Parameters
    ----------
    bills : frame from :func:`features.training_sets.build_arrears_training_set` with ``label_as_of = as_of``
        (features as of each issue date, ``label``, ``label_known``).
    bundle : the champion (``feature_names_in_``, ``predict_risk``, ``grade``, ``grade_policy_``).
    reference_auc : the champion's validation AUC at training (NaN when unknown).
    late_days : the outcome window after the due date (days). A bill is *matured* when its window closed
        after the champion's cutoff and by ``as_of``: its outcome was unknown to the model at training.
    """
    s, names = settings, list(bundle.feature_names_in_)
    section = Section("arrears", version)
    ref = bills[(bills["issue_date"] >= validation_start) & (bills["issue_date"] <= trained_as_of)]
    cur = _window(bills, as_of - pd.Timedelta(days=s.period_days), as_of)
    if ref.empty or cur.empty:
        section.note = f"no bills in the reference ({len(ref)}) or in the current period ({len(cur)})"
        return section
    p_ref, p_cur = bundle.predict_risk(ref[names]), bundle.predict_risk(cur[names])
    drift = drift_table(
        ref[names].assign(**{SCORE: p_ref}), cur[names].assign(**{SCORE: p_cur}), [*names, SCORE], n_bins=s.psi_bins
    )
    g_ref, g_cur = bundle.grade(p_ref)[0], bundle.grade(p_cur)[0]
    mix = share_shift(pd.Series(g_ref), pd.Series(g_cur))
    section.tables.update(drift=drift, grade_mix=mix)
    psi = drift.set_index("feature")["psi"]
    section.metrics.update(
        {
            "score_psi": float(psi[SCORE]),
            "score_ks": float(drift.set_index("feature").loc[SCORE, "ks"]),
            "max_feature_psi": float(psi.drop([SCORE, *(f for f in s.psi_ignore if f in psi.index)]).max()),
            "grade_mix_psi": share_psi(mix),
            "current_bills": float(len(cur)),
            "reference_bills": float(len(ref)),
        }
    )
    section.breaches += psi_breaches("arrears", drift, s)
    mix_table = pd.DataFrame({"feature": ["grade_mix"], "psi": [section.metrics["grade_mix_psi"]]})
    section.breaches += psi_breaches("arrears", mix_table, s, check="grade_mix_psi")
    closes = bills["due_date"] + pd.Timedelta(days=late_days)
    matured = bills[(closes > trained_as_of) & bills["label_known"].astype(bool)]
    section.metrics["matured_bills"] = float(len(matured))
    if len(matured):
        p = bundle.predict_risk(matured[names])
        grades, y = bundle.grade(p)[0], matured["label"].to_numpy()
        order = list(bundle.grade_policy_.grades)
        table = calibration_by_grade(grades, y, p, order)
        months = matured["issue_date"].dt.to_period("M").astype(str)
        section.tables.update(
            calibration=table, calibration_over_time=calibration_over_time(months, grades, y, p, order)
        )
        auc = matured_auc(y, p)
        section.metrics.update(
            {"matured_auc": auc, "matured_late_rate": float(y.mean()), "matured_predicted_rate": float(p.mean())}
        )
        section.breaches += calibration_breaches(table, s)
        section.breaches += auc_breach(auc, reference_auc, len(matured), s)
    return section


def segments_section(
    reference_shapes: pd.DataFrame,
    current_shapes: pd.DataFrame,
    bundle: Any,
    *,
    version: str | None,
    settings: MonitoringSettings,
) -> Section:
    """Share per segment, migration, distance-to-centroid drift and shape-feature PSI (indexed by customer)."""
    s, names = settings, list(bundle.feature_names_in_)
    section = Section("segments", version)
    ref, cur = bundle.predict_frame(reference_shapes), bundle.predict_frame(current_shapes)
    ref, cur = ref[ref["segment_id"] >= 0], cur[cur["segment_id"] >= 0]
    if ref.empty or cur.empty:
        section.note = f"no segmented customers in the reference ({len(ref)}) or now ({len(cur)})"
        return section
    shift = share_shift(ref["segment_name"], cur["segment_name"])
    moves = migration_counts(ref["segment_name"], cur["segment_name"])
    drift = drift_table(reference_shapes, current_shapes, names, n_bins=s.psi_bins)
    ratio = float(cur["distance"].mean() / ref["distance"].mean()) if ref["distance"].mean() > 0 else np.nan
    both = int(moves["customers"].sum())
    moved = int(moves.loc[moves["moved"], "customers"].sum())
    section.tables.update(drift=drift, segment_mix=shift, migration=moves)
    section.metrics.update(
        {
            "segment_mix_psi": share_psi(shift),
            "max_share_change": float(shift["change"].abs().max()),
            "distance_ratio": ratio,
            "migrated_customers": float(moved),
            "migrated_share": moved / both if both else np.nan,
            "max_feature_psi": float(drift["psi"].max()),
        }
    )
    section.breaches += psi_breaches("segments", drift, s)
    mix = pd.DataFrame({"feature": ["segment_mix"], "psi": [section.metrics["segment_mix_psi"]]})
    section.breaches += psi_breaches("segments", mix, s, check="segment_mix_psi")
    section.breaches += share_breaches("segments", shift, s)
    section.breaches += distance_breach(ratio, s)
    return section


def forecast_section(
    issued: pd.DataFrame,
    actuals: pd.DataFrame,
    history: pd.DataFrame | None,
    backtest: pd.DataFrame,
    *,
    version: str | None,
    settings: MonitoringSettings,
    by_month: pd.DataFrame | None = None,
) -> Section:
    """Realised error per level and frequency against the backtest (frames as in
    :func:`training.monitoring_outcomes.forecast_errors`).

    `backtest` holds the whole backtest's ``freq, level, mape, coverage_p10_p90``; `by_month` the same per
    calendar ``month`` with its ``n`` (:func:`training.monitoring_outcomes.backtest_by_month`; None for a
    champion trained before it was stored). The checks run per calendar month of the targets: each month
    against the backtest of the same month when that month has at least ``min_periods`` backtest rows, else
    against the whole backtest; the ``errors`` table, each ``checks`` row and each breach name the
    ``reference`` used. The metrics are over every arrived period (``mape_<level>_<freq>`` ...).
    """
    section = Section("forecast", version)
    pooled = against_backtest(forecast_errors(issued, actuals, history), backtest)
    if pooled.empty:
        section.note = "no actuals have arrived for the issued forecasts yet"
        return section
    monthly = forecast_errors(issued, actuals, history, by_month=True)
    ref = by_month if by_month is not None and len(by_month) else pd.DataFrame(columns=["freq", "level", "month"])
    errors = against_backtest(monthly, ref, backtest, min_n=settings.min_periods)
    section.tables.update(errors=errors, errors_all_periods=pooled)
    for row in pooled.itertuples(index=False):
        tag = f"{row.level}_{row.freq}"
        section.metrics.update(
            {f"mape_{tag}": row.mape, f"coverage_{tag}": row.coverage_p10_p90, f"periods_{tag}": float(row.n)}
        )
        if np.isfinite(row.mase):
            section.metrics[f"mase_{tag}"] = row.mase
        section.metrics[f"pinball_{tag}"] = row.pinball
    shown = ["freq", "level", "period", "n", "mape", "coverage_p10_p90", "backtest_mape", "reference"]
    section.checks = errors[shown].to_dict("records")
    section.breaches += forecast_breaches(errors, settings)
    return section
