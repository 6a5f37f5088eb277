"""Point-in-time helpers shared by the feature builders (pure).

A cutoff ``as_of`` is a calendar day. Data is *known at* ``as_of`` when

- a ``*_date`` column (reading, issue, due date) is on or before ``as_of``;
- a ``*_at`` UTC timestamp (payment, interval reading) falls on or before the end of that UTC day,
  i.e. its UTC calendar day is on or before ``as_of``.

Dates are handled as integer day numbers (days since 1970-01-01) so that every window test is a
vectorised integer comparison.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.errors import ContractViolation

NEVER = np.iinfo(np.int64).max // 4  # a day number later than any real date ("has not happened")
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}  # ticks per day


def as_of_day(as_of: object, *, name: str = "as_of") -> pd.Timestamp:
    """Validate a cutoff and return it as a timezone-naive midnight timestamp (a UTC calendar day).

    Raises
    ------
    ValueError
        `as_of` is not a timestamp/date (strings are refused: parse them at the CLI edge) or is NaT.
    """
    if isinstance(as_of, str) or not isinstance(as_of, pd.Timestamp | dt.datetime | dt.date | np.datetime64):
        raise ValueError(f"{name}={as_of!r} ({type(as_of).__name__}); expected a pandas.Timestamp (a calendar day)")
    ts = pd.Timestamp(as_of)
    if pd.isna(ts):
        raise ValueError(f"{name}=NaT; expected a pandas.Timestamp (a calendar day)")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize().as_unit("ns")


def require_columns(df: object, table: str, columns: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`ContractViolation` naming every column of `table` that `df` lacks."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{table}: got {type(df).__name__}; expected a pandas.DataFrame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        failures = pd.DataFrame(
            {"row": [None] * len(missing), "column": missing, "check": "column_in_dataframe", "value": None}
        )
        raise ContractViolation(table, failures)


def day_number(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Integer day numbers (days since 1970-01-01) of dates or UTC timestamps; NaT -> :data:`NEVER`."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(s.dtype):
        s = pd.to_datetime(s)
    arr = s.to_numpy()  # native unit (s, ms, us or ns): no conversion copy
    unit, step = np.datetime_data(arr.dtype)
    if unit in _PER_DAY and step == 1:  # integer floor division: what the cast to days does, several times faster
        out = arr.view(np.int64) // _PER_DAY[unit]
    else:
        out = arr.astype("datetime64[D]").view(np.int64)
    nat = np.isnat(arr)
    if nat.any():
        out[nat] = NEVER
    return out


def months_back(days: np.ndarray, months: int) -> np.ndarray:
    """Day number of the same calendar day `months` earlier (month-end clipped), vectorised."""
    d = pd.to_datetime(days.astype("datetime64[D]"))
    return day_number(pd.Series(d) - pd.DateOffset(months=months))


def group_offsets(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Start offset of each group in an array sorted by `codes` (length ``n_groups + 1``)."""
    counts = np.bincount(codes, minlength=n_groups)
    return np.concatenate([[0], np.cumsum(counts)])


def window_sums(
    cust: np.ndarray, day: np.ndarray, values: np.ndarray, q_cust: np.ndarray, q_end: np.ndarray, window_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of `values` per query over days in ``(q_end - window_days, q_end]``.

    ``cust``/``day``/``values`` are the observations (integer customer code, day number, value; any
    order); each query is a customer code and an end day. Uses one sort plus ``searchsorted`` on a
    combined (customer, day) key and ``np.add.reduceat`` over each query's slice, so a sum depends
    only on that customer's values (bit-identical however the customers are partitioned).
    """
    if len(cust) == 0:
        return np.zeros(len(q_cust)), np.zeros(len(q_cust))
    d0 = int(day.min()) - window_days - 1
    span = int(day.max()) - d0 + 2
    key = cust.astype(np.int64) * span + (day - d0)
    order = np.argsort(key, kind="stable")
    key = key[order]
    vals = np.concatenate([values[order].astype(float), [0.0]])
    end = np.clip(q_end - d0, 0, span - 1)
    begin = np.clip(q_end - window_days - d0, 0, span - 1)
    base = q_cust.astype(np.int64) * span
    hi = np.searchsorted(key, base + end, side="right")
    lo = np.searchsorted(key, base + begin, side="right")
    return segment_sums(vals, lo, hi), (hi - lo).astype(float)


def segment_sums(vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``vals[lo[i]:hi[i]].sum()`` for every i (sequential order, empty slices give 0).

    `vals` must end with one padding element so that ``lo == len(vals) - 1`` is a valid index.
    """
    if len(lo) == 0:
        return np.zeros(0)
    idx = np.empty(2 * len(lo), dtype=np.int64)
    idx[0::2], idx[1::2] = lo, hi
    idx = np.minimum(idx, len(vals) - 1)
    sums = np.add.reduceat(vals, idx)[0::2]
    return np.where(hi > lo, sums, 0.0)


def lookup(values: pd.Series | np.ndarray, keys: pd.Index | pd.Series | np.ndarray) -> np.ndarray:
    """Position of each value in `keys` (unique), -1 where absent: ``Index.get_indexer`` done fast.

    String ids go through Arrow's hash kernel (``pyarrow.compute.index_in``), several times faster
    than pandas' for millions of unique strings; categorical values map their categories only.
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        cat_pos = lookup(pd.Series(values.cat.categories), keys)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, cat_pos[codes], -1)
    keys_s = pd.Series(keys)
    if isinstance(keys_s.dtype, pd.CategoricalDtype):
        keys_s = keys_s.astype(keys_s.cat.categories.dtype)
    vals_s = pd.Series(values)
    if pd.api.types.is_string_dtype(vals_s.dtype) and pd.api.types.is_string_dtype(keys_s.dtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.index_in(
            pa.array(vals_s.astype(str), type=pa.large_string()),
            value_set=pa.array(keys_s.astype(str), type=pa.large_string()),
        )
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return pd.Index(keys_s).get_indexer(vals_s)
