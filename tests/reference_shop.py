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


def _changes(directory: Path, table: str) -> list[tuple[tuple, dict]]:
    """(ordering key, Debezium envelope) of every readable change of a shop table."""
    changes = []
    for line in (directory / f"shop.{table}.jsonl").read_bytes().splitlines():
        record = json.loads(line.decode("utf-8", "surrogateescape"))
        if record["payload"] is None:
            continue  # tombstone
        try:
            change = json.loads(record["payload"])
        except ValueError:
            continue  # broken message
        source = change["source"]
        order = (source["file"], source["pos"], source.get("row", 0),
                 record["partition"], record["offset"])  # fmt: skip
        changes.append((order, change))
    return changes


def current_rows(directory: Path, table: str) -> dict[int, dict]:
    """Latest change per id by source position; rows whose latest change is a delete are gone."""
    latest: dict[int, tuple[tuple, dict]] = {}
    for order, change in _changes(directory, table):
        row = change["after"] or change["before"]
        if row["id"] not in latest or order > latest[row["id"]][0]:
            latest[row["id"]] = (order, change)
    return {i: c["after"] for i, (_, c) in latest.items() if c["op"] != "d"}


def months_before(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    return moment.replace(year=year, month=month + 1,
                          day=min(moment.day, calendar.monthrange(year, month + 1)[1]))  # fmt: skip


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
    def end_of(day: date) -> datetime:
        return datetime(day.year, day.month, day.day) + timedelta(days=1)

    def recent_high_value(self, mall_id: int, day: date, months: int = 6,
                          min_amount: int = 30_000) -> dict[int, int]:  # fmt: skip
        end = self.end_of(day)
        since = months_before(end, months)
        paid: dict[int, int] = defaultdict(int)
        for order in self.orders.values():
            if (order["status"] in ("paid", "shipped", "delivered") and order["member_id"]
                    and order["paid_at"] is not None and kst(order["paid_at"]) < end):  # fmt: skip
                paid[order["member_id"]] += order["total_amount"]
        return {
            member_id: paid[member_id]
            for member_id, member in self.members.items()
            if member["mall_id"] == mall_id and member["status"] == "active"
            and since <= kst(member["joined_at"]) < end and paid[member_id] >= min_amount
        }  # fmt: skip

    def abandoned_cart(self, mall_id: int, day: date) -> dict[int, int]:
        end = self.end_of(day)
        added: dict[int, list[datetime]] = defaultdict(list)
        for item in self.cart_inserts.values():
            at = kst(item["added_at"])
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
                and first <= kst(o["paid_at"]) < end
                for o in self.orders.values()
            )  # fmt: skip
            if not bought:
                result[member_id] = len(times)
        return result

    def unused_coupons(self, mall_id: int, day: date) -> dict[int, int]:
        end = self.end_of(day)
        held: dict[int, int] = defaultdict(int)
        for coupon in self.coupons.values():
            used, expires = kst(coupon["used_at"]), kst(coupon["expires_at"])
            if (coupon["mall_id"] == mall_id and coupon["member_id"]
                    and kst(coupon["issued_at"]) < end
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
            if kst(install["installed_at"]) < end:
                result[install["platform"]][0] += 1
                gone = install["uninstalled_at"]
                result[install["platform"]][1] += gone is None or kst(gone) >= end
        return {platform: tuple(v) for platform, v in result.items()}

    def mall_ranking(self, day: date) -> dict[int, dict[str, int]]:
        end = self.end_of(day)
        start = end - timedelta(days=30)
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
                    and start <= kst(order["paid_at"]) < end):  # fmt: skip
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
