"""A realistic, deterministic data set for every topic of topics.md, written as kcat -J dumps.

Visitors browse in sessions (a KST day/night rhythm, a few big malls and a long tail; half of
the sessions by visitors new to the mall, some of whom come back over the weeks), some
log in, view products, fill carts and buy; purchases become orders in the shop database, whose
changes (and those of members, products, carts, coupons and app installs) flow as Debezium
change events. Every producer fault of topics.md is injected at a small, counted share:
retries, KST and UTC offsets, late and out-of-order events, broken messages, fields added
mid-stream, deletes with tombstones, redelivered changes, and business values of the wrong
type ("x" as an amount, a row without its mall).

Records are produced in time order and held in a heap only until their arrival time has
passed, so memory follows the events in flight, not the size of a day.
"""

from __future__ import annotations

import heapq
import json
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lakehouse.tables import ALL_TOPICS, CDC_PARTITIONS, CDC_TABLES, WEBLOG_TOPIC

KST_OFFSET_MS = 9 * 3_600_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEBLOG = WEBLOG_TOPIC
PARTITIONS = {WEBLOG: 4}
TOPICS = ALL_TOPICS

# Shares of faults and behaviours (of weblog events unless said otherwise).
RETRY_SHARE = 0.015
LATE_SHARE = 0.02
GATEWAY_SHARE = 0.35  # written by the API gateway in UTC ("Z")
BROKEN_SHARE = 0.002
CDC_REDELIVERY_SHARE = 0.01
CDC_BROKEN_SHARE = 0.002
# Of page views: a query string (campaign tags, or a token and an e-mail from a mail link).
QUERY_STRING_SHARE = 0.05
QUERY_STRINGS = ("?utm_source=naver&utm_medium=cpc", "?token=9f8e7d6c&email=kim%40example.com",
                 "#reviews", "?ref=kakao#top")  # fmt: skip
# Of row changes: one business value sent with a type topics.md does not give it.
CDC_WRONG_TYPE_SHARE = 0.004
WRONG_TYPED_VALUES = ("x", True, 1e30, "yesterday", 2**64, -(2**63) - 1, 12.5, "12000", [1],
                      {"value": 1})  # fmt: skip
NEW_FIELDS_SHARE = 0.3  # of events after the middle of the period
LOGGED_IN_SHARE = 0.3
BROKEN_KINDS = (
    "invalid_json",
    "invalid_utf8",
    "missing_event_id",
    "missing_event_time",
    "missing_mall_id",
    "invalid_time",
)
# Visits per KST hour of day: quiet at night, a lunch bump and an evening peak.
HOURLY_WEIGHTS = (
    3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 7, 8, 10, 12, 13, 11, 7,
)  # fmt: skip
MEAN_EVENTS_PER_SESSION = 8
# Of sessions: a visitor the mall has never seen (most of a shop's traffic is new); of the
# others, a newcomer of the last days or weeks coming back, the rest the mall's regulars.
NEWCOMER_SHARE = 0.5
NEWCOMER_RETURN_SHARE = 0.3
# The newcomers each mall remembers for a return: about a week of them, at most this many
# (each new one replaces a random one once full, so returns thin out over the weeks).
NEWCOMER_MEMORY_DAYS = 7
NEWCOMER_MEMORY_MAX = 20_000
REFERRERS = ("https://search.naver.com/", "https://www.google.com/", "https://m.instagram.com/")
# Of referrers sent: one of every kind the traffic sources tell apart (search engines with a
# query, www./m. hosts in any case, a port, user info, app deep links with and without a
# host, an empty string, text that is not a URL, a bare path).
VARIED_REFERRER_SHARE = 0.5
VARIED_REFERRERS = (
    "https://search.naver.com/search.naver?query=padding&where=nexearch",
    "https://www.google.com/search?q=coat",
    "https://WWW.Google.co.kr/url?sa=t&url=https%3A%2F%2Fshop.example",
    "https://m.search.daum.net/search?q=tumbler#result",
    "http://m.facebook.com:80/",
    "https://user@blog.example.kr/post/1",
    "android-app://com.kakao.talk/",
    "mallapp://product/7",
    "kakaotalk:openchat",
    "",
    "not a url",
    "/internal/redirect?to=/best",
    "//www.m.cafe.example/",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; SM-S928N) AppleWebKit/537.36 Chrome/131.0 Mobile",
    "MallApp/4.2.0 (iOS 18.1)",
    "MallApp/4.2.0 (Android 15)",
)
SEARCH_TERMS = ("padding", "coat", "sneakers", "tumbler", "kimchi", "vitamin", "earbuds")


