"""Score what is served: candidate backtests, the served method per level, reconciled and calibrated (pure).

For one frequency of a tenant's hierarchy (series in kWh per meter, ``n_meters`` in ``panel.exog``):

1. every candidate (global LightGBM, seasonal naive, and ETS on the aggregate series) forecasts at the
   backtest origins from data up to each origin (:func:`candidate_backtest`);
2. per level, the candidate with the lowest mean MASE is chosen (:func:`choose_methods`);
3. the chosen base forecasts are converted to kWh with the meter count known at the origin and
   reconciled (a projection onto coherent forecasts, :mod:`training.reconcile`); P10/P90 come from
   split-conformal quantiles of the *reconciled* relative residuals per level and horizon bucket
   (:func:`interval_table`). Scored on the later half of the origins, each with the table fitted on the
   residuals observed by its issue time (:func:`calibrated`); served with the table of all origins;
4. a level whose served P50 loses to its own seasonal naive is moved to the seasonal naive and the
   whole is scored again (``training.forecast_tenant.evaluate_freq``): a method that loses to the
   baseline is never served.

The backtest score is therefore the score of exactly what the API returns. Intervals are conformal per
level on reconciled residuals: the P50 is coherent, each level's P10/P90 is calibrated around it.
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
BUCKETS = {"H": (1, 6, 24, 48), "D": (1, 7, 14, 28), "M": (1, 3)}
MIN_RESIDUALS = 30  # fewest residuals a (level, horizon bucket) quantile is fitted on


@dataclass
class Selection:
    """The outcome for one frequency: served method per level and every candidate's scores."""

    picks: dict[str, str]
    candidates: pd.DataFrame  # model, level, mase, n, mape, mae, coverage_p10_p90, mean_width_pct (held out)
    served: pd.DataFrame  # level, mape, mae, coverage_p10_p90 (held-out), mean_width_pct, naive_mae
    quantiles: pd.DataFrame  # level, bucket, lo, hi (relative to |p50|)
    reconciliation: str = "wls_struct"  # projection applied to the served P50 ("none": not coherent)
    fallbacks: list[str] = field(default_factory=list)  # levels moved to the seasonal naive after scoring

    @property
    def coherent(self) -> bool:
        return self.reconciliation != "none"

    def __setstate__(self, state: dict) -> None:  # versions pickled before `reconciliation` had `coherent`
        coherent = state.pop("coherent", True)
        state.setdefault("reconciliation", "wls_struct" if coherent else "none")
        self.__dict__.update(state)


def candidate_backtest(
    panel: Panel, freq: str, origins: np.ndarray, horizon: int, make_lgbm, refit_every: int | None = None
) -> pd.DataFrame:
    """Every candidate's base forecasts (kWh per meter) at `origins`, with actuals, ``model`` and ``level``.

    The LightGBM is refitted every `refit_every` origins (default: once, at the first origin).
    """
    levels = panel.series["level"].to_numpy()
    models = {
        "lightgbm": make_lgbm,
        "seasonal_naive": lambda: SeasonalNaive(SEASONS[freq], error_window=max(8 * SEASONS[freq], 60)),
    }
    ets_rows = np.flatnonzero(levels != "customer")  # the aggregates: few series, one fit per origin each
    if freq in {"D", "M"} and len(ets_rows):
        models["ets"] = lambda: ETSBaseline(SEASONS[freq], max_history=365, rows=ets_rows)
    fc = rolling_origin(panel, origins, horizon=horizon, models=models, refit_every=refit_every or len(origins))
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


