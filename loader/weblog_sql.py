"""Validation and typing of ``weblog.events`` messages, as one DuckDB query over an Arrow batch.

Vectorised because this topic is the volume (tens of millions of messages a day). The rules
follow topics.md: a message is rejected, with its reason, when it is not UTF-8, not a JSON
object, lacks ``event_id``/``event_time``/``mall_id``, or has a time that is not RFC 3339 with an
offset; a field of the wrong JSON type is rejected too, so raw columns stay truthful.
"""

from __future__ import annotations

STRING_FIELDS = ("visitor_id", "event_type", "channel", "url", "referrer", "user_agent", "ip")
INT_FIELDS = ("member_id", "product_id", "order_id")
KNOWN_FIELDS = ("event_id", "event_time", "mall_id", *STRING_FIELDS, *INT_FIELDS)

_AS_JSON = "{" + ", ".join(f'"{name}": "JSON"' for name in KNOWN_FIELDS) + "}"
_RFC3339 = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
_INTEGER_TYPES = "('BIGINT', 'UBIGINT')"


def _absent(field: str) -> str:
    return f"coalesce(json_type(j.{field}), 'NULL') = 'NULL'"


def _optional_type_checks() -> str:
    checks = [
        f"when json_type(j.{name}) not in ('NULL', 'VARCHAR') "
        f"then 'invalid_type: {name} must be a string or null'"
        for name in STRING_FIELDS
    ] + [
        f"when json_type(j.{name}) not in ('NULL', 'BIGINT', 'UBIGINT') "
        f"then 'invalid_type: {name} must be an integer or null'"
        for name in INT_FIELDS
    ]
    return "\n            ".join(checks)


# Input relations: ``batch`` (records.SOURCE_SCHEMA) and ``marks`` (topic, partition,
# primary_mark, rejected_mark). Records both watermarks already cover are skipped unread.
PARSE_SQL = f"""
with fresh as (
    select b.*, m.primary_mark, m.rejected_mark
    from batch b join marks m using (topic, partition)
    where b.topic = 'weblog.events'
        and (b."offset" >= m.primary_mark or b."offset" >= m.rejected_mark)
),
decoded as (
    select *, try(decode(value)) as payload from fresh
),
shaped as (
    select *,
        try(json_type(payload)) as doc_type,
        try(json_transform(payload, '{_AS_JSON}')) as j
    from decoded
),
judged as (
    select *,
        case
            when value is null then 'empty_value: the message has no value'
            when payload is null then 'invalid_utf8: the message is not valid UTF-8'
            when doc_type is null then 'invalid_json: the message is not JSON'
            when doc_type <> 'OBJECT' then 'invalid_json: expected a JSON object, got ' || doc_type
            when {_absent("event_id")} or (j.event_id->>'$') = '' then 'missing_field: event_id'
            when json_type(j.event_id) <> 'VARCHAR' then 'invalid_type: event_id must be a string'
            when {_absent("event_time")} then 'missing_field: event_time'
            when json_type(j.event_time) <> 'VARCHAR'
                or not regexp_full_match(j.event_time->>'$', '{_RFC3339}')
                or try_cast(j.event_time->>'$' as timestamptz) is null
                then 'invalid_time: event_time ' || j.event_time
                    || ' is not an RFC 3339 time with an offset'
            when {_absent("mall_id")} then 'missing_field: mall_id'
            when json_type(j.mall_id) not in {_INTEGER_TYPES}
                then 'invalid_type: mall_id must be an integer'
            {_optional_type_checks()}
        end as reason
    from shaped
)
select
    reason, primary_mark, rejected_mark,
    -- raw.weblog_events columns (without _ingested_at)
    j.event_id->>'$' as event_id,
    try_cast(j.event_time->>'$' as timestamptz) as event_time,
    try_cast(j.mall_id as bigint) as mall_id,
    {", ".join(f"j.{name}->>'$' as {name}" for name in STRING_FIELDS[:6])},
    {", ".join(f"try_cast(j.{name} as bigint) as {name}" for name in INT_FIELDS)},
    j.ip->>'$' as ip,
    payload,
    try(decode(key)) as _kafka_key,
    topic as _kafka_topic,
    partition as _kafka_partition,
    "offset" as _kafka_offset,
    cast(make_timestamp(timestamp_ms * 1000) as timestamptz) as _kafka_timestamp,
    -- raw.rejected_messages columns
    topic, partition, "offset",
    cast(make_timestamp(timestamp_ms * 1000) as timestamptz) as kafka_timestamp,
    key, value
from judged
"""
