"""The generic CSV: every bad value is an error naming line, column and value; blanks are gaps, never zeros."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.csv_series import BadLoadFile, csv_panel, read_load_csv

STAMPS = pd.date_range("2024-01-01", periods=6, freq="h").strftime("%Y-%m-%d %H:%M")


def _write(tmp_path, **columns) -> object:
    path = tmp_path / "load.csv"
    pd.DataFrame({"timestamp": STAMPS, **columns}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("load", ["1", "2", "3", "4,5", "5", "6"], r"line 5: load='4,5'"),
        ("load", ["1", "2", "3", "4", "five", "6"], r"1 non-numeric load values .* line 6: load='five'"),
        ("load", ["1", "inf", "3", "4", "5", "6"], r"line 3: load='inf'"),
        ("temperature", ["1", "2", "warm", "4", "5", "6"], r"line 4: temperature='warm'"),
    ],
)
def test_non_numeric_values_name_line_column_and_value(tmp_path, column, values, message):
    cols = {"load": ["1"] * 6, column: values}
    with pytest.raises(BadLoadFile, match=message):
        read_load_csv(_write(tmp_path, **cols), "H")


def test_unparseable_timestamp_names_its_line(tmp_path):
    path = tmp_path / "load.csv"
    stamps = [*STAMPS[:2], "yesterday", *STAMPS[3:]]
    pd.DataFrame({"timestamp": stamps, "load": 1.0}).to_csv(path, index=False)
    with pytest.raises(BadLoadFile, match=r"line 4: timestamp='yesterday'"):
        read_load_csv(path, "H")


def test_header_only_file_is_an_error(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("timestamp,load\n")
    with pytest.raises(BadLoadFile, match="no rows"):
        read_load_csv(path, "H")


@pytest.mark.parametrize("blank", ["", "NA", "null"])
def test_blank_loads_are_explicit_gaps_never_zeros(tmp_path, blank):
    df = read_load_csv(_write(tmp_path, load=["10", "11", blank, "13", "14", "15"], temperature=[""] * 6), "H")
    assert np.isnan(df["load"].iloc[2]) and (df["load"].drop(index=2) > 0).all()
    assert df["temperature_c"].isna().all()  # blank temperatures are unknown, not 0 °C
    panel = csv_panel(df, "H")
    assert np.isnan(panel.y[0, 2]) and not (panel.y[0] == 0).any()


def test_a_period_missing_readings_is_a_gap_not_a_smaller_sum(tmp_path):
    path = tmp_path / "load.csv"
    stamps = pd.date_range("2024-01-01", periods=8, freq="30min").delete(3)  # 01:30 never read
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "load": 1.0}).to_csv(path, index=False)
    df = read_load_csv(path, "H")
    assert df["load"].tolist()[:1] == [2.0] and np.isnan(df["load"].iloc[1])
