"""Arrears jobs (all I/O here): train -> log -> register -> promote, and batch scoring.

- :func:`train_arrears`: load the tenant, build the per-bill training set (closed outcome windows only),
  split by time (train / early stopping / calibration / validation, embargoed), fit
  :class:`~training.arrears.ArrearsRiskModel` and the logistic baseline, score it and the current
  champion on the same newest held-out bills, log everything to MLflow, register the version and, if
  asked, promote it through :func:`training.promotion.decide`.
- :func:`promote_version`: re-score a registered version and the champion on the same newest held-out
  bills and move ``champion`` only when the rule says so (or forced); returns the decision.
- :func:`score_arrears`: profile every customer as of a day, score, grade, explain, and write
  ``<var>/scores/<tenant>/arrears/<as_of>.parquet`` plus ``latest.parquet``.

The fit itself is pure (:func:`fit_arrears`); MLflow is reached only through :mod:`training.registry`.

Invariants
----------
- Every bill in any split has a closed outcome window at ``as_of`` (``due_date + late_days <= as_of``):
  no bill is "known 0" just because it was paid early while its window was still open.
- Early stopping, calibration and validation each use their own later time slice, and every slice is
  embargoed: a row's outcome is settled before the next slice starts.
- Champion and challenger are compared on the same bills: those issued from the later of their two
  validation starts, with windows closed by the later of their two cutoffs (neither trained on them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ModelNotReady, ModelRejected
from features.io import load_tenant
from features.settings import DataSettings
from training import registry
from training.arrears import GradePolicy, as_matrix
from training.arrears_fit import ArrearsFit, fit_arrears, informative_columns, label_dates, split_frame, training_frame
from training.arrears_scoring import _latest_day, _next_bill_terms, score_arrears, score_frame
from training.evaluation import classification_metrics
from training.lifecycle import apply_decision, data_id, judge
from training.promotion import Decision, Scored
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
__all__ = [
    "ArrearsFit", "_next_bill_terms", "fit_arrears", "informative_columns", "label_dates", "promote_version",
    "score_arrears", "score_frame", "split_frame", "train_arrears", "training_frame",
]  # fmt: skip
KIND = "arrears"
CANARY_ROWS = 8
PROMOTE_METRIC = "roc_auc"  # higher is better; champion and challenger scored on the same rows


@dataclass
class ArrearsTrainResult:
    run_id: str
    version: str
    promoted: bool
    metrics: dict[str, float]
    champion_version: str | None
    decision: Decision | None = None


def evaluate_bundle(bundle: Any, validation: pd.DataFrame) -> dict[str, float] | None:
    """Metrics of a loaded bundle on validation rows; None if it needs columns the rows lack."""
    names = list(getattr(bundle, "feature_names_in_", []))
    missing = [c for c in names if c not in validation.columns]
    if missing:
        logger.warning("champion needs features %s that the current pipeline lacks: not comparable", missing[:5])
        return None
    return classification_metrics(validation["label"], bundle.predict_proba(validation[names])[:, 1])


def heldout_rows(
    tables: dict[str, pd.DataFrame] | None,
    *,
    late_days: int,
    starts: list[pd.Timestamp],
    as_ofs: list[pd.Timestamp],
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The newest held-out bills for a comparison: issued from the latest of `starts` (the models'
    validation starts), windows closed by the latest of `as_ofs` (their cutoffs), so no model trained on one.

    `frame`, when given, is the training frame as of ``as_ofs[0]``; it is reused when that is the latest.
    """
    if frame is None or max(as_ofs) != as_ofs[0]:
        if tables is None:  # a partitioned tenant's frame is built for this run's as_of only
            raise ModelNotReady(
                KIND, f"the champion's cutoff {max(as_ofs).date()} is later than this run's: train --as-of it or later"
            )
        frame = training_frame(tables, as_of=max(as_ofs), late_days=late_days)
    return frame[frame["issue_date"] >= max(starts)].reset_index(drop=True)


def heldout_score(bundle: Any, rows: pd.DataFrame, *, version: str | None, as_of: pd.Timestamp) -> Scored | None:
    """`bundle`'s AUC on `rows` as a :class:`Scored`; None when it needs features the rows lack."""
    metrics = evaluate_bundle(bundle, rows)
    if metrics is None:
        return None
    rows_id = data_id(rows["bill_id"], rows["label"])
    return Scored(version, PROMOTE_METRIC, metrics[PROMOTE_METRIC], True, rows_id, pd.Timestamp(as_of))


@dataclass(frozen=True)
class _Champion:
    bundle: Any
    version: str
    as_of: pd.Timestamp
    validation_start: pd.Timestamp


