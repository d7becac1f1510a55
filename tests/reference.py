"""An independent calculation of the visitor statistics of metrics.md, straight from the dumps.

Plain Python over the kcat files, sharing no code with the loader or dbt, so the end-to-end
test compares two implementations of the same definitions.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
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
    channel: str | None = None
    referrer: str | None = None  # as sent: the traffic source reads it whole


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
        channel=doc.get("channel"),
        referrer=doc.get("referrer"),
    )


def load_events(directory: Path, lines: int | None = None) -> list[Event]:
    """Valid weblog events, deduplicated by event_id (the first delivery kept); of the first
    ``lines`` records of the dump when given."""
    seen: dict[str, Event] = {}
    for line in (directory / "weblog.events.jsonl").read_bytes().splitlines()[:lines]:
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


# ---------------------------------------------------------------------- visitor analytics


def traffic_source(referrer: object) -> str:
    """metrics.md: null or empty is (direct); else the host, lowercased, without one leading
    www. or m.; no host is (unknown). The host as Python's URL parser finds it."""
    if referrer is None or referrer == "":
        return "(direct)"
    try:
        host = urlsplit(str(referrer)).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host:
        return "(unknown)"
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


@dataclass
class Session:
    mall_id: int
    first: Event
    last_at: datetime
    events: int

    @property
    def seconds(self) -> int:
        return (self.last_at - self.first.at) // timedelta(seconds=1)


def sessions_of(events: list[Event]) -> list[Session]:
    """metrics.md: per mall and visitor, split where a gap exceeds 30 minutes; the first
    event is the earliest, of equal times the smaller event_id."""
    timelines: dict[tuple[int, str | None], list[Event]] = defaultdict(list)
    for event in events:
        timelines[(event.mall_id, event.visitor_id)].append(event)
    sessions: list[Session] = []
    for (mall, _visitor), timeline in timelines.items():
        timeline.sort(key=lambda e: (e.at, e.event_id))
        current: Session | None = None
        for event in timeline:
            if current is None or event.at - current.last_at > SESSION_GAP:
                current = Session(mall, event, event.at, 0)
                sessions.append(current)
            current.last_at, current.events = event.at, current.events + 1
    return sessions


@dataclass
class ChannelBucket:
    visitors: set = field(default_factory=set)
    hits: int = 0
    sessions: int = 0

    def figures(self) -> dict[str, int]:
        return {"visitors": len(self.visitors), "sessions": self.sessions, "hits": self.hits}


@dataclass
class EngagementBucket:
    sessions: int = 0
    bounces: int = 0
    session_seconds: int = 0

    def figures(self) -> dict[str, object]:
        return {
            "sessions": self.sessions,
            "bounces": self.bounces,
            "bounce_rate": self.bounces / self.sessions if self.sessions else None,
            "session_seconds": self.session_seconds,
            "avg_session_seconds": self.session_seconds / self.sessions if self.sessions else None,
        }


@dataclass
class VisitorAnalytics:
    # (grain "day"/"month", mall_id or None, bucket start, channel) -> ChannelBucket
    channels: dict[tuple[str, int | None, date, str], ChannelBucket]
    # (grain, mall_id or None, bucket start) -> EngagementBucket
    engagement: dict[tuple[str, int | None, date], EngagementBucket]
    landing_pages: dict[tuple[date, int], list[tuple[str, int]]]
    sources: dict[tuple[date, int], list[tuple[str, int]]]


def _day_and_month(at: datetime) -> dict[str, date]:
    return {"day": at.date(), "month": date(at.year, at.month, 1)}


def visitor_analytics(events: list[Event], limit: int = 20) -> VisitorAnalytics:
    channels: dict[tuple[str, int | None, date, str], ChannelBucket] = defaultdict(ChannelBucket)
    engagement: dict[tuple[str, int | None, date], EngagementBucket] = defaultdict(EngagementBucket)
    landings: dict[tuple[date, int], Counter] = defaultdict(Counter)
    sources: dict[tuple[date, int], Counter] = defaultdict(Counter)
    for event in events:
        channel = event.channel if event.channel is not None else "unknown"
        for grain, start in _day_and_month(event.at).items():
            for mall in (event.mall_id, None):
                bucket = channels[(grain, mall, start, channel)]
                bucket.hits += 1
                if event.visitor_id is not None:
                    bucket.visitors.add(event.visitor_id)
    for session in sessions_of(events):
        first = session.first
        channel = first.channel if first.channel is not None else "unknown"
        for grain, start in _day_and_month(first.at).items():
            for mall in (session.mall_id, None):
                channels[(grain, mall, start, channel)].sessions += 1
                figures = engagement[(grain, mall, start)]
                figures.sessions += 1
                figures.bounces += session.events == 1
                figures.session_seconds += session.seconds
        day = first.at.date()
        if first.url is not None:
            landings[(day, session.mall_id)][first.url] += 1
        sources[(day, session.mall_id)][traffic_source(first.referrer)] += 1

    def top(counts: Counter) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    return VisitorAnalytics(
        dict(channels),
        dict(engagement),
        {key: top(counts) for key, counts in landings.items()},
        {key: top(counts) for key, counts in sources.items()},
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass
class VisitorLoyalty:
    # (grain "day"/"month", mall_id or None, bucket start) -> visitors, new, returning
    new_returning: dict[tuple[str, int | None, date], dict[str, int]]
    # (mall_id or None, cohort week's Monday, week offset) -> (cohort_size, retained)
    retention: dict[tuple[int | None, date, int], tuple[int, int]]


def visitor_loyalty(events: list[Event]) -> VisitorLoyalty:
    """metrics.md: new in the bucket of the first event (in the mall; platform-wide: anywhere),
    weekly cohorts of that first event followed to the last week with data."""
    seen = [e for e in events if e.visitor_id is not None]
    first: dict[tuple[int | None, str], date] = {}
    weeks_of: dict[tuple[int | None, str], set[date]] = defaultdict(set)
    visitors: dict[tuple[str, int | None, date], set[str]] = defaultdict(set)
    for event in seen:
        day = event.at.date()
        for mall in (event.mall_id, None):
            key = (mall, event.visitor_id)
            first[key] = min(first.get(key, day), day)
            weeks_of[key].add(_monday(day))
            for grain, start in _day_and_month(event.at).items():
                visitors[(grain, mall, start)].add(event.visitor_id)
    new_returning = {}
    for (grain, mall, start), who in visitors.items():

        def bucket_of(day: date, grain: str = grain) -> date:
            return day if grain == "day" else date(day.year, day.month, 1)

        new = sum(1 for v in who if bucket_of(first[(mall, v)]) == start)
        new_returning[(grain, mall, start)] = {
            "visitors": len(who), "new_visitors": new, "returning_visitors": len(who) - new,
        }  # fmt: skip
    all_weeks = sorted({_monday(e.at.date()) for e in seen})
    cohorts: dict[tuple[int | None, date], list[set[date]]] = defaultdict(list)
    for (mall, _visitor), day in first.items():
        cohorts[(mall, _monday(day))].append(weeks_of[(mall, _visitor)])
    retention = {}
    for (mall, cohort), members in cohorts.items():
        for week in (w for w in all_weeks if w >= cohort):
            retained = sum(1 for weeks in members if week in weeks)
            retention[(mall, cohort, (week - cohort).days // 7)] = (len(members), retained)
    return VisitorLoyalty(new_returning, retention)
