"""Dependencies injected into the routers (overridable in tests).

They only read the app's state, so they are ``async``: FastAPI then calls them on the event
loop instead of handing each to a worker thread and back."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.audit import AuditLog
from api.marts_reader import MartsReader
from api.metrics import ApiMetrics
from api.settings import ApiSettings


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_reader(request: Request) -> MartsReader:
    return request.app.state.reader


async def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


async def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


AuditDep = Annotated[AuditLog, Depends(get_audit)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
ReaderDep = Annotated[MartsReader, Depends(get_reader)]
