"""`dataplat publish`: replays kcat ``-J`` dumps into Kafka, record for record.

Each record goes to the partition it was dumped from, with its key, value (bytes as they
were, broken ones included) and timestamp, in file order: a fresh topic then holds the same
offsets as the dump. Topics are created with the dump's partition count when missing, and
without retention: the dumped timestamps may be far older than a broker keeps records.

Records are written as the producer principal (DATAPLAT_KAFKA_PRODUCER_PASSWORD); missing
topics are created as the Kafka admin (DATAPLAT_KAFKA_ADMIN_PASSWORD), the only principal the
platform lets create them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import Field, SecretStr
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from lakehouse.kafka_logging import LibrdkafkaLogger
from lakehouse.settings import KafkaSettings, kafka_password_field, kafka_user_field
from lakehouse.tables import CONTRACT_TOPIC_CONFIG
from loader.file_source import dump_files, read_dump_batches

log = structlog.get_logger("publish")


class PublishSettings(KafkaSettings):
    """The cluster, the producer principal that writes, the admin that creates topics."""

    kafka_user: str | None = kafka_user_field("producer")
    kafka_password: SecretStr | None = kafka_password_field("producer")
    kafka_admin_user: str = Field(default="admin", validation_alias="DATAPLAT_KAFKA_ADMIN_USER")
    kafka_admin_password: SecretStr | None = Field(
        default=None, validation_alias="DATAPLAT_KAFKA_ADMIN_PASSWORD"
    )

    @property
    def kafka_admin_config(self) -> dict[str, Any]:
        if self.kafka_admin_password is None:
            return self.kafka_client_config
        return self.model_copy(
            update={
                "kafka_user": self.kafka_admin_user,
                "kafka_password": self.kafka_admin_password,
            }
        ).kafka_client_config


class PublishError(RuntimeError):
    pass


@dataclass
class PublishStats:
    records: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _partition_counts(files: list[Path]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in files:
        for batch, _ in read_dump_batches(path):
            if batch.num_rows:
                top = max(batch["partition"].to_pylist())
                counts[path.stem] = max(counts.get(path.stem, 0), top + 1)
        counts.setdefault(path.stem, 1)
    return counts


def ensure_topics(
    settings: PublishSettings, partitions: dict[str, int], timeout: float = 10
) -> None:
    """Creates missing topics; an existing topic with fewer partitions than needed is an error."""
    admin = AdminClient({**settings.kafka_admin_config, "logger": LibrdkafkaLogger("admin")})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise PublishError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); start it (`make "
            "platform-up`), or set DATAPLAT_KAFKA_BOOTSTRAP and the credentials "
            "(DATAPLAT_KAFKA_PRODUCER_PASSWORD, DATAPLAT_KAFKA_ADMIN_PASSWORD)"
        ) from exc
    for topic, count in partitions.items():
        if topic in existing and len(existing[topic].partitions) < count:
            raise PublishError(
                f"topic {topic} has {len(existing[topic].partitions)} partitions, the dump "
                f"needs {count}: delete the topic or add partitions"
            )
    # Replayed records keep their dumped timestamps, often older than the broker's retention
    # (7 days by default): with time-based retention the broker would delete them minutes
    # after they were published, before a loader read them. Replayed topics keep everything.
    missing = [
        NewTopic(topic, num_partitions=count, replication_factor=1, config=CONTRACT_TOPIC_CONFIG)
        for topic, count in partitions.items()
        if topic not in existing
    ]
    if not missing:
        return
    for topic, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            code = exc.args[0].code()
            if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                        KafkaError.CLUSTER_AUTHORIZATION_FAILED):  # fmt: skip
                raise PublishError(
                    f"topic {topic} does not exist and only a Kafka admin may create topics: "
                    "set DATAPLAT_KAFKA_ADMIN_PASSWORD (secrets/platform.env of `make "
                    "platform-up`) or have an admin create it"
                ) from exc
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise PublishError(f"cannot create topic {topic}: {exc}") from exc
        log.info("topic created", topic=topic, partitions=partitions[topic])


def publish_dumps(
    settings: PublishSettings, directory: Path, *, show_progress: bool = True
) -> PublishStats:
    """Produces every record of the dumps in ``directory``; returns the counts per topic."""
    files = dump_files(directory)
    ensure_topics(settings, _partition_counts(files))
    failures: list[str] = []

    def on_error(error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:  # retrying never heals it
            failures.append(error.str())

    def on_delivery(error, message) -> None:
        if error is not None:
            failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    producer = Producer(
        {
            **settings.kafka_client_config,
            "error_cb": on_error,
            # Idempotent: a producer retry never adds a record the dump does not have.
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "compression.type": "lz4",
            "message.max.bytes": 2 << 20,
            "logger": LibrdkafkaLogger("producer"),
        }
    )
    stats = PublishStats()
    started = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]publish[/] {task.fields[file]}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("publish", total=sum(p.stat().st_size for p in files), file="")
        done_bytes = 0
        for path in files:
            sent = 0
            for batch, position in read_dump_batches(path):
                # The reader may move odd lines (bytes that are not UTF-8) to the end of
                # their chunk; each partition must be produced in offset order.
                columns = batch.sort_by([("partition", "ascending"), ("offset", "ascending")])
                columns = columns.to_pydict()
                rows = zip(
                    columns["partition"],
                    columns["timestamp_ms"],
                    columns["key"],
                    columns["value"],
                    strict=True,
                )
                for partition, timestamp, key, value in rows:
                    while True:
                        try:
                            producer.produce(
                                path.stem,
                                value=value,
                                key=key,
                                partition=partition,
                                timestamp=timestamp or 0,
                                on_delivery=on_delivery,
                            )
                            break
                        except BufferError:
                            producer.poll(0.1)  # queue full: let deliveries drain
                    sent += 1
                producer.poll(0)
                if failures:
                    raise PublishError(
                        f"Kafka refused to take records from user {settings.kafka_user}: "
                        f"{failures[0]}; set DATAPLAT_KAFKA_PRODUCER_PASSWORD (secrets/"
                        "platform.env of `make platform-up`)"
                    )
                progress.update(task, completed=done_bytes + position, file=path.name)
            done_bytes += path.stat().st_size
            stats.records[path.stem] = sent
        remaining = producer.flush(120)
    if remaining:
        raise PublishError(
            f"{remaining} records not acknowledged by Kafka at {settings.kafka_bootstrap} in 120 s"
        )
    if failures:
        raise PublishError(f"{len(failures)} records failed, first: {failures[0]}")
    stats.seconds = time.perf_counter() - started
    log.info(
        "published",
        directory=str(directory),
        records=sum(stats.records.values()),
        seconds=round(stats.seconds, 2),
    )
    return stats
