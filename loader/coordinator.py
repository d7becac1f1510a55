"""Commits to Iceberg, exactly once (the job of ``Coordinator`` in Iceberg's Kafka Connect
sink): each raw table's offsets travel in the snapshot summary of the commit that adds its
rows, so data and offsets land together or not at all.

Per batch, ``raw.rejected_messages`` is committed first and the topics' own tables after it.
A restart resumes every topic-partition at its own table's watermark and drops any record
whose destination table's watermark already covers it, so a crash between (or inside)
commits neither loses nor duplicates a record. A commit lost to a concurrent writer (table
maintenance) is retried on the reloaded table, after checking that the offsets there are
still this loader's own.

A batch's commits are planned (``plan``: rows, offsets and properties per table) apart from
being made (``apply``), so that the sink can make them in a thread while the next batch is
converted. The converter's marks follow the plans: a record of the batch being committed
that comes again is dropped as it would be once that commit is made.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.table import Table, TableProperties

from lakehouse import offsets
from lakehouse.catalog import commit_retry_pause
from lakehouse.offsets import Watermarks
from lakehouse.tables import RAW_TABLES, REJECTED_TABLE, WEBLOG_TABLE, table_for_topic
from loader.converter import MARKS_SCHEMA

log = structlog.get_logger("loader.coordinator")

# A commit lost to a concurrent writer (table maintenance) is retried, with a growing pause,
# for this long: maintenance on a busy machine may commit many times in a row.
COMMIT_RETRY_SECONDS = 300.0
COMMIT_RETRY_MAX_PAUSE = 2.0
# rejected_messages first: its watermark never runs ahead of a primary table's records.
COMMIT_ORDER = (REJECTED_TABLE, *(name for name in RAW_TABLES if name != REJECTED_TABLE))


@dataclass(frozen=True)
class TableCommit:
    """One table's commit of a batch: its rows, and the offsets, topic ids and snapshot
    properties that go with them."""

    name: str
    data: pa.Table
    watermarks: Watermarks
    topic_ids: dict[str, str]
    properties: dict[str, str]


@dataclass(frozen=True)
class CommitPlan:
    """A batch's commits in ``COMMIT_ORDER``, and the event-time watermark after them."""

    commits: list[TableCommit]
    event_time_watermark: datetime | None


class LoaderConflict(RuntimeError):
    """Another loader committed offsets to the same table: exactly once is at risk."""


def single_attempt(table: Table) -> Table:
    """The same table with pyiceberg's commit retry off: a write through it commits once or
    raises. The property lives only in this copy's metadata, never in the catalog."""
    properties = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}
    metadata = table.metadata.model_copy(update={"properties": properties})
    return Table(table.name(), metadata, table.metadata_location, table.io, table.catalog)


