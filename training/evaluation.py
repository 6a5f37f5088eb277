"""Classification metrics for the arrears model (pure numpy; no I/O, no plotting).

Every function takes ``y`` (0/1 outcomes, shape ``(n,)``) and ``p`` (predicted probability of the
positive class, shape ``(n,)``) and returns plain floats or small DataFrames that the report and the
registry log as they are.

- :func:`roc_auc`, :func:`pr_auc` (average precision), :func:`ks_statistic` (max TPR - FPR);
- :func:`brier_score`; :func:`calibration_error` (ECE: bin-weighted mean |mean p - observed rate|);
- :func:`lift_at` (observed rate in the top fraction by score / overall rate);
- :func:`classification_metrics` bundles them all under the names logged to MLflow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("roc_auc", "pr_auc", "ks", "brier", "calibration_error", "lift_top_decile", "base_rate", "n")


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y has {y.size} values and p has {p.size}; expected the same length")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"y holds values other than 0 and 1: {np.unique(y)[:5]}")
    if not np.isfinite(p).all():
        raise ValueError(f"p holds {int((~np.isfinite(p)).sum())} non-finite values; expected probabilities")
    return y, p


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold (descending), ties grouped.

    Returns
    -------
    fpr, tpr, thresholds : numpy.ndarray
        ``fpr[0] = tpr[0] = 0`` (threshold +inf) and ``fpr[-1] = tpr[-1] = 1``.
    """
    y, p = _check(y, p)
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ps)), ys.size - 1] if ys.size else np.array([], int)
    tp = np.cumsum(ys)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    pos, neg = max(tp[-1] if tp.size else 0.0, 1e-12), max(fp[-1] if fp.size else 0.0, 1e-12)
    return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos], np.r_[np.inf, ps[last_of_tie]]


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); NaN with a single class."""
    y, p = _check(y, p)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision: sum over thresholds of precision x recall increment."""
    y, p = _check(y, p)
    if y.sum() == 0:
        return float("nan")
    fpr, tpr, _ = roc_curve(y, p)
    n_pos, n_neg = y.sum(), y.size - y.sum()
    tp, fp = tpr[1:] * n_pos, fpr[1:] * n_neg
    precision = tp / np.maximum(tp + fp, 1e-12)
    return float(np.sum(np.diff(tpr) * precision))


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation: max over thresholds of TPR - FPR (0 = none, 1 = perfect)."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities (lower is better)."""
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def calibration_table(y: np.ndarray, p: np.ndarray, *, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Per bin: ``n``, ``mean_probability``, ``observed_rate`` (empty bins left out).

    ``strategy="uniform"`` cuts [0, 1] into equal-width bins; ``"quantile"`` into equal-count bins.
    """
    y, p = _check(y, p)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    else:
        raise ValueError(f"strategy={strategy!r}; expected 'uniform' or 'quantile'")
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    n = np.bincount(idx, minlength=len(edges) - 1)
    sum_p = np.bincount(idx, weights=p, minlength=len(edges) - 1)
    sum_y = np.bincount(idx, weights=y, minlength=len(edges) - 1)
    keep = n > 0
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1][keep],
            "bin_upper": edges[1:][keep],
            "n": n[keep],
            "mean_probability": sum_p[keep] / n[keep],
            "observed_rate": sum_y[keep] / n[keep],
        }
    )


def calibration_error(y: np.ndarray, p: np.ndarray, *, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error: bin-size-weighted mean of |mean probability - observed rate|."""
    table = calibration_table(y, p, n_bins=n_bins, strategy=strategy)
    if table.empty:
        return float("nan")
    gap = (table["mean_probability"] - table["observed_rate"]).abs()
    return float(np.average(gap, weights=table["n"]))


def lift_table(y: np.ndarray, p: np.ndarray, *, n_groups: int = 10) -> pd.DataFrame:
    """Observed rate and lift per score group, highest scores first (group 1 = top decile).

    Rows are ranked by ``p`` (ties broken by position) and cut into `n_groups` nearly equal groups.
    """
    y, p = _check(y, p)
    order = np.argsort(-p, kind="mergesort")
    group = (np.arange(y.size) * n_groups) // max(y.size, 1)
    n = np.bincount(group, minlength=n_groups)
    hits = np.bincount(group, weights=y[order], minlength=n_groups)
    base = y.mean() if y.size else float("nan")
    rate = np.divide(hits, n, out=np.full(n_groups, np.nan), where=n > 0)
    return pd.DataFrame(
        {
            "group": np.arange(1, n_groups + 1),
            "n": n,
            "observed_rate": rate,
            "lift": rate / base if base > 0 else np.nan,
            "cumulative_capture": np.cumsum(hits) / max(hits.sum(), 1e-12),
        }
    )


def lift_at(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float:
    """Observed rate among the top `fraction` of scores divided by the overall rate."""
    y, p = _check(y, p)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}; expected 0 < fraction <= 1")
    base = y.mean() if y.size else 0.0
    if base == 0:
        return float("nan")
    k = max(int(np.ceil(fraction * y.size)), 1)
    top = np.argsort(-p, kind="mergesort")[:k]
    return float(y[top].mean() / base)


def classification_metrics(y: np.ndarray, p: np.ndarray, *, prefix: str = "") -> dict[str, float]:
    """All headline metrics, keyed by :data:`METRICS` (with `prefix`), as plain floats."""
    y, p = _check(y, p)
    out = {
        "roc_auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "ks": ks_statistic(y, p),
        "brier": brier_score(y, p),
        "calibration_error": calibration_error(y, p),
        "lift_top_decile": lift_at(y, p, 0.1),
        "base_rate": float(y.mean()) if y.size else float("nan"),
        "n": float(y.size),
    }
    return {f"{prefix}{k}": v for k, v in out.items()}
