"""Report plots for one arrears run: ROC, calibration curve, lift chart, grade distribution (PNG).

Matplotlib, on whatever backend the caller chose (the CLI picks Agg). :func:`write_arrears_report` draws all four into a
folder and returns the paths; the job logs the folder as MLflow artifacts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from training.evaluation import calibration_table, lift_table, roc_auc, roc_curve

logger = logging.getLogger(__name__)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc(y: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> Path:
    """ROC curves of several score vectors (``name -> p``) against the same outcomes."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, validation period")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_calibration(y: np.ndarray, curves: dict[str, np.ndarray], path: Path, *, n_bins: int = 10) -> Path:
    """Observed arrears rate against mean predicted probability per bin (equal-width bins)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in curves.items():
        t = calibration_table(y, p, n_bins=n_bins)
        ax.plot(t["mean_probability"], t["observed_rate"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed arrears rate", title="Calibration, validation period")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_lift(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """Lift per score decile (decile 1 = highest risk) with the overall rate as 1."""
    t = lift_table(y, p)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(t["group"], t["lift"], color="#4c72b0")
    ax.axhline(1.0, color="grey", linestyle=":")
    ax.set(xlabel="score decile (1 = highest risk)", ylabel="lift (rate / overall rate)", title="Lift chart")
    ax.set_xticks(t["group"])
    return _save(fig, path)


def plot_grades(grades: np.ndarray, order: list[str], path: Path, y: np.ndarray | None = None) -> Path:
    """Customers (or bills) per grade, with the observed arrears rate per grade when `y` is given."""
    counts = pd.Series(grades).value_counts().reindex(order, fill_value=0)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(order, counts.to_numpy(), color="#55a868")
    ax.set(xlabel="grade", ylabel="count", title="Grade distribution")
    if y is not None:
        rate = pd.Series(np.asarray(y, dtype=float)).groupby(np.asarray(grades)).mean().reindex(order)
        ax2 = ax.twinx()
        ax2.plot(order, rate.to_numpy(), color="#c44e52", marker="o")
        ax2.set_ylabel("observed arrears rate")
        ax2.set_ylim(0, 1)
    return _save(fig, path)


def write_arrears_report(
    folder: Path,
    y: np.ndarray,
    p: np.ndarray,
    grades: np.ndarray,
    grade_order: list[str],
    *,
    baseline: np.ndarray | None = None,
) -> list[Path]:
    """Draw the four report plots into `folder`; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    curves = {"lightgbm": p} if baseline is None else {"lightgbm": p, "logistic baseline": baseline}
    paths = [
        plot_roc(y, curves, folder / "roc.png"),
        plot_calibration(y, curves, folder / "calibration.png"),
        plot_lift(y, p, folder / "lift.png"),
        plot_grades(grades, grade_order, folder / "grades.png", y),
    ]
    logger.debug("arrears report: %s", [str(x) for x in paths])
    return paths
