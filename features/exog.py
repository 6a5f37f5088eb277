"""Exogenous inputs as known at an issue time: issued weather forecasts, else a climatology (pure).

A forecast issued at origin ``o`` for target ``t > o`` may only read what was known at ``o``. Observed
weather at ``t`` is not (it is measured after the issue), so every model reads exogenous observations
through :class:`IssueTimeExog`:

1. the latest *issued* weather forecast with ``issued_at <= origin`` and ``valid_at == target`` (the
   tenant's ``weather_forecasts`` table), when one exists;
2. else the day-of-year/hour :class:`Climatology` fitted on observations up to the fit cut-off (never
   later than the issue time of any forecast it serves).

Columns that are themselves forecasts or schedules known ahead (OpenSTEF's weather-forecast columns, a
tariff) are declared as ``known`` in :class:`features.series.FeatureSpec` and read at the target as they are.

Invariants: :meth:`Climatology.fit` sees only the values it is given (callers pass ``[: end + 1]``);
:meth:`IssueTimeExog.values` reads issued forecasts with ``issued_at <= origin`` only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

_KEYS = (
    ("month", lambda ix: np.asarray(ix.month)),
    ("dayofyear", lambda ix: np.asarray(ix.day_of_year)),
    ("slot", lambda ix: np.asarray(ix.day_of_year) * 24 + np.asarray(ix.hour)),
)


@dataclass(frozen=True)
class Climatology:
    """Mean of one observed input by month, day of year and (day of year, hour), from past values only.

    ``at(index)`` reads the finest key that has history, falling back to the coarser ones, then the
    overall mean.
    """

    tables: tuple[pd.Series, ...]
    overall: float

    @classmethod
    def fit(cls, index: pd.DatetimeIndex, values: np.ndarray) -> Climatology:
        """Fit on `values` (1-D, aligned with `index`, NaN allowed)."""
        values = np.asarray(values, dtype=float)
        ok = ~np.isnan(values)
        overall = float(values[ok].mean()) if ok.any() else float("nan")
        tables = tuple(pd.Series(values[ok]).groupby(key(index)[ok]).mean() for _, key in _KEYS)
        return cls(tables, overall)

    def at(self, index: pd.DatetimeIndex) -> np.ndarray:
        out = np.full(len(index), self.overall)
        for table, (_, key) in zip(self.tables, _KEYS, strict=True):
            found = table.reindex(key(index)).to_numpy()
            out = np.where(np.isnan(found), out, found)
        return out


def issued_per_period(forecasts: pd.DataFrame, freq: str, names: tuple[str, ...] = ("temperature_c",)) -> pd.DataFrame:
    """Issued weather forecasts (``issued_at``, ``valid_at``, values; any region) averaged per period.

    Returns ``issued_at`` (UTC-naive), ``valid_at`` (period start, UTC-naive) and one column per name.
    """
    issued = naive_utc(forecasts["issued_at"])
    valid = (
        naive_utc(forecasts["valid_at"]).to_period({"H": "h", "D": "D", "M": "M", "Q": "15min"}[freq]).to_timestamp()
    )
    cols = [n for n in names if n in forecasts]
    frame = pd.DataFrame({"issued_at": issued, "valid_at": valid, **{n: forecasts[n].to_numpy(float) for n in cols}})
    return frame.groupby(["issued_at", "valid_at"], as_index=False)[cols].mean()


def naive_utc(values: pd.Series | pd.Index) -> pd.DatetimeIndex:
    """Times as naive UTC (timezone-aware ones converted, naive ones kept)."""
    ts = pd.DatetimeIndex(pd.to_datetime(values))
    return ts.tz_convert("UTC").tz_localize(None) if ts.tz is not None else ts


class IssueTimeExog:
    """Exogenous values for (origin, target) pairs, as known at the origin.

    Parameters
    ----------
    index : the panel's time index (origins and targets are positions in it).
    climates : name -> :class:`Climatology` fitted on observations up to the fit cut-off.
    issued : optional output of :func:`issued_per_period`.
    """

    def __init__(self, index: pd.DatetimeIndex, climates: dict[str, Climatology], issued: pd.DataFrame | None = None):
        self.index, self.climates, self.issued = index, climates, issued
        self._clim = {name: c.at(index) for name, c in climates.items()}

    def values(self, name: str, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Value of `name` at each target as known at its origin (issued forecast, else climatology)."""
        out = self._clim[name][targets].copy()
        if self.issued is None or name not in self.issued or not len(origins):
            return out
        left = pd.DataFrame(
            {"pos": np.arange(len(origins)), "origin_at": self.index[origins], "valid_at": self.index[targets]}
        ).sort_values("origin_at")
        right = self.issued[["issued_at", "valid_at", name]].dropna().sort_values("issued_at")
        hit = pd.merge_asof(left, right, left_on="origin_at", right_on="issued_at", by="valid_at", direction="backward")
        found = np.full(len(origins), np.nan)
        found[hit["pos"].to_numpy()] = hit[name].to_numpy(dtype=float)
        return np.where(np.isnan(found), out, found)


def fit_climates(index: pd.DatetimeIndex, exog: dict[str, np.ndarray], end: int) -> dict[str, Climatology]:
    """One climatology per observed input from positions ``0 .. end`` (series averaged: one weather)."""
    out = {}
    for name, grid in exog.items():
        past = np.asarray(grid, dtype=float)[:, : end + 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(past, axis=0)
        out[name] = Climatology.fit(index[: end + 1], mean)
    return out
