"""`meterwise forecast --input` and `meterwise backtest`: the typer commands (the jobs carry no CLI code)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner


def test_forecast_from_a_csv_issues_after_its_last_reading(tmp_path):
    from serving.cli import app

    rng = np.random.default_rng(1)
    stamps = pd.date_range("2023-01-01", periods=24 * 90, freq="h")
    load = 50 + 20 * np.sin((stamps.hour.to_numpy() - 6) * np.pi / 12) + rng.normal(0, 2, len(stamps))
    path = tmp_path / "load.csv"
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "load": load.round(2)}).to_csv(path, index=False)
    out = tmp_path / "fc"
    args = ["forecast", "--input", str(path), "--freq", "H", "--horizon", "24", "--out", str(out), "--format", "csv"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(next(out.glob("*.csv")), parse_dates=["timestamp"])
    assert len(fc) == 24 and fc["timestamp"].min() == stamps[-1] + pd.Timedelta(hours=1)
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
    assert abs(fc["p50"].mean() - load[-24 * 7 :].mean()) < 10  # the level of the series, in its units
    info = json.loads(next(out.glob("*.json")).read_text())
    assert info["model_version"] == "csv"


def test_forecast_from_a_csv_with_a_bad_load_fails_naming_the_line(tmp_path):
    from serving.cli import app

    path = tmp_path / "load.csv"
    path.write_text("timestamp,load\n2024-01-01 00:00,1\n2024-01-01 01:00,lots\n")
    result = CliRunner().invoke(app, ["forecast", "--input", str(path), "--freq", "H", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "line 3: load='lots'" in result.output  # one line, no traceback
