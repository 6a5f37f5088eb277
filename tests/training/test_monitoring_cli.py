"""`meterwise monitor` on a tenant without champions: a status per kind, written and printed, exit 0."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from serving.cli import app
from training.forecast_bundle import ForecastBundle
from training.monitoring_job import issued_frame


def test_monitor_without_champions_reports_unavailable(tenant_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/m.db")
    result = CliRunner().invoke(app, ["monitor", "--data-dir", str(tenant_dir), "--tenant", "t9", "--no-mlflow"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{") :])
    assert out["models"] == {"arrears": "unavailable", "segments": "unavailable", "forecast": "unavailable"}
    status = json.loads((tmp_path / "var" / "monitoring" / "t9" / "latest.json").read_text())
    assert status["tenant"] == "t9" and status["inputs"]["tables"]


def test_issued_frame_skips_customer_series():
    ts = pd.date_range("2024-01-01", periods=2, freq="D")
    rows = [
        {"level": lvl, "key": key, "freq": "D", "timestamp": t, "horizon": h + 1, "p10": 1.0, "p50": 2.0, "p90": 3.0}
        for lvl, key in (("total", "all"), ("customer", "C1"))
        for h, t in enumerate(ts)
    ]
    out = issued_frame(ForecastBundle(pd.DataFrame(rows)))
    assert set(out["level"]) == {"total"} and len(out) == 2
