"""Every Iceberg table the platform writes: the raw tables and which topic lands in which,
``raw.rejected_messages``, and the API's audit table."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    BinaryType,
    DateType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

RAW_NAMESPACE = "raw"
WEBLOG_TOPIC = "weblog.events"
CDC_TABLES = ("malls", "members", "products", "orders", "cart_items", "coupons", "app_installs")
CDC_TOPICS = tuple(f"shop.{name}" for name in CDC_TABLES)
ALL_TOPICS = (WEBLOG_TOPIC, *CDC_TOPICS)
# Partitions per shop topic: the generated data sets have this many, and the platform makes
# Debezium's topics with as many (the weblog's count is the generator's own choice).
CDC_PARTITIONS = 2
# The contract topics keep everything (no time or size retention), whoever makes them
# (`dataplat publish`, the platform script for Debezium): replayed records keep their dumped
# timestamps, often older than the broker's default 7 days, and the shop topics can be
# replayed or written by Debezium into the same topics.
CONTRACT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
WEBLOG_TABLE = "weblog_events"
REJECTED_TABLE = "rejected_messages"


def table_for_topic(topic: str) -> str:
    """The raw table holding a topic's valid records (its primary table)."""
    if topic == WEBLOG_TOPIC:
        return WEBLOG_TABLE
    if topic in CDC_TOPICS:
        return topic.replace(".", "_")
    raise ValueError(f"unknown topic {topic!r}; known topics: {', '.join(ALL_TOPICS)}")


_KAFKA_COLUMNS = [
    ("_kafka_key", StringType(), False),
    ("_kafka_topic", StringType(), True),
    ("_kafka_partition", IntegerType(), True),
    ("_kafka_offset", LongType(), True),
    ("_kafka_timestamp", TimestamptzType(), False),
    ("_ingested_at", TimestamptzType(), True),
]

WEBLOG_COLUMNS = [
    ("event_id", StringType(), True),
    ("event_time", TimestamptzType(), True),
    ("mall_id", LongType(), True),
    ("visitor_id", StringType(), False),
    ("member_id", LongType(), False),
    ("event_type", StringType(), False),
    ("channel", StringType(), False),
    ("url", StringType(), False),
    ("referrer", StringType(), False),
    ("product_id", LongType(), False),
    ("order_id", LongType(), False),
    ("user_agent", StringType(), False),
    ("ip", StringType(), False),
    ("payload", StringType(), True),
    *_KAFKA_COLUMNS,
]

CDC_COLUMNS = [
    ("id", LongType(), True),
    ("op", StringType(), True),
    ("before", StringType(), False),
    ("after", StringType(), False),
    ("ts_ms", LongType(), False),
    ("source_db", StringType(), False),
    ("source_table", StringType(), False),
    ("source_file", StringType(), False),
    ("source_pos", LongType(), False),
    ("source_row", IntegerType(), False),
    ("source_ts_ms", LongType(), False),
    ("payload", StringType(), True),
    *_KAFKA_COLUMNS,
]

REJECTED_COLUMNS = [
    ("topic", StringType(), True),
    ("partition", IntegerType(), True),
    ("offset", LongType(), True),
    ("kafka_timestamp", TimestamptzType(), False),
    ("key", BinaryType(), False),
    ("value", BinaryType(), False),
    ("reason", StringType(), True),
    ("_ingested_at", TimestamptzType(), True),
]


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: list[tuple[str, object, bool]]
    partition_column: str

    @property
    def identifier(self) -> str:
        return f"{RAW_NAMESPACE}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [name for name, _, _ in self.columns]

    def iceberg_schema(self) -> Schema:
        return Schema(
            *(
                NestedField(field_id=i, name=name, field_type=typ, required=required)
                for i, (name, typ, required) in enumerate(self.columns, start=1)
            )
        )

    def partition_spec(self) -> PartitionSpec:
        source_id = self.column_names.index(self.partition_column) + 1
        return PartitionSpec(
            PartitionField(
                source_id=source_id,
                field_id=1000,
                transform=DayTransform(),
                name=f"{self.partition_column}_day",
            )
        )

    def arrow_schema(self) -> pa.Schema:
        return self.iceberg_schema().as_arrow()


RAW_TABLES: dict[str, RawTable] = {
    WEBLOG_TABLE: RawTable(WEBLOG_TABLE, WEBLOG_COLUMNS, "event_time"),
    **{
        f"shop_{name}": RawTable(f"shop_{name}", CDC_COLUMNS, "_ingested_at") for name in CDC_TABLES
    },
    REJECTED_TABLE: RawTable(REJECTED_TABLE, REJECTED_COLUMNS, "_ingested_at"),
}


# Built by dbt. On Trino the API reads every mart as of this tag, which the transform moves
# onto a mart's snapshot only once a build and its tests have finished: never half-built.
MARTS_NAMESPACE = "marts"
PUBLISHED_TAG = "dataplat-published"


# Written by the API: who read which customer segment when (issue: data governance).
AUDIT_NAMESPACE = "audit"
AUDIT_TABLE = "audit.segment_reads"
AUDIT_SCHEMA = Schema(
    NestedField(1, "read_at", TimestamptzType(), required=True),
    NestedField(2, "key_id", StringType(), required=True),
    NestedField(3, "key_name", StringType(), required=True),
    NestedField(4, "segment", StringType(), required=True),
    NestedField(5, "mall_id", LongType(), required=True),
    NestedField(6, "as_of", DateType(), required=True),
    NestedField(7, "format", StringType(), required=True),
    NestedField(8, "parameters", StringType(), required=False),
    NestedField(9, "page", IntegerType(), required=False),
    NestedField(10, "rows", LongType(), required=True),
)
