"""`dataplat publish`: replays kcat ``-J`` dumps into Kafka, record for record.

Each record goes to the partition it was dumped from, with its key, value (bytes as they
were, broken ones included) and timestamp, in file order: a fresh topic then holds the same
offsets as the dump. Topics are created with the dump's partition count when missing, and
without retention: the dumped timestamps may be far older than a broker keeps records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from lakehouse.kafka_logging import LibrdkafkaLogger
from loader.file_source import dump_files, read_dump_batches

log = structlog.get_logger("publish")


TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


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


def ensure_topics(bootstrap: str, partitions: dict[str, int], timeout: float = 10) -> None:
    """Creates missing topics; an existing topic with fewer partitions than needed is an error."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": LibrdkafkaLogger("admin")})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise PublishError(
            f"cannot reach Kafka at {bootstrap} ({exc}); start it (`make platform-up`) or set "
            "DATAPLAT_KAFKA_BOOTSTRAP"
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
        NewTopic(topic, num_partitions=count, replication_factor=1, config=TOPIC_CONFIG)
        for topic, count in partitions.items()
        if topic not in existing
    ]
    if not missing:
        return
    for topic, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise PublishError(f"cannot create topic {topic}: {exc}") from exc
        log.info("topic created", topic=topic, partitions=partitions[topic])


def publish_dumps(bootstrap: str, directory: Path, *, show_progress: bool = True) -> PublishStats:
    """Produces every record of the dumps in ``directory``; returns the counts per topic."""
    files = dump_files(directory)
    ensure_topics(bootstrap, _partition_counts(files))
    failures: list[str] = []

    def on_delivery(error, message) -> None:
        if error is not None:
            failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
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
                progress.update(task, completed=done_bytes + position, file=path.name)
            done_bytes += path.stat().st_size
            stats.records[path.stem] = sent
        remaining = producer.flush(120)
    if remaining:
        raise PublishError(f"{remaining} records not acknowledged by Kafka at {bootstrap} in 120 s")
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
