"""Forecast charts: forecast vs actual with the P10-P90 band, error by horizon, planner forecast (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

SIZE, DPI = (8, 3.2), 90


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_backtest(
    frame: pd.DataFrame,
    series_id: str,
    path: Path,
    *,
    model: str | None = None,
    last: int | None = None,
    horizon: int | None = None,
) -> Path:
    """Actuals vs P50 and P10-P90 of one series, at one horizon (default the shortest) over all origins."""
    f = frame[frame["series_id"] == series_id]
    model = model or f["model"].iloc[0]
    f = f[f["model"] == model]
    if horizon is None:
        # one forecast per target time: the latest origin's (day-ahead style panels), else horizon 1
        f = f.sort_values("origin").drop_duplicates("timestamp", keep="last")
    else:
        f = f[f["horizon"] == horizon]
    f = f.sort_values("timestamp")
    if last:
        f = f.tail(last)
    fig, ax = plt.subplots(figsize=SIZE)
    ax.fill_between(f["timestamp"], f["p10"], f["p90"], alpha=0.3, label="P10-P90")
    ax.plot(f["timestamp"], f["p50"], lw=1, label=f"{model} P50")
    ax.plot(f["timestamp"], f["y"], lw=1, color="k", label="actual")
    ax.set_title(f"{series_id}: forecast vs actual")
    ax.legend(loc="upper left", fontsize=7)
    return _save(fig, path)


def plot_error_by_horizon(by_horizon: pd.DataFrame, path: Path, *, metric: str = "mape") -> Path:
    """One line per model: `metric` against the horizon (frame from ``score(by=['model', 'horizon'])``)."""
    fig, ax = plt.subplots(figsize=SIZE)
    for model, g in by_horizon.groupby("model"):
        ax.plot(g["horizon"], g[metric], marker=".", lw=1, label=model)
    ax.set_xlabel("horizon (periods)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by horizon")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Planner chart: recent history (``timestamp``, ``y``) then the P50 and P10-P90 band."""
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(history["timestamp"], history["y"], lw=1, color="k", label="history")
    ax.fill_between(forecast["timestamp"], forecast["p10"], forecast["p90"], alpha=0.3, label="P10-P90")
    ax.plot(forecast["timestamp"], forecast["p50"], lw=1.2, label="P50")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    return _save(fig, path)
