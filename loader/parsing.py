"""Turns Debezium change messages into typed raw rows, or into a rejection with its reason.

Low volume, so plain Python; the high-volume weblog topic is validated in ``weblog_sql``.

Nothing here raises on bad input: a broken message is a value (``Rejection``) so that the
caller keeps it aside and goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson


@dataclass(slots=True, frozen=True)
class Rejection:
    code: str
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


def _decode_json(value: bytes | None) -> object | Rejection:
    if value is None:
        return Rejection("empty_value", "the message has no value")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as utf8_error:
            return Rejection("invalid_utf8", str(utf8_error))
        return Rejection("invalid_json", str(exc))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)


def _fits(value: object, bounds: tuple[int, int]) -> bool:
    """An int (bool is not) within ``bounds``: what ``_integer_problem`` accepts, in one test."""
    return type(value) is int and bounds[0] <= value <= bounds[1]  # type: ignore[operator]


def _integer_problem(name: str, value: object, bounds: tuple[int, int] = INT64) -> Rejection | None:
    """Why a value cannot be stored in an integer column of that range (None when it can)."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2**63:
        # JSON integers past 64 bits reach Python as floats from orjson.
        return Rejection("out_of_range", f"{name} {value:.0f} is beyond the 64-bit integer range")
    if not _is_int(value):
        return Rejection("invalid_type", f"{name} must be an integer")
    if not bounds[0] <= value <= bounds[1]:  # type: ignore[operator]
        bits = 64 if bounds == INT64 else 32
        return Rejection("out_of_range", f"{name} {value} is beyond the {bits}-bit integer range")
    return None


# ---------------------------------------------------------------- Debezium CDC

# orjson reads JSON nested up to 1,024 levels but writes only up to 254.
MAX_IMAGE_DEPTH = 254


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _has_float(value: object, depth: int = 0) -> bool:
    """Whether orjson's ``value`` holds a float at any depth up to MAX_IMAGE_DEPTH. Scalars
    are judged in the loop, without a call each: an image is mostly a flat row."""
    if isinstance(value, float):
        return True
    if depth > MAX_IMAGE_DEPTH:
        return False
    if isinstance(value, dict):
        values: Iterable[object] = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return False
    for item in values:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and _has_float(item, depth + 1)):
            return True
    return False


def _exact_images(value: bytes, before: object, after: object) -> tuple | Rejection:
    """``before`` and ``after`` as JSON text holding exactly the values sent. orjson turns
    integers past 64 bits into floats, so an image with a float is read again with Python's
    json, whose integers have no limit (rare: amounts and ids are integers)."""
    if _has_float(before) or _has_float(after):
        import json

        try:
            doc = json.loads(value)
            before, after = doc.get("before"), doc.get("after")
            return tuple(None if i is None else json.dumps(i, separators=(",", ":"))
                         for i in (before, after))  # fmt: skip
        except (ValueError, RecursionError):
            pass  # as orjson writes them, below
    try:
        return (
            None if before is None else orjson.dumps(before).decode(),
            None if after is None else orjson.dumps(after).decode(),
        )
    except (orjson.JSONEncodeError, TypeError) as exc:
        return Rejection(
            "invalid_json",
            f"before/after nested deeper than {MAX_IMAGE_DEPTH} levels cannot be stored ({exc})",
        )


CDC_OPS = frozenset(("c", "u", "d", "r"))


def _key_id(key: bytes | None) -> int | None:
    if not key:
        return None
    try:
        doc = orjson.loads(key)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict) and doc.get("id") is not None:
        return doc["id"]
    return None


def parse_cdc(key: bytes | None, value: bytes | None) -> tuple | Rejection | None:
    """A row of the CDC columns before ``payload`` (the message itself, and its Kafka
    columns, are the caller's); ``None`` for a tombstone (no data)."""
    if value is None:
        return None
    doc = _decode_json(value)
    if isinstance(doc, Rejection):
        return doc
    if not isinstance(doc, dict):
        return Rejection("invalid_json", f"expected a Debezium envelope, got {type(doc).__name__}")

    op = doc.get("op")
    if not isinstance(op, str) or op not in CDC_OPS:
        return Rejection("invalid_op", f"op {_shown(op)} is not one of c, u, d, r")
    before, after = doc.get("before"), doc.get("after")
    if before is not None and not isinstance(before, dict):
        return Rejection("invalid_type", "before must be an object or null")
    if after is not None and not isinstance(after, dict):
        return Rejection("invalid_type", "after must be an object or null")
    if op == "d" and before is None:
        return Rejection("missing_field", "before (a delete must carry the deleted row)")
    if op != "d" and after is None:
        return Rejection("missing_field", f"after (op {op} must carry the row)")

    source = doc.get("source")
    if not isinstance(source, dict):
        return Rejection("missing_field", "source")
    source_file, source_pos = source.get("file"), source.get("pos")
    if not isinstance(source_file, str) or source_pos is None:
        return Rejection("missing_field", "source.file / source.pos (the change's position)")
    source_row = source.get("row", 0)
    ts_ms, source_ts_ms = doc.get("ts_ms"), source.get("ts_ms")
    # The usual envelope passes at once (orjson's integers are exactly int); any other is
    # judged field by field, for the reason.
    if not (
        _fits(source_pos, INT64)
        and _fits(source_row, INT32)
        and (ts_ms is None or _fits(ts_ms, INT64))
        and (source_ts_ms is None or _fits(source_ts_ms, INT64))
    ):
        for name, number, bounds in (
            ("source.pos", source_pos, INT64),
            ("source.row", source_row, INT32),
            ("ts_ms", ts_ms, INT64),
            ("source.ts_ms", source_ts_ms, INT64),
        ):
            if (number is not None or name in ("source.pos", "source.row")) and (
                problem := _integer_problem(name, number, bounds)
            ):
                return problem

    source_db, source_table = source.get("db"), source.get("table")
    if not (
        (source_db is None or isinstance(source_db, str))
        and (source_table is None or isinstance(source_table, str))
    ):
        return Rejection("invalid_type", "source.db and source.table must be strings")

    row_id = _key_id(key)
    if row_id is None:
        image = after if after is not None else before
        row_id = image.get("id")  # type: ignore[union-attr]
    if row_id is None:
        return Rejection("missing_field", "id (neither the key nor the row carries an id)")
    if not _fits(row_id, INT64) and (problem := _integer_problem("id", row_id)):
        return problem

    images = _exact_images(value, before, after)
    if isinstance(images, Rejection):
        return images
    return (
        row_id,
        op,
        *images,
        ts_ms,
        source_db,
        source_table,
        source_file,
        source_pos,
        source_row,
        source_ts_ms,
    )
