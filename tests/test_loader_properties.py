"""Property-based tests of the loader's promise on hostile input, through kcat dumps: whatever
the records hold, `ingest_files` finishes, and every record (one (topic, partition, offset)) is
in exactly one place: its topic's raw table or ``raw.rejected_messages``, once. A CDC tombstone
(value null) carries no data: it is in neither table and is counted in the ingest stats. The
same coordinates twice in a dump are one record; a second ingest of a dump adds nothing.

The message builders take a chooser with ``random.Random``'s ``choice`` and ``randint``: here a
Hypothesis draw (``Draws``), in test_loader_properties_kafka.py a seeded ``random.Random``.
Each builder returns what it sent and, where the contract decides it, where it must end up.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lakehouse.catalog import open_catalog
from lakehouse.tables import CDC_TOPICS, RAW_TABLES, REJECTED_TABLE, WEBLOG_TOPIC, table_for_topic
from loader.service import ingest_files
from loader.settings import LoaderSettings
from loader.sink import BatchStats
from loader.weblog_sql import _RFC3339 as RFC3339
from loader.weblog_sql import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from tests.kcat import envelope_line, write_dump

T = TypeVar("T")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
PLAUSIBLE_TS = 1_769_745_601_000  # 2026-01-30, in epoch milliseconds
PROPERTY_CDC_TOPICS = ("shop.orders", "shop.members")

# Landing places of a record.
LAND, REJECT, TOMBSTONE = "land", "reject", "tombstone"


class Chooser(Protocol):
    def choice(self, seq: Sequence[T]) -> T: ...
    def randint(self, a: int, b: int) -> int: ...


class Draws:
    """A Hypothesis draw behind ``random.Random``'s interface (so failures shrink)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]):
        self._draw = draw

    def choice(self, seq: Sequence[T]) -> T:
        return self._draw(st.sampled_from(seq))

    def randint(self, a: int, b: int) -> int:
        return self._draw(st.integers(a, b))


# ------------------------------------------------------------------ JSON with raw splices


@dataclass(frozen=True)
class Raw:
    """JSON text spliced as it is: what ``json.dumps`` cannot write (nesting 1,000 deep,
    ``1E2``, ``-0``, a lone surrogate escape, ``NaN``)."""

    text: str


def to_json(value: object) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------ messages