def _ip(rng: random.Random) -> str:
    bits = rng.getrandbits(32)
    return f"{bits >> 24 | 1}.{bits >> 16 & 255}.{bits >> 8 & 255}.{bits & 255 | 1}"


def _iso(ms: int, gateway: bool, digits: int) -> str:
    """RFC 3339 text of an instant as a web server (KST) or the gateway (UTC) writes it."""
    offset = 0 if gateway else KST_OFFSET_MS
    moment = datetime(1970, 1, 1) + timedelta(milliseconds=ms + offset)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 3:
        text += f".{ms % 1000:03d}"
    elif digits == 6:
        text += f".{ms % 1000:03d}000"
    return text + ("Z" if gateway else "+09:00")


# A record waiting for its arrival time: (arrival_ms, seq, topic, key, payload). A plain
# tuple, because the heap compares millions of them; seq keeps equal arrivals in order.
_Pending = tuple[int, int, str, str | None, str | bytes | None]


class _Writer:
    """Assigns partitions and offsets in arrival order and writes kcat -J lines."""

    def __init__(self, out_dir: Path):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.files = {topic: (out_dir / f"{topic}.jsonl").open("wb") for topic in TOPICS}
        self.offsets: dict[tuple[str, int], int] = {}
        self.records: Counter[str] = Counter()

    def write(self, item: _Pending) -> None:
        arrival_ms, _, topic, key, payload = item
        partitions = PARTITIONS.get(topic, CDC_PARTITIONS)
        key_bytes = (key or "").encode()
        partition = zlib.crc32(key_bytes) % partitions
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        envelope = {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "tstype": "create",
            "ts": arrival_ms,
            "broker": 1,
            "key": key,
            "payload": payload,
        }
        if isinstance(payload, bytes):
            # kcat writes message bytes that are not UTF-8 into the line as they are.
            envelope["payload"] = payload.decode("utf-8", "surrogateescape")
            line = json.dumps(envelope, ensure_ascii=False).encode("utf-8", "surrogateescape")
        else:
            line = orjson.dumps(envelope)
        self.files[topic].write(line + b"\n")
        self.records[topic] += 1

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


@dataclass
class _Mall:
    id: int
    weight: float
    members: list[int] = field(default_factory=list)
    products: list[int] = field(default_factory=list)
    visitors: int = 0


class _World:
    """The shop database and the traffic that goes with it."""

    def __init__(self, rng: random.Random, malls: int, events_per_day: int, start_ms: int):
        self.rng = rng
        self.start_ms = start_ms
        self.next_id: Counter[str] = Counter()
        self.rows: dict[str, dict[int, dict]] = {t: {} for t in CDC_TABLES}
        weights = [1 / (rank**1.1) for rank in range(1, malls + 1)]
        rng.shuffle(weights)
        self.malls = [_Mall(id=i + 1, weight=w) for i, w in enumerate(weights)]
        self.mall_weights = [m.weight for m in self.malls]
        total_weight = sum(weights)
        self.members_per_mall = {
            m.id: max(8, round(events_per_day / 25 * m.weight / total_weight)) for m in self.malls
        }
        self.visitors_per_mall = {
            m.id: max(20, round(events_per_day / 6 * m.weight / total_weight)) for m in self.malls
        }
        sessions_per_day = events_per_day / MEAN_EVENTS_PER_SESSION
        self.newcomer_memory = {
            m.id: max(50, min(NEWCOMER_MEMORY_MAX, round(NEWCOMER_MEMORY_DAYS * sessions_per_day
                                                         * NEWCOMER_SHARE * m.weight
                                                         / total_weight)))
            for m in self.malls
        }  # fmt: skip
        self.newcomers: dict[int, list[str]] = {m.id: [] for m in self.malls}
        self.newcomer_count: Counter[int] = Counter()
        self.products_per_mall = {
            m.id: max(10, min(400, round(events_per_day / 60 * m.weight / total_weight)))
            for m in self.malls
        }
        self.devices: dict[str, int] = {}  # app device id -> install row id
        # Indexes so a purchase does not scan every cart item or coupon.
        self.open_cart_items: dict[int, set[int]] = {}
        self.unused_coupons: dict[int, list[int]] = {}

    def new_id(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table]


