"""Where each topic-partition stands (what the raw tables hold, what the broker holds), and
the operator's re-base of a stopped partition: `dataplat offsets show|rebase`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import structlog

from lakehouse import offsets
from lakehouse.catalog import ensure_raw_tables, open_catalog
from lakehouse.tables import ALL_TOPICS, REJECTED_TABLE, table_for_topic
from loader.settings import LoaderSettings

log = structlog.get_logger("loader.partitions")

OK = "ok"
DELETED_BEFORE_LOADED = "records deleted before they were loaded"
SHORTER_THAN_LOADED = "partition shorter than what was loaded"
RECREATED = "topic deleted and created again"


@dataclass
class PartitionState:
    topic: str
    partition: int
    loaded_through: int  # the primary table's next offset: every record before it is loaded
    rejected_through: int  # the same for raw.rejected_messages
    loaded_topic_id: str | None
    broker_earliest: int | None = None
    broker_latest: int | None = None
    broker_topic_id: str | None = None
    state: str = OK

    @property
    def lag(self) -> int | None:
        if self.broker_latest is None:
            return None
        return max(0, self.broker_latest - self.loaded_through)

    def as_dict(self) -> dict:
        return {**asdict(self), "lag": self.lag}


def _judge(state: PartitionState) -> str:
    if (
        state.broker_topic_id is not None
        and state.loaded_topic_id is not None
        and state.broker_topic_id != state.loaded_topic_id
    ):
        return RECREATED
    if state.broker_earliest is not None and state.loaded_through < state.broker_earliest:
        return DELETED_BEFORE_LOADED
    if state.broker_latest is not None and state.loaded_through > state.broker_latest:
        return SHORTER_THAN_LOADED
    return OK


def _broker_view(connection: dict[str, Any]) -> dict[tuple[str, int], tuple[int, int, str]]:
    """(earliest, latest, topic id) of every partition of the contract topics on the broker."""
    from confluent_kafka import KafkaException, TopicCollection, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    from lakehouse.kafka_logging import LibrdkafkaLogger

    admin = AdminClient({**connection, "logger": LibrdkafkaLogger("admin")})
    try:
        present = [t for t in admin.list_topics(timeout=10).topics if t in ALL_TOPICS]
        if not present:
            return {}
        described = {
            topic: future.result()
            for topic, future in admin.describe_topics(TopicCollection(present)).items()
        }
        partitions = [TopicPartition(t, p.id) for t, d in described.items() for p in d.partitions]
        ends = {}
        for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
            for tp, future in admin.list_offsets({tp: spec for tp in partitions}).items():
                ends.setdefault((tp.topic, tp.partition), []).append(future.result().offset)
    except KafkaException as exc:
        raise RuntimeError(
            f"cannot read the partitions of Kafka at {connection['bootstrap.servers']} ({exc}); "
            "start it (`make platform-up`), set DATAPLAT_KAFKA_BOOTSTRAP and the loader's "
            "DATAPLAT_KAFKA_LOADER_PASSWORD, or leave out --from-kafka"
        ) from exc
    return {tp: (low, high, str(described[tp[0]].topic_id)) for tp, (low, high) in ends.items()}


def partition_states(settings: LoaderSettings, *, kafka: bool) -> list[PartitionState]:
    """Every topic-partition the raw tables or the broker know, with its state."""
    tables = ensure_raw_tables(open_catalog(settings))
    rejected = offsets.read_watermarks(tables[REJECTED_TABLE])
    states: dict[tuple[str, int], PartitionState] = {}
    for topic in ALL_TOPICS:
        table = tables[table_for_topic(topic)]
        ids = offsets.read_topic_ids(table)
        for (t, partition), mark in offsets.read_watermarks(table).items():
            if t == topic:
                states[(t, partition)] = PartitionState(
                    t, partition, mark, rejected.get((t, partition), 0), ids.get(t)
                )
    if kafka:
        for (topic, partition), (low, high, topic_id) in _broker_view(
            settings.kafka_client_config
        ).items():
            state = states.setdefault(
                (topic, partition),
                PartitionState(topic, partition, 0, rejected.get((topic, partition), 0), None),
            )
            state.broker_earliest, state.broker_latest, state.broker_topic_id = low, high, topic_id
    for state in states.values():
        state.state = _judge(state)
    return sorted(states.values(), key=lambda s: (s.topic, s.partition))


def rebase(
    settings: LoaderSettings, topic: str, partition: int, to: int, *, kafka: bool
) -> dict[str, int]:
    """Moves one topic-partition's committed offset to ``to`` in its table and in
    rejected_messages (an empty commit carrying the loader's properties), and records the
    topic's current id when the broker is read. Run it with the loader stopped. Returns the
    previous offset per table."""
    if to < 0:
        raise ValueError(f"--to must be an offset (0 or more), not {to}")
    table_for_topic(topic)  # an unknown topic fails here, naming the known ones
    topic_id = None
    if kafka:
        topic_id = next(
            (tid for (t, _), (_, _, tid) in _broker_view(settings.kafka_client_config).items()
             if t == topic),
            None,
        )  # fmt: skip
    tables = ensure_raw_tables(open_catalog(settings))
    previous = {}
    for name in (REJECTED_TABLE, table_for_topic(topic)):
        table = tables[name]
        properties = offsets.loader_properties(table)
        marks = offsets.read_watermarks(table)
        previous[name] = marks.get((topic, partition), 0)
        marks[(topic, partition)] = to
        properties[offsets.OFFSETS_PROPERTY] = offsets.encode(marks)
        ids = offsets.read_topic_ids(table)
        if topic_id is not None:
            ids[topic] = topic_id
        else:
            ids.pop(topic, None)
        properties[offsets.TOPIC_IDS_PROPERTY] = offsets.encode_topic_ids(ids)
        offsets.append_with_offsets(table, table.schema().as_arrow().empty_table(), properties)
    log.warning("offsets rebased", partition=f"{topic}[{partition}]", to=to, previous=previous,
                topic_id=topic_id)  # fmt: skip
    return previous
