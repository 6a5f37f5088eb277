"""Data settings and the per-tenant layout: where a tenant's data, snapshots, scores and reports live.

Every path a tenant writes is under its own name, so two tenants never overwrite each other::

    <data_dir>                                  default data/<tenant>/ (the demo: data/demo/)
    <var_dir>/features/<tenant>/<as_of>/        feature snapshots (+ the ``latest`` pointer)
    <var_dir>/scores/<tenant>/<kind>/           batch scores
    <var_dir>/quarantine/<tenant>/<run_id>/     rejected rows and the run's summary (features.quarantine)
    <var_dir>/quality/<tenant>/<run_id>/        meter-data quality reports (features.quality_report)
    <var_dir>/reports/<tenant>/<run-id>.html    run reports
    <models_dir>/<tenant>/<kind>/model.joblib   fallback bundles exported from the registry

Registered models are ``meterwise-<tenant>-<kind>`` (see :mod:`training.registry`). The tenant comes
from ``--tenant`` or ``METERWISE_TENANT`` (default ``demo``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEMO_TENANT = "demo"
#: lower-case letters, digits, ``_`` and ``-``; it names folders and registered models, so no dots or slashes
TENANT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def check_tenant(name: str) -> str:
    """Return `name` if it is a valid tenant slug, else raise ``ValueError`` naming the value and the rule."""
    if not isinstance(name, str) or not TENANT_PATTERN.fullmatch(name):
        raise ValueError(
            f"tenant={name!r}; expected 1-40 characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
        )
    return name


def bundle_dir(models_dir: Path, tenant: str, kind: str) -> Path:
    """Folder of a tenant's exported fallback bundle: ``<models_dir>/<tenant>/<kind>/``."""
    return Path(models_dir) / check_tenant(tenant) / kind


def scores_dir(var_dir: Path, tenant: str, kind: str) -> Path:
    """Folder of a tenant's batch scores of one kind: ``<var_dir>/scores/<tenant>/<kind>/``."""
    return Path(var_dir) / "scores" / check_tenant(tenant) / kind


def snapshot_root(var_dir: Path, tenant: str) -> Path:
    """Folder of a tenant's feature snapshots: ``<var_dir>/features/<tenant>/``."""
    return Path(var_dir) / "features" / check_tenant(tenant)


def reports_dir(var_dir: Path, tenant: str) -> Path:
    """Folder of a tenant's HTML run reports: ``<var_dir>/reports/<tenant>/``."""
    return Path(var_dir) / "reports" / check_tenant(tenant)


def settings_error(err: ValueError) -> str:
    """The first message of a settings ``ValidationError`` (or any ``ValueError``), without pydantic's decoration."""
    errors = getattr(err, "errors", None)
    if callable(errors) and errors():
        first = errors()[0]
        return str(first.get("msg", err)).removeprefix("Value error, ")
    return str(err)


class DataSettings(BaseSettings):
    """Paths for tenant data and derived feature snapshots (env prefix ``METERWISE_``)."""

    model_config = SettingsConfigDict(env_prefix="METERWISE_", env_file=".env", extra="ignore")

    tenant: str = Field(DEMO_TENANT, description="tenant name (METERWISE_TENANT): names every folder and model")
    data_dir: Path | None = Field(None, description="folder holding the tenant's tables (default data/<tenant>/)")
    var_dir: Path = Field(PROJECT_ROOT / "var", description="feature snapshots, scores, local MLflow store")
    late_days: int = Field(30, ge=0, description="a bill paid more than this many days after due is 'late'")
    dask_scheduler: str | None = Field(
        None, description="Dask scheduler tcp://host:port for partitioned tenants (default: a local cluster)"
    )
    dask_workers: int = Field(2, ge=1, description="worker processes of the local Dask cluster")

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return check_tenant(value)

    @model_validator(mode="after")
    def _default_data_dir(self) -> DataSettings:
        if self.data_dir is None:
            self.data_dir = PROJECT_ROOT / "data" / self.tenant
        return self

    @property
    def snapshot_dir(self) -> Path:
        return snapshot_root(self.var_dir, self.tenant)

    @property
    def quarantine_dir(self) -> Path:
        return self.var_dir / "quarantine" / self.tenant

    def scores_dir(self, kind: str) -> Path:
        return scores_dir(self.var_dir, self.tenant, kind)

    @property
    def reports_dir(self) -> Path:
        return reports_dir(self.var_dir, self.tenant)


@lru_cache
def get_data_settings() -> DataSettings:
    return DataSettings()
