"""The loader's settings: the Kafka cluster it reads and how often it commits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from lakehouse.settings import KafkaSettings, kafka_password_field, kafka_user_field

# Dumps are read and parsed this many bytes at a time (whole lines); DATAPLAT_DUMP_CHUNK_BYTES
# for the loader, and what `dataplat publish` reads them by.
DUMP_CHUNK_BYTES = 32 << 20


class LoaderSettings(KafkaSettings):
    # An Iceberg commit every this many records, or this many message bytes, whichever comes
    # first: memory stays bounded however large the messages are.
    batch_records: int = Field(default=500_000, gt=0)
    batch_bytes: int = Field(default=256 << 20, gt=0)
    # A dump chunk's records are one batch, so a commit holds at least one chunk's worth.
    dump_chunk_bytes: int = Field(default=DUMP_CHUNK_BYTES, gt=0)
    # Platform mode: the Kafka cluster (`make platform-up` writes its address) and the
    # loader's principal, which may read the contract topics and its group only.
    kafka_user: str | None = kafka_user_field("loader")
    kafka_password: SecretStr | None = kafka_password_field("loader")
    kafka_group_id: str = "dataplat-loader"
    # A Kafka loader commits at least this often, so a quiet hour is still landed promptly.
    commit_interval_seconds: float = 30.0
    # Events stamped further ahead of the loader's clock than this still land, but never move
    # the event-time watermark the Airflow sensors trust (a skewed or hostile producer clock).
    event_time_max_future_seconds: float = Field(default=300, ge=0)
    # pyarrow's allocator for the loader's batches. jemalloc reuses freed pages where
    # pyarrow's default (mimalloc) returned them and faulted them in again: on the 2.43M-record
    # bench a fifth less CPU (system time nearly halved) and a lower peak. "default" leaves
    # pyarrow's own choice (ARROW_DEFAULT_MEMORY_POOL).
    arrow_memory_pool: Literal["jemalloc", "mimalloc", "system", "default"] = "jemalloc"
    # The Kafka loader's Prometheus metrics (loader/metrics.py): served here, on loopback by
    # default (0: any free port, named in the log); the broker's end offsets are asked this
    # often for the lag.
    loader_metrics_host: str = "127.0.0.1"
    loader_metrics_port: int = Field(default=9108, ge=0, le=65535)
    loader_lag_refresh_seconds: float = Field(default=5.0, gt=0)
