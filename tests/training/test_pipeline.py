"""`meterwise demo`'s summary: plain words on stdout, real output paths, no None scores, the next commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from training.arrears_job import ArrearsTrainResult
from training.pipeline import render_summary
from training.promotion import Decision, Scored
from training.segments_job import SegmentsTrainResult


def fake_summary(tmp_path: Path) -> dict:
    decision = Decision(True, "no champion yet", None, Scored("1", "roc_auc", 0.91, True, "d"))
    return {
        "tenant": "demo",
        "as_of": "2014-03-05",
        "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "rows": {
            "customers": {"in": 3, "accepted": 3, "quarantined": 0},
            "bills": {"in": 9, "accepted": 8, "quarantined": 1},
        },
        "features": tmp_path / "features/demo/2014-03-05",
        "train arrears": ArrearsTrainResult("r1", "1", True, {"heldout_roc_auc": 0.913}, None, decision),
        "score arrears": tmp_path / "scores/demo/arrears/2014-03-05.parquet",
        "train segments": SegmentsTrainResult(
            "r2", "2", False, {"silhouette_heldout": 0.186}, "1", ["low", "high"], "improvement -0.4% below margin 1%"
        ),
        "score segments": tmp_path / "scores/demo/segments/2014-03-05.parquet",
        "train forecast": {"version": "1", "promoted": True, "reason": "no champion yet", "score": 0.857},
        "report arrears": tmp_path / "reports/demo/r1.html",
    }


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    arrears = pd.DataFrame({"customer_id": ["MAC000252", "B", "C"], "grade": ["C", "AAA", "AAA"],
                            "probability": [0.9, 0.05, 0.02]})  # fmt: skip
    segments = pd.DataFrame({"customer_id": ["MAC000252", "B", "C"], "segment_id": [0, 1, None]})
    return arrears, segments


def test_summary_says_what_was_done_where_and_what_next(tmp_path):
    text = render_summary(fake_summary(tmp_path), *frames())
    assert "customers 3, bills 8 rows (1 rows quarantined)" in text
    assert "arrears     model v1: AUC 0.913 on held-out bills; promoted to champion (no champion yet)" in text
    assert "segments    model v2: 2 segments, held-out silhouette 0.19; kept as challenger (improvement" in text
    assert "mean absolute error 0.86 x the seasonal naive's (lower is better)" in text
    assert "grades AAA 2, C 1" in text and "2 customers into segments" in text
    assert str(tmp_path / "reports/demo/r1.html") in text
    nexts = ("meterwise serve", "X-API-Key: billing-key", "/v1/arrears/MAC000252", "mlflow ui", "meterwise report")
    assert all(command in text for command in nexts)
    assert "None" not in text and "/tmp" not in text.replace(str(tmp_path), "")


def test_demo_prints_the_summary_on_stdout_only(monkeypatch, tmp_path):
    from serving.cli import app

    summary = fake_summary(tmp_path)
    arrears, segments = frames()
    for key, frame in (("score arrears", arrears), ("score segments", segments)):
        Path(summary[key]).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(summary[key])
    monkeypatch.setattr("training.pipeline.run_pipeline", lambda *_, **__: summary)
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("METERWISE_TENANT", raising=False)
    monkeypatch.delenv("METERWISE_DATA_DIR", raising=False)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("meterwise demo: tenant demo, data as of 2014-03-05")
    assert "Next:" in result.stdout and result.stderr == ""
