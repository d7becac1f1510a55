"""Platform statistics as of a day: app installs and the mall ranking."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import PrincipalDep
from api.coverage import require_as_of_day, require_known_mall
from api.deps import ReaderDep
from api.schemas.common import ERROR_RESPONSES, MAX_ID
from api.schemas.platform import (
    AppInstallsResponse,
    MallInstalls,
    MallRankingResponse,
    PlatformInstalls,
    RankedMall,
)

router = APIRouter(prefix="/platform", tags=["platform"], responses=ERROR_RESPONSES)

AsOf = Annotated[date, Query(description="KST day D; figures as of the end of D.")]


class RankBy(StrEnum):
    members = "members"
    products = "products"
    orders_paid = "orders_paid"
    revenue = "revenue"


@router.get("/app-installs", summary="App installs as of a day, per platform and per mall")
async def app_installs(
    reader: ReaderDep,
    principal: PrincipalDep,
    as_of: AsOf,
    mall_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="A mall; omit for all.")
    ] = None,
) -> AppInstallsResponse:
    principal.require_mall(mall_id)
    await require_as_of_day(reader, as_of)
    where, params = "as_of_date = ?", [as_of]
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
        where, params = where + " and mall_id = ?", [as_of, mall_id]
    sums = "cast(sum(installs_total) as bigint) as installs_total, " \
           "cast(sum(installs_active) as bigint) as installs_active"  # fmt: skip
    table = "marts.platform_app_installs_daily"
    by_platform = await reader.rows(
        f"select platform, {sums} from {table} where {where} group by platform order by platform",
        params,
    )
    by_mall = []
    if mall_id is None:
        by_mall = await reader.rows(
            f"select mall_id, {sums} from {table} where {where} group by mall_id order by mall_id",
            params,
        )
    return AppInstallsResponse(
        as_of=as_of,
        mall_id=mall_id,
        installs_total=sum(p["installs_total"] for p in by_platform),
        installs_active=sum(p["installs_active"] for p in by_platform),
        by_platform=[PlatformInstalls(**p) for p in by_platform],
        by_mall=[MallInstalls(**m) for m in by_mall],
    )


@router.get("/mall-ranking", summary="Active malls ranked by size as of a day")
async def mall_ranking(
    reader: ReaderDep,
    principal: PrincipalDep,
    as_of: AsOf,
    by: Annotated[RankBy, Query(description="The figure to rank by.")] = RankBy.revenue,
    limit: Annotated[int, Query(ge=1, le=10_000, description="How many malls.")] = 100,
) -> MallRankingResponse:
    principal.require_platform()
    await require_as_of_day(reader, as_of)
    # `by` is an enum member: the column name comes from an allow-list, never from the request.
    rows = await reader.rows(
        f"select {by.value}_rank as rank, mall_id, members, products, orders_paid, revenue, "
        "members_rank, products_rank, orders_paid_rank, revenue_rank "
        f"from marts.mall_ranking_daily where as_of_date = ? "
        f"order by {by.value}_rank, mall_id limit ?",
        [as_of, limit],
    )
    return MallRankingResponse(as_of=as_of, by=by.value, items=[RankedMall(**r) for r in rows])
