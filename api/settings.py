"""The API's settings: where it listens, its keys, its limits."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator

from lakehouse.settings import EngineSettings, trino_password_field, trino_user_field


class ApiSettings(EngineSettings):
    # On Trino the API reads as its own principal, which may read the marts only.
    trino_user: str = trino_user_field("api")
    trino_password: SecretStr | None = trino_password_field("api")
    # ... through the catalog whose connector only reads (infra/conf/trino/catalog): no
    # write and no table procedure, whatever the principal's rules say.
    trino_catalog: str = Field(
        default="iceberg_readonly", validation_alias=AliasChoices("DATAPLAT_TRINO_API_CATALOG")
    )
    auth_db_uri: str | None = None  # API keys (hashed); default sqlite in home
    rate_limit_per_minute: int = 600  # per API key, shared by the workers of one server
    # Processes serving requests (`dataplat serve --workers`): one is a single event loop, so
    # on a many-core host a few workers answer more, and their p99 stays low under load.
    api_workers: int = Field(default=1, ge=1)
    # A verified key is trusted this long without asking the key store again: a revoked
    # key stops working within this many seconds.
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    # Query results kept per published version of the marts; 0 turns the cache off.
    api_cache_entries: int = Field(default=10_000, ge=0)
    # On Trino: how often to ask which snapshots are published (results are reused in
    # between, so a publish shows this much later); 0: every request reads Trino.
    api_version_check_seconds: float = Field(default=2.0, ge=0)
    # Segment reads are audited: the queued rows are appended to the audit table this often
    # (each append is an Iceberg commit, and a commit holds the API's CPU for a moment); at
    # most this many rows wait, then segment reads are refused (503) until they are written.
    api_audit_flush_seconds: float = Field(default=10.0, gt=0)
    api_audit_max_queued: int = Field(default=50_000, ge=1)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_daily_range_days: int = 366
    max_monthly_range_months: int = 60

    @property
    def rate_limit_db_path(self) -> Path:
        """The buckets the workers of a server share (api/rate_limit.py)."""
        return self.home / "api-rate-limits.db"

    @model_validator(mode="after")
    def _fill_auth_default(self) -> ApiSettings:
        if self.auth_db_uri is None:
            self.auth_db_uri = f"sqlite:///{self.home / 'auth.db'}"
        return self


@lru_cache
def get_settings() -> ApiSettings:
    return ApiSettings()
