"""Evaluate the work-order classifier on any labelled corpus: stratified CV and, with dates, a time split.

Both the :class:`~training.work_orders.ComplaintClassifier` and the bar to beat
(:class:`~training.work_orders.BaselineClassifier`, word TF-IDF + LinearSVC) are fitted and scored on the
*same* folds of the *same* tokens. Every choice of the classifier (its C) is made by an inner CV inside each
training fold, so nothing is tuned on the held-out orders and nothing is chosen per data set.

Invariants
----------
- The time split trains on orders created before the cut and scores the orders created on or after it.
- Tokenisation depends on each text alone (see :mod:`features.work_orders_text`), so the corpus is tokenised
  once before splitting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold

from training.work_orders import BaselineClassifier, ComplaintClassifier

logger = logging.getLogger(__name__)


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def _fit_both(model_factory, docs, y, train, test) -> tuple[dict, np.ndarray]:
    tr_docs, te_docs = [docs[i] for i in train], [docs[i] for i in test]
    t0 = time.perf_counter()
    model = model_factory().fit_tokens(tr_docs, y[train])
    pred = model.predict_tokens(te_docs)
    fit_s = time.perf_counter() - t0
    base = BaselineClassifier().fit_tokens(tr_docs, y[train]).predict_tokens(te_docs)
    ours, theirs = _scores(y[test], pred), _scores(y[test], base)
    row = {
        "n_train": len(train), "n_test": len(test), **ours,
        "baseline_macro_f1": theirs["macro_f1"], "baseline_accuracy": theirs["accuracy"],
        "C": getattr(model, "C_", None), "fit_predict_s": round(fit_s, 2),
    }  # fmt: skip
    return row, pred


def evaluate_corpus(
    texts: pd.Series,
    labels: pd.Series,
    created_at: pd.Series | None = None,
    *,
    folds: int = 5,
    test_share: float = 0.2,
    random_state: int = 0,
    model_factory: Callable[[], ComplaintClassifier] | None = None,
) -> dict:
    """Cross-validated (and, with `created_at`, time-split) scores of the classifier and the baseline.

    Parameters
    ----------
    texts, labels : pandas.Series
        One labelled order per row.
    created_at : pandas.Series, optional
        Creation time per order; enables the time split (rows with no date are left out of it).
    folds : int
        Outer stratified folds (at most the largest category's count). Categories with a single order are left
        out (listed in ``categories_left_out``); rarer categories than `folds` miss some test folds.
    test_share : float
        Share of the most recent orders held out by the time split.
    model_factory : callable, optional
        Builds an unfitted classifier (default :class:`ComplaintClassifier` with ``random_state``).

    Returns
    -------
    dict
        ``macro_f1``, ``accuracy`` (means over folds), ``folds`` (per-fold scores with the baseline's),
        ``baseline`` (its mean scores), ``labels`` and ``confusion_matrix`` (rows true, columns predicted,
        summed over folds), ``beats_baseline``, ``n_orders``, and ``time_split`` when dates were given.
    """
    factory = model_factory or (lambda: ComplaintClassifier(random_state=random_state))
    texts, y, created_at, dropped = _drop_singletons(texts, labels, created_at)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"need >= 2 categories with >= 2 orders each to evaluate; got {len(classes)} (and {dropped})")
    k = min(folds, int(np.bincount(np.unique(y, return_inverse=True)[1]).max()))
    t0 = time.perf_counter()
    docs = factory().tokenize(texts)
    logger.info("tokenised %d orders in %.1f s", len(docs), time.perf_counter() - t0)
    cv = StratifiedKFold(k, shuffle=True, random_state=random_state)
    rows, confusion = [], np.zeros((len(classes), len(classes)), dtype=np.int64)
    for i, (train, test) in enumerate(cv.split(np.zeros(len(y)), y)):
        row, pred = _fit_both(factory, docs, y, train, test)
        rows.append({"fold": i, **row})
        confusion += confusion_matrix(y[test], pred, labels=classes)
        logger.info("fold %d: macro-F1 %.4f (baseline %.4f)", i, row["macro_f1"], row["baseline_macro_f1"])
    frame = pd.DataFrame(rows)
    out = {
        "n_orders": len(y),
        "categories_left_out": dropped,
        "n_categories": len(classes),
        "macro_f1": float(frame["macro_f1"].mean()),
        "macro_f1_std": float(frame["macro_f1"].std(ddof=1)),
        "accuracy": float(frame["accuracy"].mean()),
        "baseline": {
            "name": "word TF-IDF + LinearSVC (C=1), same tokens and folds",
            "macro_f1": float(frame["baseline_macro_f1"].mean()),
            "accuracy": float(frame["baseline_accuracy"].mean()),
        },
        "folds": rows,
        "labels": classes.tolist(),
        "confusion_matrix": confusion.tolist(),
    }
    out["beats_baseline"] = out["macro_f1"] > out["baseline"]["macro_f1"]
    if created_at is not None:
        out["time_split"] = time_split(docs, y, pd.Series(created_at), factory, test_share=test_share)
    return out


def _drop_singletons(texts, labels, created_at) -> tuple[pd.Series, np.ndarray, pd.Series | None, dict]:
    """Leave out categories with a single order (no fold could both train and test on them)."""
    y = pd.Series(labels).astype(str).reset_index(drop=True)
    counts = y.value_counts()
    rare = counts[counts < 2]
    keep = ~y.isin(rare.index).to_numpy()
    if len(rare):
        logger.warning("left out %d categories with a single order: %s", len(rare), list(rare.index)[:10])
    when = None if created_at is None else pd.Series(created_at).reset_index(drop=True)[keep].reset_index(drop=True)
    texts = pd.Series(texts).reset_index(drop=True)[keep].reset_index(drop=True)
    return texts, y[keep].to_numpy(), when, {str(k): int(v) for k, v in rare.items()}


def time_split(docs: list[str], y: np.ndarray, created_at: pd.Series, factory, *, test_share: float = 0.2) -> dict:
    """Train on the oldest orders, score the newest `test_share` (by ``created_at``)."""
    when = pd.to_datetime(created_at.reset_index(drop=True), utc=True)
    dated = np.flatnonzero(when.notna().to_numpy())
    order = dated[np.argsort(when.iloc[dated].to_numpy(), kind="stable")]
    cut_pos = round(len(order) * (1 - test_share))
    if cut_pos < 10 or len(order) - cut_pos < 5:
        return {"skipped": f"too few dated orders ({len(order)})"}
    cut = when.iloc[order[cut_pos]]
    train = order[when.iloc[order].to_numpy() < cut]
    test = order[when.iloc[order].to_numpy() >= cut]
    if len(np.unique(y[train])) < 2:
        return {"skipped": "fewer than 2 categories before the cut"}
    row, _ = _fit_both(factory, docs, y, train, test)
    unseen = sorted(set(y[test]) - set(y[train]))
    return {"cut": cut.isoformat(), **row, "categories_unseen_in_training": unseen}
