"""A real export's mistakes, one at a time: each gets one message naming the line, column and raw value, and a hint."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd
import pytest

from features.errors import ContractViolation
from features.io import load_tenant
from tests.conftest import NOW


@pytest.fixture
def csv_dir(tmp_path, tenant) -> Path:
    """The conftest tenant exported as CSV files, as a utility would send it."""
    folder = tmp_path / "export"
    folder.mkdir()
    for name, df in tenant.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


def set_cell(path: Path, line: int, column: str, text: str) -> None:
    """Write `text` as the raw cell of `column` on `line` (1-based, header = line 1), quoted only if needed."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[line - 1][rows[0].index(column)] = text
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def violation(folder: Path, **kw) -> ContractViolation:
    with pytest.raises(ContractViolation) as info:
        load_tenant(folder, now=NOW, **kw)
    return info.value


@pytest.mark.parametrize(
    ("table", "column", "text", "check", "hint"),
    [
        pytest.param("readings", "reading_date", "31/12/2012", "date_day_first", "YYYY-MM-DD", id="day_first_date"),
        pytest.param("readings", "reading_date", "2023-06-01+02:00", "date_has_offset", "offset", id="offset_in_date"),
        pytest.param(
            "payments", "paid_at", "2023-06-01 12:00:00", "timestamp_without_timezone", "+00:00", id="naive_paid_at"
        ),
        pytest.param("readings", "kwh", "6,5", "number_decimal_comma", "6.5", id="decimal_comma"),
        pytest.param("bills", "amount", "£60.00", "number_currency", "currency sign", id="currency_sign"),
        pytest.param("readings", "kwh", "lots", "number_format", "plain number", id="text_in_number"),
    ],
)
def test_bad_cell_names_line_column_value_and_hint(csv_dir, table, column, text, check, hint):
    set_cell(csv_dir / f"{table}.csv", 11, column, text)
    err = violation(csv_dir)
    assert len(err.failures) == 1, err.failures
    failure = err.failures.iloc[0]
    assert (failure["line"], failure["row"], failure["column"], failure["value"]) == (11, 9, column, text)
    assert failure["check"] == check and hint in failure["hint"]
    assert f"line 11: {column} {check} (value={text!r})" in str(err) and hint in str(err)


def test_one_bad_date_among_many_is_quarantined_with_its_line(csv_dir, tmp_path):
    set_cell(csv_dir / "readings.csv", 11, "reading_date", "31/12/2012")
    tables, report = load_tenant(csv_dir, now=NOW, quarantine_dir=tmp_path / "q")
    assert report.counts["readings"]["quarantined"] == 1
    rejected = pd.read_csv(report.quarantine_files["readings"], dtype=str)
    assert rejected.loc[0, "line"] == "11" and rejected.loc[0, "reading_date"] == "31/12/2012"
    assert "date_day_first" in rejected.loc[0, "reasons"]
    assert tables["readings"]["reading_date"].dtype.kind == "M"


def test_a_paid_at_column_without_any_offset_is_read_as_utc(csv_dir, tenant, caplog):
    payments = tenant["payments"].assign(paid_at=tenant["payments"]["paid_at"].dt.tz_localize(None))
    payments.to_csv(csv_dir / "payments.csv", index=False)
    with caplog.at_level(logging.WARNING):
        tables, _ = load_tenant(csv_dir, now=NOW)
    assert tables["payments"]["paid_at"].equals(tenant["payments"]["paid_at"].astype("datetime64[ns, UTC]"))
    assert "read as UTC" in caplog.text


def test_due_date_before_issue_date_is_one_failure_naming_the_row(csv_dir, tenant):
    issue = tenant["bills"].loc[4, "issue_date"]
    set_cell(csv_dir / "bills.csv", 6, "due_date", (issue - pd.Timedelta(days=1)).strftime("%Y-%m-%d"))
    err = violation(csv_dir)
    assert len(err.failures) == 1, err.failures
    failure = err.failures.iloc[0]
    assert (failure["line"], failure["column"], failure["check"]) == (6, "due_date", "due_date >= issue_date")
    assert f"issue_date={issue:%Y-%m-%d}" in failure["value"] and "line 6: due_date" in str(err)


