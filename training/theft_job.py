"""Theft jobs (all I/O here): train on inspection outcomes -> registry -> promotion; score -> list + report.

Labels come from ``inspections``: each customer's latest outcome, ``theft_confirmed`` = 1,
``no_irregularity`` = 0, ``not_reached`` and never inspected = unlabelled (NaN, dropped by
:class:`~training.theft.TheftRiskModel`: uninspected customers are not clean). Features are built
as of the *first* inspection date among the labels, so no label sees reads taken after an inspection
started (the time cut-off). New inspection outcomes appended to ``inspections`` are the next
training's labels; :func:`past_list_hit_rate` reports how past lists did.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.io import load_tenant
from training import registry
from training.promotion import Scored, decide
from training.settings import TrainingSettings
from training.theft import TheftRiskModel
from training.theft_list import InspectionList, build_inspection_list
from training.theft_metrics import top_k

logger = logging.getLogger(__name__)
KIND = "theft"
TABLES = ("customers", "meter_reads", "inspections")
OUTCOME_LABEL = {"theft_confirmed": 1.0, "no_irregularity": 0.0, "not_reached": np.nan}


@dataclass(frozen=True)
class TheftTrainResult:
    model: TheftRiskModel
    as_of: pd.Timestamp
    labelled: int
    version: str | None
    promoted: bool
    reason: str


def labels_from_inspections(inspections: pd.DataFrame) -> pd.Series:
    """Latest outcome per customer as 1 / 0 / NaN (not reached)."""
    last = inspections.sort_values("inspected_date", kind="stable").groupby("customer_id").tail(1)
    return pd.Series(last["outcome"].map(OUTCOME_LABEL).to_numpy(float), index=last["customer_id"].astype(str))


def training_rows(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.Series, pd.Timestamp]:
    """Features as of the first inspection date and labels (NaN = uninspected or not reached)."""
    from features.theft import build_theft_features

    inspections = tables["inspections"]
    as_of = pd.Timestamp(inspections["inspected_date"].min()).normalize()
    features = build_theft_features(tables["meter_reads"], tables.get("customers"), as_of=as_of)
    return features, labels_from_inspections(inspections).reindex(features.index), as_of


def fit_theft(tables: dict[str, pd.DataFrame], seed: int = 0) -> tuple[TheftRiskModel, pd.Timestamp, int]:
    """Fit on inspected customers with features as of the first inspection; returns (model, as_of, n labelled)."""
    features, y, as_of = training_rows(tables)
    model = TheftRiskModel(random_state=seed).fit(features, y.to_numpy())
    return model, as_of, model.n_labelled_


def _data_id(inspections: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(inspections, index=False).to_numpy().tobytes()).hexdigest()[:12]


def train_theft(
    data_dir: Path, training: TrainingSettings, *, tenant: str = "demo", promote: bool = True
) -> TheftTrainResult:
    """Train, log and register a theft model; move ``champion`` only if :func:`training.promotion.decide` says so."""
    tables, _ = load_tenant(data_dir, tables=TABLES)
    features, y, as_of = training_rows(tables)
    model = TheftRiskModel(random_state=training.seed).fit(features, y.to_numpy())
    model.as_of_, n = as_of, model.n_labelled_  # the training cut-off travels with the bundle (age rule)
    data_id = _data_id(tables["inspections"])
    reg = registry.open_registry(training, tenant)
    tags = {
        "as_of": str(as_of.date()),
        "feature_version": "theft-v1",
        "labels": "inspected-only (PU)",
        "data_id": data_id,
    }
    with reg.training_run(KIND, tags=tags, params={**model.params_, "labelled": n}):
        reg.log_metrics({"inner_auc": model.inner_auc_, "base_rate": model.base_rate_})
        uri = reg.log_model(
            KIND, model, pd.DataFrame(columns=model.feature_names_in_, dtype=float, index=[0]).fillna(0.0)
        )
    version = reg.register(KIND, uri, tags={"as_of": tags["as_of"], "data_id": data_id})
    challenger = Scored(version, "auc", model.inner_auc_, True, data_id, as_of)
    champion = _champion_score(reg, features, y, data_id)
    decision = decide(challenger, champion, has_champion=champion is not None)
    if promote:
        reg.promote_if_better(KIND, version, 1.0 if decision.promote else 0.0, None if decision.promote else 1.0)
        reg.set_version_tags(KIND, version, decision.tags())
        if decision.promote:  # the fallback bundle serving reads (models/<tenant>/theft/model.joblib)
            reg.export_bundle(KIND, model, version, meta={"as_of": str(as_of.date()), "auc": model.inner_auc_})
    logger.info("theft v%s: %s", version, decision.reason)
    return TheftTrainResult(model, as_of, n, version, decision.promote and promote, decision.reason)


def _champion_score(reg: registry.Registry, features: pd.DataFrame, y: pd.Series, data_id: str) -> Scored | None:
    """The champion re-scored on the challenger's labelled customers (same data id).

    The challenger's figure is out-of-fold (inner CV); the champion's is on rows it may have trained
    on, so the comparison leans towards keeping the champion: a retrain must clearly do better.
    """
    from training.evaluation import roc_auc

    if reg.champion_version(KIND) is None:
        return None
    bundle, version = reg.load_version(KIND, registry.CHAMPION)
    keep = y.notna().to_numpy()
    auc = roc_auc(y.to_numpy()[keep], bundle.predict_proba(features.loc[keep])[:, 1])
    return Scored(
        version, "auc", float(auc), True, data_id, pd.Timestamp(bundle.as_of_) if hasattr(bundle, "as_of_") else None
    )


def score_theft(
    data_dir: Path, model: TheftRiskModel, *, as_of=None, capacity: int = 10, tariff_per_kwh: float = 0.15
) -> InspectionList:
    """Load the tenant's reads and inspections and build today's inspection list."""
    tables, _ = load_tenant(data_dir, tables=TABLES)
    return build_inspection_list(
        model, tables["meter_reads"], tables.get("customers"), tables.get("inspections"),
        as_of=as_of, capacity=capacity, tariff_per_kwh=tariff_per_kwh,
    )  # fmt: skip


def injected_recall(listing: InspectionList, truth: pd.DataFrame, fraction: float = 0.05) -> dict[str, dict]:
    """Recall of injected thefts in the top `fraction` of the list, per injection type.

    ``all``: every injected customer; ``uninspected``: those whose label the model never saw.
    """
    k = top_k(len(listing.frame), fraction)
    top = set(listing.frame["customer_id"].head(k))
    seen = set(listing.inspections["customer_id"])
    out: dict[str, dict] = {}
    for kind, group in truth.groupby("injection"):
        ids, hidden = set(group["customer_id"]), set(group["customer_id"]) - seen
        out[str(kind)] = {
            "injected": len(ids),
            "recall_all": len(ids & top) / len(ids),
            "uninspected": len(hidden),
            "recall_uninspected": len(hidden & top) / len(hidden) if hidden else None,
        }
    return out


def past_list_hit_rate(previous: pd.DataFrame, inspections: pd.DataFrame, since=None) -> dict[str, float]:
    """How a past list did: of its in-capacity customers inspected on or after `since` (the list's day),
    the share with theft confirmed (``not_reached`` visits are not counted)."""
    listed = previous.loc[previous["in_capacity"], "customer_id"].astype(str)
    if since is not None:
        inspections = inspections.loc[pd.to_datetime(inspections["inspected_date"]) >= pd.Timestamp(since)]
    after = inspections.loc[
        inspections["customer_id"].astype(str).isin(listed) & (inspections["outcome"] != "not_reached")
    ]
    hits = int((after["outcome"] == "theft_confirmed").sum())
    return {"listed": len(listed), "inspected": len(after), "confirmed": hits,
            "hit_rate": hits / len(after) if len(after) else float("nan")}  # fmt: skip
