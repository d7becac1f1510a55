"""``/metrics``: the API's own figures for Prometheus (requests, latency, engine errors).

Like the health probes it needs no key: it holds counts and timings per route, never data,
parameters or key names. The API listens on loopback unless told otherwise."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import MetricsDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Request counts, latency histograms and engine errors in Prometheus' text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
