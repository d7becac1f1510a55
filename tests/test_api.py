"""The API on a small hand-made marts build, published through the real publish step."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.engine import DuckDBServingEngine
from api.keys import KeyStore
from api.main import create_app
from api.marts_reader import MartsReader
from api.settings import ApiSettings as Settings
from tests.conftest import free_port
from transform.build import publish_marts
from transform.settings import TransformSettings

METRICS = ("visitors", "page_views", "hits", "sessions", "members_visited")
# (mall_id, hour, figures): mall 1 active on two days around a month end, mall 2 on one hour.
HOURLY = [
    (1, datetime(2026, 1, 31, 10), (3, 5, 7, 2, 1)),
    (1, datetime(2026, 1, 31, 13), (2, 2, 4, 1, 0)),
    (2, datetime(2026, 1, 31, 13), (4, 6, 9, 4, 2)),
    (1, datetime(2026, 2, 1, 0), (1, 1, 1, 1, 1)),
]
DAILY = [(1, date(2026, 1, 31), (4, 7, 11, 3, 1)), (2, date(2026, 1, 31), (4, 6, 9, 4, 2)),
         (1, date(2026, 2, 1), (1, 1, 1, 1, 1))]  # fmt: skip
PLATFORM_DAILY = [(date(2026, 1, 31), (7, 13, 20, 7, 3)), (date(2026, 2, 1), (1, 1, 1, 1, 1))]


def build_marts(path: Path, bump: int = 0) -> None:
    """A build database with the marts the API reads (bump shifts every hits figure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metric_columns = ", ".join(f"{m} bigint" for m in METRICS)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.dim_malls (mall_id bigint, mall_name varchar, "
                    "plan varchar, status varchar, created_at_kst timestamp)")  # fmt: skip
        con.execute("insert into marts.dim_malls values (1, 'One', 'pro', 'active', null), "
                    "(2, 'Two', 'free', 'closed', null), "
                    "(3, 'Three', 'basic', 'active', null)")  # fmt: skip
        con.execute(f"create or replace table marts.mall_visitors_hourly (mall_id bigint, "
                    f"hour_kst timestamp, date_kst date, {metric_columns})")  # fmt: skip
        for mall, hour, (v, p, h, s, m) in HOURLY:
            con.execute("insert into marts.mall_visitors_hourly values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [mall, hour, hour.date(), v, p, h + bump, s, m])  # fmt: skip
        con.execute(f"create or replace table marts.platform_visitors_hourly (hour_kst timestamp, "
                    f"date_kst date, {metric_columns})")  # fmt: skip
        con.execute(f"create or replace table marts.mall_visitors_daily (mall_id bigint, "
                    f"date_kst date, {metric_columns})")  # fmt: skip
        for mall, day, (v, p, h, s, m) in DAILY:
            con.execute("insert into marts.mall_visitors_daily values (?, ?, ?, ?, ?, ?, ?)",
                        [mall, day, v, p, h + bump, s, m])  # fmt: skip
        con.execute(f"create or replace table marts.platform_visitors_daily (date_kst date, "
                    f"{metric_columns})")  # fmt: skip
        for day, (v, p, h, s, m) in PLATFORM_DAILY:
            con.execute("insert into marts.platform_visitors_daily values (?, ?, ?, ?, ?, ?)",
                        [day, v, p, h + bump, s, m])  # fmt: skip
        for grain in ("mall", "platform"):
            keys = "mall_id bigint, " if grain == "mall" else ""
            con.execute(f"create or replace table marts.{grain}_visitors_monthly ({keys}"
                        f"month_kst date, {metric_columns})")  # fmt: skip
        con.execute("insert into marts.platform_visitors_monthly values "
                    "('2026-01-01', 7, 13, 20, 7, 3), ('2026-02-01', 1, 1, 1, 1, 1)")  # fmt: skip
        con.execute("create or replace table marts.top_malls_daily (date_kst date, "
                    "top_rank bigint, mall_id bigint, visitors bigint)")  # fmt: skip
        con.execute("insert into marts.top_malls_daily values "
                    "('2026-01-31', 1, 1, 4), ('2026-01-31', 2, 2, 4)")  # fmt: skip
        con.execute("create or replace table marts.top_pages_daily (date_kst date, mall_id bigint, "
                    "top_rank bigint, url varchar, page_views bigint)")  # fmt: skip
        con.execute("insert into marts.top_pages_daily values ('2026-01-31', 1, 1, '/', 5), "
                    "('2026-01-31', 1, 2, '/best', 2)")  # fmt: skip
        con.execute("create or replace table marts.top_products_daily (date_kst date, "
                    "mall_id bigint, top_rank bigint, product_id bigint, "
                    "product_views bigint)")  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The rate limiter is tested in test_api_access; here it must not throttle the load.
    settings = Settings(home=tmp_path / "home", rate_limit_per_minute=1_000_000)
    build = TransformSettings(home=settings.home)
    build_marts(build.duckdb_path)
    publish_marts(build)
    return settings


def bearer(settings: Settings, *scopes: str) -> dict[str, str]:
    _, token = KeyStore(settings.auth_db_uri).create("tests", list(scopes))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(settings: Settings) -> TestClient:
    headers = bearer(settings, "platform:read", "crm:1:read")
    return TestClient(create_app(settings), headers=headers)


def figures(item: dict) -> tuple[int, ...]:
    return tuple(item[m] for m in METRICS)


def test_hourly_fills_the_24_hours_of_a_mall_with_zeros(client: TestClient):
    body = client.get(
        "/analytics/visitors/hourly", params={"date": "2026-01-31", "mall_id": 1}
    ).json()
    assert body["scope"] == "mall" and body["mall_id"] == 1 and body["timezone"] == "Asia/Seoul"
    assert [item["hour"] for item in body["items"]][:2] == [
        "2026-01-31T00:00:00+09:00",
        "2026-01-31T01:00:00+09:00",
    ]
    served = {datetime.fromisoformat(i["hour"]).hour: figures(i) for i in body["items"]}
    expected = {h.hour: f for mall, h, f in HOURLY if mall == 1 and h.date() == date(2026, 1, 31)}
    assert served == {hour: expected.get(hour, (0, 0, 0, 0, 0)) for hour in range(24)}


def test_daily_range_is_clipped_to_the_data_and_zero_filled(client: TestClient):
    body = client.get(
        "/analytics/visitors/daily",
        params={"start": "2026-01-01", "end": "2026-03-01", "mall_id": 2},
    ).json()
    assert [(i["date"], figures(i)) for i in body["items"]] == [
        ("2026-01-31", DAILY[1][2]),
        ("2026-02-01", (0, 0, 0, 0, 0)),
    ]
    platform = client.get(
        "/analytics/visitors/daily", params={"start": "2026-01-31", "end": "2026-02-01"}
    )
    assert [figures(i) for i in platform.json()["items"]] == [f for _, f in PLATFORM_DAILY]
    assert platform.json()["scope"] == "platform"


def test_monthly_and_top_lists(client: TestClient):
    body = client.get("/analytics/visitors/monthly", params={"start": "2026-01", "end": "2026-02"})
    assert [(i["month"], i["visitors"]) for i in body.json()["items"]] == [
        ("2026-01", 7),
        ("2026-02", 1),
    ]
    top = client.get("/analytics/visitors/top-malls", params={"date": "2026-01-31"}).json()
    assert [(i["rank"], i["mall_id"], i["visitors"]) for i in top["items"]] == [
        (1, 1, 4),
        (2, 2, 4),
    ]
    pages = client.get("/analytics/visitors/top-pages", params={"date": "2026-01-31", "mall_id": 1})
    assert [(i["rank"], i["url"], i["page_views"]) for i in pages.json()["items"]] == [
        (1, "/", 5),
        (2, "/best", 2),
    ]
    products = client.get(
        "/analytics/visitors/top-products", params={"date": "2026-01-31", "mall_id": 3}
    )
    assert products.status_code == 200 and products.json()["items"] == []


DAILY_PATH, HOURLY_PATH = "/analytics/visitors/daily", "/analytics/visitors/hourly"
MONTHLY_PATH = "/analytics/visitors/monthly"
SPAN = {"start": "2026-01-31", "end": "2026-02-01"}
BAD_REQUESTS = [
    (DAILY_PATH, {"start": "2026-02-30", "end": "2026-03-01"}, 422, "use a date like 2026-01-30"),
    (DAILY_PATH, {"start": "yesterday", "end": "2026-03-01"}, 422, "start: use a date"),
    (DAILY_PATH, {"end": "2026-03-01"}, 422, "start: this parameter is required"),
    (DAILY_PATH, {"start": "2026-02-01", "end": "2026-01-01"}, 400, "must not be after end"),
    (DAILY_PATH, {"start": "2020-01-01", "end": "2026-01-01"}, 400, "at most 366"),
    (DAILY_PATH, {**SPAN, "mall_id": 99}, 404, "mall_id 99 is not a known mall"),
    (DAILY_PATH, {**SPAN, "mall_id": "x"}, 422, "use a whole number"),
    (DAILY_PATH, {**SPAN, "mall_id": 0}, 422, "mall_id"),
    (HOURLY_PATH, {"date": "2025-12-31"}, 404, "from 2026-01-31 to 2026-02-01"),
    (MONTHLY_PATH, {"start": "2026-13", "end": "2026-12"}, 422, "use a month like 2026-01"),
    (MONTHLY_PATH, {"start": "2026-02", "end": "2026-01"}, 400, "must not be after end"),
    (MONTHLY_PATH, {"start": "2001-01", "end": "2026-01"}, 400, "at most 60"),
    ("/analytics/visitors/top-pages", {"date": "2026-01-31"}, 422, "mall_id: this parameter"),
    ("/analytics/visitors/top-malls", {"date": "2027-01-01"}, 404, "outside the data"),
]


@pytest.mark.parametrize(("path", "params", "status", "message"), BAD_REQUESTS)
def test_bad_parameters_get_a_4xx_that_says_what_to_fix(client, path, params, status, message):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_without_published_marts_data_is_503_readiness_fails_liveness_holds(tmp_path: Path):
    settings = Settings(home=tmp_path / "empty")
    client = TestClient(create_app(settings), headers=bearer(settings, "platform:read"))
    assert client.get("/liveness").status_code == 200
    readiness = client.get("/readiness", headers={"Authorization": ""})  # no key needed
    assert readiness.status_code == 503, readiness.text
    assert readiness.json()["detail"].startswith("no published marts: run `dataplat transform`")
    assert str(tmp_path) not in readiness.text and "/" not in readiness.json()["detail"]
    daily = client.get(
        "/analytics/visitors/daily", params={"start": "2026-01-31", "end": "2026-02-01"}
    )
    assert daily.status_code == 503 and "dataplat transform" in daily.json()["detail"]


def test_openapi_documents_every_endpoint_with_a_response_model(client: TestClient):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    visitors = ("hourly", "daily", "monthly", "top-malls", "top-pages", "top-products",
                "channels", "engagement", "new-returning", "retention", "landing-pages",
                "sources")  # fmt: skip
    data = [path for path in paths if path not in ("/liveness", "/readiness", "/metrics")]
    assert {f"/analytics/visitors/{name}" for name in visitors} <= set(data)
    others = {"/analytics/orders/daily", "/crm/segments/{segment}", "/platform/mall-ranking"}
    assert others <= set(data)
    for path in data:
        operation = paths[path]["get"]
        assert operation["summary"], path
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        if path == "/crm/segments/{segment}":  # a page of the segment asked for
            pages = {member["$ref"].rsplit("/", 1)[1] for member in schema["anyOf"]}
            assert pages == {"RecentHighValuePage", "AbandonedCartPage", "UnusedCouponsPage"}
        else:
            assert "$ref" in schema, path
        assert {"401", "403", "404", "422", "429", "503"} <= set(operation["responses"]), path
        assert all(p.get("description") for p in operation["parameters"]), path
    assert {"/liveness", "/readiness"} <= set(paths)


def test_republishing_while_serving_fails_no_request(settings: Settings):
    """Real HTTP while the marts are republished 15 times: every answer is 200 and whole."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                          log_config=None))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    answers: list[tuple[int, int]] = []
    stop = threading.Event()

    headers = bearer(settings, "platform:read")

    def hammer() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=headers) as http:
            while not stop.is_set():
                response = http.get(
                    "/analytics/visitors/daily", params={"start": "2026-01-31", "end": "2026-01-31"}
                )
                hits = response.json()["items"][0]["hits"] if response.status_code == 200 else -1
                answers.append((response.status_code, hits))

    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        workers = [threading.Thread(target=hammer) for _ in range(3)]
        for worker in workers:
            worker.start()
        build = TransformSettings(home=settings.home)
        for version in range(1, 16):
            build_marts(build.duckdb_path, bump=version)
            publish_marts(build)
            time.sleep(0.05)
        stop.set()
        for worker in workers:
            worker.join()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert len(answers) > 30
    assert {status for status, _ in answers} == {200}
    # Each answer is one published version: the original figure plus that version's bump.
    assert {hits - PLATFORM_DAILY[0][1][2] for _, hits in answers} <= set(range(16))
    assert len(list(settings.serving_dir.glob("marts-*.duckdb"))) == 3  # old files cleaned up


def test_concurrent_requests_share_one_engine_read_until_a_publish(settings: Settings):
    """A cold cache (a start, a publish) asked for the same figures by many requests at once
    sends one query to the engine; the next publish is read again."""

    class CountingEngine(DuckDBServingEngine):  # the real engine, counting its reads
        reads = 0

        def fetch_all(self, sql, params=()):
            CountingEngine.reads += 1
            time.sleep(0.05)  # a slow engine: the other requests arrive while it reads
            return super().fetch_all(sql, params)

    reader = MartsReader(CountingEngine(settings), cache_entries=100)
    sql = "select hits from marts.platform_visitors_daily where date_kst = ?"

    async def ask(times: int) -> list[list[dict]]:
        return await asyncio.gather(*(reader.rows(sql, [date(2026, 1, 31)]) for _ in range(times)))

    answers = asyncio.run(ask(20))
    assert CountingEngine.reads == 1
    assert answers == [[{"hits": PLATFORM_DAILY[0][1][2]}]] * 20
    answers[0][0]["hits"] = -1  # what a caller changes is its own copy
    assert asyncio.run(ask(5)) == [[{"hits": PLATFORM_DAILY[0][1][2]}]] * 5
    assert CountingEngine.reads == 1  # kept
    build = TransformSettings(home=settings.home)
    build_marts(build.duckdb_path, bump=100)
    publish_marts(build)
    assert asyncio.run(ask(5)) == [[{"hits": PLATFORM_DAILY[0][1][2] + 100}]] * 5
    assert CountingEngine.reads == 2
