"""Kafka offsets kept in Iceberg snapshot summaries, committed together with the data.

The property ``dataplat.offsets`` holds ``{"<topic>": {"<partition>": <next offset>}}``: every
record of that topic-partition before that offset that belongs in the table is committed.
Snapshots written by others (compaction, maintenance) carry no offsets, so the newest
ancestor that has them is the one that counts.

Every loader commit also moves the tag ``dataplat-loader-offsets`` onto its snapshot, in the
same commit. Snapshot expiry never removes a tagged snapshot (Iceberg keeps every ref's
snapshot, on pyiceberg and on Trino alike), so the loader's newest offsets survive any
retention and any delay before an expiry runs; when expiry has cut the chain of ancestors
between the current snapshot and that one, the tag still finds it.
"""

from __future__ import annotations

from datetime import datetime

import orjson
import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.table.update.snapshot import ManageSnapshots

OFFSETS_PROPERTY = "dataplat.offsets"
# The newest event time committed so far (ISO 8601, UTC): schedulers wait for it to pass the
# end of a period before building that period's marts.
EVENT_TIME_PROPERTY = "dataplat.event_time_watermark"
# ``{"<topic>": "<Kafka topic id>"}``: the topic the offsets were read from. A topic deleted
# and created again has a new id and offsets that restart at 0.
TOPIC_IDS_PROPERTY = "dataplat.topic_ids"
LOADER_PROPERTIES = (OFFSETS_PROPERTY, EVENT_TIME_PROPERTY, TOPIC_IDS_PROPERTY)
# The tag on the loader's newest snapshot: what snapshot expiry must never remove.
OFFSETS_TAG = "dataplat-loader-offsets"

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


def newest_snapshot_with(table: Table, name: str) -> Snapshot | None:
    """The newest ancestor of the current snapshot whose summary carries the property; when
    snapshot expiry has cut the ancestry before one, the loader's tagged snapshot."""
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and snapshot.summary[name]:
            return snapshot
    tagged = tagged_snapshot(table)
    if tagged is not None and tagged.summary is not None and tagged.summary[name]:
        return tagged
    return None


def tagged_snapshot(table: Table) -> Snapshot | None:
    """The snapshot the loader's tag points at (None before the first commit)."""
    ref = table.metadata.refs.get(OFFSETS_TAG)
    return table.snapshot_by_id(ref.snapshot_id) if ref is not None else None


def append_with_offsets(table: Table, data: pa.Table, properties: dict[str, str]) -> None:
    """Appends ``data`` (rows may be none) with the loader's properties and moves the tag onto
    the new snapshot, in one commit: either both happen or neither."""
    with table.transaction() as transaction:
        transaction.append(data, snapshot_properties=properties)
        snapshot_id = transaction.table_metadata.current_snapshot_id
        assert snapshot_id is not None
        ManageSnapshots(transaction).create_tag(snapshot_id, OFFSETS_TAG).commit()


def newest_property(table: Table, name: str) -> str | None:
    snapshot = newest_snapshot_with(table, name)
    if snapshot is None or snapshot.summary is None:
        return None
    return snapshot.summary[name]


def read_watermarks(table: Table) -> Watermarks:
    text = newest_property(table, OFFSETS_PROPERTY)
    return decode(text) if text else {}


def encode_topic_ids(topic_ids: dict[str, str]) -> str:
    return orjson.dumps(dict(sorted(topic_ids.items()))).decode()


def read_topic_ids(table: Table) -> dict[str, str]:
    text = newest_property(table, TOPIC_IDS_PROPERTY)
    return orjson.loads(text) if text else {}


def loader_properties(table: Table) -> dict[str, str]:
    """The loader's snapshot properties as of the current snapshot, each from the newest
    snapshot that has it: what another writer repeats so that none ages out alone."""
    found = {}
    for name in LOADER_PROPERTIES:
        if (value := newest_property(table, name)) is not None:
            found[name] = value
    return found


def read_event_time_watermark(table: Table) -> datetime | None:
    """The newest event time the loader has committed to ``table`` (None before any)."""
    text = newest_property(table, EVENT_TIME_PROPERTY)
    return datetime.fromisoformat(text) if text else None
