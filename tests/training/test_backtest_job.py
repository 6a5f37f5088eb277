"""meterwise backtest: daily 00:00 issues, data strictly before the issue time, the JSON a user reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import SHARED_DATA, needs_shared
from training.backtest_job import issue_origins, run_backtest, write_backtest
from training.csv_series import csv_panel, read_load_csv

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"n_estimators": 40, "num_leaves": 15, "max_rows": 20_000}


@pytest.fixture(scope="module")
def hourly_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2023-01-01", periods=24 * 200, freq="h")
    hour, dow = stamps.hour.to_numpy(), stamps.day_of_week.to_numpy()
    load = 100 + 30 * np.sin((hour - 6) * np.pi / 12) - 15 * (dow >= 5) + rng.normal(0, 3, len(stamps))
    path = tmp_path_factory.mktemp("bt") / "load.csv"
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "load": load.round(2)}).to_csv(path, index=False)
    return path


def test_issues_are_daily_at_midnight_from_data_strictly_before(hourly_csv):
    panel = csv_panel(read_load_csv(hourly_csv, "H"), "H")
    origins = issue_origins(panel, "H", 24, 10)
    assert len(origins) == 10  # one issue a day, each with its 24 hours inside the data
    assert (panel.index[origins].hour == 23).all() and (panel.index[origins + 1].hour == 0).all()


def test_backtest_writes_the_documented_json_and_beats_both_naives(hourly_csv, tmp_path):
    panel = csv_panel(read_load_csv(hourly_csv, "H"), "H")
    fc, summary = run_backtest(panel, "H", horizon=24, days=14, refit_days=7, overrides=QUICK)
    paths = write_backtest(fc, summary, tmp_path)
    out = json.loads(paths["json"].read_text())
    assert out["windows"] == 14 and out["holidays"] == "none"
    assert {"mape", "coverage_p10_p90", "mean_width_pct"} <= set(out)
    assert out["mape"] < out["baselines"]["naive_1d"]["mape"] and out["mape"] < out["baselines"]["naive_7d"]["mape"]
    assert paths["chart"].stat().st_size > 1000
    first = fc[fc["model"] == "lightgbm"].groupby("origin")["timestamp"].min()
    assert (first.index < first.to_numpy()).all()  # every target lies after its origin


def test_a_slice_keeps_every_kth_issue_from_the_same_first_one(hourly_csv):
    panel = csv_panel(read_load_csv(hourly_csv, "H"), "H")
    full = issue_origins(panel, "H", 24, 8)
    fc, summary = run_backtest(panel, "H", horizon=24, days=8, refit_days=4, overrides=QUICK, every=4)
    issued = np.sort(panel.index.get_indexer(pd.DatetimeIndex(fc["origin"].unique())))
    assert summary["windows"] == 2 and list(issued) == list(full[::4])
    with pytest.raises(ValueError, match="every=0"):
        run_backtest(panel, "H", horizon=24, days=8, overrides=QUICK, every=0)


def test_backtest_command_runs_end_to_end(hourly_csv, tmp_path):
    from serving.cli import app

    result = CliRunner().invoke(
        app, ["backtest", "--input", str(hourly_csv), "--days", "3", "--out", str(tmp_path / "bt")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "bt" / "backtest.json").read_text())["windows"] == 3


@needs_shared()
@pytest.mark.slow
def test_cli_backtest_reproduces_the_benchmark_pjm_figure(tmp_path):
    """`meterwise backtest` on the PJM East CSV gives the committed benchmark's MAPE within 0.2 points
    (same protocol, same code path; minutes of training)."""
    from serving.cli import app

    committed = json.loads((ROOT / "benchmarks" / "results" / "forecast_real.json").read_text())["pjm"]
    args = ["backtest", "--input", str(SHARED_DATA / "pjm_hourly" / "PJME_hourly.csv"), "--freq", "H"]
    args += ["--horizon", "24", "--days", "365", "--country", "US", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ours = json.loads((tmp_path / "backtest.json").read_text())
    assert ours["windows"] == committed["windows"]
    assert abs(ours["mape"] - committed["mape"]) <= 0.2, (ours["mape"], committed["mape"])
    assert set(ours["charts"].values()) <= {p.name for p in tmp_path.iterdir()}
