"""Batches records into Arrow tables and commits them to Iceberg exactly once.

Per batch, ``raw.rejected_messages`` is committed first and the topics' own tables after it,
each commit carrying that table's offset watermarks in its snapshot summary. A restart resumes
every topic-partition at its own table's watermark and drops any record whose destination
table's watermark already covers it, so a crash between (or inside) commits neither loses
nor duplicates a record.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import structlog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.table import Table, TableProperties

from lakehouse import offsets
from lakehouse.offsets import Watermarks
from lakehouse.tables import (
    RAW_TABLES,
    REJECTED_TABLE,
    WEBLOG_TABLE,
    WEBLOG_TOPIC,
    table_for_topic,
)
from loader.parsing import Rejection, parse_cdc
from loader.weblog_sql import PARSE_SQL

log = structlog.get_logger("loader.sink")

# A commit lost to a concurrent writer (table maintenance) is retried, with a growing pause,
# for this long: maintenance on a busy machine may commit many times in a row.
COMMIT_RETRY_SECONDS = 300.0
COMMIT_RETRY_MAX_PAUSE = 2.0


class LoaderConflict(RuntimeError):
    """Another loader committed offsets to the same table: exactly once is at risk."""


_MARKS_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("primary_mark", pa.int64()),
        ("rejected_mark", pa.int64()),
    ]
)


@dataclass
class BatchStats:
    records: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    tombstones: int = 0
    skipped_already_loaded: int = 0

    def add(self, other: BatchStats) -> None:
        self.records += other.records
        self.rejected += other.rejected
        self.tombstones += other.tombstones
        self.skipped_already_loaded += other.skipped_already_loaded
        for name, count in other.rows.items():
            self.rows[name] = self.rows.get(name, 0) + count


def single_attempt(table: Table) -> Table:
    """The same table with pyiceberg's commit retry off: a write through it commits once or
    raises. The property lives only in this copy's metadata, never in the catalog."""
    properties = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}
    metadata = table.metadata.model_copy(update={"properties": properties})
    return Table(table.name(), metadata, table.metadata_location, table.io, table.catalog)


def _micros(ms: int | None) -> int | None:
    return None if ms is None else ms * 1000


