"""`meterwise data validate` and `meterwise data quality` on a tenant exported as CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.cli import data_app
from tests.conftest import NOW


@pytest.fixture
def export(tmp_path, tenant, monkeypatch) -> Path:
    """The conftest tenant as CSV files with one negative kWh on line 12, and a private var folder."""
    folder = tmp_path / "acme"
    folder.mkdir()
    readings = tenant["readings"].copy()
    readings.loc[10, "kwh"] = -2.0
    for name, df in {**tenant, "readings": readings}.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("METERWISE_TENANT", raising=False)
    return folder


def run(*args: str):
    return CliRunner().invoke(data_app, list(args))


def test_validate_names_line_column_and_value_and_exits_2(export):
    result = run("validate", "--tenant", "acme", "--data-dir", str(export), "--now", str(NOW.date()))
    assert result.exit_code == 2
    assert re.search(r"\b12\s+kwh\s+non_negative\s+-2\.0", result.output), result.output  # line 12 (header = 1)


def test_each_quarantine_run_has_its_own_folder_counts_and_summary(export, tmp_path):
    args = ("validate", "--tenant", "acme", "--data-dir", str(export), "--quarantine", "--now", str(NOW.date()))
    first, second = run(*args, "--json"), run(*args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    payload = json.loads(first.output)
    assert payload["counts"]["readings"]["quarantined"] == 1
    assert payload["reasons"] == [{"table": "readings", "column": "kwh", "check": "non_negative", "rows": 1}]
    runs = sorted((tmp_path / "var" / "quarantine" / "acme").iterdir())
    assert len(runs) == 2 and payload["run_id"] in {r.name for r in runs}
    for folder in runs:
        summary = pd.read_csv(folder / "summary.csv").set_index("table")
        assert summary.loc["readings", "quarantined"] == 1  # this run's count, not the folder's total
        assert len(pd.read_csv(folder / "readings.rejected.csv")) == 1
    assert "quarantined" in second.output and "non_negative" in second.output  # the printed summary table


def test_quality_writes_table_and_html_page(export, tmp_path, tenant):
    readings = tenant["readings"]
    readings = readings[~readings["reading_date"].between("2023-06-01", "2023-06-20")]  # a 20-day gap for all
    readings.to_csv(export / "readings.csv", index=False)
    out = tmp_path / "report"
    result = run("quality", "--tenant", "acme", "--data-dir", str(export), "--out", str(out), "--no-mlflow")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "quality.parquet")
    assert len(table) == len(tenant["customers"]) and (table["longest_gap_days"] == 20).all()
    assert json.loads((out / "summary.json").read_text())["meters_per_issue"]["gaps"] == len(table)
    assert "<img" in (out / "quality.html").read_text() and "gaps" in result.output
