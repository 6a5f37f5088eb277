"""Arrears jobs (all I/O here): train -> log -> register -> promote, and batch scoring.

- :func:`train_arrears`: load the tenant, build the per-bill training set, split by time (train /
  calibration / validation), fit :class:`~training.arrears.ArrearsRiskModel` and the logistic
  baseline, evaluate both (and the current champion) on the newest period, log everything to MLflow,
  register the version and, if asked, promote it.
- :func:`promote_arrears`: re-evaluate a registered version and the champion on that version's
  validation period and move ``champion`` only when the new one is better (or forced).
- :func:`score_arrears`: profile every customer as of a day, score, grade, explain, and write
  ``<var>/scores/<tenant>/arrears/<as_of>.parquet`` plus ``latest.parquet``.

The fit itself is pure (:func:`fit_arrears`); MLflow is reached only through :mod:`training.registry`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ModelNotReady, ModelRejected
from features.io import load_tenant, write_table
from features.settings import DataSettings
from features.snapshots import default_as_of
from features.training_sets import FEATURE_DESCRIPTIONS, build_arrears_training_set
from training import registry
from training.arrears import ArrearsRiskModel, GradePolicy, as_matrix, feature_columns, make_baseline
from training.evaluation import classification_metrics
from training.settings import TrainingSettings
from training.splits import TimeSplit, time_split

logger = logging.getLogger(__name__)
KIND = "arrears"
CANARY_ROWS = 8
PROMOTE_METRIC = "roc_auc"  # higher is better; champion and challenger scored on the same rows


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


@dataclass
class ArrearsTrainResult:
    run_id: str
    version: str
    promoted: bool
    metrics: dict[str, float]
    champion_version: str | None


def _latest_day(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    return default_as_of(tables)  # the one default as_of rule of every command


def training_frame(tables: dict[str, pd.DataFrame], *, as_of: pd.Timestamp, late_days: int) -> pd.DataFrame:
    """Bills issued by `as_of` whose outcome is known at `as_of`, in issue order."""
    frame = build_arrears_training_set(tables, late_days=late_days, label_as_of=as_of)
    keep = (frame["issue_date"] <= as_of) & frame["label_known"]
    return frame.loc[keep].reset_index(drop=True)


def split_frame(frame: pd.DataFrame, *, late_days: int, validation_start: pd.Timestamp | None = None) -> TimeSplit:
    """Time split on issue dates; a bill's label counts as known ``late_days + 1`` days after due."""
    return time_split(
        frame["issue_date"],
        label_dates=frame["due_date"] + pd.Timedelta(days=late_days + 1),
        validation_start=validation_start,
    )


def informative_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """`columns` that take at least two distinct values in `frame` (constants teach the trees nothing)."""
    return [c for c in columns if frame[c].nunique(dropna=True) > 1]


def fit_arrears(
    frame: pd.DataFrame,
    *,
    late_days: int = 30,
    seed: int = 0,
    calibration: str = "sigmoid",
    grade_policy: GradePolicy | None = None,
) -> ArrearsFit:
    """Pure: split by time, fit LightGBM (+ calibration on the later slice) and the baseline, evaluate."""
    split = split_frame(frame, late_days=late_days)
    features = informative_columns(frame.iloc[split.train], feature_columns(frame))
    train, cal, val = (frame.iloc[i] for i in (split.train, split.calibration, split.validation))
    model = ArrearsRiskModel(
        calibration=calibration,
        grade_policy=grade_policy,
        feature_descriptions=FEATURE_DESCRIPTIONS,
        late_days=late_days,
        random_state=seed,
    )
    model.fit(train[features], train["label"], calibration_set=(cal[features], cal["label"]) if len(cal) else None)
    baseline = make_baseline(seed).fit(as_matrix(train[features], features), train["label"])
    p_model = model.predict_risk(val[features])
    p_base = baseline.predict_proba(as_matrix(val[features], features))[:, 1]
    metrics = {
        **classification_metrics(val["label"], p_model),
        **classification_metrics(val["label"], p_base, prefix="baseline_"),
    }
    return ArrearsFit(model, baseline, features, split, val.reset_index(drop=True), p_model, p_base, metrics)


def evaluate_bundle(bundle: Any, validation: pd.DataFrame) -> dict[str, float] | None:
    """Metrics of a loaded bundle on validation rows; None if it needs columns the rows lack."""
    names = list(getattr(bundle, "feature_names_in_", []))
    missing = [c for c in names if c not in validation.columns]
    if missing:
        logger.warning("champion needs features %s that the current pipeline lacks: not comparable", missing[:5])
        return None
    return classification_metrics(validation["label"], bundle.predict_proba(validation[names])[:, 1])


