"""A tenant's hierarchy at one frequency: panel, candidate backtest, choice, and the served forecast (pure).

Series are kWh per meter (:func:`tenant_panel`); the served forecast is the chosen method per level
(:mod:`training.forecast_select`), converted to kWh with the meter count at the issue time, reconciled
(the first of :data:`RECONCILIATIONS` under which no level loses to its seasonal naive) and given P10/P90
from the reconciled backtest residuals of its level (:func:`evaluate_freq`, :func:`issue_freq`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.aggregates import CELL, PeriodSums, cell_keys, period_sums, series_from_sums
from features.exog import issued_per_period
from features.series import LEVELS, Panel, panel_from_long
from training.backtest import score
from training.baselines import ETSBaseline, SeasonalNaive
from training.forecast_engine import SEASONS, engine_forecaster, engine_spec
from training.forecast_select import (
    Selection,
    apply_intervals,
    candidate_backtest,
    candidate_scores,
    choose_methods,
    compose,
    reconciled,
    served_backtest,
    to_kwh,
)
from training.reconcile import summing_matrix

logger = logging.getLogger(__name__)
HORIZONS = {"H": 48, "D": 90, "M": 12}
BACKTEST = {  # freq -> (backtest horizon, number of origins, spacing in periods, LightGBM refit every n origins)
    "H": (48, 10, 24, 10),
    "D": (28, 8, 7, 8),
    "M": (3, 4, 1, 4),
}
#: reconciliations tried in turn until no level's served forecast loses to its seasonal naive
RECONCILIATIONS = ("wls_struct", "bottom_up", "none")


def tenant_panel(tables: dict[str, pd.DataFrame], freq: str, levels: tuple[str, ...] = LEVELS) -> Panel | None:
    """Panel of kWh-per-meter series for one freq and `levels`; None when the tenant has no data for it.

    ``exog["n_meters"]`` holds the meters reporting per period; ``series["customers"]`` the number of
    customers each series covers. At ``H`` (interval meters only) the total is named ``total:interval``
    unless every customer of the daily total has interval data.
    """
    source = reading_source(tables, freq)
    if source is None:
        return None
    customers = tables.get("customers")
    sums = period_sums(source, customers, freq=freq, levels=levels)
    everyone = freq != "H" or interval_everyone(source, tables.get("readings"))
    return panel_from_sums(sums, freq, covered_counts(source, customers, levels), everyone=everyone,
                           weather=tables.get("weather"), forecasts=tables.get("weather_forecasts"))  # fmt: skip


def reading_source(tables: dict[str, pd.DataFrame], freq: str) -> pd.DataFrame | None:
    """The readings a freq is built from (interval readings for ``H``, daily ones otherwise); None when empty."""
    source = tables.get("interval_readings") if freq == "H" else tables.get("readings")
    return None if source is None or source.empty else source


def interval_everyone(interval: pd.DataFrame, daily: pd.DataFrame | None) -> bool:
    """Whether every customer with daily readings also has interval readings."""
    return daily is None or bool(pd.Index(daily["customer_id"].unique()).isin(interval["customer_id"].unique()).all())


def covered_counts(source: pd.DataFrame, customers: pd.DataFrame | None, levels: tuple[str, ...]) -> pd.DataFrame:
    """Customers with readings in `source` per (level, key) of the grouped levels (additive over partitions)."""
    ids = pd.Series(source["customer_id"].unique(), name="customer_id")
    attrs = ids.to_frame().merge(customers, on="customer_id", how="left") if customers is not None else ids.to_frame()
    if CELL in levels and customers is not None:
        attrs[CELL] = cell_keys(attrs).to_numpy()
    parts = [pd.DataFrame({"level": ["total"], "key": ["all"], "customers": [len(attrs)]})]
    for level in (lvl for lvl in levels if lvl in attrs and lvl not in {"total", "customer"}):
        counts = attrs[level].astype(str).value_counts(sort=False)
        parts.append(pd.DataFrame({"level": level, "key": counts.index, "customers": counts.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def panel_from_sums(
    sums: PeriodSums,
    freq: str,
    covered: pd.DataFrame,
    *,
    everyone: bool = True,
    weather: pd.DataFrame | None = None,
    forecasts: pd.DataFrame | None = None,
) -> Panel:
    """The panel of :func:`tenant_panel` from period sums and covered-customer counts (whole or combined)."""
    agg = series_from_sums(sums, freq, weather)
    if not everyone:
        agg.loc[agg["level"] == "total", ["key", "series_id"]] = ["interval", "total:interval"]
    exog = ("temperature_c", "n_meters") if "temperature_c" in agg else ("n_meters",)
    panel = panel_from_long(agg, freq=freq, exog=exog, attrs=("level", "key"))
    if forecasts is not None and len(forecasts):
        panel.issued = issued_per_period(forecasts, freq)
    end = agg["timestamp"].max()
    active = panel.series["series_id"].map(agg.groupby("series_id")["timestamp"].max()).eq(end).to_numpy()
    panel = panel.subset(np.flatnonzero(active))  # customers who left have no future
    last = panel.last_observed()
    panel.series["n_meters"] = np.nan_to_num(panel.exog["n_meters"][:, last])
    counts = covered.groupby(["level", "key"], as_index=False)["customers"].sum()
    total = counts.loc[counts["level"] == "total", "customers"].sum()
    levels = panel.series["level"].astype(str).to_numpy()
    keys = np.where(levels == "total", "all", panel.series["key"].astype(str).to_numpy())  # total:interval too
    found = pd.DataFrame({"level": levels, "key": keys}).merge(counts, on=["level", "key"], how="left")["customers"]
    panel.series["customers"] = np.where(levels == "customer", 1, found.fillna(total)).astype(int)
    return panel


def hierarchy(panel: Panel, attrs: pd.DataFrame | None) -> tuple[np.ndarray | None, list[str] | None]:
    """Summing matrix and ids of the panel's hierarchy (None when it has none).

    The bottom is the customers (or, without customer series, the ``cell`` series of a partitioned tenant:
    one per region x category x socio_group), grouped by the columns of `attrs` (indexed by the bottom
    keys); a panel without either and with a single grouping under its total (e.g. total and ACORN groups)
    has that grouping as bottom.
    """
    levels = panel.series["level"].astype(str)
    total = panel.series.loc[levels == "total", "series_id"]
    bottom_level = "customer" if "customer" in set(levels) else CELL
    groups = sorted(set(levels) - {"total", bottom_level})
    if bottom_level not in set(levels) and len(total) and len(groups) == 1:
        bottom = panel.series.loc[levels == groups[0], "series_id"].astype(str).tolist()
        return np.vstack([np.ones(len(bottom)), np.eye(len(bottom))]), [str(total.iloc[0]), *bottom]
    bottom = panel.series[levels == bottom_level]
    if bottom.empty or attrs is None:
        return None, None
    a = attrs.reindex(bottom["key"].to_numpy())
    S, ids = summing_matrix(a.rename_axis("key").reset_index(), levels=tuple(a.columns), key_col="key",
                            bottom_level=bottom_level)  # fmt: skip
    if len(total):
        ids[0] = str(total.iloc[0])
    have = set(panel.ids)
    keep = [i for i, sid in enumerate(ids) if sid in have]
    return S[keep], [ids[i] for i in keep]


def backtest_origins(panel: Panel, freq: str, protocol: tuple[int, ...] | None = None) -> np.ndarray:
    """Origins (positions) of the backtest: `protocol` ``(horizon, n_origins, spacing, ...)``, default by freq."""
    horizon, n_origins, spacing = (protocol or BACKTEST[freq])[:3]
    last = panel.last_observed()
    origins = np.arange(last - horizon - spacing * (n_origins - 1), last - horizon + 1, spacing)
    origins = origins[origins >= SEASONS[freq] + 2]  # a season of history for the naive and season lags
    if len(origins) < 2:
        raise ValueError(f"{last + 1} {freq} periods are too few for a {horizon}-step backtest")
    return origins


def _lgbm_factory(panel: Panel, freq: str, horizon: int, seed: int, params: dict | None, country: str | None):
    exog = tuple(k for k in panel.exog if k != "n_meters")
    spec = engine_spec(freq, exog=exog, country=country)
    history = panel.last_observed() + 1
    # intervals of what is served come from the reconciled backtest residuals (forecast_select), so the
    # model's own conformal calibration fit is skipped
    kw = {"calibration_fraction": 0.0, **(params or {})}
    return lambda: engine_forecaster(freq, horizon, spec=spec, seed=seed, history=history, **kw)


def evaluate_freq(
    panel: Panel,
    freq: str,
    seed: int,
    params: dict | None,
    attrs: pd.DataFrame | None,
    country: str | None = None,
    protocol: tuple[int, int, int, int] | None = None,
) -> tuple[Selection, pd.DataFrame]:
    """Backtest every candidate, choose per level, score the reconciled calibrated forecasts as served.

    `protocol` ``(horizon, n_origins, spacing, refit_every)`` overrides :data:`BACKTEST` (benchmarks).
    Reconciliations are tried in the order of :data:`RECONCILIATIONS`; within each, a level whose served
    MAE is above its seasonal naive's on the held-out origins moves to the seasonal naive and all is
    scored again. The first reconciliation where no level loses is served (``none`` always qualifies: a
    level served its own seasonal naive unreconciled ties with it).
    """
    protocol = protocol or BACKTEST[freq]
    horizon = protocol[0]
    origins = backtest_origins(panel, freq, protocol)
    make = _lgbm_factory(panel, freq, horizon, seed, params, country)
    fc = candidate_backtest(panel, freq, origins, horizon, make, refit_every=protocol[3])
    chosen, choice = choose_methods(fc, panel, freq, int(origins[0]))
    candidates = candidate_scores(fc, panel, freq, choice)
    S, ids = hierarchy(panel, attrs)
    naive_mae = candidates[candidates["model"] == "seasonal_naive"].set_index("level")["mae"]
    for method in RECONCILIATIONS if S is not None else ("none",):
        picks = dict(chosen)
        while True:
            held_out, table = served_backtest(fc, panel, freq, picks, S, ids, method)
            served = score(held_out, by=["level"]).set_index("level")
            losing = [lvl for lvl in served.index if served.loc[lvl, "mae"] > naive_mae.get(lvl, np.inf)]
            movable = [lvl for lvl in losing if picks[lvl] != "seasonal_naive"]
            if not losing or not movable:
                break
            logger.warning("%s %s (%s): served forecast loses to seasonal naive; naive is tried", freq, movable, method)
            picks.update(dict.fromkeys(movable, "seasonal_naive"))
        if not losing:
            break
    out = served.reset_index()[["level", "mape", "mae", "coverage_p10_p90"]].assign(
        mean_width_pct=(served["width_rel"] * 100).to_numpy(), naive_mae=naive_mae.reindex(served.index).to_numpy()
    )
    fallbacks = sorted(lvl for lvl in picks if picks[lvl] != chosen[lvl])
    sel = Selection(picks, candidates, out, table, reconciliation=method, fallbacks=fallbacks)
    logger.info("%s served: %s reconciled by %s; fallbacks %s", freq, picks, method, fallbacks)
    return sel, held_out.assign(freq=freq)


def issue_freq(
    panel: Panel,
    freq: str,
    horizon: int,
    sel: Selection,
    seed: int,
    params: dict | None,
    attrs: pd.DataFrame | None,
    country: str | None = None,
    model=None,
) -> tuple[pd.DataFrame, object | None]:
    """Issue `horizon` periods from the last observed one with the chosen methods, in kWh.

    Fits the LightGBM on all data unless a fitted `model` is given (a refresh: the latest data, no
    retraining). Returns the served frame and the LightGBM used (None when no level uses it).
    """
    last = panel.last_observed()
    future = panel.extend(last + horizon + 1 - len(panel.index))
    parts = []
    wanted = set(sel.picks.values())
    if "lightgbm" in wanted:
        if model is None:
            model = _lgbm_factory(panel, freq, horizon, seed, params, country)().fit(panel)
            model.calibration_ = None  # residual rows are not needed to forecast; keep the bundle small
        parts.append(model.predict(future, last).assign(model="lightgbm"))
    parts.append(SeasonalNaive(SEASONS[freq]).predict(future, last, horizon=horizon).assign(model="seasonal_naive"))
    if "ets" in wanted:
        rows = np.flatnonzero(panel.series["level"].map(sel.picks).eq("ets").to_numpy())
        parts.append(ETSBaseline(SEASONS[freq], max_history=365, rows=rows).predict(future, last, horizon=horizon)
                     .assign(model="ets"))  # fmt: skip
    fc = pd.concat(parts, ignore_index=True).merge(panel.series[["series_id", "level", "key"]], on="series_id")
    S, ids = hierarchy(panel, attrs)
    base = reconciled(to_kwh(compose(fc, sel.picks), panel), S, ids, sel.reconciliation)
    return apply_intervals(base, sel.quantiles, freq, BACKTEST[freq][0]).assign(freq=freq), model


def history_frame(panel: Panel, freq: str) -> pd.DataFrame:
    last = panel.last_observed()
    lo = max(0, last - 3 * HORIZONS[freq])
    kwh = panel.y[:, lo : last + 1] * panel.exog["n_meters"][:, lo : last + 1]
    hist = pd.DataFrame(kwh, columns=panel.index[lo : last + 1])
    return (
        hist.assign(level=panel.series["level"], key=panel.series["key"])
        .melt(id_vars=["level", "key"], var_name="timestamp", value_name="y")
        .assign(freq=freq)
    )
