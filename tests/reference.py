"""An independent calculation of the visitor statistics of metrics.md, straight from the dumps.

Plain Python over the kcat files, sharing no code with the loader or dbt, so the end-to-end
test compares two implementations of the same definitions.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")
SESSION_GAP = timedelta(minutes=30)
PAGE_VIEW_TYPES = {"page_view", "product_view"}


@dataclass(frozen=True)
class Event:
    event_id: str
    at: datetime  # KST local
    mall_id: int
    visitor_id: str | None
    member_id: int | None
    event_type: str | None
    url: str | None
    product_id: int | None


def _path(url: object) -> str | None:
    """A URL without query string and fragment (they may carry tokens and e-mails)."""
    return url.split("#")[0].split("?")[0] if isinstance(url, str) else None


def _deep_json(text: str) -> object:
    """JSON however deeply nested: a weblog payload is valid at any depth (extra fields
    nested thousands of levels deep are kept, as the loader keeps them)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(limit)


def _int64(value: object) -> bool:
    """An id topics.md allows: absent/null, or an integer that fits 64 bits."""
    return value is None or (type(value) is int and -(2**63) <= value < 2**63)


def _valid_event(payload: str | None) -> Event | None:
    """topics.md: JSON object with event_id, an RFC 3339 event_time with offset, mall_id."""
    if payload is None:
        return None
    try:
        doc = _deep_json(payload)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    event_id, event_time, mall_id = doc.get("event_id"), doc.get("event_time"), doc.get("mall_id")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_time, str):
        return None
    if not _int64(mall_id) or mall_id is None:
        return None
    if not all(_int64(doc.get(f)) for f in ("member_id", "product_id", "order_id")):
        return None
    try:
        moment = datetime.fromisoformat(event_time.upper())  # RFC 3339 allows t and z
        at = moment.astimezone(UTC) and moment.astimezone(KST).replace(tzinfo=None)
    except (ValueError, OverflowError):  # not a time, or outside years 1-9999 in UTC or KST
        return None
    if moment.tzinfo is None or "T" not in event_time.upper():
        return None
    return Event(
        event_id=event_id,
        at=at,
        mall_id=mall_id,
        visitor_id=doc.get("visitor_id"),
        member_id=doc.get("member_id"),
        event_type=doc.get("event_type"),
        url=_path(doc.get("url")),
        product_id=doc.get("product_id"),
    )


def load_events(directory: Path) -> list[Event]:
    """Valid weblog events, deduplicated by event_id (the first delivery kept)."""
    seen: dict[str, Event] = {}
    for line in (directory / "weblog.events.jsonl").read_bytes().splitlines():
        envelope = json.loads(line.decode("utf-8", "surrogateescape"))
        payload = envelope["payload"]
        try:
            payload.encode("utf-8") if payload is not None else None
        except UnicodeEncodeError:
            continue  # bytes that were not UTF-8
        event = _valid_event(payload)
        if event is not None and event.event_id not in seen:
            seen[event.event_id] = event
    return list(seen.values())


@dataclass
class Bucket:
    visitors: set = field(default_factory=set)
    members: set = field(default_factory=set)
    page_views: int = 0
    hits: int = 0
    sessions: int = 0

    def figures(self) -> dict[str, int]:
        return {
            "visitors": len(self.visitors),
            "page_views": self.page_views,
            "hits": self.hits,
            "sessions": self.sessions,
            "members_visited": len(self.members),
        }


def _keys(at: datetime) -> dict[str, object]:
    return {
        "hour": at.replace(minute=0, second=0, microsecond=0),
        "day": at.date(),
        "month": date(at.year, at.month, 1),
    }


@dataclass
class VisitorStats:
    # (grain, mall_id or None, bucket start) -> Bucket
    buckets: dict[tuple[str, int | None, object], Bucket]
    top_pages: dict[tuple[date, int], list[tuple[str, int]]]
    top_products: dict[tuple[date, int], list[tuple[int, int]]]

    def figures(self, grain: str, mall_id: int | None, start: object) -> dict[str, int]:
        bucket = self.buckets.get((grain, mall_id, start))
        return (bucket or Bucket()).figures()

    def days(self) -> list[date]:
        return sorted({k[2] for k in self.buckets if k[0] == "day"})

    def malls(self) -> list[int]:
        return sorted({k[1] for k in self.buckets if k[1] is not None})

    def top_malls(self, day: date, limit: int = 100) -> list[tuple[int, int]]:
        ranked = sorted(
            ((mall, b.figures()["visitors"]) for (g, mall, d), b in self.buckets.items()
             if g == "day" and d == day and mall is not None),
            key=lambda item: (-item[1], item[0]),
        )  # fmt: skip
        return ranked[:limit]


def visitor_stats(events: list[Event]) -> VisitorStats:
    buckets: dict[tuple[str, int | None, object], Bucket] = defaultdict(Bucket)
    page_counts: dict[tuple[date, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    product_counts: dict[tuple[date, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for event in events:
        for grain, start in _keys(event.at).items():
            for mall in (event.mall_id, None):
                bucket = buckets[(grain, mall, start)]
                bucket.hits += 1
                if event.visitor_id is not None:
                    bucket.visitors.add(event.visitor_id)
                if event.member_id is not None:
                    bucket.members.add(event.member_id)
                if event.event_type in PAGE_VIEW_TYPES:
                    bucket.page_views += 1
        day = event.at.date()
        if event.event_type in PAGE_VIEW_TYPES and event.url is not None:
            page_counts[(day, event.mall_id)][event.url] += 1
        if event.event_type == "product_view" and event.product_id is not None:
            product_counts[(day, event.mall_id)][event.product_id] += 1

    # Sessions: per visitor and mall, split where the gap exceeds 30 minutes.
    timelines: dict[tuple[int, str | None], list[datetime]] = defaultdict(list)
    for event in events:
        timelines[(event.mall_id, event.visitor_id)].append(event.at)
    for (mall, _visitor), times in timelines.items():
        times.sort()
        previous = None
        for at in times:
            if previous is None or at - previous > SESSION_GAP:
                for grain, start in _keys(at).items():
                    buckets[(grain, mall, start)].sessions += 1
                    buckets[(grain, None, start)].sessions += 1
            previous = at

    top_pages = {
        key: sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        for key, counts in page_counts.items()
    }
    top_products = {
        key: sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        for key, counts in product_counts.items()
    }
    return VisitorStats(dict(buckets), top_pages, top_products)
