"""Loading a tenant folder: CSV and Parquet, quarantine files, and exact row accounting."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from features.errors import ContractViolation
from features.io import file_hash, load_tenant
from tests.conftest import NOW


def test_load_parquet_tenant(tenant_dir, tenant):
    tables, report = load_tenant(tenant_dir, now=NOW)
    assert set(tables) == set(tenant)
    assert report.counts["readings"] == {
        "in": len(tenant["readings"]),
        "accepted": len(tenant["readings"]),
        "quarantined": 0,
    }
    assert report.hashes["readings"] == file_hash(tenant_dir / "readings.parquet")


def test_load_csv_tenant(tmp_path, tenant):
    for name, df in tenant.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    tables, _ = load_tenant(tmp_path, now=NOW)
    assert tables["readings"]["reading_date"].dtype.kind == "M"
    assert str(tables["payments"]["paid_at"].dt.tz) == "UTC"
    assert len(tables["bills"]) == len(tenant["bills"])


def test_missing_required_table(tenant_dir):
    (tenant_dir / "bills.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="bills"):
        load_tenant(tenant_dir, now=NOW)


def test_bad_rows_raise_by_default_and_quarantine_on_request(tmp_path, tenant):
    readings = tenant["readings"].copy()
    readings.loc[10, "kwh"] = -2.0
    payments = tenant["payments"].copy()
    payments.loc[3, "bill_id"] = "UNKNOWN-BILL"
    for name, df in {**tenant, "readings": readings, "payments": payments}.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    with pytest.raises(ContractViolation, match=r"line 12: kwh non_negative \(value='-2.0'\)") as info:
        load_tenant(tmp_path, now=NOW)
    assert info.value.failures.loc[0, "row"] == 10  # row 10 sits on line 12 (header is line 1)

    qdir = tmp_path / "quarantine"
    tables, report = load_tenant(tmp_path, now=NOW, quarantine_dir=qdir)
    for counts in report.counts.values():
        assert counts["accepted"] + counts["quarantined"] == counts["in"]
    assert report.counts["readings"]["quarantined"] == 1
    assert report.counts["payments"]["quarantined"] == 1
    assert report.quarantine_files["payments"].startswith(str(qdir / report.run_id))
    rejected = pd.read_csv(report.quarantine_files["payments"])
    assert rejected.loc[0, "line"] == 3 + 2  # row 3 sits on line 5 of the CSV (header is line 1)
    assert "known_bill" in rejected.loc[0, "reasons"]
    assert len(tables["payments"]) == len(payments) - 1


def test_every_log_line_of_a_run_carries_its_id(tmp_path, tenant, caplog):
    readings = tenant["readings"].copy()
    readings.loc[4, "kwh"] = -1.0
    for name, df in {**tenant, "readings": readings}.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    with caplog.at_level(logging.DEBUG, logger="features"):
        _, report = load_tenant(tmp_path, now=NOW, quarantine_dir=tmp_path / "q", run_id="20240701T000000Z-abcdef")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("features.")]
    assert len(lines) > 5 and all(m.startswith("[run 20240701T000000Z-abcdef] ") for m in lines), lines
    assert (tmp_path / "q" / report.run_id / "summary.json").exists()
    caplog.clear()
    logging.getLogger("features.io").warning("after the run")
    assert caplog.records[-1].getMessage() == "after the run"  # the prefix ends with the run