@dataclass(frozen=True)
class Message:
    """One Kafka record as produced: the topic, the key and value bytes (None: null), the
    timestamp (None: none), and where it must end up (None: either place is right)."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    ts: int | None = PLAUSIBLE_TS
    expect: str | None = None
    kind: str = ""

    def __repr__(self) -> str:
        def cut(data: bytes | None) -> str:
            return repr(data) if data is None or len(data) <= 300 else f"{data[:300]!r}..."

        return (
            f"Message({self.topic!r}, kind={self.kind!r}, expect={self.expect!r}, "
            f"key={cut(self.key)}, ts={self.ts!r}, value={cut(self.value)})"
        )


def beyond_int64(r: Chooser) -> int:
    """An integer no 64-bit signed column holds: 2^63 to 2^64-1 (unsigned), past 64 bits,
    below -2^63."""
    band = r.choice(("edge", "unsigned 64-bit", "past 64 bits", "below -2^63"))
    if band == "edge":
        return r.choice((2**63, 2**64 - 1, 2**64, 2**70, 10**30, -(2**63) - 1, -(2**64)))
    if band == "unsigned 64-bit":
        return r.randint(2**63, 2**64 - 1)
    if band == "past 64 bits":
        return r.randint(2**64, 2**200)
    return r.randint(-(2**200), -(2**63) - 1)


def in_int64(r: Chooser) -> int:
    return r.choice((1, 7, 0, -1, 123_456, INT64_MAX, INT64_MIN, 2**53 + 1))


def deep_json(r: Chooser, depths: Sequence[int] = (10, 200, 300, 1000)) -> Raw:
    depth = r.choice(depths)
    if r.choice(("array", "object")) == "array":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a": ' * depth + "1" + "}" * depth)


def not_an_integer(r: Chooser) -> object:
    kind = r.choice(("numeric string", "bool", "fraction", "integral float", "exponent",
                     "huge float", "tiny float", "object", "array", "deep"))  # fmt: skip
    if kind == "numeric string":
        return r.choice(("7", "", "-1", str(2**64), "0x10", " 7"))
    if kind == "bool":
        return r.choice((True, False))
    if kind == "fraction":
        return r.choice((1.5, -0.5))
    if kind == "integral float":
        return r.choice((7.0, -0.0, 1e18))
    if kind == "exponent":
        return Raw(r.choice(("1E2", "1e2", "7e0", "1.0e3")))
    if kind == "huge float":
        return r.choice((1e30, -1e30, 1.7976931348623157e308))
    if kind == "tiny float":
        return 5e-324
    if kind == "object":
        return r.choice(({}, {"id": 1}))
    if kind == "array":
        return r.choice(([], [1], [[1]]))
    return deep_json(r)


def not_a_string(r: Chooser) -> object:
    kind = r.choice(("integer", "huge integer", "bool", "float", "object", "array", "deep"))
    if kind == "integer":
        return r.choice((0, 7, -1))
    if kind == "huge integer":
        return beyond_int64(r)
    if kind == "bool":
        return r.choice((True, False))
    if kind == "float":
        return r.choice((1.5, 1e30))
    if kind == "object":
        return r.choice(({}, {"url": "/"}))
    if kind == "array":
        return r.choice(([], ["/"]))
    return deep_json(r)


def large_string(r: Chooser, huge: bool) -> str:
    """Tens of KB (one case of 1 MB), ASCII or multi-byte, with characters JSON escapes."""
    sizes = (10_000, 20_000, 50_000, 1_000_000) if huge else (10_000, 20_000, 50_000)
    unit = r.choice(("x", "é", "한😀", '\\"', "\u2028", "\t"))
    return unit * (r.choice(sizes) // len(unit.encode()))


def invalid_utf8(r: Chooser) -> bytes:
    return r.choice((b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80",
                     b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80"))  # fmt: skip


INVALID_JSON = ("{not json", "{", "", " ", '{"event_id": }', "{'a': 1}", '{"a": 1}}',
                '{"a": 1} {"b": 2}', "[1, 2", '{"a": "unterminated}', "nul\x00l",
                '{"a": 01}', '{"a": .5}', '{"a": +1}', "\ufeff{}")  # fmt: skip
NOT_AN_OBJECT = ("[1, 2]", '"text"', "42", "null", "true", "[]", "1e400", '[{"op": "c"}]')
# JSON text that is not quite JSON, or strings JSON can spell but Unicode cannot.
ODD_VALUES = (Raw('"\\ud800"'), Raw('"a\\udc00b"'), Raw('"a\\u0000b"'), Raw("NaN"),
              Raw("-Infinity"), Raw("1e400"), Raw("-0"), Raw('"\\uFFFF"'))  # fmt: skip


def kafka_timestamp(r: Chooser) -> int | None:
    """Mostly plausible; sometimes none, or an instant no engine holds (kept as null)."""
    return r.choice((PLAUSIBLE_TS, PLAUSIBLE_TS, PLAUSIBLE_TS, None, 0, -1, 2**62, -(2**62),
                     INT64_MAX, INT64_MIN, MAX_TIMESTAMP_MS, MAX_TIMESTAMP_MS + 1,
                     MIN_TIMESTAMP_MS, MIN_TIMESTAMP_MS - 1, 253_402_300_800_000))  # fmt: skip


def hostile_value_bytes(r: Chooser, kind: str, valid: str) -> bytes | None:
    """The value of the message classes both paths share; None for a null value."""
    if kind == "invalid json":
        return r.choice((*INVALID_JSON, valid[: len(valid) // 2])).encode()
    if kind == "not an object":
        return r.choice(NOT_AN_OBJECT).encode()
    if kind == "invalid utf-8":
        cut = r.randint(0, len(valid))
        return valid[:cut].encode() + invalid_utf8(r) + valid[cut:].encode()
    if kind == "empty bytes":
        return b""
    assert kind == "null value", kind
    return None


SHARED_KINDS = ("invalid json", "not an object", "invalid utf-8", "empty bytes", "null value")

# ------------------------------------------------------------------ weblog.events

WEBLOG_REQUIRED = ("event_id", "event_time", "mall_id")
WEBLOG_INTS = ("member_id", "product_id", "order_id")
WEBLOG_STRINGS = ("visitor_id", "event_type", "channel", "url", "referrer", "user_agent", "ip")
VALID_TIMES = ("2026-01-30T13:00:01.123+09:00", "2026-01-30T04:00:01Z", "2026-01-30T04:00:01z",
               "2026-01-30 04:00:01+00:00", "2026-01-30t04:00:01-00:00", "0001-01-01T00:00:00Z",
               "0001-01-01T08:59:59-09:00", "9999-12-31T23:59:59.999999Z",
               "9999-12-31T23:59:59+09:00", "2026-01-30T04:00:01.5+14:00",
               "2999-01-30T04:00:01Z", "1970-01-01T00:00:00Z",
               "1900-02-28T23:59:59-23:59")  # fmt: skip
BAD_TIMES = ("0000-01-30T04:00:01Z", "0000-12-31T23:59:59+09:00", "0001-01-01T00:00:00+09:00",
             "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59-00:01", "10000-01-01T00:00:00Z",
             "2026-01-30T04:00:01+99:00", "2026-01-30T04:00:01-24:00", "2026-01-30T04:00:01+09:60",
             "2026-01-30T04:00:01", "2026-01-30T04:00:01+0900", "2026-01-30T04:00:01 +09:00",
             "2026-02-30T04:00:01Z", "2026-13-01T04:00:01Z", "2026-01-30T25:00:00Z",
             "2026-01-30T04:61:00Z", "2026-01-30T04:00:01.Z", "yesterday", "", " ", "null",
             "1769745601000", "2026-01-30", "04:00:01Z",
             "\uff12\uff10\uff12\uff16-01-30T04:00:01Z",  # full-width digits
             "+2026-01-30T04:00:01Z", "2026-01-30T04:00:01Z garbage",
             "2026-01-30T04:00:01Z\n")  # fmt: skip
# Accepted or refused, either is right: what RFC 3339 and the engines disagree on.
ODD_TIMES = ("2026-01-30T24:00:00Z", "2026-01-30T23:59:60Z", "2026-01-30T04:00:01.123456789Z",
             "2026-01-30T04:00:01." + "1" * 500 + "Z", "2026-01-30T04:00:01,5Z",
             "2026-01-30T04:00:01+00:00:00")  # fmt: skip
GARBAGE_ALPHABET = "0123456789-:+.TZtz é한😀\x00\\\"'"


def garbage_text(r: Chooser) -> str:
    return "".join(r.choice(GARBAGE_ALPHABET) for _ in range(r.randint(0, 24)))


def valid_event(r: Chooser) -> dict[str, object]:
    return {
        "event_id": r.choice(("e-1", "e-2", "0d9c3f1e-6a8b-4c1f-9a57-3b2f5e8d7c61", "é-한-😀")),
        "event_time": r.choice(VALID_TIMES),
        "mall_id": in_int64(r),
        "visitor_id": r.choice(("v-1", "device-9")),
        "member_id": r.choice((None, 1, INT64_MAX, INT64_MIN)),
        "event_type": r.choice(("page_view", "product_view", "purchase")),
        "channel": r.choice(("web", "mobile_web", "app")),
        "url": r.choice(("/", "/product/123", "/search?q=%ED%95%9C")),
        "referrer": r.choice((None, "https://example.com/")),
        "product_id": r.choice((None, 123, INT64_MAX)),
        "order_id": r.choice((None, 77, INT64_MIN)),
        "user_agent": r.choice((None, "test", "Mozilla/5.0")),
        "ip": r.choice((None, "203.0.113.7", "2001:db8::1")),
    }


WEBLOG_KINDS = ("valid", "new field", "beyond int64", "wrong type", "bad time", "odd time",
                "garbage time", "missing field", "large string", "deep nesting", "odd value",
                *SHARED_KINDS)  # fmt: skip


def weblog_message(r: Chooser, *, huge_strings: bool = True, kind: str | None = None) -> Message:
    """A weblog event of ``kind`` (one of ``WEBLOG_KINDS``; drawn when None)."""
    event: dict[str, object] = valid_event(r)
    kind = kind or r.choice(WEBLOG_KINDS)
    expect: str | None = REJECT
    if kind == "valid":
        expect = LAND
    elif kind == "new field":  # producers add fields without notice: they must not matter
        name = r.choice(("utm_source", "payload", "_kafka_offset", "é", "MALL_ID"))
        event[name] = r.choice(("mail", None, 2**70, -(2**70), [1, {"a": 2}], Raw("1e400")))
        expect = LAND
    elif kind == "beyond int64":
        event[r.choice(("mall_id", *WEBLOG_INTS))] = beyond_int64(r)
    elif kind == "wrong type":
        name = r.choice((*WEBLOG_REQUIRED, *WEBLOG_INTS, *WEBLOG_STRINGS))
        if r.choice(("null", "other")) == "null":
            event[name] = None
            expect = REJECT if name in WEBLOG_REQUIRED else LAND
        elif name in ("mall_id", *WEBLOG_INTS):
            event[name] = not_an_integer(r)
        else:
            event[name] = not_a_string(r)
    elif kind == "bad time":
        event["event_time"] = r.choice(BAD_TIMES)
    elif kind == "odd time":
        event["event_time"] = r.choice(ODD_TIMES)
        expect = None
    elif kind == "garbage time":
        event["event_time"] = text = garbage_text(r)
        if re.fullmatch(RFC3339, text, re.ASCII):
            expect = None  # by chance a time after all
    elif kind == "missing field":
        name = r.choice((*WEBLOG_REQUIRED, "event_id empty"))
        if name == "event_id empty":
            event["event_id"] = ""
        else:
            del event[name]
    elif kind == "large string":
        event[r.choice(("url", "user_agent", "event_id", "new_field"))] = large_string(
            r, huge_strings
        )
        expect = LAND
    elif kind == "deep nesting":  # an added field nested deep lands; a known field is a type
        name = r.choice(("extra", "url", "mall_id"))
        event[name] = deep_json(r)
        expect = LAND if name == "extra" else REJECT
    elif kind == "odd value":
        event[r.choice(("url", "event_id", "extra", "mall_id"))] = r.choice(ODD_VALUES)
        expect = None
    valid_text = to_json(event)
    if kind in SHARED_KINDS:
        value = hostile_value_bytes(r, kind, valid_text)
    else:
        value = valid_text.encode()
    key = r.choice((b"v-1", None, b"", b"\xff\xfe", "한".encode()))
    return Message(WEBLOG_TOPIC, value, key, kafka_timestamp(r), expect, kind)


# ------------------------------------------------------------------ Debezium CDC topics

CDC_ROWS: dict[str, tuple[str, ...]] = {
    "orders": ("mall_id", "member_id", "status", "total_amount", "created_at", "paid_at",
               "updated_at"),
    "members": ("mall_id", "email", "status", "joined_at"),
    "products": ("mall_id", "name", "price", "status", "created_at"),
}  # fmt: skip


def valid_row(r: Chooser, table: str, row_id: object) -> dict[str, object]:
    samples: dict[str, tuple[object, ...]] = {
        "mall_id": (1, 12), "member_id": (None, 3, INT64_MAX), "status": ("paid", "active"),
        "total_amount": (30_000, 0, INT64_MAX, INT64_MIN), "price": (9_900,),
        "created_at": (1_769_745_600_000, None, 0), "paid_at": (None, 1_769_745_600_000),
        "updated_at": (1_769_745_600_000,), "joined_at": (1_769_745_600_000, -1),
        "email": ("a@example.com", None), "name": ("상품", ""),
    }  # fmt: skip
    return {"id": row_id, **{c: r.choice(samples[c]) for c in CDC_ROWS[table]}}


CDC_KINDS = ("valid", "beyond int64 in the envelope", "beyond int64 key id", "beyond int64 row id",
             "beyond int64 in the row", "wrong type in the envelope", "wrong type key id",
             "wrong type row id", "wrong type in the row", "bad op", "bad image",
             "large string", "deep nesting", "odd value", "tombstone",
             *SHARED_KINDS[:-1])  # fmt: skip
ENVELOPE_INTS = ("ts_ms", "source.pos", "source.row", "source.ts_ms")


def _set(envelope: dict[str, Any], path: str, value: object) -> None:
    if path.startswith("source."):
        envelope["source"][path.removeprefix("source.")] = value
    else:
        envelope[path] = value


def cdc_key(r: Chooser, form: str, key_id: object) -> bytes | None:
    if form == "id":
        return to_json({"id": key_id}).encode()
    if form == "other id":
        return b'{"id": 9}'
    if form == "not json":
        return b"{not json"
    if form == "not an object":
        return r.choice((b"[5]", b"5", b'"5"', b"\xff"))
    if form == "no id":
        return r.choice((b"{}", b'{"id": null}', b'{"key": 5}'))
    assert form == "none", form
    return None


def nesting(value: object) -> int:
    """How deep arrays and objects nest in a value (``Raw`` from ``deep_json`` included)."""
    if isinstance(value, Raw):
        return value.text.count("[") + value.text.count("{")
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def cdc_message(
    r: Chooser, topic: str, *, huge_strings: bool = True, kind: str | None = None
) -> Message:
    """A Debezium change of ``kind`` (one of ``CDC_KINDS``; drawn when None)."""
    table = topic.removeprefix("shop.")
    row_id: object = in_int64(r)
    op = r.choice(("c", "u", "d", "r"))
    row = valid_row(r, table, row_id)
    envelope: dict[str, Any] = {
        "before": None if op in "cr" else dict(row),
        "after": None if op == "d" else row,
        "op": op,
        "ts_ms": r.choice((PLAUSIBLE_TS, None, 0, INT64_MAX, INT64_MIN)),
        "source": {"db": "shop", "table": table, "file": "mysql-bin.000042",
                   "pos": r.choice((73_311, 0, INT64_MAX, INT64_MIN)),
                   "row": r.choice((0, 1, INT32_MAX, INT32_MIN)),
                   "ts_ms": r.choice((PLAUSIBLE_TS - 1000, None, INT64_MIN))},
    }  # fmt: skip
    if r.choice(("row", "no row")) == "no row":
        del envelope["source"]["row"]  # absent: row 0
    key_id: object = row_id
    key_form = r.choice(("id", "id", "none", "not json", "other id", "not an object", "no id"))
    image = envelope["after"] if envelope["after"] is not None else envelope["before"]
    kind = kind or r.choice(CDC_KINDS)
    expect: str | None = REJECT
    if kind == "valid":
        expect = LAND
    elif kind == "beyond int64 in the envelope":
        name = r.choice(ENVELOPE_INTS)
        number = beyond_int64(r)
        if name == "source.row":  # a 32-bit column
            number = r.choice((number, INT32_MAX + 1, INT32_MIN - 1, 2**32))
        _set(envelope, name, number)
    elif kind == "beyond int64 key id":
        key_form, key_id = "id", beyond_int64(r)
    elif kind == "beyond int64 row id":
        image["id"] = beyond_int64(r)
        if key_form in ("id", "other id"):
            expect = LAND  # the key's id is the row's id: the image's is only data
    elif kind == "beyond int64 in the row":
        image[r.choice(CDC_ROWS[table])] = beyond_int64(r)
        expect = LAND  # raw does not type the row's columns (staging reports them)
    elif kind == "wrong type in the envelope":
        name = r.choice(ENVELOPE_INTS)
        value = r.choice((None, "absent", not_an_integer(r)))
        if value == "absent":
            if name.startswith("source."):
                envelope["source"].pop(name.removeprefix("source."), None)
            else:
                envelope.pop(name, None)
            expect = REJECT if name == "source.pos" else LAND
        else:
            _set(envelope, name, value)
            expect = LAND if value is None and name in ("ts_ms", "source.ts_ms") else REJECT
    elif kind == "wrong type key id":
        key_form, key_id = "id", not_an_integer(r)
    elif kind == "wrong type row id":
        image["id"] = r.choice((None, not_an_integer(r)))
        if key_form in ("id", "other id"):
            expect = LAND
    elif kind == "wrong type in the row":
        image[r.choice(CDC_ROWS[table])] = r.choice((not_an_integer(r), not_a_string(r)))
        expect = LAND
    elif kind == "bad op":
        envelope["op"] = r.choice(("x", "C", "", None, 1, True, ["c"], {"op": "c"}, "delete"))
    elif kind == "bad image":
        what = r.choice(("before", "after", "no row", "source", "source.file", "source.db"))
        if what in ("before", "after", "source"):
            envelope[what] = r.choice(("text", 5, [row], True))
        elif what == "no row":  # a delete without the deleted row, a change without the row
            envelope["before" if op == "d" else "after"] = None
        else:
            _set(envelope, what, r.choice((5, [row], True, {"file": "mysql-bin.000042"})))
    elif kind == "large string":
        image[r.choice(("status", "new_column"))] = large_string(r, huge_strings)
        expect = LAND
    elif kind == "deep nesting":
        depths = (10, 200, 300, 1000, 1030)
        where = r.choice(("row", "envelope"))
        nested = deep_json(r, depths)
        (image if where == "row" else envelope)["nested"] = nested
        # Past the JSON reader's nesting limit it is rejected; deep rows are checked below.
        expect = REJECT if nesting(nested) >= 1020 else LAND
    elif kind == "odd value":
        image[r.choice(("status", "new_column", "mall_id"))] = r.choice(ODD_VALUES)
        expect = None
    elif kind == "tombstone":
        expect = TOMBSTONE
    valid_text = to_json(envelope)
    if kind == "tombstone":
        value = None
    elif kind in SHARED_KINDS:
        value = hostile_value_bytes(r, kind, valid_text)
    else:
        value = valid_text.encode()
    key = cdc_key(r, key_form, key_id)
    if expect == LAND and nesting(image) > 200:
        expect = None  # stored as JSON text again: land it whole, or reject it
    if expect == LAND and key_form in ("none", "not json", "not an object", "no id"):
        # The row's own id stands in for a key without one: it must be a 64-bit integer.
        own = image.get("id")
        if not _is_int(own) or not INT64_MIN <= own <= INT64_MAX:
            expect = REJECT
    return Message(topic, value, key, kafka_timestamp(r), expect, kind)


def message_for(r: Chooser, topic: str, *, huge_strings: bool = True) -> Message:
    if topic == WEBLOG_TOPIC:
        return weblog_message(r, huge_strings=huge_strings)
    return cdc_message(r, topic, huge_strings=huge_strings)


# ------------------------------------------------------------------ dumps


@dataclass(frozen=True)
class Record:
    """A message and where it goes: its partition, the partition's first offset, and the
    gap before it."""

    topic: str
    partition: int
    first_offset: int
    gap: int
    message: Message


@dataclass(frozen=True)
class Placed:
    topic: str
    partition: int
    offset: int
    message: Message

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)


@dataclass(repr=False)
class Dump:
    """Records in file order; a repeated one is the same ``Placed`` again."""

    lines: list[Placed] = field(default_factory=list)

    def __repr__(self) -> str:
        return "Dump([\n" + "".join(f"    {p!r},\n" for p in self.lines) + "])"

    @property
    def records(self) -> dict[tuple[str, int, int], Message]:
        return {p.coordinates: p.message for p in self.lines}

    def write(self, directory: Path) -> None:
        for topic in sorted({p.topic for p in self.lines}):
            write_dump(directory / f"{topic}.jsonl", [dump_line(p) for p in self.lines
                                                      if p.topic == topic])  # fmt: skip


def dump_line(placed: Placed) -> bytes:
    m = placed.message
    key = None if m.key is None else m.key.decode("utf-8", "surrogateescape")
    line = envelope_line(m.topic, placed.partition, placed.offset, m.value, key,
                         ts=-1 if m.ts is None else m.ts)  # fmt: skip
    if m.ts is None:  # kcat: a record without a timestamp
        line = line.replace(b'"tstype": "create"', b'"tstype": "none"', 1)
    return line


def draw_record(r: Chooser, topics: tuple[str, ...]) -> Record:
    topic = r.choice(topics)
    # Offsets: where the partition starts, and gaps (compaction, transaction markers).
    where = (r.randint(0, 2), r.choice((0, 1000, 2**40)), r.choice((0, 0, 0, 1, 7)))
    return Record(topic, *where, message_for(r, topic))


def assemble(records: Sequence[Record], repeats: Sequence[tuple[int, int]]) -> Dump:
    """Numbers the records' offsets per partition; then puts record ``i`` of each repeat
    again, ``j`` lines after it (kcat dumps that overlap, concatenated)."""
    next_offset: dict[tuple[str, int], int] = {}
    dump = Dump()
    for record in records:
        tp = (record.topic, record.partition)
        offset = next_offset.get(tp, record.first_offset) + record.gap
        next_offset[tp] = offset + 1
        dump.lines.append(Placed(*tp, offset, record.message))
    for i, j in repeats:
        index = i % len(dump.lines)
        dump.lines.insert(min(index + 1 + j, len(dump.lines)), dump.lines[index])
    return dump


def build_dump(r: Chooser, topics: tuple[str, ...], max_records: int = 24) -> Dump:
    """A dump from a ``random.Random``: up to ``max_records`` records, up to 3 repeated."""
    records = [draw_record(r, topics) for _ in range(r.randint(1, max_records))]
    repeats = [(r.randint(0, 99), r.randint(0, 99)) for _ in range(r.randint(0, 3))]
    return assemble(records, repeats)


@st.composite
def dumps(draw, topics: tuple[str, ...], max_records: int = 24) -> Dump:
    """The same as ``build_dump`` from Hypothesis: lists shrink record by record."""
    record = st.composite(lambda d: draw_record(Draws(d), topics))()
    records = draw(st.lists(record, min_size=1, max_size=max_records))
    repeats = draw(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=3))
    return assemble(records, repeats)


# ------------------------------------------------------------------ the invariant


def coordinates_by_table(settings: LoaderSettings) -> dict[str, Counter]:
    """Per raw table, how many rows each (topic, partition, offset) has."""
    catalog = open_catalog(settings)
    found = {}
    for name in RAW_TABLES:
        columns = (
            ("topic", "partition", "offset")
            if name == REJECTED_TABLE
            else ("_kafka_topic", "_kafka_partition", "_kafka_offset")
        )
        rows = catalog.load_table(f"raw.{name}").scan(selected_fields=columns).to_arrow()
        found[name] = Counter(zip(*(rows[c].to_pylist() for c in columns), strict=True))
    return found


def check_every_record_in_one_place(
    settings: LoaderSettings, records: dict[tuple[str, int, int], Message]
) -> dict[tuple[str, int, int], str | None]:
    """Each record is in its topic's table or in rejected_messages, once (a tombstone in
    neither), where the contract puts it when it decides; nothing else is in any raw table.
    Returns the table each record is in (None for a tombstone)."""
    found = coordinates_by_table(settings)
    strangers = {name: [c for c in counts if c not in records] for name, counts in found.items()}
    assert not any(strangers.values()), f"rows of records never sent: {strangers}"
    places: dict[tuple[str, int, int], str | None] = {}
    for coordinates, message in records.items():
        tables = [n for n, counts in found.items() for _ in range(counts[coordinates])]
        if message.value is None and message.topic in CDC_TOPICS:
            assert tables == [], f"tombstone {coordinates} is in {tables}: {message!r}"
            places[coordinates] = None
            continue
        own = table_for_topic(message.topic)
        assert tables in ([own], [REJECTED_TABLE]), (
            f"{coordinates} must be in raw.{own} or raw.{REJECTED_TABLE} once, "
            f"is in {tables or 'none'}: {message!r}"
        )
        (places[coordinates],) = tables
        if message.expect is not None:
            wanted = own if message.expect == LAND else REJECTED_TABLE
            assert tables == [wanted], f"{coordinates} must be in raw.{wanted}: {message!r}"
    return places


def check_stats(stats: BatchStats, dump: Dump) -> None:
    """Every line of the dump is counted once: as a row, a tombstone or already loaded."""
    tombstone_lines = [p for p in dump.lines if p.message.value is None
                       and p.topic in CDC_TOPICS]  # fmt: skip
    assert stats.records == len(dump.lines)
    assert sum(stats.rows.values()) + stats.tombstones + stats.skipped_already_loaded == len(
        dump.lines
    ), stats
    assert len({p.coordinates for p in tombstone_lines}) <= stats.tombstones
    assert stats.tombstones <= len(tombstone_lines)


def check_ingest(dump: Dump, *, chunk_bytes: int | None = None, batch_records: int = 500_000):
    """Ingests the dump into a fresh Iceberg home, twice: the invariant after the first, and
    nothing added by the second. Returns what the first ingest landed where."""
    with tempfile.TemporaryDirectory(prefix="loader-property-") as tmp:
        directory = Path(tmp) / "in"
        dump.write(directory)
        settings = LoaderSettings(home=Path(tmp) / "home", batch_records=batch_records)
        if chunk_bytes is not None:  # small chunks: batches and commits split the dump
            settings = settings.model_copy(update={"dump_chunk_bytes": chunk_bytes})
        stats = ingest_files(settings, directory, show_progress=False)
        check_stats(stats, dump)
        places = check_every_record_in_one_place(settings, dump.records)
        before = coordinates_by_table(settings)
        again = ingest_files(settings, directory, show_progress=False)
        assert again.rows == {}, f"the second ingest of the same dump added {again.rows}"
        assert again.records == len(dump.lines)
        assert again.skipped_already_loaded + again.tombstones == again.records, again
        assert coordinates_by_table(settings) == before
        return settings, places, table_rows(settings)


def table_rows(settings: LoaderSettings) -> dict[str, list[dict]]:
    catalog = open_catalog(settings)
    return {n: catalog.load_table(f"raw.{n}").scan().to_arrow().to_pylist() for n in RAW_TABLES}


PROPERTY_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}


def tally(dump: Dump) -> None:
    """Shows a failing dump whole, and tallies what the examples held (`pytest
    --hypothesis-show-statistics`)."""
    note(repr(dump))
    for kind in sorted({f"{p.topic}: {p.message.kind}" for p in dump.lines}):
        event(kind)
    event(f"records: {len(dump.records)}, lines repeated: {len(dump.lines) - len(dump.records)}")


@hypothesis_settings(max_examples=50, **PROPERTY_SETTINGS)
@given(dump=dumps((WEBLOG_TOPIC,)))
def test_weblog_dump_every_record_lands_or_is_rejected_exactly_once(dump: Dump):
    tally(dump)
    check_ingest(dump)


@hypothesis_settings(max_examples=70, **PROPERTY_SETTINGS)
@given(dump=dumps(PROPERTY_CDC_TOPICS))
def test_cdc_dump_every_record_lands_is_rejected_or_is_a_tombstone_exactly_once(dump: Dump):
    tally(dump)
    check_ingest(dump)


@hypothesis_settings(max_examples=15, **PROPERTY_SETTINGS)
@given(
    dump=dumps((WEBLOG_TOPIC, *PROPERTY_CDC_TOPICS), max_records=30),
    chunk_bytes=st.sampled_from((256, 1024, 4096)),
    batch_records=st.sampled_from((1, 3, 10)),
)
def test_dumps_split_over_many_batches_and_commits_keep_every_record_once(
    dump: Dump, chunk_bytes: int, batch_records: int
):
    """Small read chunks and commit bounds: a repeated record may come back in a later batch,
    after its first copy was committed."""
    tally(dump)
    check_ingest(dump, chunk_bytes=chunk_bytes, batch_records=batch_records)


# ------------------------------------------------------------------ exact values


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def canonical(value: object) -> str:
    """One spelling of a JSON value, integers kept exact (1.8e19 and 2^64 stay different)."""
    return json.dumps(value, sort_keys=True)


def expected_timestamp(ts: int | None) -> int | None:
    if ts is None or not MIN_TIMESTAMP_MS <= ts <= MAX_TIMESTAMP_MS:
        return None
    return ts


def check_landed_values(settings, places, rows, records) -> None:
    """A landed record holds the value sent: the payload byte for byte, each typed column the
    value of its field, before/after the images sent; its Kafka timestamp, or null when no
    engine holds that instant."""
    by_coordinates = {}
    for name, in_table in rows.items():
        for row in in_table:
            if name == REJECTED_TABLE:
                by_coordinates[(row["topic"], row["partition"], row["offset"])] = row
            else:
                coordinates = (row["_kafka_topic"], row["_kafka_partition"], row["_kafka_offset"])
                by_coordinates[coordinates] = row
    for coordinates, place in places.items():
        message = records[coordinates]
        if place is None:
            continue
        row = by_coordinates[coordinates]
        stamp = row["kafka_timestamp" if place == REJECTED_TABLE else "_kafka_timestamp"]
        stamp_ms = None if stamp is None else (stamp - EPOCH) // timedelta(milliseconds=1)
        assert stamp_ms == expected_timestamp(message.ts), (coordinates, stamp, message)
        if place == REJECTED_TABLE:
            assert row["value"] == message.value, coordinates
            assert row["key"] == message.key, coordinates
            assert row["reason"].split(":")[0] in (
                "empty_value", "invalid_utf8", "invalid_json", "missing_field", "invalid_type",
                "invalid_time", "out_of_range", "invalid_op",
            ), row["reason"]  # fmt: skip
            continue
        assert message.value is not None
        assert row["payload"] == message.value.decode(), coordinates
        try:
            sent = json.loads(message.value)
            if message.topic == WEBLOG_TOPIC:
                for name in ("event_id", "mall_id", *WEBLOG_INTS, *WEBLOG_STRINGS):
                    assert row[name] == sent.get(name), (coordinates, name, message)
                continue
            for image in ("before", "after"):
                landed = None if row[image] is None else canonical(json.loads(row[image]))
                wanted = None if sent[image] is None else canonical(sent[image])
                assert landed == wanted, (coordinates, image, row[image][:300], message)
        except RecursionError:
            continue  # nested deeper than Python's json goes: the payload was compared


@hypothesis_settings(max_examples=25, **PROPERTY_SETTINGS)
@given(dump=dumps((WEBLOG_TOPIC, *PROPERTY_CDC_TOPICS)))
def test_landed_records_keep_the_exact_values_sent(dump: Dump):
    tally(dump)
    settings, places, rows = check_ingest(dump)
    check_landed_values(settings, places, rows, dump.records)


# ------------------------------------------------------------------ found by the properties
# The smallest inputs the properties above shrank failures to, kept as plain cases.


def _orders_change(**changes: object) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "before": None, "after": {"id": 5, "mall_id": 1, "total_amount": 30_000}, "op": "c",
        "ts_ms": PLAUSIBLE_TS,
        "source": {"db": "shop", "table": "orders", "file": "mysql-bin.000042", "pos": 10,
                   "row": 0, "ts_ms": PLAUSIBLE_TS},
    }  # fmt: skip
    envelope.update(changes)
    return envelope


def _orders(*messages: Message) -> Dump:
    return Dump([Placed("shop.orders", 0, o, m) for o, m in enumerate(messages)])


def _order_change(key: bytes = b'{"id": 5}', expect: str | None = None, **changes) -> Message:
    value = to_json(_orders_change(**changes)).encode()
    return Message("shop.orders", value, key, expect=expect)


VALID_ORDER = _order_change(expect=LAND)


def _event(event_time: str) -> Message:
    event = {"event_id": "e", "event_time": event_time, "mall_id": 1}
    return Message(WEBLOG_TOPIC, to_json(event).encode(), expect=LAND)


FOUND: dict[str, Dump] = {
    # parse_cdc: `op not in CDC_OPS` hashes op; a list or an object raises TypeError.
    "cdc op is a list": _orders(_order_change(op=["c"], expect=REJECT), VALID_ORDER),
    "cdc op is an object": _orders(_order_change(op={}, expect=REJECT), VALID_ORDER),
    # parse_cdc: orjson reads 1,024 levels but writes 254; `after` is written again.
    "cdc after nested 300 deep": _orders(
        _order_change(after={"id": 5, "nested": Raw("[" * 300 + "]" * 300)}), VALID_ORDER
    ),
    # file_source: a chunk whose every line is not UTF-8 leaves pyarrow an empty block.
    "a dump of one record that is not UTF-8": Dump(
        [Placed(WEBLOG_TOPIC, 0, 0, Message(WEBLOG_TOPIC, b"\xff", expect=REJECT))]
    ),
    "a dump of one record whose key is not UTF-8": _orders(
        Message("shop.orders", VALID_ORDER.value, b"\xff", expect=LAND)
    ),
    # RFC 3339 (5.6) allows a lower-case t and z; the loader's pattern does too, its cast not.
    "weblog time with a lower-case t and z": Dump(
        [
            Placed(WEBLOG_TOPIC, 0, o, _event(t))
            for o, t in enumerate(("2026-01-30t04:00:01Z", "2026-01-30T04:00:01z"))
        ]
    ),
}


@pytest.mark.parametrize("dump", [pytest.param(d, id=k) for k, d in FOUND.items()])
def test_minimal_inputs_found_by_the_properties(dump: Dump):
    check_ingest(dump)


@pytest.mark.parametrize("amount", [2**64, 2**70, -(2**63) - 1])
def test_a_cdc_amount_past_64_bits_lands_with_its_exact_digits(amount: int):
    """The row is landed (raw does not type row columns; staging reports the value): its
    ``after`` must say what was sent, not a float that rounds it."""
    after = {"id": 5, "mall_id": 1, "total_amount": amount}
    _, _, rows = check_ingest(_orders(_order_change(after=after, expect=LAND)))
    (row,) = rows["shop_orders"]
    assert json.loads(row["after"])["total_amount"] == amount
    assert isinstance(json.loads(row["after"])["total_amount"], int), row["after"]
