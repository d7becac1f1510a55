"""Settings from the environment (prefix ``DATAPLAT_``), with embedded defaults under one home.

Every component reads its own class, all on ``LakehouseSettings`` (the data directory and the
Iceberg catalog): ``loader.settings.LoaderSettings``, ``transform.settings.TransformSettings``,
``api.settings.ApiSettings``, ``MaintenanceSettings`` here, and
``orchestration.settings.OrchestrationSettings``. A component never loads another's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


class LakehouseSettings(BaseSettings):
    """What every component shares: the data directory and the Iceberg catalog."""

    model_config = SettingsConfigDict(env_prefix="DATAPLAT_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path("data"), description="Directory for all embedded state.")

    catalog_name: str = "lakehouse"
    catalog_uri: str | None = None
    warehouse: str | None = None
    # An S3 warehouse (s3://...): where and how pyiceberg reaches it (MinIO in compose).
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    @model_validator(mode="after")
    def _fill_catalog_defaults(self) -> LakehouseSettings:
        self.home = self.home.expanduser().resolve()
        if self.catalog_uri is None:
            self.catalog_uri = f"sqlite:///{self.home / 'catalog.db'}"
        if self.warehouse is None:
            self.warehouse = (self.home / "warehouse").as_uri()
        return self


def _principal_user_field(server: str, job: str) -> Any:
    """A job's own user on a server: ``job`` unless DATAPLAT_<SERVER>_<JOB>_USER (or, for
    every job, DATAPLAT_<SERVER>_USER) says otherwise."""
    prefix = f"DATAPLAT_{server}"
    return Field(
        default=job,
        validation_alias=AliasChoices(f"{prefix}_{job.upper()}_USER", f"{prefix}_USER"),
    )


def _principal_password_field(server: str, job: str) -> Any:
    """A job's own password on a server: DATAPLAT_<SERVER>_<JOB>_PASSWORD, the name `make
    platform-up` writes (or, for every job, DATAPLAT_<SERVER>_PASSWORD)."""
    prefix = f"DATAPLAT_{server}"
    return Field(
        default=None,
        validation_alias=AliasChoices(f"{prefix}_{job.upper()}_PASSWORD", f"{prefix}_PASSWORD"),
    )


def trino_user_field(job: str) -> Any:
    return _principal_user_field("TRINO", job)


def trino_password_field(job: str) -> Any:
    return _principal_password_field("TRINO", job)


def kafka_user_field(job: str) -> Any:
    return _principal_user_field("KAFKA", job)


def kafka_password_field(job: str) -> Any:
    return _principal_password_field("KAFKA", job)


class KafkaSettings(LakehouseSettings):
    """A Kafka client's cluster and principal. With a password the client authenticates
    with SASL/SCRAM (the platform's broker accepts nothing else); each job's class sets its
    own principal with kafka_user_field and kafka_password_field."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_user: str | None = None
    kafka_password: SecretStr | None = None
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    # SASL_SSL where the broker has TLS; the platform's broker listens on loopback only.
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = "SASL_PLAINTEXT"

    @property
    def kafka_client_config(self) -> dict[str, Any]:
        """librdkafka settings of the cluster and the principal (no password: none sent)."""
        config: dict[str, Any] = {"bootstrap.servers": self.kafka_bootstrap}
        if self.kafka_password is not None:
            config |= {
                "security.protocol": self.kafka_security_protocol,
                "sasl.mechanism": self.kafka_sasl_mechanism,
                "sasl.username": self.kafka_user,
                "sasl.password": self.kafka_password.get_secret_value(),
            }
        return config


class EngineSettings(LakehouseSettings):
    """Where the marts are built and read: DuckDB embedded, Trino on the platform."""

    engine: Literal["duckdb", "trino"] = "duckdb"
    # Platform mode: Trino over HTTPS with a password (`make platform-up` prints these). Each
    # job has its own principal: the job's class sets the default user and reads its own
    # password variable first (trino_user_field and trino_password_field above).
    trino_url: str = "https://127.0.0.1:8089"
    trino_user: str = "admin"
    trino_password: SecretStr | None = None
    trino_ca_file: Path | None = None  # the CA of Trino's certificate, when not a public one
    trino_catalog: str = "iceberg"
    # Embedded mode: the published copies of the marts the API reads.
    serving_dir: Path | None = None

    @model_validator(mode="after")
    def _fill_serving_default(self) -> EngineSettings:
        if self.serving_dir is None:
            self.serving_dir = self.home / "serving"
        return self

    @property
    def serving_link(self) -> Path:
        """The symlink the API follows to the newest published marts file."""
        assert self.serving_dir is not None
        return self.serving_dir / "current.duckdb"

    @property
    def trino_address(self) -> dict[str, Any]:
        """host, port and http_scheme of the Trino URL."""
        url = urlsplit(self.trino_url)
        return {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or 8080,
            "http_scheme": url.scheme or "http",
        }

    @property
    def trino_connection(self) -> dict[str, Any]:
        """Arguments of ``trino.dbapi.connect``: address from the Trino URL, the user, its
        password, and a fresh HTTP session that trusts the configured CA only (requests
        would otherwise let REQUESTS_CA_BUNDLE from the environment override it)."""
        options: dict[str, Any] = {**self.trino_address, "user": self.trino_user}
        if self.trino_password is not None:
            from trino.auth import BasicAuthentication

            options["auth"] = BasicAuthentication(
                self.trino_user, self.trino_password.get_secret_value()
            )
        if self.trino_ca_file is not None:
            import requests

            session = requests.Session()
            session.verify, session.trust_env = str(self.trino_ca_file), False
            options["http_session"] = session
        return options


class MaintenanceSettings(EngineSettings):
    """Table maintenance (`dataplat maintain`, the Airflow maintenance DAG)."""

    trino_user: str = trino_user_field("maintenance")
    trino_password: SecretStr | None = trino_password_field("maintenance")

    snapshot_retention_hours: float = Field(default=168, gt=0)  # time travel kept this long
    orphan_file_retention_hours: float = Field(default=72, gt=0)  # spares writes in flight
    compaction_target_file_mb: int = Field(default=128, gt=0)
    compaction_min_files: int = Field(default=4, ge=2)  # small files a partition needs
