"""Settings from the environment (prefix ``DATAPLAT_``), with embedded defaults under one home."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

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

    # The dbt project the transform and the Airflow DAGs build (an analyst's checkout works).
    dbt_project_dir: Path = DBT_PROJECT_DIR
    # An S3 warehouse (s3://...): where and how pyiceberg reaches it (MinIO in compose).
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

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

    # Table maintenance (`dataplat maintain`, the Airflow maintenance DAG).
    snapshot_retention_hours: float = Field(default=168, gt=0)  # time travel kept this long
    orphan_file_retention_hours: float = Field(default=72, gt=0)  # spares writes in flight
    compaction_target_file_mb: int = Field(default=128, gt=0)
    compaction_min_files: int = Field(default=4, ge=2)  # small files a partition needs

    # Orchestration (orchestration/): alerts, the pool dbt tasks share, the watermark sensors.
    alert_webhook_url: str | None = None
    airflow_dbt_pool: str = "dataplat_dbt"
    watermark_poke_seconds: float = 60
    watermark_timeout_hours: float = 12

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

    @property
    def trino_connection(self) -> dict[str, str | int]:
        """host, port, http_scheme and user of ``trino.dbapi.connect``, from the Trino URL."""
        url = urlsplit(self.trino_url)
        return {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or 8080,
            "http_scheme": url.scheme or "http",
            "user": self.trino_user,
        }


@lru_cache
def get_settings() -> Settings:
    return Settings()
