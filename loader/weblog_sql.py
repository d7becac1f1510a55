"""Validation and typing of ``weblog.events`` messages, as one DuckDB query over an Arrow batch.

Vectorised because this topic is the volume (tens of millions of messages a day). The rules
follow topics.md: a message is rejected, with its reason, when it is not UTF-8, not a JSON
object, lacks ``event_id``/``event_time``/``mall_id``, or has a time that is not RFC 3339 with an
offset; a field of the wrong JSON type, an integer past 64 bits or a time outside the years
1 to 9999 is rejected too, so raw columns stay truthful and every engine can read them.
"""

from __future__ import annotations

STRING_FIELDS = ("visitor_id", "event_type", "channel", "url", "referrer", "user_agent", "ip")
INT_FIELDS = ("member_id", "product_id", "order_id")
KNOWN_FIELDS = ("event_id", "event_time", "mall_id", *STRING_FIELDS, *INT_FIELDS)
TEXT_FIELDS = ("event_id", "event_time", *STRING_FIELDS)
INTEGER_FIELDS = ("mall_id", *INT_FIELDS)

# One parse of the payload reads the JSON type of the document and of every known field (a
# list: the document first), another the fields' text: strings unescaped, numbers as written.
# A key given twice counts once, the first time, in both (as in DuckDB's json_transform).
_TYPE_PATHS = "['$', " + ", ".join(f"'$.{name}'" for name in KNOWN_FIELDS) + "]"
_TEXT_PATHS = "[" + ", ".join(f"'$.{name}'" for name in (*TEXT_FIELDS, *INTEGER_FIELDS)) + "]"
_FIRST_INTEGER = len(TEXT_FIELDS) + 1  # where the integers' text starts in that list
# RFC 3339: the offset's hours 00-23 and minutes 00-59 (so "+99:00" is not a time).
_RFC3339 = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)"
# The time as DuckDB reads it: RFC 3339 allows a lower-case t and z, DuckDB's cast does not.
_EVENT_TIME = "try_cast(upper(s_event_time) as timestamptz)"
# What every engine and Python hold: years 1 to 9999 in UTC.
MIN_TIME = "timestamptz '0001-01-01 00:00:00+00'"
MAX_TIME = "timestamptz '9999-12-31 23:59:59.999999+00'"
# Kafka timestamps (epoch ms) outside those years are stored as null; the record is kept.
MIN_TIMESTAMP_MS = -62_135_596_800_000
MAX_TIMESTAMP_MS = 253_402_300_799_999


def _fragment(field: str) -> str:
    """The field's JSON text, as quoted in a reason (read again only for rejected records)."""
    return f"json_extract(payload, '$.{field}')"


def _absent(field: str) -> str:
    return f"coalesce(t_{field}, 'NULL') = 'NULL'"


def _integer_check(name: str, *, optional: bool) -> str:
    """An integer past the signed 64-bit range (DuckDB reads it as UBIGINT, or as DOUBLE past
    64 bits) is named as such, never cast to null; any other non-integer is a wrong type."""
    allowed = "('NULL', 'BIGINT', 'UBIGINT')" if optional else "('BIGINT', 'UBIGINT')"
    expected = "an integer or null" if optional else "an integer"
    value = _fragment(name)
    return (
        f"when (t_{name} = 'UBIGINT' and i_{name} is null) "
        f"or (t_{name} = 'DOUBLE' and abs(try_cast({value} as double)) >= 9.2e18) "
        f"then 'out_of_range: {name} ' || left({value}::varchar, 40) "
        "|| ' is beyond the 64-bit integer range' "
        f"when t_{name} not in {allowed} "
        f"then 'invalid_type: {name} must be {expected}'"
    )


def _optional_type_checks() -> str:
    checks = [
        f"when t_{name} not in ('NULL', 'VARCHAR') "
        f"then 'invalid_type: {name} must be a string or null'"
        for name in STRING_FIELDS
    ] + [_integer_check(name, optional=True) for name in INT_FIELDS]
    return "\n            ".join(checks)


def kafka_timestamp(column: str) -> str:
    """Epoch milliseconds → timestamptz, null outside years 1 to 9999 (never an error)."""
    return (
        f"case when {column} between {MIN_TIMESTAMP_MS} and {MAX_TIMESTAMP_MS} "
        f"then cast(make_timestamp({column} * 1000) as timestamptz) end"
    )


def _columns(template: str, names: tuple[str, ...], *, first: int) -> str:
    """``template`` filled with (list index, name) for each name, from index ``first`` on."""
    return ", ".join(template.format(first + i, name) for i, name in enumerate(names))


