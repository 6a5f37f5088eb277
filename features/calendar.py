"""Calendar facts: public holidays and day types (pure)."""

from __future__ import annotations

from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

DEFAULT_COUNTRY, DEFAULT_SUBDIV = "GB", "ENG"


@lru_cache(maxsize=32)
def _holiday_days(country: str, subdiv: str | None, first_year: int, last_year: int) -> np.ndarray:
    cal = holidays.country_holidays(country, subdiv=subdiv, years=range(first_year, last_year + 1))
    return np.array(sorted(pd.Timestamp(d) for d in cal), dtype="datetime64[ns]")


def holiday_dates(
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    country: str = DEFAULT_COUNTRY,
    subdiv: str | None = DEFAULT_SUBDIV,
) -> pd.DatetimeIndex:
    """Public holidays between `start` and `end` (inclusive) from the ``holidays`` package."""
    days = pd.DatetimeIndex(_holiday_days(country, subdiv, pd.Timestamp(start).year, pd.Timestamp(end).year))
    return days[(days >= pd.Timestamp(start).normalize()) & (days <= pd.Timestamp(end))]


def is_holiday(
    dates: pd.Series | pd.DatetimeIndex,
    *,
    country: str = DEFAULT_COUNTRY,
    subdiv: str | None = DEFAULT_SUBDIV,
) -> np.ndarray:
    """Boolean array: is each date (time part ignored) a public holiday."""
    d = (
        pd.DatetimeIndex(dates).tz_localize(None).normalize()
        if getattr(dates, "tz", None)
        else pd.DatetimeIndex(dates).normalize()
    )
    if len(d) == 0:
        return np.zeros(0, dtype=bool)
    return d.isin(holiday_dates(d.min(), d.max(), country=country, subdiv=subdiv))


def is_workday(dates: pd.Series | pd.DatetimeIndex, **kw) -> np.ndarray:
    """Monday–Friday and not a public holiday."""
    d = pd.DatetimeIndex(dates)
    return (d.dayofweek < 5) & ~is_holiday(d, **kw)
