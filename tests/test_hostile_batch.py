"""One batch holding a record of every hostile class of input, end to end: the loader keeps
every record in one place, the transform builds, and every API endpoint answers 200 with
the figures ``tests.reference`` and ``tests.reference_shop`` compute from the same dumps,
on the ordinary days and on the valid days at the ends of the calendar (years 1 and 9999)."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest

from lakehouse.catalog import open_catalog
from lakehouse.settings import LakehouseSettings
from tests.conftest import run_cli, serve_api
from tests.kcat import cdc_change, envelope_line, weblog_event
from tests.reference import load_events, visitor_stats
from tests.reference_shop import ShopReference
from tests.test_pipeline import figures, get_ok
from tests.test_pipeline_shop import NO_ORDERS
from tests.test_pipeline_shop import test_app_installs_and_mall_ranking as check_platform
from tests.test_pipeline_shop import test_funnel_every_mall as check_funnel
from tests.test_pipeline_shop import test_orders_daily_and_monthly_every_mall as check_orders
from tests.test_pipeline_shop import (
    test_segments_member_by_member_every_mall_and_day as check_segments,
)
from transform.settings import TransformSettings

pytestmark = pytest.mark.slow
WEBLOG = "weblog.events"
FAR_FUTURE = date(9999, 12, 31)
FAR_PAST = date(1, 1, 1)
DEEP = "[" * 2000 + "]" * 2000
MB = 1 << 20


def hostile_records() -> dict[str, list[tuple[str | None, str | None, int | None]]]:
    """(payload, key, Kafka timestamp or None for an ordinary one) per topic: one record of
    every class of issue #12 (each class named), appended after the generated records."""
    future_ms = 253_402_214_399_999  # 9999-12-30T23:59:59.999Z: the latest valid datetime
    order = {"id": 900_001, "mall_id": 1, "member_id": None, "status": "paid",
             "total_amount": 50_000, "created_at": 1_769_817_600_000,
             "paid_at": 1_769_817_600_000, "updated_at": 1_769_817_600_000}  # fmt: skip
    weblog = [
        # 1. numbers beyond 64 bits
        (weblog_event("h-mall", "2026-01-31T04:00:01Z", mall_id=2**64), None, None),
        (weblog_event("h-member", "2026-01-31T04:00:01Z", member_id=2**63), None, None),
        # 2. times the engines cannot hold, and valid ones at the ends of the calendar
        (weblog_event("h-year0", "0000-01-30T04:00:01Z"), None, None),
        (weblog_event("h-offset", "2026-01-31T04:00:01+99:00"), None, None),
        (weblog_event("h-future", "9999-12-31T23:59:59.999+09:00", visitor_id="v-far"), None, None),
        (weblog_event("h-past", "0001-01-01T00:00:00Z", visitor_id="v-far"), None, None),
        (weblog_event("h-ts", "2026-01-31T05:00:00Z", visitor_id="v-ts"), None, 2**62),
        # 3. size and shape
        (weblog_event("h-big", "2026-01-31T06:00:00Z", url="/" + "x" * (3 * MB)), None, None),
        (
            weblog_event("h-deep", "2026-01-31T06:00:01Z").replace('"ip"', f'"deep": {DEEP}, "ip"'),
            None,
            None,
        ),
    ]
    orders = [
        (cdc_change("c", None, order, 1, "orders"), '{"id": 900001}', None),
        # 1. CDC key, envelope and row numbers beyond 64 bits
        (cdc_change("c", None, dict(order, id=2**64), 2, "orders"), None, None),
        (cdc_change("c", None, dict(order, id=900_002), 2**64, "orders"), '{"id": 900002}', None),
        # 6. business values of the wrong type: the row lands raw, the marts leave it out
        *[
            (
                cdc_change("c", None, dict(order, id=row_id, **{column: value}), 10 + i, "orders"),
                json.dumps({"id": row_id}),
                None,
            )
            for i, (row_id, column, value) in enumerate(
                [
                    (900_003, "total_amount", "x"),
                    (900_004, "total_amount", True),
                    (900_005, "total_amount", 1e30),
                    (900_006, "paid_at", "yesterday"),
                    (900_007, "total_amount", 2**70),
                ]
            )
        ],
        # 2. a valid datetime at the end of the calendar counts on its day
        (
            cdc_change("c", None, dict(order, id=900_008, paid_at=future_ms), 20, "orders"),
            '{"id": 900008}',
            None,
        ),
        # 3. a big row lands, a deep one is kept aside
        (
            cdc_change("c", None, dict(order, id=900_009, note="n" * (3 * MB)), 21, "orders"),
            '{"id": 900009}',
            None,
        ),
        (
            cdc_change("c", None, dict(order, id=900_010), 22, "orders").replace(
                '"op"', f'"deep": {DEEP}, "op"'
            ),
            '{"id": 900010}',
            None,
        ),
    ]
    members = [
        (
            cdc_change(
                "c",
                None,
                {
                    "id": 900_001,
                    "mall_id": 1,
                    "email": "h@example.com",
                    "status": "active",
                    "joined_at": "yesterday",
                },
                30,
                "members",
            ),
            '{"id": 900001}',
            None,
        ),
    ]
    return {WEBLOG: weblog, "shop.orders": orders, "shop.members": members}


