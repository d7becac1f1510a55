"""End to end for orders, funnel, customer segments and platform statistics: every figure the
API returns equals ``tests.reference_shop``, computed independently from the dumps."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import httpx
import openpyxl
import pytest

from tests.reference import load_events
from tests.reference_shop import ShopReference, funnel

pytestmark = pytest.mark.slow
NO_ORDERS = {"orders_paid": 0, "revenue": 0, "aov": None, "orders_cancelled": 0}


@pytest.fixture(scope="module")
def shop(small_dataset: Path) -> ShopReference:
    return ShopReference.load(small_dataset)


@pytest.fixture(scope="module")
def events(small_dataset: Path):
    return load_events(small_dataset)


@pytest.fixture(scope="module")
def days(events) -> list[date]:
    return sorted({e.at.date() for e in events})


@pytest.fixture(scope="module")
def malls(events) -> list[int]:
    return sorted({e.mall_id for e in events})


def get_ok(api: httpx.Client, path: str, **params) -> httpx.Response:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


def test_orders_daily_and_monthly_every_mall(pipeline_api, shop: ShopReference, days, malls):
    for mall in [None, *malls]:
        scope = {"mall_id": mall} if mall else {}
        expected = shop.order_figures("day", mall)
        span = {"start": days[0].isoformat(), "end": days[-1].isoformat()}
        body = get_ok(pipeline_api, "/analytics/orders/daily", **span, **scope).json()
        for item in body["items"]:
            want = expected.get(date.fromisoformat(item["date"]), NO_ORDERS)
            assert {k: item[k] for k in want} == want, (mall, item["date"])
        months = sorted(expected)
        last_month = days[-1].strftime("%Y-%m")
        body = get_ok(pipeline_api, "/analytics/orders/monthly",
                      start="2025-01", end=last_month, **scope).json()  # fmt: skip
        served = {
            i["month"]: {k: i[k] for k in NO_ORDERS}
            for i in body["items"]
            if i["orders_paid"] or i["orders_cancelled"]
        }
        monthly = shop.order_figures("month", mall)
        assert served == {m: monthly[m] for m in sorted(monthly) if "2025-01" <= m <= last_month}
        assert months  # orders exist for every mall in the data set


def test_funnel_every_mall(pipeline_api, events, days, malls):
    steps = ("product_view", "add_to_cart", "checkout")
    for mall in [None, *malls]:
        expected = funnel(events, mall)
        params = {"start": days[0].isoformat(), "end": days[-1].isoformat()}
        params |= {"mall_id": mall} if mall else {}
        body = get_ok(pipeline_api, "/analytics/orders/funnel", **params).json()
        for item in body["items"]:
            want = expected.get(date.fromisoformat(item["date"]), {})
            assert item["sessions"] == want.get("sessions", 0)
            for step in (*steps, "purchase"):
                assert item[f"{step}_sessions"] == want.get(f"{step}_sessions", 0)
            for step in steps:
                reached = want.get(f"{step}_sessions", 0)
                ratio = want.get(f"{step}_purchased", 0) / reached if reached else None
                assert item[f"{step}_to_purchase"] == ratio, (mall, item["date"], step)


def all_members(api: httpx.Client, segment: str, **params) -> dict[int, dict]:
    members, page = {}, 1
    while True:
        body = get_ok(api, f"/crm/segments/{segment}", page=page, page_size=50, **params).json()
        members.update({item["member_id"]: item for item in body["items"]})
        if page * 50 >= body["total"]:
            assert len(members) == body["total"]
            return members
        page += 1


def test_segments_member_by_member_every_mall_and_day(pipeline_api, shop: ShopReference,
                                                      days, malls):  # fmt: skip
    for day in days:
        for mall in malls:
            params = {"mall_id": mall, "as_of": day.isoformat()}
            rhv = all_members(pipeline_api, "recent-high-value", **params)
            assert {m: i["paid_total"] for m, i in rhv.items()} == shop.recent_high_value(mall, day)
            wide = all_members(pipeline_api, "recent-high-value", months=12, min_amount=0, **params)
            assert {m: i["paid_total"] for m, i in wide.items()} == shop.recent_high_value(
                mall, day, months=12, min_amount=0
            )
            carts = all_members(pipeline_api, "abandoned-cart", **params)
            assert {m: i["cart_items_added"] for m, i in carts.items()} == shop.abandoned_cart(
                mall, day
            )
            coupons = all_members(pipeline_api, "unused-coupons", **params)
            assert {m: i["unused_coupons"] for m, i in coupons.items()} == shop.unused_coupons(
                mall, day
            )
            assert all("email" not in item for item in [*rhv.values(), *carts.values()])


def test_downloads_hold_the_same_rows_as_json(pipeline_api, days, malls):
    day = days[-1].isoformat()
    for segment in ("recent-high-value", "abandoned-cart", "unused-coupons"):
        mall = malls[0]
        json_rows = all_members(pipeline_api, segment, mall_id=mall, as_of=day)
        csv_response = get_ok(pipeline_api, f"/crm/segments/{segment}", mall_id=mall, as_of=day,
                              format="csv")  # fmt: skip
        assert csv_response.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv_response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
        assert [int(r["member_id"]) for r in rows] == sorted(json_rows)
        xlsx = get_ok(pipeline_api, f"/crm/segments/{segment}", mall_id=mall, as_of=day,
                      format="xlsx")  # fmt: skip
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
        table = list(sheet.iter_rows(values_only=True))
        assert list(table[0]) == list(rows[0].keys()) if rows else table[0]
        assert [row[0] for row in table[1:]] == sorted(json_rows)
        assert "email" not in table[0]


def test_app_installs_and_mall_ranking(pipeline_api, shop: ShopReference, days, malls):
    for day in days:
        for mall in [None, *malls]:
            body = get_ok(pipeline_api, "/platform/app-installs", as_of=day.isoformat(),
                          **({"mall_id": mall} if mall else {})).json()  # fmt: skip
            expected = shop.app_installs(day, mall)
            served = {p["platform"]: (p["installs_total"], p["installs_active"])
                      for p in body["by_platform"]}  # fmt: skip
            assert served == expected, (day, mall)
            assert body["installs_total"] == sum(v[0] for v in expected.values())
        ranking = shop.mall_ranking(day)
        for by in ("members", "products", "orders_paid", "revenue"):
            body = get_ok(pipeline_api, "/platform/mall-ranking", as_of=day.isoformat(), by=by,
                          limit=10_000).json()  # fmt: skip
            served = {i["mall_id"]: {k: i[k] for k in ranking[i["mall_id"]]} for i in body["items"]}
            assert served == ranking, (day, by)
            assert [i["rank"] for i in body["items"]] == sorted(i["rank"] for i in body["items"])


PERSONAL_COLUMNS = {"email", "ip", "ip_address", "payload", "after", "before"}


def test_no_model_carries_personal_data(pipeline_home: Path):
    """No staging, intermediate or mart table has a column named after personal data or the
    raw payload, and no value in one holds an e-mail address (also URL-encoded), an IP
    address or a query string: personal data stays in raw (the data set's members have
    e-mails, its events IPs, and some of its page URLs a mail token with an e-mail)."""
    import duckdb

    from lakehouse.settings import EngineSettings
    from transform.settings import TransformSettings

    databases = [
        (TransformSettings(home=pipeline_home).duckdb_path, ("staging", "intermediate")),
        (EngineSettings(home=pipeline_home).serving_link, ("marts",)),
    ]
    checked = 0
    for path, schemas in databases:
        with duckdb.connect(str(path), read_only=True) as con:
            columns = con.execute(
                "select table_schema, table_name, column_name, data_type "
                "from information_schema.columns join information_schema.tables "
                "using (table_catalog, table_schema, table_name) "
                "where table_type = 'BASE TABLE' and list_contains(?, table_schema)",
                [list(schemas)],
            ).fetchall()
            named = [(s, t, c) for s, t, c, _ in columns if c.lower() in PERSONAL_COLUMNS]
            assert not named, named
            for schema, table, column, data_type in columns:
                if data_type != "VARCHAR":
                    continue
                leaked = con.execute(
                    f'select any_value("{column}") from {schema}."{table}" '
                    f"where \"{column}\" like '%example.com%' or \"{column}\" like '%?%' "
                    f"or regexp_matches(\"{column}\", '^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$')"
                ).fetchone()[0]
                assert leaked is None, (schema, table, column, leaked)
                checked += 1
    assert checked >= 30
