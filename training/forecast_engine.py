"""The one forecasting configuration shared by tenant jobs, the generic CSV path and the benchmarks (pure).

Nothing here depends on a dataset: the feature declarations and learner settings are fixed per frequency,
and what differs between series is chosen from the data by validation on the last four weeks of issues
*inside* the training window (:func:`choose_members`): which of the candidate forecasters (LightGBM on the
level at a short or long target scale, LightGBM on the change from the same hour a season back, the
seasonal naive) are averaged. A learner that loses to the seasonal naive there is never served alone.
On small training sets each learner is averaged over a few seeds (:func:`bag_seeds`, a row budget).
Holidays enter only when a country is asked for.

Day-ahead hourly declaration (the evaluator's task): lags 24..168 and 336, the same hour over the last 7
days and the same hour of the week over the last 4 weeks, the latest hours before the issue time, recent
levels (means over 3 h .. 2 weeks), hour / weekday / day-of-year of the target, the horizon as a feature
(direct multi-horizon), training rows issued at the same hour of the day as the forecasts.
"""

from __future__ import annotations

import logging
from itertools import combinations

import numpy as np
import pandas as pd

from features.series import FeatureSpec, Panel
from training.baselines import SeasonalNaive
from training.forecasting import LoadForecaster

logger = logging.getLogger(__name__)

#: seasonal period per frequency (naive baselines, MASE)
SEASONS = {"H": 24, "D": 7, "M": 12, "Q": 96}
#: years of issues that train a model (older behaviour is less relevant; bounds the fit time)
TRAIN_YEARS = 10
#: candidate target scale windows per frequency, chosen by inner validation
SCALE_WINDOWS = {"H": (24, 168), "D": (7, 28), "M": (3, 12), "Q": (96, 672)}
#: training rows (all seeds of a member together) under which a learner is bagged over more seeds
BAG_ROWS = 100_000
#: most seeds a learner is bagged over (small training sets: the seed's subsampling noise averages out)
MAX_SEEDS = 3


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


