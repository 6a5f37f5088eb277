"""Per-tenant layout: every folder a tenant writes is under its own name; bad tenant names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from features.settings import DEMO_DIR, PROJECT_ROOT, DataSettings, bundle_dir, check_tenant, settings_error
from serving.settings import ServingSettings


def test_every_path_is_under_the_tenant(tmp_path: Path):
    data = DataSettings(tenant="acme", var_dir=tmp_path)
    assert data.data_dir == PROJECT_ROOT / "data" / "acme"
    assert data.snapshot_dir == tmp_path / "features" / "acme"
    assert data.quarantine_dir == tmp_path / "quarantine" / "acme"
    assert data.scores_dir("arrears") == tmp_path / "scores" / "acme" / "arrears"
    assert data.reports_dir == tmp_path / "reports" / "acme"
    assert bundle_dir(tmp_path / "models", "acme", "segments") == tmp_path / "models" / "acme" / "segments"
    assert DataSettings().data_dir == DEMO_DIR and DataSettings().tenant == "demo"
    assert DataSettings(tenant="acme", data_dir=tmp_path / "x").data_dir == tmp_path / "x"


def test_tenant_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("METERWISE_TENANT", "acme")
    assert DataSettings().tenant == "acme" and ServingSettings().tenant == "acme"


@pytest.mark.parametrize("name", ["", "Acme", "../demo", "a/b", "a b", "a.b", ".", "x" * 41, "_a"])
def test_bad_tenant_names_are_refused_everywhere(name):
    with pytest.raises(ValueError, match="tenant="):
        check_tenant(name)
    for cls in (DataSettings, ServingSettings):
        with pytest.raises(ValidationError) as err:
            cls(tenant=name)
        assert settings_error(err.value).startswith(f"tenant={name!r}; expected")


@pytest.mark.parametrize("name", ["demo", "acme-north", "t1", "a_b", "0"])
def test_good_tenant_names_pass(name):
    assert check_tenant(name) == name