def interval_table(
    frame: pd.DataFrame, freq: str, horizon: int | None = None, quantiles: tuple[float, float] = (0.1, 0.9)
) -> pd.DataFrame:
    """Per level and horizon bucket (up to `horizon`, default the frame's longest), quantiles of the
    relative residual ``(y - p50) / |p50|``.

    A bucket with fewer than :data:`MIN_RESIDUALS` residuals borrows those of the next longer horizons
    (then of the shorter ones): a wider band rather than a band fitted to a handful of points. A bucket
    with no residual at all (long horizons not yet observed at an early issue time) takes the last known
    bucket's quantiles grown as ``sqrt(bucket end / known end)``.
    """
    f = frame.dropna(subset=["y"])
    f = f[np.abs(f["p50"]) > 1e-9]
    rel = ((f["y"] - f["p50"]) / np.abs(f["p50"])).to_numpy()
    hor, lev = f["horizon"].to_numpy(), f["level"].astype(str).to_numpy()
    edges = _edges(freq, int(horizon or frame["horizon"].max()))
    labels = horizon_bucket(pd.Series(edges), edges).tolist()
    rows = []
    for level in sorted(set(frame["level"].astype(str))):
        r, h = rel[lev == level], hor[lev == level]
        known: tuple[float, float, int] | None = None
        for i, (label, end) in enumerate(zip(labels, edges, strict=True)):
            lo_i, hi_i = i, i
            own = pick = (h > (edges[i - 1] if i else 0)) & (h <= end)
            while pick.sum() < MIN_RESIDUALS and (hi_i + 1 < len(edges) or lo_i > 0):
                hi_i, lo_i = (hi_i + 1, lo_i) if hi_i + 1 < len(edges) else (hi_i, lo_i - 1)
                pick = (h > (edges[lo_i - 1] if lo_i else 0)) & (h <= edges[hi_i])
            if own.any() or (known is None and pick.any()):
                lo, hi = np.quantile(r[pick], quantiles)
                known = (float(lo), float(hi), end)
            elif known is not None:
                grow = np.sqrt(end / known[2])
                lo, hi = known[0] * grow, known[1] * grow
            else:
                lo = hi = 0.0
            rows.append((level, label, min(float(lo), 0.0), max(float(hi), 0.0)))
    return pd.DataFrame(rows, columns=["level", "bucket", "lo", "hi"])


def calibrated(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Held-out P10/P90 from residuals known at each issue time (rolling split-conformal).

    The later half of the origins is held out; at each held-out origin ``o`` the interval table is fitted on
    the residuals of earlier origins whose target period is at or before ``o`` (observed by the issue
    time), then applied to the forecasts issued at ``o``. Returns the held-out rows with P10/P90 set.
    """
    origins = np.sort(frame["origin"].unique())
    horizon = int(frame["horizon"].max())
    parts = []
    for o in origins[max(len(origins) // 2, 1) :]:
        known = frame[(frame["origin"] < o) & (frame["timestamp"] <= o)]
        table = interval_table(known, freq, horizon)
        parts.append(apply_intervals(frame[frame["origin"] == o], table, freq, horizon))
    if not parts:
        raise ValueError(f"{len(origins)} backtest origin(s): need at least 2 to hold some out")
    return pd.concat(parts, ignore_index=True)


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


def reconciled(base: pd.DataFrame, S: np.ndarray | None, ids: list[str] | None, method: str) -> pd.DataFrame:
    """`base` (kWh) with the P50 of the hierarchy's series reconciled by `method` (``none``: unchanged)."""
    if method == "none" or S is None or not ids:
        return base
    rest = base[~base["series_id"].isin(ids)]
    return pd.concat([reconcile_p50(base, projection(S, method), ids), rest], ignore_index=True)


def served_backtest(
    fc: pd.DataFrame,
    panel: Panel,
    freq: str,
    picks: dict[str, str],
    S: np.ndarray | None,
    ids: list[str] | None,
    method: str = "wls_struct",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reconciled, calibrated backtest of what is served; returns (held-out forecasts in kWh, interval table).

    The held-out rows carry the P10/P90 a forecast issued at their origin would have had
    (:func:`calibrated`); the table, fitted on every origin's residuals, is the one served.
    """
    rec = reconciled(to_kwh(compose(fc, picks), panel), S, ids, method)
    return calibrated(rec, freq), interval_table(rec, freq)


def candidate_scores(fc: pd.DataFrame, panel: Panel, freq: str, choice: pd.DataFrame) -> pd.DataFrame:
    """Every candidate per level as it would be served alone: kWh, calibrated the same way, held out.

    `choice` (the per-meter MASE table of :func:`choose_methods`) keeps its ``mase``; MAPE, MAE,
    coverage and width are those of the held-out origins, comparable with the served scores.
    """
    parts = []
    for model, g in fc.groupby("model"):
        s = score(calibrated(to_kwh(g.reset_index(drop=True), panel), freq), by=["level"])
        parts.append(s.assign(model=model, mean_width_pct=s["width_rel"] * 100))
    cols = ["model", "level", "n", "mape", "mae", "coverage_p10_p90", "mean_width_pct"]
    held = pd.concat(parts, ignore_index=True)[cols]
    return choice[["model", "level", "mase"]].merge(held, on=["model", "level"], how="left")
