"""Data settings: where tenant data, snapshots and quarantine files live."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = PROJECT_ROOT / "data" / "demo"


class DataSettings(BaseSettings):
    """Paths for tenant data and derived feature snapshots (env prefix ``METERWISE_``)."""

    model_config = SettingsConfigDict(env_prefix="METERWISE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(DEMO_DIR, description="folder holding the tenant's tables (Parquet or CSV)")
    tenant: str = Field("demo", description="tenant name, logged as an MLflow tag")
    var_dir: Path = Field(PROJECT_ROOT / "var", description="feature snapshots, scores, local MLflow store")
    late_days: int = Field(30, ge=0, description="a bill paid more than this many days after due is 'late'")

    @property
    def snapshot_dir(self) -> Path:
        return self.var_dir / "features" / self.tenant

    @property
    def quarantine_dir(self) -> Path:
        return self.var_dir / "quarantine" / self.tenant


@lru_cache
def get_data_settings() -> DataSettings:
    return DataSettings()
