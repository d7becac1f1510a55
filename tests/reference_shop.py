"""An independent calculation of the order, funnel, segment and platform statistics of
metrics.md, straight from the CDC and weblog dumps (no code shared with loader or dbt)."""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from tests.reference import SESSION_GAP, Event

EPOCH = datetime(1970, 1, 1)
KST_OFFSET = timedelta(hours=9)


def kst(ms: int | None) -> datetime | None:
    return None if ms is None else EPOCH + timedelta(milliseconds=ms) + KST_OFFSET


def moment(ms: int | None) -> timedelta | None:
    """A KST moment as the time since 0001-01-01 00:00: comparable without overflow at the
    ends of the calendar, where the end of 9999-12-31 (year 10000) is no datetime."""
    return None if ms is None else timedelta(milliseconds=ms) + (EPOCH - datetime.min) + KST_OFFSET


def _changes(directory: Path, table: str) -> list[tuple[tuple, dict]]:
    """(ordering key, Debezium envelope) of every readable change of a shop table."""
    changes = []
    for line in (directory / f"shop.{table}.jsonl").read_bytes().splitlines():
        record = json.loads(line.decode("utf-8", "surrogateescape"))
        if record["payload"] is None:
            continue  # tombstone
        try:
            change = json.loads(record["payload"])
        except (ValueError, RecursionError):
            continue  # broken message, or nested deeper than a CDC row can be
        source = change["source"]
        row = change["after"] or change["before"]
        if not (
            _fits(row["id"], 64)
            and _fits(change["ts_ms"], 64)
            and _fits(source["pos"], 64)
            and _fits(source.get("ts_ms"), 64)
            and _fits(source.get("row"), 32)
        ):
            continue  # kept aside by the loader: a number its column cannot hold
        order = (source["file"], source["pos"], source.get("row", 0),
                 record["partition"], record["offset"])  # fmt: skip
        changes.append((order, change))
    return changes


def _fits(value: object, bits: int) -> bool:
    return value is None or (type(value) is int and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1))


TEXT_COLUMNS = {"name", "plan", "status", "campaign", "device_id", "platform"}
INTEGER_COLUMNS = {"mall_id", "member_id", "product_id", "price", "total_amount", "quantity"}
EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_214_399_999)  # 0001-01-01 to 9999-12-30 UTC


def readable(table: str, row: dict) -> bool:
    """topics.md types: text columns are strings, `*_at` columns epoch milliseconds (years
    1 to 9999), the rest integers of 64 bits; every row but a mall's has its mall_id. A row
    with any other value is left out of every statistic (stg_shop__invalid_values)."""
    if table != "malls" and row.get("mall_id") is None:
        return False
    for column, value in row.items():
        if value is None:
            continue
        if column in TEXT_COLUMNS:
            ok = isinstance(value, str)
        elif column.endswith("_at"):
            ok = type(value) is int and EPOCH_MS_RANGE[0] <= value <= EPOCH_MS_RANGE[1]
        elif column in INTEGER_COLUMNS:
            ok = _fits(value, 64)
        else:
            ok = True  # the id (checked on arrival), email (never read), columns added later
        if not ok:
            return False
    return True


def current_rows(directory: Path, table: str) -> dict[int, dict]:
    """Latest change per id by source position; rows whose latest change is a delete are
    gone, and so are rows with an unreadable value."""
    latest: dict[int, tuple[tuple, dict]] = {}
    for order, change in _changes(directory, table):
        row = change["after"] or change["before"]
        if row["id"] not in latest or order > latest[row["id"]][0]:
            latest[row["id"]] = (order, change)
    return {
        i: c["after"] for i, (_, c) in latest.items()
        if c["op"] != "d" and readable(table, c["after"])
    }  # fmt: skip


def months_before_end_of(day: date, months: int) -> timedelta:
    """The end of D moved back calendar months, clamped to the month's last day; before
    the calendar starts, its start."""
    end = (10000, 1, 1) if day == date.max else (day + timedelta(days=1)).timetuple()[:3]
    year, month = divmod(end[0] * 12 + end[1] - 1 - months, 12)
    if year < 1:
        return timedelta(0)
    since = datetime(year, month + 1, min(end[2], calendar.monthrange(year, month + 1)[1]))
    return since - datetime.min


