"""`/metrics` of `dataplat serve` over real HTTP: Prometheus' text format, counters and
histograms that move by exactly the requests made, labelled by route template."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from tests.conftest import serve_api
from tests.test_api import Settings, bearer, build_marts
from transform.build import publish_marts
from transform.settings import TransformSettings


def scrape(client: httpx.Client | TestClient) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}; fails unless the body is
    Prometheus' text format (the parser raises on anything else)."""
    response = client.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_counted(samples: dict, route: str, status: int, method: str = "GET") -> float:
    key = ("dataplat_api_http_requests_total",
           (("method", method), ("route", route), ("status", str(status))))  # fmt: skip
    return samples.get(key, 0.0)


def latency_count(samples: dict, route: str) -> float:
    key = ("dataplat_api_http_request_duration_seconds_count",
           (("method", "GET"), ("route", route)))  # fmt: skip
    return samples.get(key, 0.0)


def engine_errors(samples: dict, reason: str) -> float:
    return samples[("dataplat_api_engine_errors_total", (("reason", reason),))]


def published_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    build = TransformSettings(home=home)
    build_marts(build.duckdb_path)
    publish_marts(build)
    return home


def test_metrics_count_each_request_by_route_template_and_status(tmp_path: Path):
    home = published_home(tmp_path)  # the visitor marts only: no CRM mart
    daily, route = {"start": "2026-01-30", "end": "2026-02-01"}, "/analytics/visitors/daily"
    with serve_api(home) as client:
        before = scrape(client)
        for mall in (1, 2, 3, None):
            response = client.get(route, params={**daily, "mall_id": mall} if mall else daily)
            assert response.status_code == 200, response.text
        assert client.get(route, params=daily, headers={"Authorization": ""}).status_code == 401
        assert client.get(route, params={"start": "yesterday"}).status_code == 422
        for segment in ("recent-high-value", "abandoned-cart"):  # two paths, one route
            response = client.get(f"/crm/segments/{segment}",
                                  params={"mall_id": 1, "as_of": "2026-01-31"})  # fmt: skip
            assert response.status_code == 503, response.text  # the mart is missing
        for path in ("/no/such/path", "/another/missing/one"):
            assert client.get(path).status_code == 404
        after = scrape(client)

    def moved(route: str, status: int) -> float:
        return requests_counted(after, route, status) - requests_counted(before, route, status)

    assert moved(route, 200) == 4
    assert moved(route, 401) == moved(route, 422) == 1
    assert moved("/crm/segments/{segment}", 503) == 2
    assert moved("unmatched", 404) == 2  # one label value, whatever the paths
    assert not any("no/such" in str(labels) or "abandoned" in str(labels) for _, labels in after)
    # The histogram counts what the counter counts (the readiness polls and the first scrape
    # are in the second one, the second scrape in neither).
    assert latency_count(after, route) == 6
    assert latency_count(after, "/crm/segments/{segment}") == 2
    assert requests_counted(after, "/metrics", 200) == 1
    assert after[("dataplat_api_http_requests_in_flight", ())] == 1  # the scrape itself
    assert engine_errors(after, "missing_mart") == 2
    assert engine_errors(after, "unavailable") == engine_errors(after, "no_marts") == 0


def test_metrics_count_engine_errors_by_reason(tmp_path: Path):
    """No published marts: each data request and readiness probe is a 503 and an engine
    error with its reason; liveness and /metrics still answer."""
    settings = Settings(home=tmp_path / "home")  # nothing published
    client = TestClient(create_app(settings), headers=bearer(settings, "platform:read"))
    assert client.get("/liveness").status_code == 200
    assert client.get("/readiness").status_code == 503
    for _ in range(2):
        response = client.get("/analytics/visitors/daily",
                              params={"start": "2026-01-30", "end": "2026-01-31"})  # fmt: skip
        assert response.status_code == 503
    samples = scrape(client)
    assert engine_errors(samples, "no_marts") == 3
    assert engine_errors(samples, "missing_mart") == engine_errors(samples, "unavailable") == 0
    assert requests_counted(samples, "/analytics/visitors/daily", 503) == 2
    assert requests_counted(samples, "/readiness", 503) == 1
