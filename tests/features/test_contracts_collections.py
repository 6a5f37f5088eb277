"""The collections parts of the contracts: optional protection flags on customers, the optional balances table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contracts import check_references, validate
from features.errors import ContractViolation

NOW = pd.Timestamp("2024-07-01", tz="UTC")


def balances(**over) -> pd.DataFrame:
    df = pd.DataFrame(
        {"customer_id": ["C000", "C001"], "as_of": pd.to_datetime(["2024-06-01", "2024-06-01"]), "balance": [5.0, -2.0]}
    )
    return df.assign(**over)


def test_flags_are_optional_and_kept(tenant):
    plain = validate("customers", tenant["customers"], now=NOW).accepted
    assert "medical" not in plain
    flagged = tenant["customers"].assign(medical=[True] + [None] * 9, protection_other=["carer"] + [None] * 9)
    out = validate("customers", flagged, now=NOW).accepted
    assert out["medical"].dtype == "boolean" and bool(out["medical"].iloc[0]) and pd.isna(out["medical"].iloc[1])


def test_a_flag_that_is_not_a_boolean_is_named(tenant):
    bad = tenant["customers"].assign(medical=["yes please"] + [None] * 9)
    with pytest.raises(ContractViolation, match="medical"):
        validate("customers", bad, now=NOW)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("balance", np.inf, id="infinite_balance"),
        pytest.param("as_of", pd.Timestamp("2030-01-01"), id="future_day"),
        pytest.param("account_type", "credit card", id="unknown_account_type"),
    ],
)
def test_bad_balance_rows_are_named(column, value):
    df = balances(account_type=["prepaid", "deposit"])
    df.loc[1, column] = value
    with pytest.raises(ContractViolation, match=column):
        validate("balances", df, now=NOW)


def test_a_negative_balance_is_a_debt_not_an_error():
    assert len(validate("balances", balances(), now=NOW).accepted) == 2


def test_balance_of_an_unknown_customer_is_a_broken_reference(tenant):
    tables = {"customers": tenant["customers"], "balances": balances(customer_id=["C000", "NOPE"])}
    failures = check_references(tables)
    assert failures[["table", "row", "check"]].values.tolist() == [["balances", 1, "known_customer"]]
