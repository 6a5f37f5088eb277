"""Score what is served: candidate backtests, the served method per level, reconciled and calibrated (pure).

For one frequency of a tenant's hierarchy (series in kWh per meter, ``n_meters`` in ``panel.exog``):

1. every candidate (global LightGBM, seasonal naive, and ETS on the total and region series) forecasts
   at the backtest origins from data before each origin (:func:`candidate_backtest`);
2. per level, the candidate with the lowest mean MASE is chosen (:func:`choose_methods`);
3. the chosen base forecasts are converted to kWh with the meter count known at the origin and
   reconciled (a projection onto coherent forecasts, :mod:`training.reconcile`); P10/P90 come from
   split-conformal quantiles of the *reconciled* relative residuals per level and horizon bucket
   (:func:`interval_table`), calibrated on the earlier half of the origins and scored on the later half
   (held-out coverage), then recalibrated on all origins for serving;
4. a level whose reconciled P50 loses to its own seasonal naive is served the seasonal naive instead
   (and flagged as not coherent): a method that loses to the baseline is never served.

The backtest score is therefore the score of exactly what the API returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.series import Panel
from training.backtest import horizon_bucket, naive_scale, rolling_origin, score
from training.baselines import ETSBaseline, SeasonalNaive
from training.forecast_engine import SEASONS
from training.reconcile import projection

logger = logging.getLogger(__name__)
ETS_LEVELS = ("total", "region")
BUCKETS = {"H": (1, 6, 24, 48), "D": (1, 7, 14, 28), "M": (1, 3)}


@dataclass
class Selection:
    """The outcome for one frequency: served method per level and every candidate's scores."""

    picks: dict[str, str]
    candidates: pd.DataFrame  # model, level, mase, mape, coverage_p10_p90, width_rel
    served: pd.DataFrame  # level, mape, mase, coverage_p10_p90 (held-out), mean_width_pct
    quantiles: pd.DataFrame  # level, bucket, lo, hi (relative to |p50|)
    coherent: bool = True
    fallbacks: list[str] = field(default_factory=list)


def candidate_backtest(panel: Panel, freq: str, origins: np.ndarray, horizon: int, make_lgbm) -> pd.DataFrame:
    """Every candidate's base forecasts (kWh per meter) at `origins`, with actuals, ``model`` and ``level``."""
    levels = panel.series["level"].to_numpy()
    models = {
        "lightgbm": make_lgbm,
        "seasonal_naive": lambda: SeasonalNaive(SEASONS[freq], error_window=max(8 * SEASONS[freq], 60)),
    }
    ets_rows = np.flatnonzero(np.isin(levels, ETS_LEVELS))
    if freq in {"D", "M"} and len(ets_rows):
        models["ets"] = lambda: ETSBaseline(SEASONS[freq], max_history=365, rows=ets_rows)
    fc = rolling_origin(panel, origins, horizon=horizon, models=models, refit_every=len(origins))
    return fc.merge(panel.series[["series_id", "level"]], on="series_id")


def choose_methods(fc: pd.DataFrame, panel: Panel, freq: str, origin0: int) -> tuple[dict[str, str], pd.DataFrame]:
    """Per level, the candidate with the lowest mean MASE among those covering every series of it."""
    scale = naive_scale(panel, origin0, SEASONS[freq])
    table = score(fc, by=["model", "level"], scale=scale)
    n_series = panel.series.groupby("level").size()
    covered = fc.groupby(["model", "level"])["series_id"].nunique()
    picks = {}
    for level, g in table.groupby("level"):
        full = [m for m in g["model"] if covered.get((m, level), 0) == n_series[level]]
        g = g[g["model"].isin(full)].sort_values(["mase", "model"])
        picks[str(level)] = str(g["model"].iloc[0]) if len(g) else "seasonal_naive"
    return picks, table


def compose(fc: pd.DataFrame, picks: dict[str, str]) -> pd.DataFrame:
    """The chosen method's rows for each level."""
    chosen = fc["level"].map(picks)
    return fc[fc["model"] == chosen].reset_index(drop=True)


