"""ForecastBundle: the registered forecast model object that serving and the CLI call (pure, picklable).

It stores forecasts issued at the end of the training data for every (level, key, freq) up to the
maximum horizon, plus a history tail for charts, so :meth:`ForecastBundle.forecast` is a dictionary
lookup and a slice (microseconds, far below the 50 ms budget). Interface (kept stable for serving):

* ``levels_: dict[str, list[str]]`` level -> keys available (any freq);
* ``max_horizon_: dict[str, int]`` freq (``H``/``D``/``M``) -> max steps;
* ``forecast(level, key, horizon, freq="D") -> DataFrame[timestamp, p10, p50, p90]``;
* ``predict_frame(df)`` with columns ``level, key, horizon, freq`` -> long frame (MLflow signature).

Unknown level/key/freq raise :class:`UnknownSeries` (a ``KeyError``); a horizon past the limit raises
``ValueError`` naming the limit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.errors import UnknownSeries

COLUMNS = ["timestamp", "p10", "p50", "p90"]


class ForecastBundle:
    """Precomputed, reconciled forecasts per (level, key, freq) with their history tails.

    Parameters
    ----------
    forecasts : long frame ``level, key, freq, timestamp, horizon, p10, p50, p90`` (kWh per period).
    history : long frame ``level, key, freq, timestamp, y`` (recent actuals, kWh per period).
    meta : free-form facts (as_of per freq, reconciliation method, backtest scores, data hash).
    """

    def __init__(
        self, forecasts: pd.DataFrame, history: pd.DataFrame | None = None, meta: dict[str, Any] | None = None
    ):
        self.meta_ = dict(meta or {})
        f = forecasts.sort_values(["freq", "level", "key", "horizon"])
        self._tables: dict[tuple[str, str, str], pd.DataFrame] = {
            (str(lvl), str(key), str(freq)): g[COLUMNS].reset_index(drop=True)
            for (lvl, key, freq), g in f.groupby(["level", "key", "freq"], sort=False)
        }
        self._history: dict[tuple[str, str, str], pd.DataFrame] = {}
        if history is not None and len(history):
            for (lvl, key, freq), g in history.sort_values("timestamp").groupby(["level", "key", "freq"], sort=False):
                self._history[(str(lvl), str(key), str(freq))] = g[["timestamp", "y"]].reset_index(drop=True)
        levels: dict[str, set[str]] = {}
        for lvl, key, _ in self._tables:
            levels.setdefault(lvl, set()).add(key)
        self.levels_ = {lvl: sorted(keys) for lvl, keys in sorted(levels.items())}
        self.max_horizon_ = {str(freq): int(g["horizon"].max()) for freq, g in f.groupby("freq")}
        self.freq_levels_ = {
            str(freq): {
                lvl: sorted(g.loc[g["level"] == lvl, "key"].astype(str).unique()) for lvl in g["level"].unique()
            }
            for freq, g in f.groupby("freq")
        }

    def forecast(self, level: str, key: str, horizon: int, freq: str = "D") -> pd.DataFrame:
        """P10/P50/P90 for the next `horizon` periods of one series (timestamps are period starts, UTC-naive)."""
        if freq not in self.max_horizon_:
            raise UnknownSeries(level, key, freq, self.levels_)
        table = self._tables.get((str(level), str(key), str(freq)))
        if table is None:
            raise UnknownSeries(level, key, freq, self.freq_levels_.get(freq, {}))
        limit = self.max_horizon_[freq]
        if not 1 <= int(horizon) <= limit:
            raise ValueError(f"horizon={horizon} for freq={freq!r}; expected 1..{limit} (the maximum for {freq!r})")
        return table.iloc[: int(horizon)].copy()

    def summary(self) -> dict[str, Any]:
        """What planners and ``GET /v1/models`` show: issue time, data cut-off, methods and backtest scores."""
        keys = ("issued_at", "data_cutoff", "methods", "served", "candidates", "coverage", "weather", "score")
        return {k: self.meta_[k] for k in keys if k in self.meta_}

    def issue_info(self, freq: str) -> dict[str, str | None]:
        """Issue time and data cut-off of the forecasts at `freq` (None when unknown, e.g. an old bundle)."""
        issued, cutoff = self.meta_.get("issued_at", {}), self.meta_.get("data_cutoff", {})
        return {"issued_at": issued.get(freq), "data_cutoff": cutoff.get(freq)}

    def customers(self, level: str, key: str, freq: str) -> int | None:
        """How many customers the series covers at `freq` (hourly aggregates: those with interval meters)."""
        if level == "customer":
            return 1
        found = self.meta_.get("coverage", {}).get(freq, {}).get(level, {}).get(str(key))
        return None if found is None else int(found)

    def history(self, level: str, key: str, freq: str = "D", periods: int | None = None) -> pd.DataFrame:
        """Recent actuals (``timestamp``, ``y``) stored for charts; empty when none."""
        h = self._history.get((str(level), str(key), str(freq)), pd.DataFrame({"timestamp": [], "y": []}))
        return h.tail(periods) if periods else h

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Batch form for MLflow: rows of ``level, key, horizon, freq`` -> long ``level, key, freq, step`` + values."""
        parts = []
        for row in df.itertuples(index=False):
            freq = getattr(row, "freq", "D") or "D"
            out = self.forecast(str(row.level), str(row.key), int(row.horizon), str(freq))
            parts.append(out.assign(level=row.level, key=row.key, freq=freq, step=np.arange(1, len(out) + 1)))
        cols = ["level", "key", "freq", "step", *COLUMNS]
        return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