def test_missing_column_is_one_failure_without_a_stray_key_error(csv_dir, tenant):
    tenant["bills"].drop(columns="due_date").to_csv(csv_dir / "bills.csv", index=False)
    err = violation(csv_dir)
    assert err.failures[["column", "check"]].values.tolist() == [["due_date", "column_in_file"]]
    assert "KeyError" not in str(err) and "columns found" in str(err)


def test_empty_file_is_a_clear_error_not_a_traceback(csv_dir):
    (csv_dir / "payments.csv").write_text("")
    err = violation(csv_dir)
    assert err.table == "payments" and err.failures.loc[0, "check"] == "empty_file"
    assert "payments.csv" in str(err) and "header line" in str(err)


def test_header_only_is_a_warning_for_payments_and_an_error_for_readings(csv_dir, tenant, caplog):
    (csv_dir / "payments.csv").write_text(",".join(tenant["payments"].columns) + "\n")
    with caplog.at_level(logging.WARNING):
        tables, report = load_tenant(csv_dir, now=NOW, tables=("customers", "bills", "payments"))
    assert tables["payments"].empty and report.counts["payments"]["in"] == 0
    assert "header but no rows" in caplog.text and report.warnings
    (csv_dir / "readings.csv").write_text(",".join(tenant["readings"].columns) + "\n")
    err = violation(csv_dir)
    assert err.table == "readings" and err.failures.loc[0, "check"] == "empty_table"


def test_semicolon_separated_file_gets_a_separator_hint(csv_dir, tenant):
    tenant["readings"].to_csv(csv_dir / "readings.csv", index=False, sep=";")
    err = violation(csv_dir)
    assert err.failures.loc[0, "check"] == "separator"
    assert "semicolons" in str(err) and "','" in str(err)


def test_unquoted_decimal_comma_is_a_malformed_line_named_by_number(csv_dir, tmp_path):
    path = csv_dir / "readings.csv"
    lines = path.read_text().splitlines()
    lines[6] = lines[6].rsplit(",", 1)[0] + ",6,5"  # line 7: one field too many
    path.write_text("\n".join(lines) + "\n")
    set_cell(path, 11, "kwh", "-1.0")  # a later bad cell keeps its own line
    err = violation(csv_dir)
    assert err.failures.loc[0, "line"] == 7 and err.failures.loc[0, "check"] == "field_count"
    assert "6,5" in err.failures.loc[0, "value"] and "line 7" in str(err)
    _, report = load_tenant(csv_dir, now=NOW, quarantine_dir=tmp_path / "q")
    rejected = pd.read_csv(report.quarantine_files["readings"], dtype=str)
    assert rejected["line"].tolist() == ["7", "11"]
    assert report.counts["readings"]["in"] == len(lines) - 1


def test_utf8_bom_is_read_transparently(csv_dir, tenant):
    path = csv_dir / "customers.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    tables, _ = load_tenant(csv_dir, now=NOW)
    assert tables["customers"]["customer_id"].tolist() == tenant["customers"]["customer_id"].tolist()


def test_utf16_file_gets_an_encoding_hint(csv_dir, tenant):
    (csv_dir / "customers.csv").write_text(tenant["customers"].to_csv(index=False), encoding="utf-16")
    assert "UTF-16" in str(violation(csv_dir))


def test_empty_parquet_file_is_a_clear_error(tmp_path, tenant):
    for name, df in tenant.items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    (tmp_path / "bills.parquet").write_bytes(b"")
    err = violation(tmp_path)
    assert err.table == "bills" and err.failures.loc[0, "check"] == "parquet_file" and "Parquet" in str(err)


def test_parquet_with_categorical_ids_loads_as_the_same_strings(tmp_path, tenant):
    """Dictionary-encoded text (pandas categoricals as written) is decoded in Arrow: same values as plain text."""
    plain, coded = tmp_path / "plain", tmp_path / "coded"
    for folder, as_category in ((plain, False), (coded, True)):
        folder.mkdir()
        for name, df in tenant.items():
            if as_category:
                df = df.assign(**{c: df[c].astype("category") for c in df.columns if c.endswith("_id")})
            df.to_parquet(folder / f"{name}.parquet", index=False)
    want, _ = load_tenant(plain, now=NOW)
    got, _ = load_tenant(coded, now=NOW)
    assert pd.api.types.is_string_dtype(got["readings"]["customer_id"])
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_dtype=False)
