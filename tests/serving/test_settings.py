"""Serving settings: the demo keys are refused on a non-loopback address; a keys file is checked on read."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from serving.settings import DEV_API_KEYS, ServingSettings, is_loopback, read_keys_file

OWN_KEYS = {"a-long-random-key-0001": ["billing"]}


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "api.example.org"])
def test_demo_keys_on_a_public_address_are_refused(host, monkeypatch):
    monkeypatch.delenv("METERWISE_API_KEYS", raising=False)
    with pytest.raises(ValueError, match=r"refusing to serve on .* demo API keys \(admin-key, billing-key"):
        ServingSettings(host=host)
    one_demo_key = {**OWN_KEYS, "planner-key": ["planner"]}  # a single demo key left in is enough
    with pytest.raises(ValueError, match="planner-key"):
        ServingSettings(host=host, api_keys=one_demo_key)
    assert ServingSettings(host=host, api_keys=OWN_KEYS).host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_demo_keys_on_loopback_are_allowed(host):
    assert set(ServingSettings(host=host).api_keys) == set(DEV_API_KEYS)


def test_loopback_is_judged_by_address():
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and is_loopback("LOCALHOST")
    assert not is_loopback("0.0.0.0") and not is_loopback("meterwise") and not is_loopback("192.168.0.1")


def test_environment_bind_with_demo_keys_fails_in_one_line(monkeypatch):
    from serving.cli import app

    monkeypatch.setenv("METERWISE_HOST", "0.0.0.0")
    monkeypatch.delenv("METERWISE_API_KEYS", raising=False)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code != 0
    assert "refusing to serve on 0.0.0.0" in result.output
    assert "Traceback" not in result.output


def test_keys_file_replaces_the_keys_and_is_checked_for_the_demo_ones(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(OWN_KEYS))
    assert ServingSettings(host="0.0.0.0", api_keys_file=path).api_keys_file == path
    path.write_text(json.dumps({"admin-key": ["admin"]}))
    with pytest.raises(ValueError, match="admin-key"):
        ServingSettings(host="0.0.0.0", api_keys_file=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "non-empty JSON object"),
        ('{"a-long-random-key": "billing"}', "key #1: scopes must be a list"),
        ('{"a-long-random-key": ["billing", "root"]}', r"key #1: unknown scopes \['root'\]"),
        ('{"a-long-random-key": ["billing"], "short": ["billing"]}', "key #2: key shorter than 8"),
    ],
)
def test_a_bad_keys_file_is_named_without_echoing_keys(tmp_path, text, message):
    path = tmp_path / "keys.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_keys_file(path)
    assert "a-long-random-key" not in str(err.value)
    with pytest.raises(ValueError, match="cannot read it"):
        read_keys_file(tmp_path / "missing.json")
