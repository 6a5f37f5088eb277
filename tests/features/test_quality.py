"""Meter-data quality: each check finds what was injected into a clean series, and nothing on the clean one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.quality import (
    PROFILE_FLAG,
    QualitySettings,
    add_register_reads,
    check_readings,
    check_register_reads,
    flag_profiles,
    summarize,
)

SETTINGS = QualitySettings(min_completeness=0.9, flatline_days=7, spike_factor=10.0, spike_min_kwh=1.0)


def series(customer: str = "A", days: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": customer,
            "reading_date": pd.date_range("2023-01-01", periods=days, freq="D"),
            "kwh": rng.uniform(8, 12, days).round(3),
        }
    )


def one(df: pd.DataFrame, **kw) -> pd.Series:
    table = check_readings(df, SETTINGS, **kw)
    assert len(table) == 1
    return table.iloc[0]


def test_a_clean_series_has_no_issue():
    row = one(series())
    assert row["issues"] == "" and row["completeness"] == 1.0 and not row[PROFILE_FLAG]


def test_gap_is_counted_with_its_length():
    df = series().drop(index=range(30, 45))  # 15 missing days
    row = one(df)
    assert (row["gaps"], row["longest_gap_days"], row["days_observed"]) == (1, 15, 105)
    assert row["completeness"] == pytest.approx(105 / 120) and row[PROFILE_FLAG]
    assert "gaps" in row["issues"] and "low_completeness" in row["issues"]


def test_flatline_of_seven_days_is_found_and_six_is_not():
    df = series()
    df.loc[10:16, "kwh"] = 5.0  # 7 days stuck
    df.loc[50:55, "kwh"] = 4.0  # 6 days: below the threshold
    row = one(df)
    assert (row["flatlines"], row["longest_flatline_days"]) == (1, 7)


def test_zero_flatline_counts_too():
    df = series()
    df.loc[60:89, "kwh"] = 0.0
    assert one(df)["longest_flatline_days"] == 30


def test_spike_and_negative_are_counted():
    df = series()
    df.loc[20, "kwh"] = 500.0
    df.loc[21, "kwh"] = -3.0
    row = one(df)
    assert (row["spikes"], row["negative_days"]) == (1, 1)


def test_duplicated_day_is_counted_and_not_read_as_a_gap():
    df = pd.concat([series(), series().iloc[[5]]], ignore_index=True)
    row = one(df)
    assert (row["duplicated_days"], row["gaps"], row["days_observed"]) == (1, 0, 120)


def test_cumulative_series_and_its_rollover_are_found():
    df = series()
    df["kwh"] = np.cumsum(df["kwh"].to_numpy()) + 99_000.0
    df.loc[80:, "kwh"] -= 99_900.0  # the register wrapped past 99,999
    row = one(df)
    assert row["cumulative_suspected"] and row["rollovers"] == 1


def test_silence_up_to_as_of_is_a_gap():
    row = one(series(days=60), as_of=pd.Timestamp("2023-03-31"))
    assert row["longest_gap_days"] == 30 and row["days_expected"] == 90


def test_register_rollover_is_told_from_a_rollback():
    reads = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B"],
            "old_index": [99_950.0, 120.0, 5_000.0],
            "new_index": [30.0, 400.0, 4_200.0],  # A wrapped at 99,999; B went backwards
        }
    )
    register = check_register_reads(reads, SETTINGS)
    assert register.set_index("customer_id").to_dict("index") == {
        "A": {"rollovers": 1, "register_rollbacks": 0},
        "B": {"rollovers": 0, "register_rollbacks": 1},
    }
    table = add_register_reads(check_readings(series("A"), SETTINGS), register, SETTINGS)
    assert table.set_index("customer_id").loc["A", "rollovers"] == 1
    assert "register_rollbacks" in table.set_index("customer_id").loc["B", "issues"]


def test_per_meter_rows_and_summary_and_profile_flag():
    df = pd.concat([series("A"), series("B", seed=1).drop(index=range(40, 60))], ignore_index=True)
    table = check_readings(df, SETTINGS, as_of=pd.Timestamp("2023-04-30"))
    assert table["customer_id"].tolist() == ["A", "B"]
    summary = summarize(table)
    assert summary["meters"] == 2 and summary["meters_per_issue"]["low_completeness"] == 1
    profiles = pd.DataFrame({"customer_id": ["A", "B", "C"], "x": [1, 2, 3]})
    flagged = flag_profiles(profiles, table)
    assert flagged[PROFILE_FLAG].tolist() == [False, True, True]  # C has no readings at all


def test_a_single_missing_day_is_not_a_gap_but_lowers_completeness():
    row = one(series().drop(index=[30]))
    assert (row["gaps"], row["longest_gap_days"], row["days_observed"]) == (0, 1, 119)
