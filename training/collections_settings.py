"""Collections settings (env prefix ``METERWISE_``, or ``<data_dir>/collections.json`` per tenant).

One small settings class for everything around the arrears decision: vulnerable-customer guardrails and
protected periods, the decision audit database, balance alerts and the key-account rule. A tenant's
``collections.json`` (beside its tables) holds its own policy; values in it win over the environment::

    {"protected_periods": [{"name": "winter_moratorium", "regions": ["north"], "start": "11-15", "end": "03-15"}],
     "alert_days": [7, 3, 1]}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)
CONFIG_FILE = "collections.json"
#: protection rules in priority order: the first that applies names the guardrail
RULES = ("medical", "priority_services", "elderly", "low_income", "other")
#: the ``customers`` column behind each rule (``protection_other`` is free text: protected when non-empty)
RULE_COLUMNS = {
    "medical": "medical",
    "priority_services": "priority_services",
    "elderly": "elderly",
    "low_income": "low_income",
    "other": "protection_other",
}
DEFAULT_ALTERNATIVES = {
    "medical": "welfare call + payment plan (medical / life-support register: no disconnection, no field visit)",
    "priority_services": "priority-services call + payment plan",
    "elderly": "welfare call + payment plan",
    "low_income": "payment plan + referral to the assistance scheme",
    "other": "review by the vulnerable-customers team",
}
PERIOD_ALTERNATIVE = "reminder SMS + payment-plan offer (protected period: {name})"


def _month_day(text: str) -> tuple[int, int]:
    month, day = (int(p) for p in text.split("-"))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"{text!r}: expected MM-DD with a real month and day")
    return month, day


class ProtectedPeriod(BaseModel):
    """A period in which no collection action stronger than a reminder is taken in the named regions.

    ``start``/``end`` are inclusive: ``MM-DD`` repeats every year (and may wrap over New Year, e.g.
    ``11-15`` .. ``03-15``), ``YYYY-MM-DD`` is one fixed period. ``regions`` ``["*"]`` means every region.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    regions: tuple[str, ...] = ("*",)
    start: str
    end: str
    alternative: str | None = Field(None, description="action taken instead (default: a reminder)")

    @property
    def recurring(self) -> bool:
        return len(self.start) == 5

    @model_validator(mode="after")
    def _check(self) -> ProtectedPeriod:
        if len(self.start) != len(self.end) or len(self.start) not in (5, 10):
            raise ValueError(
                f"period {self.name}: start={self.start!r}, end={self.end!r}; expected both MM-DD or both YYYY-MM-DD"
            )
        if self.recurring:
            _month_day(self.start), _month_day(self.end)
        elif self.end < self.start:
            raise ValueError(f"period {self.name}: end {self.end} is before start {self.start}")
        if not self.regions:
            raise ValueError(f"period {self.name}: regions is empty; use ['*'] for every region")
        return self


class KeyAccountRule(BaseModel):
    """Which customers are key accounts: any of a contract flag, a category, or the top consumers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flag_column: str | None = Field("key_account", description="customers column holding a key-account flag")
    categories: tuple[str, ...] = Field(("industrial",), description="every customer of these categories")
    top_share: float = Field(0.02, ge=0, le=1, description="the top share of customers by kWh over 365 days")


class CollectionsSettings(BaseSettings):
    """Guardrails, audit database, alert levels and the key-account rule (passed in, never a global)."""

    model_config = SettingsConfigDict(env_prefix="METERWISE_", env_file=".env", extra="ignore")

    protected_periods: tuple[ProtectedPeriod, ...] = Field(
        (), description="protected periods by region (JSON list in METERWISE_PROTECTED_PERIODS)"
    )
    mild_actions: tuple[str, ...] = Field(
        ("none", "reminder SMS"), description="actions allowed for a protected customer or period (up to a reminder)"
    )
    guardrail_alternatives: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ALTERNATIVES), description="rule -> the action taken instead"
    )
    database_url: str | None = Field(
        None, description="decision audit database (SQLAlchemy URL); default sqlite:///<var_dir>/decisions.db"
    )
    audit_synchronous: str = Field(
        "NORMAL", description="SQLite synchronous pragma: NORMAL survives kill -9, FULL also a power cut"
    )
    audit_enabled: bool = Field(True, description="store every served decision in the audit database")
    alert_days: tuple[int, ...] = Field((7, 3, 1), description="balance alert levels, days of credit left")
    usage_window_days: int = Field(14, ge=1, le=365, description="recent days whose mean kWh sets the burn rate")
    bill_shock_ratio: float = Field(1.5, gt=1, description="projected bill / usual bill that raises a warning")
    bill_shock_min_days: int = Field(7, ge=1, le=28, description="days of the running month needed to project")
    unit_rates: dict[str, float] = Field(
        default_factory=dict, description="tariff -> price per kWh; default: from the customer's recent bills"
    )
    key_accounts: KeyAccountRule = Field(default_factory=KeyAccountRule)
    cold_start: bool = Field(True, description="score customers with too little history from their peers' prior")
    cold_start_keys: tuple[str, ...] = Field(
        ("category", "region", "tariff"), description="peer groups of a cold-start prior, most important first"
    )
    cold_start_min_peers: int = Field(20, ge=1, description="scored peers a group needs to give a prior")

    @field_validator("alert_days")
    @classmethod
    def _alert_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(d <= 0 for d in value):
            raise ValueError(f"alert_days={list(value)}; expected positive whole days, e.g. [7, 3, 1]")
        return tuple(sorted(set(value), reverse=True))

    @field_validator("audit_synchronous")
    @classmethod
    def _sync(cls, value: str) -> str:
        if value.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"audit_synchronous={value!r}; expected NORMAL, FULL or EXTRA (never OFF)")
        return value.upper()

    @field_validator("guardrail_alternatives")
    @classmethod
    def _alternatives(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(RULES))
        if unknown:
            raise ValueError(f"guardrail_alternatives: unknown rules {unknown}; expected some of {list(RULES)}")
        return {**DEFAULT_ALTERNATIVES, **value}

    def audit_url(self, var_dir: Path) -> str:
        """The audit database URL: ``database_url`` (PostgreSQL in production) or SQLite under `var_dir`."""
        return self.database_url or f"sqlite:///{Path(var_dir) / 'decisions.db'}"


def load_collections_settings(data_dir: Path | None = None) -> CollectionsSettings:
    """Settings from the environment, overridden by ``<data_dir>/collections.json`` when the tenant has one."""
    path = None if data_dir is None else Path(data_dir) / CONFIG_FILE
    if path is None or not path.exists():
        return CollectionsSettings()
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    logger.info("collections policy from %s", path)
    return CollectionsSettings(**values)
