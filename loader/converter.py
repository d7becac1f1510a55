"""Records → rows: one source batch becomes, per raw table, the Arrow rows it adds, and the
rejections with their reasons (the job of ``RecordConverter`` in Iceberg's Kafka Connect sink).

Records the tables' watermarks already cover are dropped here, in the same pass: a record is
new for its primary table from ``primary_mark`` on, and for ``raw.rejected_messages`` from
``rejected_mark`` on (each table commits its own offsets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import structlog

from lakehouse.tables import REJECTED_TABLE, WEBLOG_TABLE, WEBLOG_TOPIC, table_for_topic
from loader.parsing import Rejection, parse_cdc
from loader.weblog_sql import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, PARSE_SQL, PARSE_SQL_UNGUARDED

log = structlog.get_logger("loader.converter")

# raw.rejected_messages's names for the weblog query's Kafka columns (exported once).
REJECTED_NAMES = {
    "_kafka_topic": "topic",
    "_kafka_partition": "partition",
    "_kafka_offset": "offset",
    "_kafka_timestamp": "kafka_timestamp",
}
# What the CDC path reads into Python of the CDC select's records (the batch's columns and
# the marks).
FRESH_CDC_COLUMNS = ("topic", "offset", "key", "value", "primary_mark", "rejected_mark")
# DuckDB scans an Arrow table one record batch per thread: a batch built in one piece (the
# Kafka source's) is sliced, without copying, into record batches of at most this many rows.
SCAN_ROWS = 10_000

# Per topic-partition of a batch: where its primary table and rejected_messages stand.
MARKS_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("primary_mark", pa.int64()),
        ("rejected_mark", pa.int64()),
    ]
)


@dataclass
class Converted:
    """What one batch adds: Arrow tables per raw table (target schema, no ``_ingested_at``)."""

    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    tombstones: int = 0
    skipped_already_loaded: int = 0

    def keep(
        self, name: str, table: pa.Table, schema: pa.Schema, rows: pa.ChunkedArray | None = None
    ) -> None:
        """Keeps the table's rows (those ``rows`` selects, when given) in the target schema.
        The columns are chosen before the rows: filtering copies only the table's own."""
        if table.num_rows:
            table = table.select(schema.names)
            if rows is not None:
                table = table.filter(rows)
            self.tables.setdefault(name, []).append(table.cast(schema))


def _kafka_timestamp(ms: pa.ChunkedArray) -> pa.ChunkedArray:
    """Kafka timestamps (epoch ms) as UTC times; null outside years 1 to 9999, as in SQL."""
    within = pc.and_(pc.greater_equal(ms, MIN_TIMESTAMP_MS), pc.less_equal(ms, MAX_TIMESTAMP_MS))
    micros = pc.multiply(pc.if_else(within, ms, None), 1000)
    return micros.cast(pa.timestamp("us", tz="UTC"))


