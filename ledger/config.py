"""Settings: one pydantic-settings object read from the environment and an optional .env."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.domain.values import TEAM_ROLES, TIERS
from ledger.store import store_kind
from ledger.store.pulls import PULL_GAP

DEFAULT_DATABASE_URL = "sqlite:///./var/ledger.db"
# API.md 1.1, "Scope of a manager key": how many days back a manager may date a write.
DEFAULT_MANAGER_BACKDATE_DAYS = 7
# Identity records are kept this long after a client churns before erasure (AML).
DEFAULT_RETENTION_YEARS = 5
# API.md: how long a read with `after=` (and a determination, for its case) waits.
DEFAULT_READ_WAIT_SECONDS = 5.0
# DOMAIN.md's default contact cadence: days per tier (a tier left out has none).
DEFAULT_CADENCE_DAYS = "diamond=30,platinum=60,gold=90"
# DOMAIN.md 1.1's layered duties: days per team role and tier (ROLE:TIER=DAYS,...; ";" between
# roles). A role or tier left out has no duty.
DEFAULT_DUTY_CADENCE_DAYS = (
    "client_manager:diamond=30,platinum=60,gold=90;"
    "outlet_director:diamond=90,platinum=180;"
    "vice_president:diamond=90,platinum=180;"
    "president:diamond=180"
)


class Settings(BaseSettings):
    # A refused value is not echoed in the error: LEDGER_DATABASE_URL holds a password, and
    # its own validator prints it redacted.
    model_config = SettingsConfigDict(
        env_prefix="LEDGER_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    admin_token: SecretStr | None = None
    fiscal_year_start: int = Field(default=1, ge=1, le=12)
    churn_lookback_days: int = Field(default=90, ge=1, le=3660)
    cadence_days: str = DEFAULT_CADENCE_DAYS
    # An event recorded more than this many days after its effective time was entered late.
    late_entry_days: int = Field(default=2, ge=0, le=3660)
    duty_cadence_days: str = DEFAULT_DUTY_CADENCE_DAYS
    # The share of active VIP clients with complete key information a unit is held to.
    completeness_target: float = Field(default=0.95, ge=0, le=1)
    # Serve without running the projections (another process, `ledger project`, runs them).
    no_projections: bool = False
    # How long a read with `after=<position>` waits for the projections (API.md: 5 s).
    read_wait_seconds: float = Field(default=DEFAULT_READ_WAIT_SECONDS, gt=0, le=60)
    # Under a stream of writes the projections pull the log at most this often, so each
    # pull is a batch (a read waiting with `after=` hurries them: ledger.store.pulls).
    projection_pull_gap_seconds: float = Field(default=PULL_GAP, gt=0, le=60)
    # How far back a manager may date an assignment, tier change, churn, reactivation or
    # contact (API.md 1.1, "Scope of a manager key"); admin may date any time.
    manager_backdate_days: int = Field(default=DEFAULT_MANAGER_BACKDATE_DAYS, ge=0, le=3660)
    # A console session ends after this many idle minutes (and after 12 hours in any case).
    console_session_minutes: int = Field(default=30, ge=1, le=720)
    # Personal data (issue 15): the key that wraps every client's key (base64 of 32 bytes),
    # else the file holding it (by default `master-key` beside a SQLite store,
    # `var/master-key` with PostgreSQL), created 0600 on first start.
    master_key: SecretStr | None = Field(default=None, repr=False)
    master_key_file: str | None = None
    retention_years: int = Field(default=DEFAULT_RETENTION_YEARS, ge=0, le=100)

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        store_kind(value)
        return value

    @field_validator("cadence_days")
    @classmethod
    def _valid_cadence(cls, value: str) -> str:
        parse_cadence(value)
        return value

    @field_validator("duty_cadence_days")
    @classmethod
    def _valid_duty_cadence(cls, value: str) -> str:
        parse_duty_cadence(value)
        return value

    @cached_property
    def cadence(self) -> dict[str, int]:
        return parse_cadence(self.cadence_days)

    @cached_property
    def duty_cadence(self) -> dict[str, dict[str, int]]:
        return parse_duty_cadence(self.duty_cadence_days)

    @property
    def store(self) -> str:
        return store_kind(self.database_url)


def parse_duty_cadence(text: str) -> dict[str, dict[str, int]]:
    """`client_manager:diamond=30,gold=90;president:diamond=180` -> days per team role and
    tier (LEDGER_DUTY_CADENCE_DAYS)."""
    duties: dict[str, dict[str, int]] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        role, sep, tiers = item.partition(":")
        role = role.strip()
        if not sep or role not in TEAM_ROLES:
            raise ValueError(f"LEDGER_DUTY_CADENCE_DAYS: {item!r} is not ROLE:TIER=DAYS,...")
        duties[role] = parse_cadence(tiers, setting="LEDGER_DUTY_CADENCE_DAYS")
    return duties


def parse_cadence(text: str, setting: str = "LEDGER_CADENCE_DAYS") -> dict[str, int]:
    """`diamond=30,platinum=60,gold=90` -> days per tier; a tier left out has no cadence."""
    cadence: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        tier, sep, days = item.partition("=")
        tier = tier.strip()
        if not sep or tier not in TIERS:
            raise ValueError(f"{setting}: {item!r} is not TIER=DAYS")
        if not days.strip().isdigit() or int(days) <= 0:
            raise ValueError(f"{setting}: days for {tier} must be a positive integer")
        cadence[tier] = int(days)
    return cadence
