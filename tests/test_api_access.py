"""Access control and governance of the API, on the real pipeline's marts: scopes, keys,
audit log, rate limiting, hostile input and schema fuzzing."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.keys import KeyStore
from api.main import create_app
from api.rate_limit import SharedRateLimiter
from api.settings import ApiSettings as Settings
from lakehouse.catalog import open_catalog
from lakehouse.tables import AUDIT_TABLE
from tests.conftest import api_log, serve_api
from tests.processes import log_events
from tests.test_api_metrics import requests_counted, scrape

pytestmark = pytest.mark.slow
DAY = "2026-01-31"
SEGMENTS = ("recent-high-value", "abandoned-cart", "unused-coupons")
# (path, params, what it needs): platform-wide figures, one mall's figures, or its segments.
ENDPOINTS = [
    ("/analytics/visitors/hourly", {"date": DAY}, "platform"),
    ("/analytics/visitors/hourly", {"date": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/daily", {"start": DAY, "end": DAY}, "platform"),
    ("/analytics/visitors/daily", {"start": DAY, "end": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/monthly", {"start": "2026-01", "end": "2026-02"}, "platform"),
    ("/analytics/visitors/monthly", {"start": "2026-01", "end": "2026-02", "mall_id": 1}, "mall"),
    ("/analytics/visitors/top-malls", {"date": DAY}, "platform"),
    ("/analytics/visitors/top-pages", {"date": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/top-products", {"date": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/channels", {"start": DAY, "end": DAY}, "platform"),
    (
        "/analytics/visitors/channels",
        {"start": "2026-01", "end": "2026-02", "grain": "month"},
        "platform",
    ),
    ("/analytics/visitors/channels", {"start": DAY, "end": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/engagement", {"start": DAY, "end": DAY}, "platform"),
    ("/analytics/visitors/engagement", {"start": DAY, "end": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/new-returning", {"start": DAY, "end": DAY}, "platform"),
    ("/analytics/visitors/new-returning", {"start": DAY, "end": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/retention", {"start": "2026-01-26", "end": "2026-01-26"}, "platform"),
    (
        "/analytics/visitors/retention",
        {"start": "2026-01-26", "end": "2026-02-02", "mall_id": 1},
        "mall",
    ),
    ("/analytics/visitors/landing-pages", {"date": DAY, "mall_id": 1}, "mall"),
    ("/analytics/visitors/sources", {"date": DAY, "mall_id": 1}, "mall"),
    ("/analytics/orders/daily", {"start": DAY, "end": DAY}, "platform"),
    ("/analytics/orders/daily", {"start": DAY, "end": DAY, "mall_id": 1}, "mall"),
    ("/analytics/orders/monthly", {"start": "2026-01", "end": "2026-01"}, "platform"),
    ("/analytics/orders/monthly", {"start": "2026-01", "end": "2026-01", "mall_id": 1}, "mall"),
    ("/analytics/orders/funnel", {"start": DAY, "end": DAY}, "platform"),
    ("/analytics/orders/funnel", {"start": DAY, "end": DAY, "mall_id": 1}, "mall"),
    *((f"/crm/segments/{s}", {"mall_id": 1, "as_of": DAY}, "crm") for s in SEGMENTS),
    ("/crm/segments/abandoned-cart", {"mall_id": 1, "as_of": DAY, "format": "csv"}, "crm"),
    ("/platform/app-installs", {"as_of": DAY}, "platform"),
    ("/platform/app-installs", {"as_of": DAY, "mall_id": 1}, "mall"),
    ("/platform/mall-ranking", {"as_of": DAY, "by": "members"}, "platform"),
]
ALLOWED = {
    "platform": {"platform", "mall"},
    "mall1": {"mall"},
    "mall2": set(),
    "crm1": {"crm"},
}


@pytest.fixture(scope="module")
def app(pipeline_home: Path):
    app = create_app(Settings(home=pipeline_home, rate_limit_per_minute=100_000))
    yield app
    app.state.audit.close()


@pytest.fixture(scope="module")
def tokens(app) -> dict[str, str]:
    store = app.state.key_store
    scopes = {"platform": ["platform:read"], "mall1": ["mall:1:read"], "mall2": ["mall:2:read"],
              "crm1": ["crm:1:read"]}  # fmt: skip
    made = {name: store.create(f"access-{name}", s)[1] for name, s in scopes.items()}
    revoked_key, made["revoked"] = store.create("access-revoked", ["platform:read"])
    assert store.revoke(revoked_key.key_id)
    return made


def call(app, token: str | None, path: str, params: dict):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with TestClient(app) as client:
        return client.get(path, params=params, headers=headers)


@pytest.mark.parametrize(("path", "params", "needs"), ENDPOINTS)
def test_scope_matrix(app, tokens, path, params, needs):
    for key, allowed in ALLOWED.items():
        response = call(app, tokens[key], path, params)
        expected = 200 if needs in allowed else 403
        assert response.status_code == expected, (key, response.text)
        if expected == 403:
            assert "needs" in response.json()["detail"]
    for token in (None, "dp_000000000000_" + "x" * 43, "not-a-key", tokens["revoked"]):
        response = call(app, token, path, params)
        assert response.status_code == 401, (token, response.text)
        assert response.headers["www-authenticate"] == "Bearer"


def test_health_and_openapi_need_no_key(app):
    for path in ("/liveness", "/readiness", "/openapi.json", "/docs"):
        assert call(app, None, path, {}).status_code == 200, path


def test_segment_reads_and_exports_are_audited(app, pipeline_home: Path):
    _, token = app.state.key_store.create("access-audit", ["crm:1:read"])
    page = call(app, token, "/crm/segments/unused-coupons",
                {"mall_id": 1, "as_of": DAY, "page_size": 2})  # fmt: skip
    export = call(app, token, "/crm/segments/abandoned-cart",
                  {"mall_id": 1, "as_of": DAY, "format": "csv"})  # fmt: skip
    exported_rows = len(list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))) - 1
    app.state.audit.flush()
    table = open_catalog(Settings(home=pipeline_home)).load_table(AUDIT_TABLE).scan().to_arrow()
    rows = [r for r in table.to_pylist() if r["key_name"] == "access-audit"]
    assert len(rows) == 2
    reads = {(r["segment"], r["format"]): r for r in rows}
    assert reads[("unused-coupons", "json")]["rows"] == len(page.json()["items"])
    assert reads[("unused-coupons", "json")]["page"] == 1
    assert reads[("abandoned-cart", "csv")]["rows"] == exported_rows > 0
    assert {r["mall_id"] for r in rows} == {1} and all(str(r["as_of"]) == DAY for r in rows)


def test_rate_limit_per_key_answers_429_with_retry_after(pipeline_home: Path):
    limited = create_app(Settings(home=pipeline_home, rate_limit_per_minute=3))
    try:
        store = limited.state.key_store
        _, first = store.create("limited-1", ["platform:read"])
        _, second = store.create("limited-2", ["platform:read"])
        params = {"start": DAY, "end": DAY}
        statuses = [call(limited, first, "/analytics/visitors/daily", params) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert int(statuses[-1].headers["retry-after"]) >= 1
        assert "retry after" in statuses[-1].json()["detail"]
        assert call(limited, second, "/analytics/visitors/daily", params).status_code == 200
    finally:
        limited.state.audit.close()


def test_the_workers_of_a_server_take_a_key_s_tokens_from_one_bucket(tmp_path: Path):
    buckets = tmp_path / "rate-limits.db"
    first, second = SharedRateLimiter(3, buckets), SharedRateLimiter(3, buckets)  # two workers
    waits = [limiter.retry_after("key") for limiter in (first, second, first, second)]
    assert waits == [0, 0, 0, 20]  # 3 a minute: the next token in 20 s, in either worker
    assert second.retry_after("another-key") == 0


def test_a_server_with_two_workers_shares_the_rate_limit_the_metrics_and_the_audit(
    pipeline_home: Path,
):
    limit, sent, route = 30, 45, "/crm/segments/{segment}"
    env = {"DATAPLAT_RATE_LIMIT_PER_MINUTE": str(limit), "DATAPLAT_API_AUDIT_FLUSH_SECONDS": "1"}
    with serve_api(pipeline_home, env=env, workers=2) as client:
        key_id = client.headers["authorization"].removeprefix("Bearer dp_").split("_")[0]
        log = api_log(pipeline_home, client)

        def read(_: int) -> int:  # a new connection each: the kernel picks the worker
            return client.get("/crm/segments/unused-coupons", headers={"Connection": "close"},
                              params={"mall_id": 1, "as_of": DAY}).status_code  # fmt: skip

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(read, range(sent)))
        refilled = int((time.monotonic() - started) * limit / 60)
        answered = statuses.count(200)
        assert limit <= answered <= limit + refilled, statuses
        assert statuses.count(429) == sent - answered
        samples = scrape(client)  # from either worker: the sums of both
    assert requests_counted(samples, route, 200) == answered
    assert requests_counted(samples, route, 429) == sent - answered
    events = log_events(log.read_text().splitlines())
    pids = {e["pid"] for e in events if e.get("path") == "/crm/segments/unused-coupons"}
    assert len(pids) == 2, "one worker answered every request"
    # Each worker wrote its audit rows (the last ones when it was stopped).
    audited = open_catalog(Settings(home=pipeline_home)).load_table(AUDIT_TABLE)
    assert len(audited.scan(row_filter=f"key_id == '{key_id}'").to_arrow()) == answered


HOSTILE = [
    "' OR '1'='1", "1; drop table marts.dim_malls; --", "1 union select email from members",
    "../../../etc/passwd", "\x00", "%00", "9" * 40, "-1", "1e309", "NaN", "0x10", "\uff11",
    "2026-01-31' --", "<script>alert(1)</script>", "a" * 5000, "revenue; delete from x",
]  # fmt: skip


@pytest.mark.parametrize(("path", "params", "needs"), ENDPOINTS)
def test_hostile_values_in_every_parameter_get_4xx_never_500(app, tokens, path, params, needs):
    token = tokens["crm1"] if needs == "crm" else tokens["platform"]
    for name in params:
        for value in HOSTILE:
            response = call(app, token, path, {**params, name: value})
            assert 400 <= response.status_code < 500, (name, value, response.text)
    # Nothing was changed by any of it.
    ranking = call(app, tokens["platform"], "/platform/mall-ranking", {"as_of": DAY})
    assert ranking.status_code == 200 and len(ranking.json()["items"]) > 0


def test_schemathesis_finds_no_500_and_no_schema_violation(app, tokens):
    """Generated requests for every operation of the OpenAPI document with a valid key: no
    server error, every status, header and body as documented. 25 examples an operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens['platform']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 21  # every operation of the API
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case) -> None:
            # Cross-field rules (start after end, a range too long) are 400s the schema
            # cannot express; every other check (no 5xx, statuses, bodies, headers) runs.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()


