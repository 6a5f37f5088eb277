"""Parsing exported text: every bad cell is found, whether bad cells are rare (bisection) or everywhere (regex)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.parsing import CHUNK_ROWS, column_kind, parse_column


def dates(n: int) -> pd.Series:
    days = pd.date_range("2012-01-01", periods=365).strftime("%Y-%m-%d").to_numpy()
    return pd.Series(np.resize(days, n), dtype="str")


@pytest.mark.parametrize(
    "bad_rows",
    [
        pytest.param([0, CHUNK_ROWS - 1, CHUNK_ROWS, 3 * CHUNK_ROWS + 17], id="rare_at_chunk_edges"),
        pytest.param(list(range(5, 2 * CHUNK_ROWS, 7)), id="dense_regex_route"),
    ],
)
def test_every_bad_cell_is_found_with_its_raw_value(bad_rows):
    raw = dates(4 * CHUNK_ROWS).astype(object)
    raw.iloc[bad_rows] = "31/12/2012"
    parsed = parse_column(raw.astype("str"), "date")
    assert parsed.bad_rows.tolist() == bad_rows
    assert set(parsed.bad_raw) == {"31/12/2012"} and set(parsed.checks) == {"date_day_first"}
    assert parsed.values.isna().sum() == len(bad_rows) and parsed.values.dtype == "datetime64[ns]"


def test_a_value_the_regex_lets_through_but_no_calendar_has_is_found():
    raw = dates(3 * CHUNK_ROWS).astype(object)
    raw.iloc[list(range(1, 3 * CHUNK_ROWS, 3))] = "31/12/2012"  # dense: regex route
    raw.iloc[2] = "2012-02-30"
    parsed = parse_column(raw.astype("str"), "date")
    assert 2 in parsed.bad_rows.tolist() and len(parsed.bad_rows) == CHUNK_ROWS + 1


def test_empty_cells_and_null_tokens_are_nulls_not_bad_cells():
    parsed = parse_column(pd.Series(["1.5", "", None, "NA", " 2 ", "x"], dtype=object), "number")
    assert parsed.bad_rows.tolist() == [5]
    assert parsed.values.tolist()[:1] == [1.5] and parsed.values.iloc[4] == 2.0 and parsed.values.iloc[1:4].isna().all()


def test_typed_columns_pass_through_without_parsing():
    s = pd.Series(pd.to_datetime(["2012-01-01 10:00"]).tz_localize("Europe/London"))
    parsed = parse_column(s, "utc")
    assert str(parsed.values.dt.tz) == "UTC" and not len(parsed.bad_rows)


def test_column_kind_of_contract_dtypes():
    assert [column_kind(t) for t in ("datetime64[ns]", "datetime64[ns, UTC]", "float64", "str")] == [
        "date",
        "utc",
        "number",
        "text",
    ]
