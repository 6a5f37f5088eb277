"""``meterwise backtest``: the rolling-origin protocol on one series a user brings (CSV), and its report.

Protocol (the same code path as ``benchmarks/forecast_real.py``'s PJM figure):

* a forecast is issued every day at 00:00 over the last `days` days (hourly and quarter-hourly series;
  every period for daily series), for the next `horizon` periods, from data strictly before the issue time;
* the model (:func:`training.forecast_engine.series_engine`) is refitted every `refit_days` days on data
  before the issue time (fitting once per refit period, not per window: the fit never sees a later value);
  its members (target form and scale window, averaged) are chosen by validation inside the first training
  window; on small training sets each learner is averaged over a few seeds (``seeds_per_learner``);
* observed temperature, when the file has it, is read through the climatology known at the issue time;
* baselines: ``naive_1d`` (the same period one day before) and ``naive_7d`` (one week before).

Outputs ``DIR/backtest.json`` (``windows``, ``mape``, ``mae``, ``coverage_p10_p90``, ``mean_width_pct``,
``baselines.naive_1d.mape``, ``baselines.naive_7d.mape``, ...), ``DIR/forecasts.csv`` and charts.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.series import Panel
from training.backtest import rolling_origin, score
from training.baselines import SeasonalNaive
from training.forecast_engine import SEASONS, bag_seeds, series_engine

logger = logging.getLogger(__name__)
PER_DAY = {"H": 24, "Q": 96, "D": 1}


def issue_origins(panel: Panel, freq: str, horizon: int, days: int) -> np.ndarray:
    """Origins (last period known) of forecasts issued daily at 00:00 over the last `days` days.

    The origin of an issue at 00:00 is the period just before it; every target lies inside the data.
    """
    idx = panel.index
    last = panel.last_observed()
    pos = np.arange(len(idx) - 1)
    nxt = idx[1:]
    at_midnight = (nxt.hour == 0) & (nxt.minute == 0) if freq in {"H", "Q"} else np.ones(len(pos), bool)
    start = idx[last] - pd.Timedelta(days=days)
    keep = at_midnight & (idx[pos + 1] > start) & (pos + horizon <= last)
    return pos[keep]


def run_backtest(
    panel: Panel,
    freq: str,
    *,
    horizon: int = 24,
    days: int = 365,
    country: str | None = None,
    refit_days: int = 91,
    seed: int = 0,
    known: tuple[str, ...] = (),
    overrides: dict[str, Any] | None = None,
    every: int = 1,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rolling-origin backtest of the engine and the naive baselines; returns (forecasts, summary).

    `known` names panel columns that are forecasts or schedules available at the issue time (read at the
    target); every other panel column is an observation, read through the issue-time climatology.
    `every` > 1 keeps every `every`-th issue (a cheaper slice with the same first issue and members; the
    refits stay about `refit_days` days apart).
    """
    if every < 1:
        raise ValueError(f"every={every}; expected >= 1")
    if freq not in PER_DAY:
        raise ValueError(f"freq={freq!r}; meterwise backtest supports H, Q and D")
    t0 = time.perf_counter()
    origins = issue_origins(panel, freq, horizon, days)
    if len(origins) == 0:
        raise ValueError(f"no issue time leaves {horizon} periods inside the data; need more than {days} days")
    origins = origins[::every]
    exog = tuple(k for k in panel.exog if k not in known)
    phase = int(origins[0]) % SEASONS[freq] if freq in {"H", "Q"} else None
    engine, members = series_engine(
        panel, freq, horizon, end=int(origins[0]), country=country, known=known, seed=seed, issue_phase=phase,
        overrides=overrides,
    )  # fmt: skip
    per_day = PER_DAY[freq]
    models = {
        "lightgbm": engine,
        "naive_1d": lambda: SeasonalNaive(per_day, error_window=per_day * 28),
        "naive_7d": lambda: SeasonalNaive(7 * per_day, error_window=per_day * 28),
    }
    fc = rolling_origin(panel, origins, horizon=horizon, models=models, refit_every=max(refit_days // every, 1))
    table = score(fc, by=["model"]).set_index("model")
    ours = table.loc["lightgbm"]
    summary = {
        "windows": len(origins),
        "freq": freq,
        "horizon": horizon,
        "first_issue": str(panel.index[origins[0] + 1]),
        "last_issue": str(panel.index[origins[-1] + 1]),
        "mape": float(ours["mape"]),
        "mae": float(ours["mae"]),
        "smape": float(ours["smape"]),
        "coverage_p10_p90": float(ours["coverage_p10_p90"]),
        "mean_width_pct": float(ours["width_rel"] * 100),
        "baselines": {
            name: {"mape": float(table.loc[name, "mape"]), "mae": float(table.loc[name, "mae"])}
            for name in ("naive_1d", "naive_7d")
        },
        "weather": "climatology (known at the issue time)" if exog else ("issued" if known else "none"),
        "holidays": country or "none",
        "members": [f"{target} / scale {window}" for window, target in members],
        "seeds_per_learner": bag_seeds(freq, horizon, int(origins[0]) + 1),
        "refit_every_days": refit_days,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    logger.info("backtest: %s", summary)
    return fc, summary


def write_backtest(fc: pd.DataFrame, summary: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """``backtest.json``, ``forecasts.csv`` and two charts in `out_dir`."""
    from training.plots.forecast import plot_backtest, plot_error_by_horizon

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "backtest.json", "forecasts": out_dir / "forecasts.csv"}
    fc.to_csv(paths["forecasts"], index=False)
    sid = fc["series_id"].iloc[0]
    paths["chart"] = plot_backtest(fc, sid, out_dir / "forecast_vs_actual.png", model="lightgbm", last=24 * 14)
    by_h = score(fc, by=["model", "horizon"])
    paths["by_horizon"] = plot_error_by_horizon(by_h, out_dir / "error_by_horizon.png", metric="mape")
    charts = {"charts": {"forecast_vs_actual": paths["chart"].name, "error_by_horizon": paths["by_horizon"].name}}
    paths["json"].write_text(json.dumps({**summary, **charts}, indent=2))
    return paths
