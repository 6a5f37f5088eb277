"""`meterwise train promote <kind>`: one command for every kind, dispatched to the kind's job."""

from __future__ import annotations

import importlib
import json

import pytest
from typer.testing import CliRunner

from training.cli import train_app
from training.promotion import Decision, Scored


@pytest.mark.parametrize("kind", ["arrears", "segments", "forecast"])
def test_promote_dispatches_to_the_kinds_job(kind, monkeypatch):
    calls = []

    def fake(data, training, version, *, force=False):
        calls.append((version, force))
        return Decision(True, "forced", None, Scored(version, "m", 1.0, True, "d"))

    monkeypatch.setattr(importlib.import_module(f"training.{kind}_job"), "promote_version", fake, raising=False)
    result = CliRunner().invoke(train_app, ["promote", kind, "--version", "7", "--force"])
    assert result.exit_code == 0, result.output
    assert calls == [("7", True)]
    assert json.loads(result.output.strip().splitlines()[-1])["promoted"] is True


def test_a_kind_without_promote_version_fails_with_one_clear_line(monkeypatch, caplog):
    monkeypatch.delattr(importlib.import_module("training.forecast_job"), "promote_version", raising=False)
    result = CliRunner().invoke(train_app, ["promote", "forecast", "--version", "1"])
    assert result.exit_code == 2
    assert "not available yet" in caplog.text


def test_unknown_kind_and_missing_version_are_refused():
    assert CliRunner().invoke(train_app, ["promote", "weather", "--version", "1"]).exit_code == 2
    assert CliRunner().invoke(train_app, ["promote", "arrears"]).exit_code == 2


def test_report_migration_is_mounted_on_the_root_cli():
    from serving.cli import app

    result = CliRunner().invoke(app, ["report-migration", "--help"])
    assert result.exit_code == 0 and "--from" in result.output and "--to" in result.output