def _load_champion(reg: registry.Registry) -> _Champion | None:
    """The registered champion with its training cutoff and validation start; None when there is none."""
    version = reg.champion_version(KIND)
    if version is None:
        return None
    bundle, version = reg.load_version(KIND, version)
    params = reg.version_run(KIND, version)["params"]
    return _Champion(bundle, version, pd.Timestamp(params["as_of"]), pd.Timestamp(params["validation_start"]))


def compare(
    tables: dict[str, pd.DataFrame] | None,
    bundle: Any,
    *,
    version: str | None,
    as_of: pd.Timestamp,
    validation_start: pd.Timestamp,
    late_days: int,
    champion: _Champion | None,
    frame: pd.DataFrame | None = None,
) -> tuple[Scored, Scored | None, pd.DataFrame]:
    """Challenger and champion scored on the same newest held-out bills (see :func:`heldout_rows`)."""
    starts, as_ofs = [validation_start], [as_of]
    if champion is not None:
        starts.append(champion.validation_start)
        as_ofs.append(champion.as_of)
    rows = heldout_rows(tables, late_days=late_days, starts=starts, as_ofs=as_ofs, frame=frame)
    if rows.empty or rows["label"].nunique() < 2:
        raise ModelNotReady(KIND, f"held-out bills from {max(starts).date()} hold fewer than two classes")
    challenger = heldout_score(bundle, rows, version=version, as_of=as_of)
    if challenger is None:
        raise ModelNotReady(KIND, "the candidate needs features the current pipeline lacks")
    champ = None
    if champion is not None:
        champ = heldout_score(champion.bundle, rows, version=champion.version, as_of=champion.as_of)
    return challenger, champ, rows


def _feature_version(features: list[str]) -> str:
    return hashlib.sha256(",".join(features).encode()).hexdigest()[:12]


def train_arrears(
    data: DataSettings,
    training: TrainingSettings,
    *,
    as_of: pd.Timestamp | None = None,
    promote: bool = True,
    force: bool = False,
    calibration: str = "sigmoid",
    grade_policy: GradePolicy | None = None,
) -> ArrearsTrainResult:
    """Train, log, register and (optionally) promote one arrears model version.

    Parameters
    ----------
    as_of : pandas.Timestamp, optional
        Training cutoff: bills issued and outcome windows closed by this day. Default: latest day in
        the data.
    promote : bool
        After the version is logged and registered, move ``champion`` to it if
        :func:`training.promotion.decide` says so: it beats the champion, scored on the same newest
        held-out bills, by ``training.promote_margin`` (or the champion is too old); with no champion,
        it must beat the logistic baseline.
    force : bool
        Promote regardless of the comparison.
    """
    from features.partitioned import partition_folders

    parts = partition_folders(data.data_dir)
    if parts:  # a partitioned tenant: the training frame is built on the Dask cluster (training/batch_dask.py)
        from training.batch_dask import partitioned_training_frame

        tables = None
        frame, hashes, as_of = partitioned_training_frame(data, parts, as_of)
    else:
        tables, report = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
        hashes = report.hashes
        as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
        frame = training_frame(tables, as_of=as_of, late_days=data.late_days)
    fit = fit_arrears(
        frame,
        late_days=data.late_days,
        as_of=as_of,
        seed=training.seed,
        calibration=calibration,
        grade_policy=grade_policy,
    )
    reg = registry.open_registry(training, data.tenant)
    champion = _load_champion(reg)
    challenger, champ, rows = compare(
        tables,
        fit.model,
        version=None,
        as_of=as_of,
        validation_start=fit.split.validation_start,
        late_days=data.late_days,
        champion=champion,
        frame=frame,
    )
    baseline = None
    if champion is None:  # the first model must beat the logistic baseline on the same bills
        p_base = fit.baseline.predict_proba(as_matrix(rows[fit.features], fit.features))[:, 1]
        base = classification_metrics(rows["label"], p_base)[PROMOTE_METRIC]
        baseline = Scored(None, PROMOTE_METRIC, base, True, challenger.data_id)
    decision = judge(
        challenger, champ, training=training, has_champion=champion is not None, baseline=baseline, force=force
    )
    metrics = {**fit.metrics, f"heldout_{PROMOTE_METRIC}": challenger.value, "heldout_rows": float(len(rows))}
    if champ is not None:
        metrics[f"champion_{PROMOTE_METRIC}"] = champ.value
    model_params = {
        k: v for k, v in fit.model.get_params().items() if k not in {"feature_descriptions", "grade_policy"}
    }
    params = {
        **model_params,
        **fit.split.summary(),
        "as_of": str(as_of.date()),
        "late_days": data.late_days,
        "n_features": len(fit.features),
        "best_iteration": fit.model.best_iteration_,
        "promote_metric": PROMOTE_METRIC,
        "grade_bands": fit.model.grade_policy_.model_dump_json(),
        **{f"data_hash_{t}": h for t, h in hashes.items()},
    }
    tags = {"tenant": data.tenant, "as_of": str(as_of.date()), "feature_version": _feature_version(fit.features)}
    with reg.training_run(KIND, tags=tags, params=params) as run_id:
        reg.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        reg.log_table(fit.model.feature_importance_frame(), "feature_importance.csv")
        reg.log_table(pd.DataFrame([decision.tags()]), "promotion/decision.csv")
        _log_report(reg, fit)
        model_uri = reg.log_model(KIND, fit.model, fit.validation[fit.features].head(20))
    version = reg.register(
        KIND, model_uri, tags={"as_of": tags["as_of"], "validation_start": params["validation_start"]}
    )
    decision = dataclasses.replace(decision, challenger=dataclasses.replace(challenger, version=version))
    logger.info(
        "arrears v%s: held-out %s %.3f vs champion %s on %d bills (baseline auc %.3f): %s",
        version,
        PROMOTE_METRIC,
        challenger.value,
        "none" if champ is None else f"v{champ.version} {champ.value:.3f}",
        len(rows),
        metrics["baseline_roc_auc"],
        decision.reason,
    )
    promoted = False
    if promote or force:
        admit_version(reg, version, fit.validation[fit.features].head(CANARY_ROWS))  # raises: champion untouched
        promoted = apply_decision(
            reg, KIND, decision, training=training, bundle=fit.model, meta={"promote_metric": PROMOTE_METRIC}
        )
    return ArrearsTrainResult(run_id, version, promoted, metrics, champion.version if champion else None, decision)


