"""Dependencies injected into the routers (overridable in tests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.audit import AuditLog
from api.engine import QueryEngine
from api.settings import ApiSettings


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_engine(request: Request) -> QueryEngine:
    return request.app.state.engine


def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


AuditDep = Annotated[AuditLog, Depends(get_audit)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
EngineDep = Annotated[QueryEngine, Depends(get_engine)]