@dataclass
class _Faults:
    counts: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)


class Generator:
    def __init__(self, out_dir: Path, days: int, events_per_day: int, malls: int, seed: int,
                 start: date, *, cdc_faults: bool = True):  # fmt: skip
        self.rng = random.Random(seed)
        # Without CDC faults the shop.* topics hold only what Debezium itself would send (the
        # tombstones after deletes are protocol, they stay). The faults' random numbers are
        # still drawn, so the world and every other topic stay those of the default run.
        self.cdc_faults = cdc_faults
        # Faults added after the data set was first fixed draw from their own stream, so the
        # rest of the data set stays the same.
        self.fault_rng = random.Random(seed + 1)
        self.referrer_rng = random.Random(seed + 2)
        self.visitor_rng = random.Random(seed + 3)
        self.days, self.events_per_day, self.start = days, events_per_day, start
        start_utc = datetime(start.year, start.month, start.day, tzinfo=UTC)
        self.start_ms = int(start_utc.timestamp() * 1000) - KST_OFFSET_MS  # 00:00 KST
        self.end_ms = self.start_ms + days * DAY_MS
        self.middle_ms = self.start_ms + days * DAY_MS // 2
        self.world = _World(self.rng, malls, events_per_day, self.start_ms)
        self.writer = _Writer(out_dir)
        self.heap: list[_Pending] = []
        self.seq = 0
        self.faults = _Faults()
        self.binlog_file, self.binlog_pos, self.binlog_rows = 1, 4, 0
        self.valid_events = 0

    # ------------------------------------------------------------------ emitting

    def _push(self, arrival_ms: int, topic: str, key: str | None, payload) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (arrival_ms, self.seq, topic, key, payload))

    def _drain(self, until_ms: int | None) -> None:
        heap, write = self.heap, self.writer.write
        while heap and (until_ms is None or heap[0][0] < until_ms):
            write(heapq.heappop(heap))

    def change(self, table: str, op: str, row_id: int, after: dict | None, at_ms: int) -> None:
        """A Debezium change of one row; a delete is followed by its tombstone."""
        rows = self.world.rows[table]
        before = rows.get(row_id)
        if after is None:
            rows.pop(row_id, None)
        else:
            rows[row_id] = after
        self._index(table, row_id, before, after)
        self.binlog_pos += self.rng.randint(120, 900)
        self.binlog_rows += 1
        if self.binlog_rows % 5000 == 0:
            self.binlog_file, self.binlog_pos = self.binlog_file + 1, 4
        envelope = {
            "before": None if op in ("c", "r") else before,
            "after": after,
            "op": op,
            "ts_ms": at_ms + self.rng.randint(5, 400),
            "source": {
                "db": "shop",
                "table": table,
                "file": f"mysql-bin.{self.binlog_file:06d}",
                "pos": self.binlog_pos,
                "row": 0,
                "ts_ms": at_ms,
            },
        }
        topic, key = f"shop.{table}", f'{{"id": {row_id}}}'
        payload = orjson.dumps(envelope).decode()
        faults = self.cdc_faults
        if after is not None and self.fault_rng.random() < CDC_WRONG_TYPE_SHARE:
            wrong_typed = self._wrong_typed(envelope, after)  # drawn even when not sent
            if faults:
                payload = wrong_typed
                self.faults.counts["cdc_wrong_types"] += 1
        arrival = at_ms + self.rng.randint(100, 2000)
        self._push(arrival, topic, key, payload)
        if op == "d":
            self._push(arrival + 1, topic, key, None)
            self.faults.counts["cdc_tombstones"] += 1
        if self.rng.random() < CDC_REDELIVERY_SHARE:
            redelivered = arrival + self.rng.randint(1_000, 30_000)
            if faults:
                self._push(redelivered, topic, key, payload)
                self.faults.counts["cdc_redelivered"] += 1
        broken = self.rng.random() < CDC_BROKEN_SHARE  # drawn even when not sent
        if broken and faults:
            self._push(arrival + 3, topic, key, payload[: len(payload) // 2])  # truncated
            self.faults.counts["cdc_broken"] += 1

    def _wrong_typed(self, envelope: dict, after: dict) -> str:
        """The change with one business value of the wrong type (the world keeps the right
        one: the row's next change sends it again). mall_id may also go missing."""
        rng = self.fault_rng
        column = rng.choice([c for c in after if c not in ("id", "email")])
        text_column = isinstance(after[column], str)
        wrong = [v for v in WRONG_TYPED_VALUES if not (text_column and isinstance(v, str))]
        value = None if column == "mall_id" and rng.random() < 0.3 else rng.choice(wrong)
        return json.dumps(dict(envelope, after=dict(after, **{column: value})))

    def _index(self, table: str, row_id: int, before: dict | None, after: dict | None) -> None:
        world = self.world
        if table == "cart_items":
            row = after or before
            items = world.open_cart_items.setdefault(row["member_id"], set())
            (items.add if after is not None else items.discard)(row_id)
        elif table == "coupons" and after is not None:
            unused = world.unused_coupons.setdefault(after["member_id"], [])
            if after["used_at"] is None and row_id not in unused:
                unused.append(row_id)
            elif after["used_at"] is not None and row_id in unused:
                unused.remove(row_id)

    def event(self, at_ms: int, mall: _Mall, visitor: str, member: int | None, channel: str,
              event_type: str, url: str, **ids: int | None) -> None:  # fmt: skip
        rng = self.rng
        gateway = channel == "app" or rng.random() < (GATEWAY_SHARE - 0.2) / 0.8
        event = {
            "event_id": f"{rng.getrandbits(128):032x}",
            "event_time": _iso(at_ms, gateway, rng.choice((0, 3, 3, 3, 6))),
            "mall_id": mall.id,
            "visitor_id": visitor,
            "member_id": member,
            "event_type": event_type,
            "channel": channel,
            "url": url,
            "referrer": self._referrer(rng.choice(REFERRERS)) if rng.random() < 0.4 else None,
            "product_id": ids.get("product_id"),
            "order_id": ids.get("order_id"),
            "user_agent": USER_AGENTS[3 if channel == "app" else rng.randrange(3)]
            if rng.random() < 0.97
            else None,
            "ip": _ip(rng) if rng.random() < 0.95 else None,
        }
        if at_ms >= self.middle_ms and rng.random() < NEW_FIELDS_SHARE:
            event["utm_source"] = rng.choice(("naver", "kakao", "google", "newsletter"))
            event["ab_bucket"] = rng.choice(("A", "B"))
            self.faults.counts["weblog_new_fields"] += 1
        self.faults.counts["weblog_utc_offset" if gateway else "weblog_kst_offset"] += 1
        payload = orjson.dumps(event).decode()
        if rng.random() < LATE_SHARE:
            arrival = at_ms + rng.randint(HOUR_MS, 6 * HOUR_MS)
            self.faults.counts["weblog_late"] += 1
        else:
            arrival = at_ms + rng.randint(20, 3000)  # small jitter: out of order across hosts
        self._push(arrival, WEBLOG, visitor, payload)
        self.valid_events += 1
        if rng.random() < RETRY_SHARE:
            for _ in range(1 if rng.random() < 0.8 else 2):
                self._push(arrival + rng.randint(500, 60_000), WEBLOG, visitor, payload)
                self.faults.counts["weblog_duplicates"] += 1
        if rng.random() < BROKEN_SHARE:
            self._broken(arrival + 7, visitor, event)

    def _referrer(self, usual: str) -> str:
        """The usual referrer, or as often one of the varied kinds (from their own random
        stream, so the rest of the data set stays as it was)."""
        if self.referrer_rng.random() < VARIED_REFERRER_SHARE:
            self.faults.counts["weblog_varied_referrers"] += 1
            return self.referrer_rng.choice(VARIED_REFERRERS)
        return usual

    def _broken(self, arrival: int, visitor: str, event: dict) -> None:
        kind = BROKEN_KINDS[self.rng.randrange(len(BROKEN_KINDS))]
        broken = dict(event, event_id=f"{self.rng.getrandbits(128):032x}")
        payload: str | bytes
        if kind == "invalid_json":
            payload = orjson.dumps(broken).decode()[:-9]  # cut off mid-message
        elif kind == "invalid_utf8":
            payload = orjson.dumps(broken).replace(b'"url":"', b'"url":"\xff\xfe', 1)
        elif kind == "invalid_time":
            broken["event_time"] = self.rng.choice(("2026-02-30T25:61:00+09:00", "yesterday"))
            payload = orjson.dumps(broken).decode()
        else:
            del broken[kind.removeprefix("missing_")]
            payload = orjson.dumps(broken).decode()
        self._push(arrival, WEBLOG, visitor, payload)
        self.faults.broken[kind] += 1

    # ------------------------------------------------------------------ the shop database

    def snapshot(self) -> None:
        """The initial load (op r) of the shop database, one hour before the traffic."""
        rng, world, at = self.rng, self.world, self.start_ms - HOUR_MS
        year_ms = 365 * DAY_MS
        for mall in world.malls:
            created = at - rng.randint(30 * DAY_MS, 3 * year_ms)
            self.change("malls", "r", mall.id, {
                "id": mall.id, "name": f"Mall {mall.id:04d}",
                "plan": rng.choice(("free", "basic", "basic", "pro")), "status": "active",
                "created_at": created,
            }, at)  # fmt: skip
            for _ in range(world.members_per_mall[mall.id]):
                self._new_member(mall, at - rng.randint(0, year_ms), "r", at)
            for _ in range(world.products_per_mall[mall.id]):
                self._new_product(mall, at - rng.randint(0, year_ms), "r", at)
            # Order history of the last six months: the base of customer segments.
            for member in rng.sample(mall.members, k=max(1, len(mall.members) // 3)):
                for _ in range(rng.randint(1, 3)):
                    paid = at - rng.randint(HOUR_MS, 200 * DAY_MS)
                    self._snapshot_order(mall, member, paid, at)
            for member in rng.sample(mall.members, k=max(1, len(mall.members) // 4)):
                self._issue_coupon(mall, member, at - rng.randint(0, 60 * DAY_MS), "r", at)
            for _ in range(max(2, world.members_per_mall[mall.id] // 3)):
                installed = at - rng.randint(0, year_ms)
                self._install(mall, f"dev-{rng.getrandbits(48):012x}", installed, "r", at)

    def _new_member(self, mall: _Mall, joined: int, op: str, at: int) -> int:
        member_id = self.world.new_id("members")
        self.change("members", op, member_id, {
            "id": member_id, "mall_id": mall.id,
            "email": f"user{member_id}@example.com", "status": "active", "joined_at": joined,
        }, at)  # fmt: skip
        mall.members.append(member_id)
        return member_id

    def _new_product(self, mall: _Mall, created: int, op: str, at: int) -> None:
        product_id = self.world.new_id("products")
        self.change("products", op, product_id, {
            "id": product_id, "mall_id": mall.id, "name": f"Product {product_id}",
            "price": self.rng.randrange(10, 2000) * 100,
            "status": self.rng.choice(("on_sale",) * 8 + ("sold_out", "hidden")),
            "created_at": created,
        }, at)  # fmt: skip
        mall.products.append(product_id)

    def _snapshot_order(self, mall: _Mall, member: int, paid: int, at: int) -> None:
        order_id = self.world.new_id("orders")
        status = self.rng.choice(("delivered",) * 6 + ("shipped", "paid", "cancelled", "refunded"))
        self.change("orders", "r", order_id, {
            "id": order_id, "mall_id": mall.id, "member_id": member, "status": status,
            "total_amount": self.rng.randrange(5, 600) * 100,
            "created_at": paid - 60_000, "paid_at": paid, "updated_at": paid + DAY_MS,
        }, at)  # fmt: skip

    def _issue_coupon(self, mall: _Mall, member: int, issued: int, op: str, at: int) -> None:
        coupon_id = self.world.new_id("coupons")
        expires = None if self.rng.random() < 0.2 else issued + self.rng.randint(3, 60) * DAY_MS
        self.change("coupons", op, coupon_id, {
            "id": coupon_id, "mall_id": mall.id, "member_id": member,
            "campaign": self.rng.choice(("welcome", "winter_sale", "vip", "comeback")),
            "issued_at": issued, "used_at": None, "expires_at": expires,
        }, at)  # fmt: skip

    def _install(self, mall: _Mall, device: str, installed: int, op: str, at: int) -> None:
        install_id = self.world.new_id("app_installs")
        uninstalled = None
        if op == "r" and self.rng.random() < 0.2:
            uninstalled = installed + self.rng.randint(1, 30) * DAY_MS
            uninstalled = uninstalled if uninstalled < at else None
        self.change("app_installs", op, install_id, {
            "id": install_id, "mall_id": mall.id, "device_id": device,
            "platform": self.rng.choice(("ios", "android")),
            "installed_at": installed, "uninstalled_at": uninstalled,
        }, at)  # fmt: skip
        self.world.devices[device] = install_id

    def _update(self, table: str, row_id: int, at: int, **changes) -> None:
        row = self.world.rows[table].get(row_id)
        if row is not None:
            self.change(table, "u", row_id, {**row, **changes}, at)

    def daily_changes(self, day_start: int) -> None:
        """Sign-ups, withdrawals, catalogue and coupon changes spread over a day."""
        rng, world = self.rng, self.world
        for mall in world.malls:
            for _ in range(rng.randint(0, 1 + world.members_per_mall[mall.id] // 40)):
                at = day_start + rng.randint(0, DAY_MS - 1)
                self._new_member(mall, at, "c", at)
            if rng.random() < 0.3 and mall.products:
                at = day_start + rng.randint(0, DAY_MS - 1)
                self._update("products", rng.choice(mall.products), at,
                             price=rng.randrange(10, 2000) * 100)  # fmt: skip
            if rng.random() < 0.1:
                at = day_start + rng.randint(0, DAY_MS - 1)
                self._new_product(mall, at, "c", at)
            if rng.random() < 0.15 and mall.members:
                at = day_start + rng.randint(0, DAY_MS - 1)
                self._update("members", rng.choice(mall.members), at, status="withdrawn")
            if rng.random() < 0.05 and len(mall.members) > 5:
                at = day_start + rng.randint(0, DAY_MS - 1)
                member = mall.members.pop(rng.randrange(len(mall.members)))
                self.change("members", "d", member, None, at)
            for _ in range(rng.randint(0, 2)):
                if mall.members:
                    at = day_start + rng.randint(0, DAY_MS - 1)
                    self._issue_coupon(mall, rng.choice(mall.members), at, "c", at)
        if rng.random() < 0.7 and len(world.malls) > 3:
            mall = world.malls[rng.randrange(len(world.malls))]
            self._update("malls", mall.id, day_start + rng.randint(0, DAY_MS - 1), status="closed")

    def purchase(self, mall: _Mall, member: int | None, cart: list[int], at: int) -> int:
        """An order from a session's purchase: created, paid, later shipped or cancelled."""
        rng = self.rng
        order_id = self.world.new_id("orders")
        amount = sum(self.world.rows["products"].get(p, {}).get("price", 10_000) for p in cart)
        amount = amount or rng.randrange(10, 900) * 100
        row = {
            "id": order_id, "mall_id": mall.id, "member_id": member, "status": "pending",
            "total_amount": amount, "created_at": at, "paid_at": None, "updated_at": at,
        }  # fmt: skip
        self.change("orders", "c", order_id, row, at)
        paid = at + rng.randint(2_000, 90_000)
        self._update("orders", order_id, paid, status="paid", paid_at=paid, updated_at=paid)
        later = paid + rng.randint(2 * HOUR_MS, 2 * DAY_MS)
        if later < self.end_ms:
            status = rng.choice(("shipped",) * 8 + ("cancelled", "refunded"))
            self._update("orders", order_id, later, status=status, updated_at=later)
            delivered = later + rng.randint(DAY_MS, 3 * DAY_MS)
            if status == "shipped" and delivered < self.end_ms:
                self._update("orders", order_id, delivered, status="delivered",
                             updated_at=delivered)  # fmt: skip
        if member is not None and rng.random() < 0.3:
            coupons = self.world.unused_coupons.get(member)
            if coupons:
                self._update("coupons", coupons[0], paid, used_at=paid)
        return order_id

    # ------------------------------------------------------------------ weblog sessions

    def session(self, start_ms: int) -> None:
        rng, world = self.rng, self.world
        mall = rng.choices(world.malls, weights=world.mall_weights)[0]
        visitor_no = rng.randrange(world.visitors_per_mall[mall.id])
        visitor = self._visitor(mall, visitor_no)
        member = None
        if visitor_no % 10 < LOGGED_IN_SHARE * 10 and mall.members:
            member = mall.members[visitor_no % len(mall.members)]
        channel = rng.choices(("web", "mobile_web", "app"), weights=(5, 3, 2))[0]
        if channel == "app" and visitor not in world.devices and rng.random() < 0.3:
            self._install(mall, visitor, start_ms, "c", start_ms)
        at = start_ms
        cart: list[int] = []
        length = max(1, min(60, int(rng.expovariate(1 / MEAN_EVENTS_PER_SESSION)) + 1))
        for step in range(length):
            if step:
                roll = rng.random()
                if roll < 0.04:
                    at += rng.randint(31 * 60_000, 120 * 60_000)  # a new session begins
                elif roll < 0.05:
                    at += 30 * 60_000  # exactly 30 minutes: still the same session
                else:
                    at += int(rng.expovariate(1 / 70_000)) + 1_000
            if at >= self.end_ms + DAY_MS:
                break
            self._session_step(at, mall, visitor, member, channel, step, cart)
            if cart and cart[-1] == -1:  # purchased: the visit ends
                break

    def _visitor(self, mall: _Mall, regular_no: int) -> str:
        """A session's visitor: someone new to the mall, a newcomer of the last days or weeks
        coming back, or regular number ``regular_no``."""
        rng, newcomers = self.visitor_rng, self.world.newcomers[mall.id]
        roll = rng.random()
        if roll < NEWCOMER_SHARE:
            self.world.newcomer_count[mall.id] += 1
            visitor = f"v-{mall.id}-n{self.world.newcomer_count[mall.id]:07d}"
            if len(newcomers) < self.world.newcomer_memory[mall.id]:
                newcomers.append(visitor)
            else:
                newcomers[rng.randrange(len(newcomers))] = visitor
            self.faults.counts["weblog_newcomer_sessions"] += 1
            return visitor
        if roll < NEWCOMER_SHARE + (1 - NEWCOMER_SHARE) * NEWCOMER_RETURN_SHARE and newcomers:
            self.faults.counts["weblog_newcomer_returns"] += 1
            return rng.choice(newcomers)
        return f"v-{mall.id}-{regular_no:06d}"

    def _session_step(self, at: int, mall: _Mall, visitor: str, member: int | None,
                      channel: str, step: int, cart: list[int]) -> None:  # fmt: skip
        rng = self.rng
        product = rng.choice(mall.products) if mall.products else None
        roll = rng.random()
        if step == 0:
            kind = "app_open" if channel == "app" else "page_view"
        elif roll < 0.35:
            kind = "page_view"
        elif roll < 0.75 and product is not None:
            kind = "product_view"
        elif roll < 0.83:
            kind = "search"
        elif roll < 0.92 and product is not None:
            kind = "add_to_cart"
        elif roll < 0.97 and cart:
            kind = "checkout"
        elif cart and cart[-1] == -2:
            kind = "purchase"
        else:
            kind = "page_view"
        if kind == "page_view":
            url = rng.choice(("/", "/", "/category/1", "/category/2", "/event", "/best"))
            if self.fault_rng.random() < QUERY_STRING_SHARE:  # campaign links, mail tokens
                url += self.fault_rng.choice(QUERY_STRINGS)
                self.faults.counts["weblog_query_strings"] += 1
            self.event(at, mall, visitor, member, channel, kind, url)
        elif kind == "app_open":
            self.event(at, mall, visitor, member, channel, kind, "/")
        elif kind == "product_view":
            self.event(at, mall, visitor, member, channel, kind, f"/product/{product}",
                       product_id=product)  # fmt: skip
        elif kind == "search":
            self.event(at, mall, visitor, member, channel, kind,
                       f"/search?q={rng.choice(SEARCH_TERMS)}")  # fmt: skip
        elif kind == "add_to_cart":
            self.event(at, mall, visitor, member, channel, kind, "/cart", product_id=product)
            cart.append(product)
            if member is not None:
                item = self.world.new_id("cart_items")
                self.change("cart_items", "c", item, {
                    "id": item, "mall_id": mall.id, "member_id": member, "product_id": product,
                    "quantity": rng.randint(1, 3), "added_at": at,
                }, at)  # fmt: skip
                if rng.random() < 0.4:  # removed later; the rest stay (abandoned) or get ordered
                    removed = at + rng.randint(10 * 60_000, 2 * DAY_MS)
                    if removed < self.end_ms:
                        self.change("cart_items", "d", item, None, removed)
        elif kind == "checkout":
            self.event(at, mall, visitor, member, channel, kind, "/checkout")
            cart.append(-2)  # the next funnel step may be a purchase
        elif kind == "purchase":
            products = [p for p in cart if p > 0]
            order_id = self.purchase(mall, member, products, at)
            self.event(at, mall, visitor, member, channel, kind, "/order/complete",
                       order_id=order_id)  # fmt: skip
            if member is not None:  # ordered items leave the cart
                for item_id in sorted(self.world.open_cart_items.get(member, ())):
                    self.change("cart_items", "d", item_id, None, at + 1_000)
            cart.append(-1)

    # ------------------------------------------------------------------ the whole run

    def run(self, progress: bool) -> dict:
        sessions_per_day = max(1, self.events_per_day // MEAN_EVENTS_PER_SESSION)
        hour_weights = [w / sum(HOURLY_WEIGHTS) for w in HOURLY_WEIGHTS]
        bar = Progress(
            TextColumn("[bold]generate[/] day {task.fields[day]}"),
            BarColumn(),
            TextColumn("{task.fields[events]:,} events"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not progress,
        )
        with bar:
            task = bar.add_task("generate", total=self.days * 24, day="", events=0)
            self.snapshot()
            for day in range(self.days):
                day_start = self.start_ms + day * DAY_MS
                self.daily_changes(day_start)
                for hour in range(24):
                    hour_start = day_start + hour * HOUR_MS
                    count = round(sessions_per_day * hour_weights[hour])
                    starts = sorted(hour_start + self.rng.randrange(HOUR_MS) for _ in range(count))
                    for start in starts:
                        # Records arriving before this session starts can no longer move.
                        self._drain(start)
                        self.session(start)
                    bar.update(task, advance=1, day=str(self.start + timedelta(days=day)),
                               events=self.valid_events)  # fmt: skip
            self._drain(None)
        self.writer.close()
        return self.manifest()

    def manifest(self) -> dict:
        counts = self.faults.counts
        return {
            "parameters": {
                "days": self.days,
                "events_per_day": self.events_per_day,
                "malls": len(self.world.malls),
                "start": self.start.isoformat(),
                "cdc_faults": self.cdc_faults,
            },
            "records": dict(sorted(self.writer.records.items())),
            "partitions": {t: PARTITIONS.get(t, CDC_PARTITIONS) for t in TOPICS},
            "weblog_valid_events": self.valid_events,
            "weblog_duplicates": counts["weblog_duplicates"],
            "weblog_late": counts["weblog_late"],
            "weblog_utc_offset": counts["weblog_utc_offset"],
            "weblog_kst_offset": counts["weblog_kst_offset"],
            "weblog_new_fields": counts["weblog_new_fields"],
            "weblog_query_strings": counts["weblog_query_strings"],
            "weblog_varied_referrers": counts["weblog_varied_referrers"],
            "weblog_newcomer_sessions": counts["weblog_newcomer_sessions"],
            "weblog_newcomer_returns": counts["weblog_newcomer_returns"],
            "weblog_broken": dict(sorted(self.faults.broken.items())),
            "cdc_tombstones": counts["cdc_tombstones"],
            "cdc_redelivered": counts["cdc_redelivered"],
            "cdc_broken": counts["cdc_broken"],
            "cdc_wrong_types": counts["cdc_wrong_types"],
        }


def generate(
    out_dir: Path,
    *,
    days: int = 3,
    events_per_day: int = 200_000,
    malls: int = 50,
    seed: int = 42,
    start: date = date(2026, 1, 30),
    progress: bool = True,
    cdc_faults: bool = True,
) -> dict:
    """Writes ``out_dir/<topic>.jsonl`` for every topic and ``_manifest.json``; returns it.

    ``cdc_faults=False`` leaves the producer faults out of the shop.* topics (no wrong-typed
    values, no redelivered or broken changes; tombstones stay): the history a real database
    and Debezium would give. Everything else is the same as with faults."""
    generator = Generator(out_dir, days, events_per_day, malls, seed, start, cdc_faults=cdc_faults)
    manifest = generator.run(progress)
    (out_dir / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
