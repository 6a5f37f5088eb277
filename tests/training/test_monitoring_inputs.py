"""Rejection rates per table and the defensive reader of quarantine folders (flat and per run)."""

from __future__ import annotations

import pytest

from training.monitoring_inputs import quarantine_history, rejection_rates


def test_rejection_rates_by_hand():
    out = rejection_rates(
        {"bills": {"in": 200, "accepted": 190, "quarantined": 10}, "empty": {"in": 0, "quarantined": 0}}
    )
    assert out.set_index("table")["rejection_rate"].to_dict() == pytest.approx({"bills": 0.05, "empty": 0.0})


def test_quarantine_history_reads_both_layouts(tmp_path):
    (tmp_path / "bills.rejected.csv").write_text("row,reason\n1,a\n2,b\n")
    run = tmp_path / "run-7"
    run.mkdir()
    (run / "readings.rejected.csv").write_text("row,reason\n1,a\n")
    out = quarantine_history(tmp_path)
    assert sorted(zip(out["run"], out["table"], out["rejected_rows"], strict=True)) == [
        ("-", "bills", 2), ("run-7", "readings", 1)
    ]  # fmt: skip


def test_quarantine_history_of_a_missing_folder_is_empty(tmp_path):
    assert quarantine_history(tmp_path / "absent").empty
    assert quarantine_history(None).empty
