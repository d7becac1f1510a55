"""The Iceberg sink: source batches in, exactly-once commits out. It wires the three parts
of Iceberg's Kafka Connect sink design, one job each: ``RecordConverter`` (records → rows and
rejections per table), ``SinkWriter`` (per-table buffers) and ``Coordinator`` (commits with
the offsets, retries, conflict detection).

A flush commits in the sink's commit thread while the caller converts the next batches
(writing Parquet and the catalog's round trips leave a core to spare); one commit at a time,
in order, and a flush first waits for the commit before it and raises its error."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.table import Table

from lakehouse.tables import RAW_TABLES, REJECTED_TABLE, table_for_topic
from loader.converter import RecordConverter
from loader.coordinator import CommitPlan, Coordinator
from loader.writer import SinkWriter


@dataclass
class BatchStats:
    records: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    rejected_by_topic: dict[str, int] = field(default_factory=dict)
    tombstones: int = 0
    skipped_already_loaded: int = 0

    def add(self, other: BatchStats) -> None:
        self.records += other.records
        self.rejected += other.rejected
        for topic, count in other.rejected_by_topic.items():
            self.rejected_by_topic[topic] = self.rejected_by_topic.get(topic, 0) + count
        self.tombstones += other.tombstones
        self.skipped_already_loaded += other.skipped_already_loaded
        for name, count in other.rows.items():
            self.rows[name] = self.rows.get(name, 0) + count


def _batch_partitions(batch: pa.Table) -> list[tuple[str, int, int]]:
    """(topic, partition, newest offset) of every topic-partition in the batch."""
    grouped = batch.group_by(["topic", "partition"]).aggregate([("offset", "max")])
    return list(
        zip(
            grouped["topic"].to_pylist(),
            grouped["partition"].to_pylist(),
            grouped["offset_max"].to_pylist(),
            strict=True,
        )
    )


class IcebergSink:
    def __init__(
        self,
        tables: dict[str, Table],
        *,
        event_time_max_future: timedelta = timedelta(minutes=5),
        before_commit: Callable[[str], None] | None = None,
    ):
        # Target Arrow schemas without _ingested_at, which is stamped at commit time.
        schemas = {
            name: pa.schema(list(tables[name].schema().as_arrow())[:-1]) for name in RAW_TABLES
        }
        self._converter = RecordConverter(schemas)
        self._writer = SinkWriter()
        self._coordinator = Coordinator(
            tables, event_time_max_future=event_time_max_future, before_commit=before_commit
        )
        self._stats = BatchStats()
        self._pending_bytes = 0
        self._records_added = 0
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iceberg-commit")
        self._in_flight: Future[None] | None = None

    def resume_offset(self, topic: str, partition: int) -> int:
        """Where a source should start reading a topic-partition (0 when nothing is loaded)."""
        return self._coordinator.resume_offset(topic, partition)

    @property
    def pending(self) -> int:
        """Records added since the last flush."""
        return self._stats.records

    @property
    def records_added(self) -> int:
        """Records added since the sink was opened, committed or not."""
        return self._records_added

    def full(self, max_records: int, max_bytes: int) -> bool:
        """Records, or message bytes (keys and values), added since the last flush reach a
        bound."""
        return self.pending >= max_records or self._pending_bytes >= max_bytes

    @property
    def event_time_watermark(self) -> datetime | None:
        return self._coordinator.event_time_watermark

    def topic_id(self, topic: str) -> str | None:
        """The Kafka id of the topic the committed offsets were read from (None: unknown)."""
        return self._coordinator.topic_id(topic)

    def reading_from(self, topic_ids: dict[str, str]) -> None:
        """The ids of the topics being read now: committed with the next offsets."""
        self._coordinator.reading_from(topic_ids)

    def add_batch(self, batch: pa.Table) -> None:
        """Adds records (``records.SOURCE_SCHEMA``); nothing is written before ``flush``."""
        if batch.num_rows == 0:
            return
        partitions = _batch_partitions(batch)
        for topic, _, _ in partitions:
            table_for_topic(topic)  # an unknown topic is a configuration error: fail loudly
        converted = self._converter.convert(batch, self._coordinator.marks(partitions))
        self._writer.read_through(partitions)
        self._writer.add(converted.tables)
        self._stats.records += batch.num_rows
        self._records_added += batch.num_rows
        self._pending_bytes += sum(
            pc.sum(pc.binary_length(batch[column])).as_py() or 0 for column in ("key", "value")
        )
        self._stats.tombstones += converted.tombstones
        self._stats.skipped_already_loaded += converted.skipped_already_loaded

    def flush(self, report: Callable[[BatchStats], None] | None = None) -> None:
        """Commits everything added since the last flush in the commit thread, once the
        commit before it is made (raising its error, if it failed); ``report`` is called
        there with what was committed. Adding batches may go on meanwhile."""
        self.wait()
        stats, self._stats = self._stats, BatchStats()
        self._pending_bytes = 0
        tables, read_through, repeated = self._writer.drain()
        stats.skipped_already_loaded += repeated
        plan = self._coordinator.plan(tables, read_through)
        self._in_flight = self._committer.submit(self._apply, plan, stats, report)

    def wait(self) -> None:
        """Returns once no commit is in flight; raises the error of one that failed."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def close(self) -> None:
        """Waits for the commit in flight and stops the commit thread."""
        try:
            self.wait()
        finally:
            self._committer.shutdown()

    def _apply(
        self, plan: CommitPlan, stats: BatchStats, report: Callable[[BatchStats], None] | None
    ) -> None:
        stats.rows = self._coordinator.apply(plan)
        stats.rejected = stats.rows.get(REJECTED_TABLE, 0)
        if stats.rejected:
            rejected = next(c.data for c in plan.commits if c.name == REJECTED_TABLE)
            counts = pc.value_counts(rejected["topic"]).to_pylist()
            stats.rejected_by_topic = {c["values"]: c["counts"] for c in counts}
        if report is not None:
            report(stats)