def _load_champion(reg: registry.Registry) -> tuple[Any, str, dict[str, str]] | None:
    """The champion bundle, its version and its run's params; None when there is no champion."""
    try:
        bundle, version = reg.load_version(KIND, registry.CHAMPION)
    except ModelNotReady:
        return None
    return bundle, version, reg.version_run(KIND, version)["params"]


def comparison_rows(validation: pd.DataFrame, champion_params: dict[str, str]) -> pd.DataFrame:
    """Validation rows neither model learned from: from the later of the two validation starts.

    A champion trained on a later cutoff may have trained on the challenger's validation bills; both
    are then judged on bills from the champion's own validation start on (if that leaves both classes).
    """
    start = champion_params.get("validation_start")
    if not start or pd.Timestamp(start) <= validation["issue_date"].min():
        return validation
    later = validation[validation["issue_date"] >= pd.Timestamp(start)]
    if later["label"].nunique() == 2:
        return later.reset_index(drop=True)
    logger.warning("champion validated from %s: too few later rows, comparing on all validation rows", start)
    return validation


def head_to_head(
    candidate: Any, validation: pd.DataFrame, champion: tuple[Any, str, dict[str, str]] | None
) -> tuple[float, float | None, dict[str, float]]:
    """Promotion scores of candidate and champion on the same rows, plus champion_* metrics to log."""
    base = evaluate_bundle(candidate, validation)
    if base is None:
        raise ModelNotReady(KIND, "the candidate needs features the current pipeline lacks")
    if champion is None:
        return base[PROMOTE_METRIC], None, {}
    rows = comparison_rows(validation, champion[2])
    champ = evaluate_bundle(champion[0], rows)
    if champ is None:
        return base[PROMOTE_METRIC], None, {}
    score = base if rows is validation else evaluate_bundle(candidate, rows)
    logged = {f"champion_{k}": v for k, v in champ.items()} | {"comparison_rows": float(len(rows))}
    return (
        score[PROMOTE_METRIC],
        champ[PROMOTE_METRIC],
        logged | {f"comparison_{PROMOTE_METRIC}": score[PROMOTE_METRIC]},
    )


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
        Training cutoff: bills issued and outcomes known by this day. Default: latest day in the data.
    promote : bool
        After the version is logged and registered, move ``champion`` to it if it beats the current
        champion on this run's validation period (by ``training.promote_margin``).
    force : bool
        Promote regardless of the comparison.
    """
    tables, report = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    frame = training_frame(tables, as_of=as_of, late_days=data.late_days)
    fit = fit_arrears(
        frame, late_days=data.late_days, seed=training.seed, calibration=calibration, grade_policy=grade_policy
    )
    reg = registry.open_registry(training, data.tenant)
    champion = _load_champion(reg)
    score, champion_score, compared = head_to_head(fit.model, fit.validation, champion)
    metrics = {**fit.metrics, **compared}
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
        **{f"data_hash_{t}": h for t, h in report.hashes.items()},
    }
    tags = {"tenant": data.tenant, "as_of": str(as_of.date()), "feature_version": _feature_version(fit.features)}
    with reg.training_run(KIND, tags=tags, params=params) as run_id:
        reg.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        reg.log_table(fit.model.feature_importance_frame(), "feature_importance.csv")
        _log_report(reg, fit)
        model_uri = reg.log_model(KIND, fit.model, fit.validation[fit.features].head(20))
    version = reg.register(
        KIND, model_uri, tags={"as_of": tags["as_of"], "validation_start": params["validation_start"]}
    )
    logger.info(
        "arrears v%s: %s %.3f vs champion %s (baseline auc %.3f, %d validation bills)",
        version,
        PROMOTE_METRIC,
        score,
        champion_score if champion_score is None else f"{champion_score:.3f}",
        metrics["baseline_roc_auc"],
        len(fit.validation),
    )
    promoted = False
    if promote or force:
        admit_version(reg, version, fit.validation[fit.features].head(CANARY_ROWS))  # raises: champion untouched
        promoted = _decide(reg, training, version, fit.model, score, champion_score, force=force)
    return ArrearsTrainResult(run_id, version, promoted, metrics, champion[1] if champion else None)


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


def _decide(
    reg: registry.Registry,
    training: TrainingSettings,
    version: str,
    bundle: Any,
    score: float,
    champion_score: float | None,
    *,
    force: bool,
) -> bool:
    promoted = reg.promote_if_better(
        KIND,
        version,
        score,
        None if champion_score is None or not np.isfinite(champion_score) else champion_score,
        margin=training.promote_margin,
        force=force,
    )
    reg.set_version_tags(
        KIND,
        version,
        {
            "promotion": "champion" if promoted else "challenger",
            f"validation_{PROMOTE_METRIC}": f"{score:.5f}",
            f"champion_{PROMOTE_METRIC}": "none" if champion_score is None else f"{champion_score:.5f}",
        },
    )
    if promoted:
        reg.export_bundle(
            KIND, bundle, version, training.models_dir, {"promote_metric": PROMOTE_METRIC, PROMOTE_METRIC: score}
        )
    return promoted


def promote_arrears(
    data: DataSettings, training: TrainingSettings, *, version: str | None = None, force: bool = False
) -> bool:
    """Promote `version` (default: the latest) if it beats the champion on the version's validation period.

    Both are scored on the same rows: bills of the version's validation period, rebuilt from the
    tenant data as of the version's training ``as_of`` (from the champion's validation start on if
    that is later, see :func:`comparison_rows`).

    Raises
    ------
    ModelNotReady
        No such version (or no version at all).
    """
    reg = registry.open_registry(training, data.tenant)
    version = version or reg.latest_version(KIND)
    if version is None:
        raise ModelNotReady(KIND, "no registered version to promote; run `meterwise train arrears` first")
    info = reg.version_run(KIND, version)
    params = info["params"]
    candidate, version = reg.load_version(KIND, version)
    champion_version = reg.champion_version(KIND)
    if champion_version == version:
        logger.info("arrears v%s is already champion", version)
        return True
    tables, _ = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    as_of = pd.Timestamp(params.get("as_of") or _latest_day(tables))
    late_days = int(params.get("late_days", data.late_days))
    frame = training_frame(tables, as_of=as_of, late_days=late_days)
    validation = frame[frame["issue_date"] >= pd.Timestamp(params["validation_start"])].reset_index(drop=True)
    if validation.empty or validation["label"].nunique() < 2:
        raise ModelNotReady(KIND, f"validation period from {params['validation_start']} has no usable rows")
    champion = _load_champion(reg) if champion_version is not None else None
    score, champion_score, _ = head_to_head(candidate, validation, champion)
    return _decide(reg, training, version, candidate, score, champion_score, force=force)


def _next_bill_terms(bills: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per customer, days from issue to due of the latest bill issued by `as_of` (the next bill's terms)."""
    known = bills[bills["issue_date"] <= as_of].sort_values(["customer_id", "issue_date"], kind="stable")
    last = known.drop_duplicates("customer_id", keep="last")
    days = (last["due_date"] - last["issue_date"]).dt.days.astype(float)
    return pd.DataFrame({"customer_id": last["customer_id"].to_numpy(), "bill_days_to_due": days.to_numpy()})


