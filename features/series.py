"""Load series for forecasting: aggregation to hierarchy levels and origin-anchored features (pure).

Readings are summed to one series per (level, key) on a regular grid (``H``, ``D`` or ``M``). Households
join and leave, so each series also carries ``n_meters`` (average meters reporting per period) and the
forecast target is ``kwh_per_meter`` = kwh / n_meters; forecasts go back to kWh with the meter count
at the issue time (:func:`aggregate_series`).

Features are declared as data (:class:`FeatureSpec`) and their names derived from the declaration
(``y_lag_24``, ``y_season_168``, ``y_mean_28``). Every feature row belongs to one *origin* ``o`` (the last
period whose value is known) and one *horizon* ``h`` (target period ``t = o + h``).

Invariants (no leakage; tested by perturbing values after the origin)
--------------------------------------------------------------------
* a lag ``k`` feature reads ``y[t - k]`` only when ``k >= h`` (so ``t - k <= o``); otherwise it is NaN;
* a season ``s`` feature reads ``y[t - s * ceil(h / s)]``, the latest same-phase value at or before ``o``;
* window means, the last value and the scale read ``y[o - w + 1 .. o]`` only;
* exogenous columns (temperature) are read at ``t``: actuals in backtests, a weather forecast or the
  day-of-year climatology (:func:`climatology`) for the future.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.calendar import is_holiday

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
    windows : lengths of the means over the windows ending at the origin.
    scale_window : periods in the mean |y| each row is divided by (scale-free global model).
    exog : exogenous columns read at the target period.
    calendar : calendar fields of the target period (``hour``, ``dayofweek``, ``dayofyear``, ``month``,
        ``holiday``).
    """

    freq: str = "D"
    lags: tuple[int, ...] = (1, 2, 7, 14)
    seasons: tuple[int, ...] = (7,)
    origin_lags: tuple[int, ...] = ()
    windows: tuple[int, ...] = (7, 28)
    scale_window: int = 28
    exog: tuple[str, ...] = ("temperature_c",)
    calendar: tuple[str, ...] = ("dayofweek", "dayofyear", "holiday")
    holiday_country: str = "GB"
    holiday_subdiv: str | None = "ENG"

    @property
    def names(self) -> list[str]:
        return [
            "horizon",
            "y_last",
            *(f"y_lag_{k}" for k in self.lags),
            *(f"y_season_{s}" for s in self.seasons),
            *(f"y_origin_lag_{k}" for k in self.origin_lags),
            *(f"y_mean_{w}" for w in self.windows),
            *self.exog,
            *(f"{c}_target" for c in self.calendar),
        ]


