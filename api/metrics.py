"""The API's Prometheus metrics: requests and their latency by route and status, engine
errors. Each app has its own registry, served at ``/metrics`` in Prometheus' text format."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi import StatusNotingSend
from api.engine import MISSING_MART, NO_MARTS, EngineUnavailable

# Seconds: the cached answers take about a millisecond, a Trino read tens to hundreds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# The route label of a request no route matched (a 404): one label value, whatever the path.
UNMATCHED = "unmatched"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dataplat_api_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dataplat_api_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "dataplat_api_http_requests_in_flight",
            "Requests being answered now.",
            registry=self.registry,
        )
        self.engine_errors = Counter(
            "dataplat_api_engine_errors",
            "Queries the engine could not answer (each a 503): the engine is down "
            "(unavailable), no marts are published (no_marts), a mart is missing (missing_mart).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("unavailable", "no_marts", "missing_mart"):
            self.engine_errors.labels(reason=reason)  # present at 0 before the first error

    def engine_error(self, exc: EngineUnavailable) -> None:
        reason = {NO_MARTS: "no_marts", MISSING_MART: "missing_mart"}.get(str(exc), "unavailable")
        self.engine_errors.labels(reason=reason).inc()


class RequestMetrics:
    """Counts every HTTP request and times it to the last byte (streamed exports included),
    labelled by the route's template (``/visitors/daily``), never the raw path, so the
    label values stay as few as the routes. Plain ASGI, like the access log."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, noting = time.perf_counter(), StatusNotingSend(send)
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, noting)
        finally:
            self.metrics.in_flight.dec()
            # The router puts the matched route into the scope it was given.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(noting.status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
