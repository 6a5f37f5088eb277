"""Serving settings (env prefix ``METERWISE_``): bind address, API keys and scopes, limits, data paths.

Dev defaults are for the local demo only. In production set ``METERWISE_API_KEYS`` (a JSON object
``{"<key>": ["<scope>", ...]}``) to long random keys; scopes are ``billing`` (arrears + segments),
``planner`` (forecasts), ``customer_service`` (work-order classification), ``revenue_protection`` (theft
risk) and ``admin`` (reload).
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.settings import DEMO_TENANT, PROJECT_ROOT, check_tenant

SCOPES = ("billing", "planner", "admin", "customer_service", "revenue_protection")
KINDS = ("arrears", "segments", "forecast")

#: Demo keys, documented in the README; never use them outside a laptop.
DEV_API_KEYS: dict[str, list[str]] = {
    "billing-key": ["billing"],
    "planner-key": ["planner"],
    "admin-key": ["admin", "billing", "planner", "customer_service"],
    "service-key": ["customer_service"],  # work-order classification (issue 22)
    "revenue-key": ["revenue_protection"],  # theft risk (/v1/theft, issue 21)
}


class ServingSettings(BaseSettings):
    """Everything the prediction API needs; passed in, never a global."""

    model_config = SettingsConfigDict(env_prefix="METERWISE_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8000, ge=1, le=65535, description="bind port")
    log_level: str = Field("info", description="uvicorn log level")
    access_log: bool = Field(False, description="uvicorn access log (metrics cover request counts)")
    api_keys: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEV_API_KEYS.items()},
        description="API key -> scopes (JSON in METERWISE_API_KEYS); the default holds the demo keys",
    )
    api_keys_file: Path | None = Field(
        None, description="JSON file of API key -> scopes; replaces api_keys and is re-read when it changes"
    )
    api_keys_check_s: float = Field(2.0, gt=0, description="seconds between checks of api_keys_file for changes")
    max_batch: int = Field(100_000, ge=1, description="customers (rows) per batch request")
    max_reasons_rows: int = Field(
        10_000, ge=1, description="rows per request with include_reasons=true (reasons cost ~90x a prediction)"
    )
    predict_threads: int = Field(
        0, ge=0, description="LightGBM threads for feature batches of 1,000+ rows; 0 = one per CPU"
    )
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="request body limit in bytes (413 above)")
    rate_limit_per_s: float = Field(
        2_000.0, ge=0, description="requests per second per API key (token bucket); 0 disables the limit"
    )
    rate_limit_burst: int = Field(4_000, ge=1, description="token bucket size per API key")
    stale_after_days: int = Field(
        45, ge=0, description="a score whose as_of is this many days older than the newest snapshot is 'stale'"
    )
    kinds: tuple[str, ...] = Field(KINDS, description="model kinds to load at start")
    required_kinds: tuple[str, ...] = Field(KINDS, description="kinds that must be loaded for /readyz")
    use_registry: bool = Field(True, description="load champions from MLflow; False = models/ bundles only")
    var_dir: Path = Field(PROJECT_ROOT / "var", description="feature snapshots, scores, local MLflow store")
    tenant: str = Field(
        DEMO_TENANT, description="tenant served: its champions meterwise-<tenant>-<kind>, snapshots and scores"
    )
    models_dir: Path = Field(
        PROJECT_ROOT / "models", description="fallback bundles models/<tenant>/<kind>/model.joblib"
    )
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default sqlite under var_dir")
    retry_after_s: int = Field(5, ge=1, description="Retry-After seconds on 503 while models load")
    max_inflight_rows: int = Field(
        300_000, ge=1, description="batch rows scored at once across requests; more gets 503 overloaded"
    )
    deadline_s: float = Field(30.0, gt=0, description="per-request deadline in seconds (504 after it)")
    route_deadlines_s: dict[str, float] = Field(
        default_factory=lambda: {"/v1/models": 120.0},
        description="path prefix -> deadline seconds, overriding deadline_s (reloads download models)",
    )
    drain_s: float = Field(
        1.0, ge=0, description="after SIGTERM: seconds /readyz answers 503 before the listener closes"
    )
    graceful_timeout_s: float = Field(
        20.0, gt=0, description="after draining: seconds in-flight requests get to finish before exit"
    )
    warm_wait_s: float = Field(
        5.0,
        ge=0,
        description="a loading or reloading model goes live once its reasons for the whole snapshot are "
        "computed, or after this many seconds (the rest then follow in the background)",
    )

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return check_tenant(value)

    @model_validator(mode="after")
    def _no_demo_keys_in_public(self) -> ServingSettings:
        keys = read_keys_file(self.api_keys_file) if self.api_keys_file is not None else self.api_keys
        check_public_keys(self.host, keys)
        return self


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0 and the rest."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: reachable from elsewhere


def check_public_keys(host: str, keys: dict[str, list[str]]) -> None:
    """Refuse (``ValueError``, one line) the documented demo keys on a non-loopback bind address."""
    demo = sorted(set(keys) & set(DEV_API_KEYS))
    if demo and not is_loopback(host):
        raise ValueError(
            f"refusing to serve on {host} with the documented demo API keys ({', '.join(demo)}): set "
            "METERWISE_API_KEYS or METERWISE_API_KEYS_FILE to your own long random keys, or bind 127.0.0.1"
        )


def read_keys_file(path: Path) -> dict[str, list[str]]:
    """API keys from a JSON file ``{"<key>": ["<scope>", ...]}``; ``ValueError`` naming what is wrong.

    A key is named in errors by its position only, never by its text.
    """
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"api_keys_file {path}: cannot read it ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"api_keys_file {path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f'api_keys_file {path}: expected a non-empty JSON object {{"<key>": ["<scope>", ...]}}')
    for i, (key, scopes) in enumerate(raw.items()):
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError(f"api_keys_file {path}: key #{i + 1}: scopes must be a list of strings")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or len(key) < 8:
            what = f"unknown scopes {unknown} (known: {list(SCOPES)})" if unknown else "key shorter than 8 characters"
            raise ValueError(f"api_keys_file {path}: key #{i + 1}: {what}")
    return raw


@lru_cache
def get_settings() -> ServingSettings:
    """FastAPI dependency; tests override it with ``app.dependency_overrides``."""
    return ServingSettings()
