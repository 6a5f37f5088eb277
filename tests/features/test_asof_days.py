"""day_number: integer floor division gives the day of the calendar cast, in every unit, before 1970 too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.asof import NEVER, day_number

STAMPS = [
    "1969-12-31T23:59:59.999999999",
    "1969-12-31T00:00:00",
    "1970-01-01T00:00:00",
    "1970-01-01T00:00:00.000000001",
    "1900-02-28T12:30:00.5",
    "2024-02-29T23:59:59.999",
    "2262-04-11T00:00:00",
    "NaT",
]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_day_number_is_the_calendar_day_in_every_unit(unit):
    values = np.array(STAMPS, dtype="datetime64[ns]").astype(f"datetime64[{unit}]")
    want = values.astype("datetime64[D]").view(np.int64).copy()
    want[np.isnat(values)] = NEVER
    for given in (pd.Series(values), pd.Series(values).dt.tz_localize("UTC"), values):
        got = day_number(given)
        np.testing.assert_array_equal(got, want, strict=True)
    series = pd.Series(values)
    before = series.copy()
    day_number(series)
    pd.testing.assert_series_equal(series, before)  # the input is never written to
