"""A late event that moves a visitor's first day earlier: one weblog record, as a kcat -J
line, for a visitor whose first event in a mall is on one day, dated on an earlier day and
delivered after every record of the dump (the generator's late events are hours late and
rarely cross a visitor's first day; this one does, on purpose)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from tests.kcat import envelope_line, weblog_event
from tests.reference import Event, load_events

WEBLOG_DUMP = "weblog.events.jsonl"


def first_days(events: list[Event]) -> dict[tuple[int, str], date]:
    """Each (mall, visitor)'s first KST day."""
    first: dict[tuple[int, str], date] = {}
    for event in events:
        if event.visitor_id is not None:
            key = (event.mall_id, event.visitor_id)
            first[key] = min(first.get(key, event.at.date()), event.at.date())
    return first


def late_first_visit(
    topics: Path, *, new_on: date, late_on: date, event_id: str, seen_in_lines: int | None = None
) -> tuple[tuple[int, str], bytes]:
    """The first (mall, visitor), by mall then id, whose first event is on ``new_on`` (among
    the first ``seen_in_lines`` records of the weblog dump when given, so a build that read
    only those counted them new on ``new_on``), and a page view of theirs at 21:00 KST on
    ``late_on``: the next offset of partition 0, one second after the dump's last record."""
    every = first_days(load_events(topics))
    early = first_days(load_events(topics, lines=seen_in_lines)) if seen_in_lines else every
    mall, visitor = min(k for k, day in every.items() if day == new_on and early.get(k) == new_on)
    records = [
        json.loads(line.decode("utf-8", "surrogateescape"))
        for line in (topics / WEBLOG_DUMP).read_bytes().splitlines()
    ]
    offset = 1 + max(r["offset"] for r in records if r["partition"] == 0)
    payload = weblog_event(event_id, f"{late_on}T21:00:00+09:00", mall, visitor_id=visitor,
                           user_agent=None, ip=None)  # fmt: skip
    line = envelope_line("weblog.events", 0, offset, payload, visitor,
                         ts=1000 + max(r["ts"] for r in records))  # fmt: skip
    return (mall, visitor), line
