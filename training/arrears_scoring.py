"""Arrears batch scoring (I/O at the edge): profile every customer as of a day, score, grade, explain.

:func:`score_arrears` writes ``<var>/scores/<tenant>/arrears/<as_of>.parquet`` plus ``latest.parquet``;
:func:`score_frame` is the pure part.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from features.errors import ModelNotReady
from features.io import load_tenant, write_table
from features.settings import DataSettings
from features.snapshots import default_as_of
from training import registry
from training.arrears import ArrearsRiskModel, GradePolicy
from training.collections_batch import guard_and_record
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
KIND = "arrears"


def _latest_day(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    return default_as_of(tables)  # the one default as_of rule of every command


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


def score_tables(
    model: ArrearsRiskModel, tables: dict[str, pd.DataFrame], *, as_of: pd.Timestamp, late_days: int, version: str
) -> pd.DataFrame:
    """Profiles as of `as_of` -> scores of every customer with a bill (pure; one partition or a whole tenant).

    Raises :class:`ModelNotReady` when the profiles lack a feature the model needs.
    """
    from features.profiles import build_profiles

    profiles = build_profiles(tables, as_of=as_of, late_days=late_days)
    return score_profiles(model, profiles, tables["bills"], as_of=as_of, version=version)


def score_profiles(
    model: ArrearsRiskModel, profiles: pd.DataFrame, bills: pd.DataFrame, *, as_of: pd.Timestamp, version: str
) -> pd.DataFrame:
    """Scores of every customer with a bill from profiles already built as of `as_of` (pure)."""
    if "bill_days_to_due" in model.feature_names_in_ and "bill_days_to_due" not in profiles:
        profiles = profiles.merge(_next_bill_terms(bills, as_of), on="customer_id", how="left")
    missing = [c for c in model.feature_names_in_ if c not in profiles.columns]
    if missing:
        raise ModelNotReady(KIND, f"profiles as of {as_of.date()} lack model features {missing[:10]}")
    if "has_bills" in profiles:
        profiles = profiles[profiles["has_bills"].fillna(False).astype(bool)]
    return score_frame(model, profiles.reset_index(drop=True), version=version, as_of=as_of)


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
    atomically with a copy of it. `grade_policy` overrides the bands stored in the model. A partitioned
    tenant (``part-NNNNN/`` folders) is scored on the Dask cluster ``data.dask_scheduler`` (else a local
    one), partition by partition, the parts kept under ``<YYYY-MM-DD>/``.
    """
    from features.partitioned import dask_client, partition_folders

    parts = partition_folders(data.data_dir)
    if parts:  # a partitioned tenant: out of core on the cluster (training/batch_dask.py)
        from training.batch_dask import score_arrears_partitioned

        with dask_client(data.dask_scheduler, data.dask_workers) as client:
            return score_arrears_partitioned(
                data, training, parts, client=client, as_of=as_of, model=model, grade_policy=grade_policy
            )
    bundle, version = registry.open_registry(training, data.tenant).load_or_exported(KIND, model)
    if grade_policy is not None:  # re-band without retraining (the loaded copy only)
        bundle.grade_policy_ = grade_policy
    tables, _ = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    scores = score_tables(bundle, tables, as_of=as_of, late_days=data.late_days, version=version)
    scores = guard_and_record(scores, tables["customers"], data, day=as_of)  # guardrails + audit trail (issue 20)
    folder = data.scores_dir(KIND)
    path = write_table(scores, folder / f"{as_of.date()}.parquet")
    tmp = folder / f".latest.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / "latest.parquet")
    logger.info("arrears scores: %d customers as of %s (model v%s) -> %s", len(scores), as_of.date(), version, path)
    return path
