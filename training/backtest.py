"""Rolling-origin backtests and forecast metrics (pure).

A backtest issues forecasts at a list of origins; at each origin the model sees only periods up to the
origin (the models' feature invariants) and is refitted every `refit_every` origins on targets up to
the origin. Metrics are computed on the long frame of forecasts joined with actuals:

* MAPE and sMAPE in percent (rows with |y| below ``1e-9`` are left out of MAPE);
* MASE: MAE divided by the in-sample MAE of the seasonal naive (season ``m``) on the history before the
  first origin, per series;
* pinball loss averaged over P10/P50/P90, divided by the mean |y| (scale-free);
* coverage of the P10-P90 interval (nominal 80 %) and its mean width relative to mean |y|.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.series import Panel

logger = logging.getLogger(__name__)
QUANTILE_COLS = {"p10": 0.1, "p50": 0.5, "p90": 0.9}


def attach_actuals(forecasts: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """Add column ``y`` (actual value at ``timestamp``) to a forecast frame."""
    row = pd.Index(panel.series["series_id"]).get_indexer(forecasts["series_id"])
    col = panel.index.get_indexer(forecasts["timestamp"])
    y = np.where(col >= 0, panel.y[row, np.clip(col, 0, None)], np.nan)
    return forecasts.assign(y=y)


def naive_scale(panel: Panel, end: int, season: int) -> pd.Series:
    """In-sample MAE of the seasonal naive over periods ``season .. end`` per series (the MASE scale)."""
    y = panel.y[:, : end + 1]
    err = np.abs(y[:, season:] - y[:, :-season]) if y.shape[1] > season else np.full((len(y), 1), np.nan)
    with np.errstate(all="ignore"):
        scale = np.nanmean(err, axis=1)
    return pd.Series(scale, index=panel.series["series_id"], name="naive_mae")


def pinball(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    d = y - q
    return np.maximum(tau * d, (tau - 1) * d)


def score(frame: pd.DataFrame, *, by: list[str] | None = None, scale: pd.Series | None = None) -> pd.DataFrame:
    """Metrics per group of `by` columns (overall when None) for a frame with ``y``, ``p10/p50/p90``.

    Returns one row per group: ``n``, ``mae``, ``mape``, ``smape``, ``mase`` (when `scale` is given),
    ``pinball`` (relative), ``coverage_p10_p90``, ``width_rel``.
    """
    f = frame.dropna(subset=["y", "p50"]).copy()
    abs_err = np.abs(f["y"] - f["p50"])
    f["_ae"] = abs_err
    nz = np.abs(f["y"]) > 1e-9
    f["_ape"] = np.where(nz, abs_err / np.abs(f["y"]).where(nz, 1.0), np.nan) * 100
    denom = (np.abs(f["y"]) + np.abs(f["p50"])) / 2
    f["_sape"] = np.where(denom > 0, abs_err / denom.where(denom > 0, 1.0), 0.0) * 100
    f["_pin"] = sum(pinball(f["y"].to_numpy(), f[c].to_numpy(), t) for c, t in QUANTILE_COLS.items()) / 3
    f["_cov"] = ((f["y"] >= f["p10"]) & (f["y"] <= f["p90"])).astype(float)
    f["_w"] = f["p90"] - f["p10"]
    f["_absy"] = np.abs(f["y"])
    f["_sae"] = abs_err / f["series_id"].map(scale) if scale is not None else np.nan
    keys = by or []
    g = f.groupby(keys, sort=True) if keys else f.assign(_all=0).groupby("_all")
    out = g.agg(
        n=("_ae", "size"),
        mae=("_ae", "mean"),
        mape=("_ape", "mean"),
        smape=("_sape", "mean"),
        mase=("_sae", "mean"),
        pin=("_pin", "mean"),
        coverage_p10_p90=("_cov", "mean"),
        width=("_w", "mean"),
        absy=("_absy", "mean"),
    )
    out["pinball"] = out.pop("pin") / out["absy"]
    out["width_rel"] = out.pop("width") / out.pop("absy")
    out = out.reset_index()
    return out.drop(columns="_all") if not keys else out


def horizon_bucket(h: pd.Series, edges: tuple[int, ...]) -> pd.Series:
    """Label horizons by bucket, e.g. edges (1, 7, 28) -> '1', '2-7', '8-28'."""
    labels, lo = [], 1
    for e in edges:
        labels.append(str(e) if e == lo else f"{lo}-{e}")
        lo = e + 1
    return pd.cut(h, bins=[0, *edges], labels=labels).astype(str)


def rolling_origin(
    panel: Panel,
    origins: np.ndarray,
    *,
    horizon: int,
    models: dict[str, Callable[[], object]],
    refit_every: int = 1,
) -> pd.DataFrame:
    """Forecast at each origin with every model; returns the long frame plus ``model`` and ``y``.

    `models` maps a name to a factory; an object with ``fit(panel, end=...)`` is refitted on targets
    up to the origin every `refit_every` origins, one without ``fit`` (a baseline) forecasts from the
    history alone. Origins must leave `horizon` periods inside the panel.
    """
    origins = np.sort(np.asarray(origins, dtype=np.int64))
    if origins.max() + horizon >= len(panel.index):
        raise ValueError(
            f"origin {int(origins.max())} + horizon {horizon} is past the panel end {len(panel.index) - 1}"
        )
    parts = []
    step = max(int(refit_every), 1)
    for name, factory in models.items():
        probe = factory()
        if not hasattr(probe, "fit"):
            parts.append(probe.predict(panel, origins, horizon=horizon).assign(model=name))
            continue
        for i in range(0, len(origins), step):
            block = origins[i : i + step]
            model = probe if i == 0 else factory()
            model.fit(panel, end=int(block[0]))
            logger.info("backtest %s refitted at %s", name, panel.index[block[0]])
            parts.append(model.predict(panel, block, horizon=horizon).assign(model=name))
    return attach_actuals(pd.concat(parts, ignore_index=True), panel)