def append_hostile(directory: Path) -> dict[str, list[int]]:
    """Appends hostile_records() on partition 0 of each topic, after a gap of 5 offsets
    (class 5: offsets that jump) and with the first one written twice (class 4: the same
    coordinates twice); returns the offsets used per topic."""
    used: dict[str, list[int]] = {}
    for topic, records in hostile_records().items():
        path = directory / f"{topic}.jsonl"
        lines = path.read_bytes().decode("utf-8", "surrogateescape").splitlines()
        last = max((r["offset"] for r in map(json.loads, lines) if r["partition"] == 0), default=-1)
        offsets = [last + 6 + i for i in range(len(records))]
        lines = [
            envelope_line(topic, 0, o, payload, key, **({"ts": ts} if ts is not None else {}))
            for o, (payload, key, ts) in zip(offsets, records, strict=True)
        ]
        with path.open("ab") as out:
            out.write(b"".join([lines[0], *lines]))
        used[topic] = offsets
    return used


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[int]]]:
    root = tmp_path_factory.mktemp("hostile")
    topics, home = root / "topics", root / "home"
    run_cli(
        "generate", "--out", str(topics), "--days", "1", "--events-per-day", "3000",
        "--malls", "4", "--seed", "5", "--start", "2026-01-31",
    )  # fmt: skip
    used = append_hostile(topics)
    env = {"DATAPLAT_HOME": str(home)}
    run_cli("ingest", "--from-dir", str(topics), env=env)
    run_cli("transform", env=env)
    return topics, home, used


@pytest.fixture(scope="module")
def api(batch):
    with serve_api(batch[1]) as client:
        yield client


@pytest.fixture(scope="module")
def events(batch):
    return load_events(batch[0])


@pytest.fixture(scope="module")
def shop(batch) -> ShopReference:
    return ShopReference.load(batch[0])


def test_every_hostile_record_is_in_one_place(batch):
    _, home, used = batch
    con = duckdb.connect()
    catalog = open_catalog(LakehouseSettings(home=home))
    rejected = catalog.load_table("raw.rejected_messages").scan().to_arrow()
    for topic, offsets in used.items():
        table = "weblog_events" if topic == WEBLOG else topic.replace(".", "_")
        landed = catalog.load_table(f"raw.{table}").scan().to_arrow()
        con.register("landed", landed)
        con.register("rejected", rejected)
        for offset in offsets:
            places = con.execute(
                "select (select count(*) from landed where _kafka_partition = 0 "
                "and _kafka_offset = ?), (select count(*) from rejected where topic = ? "
                'and "partition" = 0 and "offset" = ?)',
                [offset, topic, offset],
            ).fetchone()
            assert sorted(places) == [0, 1], (topic, offset, places)


