"""Usage-collapse features for arrears: sudden drops in consumption and vacancy patterns, point in time (pure).

A household that stops using electricity (moved out, disconnected itself, self-rationing, a meter bypass)
changes its arrears risk; these features describe that from daily readings as of a cut-off day:

- ``kwh_ratio_14d_56d``: mean kWh of the last 14 days over the mean of the 56 days before them (a sudden drop
  is well below 1);
- ``kwh_ratio_28d_yoy``: mean kWh of the last 28 days over the same 28 days a year earlier (season-free);
- ``near_zero_days_28d``: days of the last 28 with kWh below ``vacancy_share`` of the household's own median
  over the 365 days before them (vacancy: a standby-only load);
- ``longest_near_zero_run_90d``: the longest run of such days in the last 90 (a vacancy, not a holiday);
- ``collapse_with_unpaid``: 1 when a sudden drop (``kwh_ratio_14d_56d`` < ``drop_ratio``) meets an unpaid
  balance at the cut-off (given ``unpaid`` per customer), else 0: the interaction with arrears.

Invariants
----------
- Only readings dated on or before ``as_of``; the reference median uses days before the 28-day window only.
- Dense customer x day grids and numpy: no per-customer Python.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from features.asof import as_of_day

FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "kwh_ratio_14d_56d": ("ratio", "mean kWh of the last 14 days / mean of the 56 days before"),
    "kwh_ratio_28d_yoy": ("ratio", "mean kWh of the last 28 days / the same 28 days a year earlier"),
    "near_zero_days_28d": ("days", "days of the last 28 below a tenth of the household's usual (median) kWh"),
    "longest_near_zero_run_90d": ("days", "longest run of near-zero days in the last 90"),
    "collapse_with_unpaid": ("bool", "a sudden usage drop while a balance is unpaid"),
}
HISTORY_DAYS = 365 + 28


def _grid(readings: pd.DataFrame, day: pd.Timestamp) -> tuple[pd.Index, np.ndarray]:
    """Customers x the last HISTORY_DAYS days up to `day` (NaN where no reading); column -1 is `day`."""
    start = day - pd.Timedelta(days=HISTORY_DAYS - 1)
    r = readings[(readings["reading_date"] >= start) & (readings["reading_date"] <= day)]
    codes, ids = pd.factorize(r["customer_id"].astype(str))
    col = (r["reading_date"] - start).dt.days.to_numpy()
    grid = np.full((len(ids), HISTORY_DAYS), np.nan)
    grid[codes, col] = r["kwh"].to_numpy(dtype=float)
    return pd.Index(ids, name="customer_id"), grid


def _mean(block: np.ndarray) -> np.ndarray:
    return np.nanmean(block, axis=1)


def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of True per row (vectorised over the columns)."""
    run = np.zeros(mask.shape[0])
    best = np.zeros(mask.shape[0])
    for j in range(mask.shape[1]):  # loops over days (90), not customers
        run = np.where(mask[:, j], run + 1, 0)
        best = np.maximum(best, run)
    return best


def build_usage_collapse(
    readings: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    unpaid: pd.Series | None = None,
    vacancy_share: float = 0.1,
    drop_ratio: float = 0.5,
) -> pd.DataFrame:
    """One row per customer with readings in the last 393 days: :data:`FEATURE_DESCRIPTIONS` columns.

    `unpaid` (amount unpaid at the cut-off per customer, e.g. the payment profile's open balance) feeds
    ``collapse_with_unpaid``; without it that column is NaN.
    """
    day = as_of_day(as_of)
    ids, grid = _grid(readings, day)
    last14, prev56 = grid[:, -14:], grid[:, -70:-14]
    last28, year_ago = grid[:, -28:], grid[:, :28]
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN features, on purpose
        ratio_14_56 = _mean(last14) / _mean(prev56)
        ratio_yoy = _mean(last28) / _mean(year_ago)
        usual = np.nanmedian(grid[:, :-28], axis=1)
    low = grid < (vacancy_share * usual)[:, None]  # NaN compares False: a missing day is not a vacant one
    low &= (usual > 0)[:, None]
    out = pd.DataFrame(
        {
            "kwh_ratio_14d_56d": ratio_14_56,
            "kwh_ratio_28d_yoy": ratio_yoy,
            "near_zero_days_28d": low[:, -28:].sum(axis=1).astype(float),
            "longest_near_zero_run_90d": _longest_run(low[:, -90:]),
        },
        index=ids,
    )
    out = out.replace([np.inf, -np.inf], np.nan)
    if unpaid is None:
        out["collapse_with_unpaid"] = np.nan
    else:
        owed = unpaid.reindex(ids).fillna(0.0).to_numpy() > 0
        out["collapse_with_unpaid"] = ((out["kwh_ratio_14d_56d"].to_numpy() < drop_ratio) & owed).astype(float)
    return out.reset_index()