def default_spec(
    freq: str, *, exog: tuple[str, ...] = ("temperature_c",), country: str = "GB", subdiv: str | None = "ENG"
) -> FeatureSpec:
    """Sensible declarations per frequency (hourly: day and week seasons; monthly: year)."""
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

    ``index`` may run past the last observation (``y`` NaN there) so that exogenous values for the
    future can be stored; ``series`` holds one row of attributes per series (``series_id`` first).
    """

    index: pd.DatetimeIndex
    y: np.ndarray
    series: pd.DataFrame
    freq: str = "D"
    exog: dict[str, np.ndarray] = field(default_factory=dict)

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
        )

    def extend(self, periods: int, exog_future: dict[str, np.ndarray] | None = None) -> Panel:
        """Append `periods` future periods (y NaN); exog from `exog_future` or the climatology."""
        if periods <= 0:
            return self
        future = pd.date_range(self.index[-1], periods=periods + 1, freq=FREQS[self.freq])[1:]
        index = self.index.append(future)
        y = np.hstack([self.y, np.full((len(self.y), periods), np.nan)])
        exog = {}
        for name, values in self.exog.items():
            ahead = None if exog_future is None else exog_future.get(name)
            if ahead is None:
                ahead = np.vstack([climatology(self.index, row, future) for row in values])
            exog[name] = np.hstack([values, ahead])
        return Panel(index, y, self.series, self.freq, exog)


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
    """Mean of `values` by (day of year, hour) over the history, read at `future` (NaN-aware).

    Falls back to day of year, then month, then the overall mean when a slot has no history.
    """
    ok = ~np.isnan(values)
    out = np.full(len(future), np.nanmean(values) if ok.any() else np.nan)
    for keys in (lambda ix: ix.month, lambda ix: ix.day_of_year, lambda ix: ix.day_of_year * 24 + ix.hour):
        means = pd.Series(values[ok]).groupby(np.asarray(keys(index))[ok]).mean()
        found = means.reindex(np.asarray(keys(future))).to_numpy()
        out = np.where(np.isnan(found), out, found)
    return out


def aggregate_series(
    readings: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    freq: str = "D",
    levels: tuple[str, ...] = LEVELS,
    weather: pd.DataFrame | None = None,
    time_col: str | None = None,
) -> pd.DataFrame:
    """Sum readings to one series per (level, key) and period.

    Parameters
    ----------
    readings : frame with ``customer_id``, a time column (``reading_date`` or ``read_at``) and ``kwh``.
    customers : attributes (``region``, ``category``, ``socio_group``) for the grouped levels.
    freq : ``H`` (from interval readings), ``D`` or ``M``. Incomplete trailing periods are dropped.
    weather : optional hourly ``observed_at``/``temperature_c`` (mean over regions), averaged per period.

    Returns
    -------
    DataFrame with columns ``series_id`` (``level:key``), ``level``, ``key``, ``timestamp`` (naive,
    period start), ``kwh``, ``n_meters``, ``kwh_per_meter`` and ``temperature_c`` when weather is given.
    """
    time_col = time_col or ("read_at" if "read_at" in readings else "reading_date")
    ts = pd.DatetimeIndex(readings[time_col])
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    period = ts.to_period({"H": "h", "D": "D", "M": "M"}[freq]).to_timestamp()
    per_day = {"H": 2.0, "D": 1.0, "M": None}[freq]  # readings per meter per period (half-hours per hour)
    base = pd.DataFrame(
        {
            "customer_id": readings["customer_id"].to_numpy(),
            "timestamp": period,
            "kwh": readings["kwh"].to_numpy(dtype=float),
        }
    )
    if customers is not None:
        attrs = [c for c in ("region", "category", "socio_group") if c in customers]
        base = base.merge(customers[["customer_id", *attrs]], on="customer_id", how="left")
    parts = []
    for level in levels:
        if level == "total":
            keys = pd.Series("all", index=base.index)
        elif level == "customer":
            keys = base["customer_id"]
        elif level in base:
            keys = base[level].astype(str)
        else:
            continue
        g = base.assign(key=keys.to_numpy()).groupby(["key", "timestamp"], sort=True)["kwh"].agg(["sum", "count"])
        parts.append(g.reset_index().assign(level=level))
    out = pd.concat(parts, ignore_index=True).rename(columns={"sum": "kwh", "count": "n_readings"})
    if freq == "M":
        out["n_meters"] = out["n_readings"] / out["timestamp"].dt.days_in_month
    else:
        out["n_meters"] = out["n_readings"] / per_day
    out = out[out["timestamp"] <= _last_complete(ts, freq)]
    out["kwh_per_meter"] = out["kwh"] / out["n_meters"]
    out["series_id"] = out["level"] + ":" + out["key"].astype(str)
    out = out[["series_id", "level", "key", "timestamp", "kwh", "n_meters", "kwh_per_meter"]]
    if weather is not None and len(weather):
        out = out.merge(weather_per_period(weather, freq), on="timestamp", how="left")
    return out.reset_index(drop=True)


def _last_complete(ts: pd.DatetimeIndex, freq: str) -> pd.Timestamp:
    last = ts.max()
    if freq == "M":
        start = last.to_period("M").to_timestamp()
        return start if last.normalize() == (start + pd.offsets.MonthEnd(0)) else start - pd.offsets.MonthBegin(1)
    return last.floor({"H": "h", "D": "D"}[freq])


def weather_per_period(weather: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Mean temperature per period over all regions (``timestamp``, ``temperature_c``)."""
    ts = pd.DatetimeIndex(weather["observed_at"])
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    period = ts.to_period({"H": "h", "D": "D", "M": "M"}[freq]).to_timestamp()
    temp = pd.Series(weather["temperature_c"].to_numpy(dtype=float)).groupby(period).mean()
    return temp.rename_axis("timestamp").rename("temperature_c").reset_index()


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
    """Builds origin-anchored feature rows for a :class:`Panel` (precomputes window means once)."""

    def __init__(self, panel: Panel, spec: FeatureSpec):
        self.panel, self.spec = panel, spec
        self._means = {w: _window_means(panel.y, w) for w in {*spec.windows, spec.scale_window}}
        self._abs_scale = _window_means(np.abs(panel.y), spec.scale_window)
        self._cal = _calendar(panel.index, spec.calendar, spec)

    def scale(self, rows: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Mean |y| over the scale window ending at each origin (NaN when unknown or ~0)."""
        s = self._abs_scale[rows, origins]
        return np.where(s > 1e-9, s, np.nan)

    def build(self, rows: np.ndarray, origins: np.ndarray, horizons: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Feature frame (scaled by each row's scale) and the scale, for (series row, origin, horizon) triples.

        Targets past the end of the index are not allowed; exogenous values are read at ``o + h``.
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
        for w in spec.windows:
            cols[f"y_mean_{w}"] = self._means[w][rows, origins] / scale
        for name in spec.exog:
            values = self.panel.exog.get(name)
            cols[name] = values[rows, target] if values is not None else np.full(len(rows), np.nan)
        for name, values in self._cal.items():
            cols[f"{name}_target"] = values[target]
        return pd.DataFrame(cols, columns=spec.names), scale