def _parsed(expression: str, *, guarded: bool) -> str:
    """``try(expression)`` over the payload: null where it is not a JSON document. ``try``
    costs a quarter of the query even where nothing fails; ``guarded`` keeps it for the
    payloads DuckDB's own ``json_valid`` refuses (the same reader) and evaluates the others
    plainly. Should a valid one still fail, the query raises, and the caller runs the
    unguarded query instead: the result is the same either way."""
    if not guarded:
        return f"try({expression})"
    return f"case when is_json then {expression} else try({expression}) end"


def parse_sql(*, guarded: bool = True) -> str:
    """The query: input relations ``batch`` (records.SOURCE_SCHEMA) and ``marks`` (topic,
    partition, primary_mark, rejected_mark). Records both watermarks already cover are skipped
    unread. The message's key and value (the rejected_messages columns) are only carried for
    rejected records: the weblog table has them as text already."""
    return f"""
with fresh as (
    select b.*, m.primary_mark, m.rejected_mark
    from batch b join marks m using (topic, partition)
    where b.topic = 'weblog.events'
        and (b."offset" >= m.primary_mark or b."offset" >= m.rejected_mark)
),
decoded as (
    select *, try(decode(value)) as payload from fresh
),
validated as (
    select *, json_valid(payload) as is_json from decoded
),
shaped as (
    -- one parse for the JSON types of the document and its fields, one for their text
    select *,
        {_parsed(f"json_type(payload, {_TYPE_PATHS})", guarded=guarded)} as types,
        {_parsed(f"json_extract_string(payload, {_TEXT_PATHS})", guarded=guarded)} as texts
    from validated
),
fields as (
    -- each field's JSON type, text and integer value, for the checks and the row
    select *,
        types[1] as doc_type,
        {_columns("types[{}] as t_{}", KNOWN_FIELDS, first=2)},
        {_columns("texts[{}] as s_{}", TEXT_FIELDS, first=1)},
        {_columns("try_cast(texts[{}] as bigint) as i_{}", INTEGER_FIELDS, first=_FIRST_INTEGER)}
    from shaped
),
timed as (
    select *, {_EVENT_TIME} as event_time_read from fields
),
judged as (
    select *,
        case
            when value is null then 'empty_value: the message has no value'
            when payload is null then 'invalid_utf8: the message is not valid UTF-8'
            when doc_type is null then 'invalid_json: the message is not JSON'
            when doc_type <> 'OBJECT' then 'invalid_json: expected a JSON object, got ' || doc_type
            when {_absent("event_id")} or s_event_id = '' then 'missing_field: event_id'
            when t_event_id <> 'VARCHAR' then 'invalid_type: event_id must be a string'
            when {_absent("event_time")} then 'missing_field: event_time'
            when t_event_time <> 'VARCHAR'
                or not regexp_full_match(s_event_time, '{_RFC3339}')
                or event_time_read is null
                then 'invalid_time: event_time ' || left({_fragment("event_time")}::varchar, 80)
                    || ' is not an RFC 3339 time with an offset'
            when event_time_read not between {MIN_TIME} and {MAX_TIME}
                then 'invalid_time: event_time ' || left({_fragment("event_time")}::varchar, 80)
                    || ' is outside the years 1 to 9999 (UTC)'
            when {_absent("mall_id")} then 'missing_field: mall_id'
            {_integer_check("mall_id", optional=False)}
            {_optional_type_checks()}
        end as reason
    from timed
)
select
    reason, primary_mark, rejected_mark,
    -- raw.weblog_events columns (without _ingested_at)
    s_event_id as event_id,
    event_time_read as event_time,
    i_mall_id as mall_id,
    {", ".join(f"s_{name} as {name}" for name in STRING_FIELDS[:6])},
    {", ".join(f"i_{name} as {name}" for name in INT_FIELDS)},
    s_ip as ip,
    payload,
    try(decode(key)) as _kafka_key,
    topic as _kafka_topic,
    partition as _kafka_partition,
    "offset" as _kafka_offset,
    {kafka_timestamp("timestamp_ms")} as _kafka_timestamp,
    -- raw.rejected_messages columns (its topic, partition, offset and kafka_timestamp are
    -- the _kafka_ columns above: the converter renames them rather than export them twice)
    case when reason is not null then key end as key,
    case when reason is not null then value end as value
from judged
"""


PARSE_SQL = parse_sql()
# Without the guard: for a batch where the guarded query raises.
PARSE_SQL_UNGUARDED = parse_sql(guarded=False)
