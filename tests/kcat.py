"""Writes kcat -J dumps by hand, for tests that need exact control over every record."""

from __future__ import annotations

import json
from pathlib import Path


def envelope_line(
    topic: str,
    partition: int,
    offset: int,
    payload: str | bytes | None,
    key: str | None = None,
    ts: int = 1_769_745_601_000,
) -> bytes:
    if isinstance(payload, bytes):
        # kcat writes non-UTF-8 message bytes into the line as they are.
        payload = payload.decode("utf-8", "surrogateescape")
    record = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "tstype": "create",
        "ts": ts,
        "broker": 1,
        "key": key,
        "payload": payload,
    }
    return json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"


def write_dump(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))


def weblog_event(event_id: str, event_time: str, mall_id: int = 1, **fields: object) -> str:
    event = {
        "event_id": event_id,
        "event_time": event_time,
        "mall_id": mall_id,
        "visitor_id": "v-1",
        "member_id": None,
        "event_type": "page_view",
        "channel": "web",
        "url": "/",
        "referrer": None,
        "product_id": None,
        "order_id": None,
        "user_agent": "test",
        "ip": "203.0.113.7",
    }
    event.update(fields)
    return json.dumps(event)


def cdc_change(op: str, before: dict | None, after: dict | None, pos: int, table: str) -> str:
    return json.dumps(
        {
            "before": before,
            "after": after,
            "op": op,
            "ts_ms": 1_769_745_601_000,
            "source": {
                "db": "shop",
                "table": table,
                "file": "mysql-bin.000001",
                "pos": pos,
                "row": 0,
                "ts_ms": 1_769_745_600_000,
            },
        }
    )
