"""How good and how stable a segmentation is (pure): held-out customers, fixed-space scores, OOB bootstrap.

- :func:`heldout_customers`: a stable hash of ``customer_id`` picks the held-out share, so the same
  customers are held out by every retrain of a tenant (a champion never trained on a challenger's
  held-out customers when both follow the rule).
- :func:`evaluate_segments`: silhouette and Davies-Bouldin of a model's segments on some customers,
  measured in one *fixed* feature space (``space``: a fitted segmenter whose scaling, learned on its
  training customers, is used for every model compared), plus sizes.
- :func:`bootstrap_stability`: a real bootstrap -- customers resampled with replacement, the model
  refitted (k fixed), and the refit's segments compared (ARI) with the model's on the out-of-bag
  customers only; :func:`spread` summarises the runs (mean, p10, p90).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score

if TYPE_CHECKING:
    from training.segmentation import LoadShapeSegmenter

logger = logging.getLogger(__name__)
HASH_BUCKETS = 10_000


def _frame(X: pd.DataFrame) -> pd.DataFrame:
    if "customer_id" in X.columns:
        X = X.set_index(X["customer_id"].astype(str)).drop(columns="customer_id")
    return X


def heldout_customers(ids: pd.Index | pd.Series, frac: float, *, min_count: int = 0) -> np.ndarray:
    """Boolean mask: True for the ~`frac` share of `ids` held out (stable: depends on each id only).

    With `min_count`, a small population holds out at least that many ids (those with the lowest hash
    buckets), so a held-out score is computed on enough customers to mean something.
    """
    if not 0 <= frac < 1:
        raise ValueError(f"frac={frac}; expected in [0, 1)")
    h = pd.util.hash_pandas_object(pd.Series(np.asarray(ids, dtype=str)), index=False).to_numpy() % HASH_BUCKETS
    held = h < frac * HASH_BUCKETS
    if held.sum() < min_count:
        held = np.zeros(len(h), dtype=bool)
        held[np.argsort(h, kind="stable")[:min_count]] = True
    return held


def evaluate_segments(
    model: LoadShapeSegmenter,
    X: pd.DataFrame,
    *,
    space: LoadShapeSegmenter | None = None,
    sample: int = 10_000,
    random_state: int = 0,
) -> dict:
    """Silhouette and Davies-Bouldin of `model`'s segments on X, measured in `space`'s scaled features.

    Parameters
    ----------
    model : LoadShapeSegmenter
        Assigns the segments (in its own space).
    X : DataFrame
        Shape features of the customers to judge on, indexed (or keyed) by ``customer_id``.
    space : LoadShapeSegmenter, optional
        Whose scaling defines the distances (default: `model`). Two models judged with the same `space`
        on the same X are compared like with like.
    """
    X = _frame(X)
    space = space or model
    pred = model.predict_frame(X)
    cols = list(space.feature_names_in_)
    ok = (pred["segment_id"].to_numpy() >= 0) & X[cols].notna().all(axis=1).to_numpy()
    Z = space._transform(X.loc[ok, cols].to_numpy(dtype=float))
    labels = pred["segment_id"].to_numpy()[ok]
    two = 1 < len(np.unique(labels)) < len(labels)
    sil = (
        float(silhouette_score(Z, labels, sample_size=min(sample, len(Z)), random_state=random_state))
        if two
        else float("nan")
    )
    return {
        "silhouette": sil,
        "davies_bouldin": float(davies_bouldin_score(Z, labels)) if two else float("nan"),
        "n_clusters": int(model.n_clusters_),
        "customers": int(ok.sum()),
        "insufficient": int((~ok).sum()),
        "sizes": pred.loc[ok, "segment_name"].value_counts().reindex(model.segment_names_, fill_value=0).to_dict(),
    }


def bootstrap_stability(
    model: LoadShapeSegmenter, X: pd.DataFrame, *, n_boot: int = 5, random_state: int = 0
) -> list[float]:
    """Out-of-bag ARI of `n_boot` bootstrap refits against `model`, one value per refit.

    Each run draws as many customers as X has sufficient ones, *with replacement*, refits a clone of
    `model` on that sample (``n_clusters_`` fixed: stability of the partition, not of the choice of k;
    a different seed each run), and compares its segments with `model`'s on the customers that were
    not drawn (about 37 %), so no customer is judged by a fit that saw it.
    """
    X = _frame(X)
    base = model.predict(X)
    idx = np.flatnonzero(base >= 0)
    rng = np.random.default_rng(random_state)
    k = model.n_clusters_
    scores = []
    for b in range(n_boot):
        draw = rng.choice(idx, size=idx.size, replace=True)
        oob = np.setdiff1d(idx, draw)
        if oob.size < 2:
            continue
        refit = clone(model).set_params(k_range=(k, k), random_state=model.random_state + b + 1)
        refit.fit(X.iloc[np.sort(draw)])
        scores.append(float(adjusted_rand_score(base[oob], refit.predict(X.iloc[oob]))))
    logger.info("bootstrap (out-of-bag) stability ARI: %s", [round(s, 3) for s in scores])
    return scores


def spread(values: list[float]) -> dict[str, float]:
    """``mean``, ``p10``, ``p90`` (and ``min``, ``n``) of bootstrap runs; NaNs when there are none."""
    a = np.asarray(values, dtype=float)
    if not a.size:
        return {"mean": float("nan"), "p10": float("nan"), "p90": float("nan"), "min": float("nan"), "n": 0.0}
    return {
        "mean": float(a.mean()),
        "p10": float(np.quantile(a, 0.1)),
        "p90": float(np.quantile(a, 0.9)),
        "min": float(a.min()),
        "n": float(a.size),
    }