def test_figures_of_the_ordinary_days(api, shop, events):
    days = sorted({e.at.date() for e in events if e.at.year == 2026})
    malls = sorted({e.mall_id for e in events})
    ordinary = [e for e in events if e.at.year == 2026]
    check_orders(api, shop, days, malls)
    check_funnel(api, ordinary, days, malls)
    check_segments(api, shop, days, malls)
    check_platform(api, shop, days, malls)


@pytest.mark.parametrize("day", [FAR_PAST, FAR_FUTURE], ids=str)
def test_valid_days_at_the_ends_of_the_calendar_are_served(api, shop, events, day: date):
    reference = visitor_stats(events)
    malls = sorted({e.mall_id for e in events})
    month = f"{day.year:04d}-{day.month:02d}"
    for mall in [None, 1]:
        scope = {"mall_id": mall} if mall else {}
        body = get_ok(api, "/analytics/visitors/daily", start=day.isoformat(),
                      end=day.isoformat(), **scope)  # fmt: skip
        assert [figures(i) for i in body["items"]] == [reference.figures("day", mall, day)]
        assert reference.figures("day", mall, day)["hits"] == 1
        body = get_ok(api, "/analytics/visitors/monthly", start=month, end=month, **scope)
        assert [figures(i) for i in body["items"]] == [
            reference.figures("month", mall, day.replace(day=1))
        ]
        assert len(get_ok(api, "/analytics/visitors/hourly", date=day.isoformat(),
                          **scope)["items"]) == 24  # fmt: skip
        orders = get_ok(api, "/analytics/orders/daily", start=day.isoformat(),
                        end=day.isoformat(), **scope)["items"]  # fmt: skip
        want = shop.order_figures("day", mall).get(day, NO_ORDERS)
        assert [{k: i[k] for k in want} for i in orders] == [want]
        get_ok(api, "/analytics/orders/monthly", start=month, end=month, **scope)
        get_ok(api, "/analytics/orders/funnel", start=day.isoformat(), end=day.isoformat(),
               **scope)  # fmt: skip
    get_ok(api, "/analytics/visitors/top-malls", date=day.isoformat())
    get_ok(api, "/analytics/visitors/top-pages", date=day.isoformat(), mall_id=1)
    get_ok(api, "/analytics/visitors/top-products", date=day.isoformat(), mall_id=1)
    check_segments(api, shop, [day], malls)
    check_platform(api, shop, [day], malls)
    xlsx = api.get("/crm/segments/recent-high-value", params={
        "mall_id": 1, "as_of": day.isoformat(), "format": "xlsx", "months": 24, "min_amount": 0,
    })  # fmt: skip
    assert xlsx.status_code == 200, xlsx.text
    assert openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active


def test_a_far_future_paid_order_counts_on_its_day(shop):
    """The reference, and through it the API above, counts the order paid at the last valid
    millisecond on 9999-12-31 KST: a valid value, however odd, is kept."""
    assert shop.order_figures("day", 1)[FAR_FUTURE]["orders_paid"] == 1


def test_wrong_typed_values_are_listed_and_left_out_of_the_marts(batch, shop):
    _, home, _ = batch
    with duckdb.connect(str(TransformSettings(home=home).duckdb_path), read_only=True) as con:
        listed = con.execute(
            "select table_name, row_id, column_name, problem "
            "from staging.stg_shop__invalid_values where read_as = 'current state'"
        ).fetchall()
        staged = {
            r[0] for r in con.execute("select order_id from staging.stg_shop__orders").fetchall()
        }
    found = {(t, r, c) for t, r, c, _ in listed}
    assert {
        ("orders", 900_003, "total_amount"), ("orders", 900_004, "total_amount"),
        ("orders", 900_005, "total_amount"), ("orders", 900_006, "paid_at"),
        ("orders", 900_007, "total_amount"), ("members", 900_001, "joined_at"),
    } <= found  # fmt: skip
    assert not staged & {900_003, 900_004, 900_005, 900_006, 900_007}
    assert {900_001, 900_008, 900_009} <= staged
    assert 900_003 not in shop.orders and 900_001 in shop.orders  # the reference agrees
