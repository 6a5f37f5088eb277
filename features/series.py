"""Load series for forecasting: aggregation to hierarchy levels and origin-anchored features (pure).

Readings are summed to one series per (level, key) on a regular grid (``H``, ``D`` or ``M``). Households
join and leave, so each series also carries ``n_meters`` (average meters reporting per period) and the
forecast target is ``kwh_per_meter`` = kwh / n_meters; forecasts go back to kWh with the meter count
at the issue time (:func:`features.aggregates.aggregate_series`, re-exported here).

Features are declared as data (:class:`FeatureSpec`) and their names derived from the declaration
(``y_lag_24``, ``y_season_168``, ``y_mean_28``). Every feature row belongs to one *origin* ``o`` (the last
period whose value is known) and one *horizon* ``h`` (target period ``t = o + h``).

Invariants (no leakage; tested by perturbing values after the origin)
--------------------------------------------------------------------
* a lag ``k`` feature reads ``y[t - k]`` only when ``k >= h`` (so ``t - k <= o``); otherwise it is NaN;
* a season ``s`` feature reads ``y[t - s * ceil(h / s)]``, the latest same-phase value at or before ``o``;
* window means, the last value and the scale read ``y[o - w + 1 .. o]`` only;
* observed exogenous columns (``exog``, e.g. temperature) are read *as known at the origin*
  (:class:`features.exog.IssueTimeExog`): the latest issued weather forecast for ``t`` with
  ``issued_at <= o``, else a day-of-year/hour climatology fitted on observations up to the fit cut-off.
  Their actual value at ``t`` is read only by the labelled 'perfect weather' mode (``actual_exog``);
* ``known`` columns (forecasts or schedules that exist before the issue time) are read at ``t``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.aggregates import aggregate_series, last_complete, reading_step, weather_per_period  # noqa: F401
from features.calendar import is_holiday
from features.exog import Climatology, IssueTimeExog, fit_climates

logger = logging.getLogger(__name__)

LEVELS = ("total", "region", "category", "socio_group", "customer")
FREQS = {"Q": "15min", "H": "h", "D": "D", "M": "MS"}  # meterwise freq -> pandas alias (period starts)
TARGET = "kwh_per_meter"


@dataclass(frozen=True)
class FeatureSpec:
    """Declared features; column names are derived from the declaration (see :attr:`names`).

    Parameters
    ----------
    freq : {"H", "D", "M"}
    lags : target-relative lags in periods, NaN unless ``lag >= horizon``.
    seasons : season lengths; latest same-phase value available at the origin.
    origin_lags : lags counted back from the origin (``y[o - k]``), always known.
    season_means : ``(s, n)`` pairs: mean of the latest `n` same-phase values known at the origin
        (``(24, 7)``: the same hour over the last 7 days), named ``y_season_{s}_mean_{n}``.
    windows : lengths of the means over the windows ending at the origin.
    scale_window : periods in the mean |y| each row is divided by (scale-free global model).
    exog : observed exogenous columns, read as known at the origin (issued forecast or climatology).
    known : columns known ahead of the issue time (issued forecasts, schedules), read at the target.
    calendar : calendar fields of the target period (``hour``, ``dayofweek``, ``dayofyear``, ``month``,
        ``holiday``; ``holiday`` only when `holiday_country` is set: no holidays unless asked).
    """

    freq: str = "D"
    lags: tuple[int, ...] = (1, 2, 7, 14)
    seasons: tuple[int, ...] = (7,)
    origin_lags: tuple[int, ...] = ()
    season_means: tuple[tuple[int, int], ...] = ()
    windows: tuple[int, ...] = (7, 28)
    scale_window: int = 28
    exog: tuple[str, ...] = ("temperature_c",)
    calendar: tuple[str, ...] = ("dayofweek", "dayofyear", "holiday")
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    known: tuple[str, ...] = ()

    @property
    def calendar_fields(self) -> tuple[str, ...]:
        return tuple(c for c in self.calendar if c != "holiday" or self.holiday_country)

    @property
    def names(self) -> list[str]:
        return [
            "horizon",
            "y_last",
            *(f"y_lag_{k}" for k in self.lags),
            *(f"y_season_{s}" for s in self.seasons),
            *(f"y_origin_lag_{k}" for k in self.origin_lags),
            *(f"y_season_{s}_mean_{n}" for s, n in self.season_means),
            *(f"y_mean_{w}" for w in self.windows),
            *self.exog,
            *self.known,
            *(f"{c}_target" for c in self.calendar_fields),
        ]


def default_spec(
    freq: str, *, exog: tuple[str, ...] = ("temperature_c",), country: str | None = None, subdiv: str | None = None
) -> FeatureSpec:
    """Sensible declarations per frequency (hourly: day and week seasons; monthly: year); holidays only
    when `country` is given."""
    common = {"exog": exog, "holiday_country": country, "holiday_subdiv": subdiv}
    if freq == "H":
        return FeatureSpec(
            freq="H",
            lags=(1, 2, 3, 24, 48, 168),
            seasons=(24, 168),
            windows=(6, 24, 168),
            scale_window=168,
            calendar=("hour", "dayofweek", "dayofyear", "holiday"),
            **common,
        )
    if freq == "M":
        return FeatureSpec(
            freq="M", lags=(1, 12), seasons=(12,), windows=(3,), scale_window=3, calendar=("month",), **common
        )
    if freq == "D":
        return FeatureSpec(freq="D", **common)
    raise ValueError(f"freq={freq!r}; expected one of {sorted(FREQS)}")


@dataclass
class Panel:
    """Many series on one regular grid: ``y`` is (n_series, T) with NaN for missing periods.

    ``index`` may run past the last observation (``y`` NaN there); ``series`` holds one row of attributes
    per series (``series_id`` first); ``exog`` holds observed inputs and ``known`` columns on the same grid;
    ``issued`` optional issued weather forecasts (:func:`features.exog.issued_per_period`).
    """

    index: pd.DatetimeIndex
    y: np.ndarray
    series: pd.DataFrame
    freq: str = "D"
    exog: dict[str, np.ndarray] = field(default_factory=dict)
    issued: pd.DataFrame | None = None

    @property
    def ids(self) -> list[str]:
        return self.series["series_id"].tolist()

    def last_observed(self) -> int:
        """Position of the last period with any observed value."""
        seen = np.flatnonzero(~np.isnan(self.y).all(axis=0))
        return int(seen[-1]) if len(seen) else -1

    def subset(self, rows: np.ndarray | list[int]) -> Panel:
        rows = np.asarray(rows)
        return Panel(
            self.index,
            self.y[rows],
            self.series.iloc[rows].reset_index(drop=True),
            self.freq,
            {k: v[rows] for k, v in self.exog.items()},
            self.issued,
        )

    def extend(self, periods: int, exog_future: dict[str, np.ndarray] | None = None) -> Panel:
        """Append `periods` future periods (y NaN; exog from `exog_future`, else NaN: never read as observed)."""
        if periods <= 0:
            return self
        future = pd.date_range(self.index[-1], periods=periods + 1, freq=FREQS[self.freq])[1:]
        index = self.index.append(future)
        y = np.hstack([self.y, np.full((len(self.y), periods), np.nan)])
        exog = {}
        for name, values in self.exog.items():
            ahead = None if exog_future is None else exog_future.get(name)
            if ahead is None:
                ahead = np.full((len(values), periods), np.nan)
            exog[name] = np.hstack([values, ahead])
        return Panel(index, y, self.series, self.freq, exog, self.issued)


def panel_from_long(
    df: pd.DataFrame,
    *,
    freq: str,
    value: str = TARGET,
    id_col: str = "series_id",
    time_col: str = "timestamp",
    exog: tuple[str, ...] = (),
    attrs: tuple[str, ...] = (),
) -> Panel:
    """Pivot a long frame (one row per series and period) onto a regular grid."""
    if freq not in FREQS:
        raise ValueError(f"freq={freq!r}; expected one of {sorted(FREQS)}")
    times = pd.DatetimeIndex(df[time_col])
    index = pd.date_range(times.min(), times.max(), freq=FREQS[freq])
    series = df.drop_duplicates(id_col)[[id_col, *attrs]].rename(columns={id_col: "series_id"})
    series = series.reset_index(drop=True)
    row = pd.Index(series["series_id"]).get_indexer(df[id_col])
    col = index.get_indexer(times)
    if (col < 0).any():
        raise ValueError(f"{int((col < 0).sum())} timestamps are off the {freq} grid starting {index[0]}")

    def grid(column: str) -> np.ndarray:
        out = np.full((len(series), len(index)), np.nan)
        out[row, col] = df[column].to_numpy(dtype=float)
        return out

    return Panel(index, grid(value), series, freq, {name: grid(name) for name in exog if name in df})


def climatology(index: pd.DatetimeIndex, values: np.ndarray, future: pd.DatetimeIndex) -> np.ndarray:
    """Mean of `values` by (day of year, hour) over the history, read at `future` (see :class:`Climatology`)."""
    return Climatology.fit(index, values).at(future)


def _window_means(y: np.ndarray, w: int) -> np.ndarray:
    """NaN-aware mean of ``y[:, o-w+1 .. o]`` for every o (NaN when the window holds no value)."""
    filled = np.nan_to_num(y)
    cs = np.concatenate([np.zeros((len(y), 1)), np.cumsum(filled, axis=1)], axis=1)
    cn = np.concatenate([np.zeros((len(y), 1)), np.cumsum(~np.isnan(y), axis=1)], axis=1)
    lo = np.maximum(np.arange(y.shape[1]) + 1 - w, 0)
    s, n = cs[:, 1:] - cs[:, lo], cn[:, 1:] - cn[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _calendar(index: pd.DatetimeIndex, names: tuple[str, ...], spec: FeatureSpec) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        if name == "holiday":
            out[name] = is_holiday(index, country=spec.holiday_country, subdiv=spec.holiday_subdiv).astype(float)
        else:
            attr = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}.get(name, name)
            out[name] = np.asarray(getattr(index, attr), dtype=float)
    return out


class FeatureBuilder:
    """Builds origin-anchored feature rows for a :class:`Panel` (precomputes window means once).

    Parameters
    ----------
    exog_source : how observed inputs are read at the issue time; default: a climatology fitted on
        observations up to the earliest origin of each :meth:`build` call.
    actual_exog : read observed inputs at the target ('perfect weather'; for labelled comparisons only).
    """

    def __init__(
        self, panel: Panel, spec: FeatureSpec, exog_source: IssueTimeExog | None = None, *, actual_exog: bool = False
    ):
        self.panel, self.spec = panel, spec
        self.exog_source, self.actual_exog = exog_source, actual_exog
        self._means = {w: _window_means(panel.y, w) for w in {*spec.windows, spec.scale_window}}
        self._abs_scale = _window_means(np.abs(panel.y), spec.scale_window)
        self._cal = _calendar(panel.index, spec.calendar_fields, spec)

    def _exog(self, name: str, rows: np.ndarray, origins: np.ndarray, target: np.ndarray) -> np.ndarray:
        values = self.panel.exog.get(name)
        if values is None or not len(origins):
            return np.full(len(origins), np.nan)
        if self.actual_exog:
            return values[rows, target]
        source = self.exog_source
        if source is None:  # nothing given: what was observed up to the earliest origin
            source = IssueTimeExog(
                self.panel.index, fit_climates(self.panel.index, {name: values}, int(origins.min())), self.panel.issued
            )
        return source.values(name, origins, target)

    def scale(self, rows: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Mean |y| over the scale window ending at each origin (NaN when unknown or ~0)."""
        s = self._abs_scale[rows, origins]
        return np.where(s > 1e-9, s, np.nan)

    def build(self, rows: np.ndarray, origins: np.ndarray, horizons: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Feature frame (scaled by each row's scale) and the scale, for (series row, origin, horizon) triples.

        Targets past the end of the index are not allowed; observed exogenous values are read as known at
        ``o`` (see :class:`features.exog.IssueTimeExog`), ``known`` columns at ``o + h``.
        """
        y, spec = self.panel.y, self.spec
        rows, origins, horizons = (np.asarray(a, dtype=np.int64) for a in (rows, origins, horizons))
        target = origins + horizons
        if len(target) and target.max() >= y.shape[1]:
            raise ValueError(f"target period {int(target.max())} is past the panel end {y.shape[1] - 1}; extend() it")
        scale = self.scale(rows, origins)
        cols: dict[str, np.ndarray] = {"horizon": horizons.astype(float), "y_last": y[rows, origins] / scale}
        for k in spec.lags:
            src = np.clip(target - k, 0, None)
            cols[f"y_lag_{k}"] = np.where((k >= horizons) & (target - k >= 0), y[rows, src], np.nan) / scale
        for s in spec.seasons:
            src = target - s * np.ceil(horizons / s).astype(np.int64)
            cols[f"y_season_{s}"] = np.where(src >= 0, y[rows, np.clip(src, 0, None)], np.nan) / scale
        for k in spec.origin_lags:
            src = origins - k
            cols[f"y_origin_lag_{k}"] = np.where(src >= 0, y[rows, np.clip(src, 0, None)], np.nan) / scale
        for s, n in spec.season_means:
            first = target - s * np.ceil(horizons / s).astype(np.int64)
            srcs = first[None, :] - s * np.arange(n)[:, None]  # (n, rows)
            vals = np.where(srcs >= 0, y[rows[None, :], np.clip(srcs, 0, None)], np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                cols[f"y_season_{s}_mean_{n}"] = np.nanmean(vals, axis=0) / scale
        for w in spec.windows:
            cols[f"y_mean_{w}"] = self._means[w][rows, origins] / scale
        for name in spec.exog:
            cols[name] = self._exog(name, rows, origins, target)
        for name in spec.known:
            values = self.panel.exog.get(name)
            cols[name] = values[rows, target] if values is not None else np.full(len(rows), np.nan)
        for name, values in self._cal.items():
            cols[f"{name}_target"] = values[target]
        return pd.DataFrame(cols, columns=spec.names), scale
