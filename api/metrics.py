"""The API's Prometheus metrics: requests and their latency by route and status, engine
errors. Each app has its own registry, served at ``/metrics`` in Prometheus' text format.

The workers of ``dataplat serve --workers N`` write their figures to files in one folder,
``PROMETHEUS_MULTIPROC_DIR`` (the server makes it, prometheus_client reads it when it is
imported): whichever worker answers ``/metrics`` serves the sums of all of them."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import Scope

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
            multiprocess_mode="livesum",  # the workers alive, added up
        )
        self.engine_errors = Counter(
            "dataplat_api_engine_errors",
            "Queries the engine could not answer (each a 503): the engine is down "
            "(unavailable), no marts are published (no_marts), a mart is missing (missing_mart).",
            ["reason"],
            registry=self.registry,
        )
        # (method, route, status) -> its counter and histogram, labelled once.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        for reason in ("unavailable", "no_marts", "missing_mart"):
            self.engine_errors.labels(reason=reason)  # present at 0 before the first error
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Served: every worker's files, not this process's registry.
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """One request answered: counted and timed by its route's template
        (``/analytics/visitors/daily``), never its raw path, so the label values stay as few
        as the routes; the router puts the matched route into the scope it was given."""
        route = getattr(scope.get("route"), "path", UNMATCHED)
        key = (scope["method"], route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(scope["method"], route, str(status)),
                self.latency.labels(scope["method"], route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def engine_error(self, exc: EngineUnavailable) -> None:
        reason = {NO_MARTS: "no_marts", MISSING_MART: "missing_mart"}.get(str(exc), "unavailable")
        self.engine_errors.labels(reason=reason).inc()