class IcebergSink:
    def __init__(
        self, tables: dict[str, Table], *, before_commit: Callable[[str], None] | None = None
    ):
        self._tables = tables
        # Target Arrow schemas without _ingested_at, which is stamped at commit time.
        self._schemas = {
            name: pa.schema(list(tables[name].schema().as_arrow())[:-1]) for name in RAW_TABLES
        }
        self._watermarks: dict[str, Watermarks] = {
            name: offsets.read_watermarks(table) for name, table in tables.items()
        }
        self._event_time_watermark = offsets.read_event_time_watermark(tables[WEBLOG_TABLE])
        self._pending: dict[str, list[pa.Table]] = {name: [] for name in RAW_TABLES}
        self._batch_next: Watermarks = {}
        self._stats = BatchStats()
        self._duck = duckdb.connect()
        self._duck.execute("set TimeZone = 'UTC'")
        # Iceberg's Arrow schema uses large_string: export it directly instead of copying later.
        self._duck.execute("set arrow_large_buffer_size = true")
        # Test seam: called with the table name just before each commit.
        self._before_commit = before_commit

    # ------------------------------------------------------------------ reading state

    def resume_offset(self, topic: str, partition: int) -> int:
        """Where a source should start reading a topic-partition (0 when nothing is loaded)."""
        return self._watermarks[table_for_topic(topic)].get((topic, partition), 0)

    @property
    def pending(self) -> int:
        return self._stats.records

    # ------------------------------------------------------------------ adding records

    def _marks(self, partitions: list[tuple[str, int, int]]) -> pa.Table:
        rejected = self._watermarks[REJECTED_TABLE]
        rows = [
            (
                topic,
                partition,
                self.resume_offset(topic, partition),
                rejected.get((topic, partition), 0),
            )
            for topic, partition, _ in partitions
        ]
        return pa.Table.from_pylist(
            [dict(zip(_MARKS_SCHEMA.names, row, strict=True)) for row in rows], schema=_MARKS_SCHEMA
        )

    @staticmethod
    def _batch_partitions(batch: pa.Table) -> list[tuple[str, int, int]]:
        grouped = batch.group_by(["topic", "partition"]).aggregate([("offset", "max")])
        return list(
            zip(
                grouped["topic"].to_pylist(),
                grouped["partition"].to_pylist(),
                grouped["offset_max"].to_pylist(),
                strict=True,
            )
        )

    def add_batch(self, batch: pa.Table) -> None:
        """Adds records (``records.SOURCE_SCHEMA``); nothing is written before ``flush``."""
        if batch.num_rows == 0:
            return
        partitions = self._batch_partitions(batch)
        for topic, partition, max_offset in partitions:
            table_for_topic(topic)  # an unknown topic is a configuration error: fail loudly
            tp = (topic, partition)
            self._batch_next[tp] = max(self._batch_next.get(tp, 0), max_offset + 1)
        self._stats.records += batch.num_rows

        duck = self._duck
        duck.register("batch", batch)
        duck.register("marks", self._marks(partitions))
        parsed = duck.sql(PARSE_SQL).to_arrow_table()
        self._take_weblog(parsed)
        cdc = duck.sql(
            f"""
            select b.*, m.primary_mark, m.rejected_mark
            from batch b join marks m using (topic, partition)
            where b.topic <> '{WEBLOG_TOPIC}'
                and (b."offset" >= m.primary_mark or b."offset" >= m.rejected_mark)
            """
        ).to_arrow_table()
        self._add_cdc(cdc)
        self._stats.skipped_already_loaded += batch.num_rows - parsed.num_rows - cdc.num_rows
        duck.unregister("batch")
        duck.unregister("marks")

    def _keep(self, name: str, table: pa.Table) -> None:
        if table.num_rows:
            self._pending[name].append(
                table.select(self._schemas[name].names).cast(self._schemas[name])
            )

    def _take_weblog(self, parsed: pa.Table) -> None:
        """Splits the parsed weblog batch into new valid rows and new rejections."""
        if parsed.num_rows == 0:
            return
        offset = parsed["offset"]
        is_rejected = pc.is_valid(parsed["reason"])
        good = pc.and_(pc.invert(is_rejected), pc.greater_equal(offset, parsed["primary_mark"]))
        bad = pc.and_(is_rejected, pc.greater_equal(offset, parsed["rejected_mark"]))
        kept_good, kept_bad = pc.sum(good).as_py() or 0, pc.sum(bad).as_py() or 0
        self._stats.skipped_already_loaded += parsed.num_rows - kept_good - kept_bad
        self._stats.rejected += kept_bad
        self._keep(WEBLOG_TABLE, parsed if kept_good == parsed.num_rows else parsed.filter(good))
        if kept_bad:
            self._keep(REJECTED_TABLE, parsed.filter(bad))

    def _add_cdc(self, fresh: pa.Table) -> None:
        rows: dict[str, list[tuple]] = {}
        rejected: list[dict] = []
        for record in fresh.to_pylist():
            parsed = parse_cdc(record["key"], record["value"])
            if parsed is None:
                self._stats.tombstones += 1
            elif isinstance(parsed, Rejection):
                if record["offset"] >= record["rejected_mark"]:
                    rejected.append(
                        {
                            **record,
                            "reason": parsed.reason,
                            "kafka_timestamp": _micros(record["timestamp_ms"]),
                        }
                    )
                else:
                    self._stats.skipped_already_loaded += 1
            elif record["offset"] >= record["primary_mark"]:
                key = None if record["key"] is None else record["key"].decode("utf-8", "replace")
                rows.setdefault(table_for_topic(record["topic"]), []).append(
                    (
                        *parsed,
                        key,
                        record["topic"],
                        record["partition"],
                        record["offset"],
                        _micros(record["timestamp_ms"]),
                    )
                )
            else:
                self._stats.skipped_already_loaded += 1
        for name, table_rows in rows.items():
            self._keep(name, self._rows_to_arrow(name, table_rows))
        if rejected:
            self._stats.rejected += len(rejected)
            schema = self._schemas[REJECTED_TABLE]
            self._keep(
                REJECTED_TABLE,
                pa.Table.from_pylist(
                    [{k: r[k] for k in schema.names} for r in rejected],
                    schema=pa.schema(
                        [
                            f.with_type(pa.int64()) if pa.types.is_timestamp(f.type) else f
                            for f in schema
                        ]
                    ),
                ).cast(schema),
            )

    def _rows_to_arrow(self, name: str, rows: list[tuple]) -> pa.Table:
        schema = self._schemas[name]
        arrays = []
        for values, column in zip(zip(*rows, strict=True), schema, strict=True):
            if pa.types.is_timestamp(column.type):
                arrays.append(pa.array(values, pa.int64()).cast(column.type))
            else:
                arrays.append(pa.array(values, column.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    # ------------------------------------------------------------------ committing

    def _advance_event_time(self, data: pa.Table) -> dict[str, str]:
        newest = pc.max(data["event_time"]).as_py()
        if newest is not None and (
            self._event_time_watermark is None or newest > self._event_time_watermark
        ):
            self._event_time_watermark = newest
        if self._event_time_watermark is None:
            return {}
        return {offsets.EVENT_TIME_PROPERTY: self._event_time_watermark.isoformat()}

    def _append(self, name: str, data: pa.Table, properties: dict[str, str]) -> None:
        """Appends one table's batch. Table maintenance (compaction, snapshot expiry) may commit
        in between, even expire the snapshot the append started from: then the table is
        reloaded and the append retried on top of it, after checking that no other loader
        moved the offsets meanwhile. pyiceberg's own retry is off for these appends: it would
        re-apply the append without that check."""
        table = self._tables[name]
        deadline = time.monotonic() + COMMIT_RETRY_SECONDS
        for attempt in itertools.count(1):
            try:
                writer = single_attempt(table)
                writer.append(data.cast(table.schema().as_arrow()), snapshot_properties=properties)
                # After the commit the copy holds the catalog's metadata, as committed.
                self._tables[name] = writer
                return
            except (CommitFailedException, ValidationException) as exc:
                if time.monotonic() > deadline:
                    raise CommitFailedException(
                        f"{name}: every commit for {COMMIT_RETRY_SECONDS:.0f} s lost to another "
                        "writer; is table maintenance running in a tight loop?"
                    ) from exc
                table = self._tables[name] = table.refresh()
                if offsets.read_watermarks(table) != self._watermarks[name]:
                    raise LoaderConflict(
                        f"the offsets of {name} changed under this loader: another loader "
                        "writes the same tables; run one loader per catalog"
                    ) from exc
                pause = min(COMMIT_RETRY_MAX_PAUSE, 0.05 * 2**attempt) * random.uniform(0.5, 1)
                log.info(
                    "commit retried after a concurrent commit",
                    table=name, attempt=attempt, error=type(exc).__name__,
                )  # fmt: skip
                time.sleep(pause)

    @property
    def event_time_watermark(self) -> datetime | None:
        return self._event_time_watermark

    def flush(self) -> BatchStats:
        """Commits everything added since the last flush; returns what it committed."""
        ingested_at = pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC"))
        stats = self._stats
        for name in [REJECTED_TABLE, *(n for n in RAW_TABLES if n != REJECTED_TABLE)]:
            if not self._pending[name]:
                continue
            data = pa.concat_tables(self._pending[name])
            data = data.append_column(
                pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
                pa.array([ingested_at.value] * data.num_rows, pa.int64()).cast(ingested_at.type),
            )
            marks = dict(self._watermarks[name])
            for tp, next_offset in self._batch_next.items():
                mine = name == REJECTED_TABLE or table_for_topic(tp[0]) == name
                if mine and next_offset > marks.get(tp, 0):
                    marks[tp] = next_offset
            properties = {offsets.OFFSETS_PROPERTY: offsets.encode(marks)}
            if name == WEBLOG_TABLE:
                properties.update(self._advance_event_time(data))
            if self._before_commit is not None:
                self._before_commit(name)
            self._append(name, data, properties)
            self._watermarks[name] = marks
            stats.rows[name] = data.num_rows
            log.debug("committed", table=name, rows=data.num_rows)
        self._pending = {name: [] for name in RAW_TABLES}
        self._batch_next = {}
        self._stats = BatchStats()
        return stats
