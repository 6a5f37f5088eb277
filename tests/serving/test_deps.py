"""API keys: O(1) lookup by digest, and rotation through a keys file without a restart."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.deps import KeyRing
from serving.errors import Unauthenticated
from serving.settings import ServingSettings

OLD = "old-key-0123456789abcdef"
NEW = "new-key-0123456789abcdef"


class FakeRequest:
    def __init__(self, key: str):
        self.headers = {"x-api-key": key}


def write_keys(path, keys: dict[str, list[str]], stamp_ns: int) -> None:
    path.write_text(json.dumps(keys))
    os.utime(path, ns=(stamp_ns, stamp_ns))  # a distinct mtime whatever the file system's resolution


@pytest.fixture
def keys_file(tmp_path):
    path = tmp_path / "keys.json"
    write_keys(path, {OLD: ["billing"]}, 1_000_000_000)
    return path


def test_rotated_keys_take_effect_without_a_restart(keys_file, tmp_path):
    settings = ServingSettings(api_keys_file=keys_file, api_keys_check_s=1e-9, var_dir=tmp_path / "var")
    ring = KeyRing(settings)
    assert ring.authenticate(FakeRequest(OLD)).scopes == {"billing"}
    write_keys(keys_file, {NEW: ["billing", "admin"]}, 2_000_000_000)
    assert ring.authenticate(FakeRequest(NEW)).scopes == {"billing", "admin"}
    with pytest.raises(Unauthenticated):
        ring.authenticate(FakeRequest(OLD))  # revoked


def test_a_broken_or_demo_keys_file_keeps_the_keys_in_use(keys_file, tmp_path, caplog):
    settings = ServingSettings(host="0.0.0.0", api_keys_file=keys_file, api_keys_check_s=1e-9, var_dir=tmp_path / "var")
    ring = KeyRing(settings)
    write_keys(keys_file, {"{broken": 1}, 2_000_000_000)
    assert ring.authenticate(FakeRequest(OLD)).scopes == {"billing"}
    write_keys(keys_file, {"billing-key": ["billing"]}, 3_000_000_000)  # the demo key, on 0.0.0.0
    assert ring.authenticate(FakeRequest(OLD)).scopes == {"billing"}
    with pytest.raises(Unauthenticated):
        ring.authenticate(FakeRequest("billing-key"))
    assert "keeping the 1 keys in use" in caplog.text and "refusing" in caplog.text
    keys_file.unlink()
    assert ring.authenticate(FakeRequest(OLD)).scopes == {"billing"}


def test_the_file_is_not_re_read_between_checks(keys_file, tmp_path):
    ring = KeyRing(ServingSettings(api_keys_file=keys_file, api_keys_check_s=3600, var_dir=tmp_path / "var"))
    write_keys(keys_file, {NEW: ["billing"]}, 2_000_000_000)
    assert ring.authenticate(FakeRequest(OLD)).scopes == {"billing"}  # next check in an hour
    assert ring.reload() is True  # an explicit reload takes it at once
    assert ring.authenticate(FakeRequest(NEW)).scopes == {"billing"}


def test_rotation_through_the_api(keys_file, tmp_path):
    settings = ServingSettings(
        api_keys_file=keys_file, api_keys_check_s=1e-9, var_dir=tmp_path / "var", models_dir=tmp_path / "m",
        use_registry=False, kinds=(), required_kinds=(),
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models", headers={"X-API-Key": OLD}).status_code == 200
        write_keys(keys_file, {NEW: ["billing"]}, 2_000_000_000)
        assert client.get("/v1/models", headers={"X-API-Key": OLD}).status_code == 401
        assert client.get("/v1/models", headers={"X-API-Key": NEW}).status_code == 200
