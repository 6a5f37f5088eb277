"""Readings summed to one series per hierarchy (level, key) and period (pure).

The sums are additive: :func:`period_sums` on each partition of a tenant (disjoint customers),
:func:`combine_sums` over the partitions and :func:`series_from_sums` give the same series as
:func:`aggregate_series` on the whole tenant (up to floating-point summation order), so a tenant of
millions of customers is aggregated one partition per Dask task (:mod:`training.forecast_parts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.exog import naive_utc

#: the grouped hierarchy levels read from the customers table
GROUPS = ("region", "category", "socio_group")
#: the bottom of a grouped hierarchy without customer series: one series per region x category x socio_group
CELL = "cell"


@dataclass
class PeriodSums:
    """kWh and reading counts per (level, key, period), and the distinct reading times they came from."""

    sums: pd.DataFrame  # level, key, timestamp, kwh, n_readings; levels in hierarchy order, then key, timestamp
    times: np.ndarray  # sorted distinct naive reading times (datetime64[ns])
    levels: tuple[str, ...]


def group_attrs(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers' hierarchy groups (the columns of :data:`GROUPS` the table has), as text."""
    return customers[[c for c in GROUPS if c in customers]].astype(str)


def cell_keys(customers: pd.DataFrame) -> pd.Series:
    """Each customer's cell key ``region|category|socio_group`` (the attributes the table has)."""
    attrs = group_attrs(customers)
    keys = attrs.iloc[:, 0] if len(attrs.columns) else pd.Series("all", index=customers.index)
    for col in attrs.columns[1:]:
        keys = keys + "|" + attrs[col]
    return keys


def period_sums(
    readings: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    freq: str = "D",
    levels: tuple[str, ...],
    time_col: str | None = None,
) -> PeriodSums:
    """kWh sum and reading count per (level, key) and period; ``cell`` keys join the group attributes."""
    time_col = time_col or ("read_at" if "read_at" in readings else "reading_date")
    ts = naive_utc(readings[time_col])
    period = ts.to_period({"H": "h", "D": "D", "M": "M"}[freq]).to_timestamp()
    base = pd.DataFrame(
        {"customer_id": readings["customer_id"].to_numpy(), "timestamp": period, "kwh": readings["kwh"].to_numpy(float)}
    )
    if customers is not None:
        attrs = customers[["customer_id", *(c for c in GROUPS if c in customers)]]
        if CELL in levels:
            attrs = attrs.assign(**{CELL: cell_keys(customers).to_numpy()})
        base = base.merge(attrs, on="customer_id", how="left")
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
    sums = pd.concat(parts, ignore_index=True).rename(columns={"sum": "kwh", "count": "n_readings"})
    return PeriodSums(sums[["level", "key", "timestamp", "kwh", "n_readings"]], np.unique(ts.to_numpy()), levels)


def combine_sums(parts: list[PeriodSums]) -> PeriodSums:
    """The sums of a tenant from those of its partitions (disjoint customers), in :func:`period_sums` order."""
    levels = parts[0].levels
    every = pd.concat([p.sums for p in parts], ignore_index=True)
    out = []
    for level in levels:
        rows = every[every["level"] == level]
        if len(rows):
            g = rows.groupby(["key", "timestamp"], sort=True)[["kwh", "n_readings"]].sum()
            out.append(g.reset_index().assign(level=level))
    sums = pd.concat(out, ignore_index=True)[["level", "key", "timestamp", "kwh", "n_readings"]]
    return PeriodSums(sums, np.unique(np.concatenate([p.times for p in parts])), levels)


def series_from_sums(sums: PeriodSums, freq: str, weather: pd.DataFrame | None = None) -> pd.DataFrame:
    """Series frame of :func:`aggregate_series` from period sums."""
    ts = pd.DatetimeIndex(sums.times)
    step = reading_step(ts)  # readings per meter per period = period length / step (2 per hour for half-hours)
    out = sums.sums.copy()
    if freq == "M":
        out["n_meters"] = out["n_readings"] / (out["timestamp"].dt.days_in_month * (pd.Timedelta(days=1) / step))
    else:
        out["n_meters"] = out["n_readings"] / (pd.Timedelta({"H": "1h", "D": "1D", "Q": "15min"}[freq]) / step)
    out = out[out["timestamp"] <= last_complete(ts, freq)]
    out["kwh_per_meter"] = out["kwh"] / out["n_meters"]
    out["series_id"] = out["level"] + ":" + out["key"].astype(str)
    out = out[["series_id", "level", "key", "timestamp", "kwh", "n_meters", "kwh_per_meter"]]
    if weather is not None and len(weather):
        out = out.merge(weather_per_period(weather, freq), on="timestamp", how="left")
    return out.reset_index(drop=True)


def aggregate_series(
    readings: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    freq: str = "D",
    levels: tuple[str, ...] = ("total", *GROUPS, "customer"),
    weather: pd.DataFrame | None = None,
    time_col: str | None = None,
) -> pd.DataFrame:
    """Sum readings to one series per (level, key) and period.

    Parameters
    ----------
    readings : frame with ``customer_id``, a time column (``reading_date`` or ``read_at``) and ``kwh``.
    customers : attributes (``region``, ``category``, ``socio_group``) for the grouped levels (and ``cell``).
    freq : ``H`` (from interval readings), ``D`` or ``M``. Incomplete trailing periods are dropped.
    weather : optional hourly ``observed_at``/``temperature_c`` (mean over regions), averaged per period.

    Returns
    -------
    DataFrame with columns ``series_id`` (``level:key``), ``level``, ``key``, ``timestamp`` (naive,
    period start), ``kwh``, ``n_meters``, ``kwh_per_meter`` and ``temperature_c`` when weather is given.
    """
    sums = period_sums(readings, customers, freq=freq, levels=levels, time_col=time_col)
    return series_from_sums(sums, freq, weather)


def reading_step(ts: pd.DatetimeIndex) -> pd.Timedelta:
    """The readings' resolution: the most common gap between distinct timestamps (1 day for dates)."""
    uniq = np.unique(ts.to_numpy())
    if len(uniq) < 2:
        return pd.Timedelta(days=1)
    values, counts = np.unique(np.diff(uniq), return_counts=True)
    return pd.Timedelta(values[np.argmax(counts)])


def last_complete(ts: pd.DatetimeIndex, freq: str) -> pd.Timestamp:
    """Start of the last period fully covered by readings (a reading at t covers ``[t, t + step)``).

    Half-hourly readings ending at 00:00 cover up to 00:30, so the last complete hour is 23:00 of the
    previous day (the 00:00 hour holds one of its two half-hours and is left out); daily readings up to
    the 27th of a month leave that month incomplete.
    """
    end = ts.max() + reading_step(ts)  # exclusive end of what was read
    if freq == "M":
        return end.to_period("M").to_timestamp() - pd.offsets.MonthBegin(1)
    alias = {"H": "h", "D": "D", "Q": "15min"}[freq]
    return end.floor(alias) - pd.tseries.frequencies.to_offset(alias)


def weather_per_period(weather: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Mean temperature per period over all regions (``timestamp``, ``temperature_c``)."""
    ts = naive_utc(weather["observed_at"])
    period = ts.to_period({"H": "h", "D": "D", "M": "M"}[freq]).to_timestamp()
    temp = pd.Series(weather["temperature_c"].to_numpy(dtype=float)).groupby(period).mean()
    return temp.rename_axis("timestamp").rename("temperature_c").reset_index()
