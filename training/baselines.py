"""Baseline forecasters: seasonal naive (vectorised), ETS / Holt-Winters and SARIMAX (statsmodels).

Each baseline forecasts one origin at a time from the history ``y[: o + 1]`` only and returns the same
long frame as :meth:`training.forecasting.LoadForecaster.predict` (``series_id``, ``origin``,
``timestamp``, ``horizon``, ``p10``, ``p50``, ``p90``).

Intervals: seasonal naive uses empirical quantiles of its own h-step errors in the history; ETS uses
statsmodels' ``ETSModel`` prediction intervals; SARIMAX its Gaussian forecast intervals.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.series import Panel

logger = logging.getLogger(__name__)


def _frame(panel: Panel, rows: np.ndarray, origins: np.ndarray, hh: np.ndarray, lo, mid, hi) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": panel.series["series_id"].to_numpy()[rows],
            "origin": panel.index[origins],
            "timestamp": panel.index[origins + hh],
            "horizon": hh,
            "p10": lo,
            "p50": mid,
            "p90": hi,
        }
    )


class SeasonalNaive:
    """``y_hat[o + h] = y[o + h - s * ceil(h / s)]``: the latest same-phase value known at the origin.

    Parameters
    ----------
    season : int
        Season length in periods (24 hourly, 7 daily, 12 monthly; 1 gives the naive last value).
    error_window : int
        Periods of history whose h-step errors give the P10/P90 offsets.
    """

    def __init__(self, season: int = 7, *, quantiles: tuple[float, float] = (0.1, 0.9), error_window: int = 365):
        self.season, self.quantiles, self.error_window = season, quantiles, error_window

    def predict(self, panel: Panel, origins: int | np.ndarray, *, horizon: int) -> pd.DataFrame:
        y, s = panel.y, self.season
        origins = np.atleast_1d(np.asarray(origins, dtype=np.int64))
        n = len(y)
        h = np.arange(1, horizon + 1)
        back = s * np.ceil(h / s).astype(np.int64)
        parts = []
        for o in origins:  # one vectorised block per origin (origins are few)
            rows, hh = (a.ravel() for a in np.meshgrid(np.arange(n), h, indexing="ij"))
            bb = s * np.ceil(hh / s).astype(np.int64)
            mid = y[rows, o + hh - bb]
            for k in range(1, 5):  # a missing same-phase value: the one a season earlier
                gap = np.isnan(mid) & (o + hh - bb - k * s >= 0)
                mid[gap] = y[rows[gap], (o + hh - bb - k * s)[gap]]
            if np.isnan(mid).any():  # still missing: the last value observed by the origin
                filled = pd.DataFrame(y[:, : o + 1].T).ffill().iloc[-1].to_numpy()
                mid = np.where(np.isnan(mid), filled[rows], mid)
            # h-step errors of the same rule over the error window ending at o
            t = np.arange(max(o - self.error_window + 1, int(back.max())), o + 1)
            err = y[:, t[None, :]] - y[:, (t[None, :] - back[:, None])]  # (n, H, len(t))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q_lo = np.nanquantile(err, self.quantiles[0], axis=2)
                q_hi = np.nanquantile(err, self.quantiles[1], axis=2)
            parts.append(
                _frame(panel, rows, np.full(len(rows), o), hh, mid + q_lo[rows, hh - 1], mid, mid + q_hi[rows, hh - 1])
            )
        return pd.concat(parts, ignore_index=True)


class _PerSeriesBaseline:
    """Fits a statsmodels model per series and origin on the last `max_history` observed values.

    ``rows`` (constructor) limits it to some series, e.g. the aggregates (they are slow).
    """

    max_history: int
    quantiles: tuple[float, float]

    def _one(self, history: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def predict(
        self, panel: Panel, origins: int | np.ndarray, *, horizon: int, rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        origins = np.atleast_1d(np.asarray(origins, dtype=np.int64))
        rows = rows if rows is not None else getattr(self, "rows", None)
        rows = np.arange(len(panel.y)) if rows is None else np.asarray(rows)
        parts = []
        h = np.arange(1, horizon + 1)
        for o in origins:
            for r in rows:
                hist = panel.y[r, max(0, o + 1 - self.max_history) : o + 1]
                hist = pd.Series(hist).interpolate(limit_direction="both")  # statsmodels 0.15 needs a Series
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        lo, mid, hi = self._one(hist, horizon)
                except Exception as err:  # a failed statsmodels fit falls back to the last value
                    logger.warning("%s failed on row %s at %s: %s", type(self).__name__, r, o, err)
                    lo = mid = hi = np.full(horizon, hist.iloc[-1] if len(hist) else np.nan)
                parts.append(_frame(panel, np.full(horizon, r), np.full(horizon, o), h, lo, mid, hi))
        return pd.concat(parts, ignore_index=True)


class ETSBaseline(_PerSeriesBaseline):
    """Holt-Winters as a state-space ETS(A, Ad, A) (statsmodels ``ETSModel``), intervals from the model.

    Falls back to ETS(A, Ad, N) when the history holds fewer than two full seasons.
    """

    def __init__(
        self,
        season: int = 7,
        *,
        max_history: int = 730,
        quantiles: tuple[float, float] = (0.1, 0.9),
        rows: np.ndarray | None = None,
    ):
        self.season, self.max_history, self.quantiles, self.rows = season, max_history, quantiles, rows

    def _one(self, history, horizon):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        seasonal = "add" if self.season > 1 and len(history) >= 2 * self.season + 2 else None
        model = ETSModel(
            history,
            error="add",
            trend="add",
            damped_trend=True,
            seasonal=seasonal,
            seasonal_periods=self.season if seasonal else None,
        )
        fit = model.fit(disp=False, maxiter=200)
        pred = fit.get_prediction(start=len(history), end=len(history) + horizon - 1)
        frame = pred.summary_frame(alpha=2 * self.quantiles[0])  # symmetric: alpha 0.2 -> P10/P90
        return frame["pi_lower"].to_numpy(), frame["mean"].to_numpy(), frame["pi_upper"].to_numpy()


class SARIMAXBaseline(_PerSeriesBaseline):
    """SARIMAX(1,0,1)(1,1,1,s) on the recent history (slow: use on aggregates and few origins)."""

    def __init__(
        self,
        season: int = 7,
        *,
        max_history: int = 365,
        quantiles: tuple[float, float] = (0.1, 0.9),
        rows: np.ndarray | None = None,
    ):
        self.season, self.max_history, self.quantiles, self.rows = season, max_history, quantiles, rows

    def _one(self, history, horizon):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        fit = SARIMAX(history.to_numpy(), order=(1, 0, 1), seasonal_order=(1, 1, 1, self.season)).fit(
            disp=False, maxiter=50
        )
        fc = fit.get_forecast(horizon)
        mid, sd = np.asarray(fc.predicted_mean), np.sqrt(np.asarray(fc.var_pred_mean))
        return mid + norm.ppf(self.quantiles[0]) * sd, mid, mid + norm.ppf(self.quantiles[1]) * sd
