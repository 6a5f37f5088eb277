"""`meterwise train theft` then `meterwise score theft` on the demo: list, summary with recall, HTML report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from serving.cli import app


def test_train_then_score_writes_list_summary_and_report(tmp_path, monkeypatch):
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("METERWISE_MODELS_DIR", str(tmp_path / "models"))
    from features.settings import get_data_settings

    get_data_settings.cache_clear()
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "theft"])
    assert trained.exit_code == 0, trained.output
    scored = runner.invoke(app, ["score", "theft", "--capacity", "15"])
    assert scored.exit_code == 0, scored.output
    out = tmp_path / "var" / "scores" / "demo" / "theft"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["listed"] == 15 and set(summary["injected_recall_top_5pct"]) == {"bypass", "tampering", "rollback"}
    assert (out / "report.html").read_text().count("<section") == 15
    again = runner.invoke(app, ["score", "theft", "--capacity", "15"])  # a second list reports how the first did
    assert again.exit_code == 0 and "previous_list_hit_rate" in json.loads((out / "summary.json").read_text())
    get_data_settings.cache_clear()