def admit_version(reg: registry.Registry, version: str, canary: pd.DataFrame) -> Any:
    """Load registered `version` back (signature checked) and score `canary`; returns the bundle.

    Raises :class:`ModelRejected` when the features differ from the canary's columns or the
    probabilities are not finite values in [0, 1]. Runs before ``champion`` may move.
    """
    bundle, _ = reg.load_version(KIND, version)
    names = list(getattr(bundle, "feature_names_in_", []))
    if names != list(canary.columns):
        raise ModelRejected(KIND, f"v{version} features {names[:5]} differ from the training features")
    p = np.asarray(bundle.predict_risk(canary), dtype=float)
    if p.shape != (len(canary),) or not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ModelRejected(KIND, f"v{version} canary probabilities {p[:3]!r} are not finite values in [0, 1]")
    return bundle


def _log_report(reg: registry.Registry, fit: ArrearsFit) -> None:
    from training.plots.arrears import write_arrears_report

    y = fit.validation["label"].to_numpy()
    grades, _ = fit.model.grade(fit.p_model)
    with tempfile.TemporaryDirectory() as tmp:
        write_arrears_report(Path(tmp), y, fit.p_model, grades, fit.model.grade_policy_.grades, baseline=fit.p_baseline)
        reg.log_artifacts(Path(tmp), "report")


def promote_version(data: DataSettings, training: TrainingSettings, version: str, *, force: bool = False) -> Decision:
    """Promote registered `version` if it beats the champion on the same newest held-out bills.

    Both are re-scored on the bills issued from the later of their validation starts whose windows closed
    by the later of their cutoffs, rebuilt from the tenant's data (see :func:`heldout_rows`), then judged
    by :func:`training.promotion.decide`. A champion that cannot be re-scored is a refusal (unless forced).

    Raises
    ------
    ModelNotReady
        No such version, or the held-out period has no usable bills.
    """
    reg = registry.open_registry(training, data.tenant)
    params = reg.version_run(KIND, version)["params"]
    candidate, version = reg.load_version(KIND, version)
    champion = _load_champion(reg)
    tables, _ = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    as_of = pd.Timestamp(params.get("as_of") or _latest_day(tables))
    challenger, champ, rows = compare(
        tables,
        candidate,
        version=version,
        as_of=as_of,
        validation_start=pd.Timestamp(params["validation_start"]),
        late_days=int(params.get("late_days", data.late_days)),
        champion=None if champion is not None and champion.version == version else champion,
    )
    if champion is not None and champion.version == version:
        return Decision(True, "already champion", None, challenger, None)
    decision = judge(challenger, champ, training=training, has_champion=champion is not None, force=force)
    if decision.promote:
        admit_version(reg, version, rows[list(candidate.feature_names_in_)].head(CANARY_ROWS))
    apply_decision(reg, KIND, decision, training=training, bundle=candidate, meta={"promote_metric": PROMOTE_METRIC})
    return decision