class Coordinator:
    def __init__(
        self,
        tables: dict[str, Table],
        *,
        event_time_max_future: timedelta = timedelta(minutes=5),
        before_commit: Callable[[str], None] | None = None,
    ):
        self._tables = tables
        self._event_time_max_future = event_time_max_future
        # What the tables hold (committed) and what they will hold once the planned commits
        # are made (planned); the two differ only while a plan waits to be applied.
        self._watermarks: dict[str, Watermarks] = {
            name: offsets.read_watermarks(table) for name, table in tables.items()
        }
        self._planned_watermarks = dict(self._watermarks)
        self._event_time_watermark = offsets.read_event_time_watermark(tables[WEBLOG_TABLE])
        self._planned_event_time = self._event_time_watermark
        self._topic_ids: dict[str, dict[str, str]] = {
            name: offsets.read_topic_ids(table) for name, table in tables.items()
        }
        self._planned_topic_ids = dict(self._topic_ids)
        self._read_from_ids: dict[str, str] = {}
        # Test seam: called with the table name just before each commit.
        self._before_commit = before_commit

    # ------------------------------------------------------------------ committed state

    def resume_offset(self, topic: str, partition: int) -> int:
        """Where a source should start reading a topic-partition (0 when nothing is loaded):
        the committed offset."""
        return self._watermarks[table_for_topic(topic)].get((topic, partition), 0)

    def marks(self, partitions: list[tuple[str, int, int]]) -> pa.Table:
        """``MARKS_SCHEMA`` rows: where each partition's primary table and rejected_messages
        stand once the planned commits are made, for the converter to drop what they hold."""
        rejected = self._planned_watermarks[REJECTED_TABLE]
        rows = [
            {
                "topic": topic,
                "partition": partition,
                "primary_mark": self._planned_watermarks[table_for_topic(topic)].get(
                    (topic, partition), 0
                ),
                "rejected_mark": rejected.get((topic, partition), 0),
            }
            for topic, partition, _ in partitions
        ]
        return pa.Table.from_pylist(rows, schema=MARKS_SCHEMA)

    @property
    def event_time_watermark(self) -> datetime | None:
        return self._event_time_watermark

    def topic_id(self, topic: str) -> str | None:
        """The Kafka id of the topic the committed offsets were read from (None: unknown)."""
        return self._topic_ids[table_for_topic(topic)].get(topic)

    def reading_from(self, topic_ids: dict[str, str]) -> None:
        """The ids of the topics being read now: committed with the next offsets."""
        self._read_from_ids.update(topic_ids)

    # ------------------------------------------------------------------ committing

    def plan(self, tables: dict[str, pa.Table], read_through: Watermarks) -> CommitPlan:
        """The commits that land ``tables`` with their offsets advanced to ``read_through``;
        planned on the previous plan, so plans are applied in the order they were made."""
        commits = []
        for name in COMMIT_ORDER:
            if name not in tables:
                continue
            data = tables[name]
            marks = dict(self._planned_watermarks[name])
            for tp, next_offset in read_through.items():
                mine = name == REJECTED_TABLE or table_for_topic(tp[0]) == name
                if mine and next_offset > marks.get(tp, 0):
                    marks[tp] = next_offset
            properties = {offsets.OFFSETS_PROPERTY: offsets.encode(marks)}
            ids = dict(self._planned_topic_ids[name])
            for topic, topic_id in self._read_from_ids.items():
                if name == REJECTED_TABLE or table_for_topic(topic) == name:
                    ids[topic] = topic_id
            if ids:
                properties[offsets.TOPIC_IDS_PROPERTY] = offsets.encode_topic_ids(ids)
            if name == WEBLOG_TABLE:
                properties.update(self._advance_event_time(data))
            commits.append(TableCommit(name, data, marks, ids, properties))
            self._planned_watermarks[name] = marks
            self._planned_topic_ids[name] = ids
        return CommitPlan(commits, self._planned_event_time)

    def apply(self, plan: CommitPlan) -> dict[str, int]:
        """Makes a plan's commits, in order; returns the rows committed per table."""
        committed = {}
        for commit in plan.commits:
            if self._before_commit is not None:
                self._before_commit(commit.name)
            self._append(commit.name, commit.data, commit.properties)
            self._watermarks[commit.name] = commit.watermarks
            self._topic_ids[commit.name] = commit.topic_ids
            committed[commit.name] = commit.data.num_rows
            log.debug("committed", table=commit.name, rows=commit.data.num_rows)
        self._event_time_watermark = plan.event_time_watermark
        return committed

    def _advance_event_time(self, data: pa.Table) -> dict[str, str]:
        """The newest event time committed, not counting events stamped in the future."""
        horizon = pa.scalar(
            datetime.now(UTC) + self._event_time_max_future, data["event_time"].type
        )
        plausible = data["event_time"].filter(pc.less_equal(data["event_time"], horizon))
        newest = pc.max(plausible).as_py()
        if newest is not None and (
            self._planned_event_time is None or newest > self._planned_event_time
        ):
            self._planned_event_time = newest
        if self._planned_event_time is None:
            return {}
        return {offsets.EVENT_TIME_PROPERTY: self._planned_event_time.isoformat()}

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
                offsets.append_with_offsets(
                    writer, data.cast(table.schema().as_arrow()), properties
                )
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
                pause = commit_retry_pause(attempt, COMMIT_RETRY_MAX_PAUSE)
                log.info(
                    "commit retried after a concurrent commit",
                    table=name, attempt=attempt, error=type(exc).__name__,
                )  # fmt: skip
                time.sleep(pause)
