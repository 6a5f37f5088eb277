"""Training settings: MLflow location, seeds and promotion margins (env prefix ``METERWISE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.settings import PROJECT_ROOT
from training.promotion import DEFAULT_MARGIN, DEFAULT_MAX_AGE_DAYS


class TrainingSettings(BaseSettings):
    """Where runs and models go. ``MLFLOW_TRACKING_URI`` overrides the local sqlite store.

    Open a tenant's registry on this store with ``training.registry.open_registry(settings, tenant)``: it
    holds its own ``MlflowClient`` for :meth:`resolved_tracking_uri`; nothing sets a process-global URI.
    """

    model_config = SettingsConfigDict(env_prefix="METERWISE_", env_file=".env", extra="ignore")

    var_dir: Path = Field(PROJECT_ROOT / "var", description="local MLflow store and artifacts live here")
    models_dir: Path = Field(PROJECT_ROOT / "models", description="fallback bundles exported for serving")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default sqlite under var_dir")
    experiment_prefix: str = Field("meterwise", description="experiments are named <prefix>-<kind>")
    seed: int = Field(42, description="random_state for every estimator")
    promote_margin: float = Field(
        DEFAULT_MARGIN, ge=0, description="relative gain a challenger needs over the champion (training.promotion)"
    )
    promote_max_age_days: int | None = Field(
        DEFAULT_MAX_AGE_DAYS, ge=1, description="a champion this much older than the challenger keeps no edge"
    )

    def resolved_tracking_uri(self) -> str:
        import os

        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.var_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.var_dir / "mlartifacts"