def test_concurrent_requests_with_mixed_keys_each_get_their_own_answer(
    pipeline_api, pipeline_home: Path
):
    """8 threads, 4 keys, 6 endpoints over real HTTP: every status is the one the key's
    scopes give, every body equals the single-request answer."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from api.keys import KeyStore

    store = KeyStore(Settings(home=pipeline_home).auth_db_uri)
    keys = {name: store.create(f"load-{name}", scopes)[1] for name, scopes in {
        "platform": ["platform:read"], "mall1": ["mall:1:read"], "mall2": ["mall:2:read"],
        "crm1": ["crm:1:read"],
    }.items()}  # fmt: skip
    requests = [e for e in ENDPOINTS if "format" not in e[1]][:: len(ENDPOINTS) // 6 or 1]
    base = str(pipeline_api.base_url)

    def fetch(job: tuple[str, tuple[str, dict, str]]) -> tuple[int, bytes]:
        key, (path, params, _) = job
        headers = {"Authorization": f"Bearer {keys[key]}"}
        response = httpx.get(base + path, params=params, headers=headers, timeout=30)
        return response.status_code, response.content

    jobs = [(key, request) for key in keys for request in requests] * 5
    expected = {}
    for key, request in jobs[: len(keys) * len(requests)]:
        expected[(key, request[0], repr(request[1]))] = fetch((key, request))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(fetch, jobs))
    assert len(answers) == len(jobs) >= 100
    for (key, (path, params, needs)), (status, body) in zip(jobs, answers, strict=True):
        assert status == (200 if needs in ALLOWED[key] else 403), (key, path)
        assert (status, body) == expected[(key, path, repr(params))]


def test_no_response_or_export_carries_email_or_ip(app, tokens):
    """Every endpoint, JSON and downloads: no email address, no IPv4 address, no such key."""
    import re

    personal = re.compile(rb"@example\.com|\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|\"(email|ip)\"")
    downloads = [
        (f"/crm/segments/{segment}", {"mall_id": 1, "as_of": DAY, "format": fmt}, "crm")
        for segment in SEGMENTS
        for fmt in ("csv", "xlsx")
    ]
    for path, params, needs in [*ENDPOINTS, *downloads]:
        token = tokens["crm1"] if needs == "crm" else tokens["platform"]
        response = call(app, token, path, params)
        assert response.status_code == 200, (path, response.text)
        body = response.content
        if params.get("format") == "xlsx":
            import zipfile

            with zipfile.ZipFile(io.BytesIO(body)) as xlsx:
                body = b"".join(xlsx.read(name) for name in xlsx.namelist())
        assert not personal.search(body), (path, personal.search(body))


def test_a_segment_read_that_cannot_be_audited_is_refused_not_served(pipeline_home: Path):
    """The audit table cannot be written and the bounded queue is full: a JSON segment read
    answers 503 with Retry-After instead of being served without its audit row."""
    from api.audit import AuditLog

    app = create_app(Settings(home=pipeline_home, rate_limit_per_minute=100_000))
    app.state.audit.close()
    app.state.audit = AuditLog(app.state.settings, interval_seconds=3600, max_queued=1,
                               wait_seconds=0.2)  # fmt: skip
    _, token = app.state.key_store.create("audit-full", ["crm:1:read"])
    params = {"mall_id": 1, "as_of": DAY}
    # No lifespan: its shutdown would flush the queue between the two reads.
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert client.get("/crm/segments/unused-coupons", params=params).status_code == 200
    refused = client.get("/crm/segments/unused-coupons", params=params)
    assert refused.status_code == 503 and "audit" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0


def test_an_xlsx_past_a_sheets_row_limit_continues_on_the_next_sheet(
    app, pipeline_home: Path, monkeypatch
):
    """Never cut off: with the sheet limit lowered to a third of the export, the rows go on
    over three sheets, each with the header; the audit says what was sent."""
    import math

    import openpyxl

    import api.exports

    _, token = app.state.key_store.create("xlsx-sheets", ["crm:1:read"])
    params = {"mall_id": 1, "as_of": DAY, "format": "csv"}
    csv_text = call(app, token, "/crm/segments/abandoned-cart", params).content.decode("utf-8-sig")
    header, *expected = list(csv.reader(io.StringIO(csv_text)))
    assert len(expected) >= 3, "the export should hold a few rows"
    monkeypatch.setattr(api.exports, "XLSX_SHEET_ROWS", math.ceil(len(expected) / 3) + 1)
    xlsx = call(app, token, "/crm/segments/abandoned-cart", {**params, "format": "xlsx"})
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert len(workbook.sheetnames) == 3
    rows = []
    for sheet in workbook.worksheets:
        first, *data = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert first == header
        rows += data
    assert len(rows) == len(expected)
    app.state.audit.flush()
    table = open_catalog(Settings(home=pipeline_home)).load_table(AUDIT_TABLE).scan().to_arrow()
    sent = [r["rows"] for r in table.to_pylist()
            if r["key_name"] == "xlsx-sheets" and r["format"] == "xlsx"]  # fmt: skip
    assert sent == [len(expected)]


def test_a_key_revoked_while_the_api_runs_is_refused_within_the_cache_time(tmp_path: Path):
    """The API trusts a verified key for DATAPLAT_API_KEY_CACHE_SECONDS; `dataplat keys
    revoke` (another process, here another store on the same database) takes that long."""
    uri = f"sqlite:///{tmp_path / 'auth.db'}"
    serving = KeyStore(uri, cache_seconds=1.0)
    key, token = serving.create("revoked-later", ["platform:read"])
    assert serving.verify(token).key_id == key.key_id
    assert KeyStore(uri).revoke(key.key_id)
    assert serving.verify(token).key_id == key.key_id  # trusted from the cache a while
    time.sleep(1.2)
    assert serving.verify(token) is None
    assert KeyStore(uri).verify(token) is None  # without a cache: refused at once
    assert serving.verify("dp_" + key.key_id + "_" + "x" * 43) is None  # a wrong secret


def test_the_api_verifies_a_busy_key_again_in_the_background_and_sees_a_revocation(
    tmp_path: Path,
):
    """Past half the cache time a key is verified again while requests go on with the key
    known (they never all wait for the database together), and a revocation found that
    way refuses the key before the cache time ends."""
    uri = f"sqlite:///{tmp_path / 'auth.db'}"
    serving = KeyStore(uri, cache_seconds=4.0)
    key, token = serving.create("revoked-later", ["platform:read"])

    async def requests() -> None:
        assert (await serving.verify_shared(token)).key_id == key.key_id
        assert KeyStore(uri).revoke(key.key_id)
        assert (await serving.verify_shared(token)).key_id == key.key_id  # from the cache
        await asyncio.sleep(2.1)  # past half the cache time
        assert (await serving.verify_shared(token)).key_id == key.key_id  # and a re-check
        deadline = time.monotonic() + 1.5  # well before the 4 s are over
        while await serving.verify_shared(token) is not None:
            assert time.monotonic() < deadline, "the background check did not see the revocation"
            await asyncio.sleep(0.05)
        assert await serving.verify_shared("dp_" + key.key_id + "_" + "x" * 43) is None

    asyncio.run(requests())