def score_frame(model: ArrearsRiskModel, profiles: pd.DataFrame, *, version: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Pure: probability, grade, action, 3 reasons per customer row of `profiles`."""
    X = profiles[model.feature_names_in_]
    scored = model.predict_frame(X).reset_index(drop=True)
    reasons = model.reasons_frame(X, top=3).reset_index(drop=True)
    out = pd.concat([profiles[["customer_id"]].reset_index(drop=True), scored, reasons], axis=1)
    return out.assign(model_version=str(version), as_of=pd.Timestamp(as_of).normalize())


def score_arrears(
    data: DataSettings,
    training: TrainingSettings,
    *,
    as_of: pd.Timestamp | None = None,
    model: str = registry.CHAMPION,
    grade_policy: GradePolicy | None = None,
) -> Path:
    """Score every customer with a bill as of `as_of` (default: latest day in the data); returns the file.

    Writes ``<var_dir>/scores/<tenant>/arrears/<YYYY-MM-DD>.parquet`` and replaces ``latest.parquet``
    atomically with a copy of it. `grade_policy` overrides the bands stored in the model.
    """
    from features.profiles import build_profiles

    bundle, version = registry.open_registry(training, data.tenant).load_or_exported(KIND, model)
    if grade_policy is not None:  # re-band without retraining (the loaded copy only)
        bundle.grade_policy_ = grade_policy
    tables, _ = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    profiles = build_profiles(tables, as_of=as_of, late_days=data.late_days)
    if "bill_days_to_due" in bundle.feature_names_in_ and "bill_days_to_due" not in profiles:
        profiles = profiles.merge(_next_bill_terms(tables["bills"], as_of), on="customer_id", how="left")
    missing = [c for c in bundle.feature_names_in_ if c not in profiles.columns]
    if missing:
        raise ModelNotReady(KIND, f"profiles as of {as_of.date()} lack model features {missing[:10]}")
    if "has_bills" in profiles:
        profiles = profiles[profiles["has_bills"].fillna(False).astype(bool)]
    scores = score_frame(bundle, profiles.reset_index(drop=True), version=version, as_of=as_of)
    folder = data.scores_dir(KIND)
    path = write_table(scores, folder / f"{as_of.date()}.parquet")
    tmp = folder / f".latest.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / "latest.parquet")
    logger.info("arrears scores: %d customers as of %s (model v%s) -> %s", len(scores), as_of.date(), version, path)
    return path
