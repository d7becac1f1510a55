"""End to end: dumps → loader → Iceberg → dbt → API over real HTTP, embedded (DuckDB) and on the
platform (Kafka, Trino).

Every number the API returns is compared with ``tests.reference``, an independent
calculation of metrics.md from the dump files. Data arrives in two parts, so the second,
incremental transform must fold late events into days it had already built.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

from lakehouse.settings import DBT_PROJECT_DIR, EngineSettings
from tests.conftest import LATE_FIRST_VISIT, run_cli, transform_logs
from tests.late_events import WEBLOG_DUMP, first_days
from tests.reference import (
    VisitorAnalytics,
    VisitorLoyalty,
    VisitorStats,
    load_events,
    visitor_analytics,
    visitor_loyalty,
    visitor_stats,
)

METRICS = ("visitors", "page_views", "hits", "sessions", "members_visited")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(pipeline_home: Path) -> Path:
    return pipeline_home


ENGINES = ["duckdb", pytest.param("trino", marks=pytest.mark.platform)]


@pytest.fixture(scope="module", params=ENGINES)
def api(request: pytest.FixtureRequest) -> httpx.Client:
    """The visitor tests run against both engines: embedded (DuckDB) and platform (Trino,
    on the same data set published to Kafka)."""
    return request.getfixturevalue("pipeline_api" if request.param == "duckdb" else "platform_api")


@pytest.fixture(scope="module")
def reference(small_dataset: Path) -> VisitorStats:
    return visitor_stats(load_events(small_dataset))


@pytest.fixture(scope="module")
def analytics(small_dataset: Path) -> VisitorAnalytics:
    return visitor_analytics(load_events(small_dataset))


@pytest.fixture(scope="module")
def loyalty(small_dataset: Path) -> VisitorLoyalty:
    return visitor_loyalty(load_events(small_dataset))


def figures(item: dict) -> dict[str, int]:
    return {name: item[name] for name in METRICS}


def get_ok(api: httpx.Client, path: str, **params) -> dict:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_daily_platform_and_every_mall(api: httpx.Client, reference: VisitorStats):
    days = reference.days()
    start, end = days[0].isoformat(), days[-1].isoformat()
    for mall in [None, *reference.malls()]:
        params = {"start": start, "end": end} | ({"mall_id": mall} if mall else {})
        body = get_ok(api, "/analytics/visitors/daily", **params)
        served = {item["date"]: figures(item) for item in body["items"]}
        expected = {d.isoformat(): reference.figures("day", mall, d) for d in days}
        assert served == expected, f"mall {mall}"


def test_hourly_platform_and_every_mall(api: httpx.Client, reference: VisitorStats):
    for day in reference.days():
        for mall in [None, *reference.malls()]:
            params = {"date": day.isoformat()} | ({"mall_id": mall} if mall else {})
            body = get_ok(api, "/analytics/visitors/hourly", **params)
            assert len(body["items"]) == 24
            for item in body["items"]:
                hour = item["hour"]
                assert hour.endswith("+09:00")
                start = date.fromisoformat(hour[:10])
                bucket = reference.figures("hour", mall, _hour_key(start, int(hour[11:13])))
                assert figures(item) == bucket, f"mall {mall} hour {hour}"


def _hour_key(day: date, hour: int):

    return datetime(day.year, day.month, day.day, hour)


def test_monthly_is_distinct_over_the_month(api: httpx.Client, reference: VisitorStats):
    months = sorted({date(d.year, d.month, 1) for d in reference.days()})
    assert len(months) == 2, "the data set should cross a month end"
    for mall in [None, *reference.malls()]:
        params = {"start": months[0].strftime("%Y-%m"), "end": months[-1].strftime("%Y-%m")}
        body = get_ok(
            api, "/analytics/visitors/monthly", **params | ({"mall_id": mall} if mall else {})
        )
        served = {item["month"]: figures(item) for item in body["items"]}
        assert served == {m.strftime("%Y-%m"): reference.figures("month", mall, m) for m in months}


def test_top_lists(api: httpx.Client, reference: VisitorStats):
    for day in reference.days():
        body = get_ok(api, "/analytics/visitors/top-malls", date=day.isoformat())
        served = [(i["mall_id"], i["visitors"]) for i in body["items"]]
        assert served == reference.top_malls(day)
        assert [i["rank"] for i in body["items"]] == list(range(1, len(served) + 1))
        for mall in reference.malls():
            pages = get_ok(api, "/analytics/visitors/top-pages", date=day.isoformat(), mall_id=mall)
            assert [(i["url"], i["page_views"]) for i in pages["items"]] == reference.top_pages.get(
                (day, mall), []
            )
            products = get_ok(
                api, "/analytics/visitors/top-products", date=day.isoformat(), mall_id=mall
            )
            assert [
                (i["product_id"], i["product_views"]) for i in products["items"]
            ] == reference.top_products.get((day, mall), [])


CHANNEL_FIGURES = ("visitors", "sessions", "hits")
ENGAGEMENT_FIGURES = ("sessions", "bounces", "bounce_rate", "session_seconds",
                      "avg_session_seconds")  # fmt: skip


def test_channels_per_day_and_month(
    api: httpx.Client, reference: VisitorStats, analytics: VisitorAnalytics
):
    days = reference.days()
    months = sorted({date(d.year, d.month, 1) for d in days})
    for mall in [None, *reference.malls()]:
        scope = {} if mall is None else {"mall_id": mall}
        daily = get_ok(api, "/analytics/visitors/channels", start=days[0].isoformat(),
                       end=days[-1].isoformat(), **scope)  # fmt: skip
        served = {(date.fromisoformat(i["date"]), i["channel"]): {k: i[k] for k in CHANNEL_FIGURES}
                  for i in daily["items"]}  # fmt: skip
        expected = {(d, c): b.figures() for (g, m, d, c), b in analytics.channels.items()
                    if g == "day" and m == mall}  # fmt: skip
        assert served == expected, mall
        assert [i["date"] for i in daily["items"]] == sorted(i["date"] for i in daily["items"])
        monthly = get_ok(api, "/analytics/visitors/channels", start=months[0].strftime("%Y-%m"),
                         end=months[-1].strftime("%Y-%m"), grain="month", **scope)  # fmt: skip
        served = {(i["month"], i["channel"]): {k: i[k] for k in CHANNEL_FIGURES}
                  for i in monthly["items"]}  # fmt: skip
        expected = {(d.strftime("%Y-%m"), c): b.figures()
                    for (g, m, d, c), b in analytics.channels.items()
                    if g == "month" and m == mall}  # fmt: skip
        assert served == expected, mall


def _engagement(item: dict) -> dict[str, object]:
    return {k: pytest.approx(item[k]) if isinstance(item[k], float) else item[k]
            for k in ENGAGEMENT_FIGURES}  # fmt: skip


def test_engagement_per_day_and_month(
    api: httpx.Client, reference: VisitorStats, analytics: VisitorAnalytics
):
    days = reference.days()
    months = sorted({date(d.year, d.month, 1) for d in days})
    for mall in [None, *reference.malls()]:
        scope = {} if mall is None else {"mall_id": mall}
        daily = get_ok(api, "/analytics/visitors/engagement", start=days[0].isoformat(),
                       end=days[-1].isoformat(), **scope)  # fmt: skip
        assert [i["date"] for i in daily["items"]] == [d.isoformat() for d in days]
        for item in daily["items"]:
            bucket = analytics.engagement.get(("day", mall, date.fromisoformat(item["date"])))
            expected = bucket.figures() if bucket else dict.fromkeys(ENGAGEMENT_FIGURES, 0) | {
                "bounce_rate": None, "avg_session_seconds": None}  # fmt: skip
            assert {k: item[k] for k in ENGAGEMENT_FIGURES} == _engagement(expected), (mall, item)
        monthly = get_ok(api, "/analytics/visitors/engagement", start=months[0].strftime("%Y-%m"),
                         end=months[-1].strftime("%Y-%m"), grain="month", **scope)  # fmt: skip
        assert [i["month"] for i in monthly["items"]] == [m.strftime("%Y-%m") for m in months]
        for item, month in zip(monthly["items"], months, strict=True):
            expected = analytics.engagement[("month", mall, month)].figures()
            assert {k: item[k] for k in ENGAGEMENT_FIGURES} == _engagement(expected), (mall, item)


def test_landing_pages_and_traffic_sources(
    api: httpx.Client, reference: VisitorStats, analytics: VisitorAnalytics
):
    sources_seen = set()
    for day in reference.days():
        for mall in reference.malls():
            params = {"date": day.isoformat(), "mall_id": mall}
            pages = get_ok(api, "/analytics/visitors/landing-pages", **params)["items"]
            assert [(i["url"], i["sessions"]) for i in pages] == analytics.landing_pages.get(
                (day, mall), [])  # fmt: skip
            assert [i["rank"] for i in pages] == list(range(1, len(pages) + 1))
            sources = get_ok(api, "/analytics/visitors/sources", **params)["items"]
            assert [(i["source"], i["sessions"]) for i in sources] == analytics.sources.get(
                (day, mall), [])  # fmt: skip
            sources_seen |= {i["source"] for i in sources}
    assert {"(direct)", "google.com"} <= sources_seen, sources_seen


NEW_RETURNING = ("visitors", "new_visitors", "returning_visitors")


def test_new_and_returning_visitors_per_day_and_month(
    api: httpx.Client, reference: VisitorStats, loyalty: VisitorLoyalty
):
    days = reference.days()
    months = sorted({date(d.year, d.month, 1) for d in days})
    nobody = dict.fromkeys(NEW_RETURNING, 0)
    for mall in [None, *reference.malls()]:
        scope = {} if mall is None else {"mall_id": mall}
        daily = get_ok(api, "/analytics/visitors/new-returning", start=days[0].isoformat(),
                       end=days[-1].isoformat(), **scope)  # fmt: skip
        served = {i["date"]: {k: i[k] for k in NEW_RETURNING} for i in daily["items"]}
        assert served == {d.isoformat(): loyalty.new_returning.get(("day", mall, d), nobody)
                          for d in days}, mall  # fmt: skip
        monthly = get_ok(api, "/analytics/visitors/new-returning", grain="month",
                         start=months[0].strftime("%Y-%m"), end=months[-1].strftime("%Y-%m"),
                         **scope)  # fmt: skip
        served = {i["month"]: {k: i[k] for k in NEW_RETURNING} for i in monthly["items"]}
        assert served == {m.strftime("%Y-%m"): loyalty.new_returning[("month", mall, m)]
                          for m in months}, mall  # fmt: skip
    returning = sum(v["returning_visitors"] for (g, m, _), v in loyalty.new_returning.items()
                    if g == "day" and m is None)  # fmt: skip
    assert returning > 0, "no visitor came back: the comparison would prove little"


def test_a_late_event_made_a_visitor_new_a_day_earlier(
    api: httpx.Client, small_dataset: Path, loyalty: VisitorLoyalty
):
    """small_dataset ends with a page view on 2026-01-31 by a visitor whose first event in the
    first half of the dumps (what both engines built first; on Trino the first four of six
    parts) is on 2026-02-01. The incremental run that read it moved their first day, in their
    mall and platform-wide: a day and a month earlier."""
    events = load_events(small_dataset)
    (late,) = [e for e in events if e.event_id == LATE_FIRST_VISIT]
    lines = len((small_dataset / WEBLOG_DUMP).read_bytes().splitlines())
    built_first = first_days(load_events(small_dataset, lines=lines // 2))
    assert built_first[(late.mall_id, late.visitor_id)] == date(2026, 2, 1)
    without = visitor_loyalty([e for e in events if e is not late]).new_returning
    nobody = dict.fromkeys(NEW_RETURNING, 0)
    for mall in (late.mall_id, None):
        scope = {} if mall is None else {"mall_id": mall}
        for grain, start, end, earlier, later, key in (
            ("day", "2026-01-31", "2026-02-01", date(2026, 1, 31), date(2026, 2, 1), "date"),
            ("month", "2026-01", "2026-02", date(2026, 1, 1), date(2026, 2, 1), "month"),
        ):
            served = {i[key]: tuple(i[k] for k in NEW_RETURNING) for i in get_ok(
                api, "/analytics/visitors/new-returning", grain=grain, start=start, end=end,
                **scope)["items"]}  # fmt: skip
            was = [tuple(without.get((grain, mall, b), nobody)[k] for k in NEW_RETURNING)
                   for b in (earlier, later)]  # fmt: skip
            # The earlier bucket gains a visitor, new there; the later keeps its visitors,
            # one of them now returning.
            assert served == {
                start: (was[0][0] + 1, was[0][1] + 1, was[0][2]),
                end: (was[1][0], was[1][1] - 1, was[1][2] + 1),
            }, (mall, grain)
            assert served == {
                b: tuple(loyalty.new_returning[(grain, mall, d)][k] for k in NEW_RETURNING)
                for b, d in ((start, earlier), (end, later))
            }, (mall, grain)


def test_weekly_retention(api: httpx.Client, reference: VisitorStats, loyalty: VisitorLoyalty):
    days = reference.days()
    first = days[0] - timedelta(days=days[0].weekday())
    last = days[-1] - timedelta(days=days[-1].weekday())
    for mall in [None, *reference.malls()]:
        scope = {} if mall is None else {"mall_id": mall}
        served = get_ok(api, "/analytics/visitors/retention", start=first.isoformat(),
                        end=last.isoformat(), **scope)["items"]  # fmt: skip
        expected = sorted((c, o, size, kept) for (m, c, o), (size, kept)
                          in loyalty.retention.items() if m == mall)  # fmt: skip
        assert [(date.fromisoformat(i["cohort_week"]), i["week_offset"], i["cohort_size"],
                 i["retained_visitors"]) for i in served] == expected, mall  # fmt: skip
    not_monday = api.get("/analytics/visitors/retention",
                         params={"start": (first + timedelta(days=2)).isoformat(),
                                 "end": last.isoformat()})  # fmt: skip
    assert not_monday.status_code == 400
    assert f"must be the Monday of a cohort week: {first}" in not_monday.json()["detail"]


def test_analytics_ranges_say_what_to_fix(api: httpx.Client, reference: VisitorStats):
    day = reference.days()[0].isoformat()
    wrong = api.get("/analytics/visitors/channels", params={"start": day[:7], "end": day[:7]})
    assert wrong.status_code == 400
    assert "must be a KST day, YYYY-MM-DD, with grain=day" in wrong.json()["detail"]
    wrong = api.get("/analytics/visitors/engagement",
                    params={"start": day, "end": day, "grain": "month"})  # fmt: skip
    assert wrong.status_code == 400
    assert "must be a KST month, YYYY-MM, with grain=month" in wrong.json()["detail"]
    wrong = api.get("/analytics/visitors/engagement",
                    params={"start": day, "end": day, "grain": "week"})  # fmt: skip
    assert wrong.status_code == 422 and "grain" in wrong.json()["detail"]


def _marts(home: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(EngineSettings(home=home).serving_link), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()]  # fmt: skip
        return {
            t: sorted(con.execute(f"select * from marts.{t}").fetchall(), key=repr) for t in tables
        }


def test_full_refresh_gives_the_same_marts_as_the_incremental_runs(home: Path):
    incremental = _marts(home)
    run_cli("transform", "--full-refresh", env={"DATAPLAT_HOME": str(home)})
    assert _marts(home) == incremental


def _build_summary(stderr: str) -> dict:
    """The counts `dataplat transform` logs when it finishes."""
    (line,) = [x for x in stderr.splitlines() if '"transform finished"' in x]
    return json.loads(line)


def test_production_builds_leave_out_dbt_unit_tests_and_ci_runs_them(home: Path):
    """dbt's unit tests check the models' SQL on fixed inputs: `dataplat transform` leaves them
    out (they cannot fail on new data), `--unit-tests` runs every one (pipeline_home's second
    transform, as CI does; the platform's transform runs them on Trino)."""
    declared = sum(
        len((yaml.safe_load(path.read_text()) or {}).get("unit_tests", []))
        for path in (DBT_PROJECT_DIR / "models").rglob("*.yml")
    )
    logs = transform_logs(home)
    first, second = _build_summary(logs["first"]), _build_summary(logs["second"])
    assert declared >= 10
    assert (first["unit_tests"], second["unit_tests"]) == (0, declared)
    assert first["models"] == second["models"] > 0
    assert first["data_tests"] == second["data_tests"] > 0
