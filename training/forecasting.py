"""LoadForecaster: one global LightGBM over many series, direct multi-horizon, P10/P50/P90 (pure).

Strategy: *direct* forecasting with the horizon as a feature. Each training row is a (series, origin,
horizon) triple whose features come from :class:`features.series.FeatureBuilder` (values up to the
origin only, exogenous and calendar values at the target), divided by the series' recent mean |y| so
one model serves households and totals alike. The P50 model minimises absolute error.

Intervals (``interval="conformal"``, default): split-conformal on residuals of a model fitted before a
calibration window (the last `calibration_fraction` of origins): per (group, horizon) quantiles of the
scaled residual ``(y - p50) / scale``, made monotone in the horizon (lower quantile cumulative-min,
upper cumulative-max), so the P10-P90 width never shrinks with the horizon. The final model is refitted
on every origin. ``interval="quantile"`` instead fits LightGBM quantile models (no monotone guarantee).

Exogenous observations (temperature) are read as known at each row's origin: issued weather forecasts
when the panel carries them, else the climatology fitted at :meth:`fit` on observations up to the fit
cut-off (``climates_``), in training and in prediction alike (see :mod:`features.exog`).

Invariants: training targets of the calibration model end before the first calibration target;
``predict`` at origin ``o`` of a model fitted with ``end <= o`` reads nothing dated after ``o`` except
calendar fields and ``known`` columns (unless ``actual_exog=True``, the labelled 'perfect weather' mode).
"""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from features.exog import IssueTimeExog, fit_climates
from features.series import FeatureBuilder, FeatureSpec, Panel, default_spec

logger = logging.getLogger(__name__)


