"""The unit the loader moves: Kafka records, as Arrow batches whatever source they came from."""

from __future__ import annotations

import pyarrow as pa

SOURCE_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp_ms", pa.int64()),  # null when the record has no timestamp
        ("key", pa.binary()),
        ("value", pa.binary()),  # null is a tombstone
    ]
)
