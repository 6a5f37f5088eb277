"""Fast key checks decide exactly as pandas does: a duplicate is never missed, a unique key never refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.keys import arrow_text, is_in, surely_unique


def _readings(n_customers: int = 30, days: int = 40) -> pd.DataFrame:
    ids = np.repeat([f"C{i:04d}" for i in range(n_customers)], days)
    dates = np.tile(pd.date_range("2024-01-01", periods=days, freq="D").to_numpy(), n_customers)
    return pd.DataFrame({"customer_id": pd.array(ids, dtype="str"), "reading_date": dates, "kwh": 1.0})


@pytest.mark.parametrize("order", ["stored_in_key_order", "shuffled"])
def test_unique_key_is_recognised_however_the_rows_are_stored(order):
    df = _readings()
    if order == "shuffled":
        df = df.sample(frac=1, random_state=0).reset_index(drop=True)
    assert surely_unique(df, ["customer_id", "reading_date"])


@pytest.mark.parametrize("order", ["stored_in_key_order", "shuffled"])
def test_one_duplicated_row_is_found(order):
    df = _readings()
    df = pd.concat([df, df.iloc[[417]]], ignore_index=True)
    if order == "shuffled":
        df = df.sample(frac=1, random_state=1).reset_index(drop=True)
    assert df.duplicated(["customer_id", "reading_date"]).any()
    assert not surely_unique(df, ["customer_id", "reading_date"])


def test_same_day_other_customer_and_same_customer_other_day_are_not_duplicates():
    df = pd.DataFrame(
        {
            "region": pd.array(["N", "S", "N"], dtype="str"),
            "observed_at": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:00", "2024-01-01 01:00"], utc=True),
        }
    )
    assert surely_unique(df, ["region", "observed_at"])
    assert not surely_unique(pd.concat([df, df.iloc[[2]]]), ["region", "observed_at"])


def test_instants_a_microsecond_apart_are_different_keys():
    t = pd.Timestamp("2024-01-01", tz="UTC")
    df = pd.DataFrame({"k": ["a", "a"], "at": [t, t + pd.Timedelta(microseconds=1)]})
    assert surely_unique(df, ["k", "at"])


def test_missing_values_leave_the_decision_to_pandera():
    df = _readings(3, 5)
    df.loc[4, "reading_date"] = pd.NaT
    assert not surely_unique(df, ["customer_id", "reading_date"])


def test_numeric_ids_are_keys_too():
    df = pd.DataFrame({"id": [3, 1, 2], "d": pd.to_datetime(["2024-01-01"] * 3)})
    assert surely_unique(df, ["id", "d"])
    assert not surely_unique(pd.DataFrame({"id": [1, 1], "d": pd.to_datetime(["2024-01-01"] * 2)}), ["id", "d"])


def test_is_in_matches_pandas_for_text_categories_and_objects():
    known = arrow_text(pd.Series(["a", "b"]))
    for values in (
        pd.Series(["a", "x", None], dtype="str"),
        pd.Series(["a", "x", None]).astype("category"),
        pd.Series(["a", "x", None], dtype=object),
    ):
        assert is_in(values, known).tolist() == [True, False, False]