class LoadForecaster(BaseEstimator):
    """Global direct multi-horizon LightGBM with conformal or quantile P10/P90.

    Parameters
    ----------
    spec : FeatureSpec, optional
        Feature declaration; default :func:`features.series.default_spec` for the panel's freq.
    horizon : int
        Maximum number of periods ahead.
    origin_step : int
        Training origins every `origin_step` periods (``origin_phase`` picks which, e.g. 00:00 hours).
    min_history : int
        Periods of history needed before a training origin.
    max_rows : int
        Random subsample of training rows above this.
    interval : {"conformal", "quantile"}
    calibration_fraction : float
        0 skips the calibration fit (P10 = P90 = P50): for callers that calibrate the served forecast
        themselves (the tenant job calibrates the reconciled forecasts per level).
        Share of the latest training origins held out for conformal calibration.
    group_col : str, optional
        Column of ``panel.series`` whose groups get their own residual quantiles (e.g. ``level``).
    target : {"level", "season"}
        What the model learns, in units of the series' scale: the value itself, or its change from the
        latest same-phase value known at the origin (seasonal differencing).
    objective : str
        LightGBM objective of the P50 model (``l1``: the median; ``l2``, ``huber``).
    train_window : int, optional
        Only origins within this many periods before the fit cut-off train the model (recent behaviour).
    actual_exog : bool
        Read observed exogenous inputs at the target ('perfect weather'): for labelled comparisons only,
        never a headline or served figure.
    """

    def __init__(
        self,
        *,
        spec: FeatureSpec | None = None,
        horizon: int = 28,
        quantiles: tuple[float, float] = (0.1, 0.9),
        origin_step: int = 1,
        origin_phase: int | None = None,
        min_history: int = 28,
        max_rows: int = 400_000,
        interval: str = "conformal",
        calibration_fraction: float = 0.2,
        group_col: str | None = "level",
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        random_state: int = 0,
        n_jobs: int = 1,
        actual_exog: bool = False,
        train_window: int | None = None,
        objective: str = "l1",
        target: str = "level",
    ):
        self.spec, self.horizon, self.quantiles = spec, horizon, quantiles
        self.origin_step, self.origin_phase, self.min_history = origin_step, origin_phase, min_history
        self.max_rows, self.interval, self.calibration_fraction = max_rows, interval, calibration_fraction
        self.group_col, self.n_estimators, self.learning_rate = group_col, n_estimators, learning_rate
        self.num_leaves, self.min_child_samples = num_leaves, min_child_samples
        self.random_state, self.n_jobs, self.actual_exog = random_state, n_jobs, actual_exog
        self.train_window, self.objective, self.target = train_window, objective, target

    # ---------------------------------------------------------------- training
    def _origins(self, panel: Panel, end: int) -> np.ndarray:
        """Training origins in [min_history - 1, end) on the step/phase grid."""
        start = max(self.min_history - 1, 0)
        if self.train_window is not None:
            start = max(start, end - int(self.train_window))
        o = np.arange(start, end)
        if self.origin_phase is not None:
            o = o[(o % self.origin_step) == self.origin_phase % self.origin_step]
        else:
            o = o[(o - start) % self.origin_step == 0]
        return o

    def _triples(self, builder: FeatureBuilder, origins: np.ndarray, last_target: int, rng) -> tuple[np.ndarray, ...]:
        n = len(builder.panel.y)
        total = n * len(origins) * self.horizon
        if total > 4 * self.max_rows:  # draw candidates instead of materialising every triple
            flat = np.sort(rng.choice(total, 4 * self.max_rows, replace=False))
            r, oi, hi = np.unravel_index(flat, (n, len(origins), self.horizon))
            rows, oo, hh = r.astype(np.int64), origins[oi], hi.astype(np.int64) + 1
        else:
            h = np.arange(1, self.horizon + 1)
            rows, oo, hh = (a.ravel() for a in np.meshgrid(np.arange(n), origins, h, indexing="ij"))
        keep = oo + hh <= last_target
        rows, oo, hh = rows[keep], oo[keep], hh[keep]
        ok = ~np.isnan(builder.panel.y[rows, oo + hh]) & ~np.isnan(builder.scale(rows, oo))
        rows, oo, hh = rows[ok], oo[ok], hh[ok]
        if len(rows) > self.max_rows:
            pick = np.sort(rng.choice(len(rows), self.max_rows, replace=False))
            rows, oo, hh = rows[pick], oo[pick], hh[pick]
        return rows, oo, hh

    def _booster(self, objective: str, alpha: float | None = None) -> lgb.LGBMRegressor:
        extra = {"alpha": alpha} if alpha is not None else {}
        return lgb.LGBMRegressor(
            objective=objective,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.9,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=-1,
            **extra,
        )

    def _fit_models(self, X: pd.DataFrame, target: np.ndarray) -> dict[str, lgb.LGBMRegressor]:
        models = {"p50": self._booster(self.objective).fit(X, target)}
        if self.interval == "quantile":
            lo, hi = self.quantiles
            models["lo"] = self._booster("quantile", lo).fit(X, target)
            models["hi"] = self._booster("quantile", hi).fit(X, target)
        return models

    def fit(self, panel: Panel, *, end: int | None = None) -> LoadForecaster:
        """Fit on targets up to position `end` (inclusive; default the last observation)."""
        if self.target not in {"level", "season"}:
            raise ValueError(f"target={self.target!r}; expected 'level' or 'season'")
        if self.interval not in {"conformal", "quantile"}:
            raise ValueError(f"interval={self.interval!r}; expected 'conformal' or 'quantile'")
        if self.horizon < 1:
            raise ValueError(f"horizon={self.horizon}; expected >= 1")
        self.spec_ = self.spec or default_spec(panel.freq, exog=tuple(panel.exog))
        rng = np.random.default_rng(self.random_state)
        last = panel.last_observed() if end is None else int(end)
        self.climates_ = fit_climates(panel.index, {k: panel.exog[k] for k in self.spec_.exog if k in panel.exog}, last)
        self.fit_end_ = panel.index[last]
        builder = self._builder(panel)
        origins = self._origins(panel, last)
        if len(origins) == 0:
            raise ValueError(f"{last + 1} periods of history; need more than min_history={self.min_history}")
        groups = self._groups(panel)
        self.group_names_ = sorted(set(groups))
        lo_q, hi_q = self.quantiles
        self.resid_q_ = np.zeros((len(self.group_names_), self.horizon, 2))
        self.calibration_ = None
        if self.interval == "conformal" and self.calibration_fraction > 0:
            self.resid_q_ = self._calibrate(builder, origins, last, groups, rng)
        rows, oo, hh = self._triples(builder, origins, last, rng)
        X, scale = builder.build(rows, oo, hh)
        self.models_ = self._fit_models(X, panel.y[rows, oo + hh] / scale - self._offset(X))
        self.feature_names_in_ = list(X.columns)
        self.n_train_rows_ = len(X)
        logger.info(
            "LoadForecaster(%s) fitted on %d rows, %d series, horizon %d (q %.2f/%.2f)",
            panel.freq,
            len(X),
            len(panel.y),
            self.horizon,
            lo_q,
            hi_q,
        )
        return self

    def _offset(self, X: pd.DataFrame) -> np.ndarray:
        """Scaled base the model corrects: 0 (``target="level"``) or the latest same-phase value
        (``target="season"``: the model learns the change from the same hour one season back)."""
        if self.target == "level":
            return np.zeros(len(X))
        column = f"y_season_{self.spec_.seasons[0]}"
        return X[column].fillna(X["y_last"]).fillna(0.0).to_numpy()

    def _builder(self, panel: Panel) -> FeatureBuilder:
        source = IssueTimeExog(panel.index, self.climates_, panel.issued)
        return FeatureBuilder(panel, self.spec_, source, actual_exog=self.actual_exog)

    def _groups(self, panel: Panel) -> np.ndarray:
        if self.group_col and self.group_col in panel.series:
            return panel.series[self.group_col].astype(str).to_numpy()
        return np.full(len(panel.series), "all")

    def _calibrate(
        self, builder: FeatureBuilder, origins: np.ndarray, last: int, groups: np.ndarray, rng
    ) -> np.ndarray:
        """Per (group, horizon) residual quantiles from a model that never saw the calibration targets."""
        n_cal = max(int(len(origins) * self.calibration_fraction), 1)
        cal_origins = origins[-n_cal:]
        first_cal_target = cal_origins[0] + 1
        fit_origins = origins[origins + 1 < first_cal_target]
        if len(fit_origins) == 0:
            raise ValueError(f"{len(origins)} training origins leave none before calibration; add history")
        rows, oo, hh = self._triples(builder, fit_origins, first_cal_target - 1, rng)
        X, scale = builder.build(rows, oo, hh)
        model = self._fit_models(X, builder.panel.y[rows, oo + hh] / scale - self._offset(X))["p50"]
        rows, oo, hh = self._triples(builder, cal_origins, last, rng)
        Xc, sc = builder.build(rows, oo, hh)
        resid = builder.panel.y[rows, oo + hh] / sc - model.predict(Xc) - self._offset(Xc)
        self.calibration_ = pd.DataFrame({"row": rows, "origin": oo, "horizon": hh, "resid": resid, "scale": sc})
        lo_q, hi_q = self.quantiles
        out = np.zeros((len(self.group_names_), self.horizon, 2))
        g_of_row = groups[rows]
        pooled = pd.DataFrame({"h": hh, "r": resid}).groupby("h")["r"]
        pooled_q = np.column_stack(
            [
                pooled.quantile(lo_q).reindex(range(1, self.horizon + 1)),
                pooled.quantile(hi_q).reindex(range(1, self.horizon + 1)),
            ]
        )
        for gi, g in enumerate(self.group_names_):
            sel = g_of_row == g
            by_h = pd.DataFrame({"h": hh[sel], "r": resid[sel]}).groupby("h")["r"]
            q = np.column_stack(
                [
                    by_h.quantile(lo_q).reindex(range(1, self.horizon + 1)),
                    by_h.quantile(hi_q).reindex(range(1, self.horizon + 1)),
                ]
            )
            few = by_h.size().reindex(range(1, self.horizon + 1)).fillna(0).to_numpy() < 20
            q[few] = pooled_q[few]
            q = pd.DataFrame(q).ffill().bfill().fillna(0.0).to_numpy()
            out[gi, :, 0] = np.minimum.accumulate(np.minimum(q[:, 0], 0.0))
            out[gi, :, 1] = np.maximum.accumulate(np.maximum(q[:, 1], 0.0))
        return out

    # ---------------------------------------------------------------- prediction
    def predict(
        self, panel: Panel, origins: int | np.ndarray, *, horizon: int | None = None, rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Forecasts for every series (or `rows`) at each origin position, horizons 1..`horizon`.

        Returns a long frame: ``series_id``, ``origin`` (timestamp), ``timestamp``, ``horizon``, ``p10``,
        ``p50``, ``p90`` in the units of ``panel.y``. Targets must lie inside ``panel.index``
        (use :meth:`Panel.extend` for the future).
        """
        horizon = self.horizon if horizon is None else int(horizon)
        if horizon > self.horizon:
            raise ValueError(f"horizon={horizon} exceeds the fitted maximum of {self.horizon}")
        builder = self._builder(panel)
        series_rows = np.arange(len(panel.y)) if rows is None else np.asarray(rows)
        origins = np.atleast_1d(np.asarray(origins, dtype=np.int64))
        rr, oo, hh = (a.ravel() for a in np.meshgrid(series_rows, origins, np.arange(1, horizon + 1), indexing="ij"))
        X, scale = builder.build(rr, oo, hh)
        scale = np.where(np.isnan(scale), 0.0, scale)
        offset = self._offset(X)
        p50 = (self.models_["p50"].predict(X) + offset) * scale
        if self.interval == "quantile":
            lo = np.minimum((self.models_["lo"].predict(X) + offset) * scale, p50)
            hi = np.maximum((self.models_["hi"].predict(X) + offset) * scale, p50)
        else:
            groups = self._groups(panel)[rr]
            gi = pd.Index(self.group_names_).get_indexer(groups)
            gi = np.where(gi < 0, 0, gi)
            lo = p50 + self.resid_q_[gi, hh - 1, 0] * scale
            hi = p50 + self.resid_q_[gi, hh - 1, 1] * scale
        return pd.DataFrame(
            {
                "series_id": panel.series["series_id"].to_numpy()[rr],
                "origin": panel.index[oo],
                "timestamp": panel.index[oo + hh],
                "horizon": hh,
                "p10": lo,
                "p50": p50,
                "p90": hi,
            }
        )
