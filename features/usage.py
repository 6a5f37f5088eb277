"""Per-customer usage profile as of a cutoff: level, peak, volatility, trend, seasonality, shape (pure).

Features are declared as data (:data:`LEVEL_WINDOWS_DAYS`, :data:`PROFILE_WINDOW_DAYS`) and their
names derived from it (``kwh_mean_30d``, ``kwh_median_365d``). The engine works on flat arrays:
customer ids become integer codes (categorical codes are reused) and readings are scattered once
into flat arrays; every aggregate is a vectorised row reduction (no groupby-apply, no per-customer loop).
The last 365 days are a dense customer x day grid, so windows are trailing columns, calendar and
degree-day weights are column vectors, and medians are one row-wise sort (exact).

Invariants
----------
- Only readings with ``reading_date <= as_of`` are used (interval readings and weather by UTC day).
- A customer's values depend on that customer's readings only (and its region's weather), so
  partitioning customers (Dask) gives bit-identical results.
- A customer without readings in the last 365 days gets NaN features and ``has_readings = False``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.asof import as_of_day, day_number, require_columns

logger = logging.getLogger(__name__)

READING_COLUMNS = ("customer_id", "reading_date", "kwh")
LEVEL_WINDOWS_DAYS = (30, 90, 365)  # -> kwh_mean_{w}d, kwh_median_{w}d
PROFILE_WINDOW_DAYS = 365  # peak, volatility, zero share, seasonality, weekly shape, degree days
TREND_LOOKBACK_DAYS = 2 * PROFILE_WINDOW_DAYS  # the prior year, for kwh_trend_yoy
HDD_BASE_C, CDD_BASE_C = 15.5, 22.0
WINTER_MONTHS, SUMMER_MONTHS = (12, 1, 2), (6, 7, 8)


def _describe() -> dict[str, tuple[str, str]]:
    w = PROFILE_WINDOW_DAYS
    d: dict[str, tuple[str, str]] = {
        "has_readings": ("bool", f"customer has at least one daily reading in the {w} days up to the cutoff")
    }
    for v in LEVEL_WINDOWS_DAYS:
        d[f"kwh_mean_{v}d"] = ("kWh/day", f"mean daily consumption over readings in the {v} days up to the cutoff")
        d[f"kwh_median_{v}d"] = ("kWh/day", f"median daily consumption over the {v} days up to the cutoff ")
    d |= {
        f"days_observed_{w}d": ("days", f"days with a reading in the {w} days up to the cutoff"),
        f"kwh_max_{w}d": ("kWh/day", f"highest daily consumption in the last {w} days (peak day)"),
        f"load_factor_{w}d": ("ratio", f"mean / peak daily consumption over the last {w} days (1 = flat)"),
        f"kwh_std_{w}d": ("kWh/day", f"standard deviation of daily consumption over the last {w} days"),
        f"kwh_cv_{w}d": ("ratio", f"volatility: standard deviation / mean of daily consumption, last {w} days"),
        f"zero_share_{w}d": ("ratio", f"share of observed days in the last {w} days with zero consumption"),
        f"missing_share_{w}d": (
            "ratio",
            f"share of days without a reading in the last {w} days (counted from the first reading if later)",
        ),
        "kwh_trend_yoy": ("ratio", f"mean daily kWh in the last {w} days / mean in the {w} days before - 1"),
        f"kwh_slope_{w}d": ("kWh/day per year", f"least-squares trend of daily kWh over the last {w} days"),
        f"winter_summer_ratio_{w}d": ("ratio", "mean daily kWh in Dec-Feb / mean in Jun-Aug, last 365 days"),
        f"weekday_weekend_ratio_{w}d": ("ratio", "mean daily kWh Monday-Friday / mean Saturday-Sunday, last 365 days"),
        f"hdd_slope_{w}d": (
            "kWh per degree-day",
            f"temperature sensitivity: extra daily kWh per heating degree day (base {HDD_BASE_C} C),"
            " fitted jointly with CDD",
        ),
        f"cdd_slope_{w}d": (
            "kWh per degree-day",
            f"extra daily kWh per cooling degree day (base {CDD_BASE_C} C); NaN when no cooling days vary",
        ),
        "has_interval": ("bool", f"customer has half-hourly/interval readings in the last {w} days"),
        "peak_hour": ("hour (UTC)", "hour of day with the largest share of interval consumption"),
    }
    for h in range(24):
        d[f"load_shape_h{h:02d}"] = ("share", f"share of interval consumption in UTC hour {h:02d} (24 shares sum to 1)")
    return d


FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = _describe()
"""column -> (unit, plain-English description) for every usage feature."""
FEATURES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)


def customer_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and the id of each code; categorical ids reuse their codes (no hashing), and text ids
    stored customer by customer in increasing order (how exports and partitions are written) are read as
    runs (no hashing either)."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.codes.to_numpy(), pd.Index(ids.cat.categories)  # int8..int32, no copy
    runs = _sorted_runs(ids)
    if runs is not None:
        return runs
    codes, uniques = pd.factorize(ids)
    return codes.astype(np.int64), pd.Index(uniques)


def _sorted_runs(ids: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """Codes and ids of a text column made of runs of one id, each id greater than the one before; else None."""
    if len(ids) < 2 or not pd.api.types.is_string_dtype(ids.dtype) or not hasattr(ids.array, "__arrow_array__"):
        return None
    text = pa.array(ids.array)  # Arrow chunks as stored: comparing them needs no combined copy
    if text.null_count or not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    n = len(text)
    change = pc.not_equal(text.slice(1), text.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    first = np.concatenate([[True], change])  # where a run of one id starts
    heads = pc.filter(text, pa.array(first))
    heads = heads.combine_chunks() if isinstance(heads, pa.ChunkedArray) else heads
    if len(heads) > 1 and not pc.all(pc.less(heads.slice(0, len(heads) - 1), heads.slice(1))).as_py():
        return None  # an id comes back later, or ids are not in order: hash them
    width = np.int32 if len(heads) < 2**31 else np.int64  # half the memory of int64 codes per reading
    starts = np.flatnonzero(first)
    codes = np.repeat(np.arange(len(starts), dtype=width), np.diff(np.append(starts, n)))
    return codes, pd.Index(heads.to_pandas())


def region_temperature(
    weather: pd.DataFrame | None, customers: pd.DataFrame | None, ids: pd.Index, d0: int, span: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Daily mean temperature per region over days ``d0 .. d0+span-1`` and each customer's region row.

    Returns ``(grid, region_of_customer)``: grid has shape (n_regions + 1, span), the last row (all
    NaN) standing for an unknown region. None when weather or customer regions are not given.
    """
    if weather is None or customers is None or not len(weather) or "region" not in customers:
        return None
    require_columns(weather, "weather", ("region", "observed_at", "temperature_c"))
    day = day_number(weather["observed_at"])
    keep = (day >= d0) & (day < d0 + span)
    regions, region_codes = np.unique(weather["region"].astype(str).to_numpy()[keep], return_inverse=True)
    cell = region_codes * span + (day[keep] - d0)
    size = len(regions) * span
    sums = np.bincount(cell, weights=weather["temperature_c"].to_numpy(dtype=float)[keep], minlength=size)
    cnt = np.bincount(cell, minlength=size)
    grid = np.full((len(regions) + 1, span), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid[:-1] = (sums / np.where(cnt > 0, cnt, np.nan)).reshape(len(regions), span)
    region_of = pd.Series(customers["region"].astype(str).to_numpy(), index=customers["customer_id"].astype(str))
    cust_region = pd.Index(regions).get_indexer(region_of.reindex(ids.astype(str)).to_numpy())
    return grid, np.where(cust_region >= 0, cust_region, len(regions))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _slope(n, sx, sy, sxx, sxy) -> np.ndarray:
    """Least-squares slope of y on x from per-row sums (closed form)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cxx, cxy = sxx - sx * sx / n, sxy - sx * sy / n
        return np.where((n > 1) & (cxx > 1e-9 * np.maximum(sxx, 1)), cxy / cxx, np.nan)


def _rowdot(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot product with a column-weight vector; per-row result independent of other rows."""
    return np.einsum("ij,j->i", m, v)


def _row_medians(values: np.ndarray, observed: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the observed cells of each row (exact): one row-wise sort with missing cells as +inf."""
    work = np.where(observed, values, np.inf)
    work.sort(axis=1)
    rows = np.arange(len(work))
    c = count.astype(np.int64)
    low, high = np.maximum((c - 1) // 2, 0), np.maximum(c // 2, 0)
    if work.shape[1] == 0:
        return np.full(len(work), np.nan)
    high = np.minimum(high, work.shape[1] - 1)
    return np.where(c > 0, (work[rows, low] + work[rows, high]) / 2, np.nan)


def level_features(grid: np.ndarray, seen: np.ndarray) -> dict[str, np.ndarray]:
    """``has_readings`` and ``kwh_mean_{w}d`` (w in :data:`LEVEL_WINDOWS_DAYS`) of each grid row.

    The one implementation of these features: the as-of profile (one row per customer, see
    :func:`usage_arrays`) and the arrears training set (one row per bill, see :func:`trailing_grid`) both
    call it on the same layout, so their values are identical, not just their names.

    Parameters
    ----------
    grid : ndarray, shape (n_rows, PROFILE_WINDOW_DAYS)
        Daily kWh; the last column is the cutoff day, missing days hold 0.
    seen : ndarray of bool or float, same shape
        Whether a day has a reading.
    """
    w = grid.shape[1]
    seen_f = seen if seen.dtype == np.float32 else seen.astype(np.float32)  # counts exact in float32 (<= 365)
    n_w = seen_f.sum(axis=1, dtype=np.float64)
    out: dict[str, np.ndarray] = {"has_readings": n_w > 0}
    for v in LEVEL_WINDOWS_DAYS:
        cols = slice(w - v, w)
        n_v = n_w if v == w else seen_f[:, cols].sum(axis=1, dtype=np.float64)
        out[f"kwh_mean_{v}d"] = _ratio(grid[:, cols].sum(axis=1), n_v)
    return out


def trailing_grid(
    cust: np.ndarray, day: np.ndarray, kwh: np.ndarray, q_cust: np.ndarray, q_end: np.ndarray, *, chunk: int = 20_000
):
    """Yield ``(rows, grid, seen)`` blocks: each query's last :data:`PROFILE_WINDOW_DAYS` days of readings.

    Query ``i`` is a customer code ``q_cust[i]`` and a cutoff day number ``q_end[i]``; its grid row holds
    the customer's kWh on days ``q_end - PROFILE_WINDOW_DAYS + 1 .. q_end`` (the layout of
    :func:`usage_arrays`). Readings are sorted once; queries are expanded `chunk` at a time (bounded
    memory), with no per-row Python loop.
    """
    w = PROFILE_WINDOW_DAYS
    if len(cust):
        d0 = int(day.min()) - w - 1
        span = int(max(day.max(), q_end.max() if len(q_end) else 0)) - d0 + 2
        key = cust.astype(np.int64) * span + (day - d0)
        order = np.argsort(key, kind="stable")
        key, day_s, kwh_s = key[order], day[order], kwh[order]
    for start in range(0, len(q_cust), chunk):
        rows = np.arange(start, min(start + chunk, len(q_cust)))
        grid, seen = np.zeros((rows.size, w)), np.zeros((rows.size, w), dtype=bool)
        if len(cust):
            base = q_cust[rows].astype(np.int64) * span
            lo = np.searchsorted(key, base + np.clip(q_end[rows] - w - d0, 0, span - 1), side="right")
            hi = np.searchsorted(key, base + np.clip(q_end[rows] - d0, 0, span - 1), side="right")
            n = hi - lo
            which = np.repeat(np.arange(rows.size), n)
            pos = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
            col = day_s[pos] - (q_end[rows][which] - w + 1)
            grid[which, col] = kwh_s[pos]
            seen[which, col] = True
        yield rows, grid, seen


def usage_arrays(
    cust: np.ndarray,
    day: np.ndarray,
    kwh: np.ndarray,
    n_cust: int,
    t: int,
    temperature: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Daily-reading features for customer codes ``0..n_cust-1`` as of day number `t`.

    Inputs are flat arrays restricted to ``t - TREND_LOOKBACK_DAYS < day <= t``, in any order, at
    most one reading per customer and day. The last :data:`PROFILE_WINDOW_DAYS` days are laid out as
    a dense customer x day grid (missing days are 0 in ``grid`` and False in ``seen``); every window
    aggregate is then a row reduction over its trailing columns, and calendar or degree-day weights
    are column vectors. The prior year (for the trend) is a ``bincount``. `temperature` is
    ``(region x day grid, region row of each customer)`` over the same 365 days.
    """
    w = PROFILE_WINDOW_DAYS
    g0 = t - w + 1  # day number of grid column 0
    in_grid = day >= g0
    grid = np.zeros((n_cust, w))
    seen = np.zeros((n_cust, w), dtype=bool)
    everything = bool(in_grid.all())  # no prior-year readings: no masked copies
    flat = (cust if everything else cust[in_grid]).astype(np.int64)
    flat *= w  # in place: no temporary per reading
    flat += day if everything else day[in_grid]
    flat -= g0
    grid.ravel()[flat] = kwh if everything else kwh[in_grid]
    seen.ravel()[flat] = True
    del flat
    prior = ~in_grid
    prior_sum = np.bincount(cust[prior], weights=kwh[prior], minlength=n_cust)
    prior_n = np.bincount(cust[prior], minlength=n_cust).astype(float)
    seen_f = seen.astype(np.float32)  # counts stay exact in float32 (<= 365)

    f: dict[str, np.ndarray] = level_features(grid, seen_f)
    n_w = seen_f.sum(axis=1, dtype=np.float64)
    for v in LEVEL_WINDOWS_DAYS:
        cols = slice(w - v, w)
        n_v = n_w if v == w else seen_f[:, cols].sum(axis=1, dtype=np.float64)
        f[f"kwh_median_{v}d"] = _row_medians(grid[:, cols], seen[:, cols], n_v)
    s_w = grid.sum(axis=1)
    mean_w = _ratio(s_w, n_w)
    f[f"days_observed_{w}d"] = n_w
    peak = np.where(n_w > 0, grid.max(axis=1), np.nan)  # kWh >= 0, so missing cells (0) never win
    f[f"kwh_max_{w}d"] = peak
    f[f"load_factor_{w}d"] = _ratio(mean_w, np.nan_to_num(peak))
    sq = np.einsum("ij,ij->i", grid, grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n_w > 1, np.maximum(sq - s_w * mean_w, 0) / np.maximum(n_w - 1, 1), np.nan)
    f[f"kwh_std_{w}d"] = np.sqrt(var)
    f[f"kwh_cv_{w}d"] = _ratio(f[f"kwh_std_{w}d"], np.nan_to_num(mean_w))
    f[f"zero_share_{w}d"] = _ratio((seen & (grid == 0)).sum(axis=1).astype(float), n_w)
    first_col = np.where(prior_n > 0, 0, seen.argmax(axis=1))  # observed since the window start?
    f[f"missing_share_{w}d"] = np.where(n_w > 0, 1 - _ratio(n_w, (w - first_col).astype(float)), np.nan)
    f["kwh_trend_yoy"] = _ratio(mean_w, np.nan_to_num(_ratio(prior_sum, prior_n))) - 1
    x = (np.arange(w) - (w - 1)) / 365.25  # years before the cutoff (0 on as_of)
    f[f"kwh_slope_{w}d"] = _slope(n_w, _rowdot(seen_f, x), s_w, _rowdot(seen_f, x * x), _rowdot(grid, x))
    dates = pd.DatetimeIndex((np.arange(g0, t + 1)).astype("datetime64[D]"))
    for name, a, b in (
        (f"winter_summer_ratio_{w}d", np.isin(dates.month, WINTER_MONTHS), np.isin(dates.month, SUMMER_MONTHS)),
        (f"weekday_weekend_ratio_{w}d", dates.day_of_week < 5, dates.day_of_week >= 5),
    ):
        a, b = a.astype(float), b.astype(float)
        f[name] = _ratio(_ratio(_rowdot(grid, a), _rowdot(seen_f, a)), _ratio(_rowdot(grid, b), _rowdot(seen_f, b)))
    f |= _degree_day_slopes(grid, seen_f, temperature)
    return f


def _degree_day_slopes(grid, seen_f, temperature) -> dict[str, np.ndarray]:
    """Joint least-squares fit kWh ~ a + b*HDD + c*CDD per customer, closed form from row sums.

    Customers are handled one region at a time (a loop over regions, not rows): the degree days of
    a region are column-weight vectors of that region's rows of the grid.
    """
    w, n = PROFILE_WINDOW_DAYS, len(grid)
    b_out, c_out = np.full(n, np.nan), np.full(n, np.nan)
    if temperature is None or not n:
        return {f"hdd_slope_{w}d": b_out, f"cdd_slope_{w}d": c_out}
    temp, region_of = temperature
    for r in np.unique(region_of):
        rows = np.flatnonzero(region_of == r)
        tc = temp[r]
        ok = (~np.isnan(tc)).astype(float)
        tc = np.nan_to_num(tc)
        h, c = np.maximum(HDD_BASE_C - tc, 0) * ok, np.maximum(tc - CDD_BASE_C, 0) * ok
        g, s = grid[rows], seen_f[rows]
        nn, sh, sc, sy = _rowdot(s, ok), _rowdot(s, h), _rowdot(s, c), _rowdot(g, ok)
        with np.errstate(invalid="ignore", divide="ignore"):
            nn = np.where(nn > 0, nn, np.nan)
            chh = _rowdot(s, h * h) - sh * sh / nn
            ccc = _rowdot(s, c * c) - sc * sc / nn
            chc = _rowdot(s, h * c) - sh * sc / nn
            chy, ccy = _rowdot(g, h) - sh * sy / nn, _rowdot(g, c) - sc * sy / nn
            det = chh * ccc - chc * chc
            joint = (ccc > 1e-9) & (det > 1e-9 * np.maximum(chh * ccc, 1e-12))
            b_out[rows] = np.where(joint, (ccc * chy - chc * ccy) / det, np.where(chh > 1e-9, chy / chh, np.nan))
            c_out[rows] = np.where(joint, (chh * ccy - chc * chy) / det, np.nan)
    return {f"hdd_slope_{w}d": b_out, f"cdd_slope_{w}d": c_out}


def interval_shape(interval_readings: pd.DataFrame | None, ids: pd.Index, t: int) -> dict[str, np.ndarray]:
    """24 hourly shares of interval consumption and the peak hour, last 365 UTC days up to day `t`."""
    n = len(ids)
    out: dict[str, np.ndarray] = {"has_interval": np.zeros(n, dtype=bool), "peak_hour": np.full(n, np.nan)}
    shares = np.full((n, 24), np.nan)
    if interval_readings is not None and len(interval_readings):
        day = day_number(interval_readings["read_at"])
        code = ids.get_indexer(interval_readings["customer_id"])
        keep = (code >= 0) & (day <= t) & (day > t - PROFILE_WINDOW_DAYS)
        at = interval_readings["read_at"].to_numpy()[keep]
        hour = pd.DatetimeIndex(at).tz_convert("UTC").hour.to_numpy() if len(at) else np.zeros(0, int)
        sums = np.bincount(
            code[keep] * 24 + hour, weights=interval_readings["kwh"].to_numpy(float)[keep], minlength=n * 24
        )
        sums = sums.reshape(n, 24)
        tot = sums.sum(axis=1)
        out["has_interval"] = np.bincount(code[keep], minlength=n) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(tot[:, None] > 0, sums / tot[:, None], np.nan)
        out["peak_hour"] = np.where(tot > 0, np.argmax(np.nan_to_num(shares, nan=-1), axis=1), np.nan)
    for h in range(24):
        out[f"load_shape_h{h:02d}"] = shares[:, h]
    return out


def build_usage_profile(
    readings: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    customers: pd.DataFrame | None = None,
    weather: pd.DataFrame | None = None,
    interval_readings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer with readings: ``customer_id`` + :data:`FEATURES`, as of `as_of`.

    Parameters
    ----------
    readings : pandas.DataFrame
        Daily readings (``customer_id``, ``reading_date``, ``kwh``); ``customer_id`` may be categorical.
    as_of : pandas.Timestamp
        The cutoff day.
    customers, weather : pandas.DataFrame, optional
        Needed together for temperature sensitivity (customer ``region`` -> weather ``region``).
    interval_readings : pandas.DataFrame, optional
        For the 24-hour load shape and peak hour.

    Invariants
    ----------
    Readings dated after `as_of` (interval readings and weather after its UTC day) are never read.
    """
    day = as_of_day(as_of)
    require_columns(readings, "readings", READING_COLUMNS)
    t = int(day_number(pd.Series([day]))[0])
    days = day_number(readings["reading_date"])
    keep = (days <= t) & (days > t - TREND_LOOKBACK_DAYS)
    everything = bool(keep.all())
    cust, ids = customer_codes(readings["customer_id"] if everything else readings["customer_id"][keep])
    kwh = readings["kwh"].to_numpy(dtype=float)
    days, kwh = (days, kwh) if everything else (days[keep], kwh[keep])
    if (cust < 0).any():  # a missing customer_id (the contract refuses these): skip, never mis-assign
        ok = cust >= 0
        cust, days, kwh = cust[ok], days[ok], kwh[ok]
    present = np.bincount(cust, minlength=len(ids)) > 0  # categorical ids may have unused categories
    temperature = region_temperature(weather, customers, ids, t - PROFILE_WINDOW_DAYS + 1, PROFILE_WINDOW_DAYS)
    feats = usage_arrays(cust, days, kwh, len(ids), t, temperature)
    feats |= interval_shape(interval_readings, ids, t)
    out = pd.DataFrame({"customer_id": pd.Series(ids).astype(str)} | {c: feats[c] for c in FEATURES})
    return out.loc[present].sort_values("customer_id", kind="stable").reset_index(drop=True)