def bag_seeds(freq: str, horizon: int, history: int) -> int:
    """Seeds each learner is averaged over: as many as keep the training rows of all of them within
    :data:`BAG_ROWS` (the single fit's row budget), between 1 and :data:`MAX_SEEDS`.

    Rows are one issue per day (hourly, quarter-hourly) or per period, times the horizon, over at most
    :data:`TRAIN_YEARS`: ten years of hourly day-ahead issues (87,600 rows) fit once; four months of
    quarter-hourly ones (about 11,000 rows) are averaged over three seeds.
    """
    per_year = {"H": 365, "Q": 365, "D": 365, "M": 12}[freq]
    issues = min(history // SEASONS[freq] if freq in {"H", "Q"} else history, TRAIN_YEARS * per_year)
    return int(np.clip(BAG_ROWS // max(issues * horizon, 1), 1, MAX_SEEDS))


def validation_span(freq: str, horizon: int, history: int) -> int:
    """Periods at the end of a training window held out by the inner validation.

    Four weeks of daily issues for hourly and quarter-hourly series (four days were too few to rank
    candidates), eight horizons for daily and monthly ones; never more than a quarter of the history.
    """
    want = SEASONS[freq] * 28 if freq in {"H", "Q"} else max(horizon, SEASONS[freq]) * 8
    return int(min(want, max(history // 4, max(horizon, SEASONS[freq]) * 4)))


def _candidates(freq: str) -> list[tuple[int, str]]:
    windows = SCALE_WINDOWS[freq]
    return [(w, "level") for w in windows] + [(windows[0], "season"), (SEASONS[freq], "naive")]


def _validation_errors(
    panel: Panel, freq: str, horizon: int, make, end: int | None, *, naive: bool = True
) -> dict | None:
    """P50 errors of every candidate on the origins of the inner validation window, or None (too short).

    Each candidate is fitted on data up to the validation cut-off only (no calibration fit) and forecasts
    the issues after it, up to `end`: the scores are out of sample, and nothing after `end` is read.
    """
    last = panel.last_observed() if end is None else int(end)
    cut = last - validation_span(freq, horizon, last + 1)
    if cut < 3 * max(SCALE_WINDOWS[freq]) + horizon:
        return None
    errors, origins = {}, None
    candidates = [c for c in _candidates(freq) if naive or c[1] != "naive"]
    for window, target in candidates:  # learners first: they fix the issue grid
        model = make(window, target)
        if target != "naive":
            model = model.set_params(calibration_fraction=0.0).fit(panel, end=cut)  # P50 only
        if origins is None:
            origins = np.arange(cut, last - horizon + 1)
            if model.origin_phase is not None:  # the issue hour of the forecasts
                origins = origins[origins % model.origin_step == model.origin_phase % model.origin_step]
            else:
                origins = origins[:: max(horizon // 2, 1)]
            if len(origins) == 0:
                return None
        fc = model.predict(panel, origins, horizon=horizon)
        rows = pd.Index(panel.series["series_id"]).get_indexer(fc["series_id"])
        y = panel.y[rows, panel.index.get_indexer(fc["timestamp"])]
        errors[(window, target)] = y - fc["p50"].to_numpy()
    return errors


def choose_members(panel: Panel, freq: str, horizon: int, make, *, end: int | None = None) -> tuple:
    """The learners whose equal-weight average forecasts best on the inner validation window, or the naive.

    Candidates: every target scale window of :data:`SCALE_WINDOWS` learning the level, the shortest
    learning the change from the same phase one season back, and the seasonal naive. Every non-empty
    subset of the learners, and the naive alone, is scored by the MAE of its average P50 on the last
    origins inside the training window (:func:`_validation_errors`); the best wins, fewer members on a
    tie. The naive is a guard, never averaged in: it is served alone when it beats every learner subset
    there (averaged in, it won a short inner window on a grid node and lost on the later issues).
    Returns a tuple of ``(window, target)``; the longest window's level model alone when the history is
    too short to validate.
    """
    errors = _validation_errors(panel, freq, horizon, make, end)
    if errors is None:
        return ((SCALE_WINDOWS[freq][-1], "level"),)
    learners = [k for k in errors if k[1] != "naive"]
    subsets = [s for size in range(1, len(learners) + 1) for s in combinations(learners, size)]
    best, best_mae = None, np.inf
    for subset in [*subsets, *((k,) for k in errors if k[1] == "naive")]:
        mae = float(np.nanmean(np.abs(np.mean([errors[k] for k in subset], axis=0))))
        logger.info("inner validation: %s: MAE %.4g", subset, mae)
        if mae < best_mae * (1 - 1e-3):
            best, best_mae = subset, mae
    return best


def choose_scale_window(panel: Panel, freq: str, horizon: int, make, *, end: int | None = None) -> tuple[int, str]:
    """The single best ``(window, target)`` on the inner validation window (see :func:`choose_members`)."""
    errors = _validation_errors(panel, freq, horizon, make, end, naive=False)
    if errors is None:
        return (SCALE_WINDOWS[freq][-1], "level")
    return min(errors, key=lambda k: float(np.nanmean(np.abs(errors[k]))))


class EngineEnsemble:
    """Equal-weight average of engine forecasters (the members :func:`choose_members` picked, or the
    seeds of one bagged learner: :func:`bag_seeds`).

    The first member (a learner when there is one) also fits its conformal calibration; the average P50
    carries that member's P10/P90 offsets. A seasonal naive member has nothing to fit.
    """

    def __init__(self, members: list, horizon: int):
        self.members = sorted(members, key=lambda m: not hasattr(m, "fit"))  # learners first
        self.horizon = horizon

    @property
    def origin_step(self) -> int:
        return self.members[0].origin_step

    @property
    def origin_phase(self) -> int | None:
        return self.members[0].origin_phase

    def set_params(self, **params) -> EngineEnsemble:
        """Set `params` on every learner (e.g. ``calibration_fraction=0.0``: P50 only)."""
        for model in self.members:
            if hasattr(model, "fit"):
                model.set_params(**params)
        return self

    def fit(self, panel: Panel, *, end: int | None = None) -> EngineEnsemble:
        for i, model in enumerate(m for m in self.members if hasattr(m, "fit")):
            (model if i == 0 else model.set_params(calibration_fraction=0.0)).fit(panel, end=end)
        return self

    def predict(self, panel: Panel, origins, *, horizon: int | None = None) -> pd.DataFrame:
        """Forecast frame of :meth:`LoadForecaster.predict`: average P50, the first member's band around it."""
        keys = ["series_id", "origin", "horizon"]
        parts = [
            m.predict(panel, origins, horizon=horizon or self.horizon).sort_values(keys, ignore_index=True)
            for m in self.members
        ]
        first = parts[0]
        p50 = np.mean([p["p50"].to_numpy() for p in parts], axis=0)
        return first.assign(p10=first["p10"] - first["p50"] + p50, p90=first["p90"] - first["p50"] + p50, p50=p50)


def series_engine(
    panel: Panel,
    freq: str,
    horizon: int,
    *,
    end: int | None = None,
    country: str | None = None,
    known: tuple[str, ...] = (),
    seed: int = 0,
    issue_phase: int | None = None,
    overrides: dict | None = None,
):
    """The engine for one series (``meterwise backtest``, ``meterwise forecast --input``, the benchmarks).

    Chooses the members on the inner validation window ending at `end` (data up to `end` only) and returns
    ``(factory, members)``: ``factory()`` gives a fresh unfitted :class:`EngineEnsemble`.
    """
    exog = tuple(k for k in panel.exog if k not in known)
    history = (panel.last_observed() if end is None else int(end)) + 1

    seeds = bag_seeds(freq, horizon, history)

    def make(window: int, target: str = "level"):
        if target == "naive":
            return SeasonalNaive(window, error_window=window * 28)
        spec = engine_spec(freq, exog=exog, known=known, country=country, scale_window=window)
        bag = [
            engine_forecaster(
                freq, horizon, spec=spec, seed=seed + i, issue_phase=issue_phase, group_col=None, history=history,
                target=target, **(overrides or {}),
            )
            for i in range(seeds)
        ]  # fmt: skip
        return bag[0] if seeds == 1 else EngineEnsemble(bag, horizon)

    members = choose_members(panel, freq, horizon, make, end=end)
    logger.info("engine members for %s: %s (each learner over %d seeds)", freq, members, seeds)
    return (lambda: EngineEnsemble([make(w, t) for w, t in members], horizon)), members
