from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ReaderDep
from api.schemas.common import ERROR_RESPONSES

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/liveness", summary="The process is up", response_model=Health)
async def liveness() -> Health:
    return Health(status="alive")


@router.get(
    "/readiness",
    summary="The engine answers and the marts exist",
    response_model=Health,
    responses={503: ERROR_RESPONSES[503]},
)
async def readiness(reader: ReaderDep) -> Health:
    await reader.ping()  # EngineUnavailable becomes a 503 with the reason
    return Health(status="ready")