@dataclass
class ShopReference:
    orders: dict[int, dict]
    members: dict[int, dict]
    products: dict[int, dict]
    malls: dict[int, dict]
    coupons: dict[int, dict]
    installs: dict[int, dict]
    cart_inserts: dict[int, dict]

    @classmethod
    def load(cls, directory: Path) -> ShopReference:
        inserts = {}
        for _, change in sorted(_changes(directory, "cart_items"), key=lambda c: c[0]):
            if change["op"] == "c":
                inserts.setdefault(change["after"]["id"], change["after"])
        inserts = {i: row for i, row in inserts.items() if readable("cart_items", row)}
        return cls(
            orders=current_rows(directory, "orders"),
            members=current_rows(directory, "members"),
            products=current_rows(directory, "products"),
            malls=current_rows(directory, "malls"),
            coupons=current_rows(directory, "coupons"),
            installs=current_rows(directory, "app_installs"),
            cart_inserts=inserts,
        )

    # ---------------------------------------------------------------- orders

    def order_figures(self, grain: str, mall_id: int | None) -> dict[object, dict]:
        def bucket(moment: datetime) -> object:
            return moment.date() if grain == "day" else moment.strftime("%Y-%m")

        figures: dict[object, dict] = defaultdict(
            lambda: {"orders_paid": 0, "revenue": 0, "orders_cancelled": 0}
        )
        for order in self.orders.values():
            if mall_id is not None and order["mall_id"] != mall_id:
                continue
            if order["paid_at"] is not None:
                entry = figures[bucket(kst(order["paid_at"]))]
                entry["orders_paid"] += 1
                entry["revenue"] += order["total_amount"]
            if order["status"] in ("cancelled", "refunded") and order["updated_at"] is not None:
                figures[bucket(kst(order["updated_at"]))]["orders_cancelled"] += 1
        for entry in figures.values():
            paid = entry["orders_paid"]
            entry["aov"] = entry["revenue"] / paid if paid else None
        return dict(figures)

    # ---------------------------------------------------------------- segments

    @staticmethod
    def end_of(day: date) -> timedelta:
        return timedelta(days=day.toordinal())  # 00:00 of D+1, as moment() counts

    def recent_high_value(self, mall_id: int, day: date, months: int = 6,
                          min_amount: int = 30_000) -> dict[int, int]:  # fmt: skip
        end = self.end_of(day)
        since = months_before_end_of(day, months)
        paid: dict[int, int] = defaultdict(int)
        for order in self.orders.values():
            paid_at = moment(order["paid_at"])
            if (order["status"] in ("paid", "shipped", "delivered") and order["member_id"]
                    and paid_at is not None and paid_at < end):  # fmt: skip
                paid[order["member_id"]] += order["total_amount"]
        return {
            member_id: paid[member_id]
            for member_id, member in self.members.items()
            if member["mall_id"] == mall_id and member["status"] == "active"
            and since <= moment(member["joined_at"]) < end and paid[member_id] >= min_amount
        }  # fmt: skip

    def abandoned_cart(self, mall_id: int, day: date) -> dict[int, int]:
        end = self.end_of(day)
        added: dict[int, list[timedelta]] = defaultdict(list)
        for item in self.cart_inserts.values():
            at = moment(item["added_at"])
            if (
                item["mall_id"] == mall_id
                and item["member_id"]
                and end - timedelta(days=7) <= at < end
            ):
                added[item["member_id"]].append(at)
        result = {}
        for member_id, times in added.items():
            first = min(times)
            bought = any(
                o["member_id"] == member_id and o["paid_at"] is not None
                and first <= moment(o["paid_at"]) < end
                for o in self.orders.values()
            )  # fmt: skip
            if not bought:
                result[member_id] = len(times)
        return result

    def unused_coupons(self, mall_id: int, day: date) -> dict[int, int]:
        end = self.end_of(day)
        held: dict[int, int] = defaultdict(int)
        for coupon in self.coupons.values():
            used, expires = moment(coupon["used_at"]), moment(coupon["expires_at"])
            if (coupon["mall_id"] == mall_id and coupon["member_id"]
                    and moment(coupon["issued_at"]) < end
                    and (used is None or used >= end)
                    and (expires is None or expires >= end)):  # fmt: skip
                held[coupon["member_id"]] += 1
        return dict(held)

    # ---------------------------------------------------------------- platform

    def app_installs(self, day: date, mall_id: int | None) -> dict[str, tuple[int, int]]:
        end = self.end_of(day)
        result: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for install in self.installs.values():
            if mall_id is not None and install["mall_id"] != mall_id:
                continue
            if moment(install["installed_at"]) < end:
                result[install["platform"]][0] += 1
                gone = install["uninstalled_at"]
                result[install["platform"]][1] += gone is None or moment(gone) >= end
        return {platform: tuple(v) for platform, v in result.items()}

    def mall_ranking(self, day: date) -> dict[int, dict[str, int]]:
        end = self.end_of(day)
        start = end - timedelta(days=30)  # may fall before the calendar: no overflow
        figures = {
            mall_id: {"members": 0, "products": 0, "orders_paid": 0, "revenue": 0}
            for mall_id, mall in self.malls.items() if mall["status"] == "active"
        }  # fmt: skip
        for member in self.members.values():
            if member["mall_id"] in figures and member["status"] == "active":
                figures[member["mall_id"]]["members"] += 1
        for product in self.products.values():
            if product["mall_id"] in figures and product["status"] == "on_sale":
                figures[product["mall_id"]]["products"] += 1
        for order in self.orders.values():
            if (order["mall_id"] in figures and order["paid_at"] is not None
                    and start <= moment(order["paid_at"]) < end):  # fmt: skip
                figures[order["mall_id"]]["orders_paid"] += 1
                figures[order["mall_id"]]["revenue"] += order["total_amount"]
        for key in ("members", "products", "orders_paid", "revenue"):
            for entry in figures.values():
                entry[f"{key}_rank"] = 1 + sum(
                    1 for other in figures.values() if other[key] > entry[key]
                )
        return figures


def funnel(events: list[Event], mall_id: int | None) -> dict[date, dict[str, int]]:
    """Sessions per day of their first event, and how many reached each step."""
    timelines: dict[tuple[int, str | None], list[Event]] = defaultdict(list)
    for event in events:
        if mall_id is None or event.mall_id == mall_id:
            timelines[(event.mall_id, event.visitor_id)].append(event)
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    steps = ("product_view", "add_to_cart", "checkout", "purchase")
    for timeline in timelines.values():
        timeline.sort(key=lambda e: e.at)
        sessions: list[list[Event]] = []
        for event in timeline:
            if not sessions or event.at - sessions[-1][-1].at > SESSION_GAP:
                sessions.append([])
            sessions[-1].append(event)
        for session in sessions:
            kinds = {e.event_type for e in session}
            entry = days[session[0].at.date()]
            entry["sessions"] += 1
            for step in steps:
                entry[f"{step}_sessions"] += step in kinds
                if step != "purchase":
                    entry[f"{step}_purchased"] += step in kinds and "purchase" in kinds
    return {day: dict(entry) for day, entry in days.items()}
