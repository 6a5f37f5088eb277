"""Each contract rejects every kind of bad input and names the bad rows and fields."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contracts import TABLES, check_references, validate
from features.errors import ContractViolation
from tests.conftest import NOW


def test_the_valid_tenant_passes_every_contract(tenant):
    for name, df in tenant.items():
        result = validate(name, df, now=NOW)
        assert len(result.accepted) == len(df)
        assert result.rejected.empty
    assert check_references(tenant).empty


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "check"),
    [
        pytest.param("readings", 3, "kwh", -1.0, "non_negative", id="negative_kwh"),
        pytest.param("readings", 4, "kwh", np.nan, "not_nullable", id="nan_kwh"),
        pytest.param("readings", 5, "kwh", np.inf, "finite", id="infinite_kwh"),
        pytest.param("readings", 6, "reading_date", pd.Timestamp("2031-01-01"), "not_in_future", id="future_reading"),
        pytest.param("readings", 7, "kwh", "lots", "coerce", id="wrong_type_kwh"),
        pytest.param("readings", 8, "customer_id", None, "not_nullable", id="missing_customer_id"),
        pytest.param("customers", 2, "category", "spaceship", "isin", id="unknown_category"),
        pytest.param("customers", 1, "start_date", pd.Timestamp("2030-05-05"), "not_in_future", id="future_customer"),
        pytest.param("bills", 2, "amount", -5.0, "non_negative", id="negative_amount"),
        pytest.param("bills", 3, "issue_date", pd.Timestamp("2029-01-01"), "not_in_future", id="future_bill"),
        pytest.param("payments", 1, "amount", 0.0, "positive", id="zero_payment"),
        pytest.param("payments", 2, "channel", "pigeon", "isin", id="unknown_channel"),
        pytest.param(
            "payments",
            3,
            "paid_at",
            pd.Timestamp("2030-01-01", tz="UTC"),
            "not_in_future",
            id="future_payment",
        ),
        pytest.param("weather", 4, "temperature_c", 99.0, "plausible_temperature", id="implausible_temperature"),
    ],
)
def test_bad_value_is_named_with_row_column_and_check(tenant, table, row, column, value, check):
    df = tenant[table].copy()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    with pytest.raises(ContractViolation) as info:
        validate(table, df, now=NOW)
    failures = info.value.failures
    hit = failures[(failures["row"] == row) & (failures["column"] == column)]
    assert not hit.empty, failures
    assert hit["check"].str.contains(check, regex=False).any() or check == "coerce", hit
    assert f"row {row}" in str(info.value) and column in str(info.value)


@pytest.mark.parametrize(
    ("table", "keys"),
    [
        ("readings", ["customer_id", "reading_date"]),
        ("bills", ["bill_id"]),
        ("payments", ["payment_id"]),
        ("customers", ["customer_id"]),
    ],
)
def test_duplicates_name_both_rows(tenant, table, keys):
    df = tenant[table]
    dup = pd.concat([df, df.iloc[[1]]], ignore_index=True)
    with pytest.raises(ContractViolation) as info:
        validate(table, dup, now=NOW)
    rows = set(info.value.failures["row"].dropna().astype(int))
    assert {1, len(dup) - 1} <= rows
    named = {c for cols in info.value.failures["column"].dropna() for c in cols.split(",")}
    assert named & set(keys)
    assert len(info.value.failures) == 2  # one failure per duplicated row, not one per key column


@pytest.mark.parametrize("table", TABLES)
def test_missing_column_is_a_table_level_error(tenant, table):
    if table == "interval_readings":
        df = pd.DataFrame({"customer_id": ["C000"], "read_at": [pd.Timestamp("2024-01-01", tz="UTC")], "kwh": [1.0]})
    elif table == "work_orders":  # optional per tenant, so not in the conftest tenant; required columns only
        df = pd.DataFrame({"order_id": ["W1"], "created_at": [NOW], "channel": ["app"], "text": ["bill too high"]})
    elif table == "weather_forecasts":
        df = _weather_forecasts()
    elif table == "balances":  # optional (collections), not in the conftest tenant
        df = pd.DataFrame({"customer_id": ["C000"], "as_of": [pd.Timestamp("2024-01-01")], "balance": [3.0]})
    else:
        df = tenant[table]
    column = [c for c in df.columns if c not in {"area", "humidity", "end_date"}][-1]
    with pytest.raises(ContractViolation, match=column):
        validate(table, df.drop(columns=column), now=NOW, quarantine=True)  # quarantine cannot fix a missing column


def test_cross_field_checks(tenant):
    bills = tenant["bills"].copy()
    bills.loc[4, "due_date"] = bills.loc[4, "issue_date"] - pd.Timedelta(days=1)
    with pytest.raises(ContractViolation, match="due_date >= issue_date"):
        validate("bills", bills, now=NOW)


def test_quarantine_conserves_every_row(tenant):
    df = tenant["readings"].copy()
    df.loc[[2, 9], "kwh"] = -3.0
    df = pd.concat([df, df.iloc[[20]]], ignore_index=True)
    result = validate("readings", df, now=NOW, quarantine=True)
    assert len(result.accepted) + len(result.rejected) == len(df)
    assert set(result.rejected["row"]) == {2, 9, 20, len(df) - 1}
    assert result.rejected["reasons"].str.len().gt(0).all()
    assert (result.accepted["kwh"] >= 0).all()
    assert sorted(result.positions) == sorted(set(range(len(df))) - {2, 9, 20, len(df) - 1})


def test_references_name_unknown_bills_and_customers(tenant):
    payments = tenant["payments"].copy()
    payments.loc[0, "bill_id"] = "NOPE"
    payments.loc[1, "customer_id"] = "C009"  # a real customer, but not the bill's
    readings = tenant["readings"].copy()
    readings.loc[5, "customer_id"] = "GHOST"
    failures = check_references({**tenant, "payments": payments, "readings": readings})
    got = set(zip(failures["table"], failures["row"], failures["check"], strict=True))
    assert ("payments", 0, "known_bill") in got
    assert ("readings", 5, "known_customer") in got
    assert any(t == "payments" and r == 1 and c == "same_customer_as_bill" for t, r, c in got)


def _weather_forecasts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["north", "north"],
            "issued_at": pd.to_datetime(["2023-05-01 00:00", "2023-05-01 00:00"], utc=True),
            "valid_at": pd.to_datetime(["2023-05-01 06:00", "2023-05-02 06:00"], utc=True),
            "temperature_c": [8.5, 9.0],
        }
    )


def test_weather_forecasts_contract_accepts_issued_forecasts():
    assert len(validate("weather_forecasts", _weather_forecasts()).accepted) == 2


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        pytest.param("temperature_c", 99.0, "plausible_temperature", id="implausible_temperature"),
        pytest.param(
            "valid_at", pd.Timestamp("2023-04-30", tz="UTC"), "valid_at >= issued_at", id="valid_before_issue"
        ),
    ],
)
def test_weather_forecasts_contract_names_the_bad_field(column, value, check):
    bad = _weather_forecasts()
    bad.loc[1, column] = value
    with pytest.raises(ContractViolation, match=check):
        validate("weather_forecasts", bad)


def test_a_bad_date_and_a_bad_kwh_on_one_row_are_two_failures_and_an_empty_cell_stays_not_nullable(tenant):
    df = tenant["readings"].astype({"reading_date": object, "kwh": object})
    df.loc[3, ["reading_date", "kwh"]] = ["31/12/2012", -1.0]
    df.loc[5, "reading_date"] = None
    with pytest.raises(ContractViolation) as info:
        validate("readings", df, now=NOW)
    got = info.value.failures[["row", "column", "check"]].values.tolist()
    assert got == [
        [3, "reading_date", "date_day_first"],
        [3, "kwh", "non_negative"],
        [5, "reading_date", "not_nullable"],
    ]
