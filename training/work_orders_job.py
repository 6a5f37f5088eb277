"""Train, score and promote the work-order classifier of one tenant (all I/O here; the logic is pure elsewhere).

Promotion: the newest ``test_share`` of the tenant's labelled orders (by ``created_at``) are held out; the
challenger is fitted on the older ones, and the challenger, the current champion and the TF-IDF + LinearSVC
baseline are all scored (macro-F1) on those same held-out orders; :func:`training.promotion.decide` rules.
The registered version is then refitted on every labelled order with the same configuration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from features.io import frame_hash, load_tenant
from features.settings import DataSettings
from features.work_orders_text import TextConfig
from training.promotion import DEFAULT_MARGIN, Scored, decide
from training.registry import open_registry
from training.settings import TrainingSettings
from training.work_orders import BaselineClassifier, ComplaintClassifier

logger = logging.getLogger(__name__)

KIND = "work-orders"
METRIC = "macro_f1"
USER_DICT_FILE = "work_orders_userdict.txt"
STOP_WORDS_FILE = "work_orders_stopwords.txt"


@dataclass(frozen=True)
class WorkOrdersTrainResult:
    version: str
    promoted: bool
    reason: str
    macro_f1: float
    baseline_macro_f1: float
    champion_macro_f1: float | None


def tenant_text_config(data_dir: Path) -> TextConfig:
    """The tenant's tokenisation: ``work_orders_userdict.txt`` / ``work_orders_stopwords.txt`` in its folder."""
    user_dict, stop = Path(data_dir) / USER_DICT_FILE, Path(data_dir) / STOP_WORDS_FILE
    return TextConfig(
        user_dict=user_dict if user_dict.exists() else None, stop_words_file=stop if stop.exists() else None
    )


def load_orders(data: DataSettings) -> pd.DataFrame:
    """The tenant's validated work orders (customers loaded too, for the reference check)."""
    tables, _ = load_tenant(data.data_dir, tables=("customers", "work_orders"))
    if "work_orders" not in tables:
        raise FileNotFoundError(f"{data.data_dir}: no work_orders file (work_orders.parquet or .csv)")
    return tables["work_orders"]


def holdout_split(labelled: pd.DataFrame, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oldest orders to train on, the newest `test_share` to score (a time split, never shuffled)."""
    ordered = labelled.sort_values(["created_at", "order_id"], kind="stable").reset_index(drop=True)
    cut = round(len(ordered) * (1 - test_share))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def _macro_f1(y_true, y_pred) -> float:
    return float(f1_score(np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str), average="macro"))


def train_work_orders(
    data: DataSettings,
    training: TrainingSettings,
    *,
    promote: bool = True,
    force: bool = False,
    test_share: float = 0.2,
    margin: float = DEFAULT_MARGIN,
) -> WorkOrdersTrainResult:
    """Fit, score against champion and baseline on the same held-out orders, register, maybe promote."""
    orders = load_orders(data)
    labelled = orders[orders["category"].notna()]
    train, test = holdout_split(labelled, test_share)
    config = tenant_text_config(data.data_dir)
    model = ComplaintClassifier(text_config=config, random_state=training.seed)
    docs_train, docs_test = model.tokenize(train["text"]), model.tokenize(test["text"])
    model.fit_tokens(docs_train, train["category"])
    as_of = pd.Timestamp(test["created_at"].min())
    data_id = frame_hash(test[["order_id", "category"]])
    score = _macro_f1(test["category"], model.predict_tokens(docs_test))
    base = BaselineClassifier().fit_tokens(docs_train, train["category"])
    base_score = _macro_f1(test["category"], base.predict_tokens(docs_test))
    challenger = Scored(None, METRIC, score, True, data_id, as_of)
    baseline = Scored("baseline", METRIC, base_score, True, data_id)
    registry = open_registry(training, data.tenant)
    champion_version = registry.champion_version(KIND)
    champion = None
    if champion_version is not None:
        bundle, _ = registry.load_version(KIND, champion_version)
        champ_pred = bundle.predict_tokens(bundle.tokenize(test["text"]))
        champion = Scored(champion_version, METRIC, _macro_f1(test["category"], champ_pred), True, data_id)
    decision = decide(challenger, champion, margin=margin, baseline=baseline, force=force,
                      has_champion=champion_version is not None)  # fmt: skip
    final = ComplaintClassifier(text_config=config, random_state=training.seed).fit(
        labelled["text"], labelled["category"]
    )
    tags = {"tenant": data.tenant, "as_of": str(as_of.date()), "feature_version": "1"}
    params = {"C": final.C_, "categories": len(final.classes_), "orders": len(labelled), "test_share": test_share}
    metrics = {f"heldout_{METRIC}": score, f"baseline_{METRIC}": base_score, "heldout_orders": float(len(test))}
    with registry.training_run(KIND, tags=tags, params=params):
        registry.log_metrics(metrics)
        uri = registry.log_model(KIND, final, labelled[["text"]].head(5).reset_index(drop=True))
    version = registry.register(KIND, uri, tags=decision.tags())
    promoted = bool(promote and decision.promote)
    if promoted:
        registry.promote_if_better(KIND, version, score, None, force=True)  # decide() already ruled
        registry.export_bundle(KIND, final, version, meta={METRIC: score})
    champion_score = champion.value if champion else None
    logger.info(
        "work-orders v%s: macro-F1 %.4f (baseline %.4f, champion %s) -> %s: %s",
        version, score, base_score, champion_score, "champion" if promoted else "challenger", decision.reason,
    )  # fmt: skip
    return WorkOrdersTrainResult(version, promoted, decision.reason, score, base_score, champion_score)
