"""The root CLI: every command honours ``--tenant`` and ``METERWISE_TENANT``, refuses another tenant's folder
under the demo's name, and documents the one default ``as_of`` rule in its ``--help``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.snapshots import AS_OF_RULE
from serving.cli import app


class Called(Exception):
    """Raised by a patched job: carries the tenant (and path) the command handed it."""

    def __init__(self, tenant: str, path: Path | None = None):
        super().__init__(tenant)
        self.tenant, self.path = tenant, path


def _data(data, *_, **__):
    raise Called(data.tenant, data.data_dir)


def _forecast(*_, tenant, out_dir, **__):
    raise Called(tenant, out_dir)


def _snapshot(data_dir, root, *, tenant, **_):
    raise Called(tenant, root)


def _report(run_id, training, *, tenant, **_):
    raise Called(tenant)


def _validate(folder, *, quarantine_dir=None, **_):
    raise Called(Path(quarantine_dir).name, quarantine_dir)


def _server(settings):
    raise Called(settings.tenant)


def _training_set_load(folder, **_):
    return {}, None


def _write_table(frame, path):
    raise Called(Path(path).parent.name, path)


# argv, then (module, attribute) replaced by a fake that raises Called with what the command resolved
COMMANDS = {
    "data validate": (["data", "validate", "--quarantine"], [("features.cli", "load_tenant", _validate)]),
    "features build": (["features", "build"], [("features.snapshots", "build_snapshot", _snapshot)]),
    "features training-set": (
        ["features", "training-set"],
        [
            ("features.cli", "load_tenant", _training_set_load),
            ("features.training_sets", "build_arrears_training_set", lambda tables, **_: None),
            ("features.io", "write_table", _write_table),
        ],
    ),
    "train arrears": (["train", "arrears"], [("training.arrears_job", "train_arrears", _data)]),
    "train promote arrears": (
        ["train", "promote", "arrears", "--version", "1"],
        [("training.arrears_job", "promote_version", _data)],
    ),
    "score arrears": (["score", "arrears"], [("training.arrears_job", "score_arrears", _data)]),
    "train segments": (["train", "segments"], [("training.segments_job", "train_segments", _data)]),
    "score segments": (["score", "segments"], [("training.segments_job", "score_segments", _data)]),
    "train forecast": (["train", "forecast"], [("training.forecast_job", "train_forecast", _data)]),
    "forecast": (["forecast"], [("training.forecast_job", "forecast", _forecast)]),
    "report": (["report", "arrears@champion"], [("training.reports", "write_run_report", _report)]),
    "demo": (["demo"], [("training.pipeline", "run_pipeline", _data)]),
    "serve": (["serve"], [("serving.server", "run_server", _server)]),
}


#: commands that read a tenant's tables (and so take --data-dir)
READS = {name for name in COMMANDS if name not in {"forecast", "report", "serve"}}


def invoke(monkeypatch, name: str, extra: list[str], env: dict[str, str] | None = None):
    import importlib

    argv, patches = COMMANDS[name]
    for module, attr, fake in patches:
        monkeypatch.setattr(importlib.import_module(module), attr, fake)
    return CliRunner().invoke(app, ["-v", *argv, *extra], env=env)  # -v: the fake's exception propagates


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path: Path):
    for key in ("METERWISE_TENANT", "METERWISE_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("how", "extra", "env", "expected"),
    [
        pytest.param("flag", ["--tenant", "acme"], None, "acme", id="flag"),
        pytest.param("env", [], {"METERWISE_TENANT": "acme"}, "acme", id="env"),
        pytest.param("flag_over_env", ["--tenant", "acme"], {"METERWISE_TENANT": "other"}, "acme", id="flag_wins"),
        pytest.param("default", [], None, "demo", id="default_demo"),
    ],
)
def test_every_command_honours_the_tenant(monkeypatch, tmp_path: Path, name, how, extra, env, expected):
    if name in READS and expected != "demo":  # acme's tables: a folder of its own (data/acme/ is not in the repo)
        (tmp_path / "acme").mkdir()
        extra = [*extra, "--data-dir", str(tmp_path / "acme")]
    result = invoke(monkeypatch, name, extra, env)
    assert isinstance(result.exception, Called), result.output
    assert result.exception.tenant == expected
    path = result.exception.path
    if path is not None and name != "features training-set" and path != tmp_path / "acme":
        assert expected in Path(path).parts, path  # every folder it writes is the tenant's own


@pytest.mark.parametrize(
    "name", ["features build", "train arrears", "score arrears", "train segments", "score segments", "demo"]
)
def test_another_folder_needs_a_named_tenant(monkeypatch, tmp_path: Path, name):
    other = tmp_path / "other"
    other.mkdir()
    refused = invoke(monkeypatch, name, ["--data-dir", str(other)])
    assert refused.exit_code == 2 and not isinstance(refused.exception, Called)
    assert "--tenant" in refused.output and "demo" in refused.output
    named = invoke(monkeypatch, name, ["--data-dir", str(other), "--tenant", "acme"])
    assert isinstance(named.exception, Called) and named.exception.tenant == "acme"


def test_a_missing_tenant_folder_is_a_usage_error(monkeypatch):
    result = invoke(monkeypatch, "train arrears", ["--tenant", "nobody-here"], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and not isinstance(result.exception, Called)
    assert "does not exist: tenant 'nobody-here' reads data/nobody-here/ unless --data-dir" in result.output


@pytest.mark.parametrize("name", ["train arrears", "serve", "features build", "report"])
def test_a_bad_tenant_name_is_a_usage_error(monkeypatch, name):
    result = invoke(monkeypatch, name, ["--tenant", "../demo"], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and not isinstance(result.exception, Called)
    assert "tenant='../demo'; expected" in result.output


@pytest.mark.parametrize(
    "argv",
    [
        ["features", "build"],
        ["train", "arrears"],
        ["score", "arrears"],
        ["train", "segments"],
        ["score", "segments"],
        ["demo"],
    ],
    ids=" ".join,
)
def test_help_states_the_one_default_as_of_rule(argv):
    result = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    text = re.sub(r"[\s│|]+", " ", result.output)
    assert AS_OF_RULE in text, result.output
