"""Per-table buffers between commits (the job of ``SinkWriter`` in Iceberg's Kafka Connect
sink): the rows each raw table will receive, and how far each topic-partition was read."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from lakehouse.offsets import Watermarks
from lakehouse.tables import RAW_TABLES

INGESTED_AT = pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False)


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

    def drain(self) -> tuple[dict[str, pa.Table], Watermarks]:
        """The buffered rows per table, stamped with one ``_ingested_at``, and the read
        positions; the buffers start empty again."""
        stamp = pa.scalar(datetime.now(UTC), INGESTED_AT.type)
        tables = {}
        for name, parts in self._buffers.items():
            if parts:
                data = pa.concat_tables(parts)
                tables[name] = data.append_column(
                    INGESTED_AT,
                    pa.array([stamp.value] * data.num_rows, pa.int64()).cast(stamp.type),
                )
        read_through = self._read_through
        self._buffers = {name: [] for name in RAW_TABLES}
        self._read_through = {}
        return tables, read_through