class RecordConverter:
    def __init__(self, schemas: dict[str, pa.Schema]):
        # Target Arrow schemas of the raw tables, without _ingested_at (stamped at commit).
        self._schemas = schemas
        self._duck = duckdb.connect()
        self._duck.execute("set TimeZone = 'UTC'")
        # Iceberg's Arrow schema uses large_string: export it directly instead of copying later.
        self._duck.execute("set arrow_large_buffer_size = true")

    def convert(self, batch: pa.Table, marks: pa.Table) -> Converted:
        """``batch``: records (``records.SOURCE_SCHEMA``); ``marks``: ``MARKS_SCHEMA`` rows
        for every topic-partition of the batch."""
        converted = Converted()
        duck = self._duck
        duck.register("batch", pa.Table.from_batches(batch.to_batches(max_chunksize=SCAN_ROWS)))
        duck.register("marks", marks)
        # A batch of one topic (a dump file's) skips the other path's query.
        topics = set(marks["topic"].to_pylist())
        fresh = 0
        try:
            if WEBLOG_TOPIC in topics:
                parsed = self._parse_weblog()
                self._take_weblog(parsed, converted)
                fresh += parsed.num_rows
            if topics - {WEBLOG_TOPIC}:
                cdc = duck.sql(
                    f"""
                    select b.*, m.primary_mark, m.rejected_mark
                    from batch b join marks m using (topic, partition)
                    where b.topic <> '{WEBLOG_TOPIC}'
                        and (b."offset" >= m.primary_mark or b."offset" >= m.rejected_mark)
                    """
                ).to_arrow_table()
                self._take_cdc(cdc, converted)
                fresh += cdc.num_rows
        finally:
            duck.unregister("batch")
            duck.unregister("marks")
        converted.skipped_already_loaded += batch.num_rows - fresh
        return converted

    def _parse_weblog(self) -> pa.Table:
        """The weblog records of the registered batch, judged (``weblog_sql``)."""
        try:
            return self._duck.sql(PARSE_SQL).to_arrow_table()
        except duckdb.Error as exc:
            # A payload json_valid accepts that DuckDB's JSON functions still refuse: the
            # unguarded query reads it as the guarded one would have, only slower.
            log.warning("weblog batch parsed again without the guard", error=str(exc)[:200])
            return self._duck.sql(PARSE_SQL_UNGUARDED).to_arrow_table()

    def _take_weblog(self, parsed: pa.Table, converted: Converted) -> None:
        """Splits the parsed weblog batch into new valid rows and new rejections."""
        if parsed.num_rows == 0:
            return
        offset = parsed["_kafka_offset"]
        is_rejected = pc.is_valid(parsed["reason"])
        good = pc.and_(pc.invert(is_rejected), pc.greater_equal(offset, parsed["primary_mark"]))
        bad = pc.and_(is_rejected, pc.greater_equal(offset, parsed["rejected_mark"]))
        kept_good, kept_bad = pc.sum(good).as_py() or 0, pc.sum(bad).as_py() or 0
        converted.skipped_already_loaded += parsed.num_rows - kept_good - kept_bad
        if kept_good:
            rows = None if kept_good == parsed.num_rows else good
            converted.keep(WEBLOG_TABLE, parsed, self._schemas[WEBLOG_TABLE], rows)
        if kept_bad:
            renamed = parsed.rename_columns([REJECTED_NAMES.get(n, n) for n in parsed.column_names])
            converted.keep(REJECTED_TABLE, renamed, self._schemas[REJECTED_TABLE], bad)

    def _take_cdc(self, fresh: pa.Table, converted: Converted) -> None:
        """Judges each CDC record in Python (``parse_cdc``); the columns a record carries as
        it came (its payload and Kafka coordinates) are taken from ``fresh`` in Arrow."""
        # Per topic: parse_cdc's columns of its new rows, their records' places in ``fresh``
        # and their keys as text.
        kept: dict[str, tuple[list[tuple], list[int], list[str | None]]] = {}
        rejected: list[int] = []
        reasons: list[str] = []
        # Column by column into Python (to_pylist() of the table made a dict per record).
        columns = (fresh[name].to_pylist() for name in FRESH_CDC_COLUMNS)
        for index, (topic, offset, key, value, primary_mark, rejected_mark) in enumerate(
            zip(*columns, strict=True)
        ):
            parsed = parse_cdc(key, value)
            if parsed is None:
                converted.tombstones += 1
            elif isinstance(parsed, Rejection):
                if offset >= rejected_mark:
                    rejected.append(index)
                    reasons.append(parsed.reason)
                else:
                    converted.skipped_already_loaded += 1
            elif offset >= primary_mark:
                rows, places, keys = kept.setdefault(topic, ([], [], []))
                rows.append(parsed)
                places.append(index)
                keys.append(None if key is None else key.decode("utf-8", "replace"))
            else:
                converted.skipped_already_loaded += 1
        for topic, (rows, places, keys) in kept.items():
            name = table_for_topic(topic)
            table = self._cdc_rows(name, rows, keys, fresh.take(places))
            converted.keep(name, table, self._schemas[name])
        if rejected:
            records = fresh.take(rejected)
            table = pa.table(
                {
                    "topic": records["topic"],
                    "partition": records["partition"],
                    "offset": records["offset"],
                    "kafka_timestamp": _kafka_timestamp(records["timestamp_ms"]),
                    "key": records["key"],
                    "value": records["value"],
                    "reason": pa.array(reasons, pa.large_string()),
                }
            )
            converted.keep(REJECTED_TABLE, table, self._schemas[REJECTED_TABLE])

    def _cdc_rows(
        self, name: str, rows: list[tuple], keys: list[str | None], records: pa.Table
    ) -> pa.Table:
        """A CDC table's rows: ``parse_cdc``'s columns, then the records' own (``keys``:
        their keys as text, in the order of ``records``)."""
        schema = self._schemas[name]
        own = [
            records["value"].cast(pa.large_string()),  # the payload: UTF-8, parse_cdc read it
            pa.array(keys, pa.large_string()),
            records["topic"],
            records["partition"],
            records["offset"],
            _kafka_timestamp(records["timestamp_ms"]),
        ]
        parsed_fields = [schema.field(i) for i in range(len(schema) - len(own))]
        parsed = [
            pa.array(values, field.type)
            for values, field in zip(zip(*rows, strict=True), parsed_fields, strict=True)
        ]
        return pa.Table.from_arrays([*parsed, *own], schema=schema)
