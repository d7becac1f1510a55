"""Kafka offsets kept in Iceberg snapshot summaries, committed together with the data.

The property ``dataplat.offsets`` holds ``{"<topic>": {"<partition>": <next offset>}}``: every
record of that topic-partition before that offset that belongs in the table is committed.
Snapshots written by others (compaction, maintenance) carry no offsets, so the newest
ancestor that has them is the one that counts.
"""

from __future__ import annotations

import orjson
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

OFFSETS_PROPERTY = "dataplat.offsets"

TopicPartition = tuple[str, int]
Watermarks = dict[TopicPartition, int]


def encode(watermarks: Watermarks) -> str:
    nested: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(watermarks.items()):
        nested.setdefault(topic, {})[str(partition)] = offset
    return orjson.dumps(nested).decode()


def decode(text: str) -> Watermarks:
    return {
        (topic, int(partition)): int(offset)
        for topic, partitions in orjson.loads(text).items()
        for partition, offset in partitions.items()
    }


def read_watermarks(table: Table) -> Watermarks:
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and (text := snapshot.summary[OFFSETS_PROPERTY]):
            return decode(text)
    return {}