def to_kwh(frame: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """Per-meter forecasts -> kWh with the meter count at the origin; actuals with the count at the target."""
    meters = panel.exog.get("n_meters")
    row = pd.Index(panel.series["series_id"]).get_indexer(frame["series_id"])
    if meters is None:
        m_o = m_t = panel.series["n_meters"].to_numpy()[row]
    else:
        o = panel.index.get_indexer(frame["origin"])
        t = panel.index.get_indexer(frame["timestamp"])
        m_o = np.nan_to_num(meters[row, o])
        m_t = np.where(t >= 0, meters[row, np.clip(t, 0, None)], np.nan)
    out = frame.assign(**{c: frame[c] * m_o for c in ("p10", "p50", "p90")})
    return out.assign(y=frame["y"] * m_t) if "y" in frame else out


def reconcile_p50(frame: pd.DataFrame, P: np.ndarray, ids: list[str]) -> pd.DataFrame:
    """Apply the projection to the P50 of every (origin, timestamp) cross-section of `ids`."""
    f = frame[frame["series_id"].isin(ids)]
    wide = f.pivot_table(index="series_id", columns=["origin", "timestamp"], values="p50").reindex(ids)
    if wide.isna().to_numpy().any():
        raise ValueError("reconcile: some series lack a base forecast at some (origin, timestamp)")
    rec = pd.DataFrame(P @ wide.to_numpy(), index=wide.index, columns=wide.columns)
    long = rec.stack(["origin", "timestamp"], future_stack=True).rename("p50_rec").reset_index()
    out = f.merge(long, on=["series_id", "origin", "timestamp"], how="left")
    return out.assign(p50=out.pop("p50_rec"))


def interval_table(frame: pd.DataFrame, freq: str, quantiles: tuple[float, float] = (0.1, 0.9)) -> pd.DataFrame:
    """Per level and horizon bucket, quantiles of the relative residual ``(y - p50) / |p50|``."""
    f = frame.dropna(subset=["y"]).copy()
    f = f[np.abs(f["p50"]) > 1e-9]
    f["rel"] = (f["y"] - f["p50"]) / np.abs(f["p50"])
    f["bucket"] = horizon_bucket(f["horizon"], _edges(freq, int(f["horizon"].max())))
    g = f.groupby(["level", "bucket"])["rel"]
    out = pd.DataFrame({"lo": g.quantile(quantiles[0]), "hi": g.quantile(quantiles[1])}).reset_index()
    out["lo"], out["hi"] = np.minimum(out["lo"], 0.0), np.maximum(out["hi"], 0.0)
    return out


def _edges(freq: str, horizon: int) -> tuple[int, ...]:
    return tuple(sorted({e for e in BUCKETS[freq] if e < horizon} | {horizon}))


def apply_intervals(frame: pd.DataFrame, table: pd.DataFrame, freq: str, backtest_horizon: int) -> pd.DataFrame:
    """P10/P90 = P50 * (1 + q); horizons past the backtest's widen as sqrt(h / backtest horizon)."""
    edges = _edges(freq, backtest_horizon)
    h = frame["horizon"].clip(upper=backtest_horizon)
    bucket = horizon_bucket(h, edges)
    q = frame[["level"]].assign(bucket=bucket.to_numpy()).merge(table, on=["level", "bucket"], how="left")
    grow = np.sqrt(np.maximum(frame["horizon"].to_numpy() / backtest_horizon, 1.0))
    lo, hi = q["lo"].fillna(0.0).to_numpy() * grow, q["hi"].fillna(0.0).to_numpy() * grow
    mag = np.abs(frame["p50"].to_numpy())
    return frame.assign(p10=frame["p50"].to_numpy() + lo * mag, p90=frame["p50"].to_numpy() + hi * mag)


def served_backtest(
    fc: pd.DataFrame, panel: Panel, freq: str, picks: dict[str, str], S: np.ndarray | None, ids: list[str] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reconciled, calibrated backtest of what is served; returns (forecasts in kWh, interval table)."""
    base = to_kwh(compose(fc, picks), panel)
    rec = base
    if S is not None and ids:
        rec = pd.concat(
            [reconcile_p50(base, projection(S, "wls_struct"), ids), base[~base["series_id"].isin(ids)]],
            ignore_index=True,
        )
    origins = np.sort(rec["origin"].unique())
    early = rec["origin"].isin(origins[: max(len(origins) // 2, 1)])
    horizon = int(rec["horizon"].max())
    held_out = apply_intervals(rec[~early], interval_table(rec[early], freq), freq, horizon)
    return held_out, interval_table(rec, freq)
