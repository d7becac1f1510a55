"""Reads the contract topics from a Kafka cluster (confluent-kafka) as Arrow record batches.

Positions come from the Iceberg tables, never from the consumer group: the loader assigns
every partition itself and seeks to the offset its raw table has committed (as Iceberg's
Kafka Connect sink does). The group commit that follows each Iceberg commit only tells
monitoring tools how far the loader is; losing it loses nothing. One loader process per
cluster: Iceberg commits are single-writer here, so partitions are assigned, not balanced.

A partition whose committed offset the broker cannot continue from is stopped, alone, and
named with the cause: records deleted before they were loaded (retention, delete-records), a
partition shorter than what was loaded, or a topic deleted and created again (a new topic id:
its offsets restart, so new records would pass for loaded ones). Nothing of it is skipped;
the other partitions go on, and `dataplat offsets rebase` moves a stopped partition on once
an operator has decided where it resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import structlog
from confluent_kafka import (
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from lakehouse.kafka_logging import LibrdkafkaLogger
from loader.records import SOURCE_SCHEMA

log = structlog.get_logger("loader.kafka")

# Messages taken from librdkafka's queue per call; bigger amortises the Python call.
CONSUME_BATCH = 10_000
# Records, or message bytes, gathered before they are handed to the sink as one Arrow batch.
ARROW_BATCH = 100_000
ARROW_BATCH_BYTES = 64 << 20
METADATA_REFRESH_SECONDS = 30.0


class KafkaSourceError(RuntimeError):
    """The cluster cannot be used as configured; the message says what to fix."""


class KafkaSource:
    def __init__(
        self,
        connection: dict[str, Any],
        group_id: str,
        topics: tuple[str, ...],
        resume_offset: Callable[[str, int], int],
        loaded_topic_id: Callable[[str], str | None] = lambda topic: None,
    ):
        self._topics = topics
        self._resume_offset = resume_offset
        self._loaded_topic_id = loaded_topic_id
        # Topic-partitions stopped, with why and what to do; the ids of the topics read.
        self.stopped: dict[tuple[str, int], str] = {}
        self.topic_ids: dict[str, str] = {}
        self._consumer = Consumer(
            {
                **connection,
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # A stored offset the broker no longer has (records deleted by retention, a
                # topic recreated) is an error, never a silent jump to another offset.
                "auto.offset.reset": "error",
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "error_cb": self._on_error,
                "on_commit": self._on_commit,
                # Reconnect quickly after a broker restart, without flooding the log.
                "reconnect.backoff.max.ms": 2000,
                # Fetch again soon after the loader takes a batch from the local queue: by
                # default a partition whose queue was full waits a second before its next
                # fetch, and the loader, which takes 100,000 messages at once, waited with it
                # (27.3-27.5 s against 23.3-23.4 s for the 2.43M-record bench day).
                "fetch.queue.backoff.ms": 20,
                "log.connection.close": False,
                "logger": LibrdkafkaLogger("consumer"),
            }
        )
        self._admin = AdminClient({**connection, "logger": LibrdkafkaLogger("admin")})
        self._assigned: set[tuple[str, int]] = set()
        self._at_end: set[tuple[str, int]] = set()
        self._next_metadata = 0.0
        self._last_error: str | None = None
        self._missing_reported: set[str] = set()
        self._principal = connection.get("sasl.username") or "(no user: unauthenticated)"
        self._refused: str | None = None

    # ------------------------------------------------------------------ callbacks

    def _on_error(self, error: KafkaError) -> None:
        # Broker down, timeouts: librdkafka retries by itself; fatal ones raise in consume.
        # Wrong credentials never heal by retrying: poll() raises them.
        if error.code() == KafkaError._AUTHENTICATION:
            self._refused = (
                f"Kafka refused the credentials of user {self._principal} ({error.str()}): "
                "set DATAPLAT_KAFKA_LOADER_USER and DATAPLAT_KAFKA_LOADER_PASSWORD to the "
                "loader's principal (`make platform-up` writes them to secrets/platform.env)"
            )
            return
        text = str(error)
        if text != self._last_error:
            log.warning("kafka unavailable, retrying", error=text, code=error.name())
            self._last_error = text

    @staticmethod
    def _on_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            log.warning(
                "consumer group commit failed (Iceberg holds the offsets)", error=str(error)
            )

    # ------------------------------------------------------------------ assignment

    def refresh_assignment(self, *, force: bool = False) -> None:
        """Assigns partitions of contract topics not yet assigned, at their Iceberg offsets."""
        now = time.monotonic()
        if not force and now < self._next_metadata:
            return
        self._next_metadata = now + METADATA_REFRESH_SECONDS
        try:
            metadata = self._admin.list_topics(timeout=10)
        except KafkaException as exc:
            self._raise_if_refused()
            log.warning("cannot read cluster metadata, retrying", error=str(exc))
            return
        for topic in self._topics:
            error = metadata.topics[topic].error if topic in metadata.topics else None
            if error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise KafkaSourceError(self._not_allowed(f"topic {topic}"))
        new = []
        present = [
            t for t in self._topics if t in metadata.topics and metadata.topics[t].error is None
        ]
        for topic in self._topics:
            if topic not in present and topic not in self._missing_reported:
                log.warning("topic not in the cluster yet, will assign when it appears",
                            topic=topic)  # fmt: skip
                self._missing_reported.add(topic)
        for topic, topic_id in self._current_topic_ids(present).items():
            loaded_from = self._loaded_topic_id(topic)
            if loaded_from is not None and loaded_from != topic_id:
                for partition in sorted(metadata.topics[topic].partitions):
                    self._stop((topic, partition), _recreated(topic, partition, topic_id,
                                                              loaded_from))  # fmt: skip
                continue
            self.topic_ids[topic] = topic_id
            for partition in sorted(metadata.topics[topic].partitions):
                tp = (topic, partition)
                if tp not in self._assigned and tp not in self.stopped:
                    offset = self._resume_offset(topic, partition)
                    new.append(TopicPartition(topic, partition, offset))
        if new:
            self._consumer.incremental_assign(new)
            self._assigned.update((tp.topic, tp.partition) for tp in new)
            log.info(
                "partitions assigned",
                count=len(new),
                positions={f"{tp.topic}[{tp.partition}]": tp.offset for tp in new},
            )

    def _current_topic_ids(self, topics: list[str]) -> dict[str, str]:
        if not topics:
            return {}
        try:
            described = self._admin.describe_topics(TopicCollection(topics), request_timeout=10)
            return {topic: str(future.result().topic_id) for topic, future in described.items()}
        except KafkaException as exc:
            log.warning("cannot read the topics' ids, retrying", error=str(exc))
            return {}

    def _raise_if_refused(self) -> None:
        if self._refused is not None:
            raise KafkaSourceError(self._refused)

    def _not_allowed(self, what: str) -> str:
        return (
            f"Kafka does not let user {self._principal} read {what}: grant it READ and DESCRIBE "
            "on the contract topics and READ on its consumer group (the platform's ACLs: "
            "infra/platform.py), or run the loader as the loader principal"
        )

    def _stop(self, tp: tuple[str, int], reason: str) -> None:
        """Stops reading one topic-partition (the others go on) and says why, once."""
        if tp in self.stopped:
            return
        self.stopped[tp] = reason
        if tp in self._assigned:
            self._consumer.pause([TopicPartition(*tp)])
        log.error("partition stopped", partition=f"{tp[0]}[{tp[1]}]", reason=reason)

    @property
    def assigned(self) -> set[tuple[str, int]]:
        return set(self._assigned)

    def _reading(self) -> set[tuple[str, int]]:
        """The partitions assigned and not stopped."""
        return self._assigned - set(self.stopped)

    def _reading_all_at_end(self) -> bool:
        """Every partition still being read has reported its end (no broker asked)."""
        reading = self._reading()
        return bool(reading) and reading <= self._at_end

    def caught_up(self) -> bool:
        """Every contract topic exists and every partition has been read to its end, as the
        brokers say now (False while they cannot be reached)."""
        reading = self._reading()
        known_topics = {t for t, _ in self._assigned | set(self.stopped)}
        if set(self._topics) - known_topics or not reading <= self._at_end:
            return False
        if not reading:
            return bool(self.stopped)  # nothing left to read but stopped partitions
        high = self._end_offsets(reading)
        if not high:
            return False  # brokers unreachable: not known to be caught up
        partitions = [TopicPartition(t, p) for t, p in sorted(reading)]
        return all(
            position.offset < 0 or position.offset >= high[(position.topic, position.partition)]
            for position in self._consumer.position(partitions)
        )

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """The brokers' end offsets (the next offset each will write) of every partition
        assigned, asked now; {} while the brokers cannot be reached."""
        return self._end_offsets(self._assigned)

    def _end_offsets(self, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        wanted = [TopicPartition(t, p) for t, p in sorted(partitions)]
        if not wanted:
            return {}
        try:
            # The admin client's own connection answers at once; the consumer's waits behind
            # its long-polling fetches.
            ends = self._admin.list_offsets(
                {tp: OffsetSpec.latest() for tp in wanted}, request_timeout=5
            )
            return {(tp.topic, tp.partition): f.result().offset for tp, f in ends.items()}
        except KafkaException:
            return {}

    # ------------------------------------------------------------------ reading

    def poll(self, timeout: float) -> pa.Table | None:
        """Up to ARROW_BATCH records or about ARROW_BATCH_BYTES of messages
        (``SOURCE_SCHEMA``), or None when none came in time. Returns at once, with what it
        has, when the last partition still being read reports its end: the caller can commit
        then instead of after the timeout."""
        self._raise_if_refused()
        self.refresh_assignment()
        topics: list[str] = []
        partitions: list[int] = []
        offsets: list[int] = []
        timestamps: list[int | None] = []
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        gathered_bytes = 0
        deadline = time.monotonic() + timeout
        while len(topics) < ARROW_BATCH and gathered_bytes < ARROW_BATCH_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            messages = self._consumer.consume(CONSUME_BATCH, timeout=min(remaining, 0.5))
            if not messages:
                if topics:
                    break  # hand over what we have rather than wait for a full batch
                continue
            if not any(map(Message.error, messages)):
                # The usual call, messages only: read column by column, the accessors mapped
                # over the messages (a third of the Python work of the loop below, which
                # keeps the order of end-of-partition events and errors among the messages).
                new_topics = list(map(Message.topic, messages))
                new_partitions = list(map(Message.partition, messages))
                self._at_end.difference_update(zip(new_topics, new_partitions, strict=True))
                topics += new_topics
                partitions += new_partitions
                offsets += map(Message.offset, messages)
                timestamps += [
                    None if kind == TIMESTAMP_NOT_AVAILABLE else stamp
                    for kind, stamp in map(Message.timestamp, messages)
                ]
                new_keys = list(map(Message.key, messages))
                new_values = list(map(Message.value, messages))
                keys += new_keys
                values += new_values
                gathered_bytes += sum(map(len, filter(None, new_values))) + sum(
                    map(len, filter(None, new_keys))
                )
                continue
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._at_end.add((message.topic(), message.partition()))
                    elif error.code() == KafkaError._AUTO_OFFSET_RESET:
                        tp = (message.topic(), message.partition())
                        self._stop(tp, self._offset_out_of_range(*tp))
                    elif error.code() in (
                        KafkaError.TOPIC_AUTHORIZATION_FAILED,
                        KafkaError.GROUP_AUTHORIZATION_FAILED,
                    ):
                        raise KafkaSourceError(self._not_allowed(str(error.str())))
                    elif error.fatal():
                        raise KafkaSourceError(f"fatal Kafka error: {error}")
                    else:
                        log.warning("kafka error on read, continuing", error=str(error))
                    continue
                tp = (message.topic(), message.partition())
                self._at_end.discard(tp)
                kind, stamp = message.timestamp()
                topics.append(tp[0])
                partitions.append(tp[1])
                offsets.append(message.offset())
                timestamps.append(None if kind == TIMESTAMP_NOT_AVAILABLE else stamp)
                keys.append(message.key())
                values.append(message.value())
                gathered_bytes += len(message) + len(message.key() or b"")
            if self._reading_all_at_end():
                break
        if not topics:
            return None
        if self._last_error is not None:
            log.info("kafka reachable again")
            self._last_error = None
        return pa.Table.from_arrays(
            [
                pa.array(topics, pa.string()),
                pa.array(partitions, pa.int32()),
                pa.array(offsets, pa.int64()),
                pa.array(timestamps, pa.int64()),
                pa.array(keys, pa.binary()),
                pa.array(values, pa.binary()),
            ],
            schema=SOURCE_SCHEMA,
        )

    def _offset_out_of_range(self, topic: str, partition: int) -> str:
        """Explains a stored offset outside the broker's range: what happened, what to do."""
        loaded = self._resume_offset(topic, partition)
        tp = TopicPartition(topic, partition)
        try:
            low, high = (
                next(iter(self._admin.list_offsets({tp: spec}).values())).result().offset
                for spec in (OffsetSpec.earliest(), OffsetSpec.latest())
            )
            held = f"the broker holds offsets {low} to {high - 1}"
        except KafkaException:
            low = high = None
            held = "the broker's range could not be read"
        if high is not None and loaded > high:
            what = (
                "the partition is shorter than what was loaded: the topic was recreated or "
                "truncated, and its new records carry offsets the raw table already covers"
            )
        else:
            what = (
                f"records from offset {loaded} on were deleted by the broker (retention, "
                "delete-records) before the loader read them"
            )
        return (
            f"{topic}[{partition}]: the raw tables hold every record before offset {loaded}, "
            f"but {held}: {what}. Nothing was skipped; this partition stays stopped. Land the "
            "missing records from a dump (`dataplat ingest --from-dir`) if one exists; then, "
            "or if they are gone for good, resume where you decide: `dataplat offsets rebase "
            f"--topic {topic} --partition {partition} --to OFFSET`"
        )

    # ------------------------------------------------------------------ committing

    def commit_positions(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """Tells the consumer group how far the Iceberg tables are (asynchronous, a hint)."""
        positions = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in next_offsets.items()
            if (topic, partition) in self._assigned and offset != OFFSET_END
        ]
        if not positions:
            return
        try:
            self._consumer.commit(offsets=positions, asynchronous=True)
        except KafkaException as exc:
            log.warning("consumer group commit failed (Iceberg holds the offsets)", error=str(exc))

    def close(self) -> None:
        self._consumer.close()


def _recreated(topic: str, partition: int, topic_id: str, loaded_from: str) -> str:
    return (
        f"{topic}[{partition}]: the topic was deleted and created again (its id is now "
        f"{topic_id}; the raw tables were loaded from {loaded_from}): its offsets restart, so "
        "its new records would pass for records already loaded. Nothing was read; this "
        "partition stays stopped. Once the old records are safe, resume the new topic from "
        f"its start: `dataplat offsets rebase --topic {topic} --partition {partition} --to 0`"
    )
