"""Normalised load shapes per customer as of a cutoff (pure): the inputs of customer segmentation.

One row per customer, indexed by ``customer_id``, built from the daily readings of the
``window_days`` days ending at ``as_of`` (inclusive):

- ``days_observed``: days with a reading in the window (the data-sufficiency count);
- ``kwh_mean_day`` and ``level_log1p_kwh`` (``log1p`` of the mean daily kWh): the level;
- ``shape_dow_mon`` … ``shape_dow_sun``: mean kWh per day of week / overall mean (7 values, mean ≈ 1);
- ``shape_month_01`` … ``shape_month_12``: mean kWh per calendar month / mean of the 12 monthly means,
  only where ``days_observed >= annual_min_days`` and every month has ``month_min_days`` readings (else NaN);
- ``shape_hour_00`` … ``shape_hour_23``: mean kWh per hour of day / overall hourly mean, from interval
  readings where a customer has ``interval_min_days`` days of them (else NaN); ``interval_days`` counts them;
- ``temp_slope_hdd``: least-squares slope of daily kWh / mean daily kWh on heating degree days
  (``max(0, base_temp_c - daily mean temperature)``) of the customer's region, where weather is given.

Invariants: nothing after ``as_of`` is read (readings by ``reading_date``, interval readings and weather
by their UTC calendar day); every statistic is a grouped sum over integer codes (no per-customer loop; the
daily-reading sums are in :mod:`features.shape_sums`, whose fast path for sorted readings sums bit for bit
as ``np.bincount`` does).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.asof import as_of_day, day_number, require_columns
from features.shape_sums import customer_sums
from features.usage import customer_codes, region_temperature

logger = logging.getLogger(__name__)

DOW_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKLY_COLUMNS = tuple(f"shape_dow_{d}" for d in DOW_NAMES)
ANNUAL_COLUMNS = tuple(f"shape_month_{m:02d}" for m in range(1, 13))
DAILY_COLUMNS = tuple(f"shape_hour_{h:02d}" for h in range(24))
LEVEL_COLUMNS = ("level_log1p_kwh",)
SHAPE_GROUPS: dict[str, tuple[str, ...]] = {
    "level": LEVEL_COLUMNS,
    "weekly": WEEKLY_COLUMNS,
    "annual": ANNUAL_COLUMNS,
    "daily": DAILY_COLUMNS,
    "temperature": ("temp_slope_hdd",),
}


def _grouped_means(
    codes: np.ndarray, bins: np.ndarray, n_bins: int, values: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(means, counts), shape ``(n, n_bins)``, of `values` grouped by customer code and bin."""
    flat = codes * n_bins + bins
    sums = np.bincount(flat, weights=values, minlength=n * n_bins).reshape(n, n_bins)
    counts = np.bincount(flat, minlength=n * n_bins).reshape(n, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, counts


def _normalise(means: np.ndarray) -> np.ndarray:
    """Divide each row by its mean over bins; rows with a zero or missing mean become NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = means.mean(axis=1, keepdims=True)
        return np.where(scale > 0, means / scale, np.nan)


def _daily_temperature(weather: pd.DataFrame) -> pd.DataFrame:
    """Mean temperature per region and UTC calendar day: columns region, day, temperature_c."""
    day = day_number(weather["observed_at"])
    frame = pd.DataFrame(
        {"region": weather["region"].astype(str).to_numpy(), "day": day, "t": weather["temperature_c"]}
    )
    return frame.groupby(["region", "day"], sort=False, as_index=False)["t"].mean()


def _temperature_slopes(sums: dict[str, np.ndarray]) -> np.ndarray:
    """Least-squares slope of relative daily kWh on degree days, from the regression sums; NaN when undefined."""
    cnt, sx, sy, sxx, sxy = (sums[k] for k in ("dd_count", "sx", "sy", "sxx", "sxy"))
    with np.errstate(invalid="ignore", divide="ignore"):
        var = sxx - sx * sx / cnt
        slope = (sxy - sx * sy / cnt) / var
    return np.where((cnt >= 30) & (var > 1e-9 * np.maximum(cnt, 1)), slope, np.nan)


def _sorted_codes(ids: pd.Series, keep: np.ndarray, everything: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the kept rows' customers numbered in sorted id order, and those ids (as strings).

    Factorises the column as it is stored (Arrow strings or categories; no Python string per row) and
    sorts only the distinct ids."""
    raw, uniques = customer_codes(ids)
    raw = raw if everything else raw[keep]
    if uniques.is_monotonic_increasing and uniques.is_unique:  # ids stored in order: codes are ranks already
        step = np.diff(raw)
        if not len(raw) or (raw[0] == 0 and raw[-1] == len(uniques) - 1 and ((step == 0) | (step == 1)).all()):
            return raw.astype(np.int64), np.asarray(uniques.astype(str), dtype=object)
    present = np.flatnonzero(np.bincount(raw, minlength=len(uniques)) > 0)
    names = np.asarray(uniques.astype(str), dtype=object)[present]
    order = np.argsort(names, kind="stable")
    rank = np.full(len(uniques), -1, dtype=np.int64)
    rank[present[order]] = np.arange(len(present))
    return rank[raw], names[order]


def build_shapes(
    readings: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    window_days: int = 365,
    interval_readings: pd.DataFrame | None = None,
    weather: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    annual_min_days: int = 300,
    month_min_days: int = 7,
    interval_min_days: int = 28,
    base_temp_c: float = 15.5,
) -> pd.DataFrame:
    """Load-shape features of every customer with a reading in the window.

    Parameters
    ----------
    readings : DataFrame
        Daily readings: ``customer_id``, ``reading_date``, ``kwh``.
    as_of : Timestamp
        Cutoff day (inclusive); the window is ``(as_of - window_days, as_of]``.
    window_days : int
        Length of the window in days (365: one full seasonal cycle).
    interval_readings : DataFrame, optional
        ``customer_id``, ``read_at`` (UTC), ``kwh``; gives the 24-hour shape (hours of the UTC day).
    weather, customers : DataFrame, optional
        ``region``, ``observed_at``, ``temperature_c`` and ``customer_id``, ``region``; both are needed for
        ``temp_slope_hdd`` (NaN otherwise).
    annual_min_days, month_min_days, interval_min_days : int
        Sufficiency thresholds for the annual and 24-hour shapes.
    base_temp_c : float
        Base temperature of heating degree days, °C.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted); columns as in the module docstring.
    """
    if window_days < 7:
        raise ValueError(f"window_days={window_days}; expected >= 7 (a weekly shape needs a week)")
    require_columns(readings, "readings", ("customer_id", "reading_date", "kwh"))
    cutoff = day_number(pd.Series([as_of_day(as_of)]))[0]
    days = day_number(readings["reading_date"])
    keep = (days <= cutoff) & (days > cutoff - window_days) & readings["kwh"].notna().to_numpy()
    keep &= readings["customer_id"].notna().to_numpy()
    everything = bool(keep.all())  # the usual case: no copy of every reading
    days = days if everything else days[keep]
    kwh = readings["kwh"].to_numpy(dtype=float)
    kwh = kwh if everything else kwh[keep]
    codes, ids = _sorted_codes(readings["customer_id"], keep, everything)
    n = len(ids)
    first_day = cutoff - window_days + 1
    found = region_temperature(weather, customers, pd.Index(ids), first_day, window_days)
    degree_days = None if found is None else (np.maximum(base_temp_c - found[0], 0), found[1])  # NaN stays NaN
    sums = customer_sums(codes, days, kwh, n, first_day, window_days, degree_days)
    count = sums["count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums["total"] / count
        dow_means = sums["dow_sum"] / sums["dow_count"]
        month_means = sums["month_sum"] / sums["month_count"]
    out = {"days_observed": count, "kwh_mean_day": mean, "level_log1p_kwh": np.log1p(mean)}
    out |= dict(zip(WEEKLY_COLUMNS, _normalise(dow_means).T, strict=True))

    annual_ok = (count >= annual_min_days) & (sums["month_count"] >= month_min_days).all(axis=1)
    annual = np.where(annual_ok[:, None], _normalise(month_means), np.nan)
    out |= dict(zip(ANNUAL_COLUMNS, annual.T, strict=True))

    hourly, interval_days = _hourly_shapes(interval_readings, ids, cutoff, window_days, interval_min_days)
    out |= dict(zip(DAILY_COLUMNS, hourly.T, strict=True))
    out["interval_days"] = interval_days
    out["temp_slope_hdd"] = np.full(n, np.nan) if degree_days is None else _temperature_slopes(sums)
    frame = pd.DataFrame(out, index=pd.Index(ids, name="customer_id"))
    logger.info(
        "shapes as of %s: %d customers, %d with an annual shape, %d with a 24-hour shape",
        as_of_day(as_of).date(),
        n,
        int(annual_ok.sum()),
        int((interval_days >= interval_min_days).sum()),
    )
    return frame


def _hourly_shapes(
    interval_readings: pd.DataFrame | None, ids: np.ndarray, cutoff: int, window_days: int, min_days: int
) -> tuple[np.ndarray, np.ndarray]:
    n = len(ids)
    if interval_readings is None or interval_readings.empty:
        return np.full((n, 24), np.nan), np.zeros(n, dtype=int)
    require_columns(interval_readings, "interval_readings", ("customer_id", "read_at", "kwh"))
    days = day_number(interval_readings["read_at"])
    codes = pd.Index(ids).get_indexer(interval_readings["customer_id"].astype(str).to_numpy())
    keep = (days <= cutoff) & (days > cutoff - window_days) & (codes >= 0) & interval_readings["kwh"].notna().to_numpy()
    codes, days = codes[keep], days[keep]
    hour = interval_readings["read_at"].dt.tz_convert("UTC").dt.hour.to_numpy()[keep]
    kwh = interval_readings["kwh"].to_numpy(dtype=float)[keep]
    means, _ = _grouped_means(codes, hour, 24, kwh, n)
    first = pd.DataFrame({"c": codes, "d": days}).drop_duplicates()
    n_days = np.bincount(first["c"].to_numpy(), minlength=n)
    shape = np.where((n_days >= min_days)[:, None], _normalise(means), np.nan)
    return shape, n_days


def temperature_response(
    readings: pd.DataFrame,
    weather: pd.DataFrame,
    customers: pd.DataFrame,
    labels: pd.Series,
    *,
    as_of: pd.Timestamp,
    window_days: int = 365,
    bins: tuple[float, ...] = (-5, 0, 3, 6, 9, 12, 15, 18, 21, 25, 35),
) -> pd.DataFrame:
    """Mean relative daily kWh per segment and temperature band (for the report's temperature plot).

    Parameters
    ----------
    labels : Series
        Segment name per ``customer_id`` (index).

    Returns
    -------
    DataFrame
        Columns ``segment_name``, ``temperature_c`` (band midpoint), ``kwh_rel`` (daily kWh / the customer's
        mean in the window), ``days``.
    """
    cutoff = day_number(pd.Series([as_of_day(as_of)]))[0]
    days = day_number(readings["reading_date"])
    ids = readings["customer_id"].astype(str).to_numpy()
    keep = (days <= cutoff) & (days > cutoff - window_days)
    frame = pd.DataFrame(
        {"customer_id": ids[keep], "day": days[keep], "kwh": readings["kwh"].to_numpy(dtype=float)[keep]}
    )
    frame["kwh_rel"] = frame["kwh"] / frame.groupby("customer_id")["kwh"].transform("mean")
    region = customers.set_index(customers["customer_id"].astype(str))["region"].astype(str)
    frame["region"] = region.reindex(frame["customer_id"]).to_numpy()
    frame = frame.merge(_daily_temperature(weather), on=["region", "day"], how="inner")
    frame["segment_name"] = labels.reindex(frame["customer_id"]).to_numpy()
    frame = frame.dropna(subset=["segment_name", "kwh_rel"])
    edges = np.asarray(bins, dtype=float)
    frame["temperature_c"] = pd.cut(frame["t"], edges, labels=(edges[:-1] + edges[1:]) / 2).astype(float)
    return (
        frame.groupby(["segment_name", "temperature_c"], as_index=False)
        .agg(kwh_rel=("kwh_rel", "mean"), days=("kwh_rel", "size"))
        .query("days > 0")
        .reset_index(drop=True)
    )
