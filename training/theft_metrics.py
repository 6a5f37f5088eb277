"""Figures of an inspection list: ranking quality, calibration, revenue recovered within a capacity (pure)."""

from __future__ import annotations

import numpy as np

from training.evaluation import calibration_error, lift_at, pr_auc, roc_auc


def top_k(n: int, fraction: float) -> int:
    """How many customers the top `fraction` of `n` holds (at least one)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}; expected 0 < fraction <= 1")
    return max(int(np.ceil(fraction * n)), 1)


def precision_at(y: np.ndarray, score: np.ndarray, fraction: float) -> float:
    """Share of confirmed thefts among the top `fraction` by `score` (ties by position)."""
    y = np.asarray(y, dtype=float)
    top = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")[: top_k(len(y), fraction)]
    return float(y[top].mean())


def ranking_metrics(y: np.ndarray, p: np.ndarray, *, calibrated: bool = True) -> dict[str, float]:
    """AUC, PR-AUC, precision and lift at the top 1 % and 5 %, and (if `calibrated`) calibration error."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    out = {
        "auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "precision_at_1pct": precision_at(y, p, 0.01),
        "precision_at_5pct": precision_at(y, p, 0.05),
        "lift_at_1pct": lift_at(y, p, 0.01),
        "lift_at_5pct": lift_at(y, p, 0.05),
        "base_rate": float(y.mean()),
        "n": int(y.size),
    }
    if calibrated:
        out["calibration_error"] = calibration_error(y, p, n_bins=10, strategy="quantile")
    return out


def recovered_at_capacity(y: np.ndarray, priority: np.ndarray, value: np.ndarray, capacity: int) -> dict[str, float]:
    """Revenue recovered when the `capacity` customers of highest `priority` are inspected.

    Parameters
    ----------
    y : array
        1 = theft confirmed on inspection.
    priority : array
        Inspection order (higher first); NaN goes last.
    value : array
        Revenue recovered from a confirmed theft (currency).
    capacity : int
        Inspections available.
    """
    y, value = np.asarray(y, dtype=float), np.asarray(value, dtype=float)
    prio = np.nan_to_num(np.asarray(priority, dtype=float), nan=-np.inf)
    top = np.argsort(-prio, kind="mergesort")[:capacity]
    return {
        "inspections": len(top),
        "hits": int(y[top].sum()),
        "hit_rate": float(y[top].mean()) if len(top) else float("nan"),
        "recovered": float((y[top] * value[top]).sum()),
    }
