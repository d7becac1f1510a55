"""Per-table buffers between commits (the job of ``SinkWriter`` in Iceberg's Kafka Connect
sink): the rows each raw table will receive, and how far each topic-partition was read.

A record whose coordinates (topic, partition, offset) came before in the same commit window
(overlapping kcat dumps concatenated, a replayed stretch) is the same record again: it is
kept once."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.offsets import Watermarks
from lakehouse.tables import RAW_TABLES, REJECTED_TABLE

INGESTED_AT = pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False)
# What identifies a record in each table. A topic's own table holds that one topic, so its
# partition and offset suffice (grouping on the topic string would cost ten times more).
COORDINATES = {
    REJECTED_TABLE: ["topic", "partition", "offset"],
    **{
        name: ["_kafka_partition", "_kafka_offset"] for name in RAW_TABLES if name != REJECTED_TABLE
    },
}


def first_of_each_record(table: pa.Table, coordinates: list[str]) -> pa.Table:
    """The table without rows whose coordinates an earlier row already has."""
    keys = table.select(coordinates)
    if keys.group_by(coordinates, use_threads=False).aggregate([]).num_rows == table.num_rows:
        return table  # the usual case: every record once
    numbered = keys.append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    first_rows = numbered.group_by(coordinates, use_threads=False).aggregate([("_row", "min")])
    rows = first_rows["_row_min"]
    return table.take(rows.take(pc.sort_indices(rows)))


class SinkWriter:
    def __init__(self) -> None:
        self._buffers: dict[str, list[pa.Table]] = {name: [] for name in RAW_TABLES}
        self._read_through: Watermarks = {}

    def add(self, tables: dict[str, list[pa.Table]]) -> None:
        for name, parts in tables.items():
            self._buffers[name].extend(parts)

    def read_through(self, partitions: list[tuple[str, int, int]]) -> None:
        """Records the next offset after the newest record read, per topic-partition."""
        for topic, partition, max_offset in partitions:
            tp = (topic, partition)
            self._read_through[tp] = max(self._read_through.get(tp, 0), max_offset + 1)

    def drain(self) -> tuple[dict[str, pa.Table], Watermarks, int]:
        """The buffered rows per table (each record once), stamped with one ``_ingested_at``;
        the read positions; how many repeated records were dropped. The buffers start empty
        again."""
        stamp = pa.scalar(datetime.now(UTC), INGESTED_AT.type)
        tables = {}
        repeated = 0
        for name, parts in self._buffers.items():
            if parts:
                data = pa.concat_tables(parts)
                unique = first_of_each_record(data, COORDINATES[name])
                repeated += data.num_rows - unique.num_rows
                data = unique
                tables[name] = data.append_column(
                    INGESTED_AT,
                    pa.array([stamp.value] * data.num_rows, pa.int64()).cast(stamp.type),
                )
        read_through = self._read_through
        self._buffers = {name: [] for name in RAW_TABLES}
        self._read_through = {}
        return tables, read_through, repeated
