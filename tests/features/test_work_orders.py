"""The work_orders contract names every bad row and field; labelled exports are read or refused clearly."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contracts import check_references, validate
from features.errors import ContractViolation
from features.work_orders import read_labelled, with_optional_columns

NOW = pd.Timestamp("2024-07-01", tz="UTC")


def orders() -> pd.DataFrame:
    created = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "order_id": [f"WO{i}" for i in range(5)],
            "customer_id": ["C000", "C001", None, "C000", "C002"],
            "created_at": created,
            "channel": ["95598", "app", "counter", "phone", "app"],
            "category": ["电费", "停电", None, "billing", "outage"],
            "text": ["电费太高了", "小区停电3天", "咨询", "my bill is too high", "power cut since 6pm"],
            "closed_at": [created[0] + pd.Timedelta(days=2), pd.NaT, pd.NaT, created[3], pd.NaT],
            "resolution": ["explained", None, None, "refund", None],
        }
    )


def test_valid_orders_in_any_language_pass():
    result = validate("work_orders", orders(), now=NOW)
    assert len(result.accepted) == 5 and result.rejected.empty


@pytest.mark.parametrize(
    ("row", "column", "value", "check"),
    [
        pytest.param(1, "text", "   ", "not_blank", id="blank_text"),
        pytest.param(2, "text", None, "not_nullable", id="missing_text"),
        pytest.param(3, "channel", None, "not_nullable", id="missing_channel"),
        pytest.param(4, "created_at", pd.Timestamp("2030-01-01", tz="UTC"), "not_in_future", id="future_order"),
        pytest.param(1, "order_id", "WO0", "unique", id="duplicate_order_id"),
        pytest.param(0, "text", "x" * 20_001, "20000", id="text_too_long"),
    ],
)
def test_bad_value_is_named_with_row_column_and_check(row, column, value, check):
    df = orders()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    with pytest.raises(ContractViolation) as info:
        validate("work_orders", df, now=NOW)
    failures = info.value.failures
    hit = failures[(failures["row"] == row) & (failures["column"] == column)]
    assert not hit.empty, failures
    assert hit["check"].str.contains(check, regex=False).any(), hit


def test_closed_before_created_is_rejected_and_quarantine_keeps_the_rest():
    df = orders()
    df.loc[0, "closed_at"] = df.loc[0, "created_at"] - pd.Timedelta(hours=1)
    with pytest.raises(ContractViolation, match="closed_at >= created_at"):
        validate("work_orders", df, now=NOW)
    result = validate("work_orders", df, now=NOW, quarantine=True)
    assert result.rejected["row"].tolist() == [0] and len(result.accepted) == 4


def test_optional_columns_may_be_absent_but_text_may_not():
    minimal = orders()[["order_id", "created_at", "channel", "text"]]
    assert len(validate("work_orders", minimal, now=NOW).accepted) == 5
    assert list(with_optional_columns(minimal).columns)[-1] == "resolution"
    with pytest.raises(ContractViolation, match="text"):
        validate("work_orders", minimal.drop(columns="text"), now=NOW, quarantine=True)


def test_unknown_customer_is_a_reference_failure_but_no_customer_is_fine():
    customers = pd.DataFrame({"customer_id": ["C000", "C001"]})
    failures = check_references({"customers": customers, "work_orders": orders()})
    assert failures[["table", "row", "value"]].values.tolist() == [["work_orders", 4, "C002"]]


def test_read_labelled_names_the_missing_column(tmp_path):
    path = tmp_path / "export.csv"
    pd.DataFrame({"body": ["a", "b"], "label": ["x", "y"]}).to_csv(path, index=False)
    with pytest.raises(ContractViolation, match="content"):
        read_labelled(path, text_col="content", label_col="label")
    got = read_labelled(path, text_col="body", label_col="label")
    assert got["text"].tolist() == ["a", "b"]


def test_read_labelled_drops_blank_rows_and_parses_dates(tmp_path):
    path = tmp_path / "export.xlsx"
    pd.DataFrame(
        {"t": ["停电了", "", "bill"], "y": ["a", "b", ""], "d": ["2019/1/6 12:09:38", "2019-02-28", "2019-03-01"]}
    ).to_excel(path, index=False)
    got = read_labelled(path, text_col="t", label_col="y", date_col="d")
    assert got["text"].tolist() == ["停电了"]
    assert got["created_at"].iloc[0] == pd.Timestamp("2019-01-06 12:09:38", tz="UTC")


def test_unsupported_file_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unsupported"):
        read_labelled(tmp_path / "x.json")


def test_read_labelled_gb18030_and_semicolons(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("内容;类别\n小区停电;停电\n电费太高;电费\n".encode("gb18030"))
    got = read_labelled(path, text_col="内容", label_col="类别")
    assert got["text"].tolist() == ["小区停电", "电费太高"] and got["label"].tolist() == ["停电", "电费"]
