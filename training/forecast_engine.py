"""The one forecasting configuration shared by tenant jobs, the generic CSV path and the benchmarks (pure).

Nothing here depends on a dataset: the feature declarations and learner settings are fixed per frequency,
and what differs between series (the target scale window) is chosen from the data by validation on the
last weeks *inside* the training window (:func:`choose_scale_window`). Holidays enter only when a country
is asked for.

Day-ahead hourly declaration (the evaluator's task): lags 24..168 and 336, the same hour over the last 7
days and the same hour of the week over the last 4 weeks, the latest hours before the issue time, recent
levels (means over 3 h .. 2 weeks), hour / weekday / day-of-year of the target, the horizon as a feature
(direct multi-horizon), training rows issued at the same hour of the day as the forecasts.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.series import FeatureSpec, Panel
from training.forecasting import LoadForecaster

logger = logging.getLogger(__name__)

#: seasonal period per frequency (naive baselines, MASE)
SEASONS = {"H": 24, "D": 7, "M": 12, "Q": 96}
#: years of issues that train a model (older behaviour is less relevant; bounds the fit time)
TRAIN_YEARS = 10
#: candidate target scale windows per frequency, chosen by inner validation
SCALE_WINDOWS = {"H": (24, 168), "D": (7, 28), "M": (3, 12), "Q": (96, 672)}


def engine_spec(
    freq: str,
    *,
    exog: tuple[str, ...] = (),
    known: tuple[str, ...] = (),
    country: str | None = None,
    subdiv: str | None = None,
    scale_window: int | None = None,
) -> FeatureSpec:
    """The feature declaration for `freq` (``H``, ``D``, ``M`` or ``Q`` quarter-hours)."""
    common = {"exog": exog, "known": known, "holiday_country": country, "holiday_subdiv": subdiv}
    if freq == "H":
        return FeatureSpec(
            freq="H",
            lags=(1, 2, 3, 24, 48, 72, 96, 120, 144, 168, 336),
            seasons=(24, 168),
            origin_lags=(1, 2, 3, 6, 12, 24, 48, 168),
            season_means=((24, 7), (168, 4)),
            windows=(3, 24, 168, 336),
            scale_window=scale_window or 168,
            calendar=("hour", "dayofweek", "dayofyear", "holiday"),
            **common,
        )
    if freq == "Q":
        return FeatureSpec(
            freq="Q",
            lags=(1, 2, 4, 96, 192, 672),
            seasons=(96, 672),
            origin_lags=(1, 4, 96),
            season_means=((96, 7), (672, 4)),
            windows=(4, 96, 672),
            scale_window=scale_window or 672,
            calendar=("hour", "minute", "dayofweek", "holiday"),
            **common,
        )
    if freq == "D":
        return FeatureSpec(
            freq="D",
            lags=(1, 2, 7, 14, 28),
            seasons=(7,),
            season_means=((7, 4),),
            windows=(7, 28),
            scale_window=scale_window or 28,
            calendar=("dayofweek", "dayofyear", "holiday"),
            **common,
        )
    if freq == "M":
        return FeatureSpec(
            freq="M",
            lags=(1, 12),
            seasons=(12,),
            windows=(3,),
            scale_window=scale_window or 3,
            calendar=("month",),
            **common,
        )
    raise ValueError(f"freq={freq!r}; expected H, D, M or Q")


def engine_forecaster(
    freq: str,
    horizon: int,
    *,
    spec: FeatureSpec,
    seed: int = 0,
    issue_phase: int | None = None,
    group_col: str | None = "level",
    history: int | None = None,
    **overrides,
) -> LoadForecaster:
    """LoadForecaster with the engine's settings.

    `issue_phase` (position modulo the season) trains on origins at the same time of day as the
    forecasts are issued (hourly: every day at the issue hour); `history` (periods available) caps the
    minimum history so short series still train. `overrides` are for tests and quick demo runs only.
    """
    season = SEASONS[freq]
    daily_issue = freq in {"H", "Q"} and issue_phase is not None
    min_history = {"H": 400, "Q": 96 * 7, "D": 35, "M": 13}[freq]
    if history is not None:
        min_history = max(min(min_history, history // 3), season + 1)
    kw = {
        "spec": spec,
        "horizon": horizon,
        "origin_step": season if daily_issue else 1,
        "origin_phase": issue_phase if daily_issue else None,
        "min_history": min_history,
        "max_rows": 100_000,  # a compute budget; binds only on many-series panels (tenants)
        "n_estimators": 600,
        "learning_rate": 0.05,
        "num_leaves": 63 if freq in {"H", "Q"} else 31,
        "min_child_samples": 20,
        "calibration_fraction": 0.15,
        "group_col": group_col,
        "random_state": seed,
        "train_window": TRAIN_YEARS * {"H": 24 * 365, "Q": 96 * 365, "D": 365, "M": 12}[freq],
    }
    return LoadForecaster(**{**kw, **overrides})


def choose_scale_window(panel: Panel, freq: str, horizon: int, make, *, end: int | None = None) -> tuple[int, str]:
    """Pick the target scale window and target form by validation on the last origins inside the training window.

    `make(scale_window, target)` returns an unfitted forecaster; each candidate (every window of
    :data:`SCALE_WINDOWS` with ``target="level"``, and the shortest with ``target="season"``: seasonal
    differencing) is fitted on data up to a validation cut-off (``end - 4 * max(horizon, season)``) and
    scored by MAE on the origins after it, up to `end`. Returns the best ``(window, target)``.
    """
    windows = SCALE_WINDOWS[freq]
    candidates = [(w, "level") for w in windows] + [(windows[0], "season")]
    default = (windows[-1], "level")
    last = panel.last_observed() if end is None else int(end)
    span = max(horizon, SEASONS[freq]) * 4
    cut = last - span
    if cut < 3 * max(windows) + horizon:
        return default
    best, best_mae = default, np.inf
    for window, target in candidates:
        model = make(window, target).set_params(calibration_fraction=0.0).fit(panel, end=cut)  # P50 only
        step = SEASONS[freq] if model.origin_phase is not None else max(horizon // 2, 1)
        origins = np.arange(cut, last - horizon + 1, step)
        if model.origin_phase is not None:
            origins = origins[origins % model.origin_step == model.origin_phase % model.origin_step]
        if len(origins) == 0:
            return default
        fc = model.predict(panel, origins, horizon=horizon)
        rows = pd.Index(panel.series["series_id"]).get_indexer(fc["series_id"])
        y = panel.y[rows, panel.index.get_indexer(fc["timestamp"])]
        mae = float(np.nanmean(np.abs(y - fc["p50"].to_numpy())))
        logger.info("inner validation: scale window %d, target %s: MAE %.4g", window, target, mae)
        if mae < best_mae - 1e-12:
            best, best_mae = (window, target), mae
    return best
