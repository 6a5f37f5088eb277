"""The root CLI turns every error into one or two lines (what was wrong, what to do) and a non-zero exit code;
``-v`` lets the original exception (and its traceback) through."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import ContractViolation, ModelNotReady
from serving.cli import app, describe
from training.forecast_bundle import ForecastBundle


def _bundle() -> ForecastBundle:
    """Daily forecasts up to 28 days and monthly up to 12 for total/all and region/north; no hourly region."""
    parts = []
    for freq, steps, start in (("D", 28, "2014-03-06"), ("M", 12, "2014-04-01"), ("H", 48, "2014-03-06")):
        stamps = pd.date_range(start, periods=steps, freq={"D": "D", "M": "MS", "H": "h"}[freq])
        for level, key in (("total", "all"), ("region", "north")):
            if freq == "H" and level == "region":
                continue
            parts.append(pd.DataFrame({
                "level": level, "key": key, "freq": freq, "timestamp": stamps, "horizon": range(1, steps + 1),
                "p10": 1.0, "p50": 2.0, "p90": 3.0,
            }))  # fmt: skip
    return ForecastBundle(pd.concat(parts, ignore_index=True))


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path: Path):
    for key in ("METERWISE_TENANT", "METERWISE_DATA_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))


@pytest.fixture
def bundle_forecast(monkeypatch):
    """`meterwise forecast` answered by a small real bundle (its own errors), without a registry."""
    bundle = _bundle()

    def forecast(level, key, horizon, freq, **_):
        bundle.forecast(level, key, horizon, freq)
        raise AssertionError("the bundle should have refused this request")

    monkeypatch.setattr("training.forecast_job.forecast", forecast)


def run(argv: list[str]):
    return CliRunner().invoke(app, argv, env={"COLUMNS": "400"})


def assert_short(result, code: int) -> list[str]:
    """Exit `code`, at most two lines on stderr: ``error: ...`` then ``hint: ...``; returns them."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.output
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith(("error: ", "unexpected error: ")), lines
    assert lines[-1].startswith("hint: "), lines
    assert "Traceback" not in result.output
    return lines


def test_an_unknown_run_names_the_run_and_what_to_give(mlflow_settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_settings.tracking_uri)
    lines = assert_short(run(["report", "abc123"]), 2)
    assert "no run abc123" in lines[0] and "arrears@champion" in lines[0]
    verbose = run(["-v", "report", "abc123"])  # -v: the registry's own error, with its traceback
    assert isinstance(verbose.exception, ModelNotReady) and verbose.exit_code == 1


def test_a_horizon_past_the_frequency_limit_names_the_limit(bundle_forecast):
    lines = assert_short(run(["forecast", "--freq", "M", "--horizon", "28"]), 2)
    assert "horizon=28 for freq='M'; expected 1..12" in lines[0]
    assert "meterwise forecast --help" in lines[1]


def test_a_series_missing_at_a_frequency_lists_the_available_ones(bundle_forecast):
    lines = assert_short(run(["forecast", "--level", "region", "--key", "south", "--freq", "H"]), 2)
    assert "level='region' key='south' freq='H'" in lines[0] and "'total': ['all']" in lines[0]
    assert "--level" in lines[1]


def test_rebuild_demo_without_the_shared_data_says_the_demo_works_without_it(tmp_path):
    result = run(["data", "rebuild-demo", "--shared-data", str(tmp_path / "shared"), "--out-dir", str(tmp_path)])
    lines = assert_short(result, 2)
    assert "london_smart_meters" in lines[0] and "embedded demo" in lines[0]
    assert not list(tmp_path.glob("*.parquet"))


def test_an_unknown_command_is_one_usage_line():
    lines = assert_short(run(["forecastt"]), 2)
    assert "No such command 'forecastt'" in lines[0] and "meterwise --help" in lines[1]


def test_a_named_error_gets_its_hint(monkeypatch):
    def train(*_, **__):
        raise ModelNotReady("arrears", "no meterwise-demo-arrears@champion in the registry")

    monkeypatch.setattr("training.arrears_job.train_arrears", train)
    lines = assert_short(run(["train", "arrears"]), 2)
    assert "no meterwise-demo-arrears@champion" in lines[0] and "meterwise train <kind>" in lines[1]


def test_an_unexpected_error_is_one_line_and_verbose_shows_the_traceback(monkeypatch):
    def train(*_, **__):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr("training.arrears_job.train_arrears", train)
    lines = assert_short(run(["train", "arrears"]), 1)
    assert lines[0] == "unexpected error: TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    assert "meterwise -v train arrears" in lines[1]
    verbose = run(["-v", "train", "arrears"])
    assert isinstance(verbose.exception, TypeError) and verbose.exit_code == 1


def test_a_long_multi_line_message_is_cut_to_one_line():
    failures = pd.DataFrame({"row": range(200), "column": "kwh", "check": "non_negative", "value": -1.0})
    text, code = describe(ContractViolation("readings", failures, source="x.csv"), "meterwise data validate")
    first, hint = text.splitlines()
    assert code == 2 and len(first) <= 610 and "readings in x.csv: 200 bad rows" in first
    assert "--quarantine" in hint


def test_a_broken_contract_in_features_build_is_one_line_with_the_quarantine_hint(monkeypatch):
    failures = pd.DataFrame({"row": [11], "column": ["kwh"], "check": ["non_negative"], "value": [-2.0]})

    def build(*_, **__):
        raise ContractViolation("readings", failures, source="readings.csv")

    monkeypatch.setattr("features.snapshots.build_snapshot", build)
    lines = assert_short(run(["features", "build"]), 2)
    assert "readings in readings.csv: 1 bad rows" in lines[0] and "row 11: kwh non_negative" in lines[0]
    assert "--quarantine" in lines[1]
