"""The revenue-protection contracts (`meter_reads`, `inspections`) reject bad input by row, column and value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contracts import ALL_TABLES, TABLES, check_references, validate
from features.errors import ContractViolation

NOW = pd.Timestamp("2025-01-01", tz="UTC")


def _reads() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C2"],
            "meter_id": ["M1", "M1", "M1", "M2"],
            "read_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-01-01"]),
            "old_index": [0.0, 100.0, 200.0, 50.0],
            "new_index": [100.0, 200.0, 150.0, 80.0],  # row 2 rolls back on purpose: allowed, a feature
            "status": ["ok", "ok", "estimated", "ok"],
            "remark": ["", None, "door locked", ""],
            "multiplier": [1.0, 1.0, 1.0, 2.0],
        }
    )


def _inspections() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "inspected_date": pd.to_datetime(["2024-04-01", "2024-04-02"]),
            "outcome": ["theft_confirmed", "no_irregularity"],
            "recovered_kwh": [300.0, np.nan],
        }
    )


def test_valid_reads_and_inspections_pass_and_a_rollback_is_not_bad_data():
    reads = validate("meter_reads", _reads(), now=NOW)
    assert len(reads.accepted) == 4 and reads.rejected.empty
    assert validate("inspections", _inspections(), now=NOW).rejected.empty


def test_revenue_tables_are_registered_but_not_required_by_the_core_tenant():
    assert {"meter_reads", "inspections"} <= set(ALL_TABLES)
    assert not {"meter_reads", "inspections"} & set(TABLES)


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "check"),
    [
        ("meter_reads", 1, "new_index", -5.0, "non_negative"),
        ("meter_reads", 2, "old_index", np.inf, "finite"),
        ("meter_reads", 0, "multiplier", 0.0, "positive"),
        ("meter_reads", 3, "read_date", pd.Timestamp("2030-01-01"), "not_in_future"),
        ("meter_reads", 1, "meter_id", None, "not_nullable"),
        ("meter_reads", 2, "new_index", "lots", "coerce"),
        ("inspections", 1, "outcome", "maybe", "isin"),
        ("inspections", 0, "recovered_kwh", -1.0, "non_negative"),
        ("inspections", 0, "inspected_date", pd.Timestamp("2031-06-01"), "not_in_future"),
    ],
)
def test_bad_value_is_named_with_row_column_and_value(table, row, column, value, check):
    df = _reads() if table == "meter_reads" else _inspections()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    with pytest.raises(ContractViolation) as info:
        validate(table, df, now=NOW)
    failures = info.value.failures
    hit = failures[(failures["row"] == row) & (failures["column"] == column)]
    assert not hit.empty, failures
    assert check == "coerce" or hit["check"].str.contains(check, regex=False).any(), hit
    assert f"row {row}" in str(info.value) and column in str(info.value)


def test_duplicate_read_names_both_rows_and_quarantine_keeps_the_rest():
    dup = pd.concat([_reads(), _reads().iloc[[1]]], ignore_index=True)
    with pytest.raises(ContractViolation) as info:
        validate("meter_reads", dup, now=NOW)
    assert {1, 4} <= set(info.value.failures["row"].dropna().astype(int))
    result = validate("meter_reads", dup, now=NOW, quarantine=True)
    assert len(result.accepted) == 3 and set(result.rejected["row"]) == {1, 4}


def test_missing_column_is_a_table_level_error():
    with pytest.raises(ContractViolation, match="multiplier"):
        validate("meter_reads", _reads().drop(columns="multiplier"), now=NOW, quarantine=True)


def test_reads_and_inspections_of_unknown_customers_are_named():
    customers = pd.DataFrame({"customer_id": ["C1"]})
    failures = check_references({"customers": customers, "meter_reads": _reads(), "inspections": _inspections()})
    got = set(zip(failures["table"], failures["row"], strict=True))
    assert got == {("meter_reads", 3), ("inspections", 1)}
