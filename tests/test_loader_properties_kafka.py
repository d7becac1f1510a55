"""The promise of test_loader_properties.py through the Kafka source, on the real broker: a
fixed list of hostile and valid records (the same builders, a seeded ``random.Random``) is
produced, `ingest_kafka` runs until idle, and every record is in exactly one place.

The loader reads the contract topics by name, and the platform tests own those topics (their
figures compare every record). So the records go to scratch topics of their own, deleted
afterwards, and the Kafka source is wrapped to name them as the contract topics they stand in
for: `ingest_kafka`, the source's reading, positions and topic ids, the sink and the
coordinator all run as they are; only the topic names are translated at the source. The
Iceberg catalog is a local one (SQLite), not the platform's.

Only Kafka is needed (`infra.platform up kafka`, started when not running). Kafka holds one
record per coordinates, so a repeated record comes from reading again: a rerun, and a run
whose source starts every partition at offset 0, as after a lost consumer position.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import loader.kafka_source
import loader.service
from infra import platform
from lakehouse.settings import KafkaSettings
from lakehouse.tables import WEBLOG_TOPIC
from loader.kafka_source import KafkaSource
from loader.records import SOURCE_SCHEMA
from loader.service import ingest_kafka
from loader.settings import LoaderSettings
from tests.test_loader_properties import (
    CDC_KINDS,
    PROPERTY_CDC_TOPICS,
    WEBLOG_KINDS,
    Message,
    cdc_message,
    check_every_record_in_one_place,
    check_landed_values,
    coordinates_by_table,
    message_for,
    table_rows,
    weblog_message,
)

pytestmark = [pytest.mark.slow, pytest.mark.platform]

SEED = 20_261_126
TOPICS = (WEBLOG_TOPIC, *PROPERTY_CDC_TOPICS)
PARTITIONS = 2
Coordinates = tuple[str, int, int]


def hostile_messages() -> list[tuple[int, Message]]:
    """(partition, message): one of every weblog and CDC kind, then a dozen drawn at random,
    in a shuffled order. Strings stay under 64 KB (the broker's limit is 1 MB)."""
    r = random.Random(SEED)
    messages = [weblog_message(r, huge_strings=False, kind=kind) for kind in WEBLOG_KINDS]
    messages += [
        cdc_message(r, PROPERTY_CDC_TOPICS[i % 2], huge_strings=False, kind=kind)
        for i, kind in enumerate(CDC_KINDS)
    ]
    messages += [message_for(r, r.choice(TOPICS), huge_strings=False) for _ in range(12)]
    r.shuffle(messages)
    return [(r.randrange(PARTITIONS), m) for m in messages]


@pytest.fixture(scope="module")
def kafka_admin() -> KafkaSettings:
    """The platform's broker (started when not running; the other servers are not needed),
    as its admin: the scratch topics are the admin's to create, read and delete."""
    platform.up(("kafka",))
    return platform.kafka_settings("admin")


@pytest.fixture
def scratch_topics(kafka_admin: KafkaSettings) -> Iterator[dict[str, str]]:
    """Contract topic → a scratch topic of its own, without retention (the records carry
    timestamps from year 1 to far past 9999); deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_admin.kafka_client_config)
    stamp = time.time_ns()
    names = {topic: f"test.hostile-{stamp}.{topic}" for topic in TOPICS}
    config = {"retention.ms": "-1", "retention.bytes": "-1"}
    created = admin.create_topics([NewTopic(n, PARTITIONS, 1, config=config)
                                   for n in names.values()])  # fmt: skip
    for future in created.values():
        future.result()
    yield names
    for future in admin.delete_topics(list(names.values())).values():
        future.result()


def produce(kafka: KafkaSettings, names: dict[str, str], batch: list[tuple[int, Message]]):
    """Produces in order; returns each record's coordinates (contract topic) with the message
    as the broker stored it (its timestamp). Kafka timestamps are not negative (the client
    reads 0 as "now"); one the broker refuses is sent again as "now"."""
    from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, Producer

    producer = Producer({**kafka.kafka_client_config, "enable.idempotence": True,
                         "message.max.bytes": 2 << 20})  # fmt: skip
    contract = {scratch: topic for topic, scratch in names.items()}
    stored: dict[Coordinates, Message] = {}
    refused: list[tuple[int, Message]] = []
    failures: list[str] = []

    def delivered(error, record, partition: int, message: Message) -> None:
        if error is not None:
            if error.code() == KafkaError.INVALID_TIMESTAMP and message.ts:
                refused.append((partition, dataclasses.replace(message, ts=None)))
            else:
                failures.append(f"{message!r}: {error}")
            return
        kind, stamp = record.timestamp()
        ts = None if kind == TIMESTAMP_NOT_AVAILABLE else stamp
        coordinates = (contract[record.topic()], record.partition(), record.offset())
        stored[coordinates] = dataclasses.replace(message, ts=ts)

    while batch:
        for partition, message in batch:
            producer.produce(
                names[message.topic], value=message.value, key=message.key, partition=partition,
                timestamp=message.ts if message.ts is not None and message.ts > 0 else 0,
                on_delivery=lambda e, record, p=partition, m=message: delivered(e, record, p, m),
            )  # fmt: skip
        assert producer.flush(60) == 0, "records not acknowledged by the broker"
        batch, refused = refused, []
    assert not failures, failures
    return stored


def scratch_source(names: dict[str, str], *, rewind: bool = False) -> type[KafkaSource]:
    """``KafkaSource`` reading the scratch topics as the contract topics they stand in for;
    with ``rewind``, every partition starts at offset 0 whatever the tables hold."""
    contract = {scratch: topic for topic, scratch in names.items()}

    class ContractNames(dict):
        def __setitem__(self, topic: str, topic_id: str) -> None:
            super().__setitem__(contract.get(topic, topic), topic_id)

    class ScratchSource(KafkaSource):
        def __init__(self, connection, group_id, topics, resume_offset, loaded_topic_id):
            super().__init__(
                connection,
                group_id,
                tuple(names[t] for t in topics),
                lambda t, p: 0 if rewind else resume_offset(contract[t], p),
                loaded_topic_id=lambda t: loaded_topic_id(contract[t]),
            )
            self.topic_ids = ContractNames()

        @property
        def assigned(self) -> set[tuple[str, int]]:
            return {(contract[t], p) for t, p in super().assigned}

        def end_offsets(self) -> dict[tuple[str, int], int]:
            return {(contract[t], p): o for (t, p), o in super().end_offsets().items()}

        def commit_positions(self, next_offsets: dict[tuple[str, int], int]) -> None:
            super().commit_positions({(names[t], p): o for (t, p), o in next_offsets.items()})

        def poll(self, timeout: float) -> pa.Table | None:
            batch = super().poll(timeout)
            if batch is None:
                return None
            topics = pa.array([contract[t] for t in batch["topic"].to_pylist()], pa.string())
            return batch.set_column(0, SOURCE_SCHEMA.field("topic"), topics)

    return ScratchSource


def scratch_loader_settings(
    kafka: KafkaSettings, tmp: Path, group: str, **settings: object
) -> LoaderSettings:
    """A loader with its own home under ``tmp`` and its own consumer group, reading the
    broker as ``kafka``'s principal (the scratch topics' owner)."""
    return LoaderSettings(
        home=tmp / "home",
        kafka_bootstrap=kafka.kafka_bootstrap,
        kafka_user=kafka.kafka_user,
        kafka_password=kafka.kafka_password,
        kafka_group_id=f"{group}-{time.time_ns()}",
        **settings,
    )


def run_loader(settings, names, monkeypatch, *, rewind: bool = False):
    """`ingest_kafka` on the scratch topics until caught up and idle for a second."""
    with monkeypatch.context() as patch:
        patch.setattr(loader.service, "ALL_TOPICS", TOPICS)
        patch.setattr(loader.kafka_source, "KafkaSource", scratch_source(names, rewind=rewind))
        return ingest_kafka(settings, stop_when_idle=1.0, show_progress=False)


def check_stats(stats) -> None:
    """Every record read is counted once: as a row, a tombstone or already loaded."""
    counted = sum(stats.rows.values()) + stats.tombstones + stats.skipped_already_loaded
    assert counted == stats.records, stats


def test_hostile_records_through_the_kafka_source_land_once_or_are_rejected_once(
    kafka_admin: KafkaSettings, scratch_topics: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    messages = hostile_messages()
    half = len(messages) // 2
    with tempfile.TemporaryDirectory(prefix="loader-property-kafka-") as tmp:
        settings = scratch_loader_settings(kafka_admin, Path(tmp), "test-hostile")
        # Half the records, loaded; then the rest: the loader resumes where the tables stand.
        records = produce(kafka_admin, scratch_topics, messages[:half])
        first = run_loader(settings, scratch_topics, monkeypatch)
        assert first.records == len(records)
        check_stats(first)
        check_every_record_in_one_place(settings, records)
        records |= produce(kafka_admin, scratch_topics, messages[half:])
        second = run_loader(settings, scratch_topics, monkeypatch)
        assert second.records >= len(records) - half
        check_stats(second)
        places = check_every_record_in_one_place(settings, records)
        tombstones = sum(place is None for place in places.values())
        assert first.tombstones + second.tombstones >= tombstones
        landed = coordinates_by_table(settings)

        # Read again, from where the tables stand and then from offset 0: nothing is added.
        again = run_loader(settings, scratch_topics, monkeypatch)
        assert again.rows == {}, again
        replayed = run_loader(settings, scratch_topics, monkeypatch, rewind=True)
        assert replayed.records == len(records)
        assert replayed.rows == {}, replayed
        assert replayed.skipped_already_loaded + replayed.tombstones == replayed.records
        assert coordinates_by_table(settings) == landed

        # What landed holds what was sent: payloads, typed columns, keys, Kafka timestamps.
        check_landed_values(settings, places, table_rows(settings), records)


def test_the_poll_that_reaches_every_partitions_end_returns_at_once(
    kafka_admin: KafkaSettings, scratch_topics: dict[str, str]
):
    """The loader commits as soon as it has read every partition to its end: the poll that
    gets there returns what it has at once instead of waiting out its timeout (empty topics
    too), and a poll that then finds nothing new waits its timeout out (no spinning)."""
    source_class = scratch_source(scratch_topics, rewind=True)
    source = source_class(
        kafka_admin.kafka_client_config,
        f"test-poll-{time.time_ns()}",
        TOPICS,
        lambda topic, partition: 0,
        lambda topic: None,
    )
    try:
        started = time.monotonic()
        assert source.poll(timeout=120) is None  # every partition empty
        assert time.monotonic() - started < 60, "the poll waited for its timeout"
        assert source.caught_up()

        records = produce(kafka_admin, scratch_topics, hostile_messages())
        taken: set[Coordinates] = set()
        while len(taken) < len(records):
            started = time.monotonic()
            batch = source.poll(timeout=120)
            assert time.monotonic() - started < 60, "the poll waited for its timeout"
            assert batch is not None
            taken |= set(
                zip(batch["topic"].to_pylist(), batch["partition"].to_pylist(),
                    batch["offset"].to_pylist(), strict=True)
            )  # fmt: skip
        assert taken == set(records)
        assert source.caught_up()

        started = time.monotonic()
        assert source.poll(timeout=2) is None
        assert time.monotonic() - started >= 1.9, "a poll with nothing to read returned early"
    finally:
        source.close()
