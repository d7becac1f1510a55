"""Settings from the environment (prefix ``DATAPLAT_``), with embedded defaults under one home."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATAPLAT_", extra="ignore")

    home: Path = Field(default=Path("data"), description="Directory for all embedded state.")
    engine: Literal["duckdb", "trino"] = "duckdb"

    catalog_name: str = "lakehouse"
    catalog_uri: str | None = None
    warehouse: str | None = None

    duckdb_path: Path | None = None
    serving_dir: Path | None = None

    # Loader batching: records per Iceberg commit (per source run).
    batch_records: int = 500_000

    # Platform mode: the Kafka source and the Trino engine (`make platform-up` prints these).
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_group_id: str = "dataplat-loader"
    # A Kafka loader commits at least this often, so a quiet hour is still landed promptly.
    commit_interval_seconds: float = 30.0
    trino_url: str = "http://127.0.0.1:8089"
    trino_user: str = "dataplat"
    trino_catalog: str = "iceberg"

    # API
    auth_db_uri: str | None = None  # API keys (hashed); default sqlite in home
    rate_limit_per_minute: int = 600  # per API key
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_daily_range_days: int = 366
    max_monthly_range_months: int = 60

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        if self.catalog_uri is None:
            self.catalog_uri = f"sqlite:///{self.home / 'catalog.db'}"
        if self.warehouse is None:
            self.warehouse = (self.home / "warehouse").as_uri()
        if self.duckdb_path is None:
            self.duckdb_path = self.home / "duckdb" / "build.duckdb"
        if self.auth_db_uri is None:
            self.auth_db_uri = f"sqlite:///{self.home / 'auth.db'}"
        if self.serving_dir is None:
            self.serving_dir = self.home / "serving"
        return self

    @property
    def serving_link(self) -> Path:
        """The symlink the API follows to the newest published marts file."""
        assert self.serving_dir is not None
        return self.serving_dir / "current.duckdb"


@lru_cache
def get_settings() -> Settings:
    return Settings()
