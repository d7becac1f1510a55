"""Order statistics per KST day and month, and the weblog purchase funnel."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import PrincipalDep
from api.coverage import Coverage, data_coverage, require_known_mall
from api.deps import ReaderDep, SettingsDep
from api.marts_reader import MartsReader
from api.ranges import MONTH_PATTERN, checked_days, checked_months
from api.schemas.common import ERROR_RESPONSES, MAX_ID
from api.schemas.orders import (
    DailyOrders,
    DailyOrdersResponse,
    FunnelDay,
    FunnelResponse,
    MonthlyOrders,
    MonthlyOrdersResponse,
)
from api.series import series

router = APIRouter(prefix="/analytics/orders", tags=["orders"], responses=ERROR_RESPONSES)

ORDER_METRICS = ("orders_paid", "revenue", "aov", "orders_cancelled")
NO_ORDERS = {"orders_paid": 0, "revenue": 0, "aov": None, "orders_cancelled": 0}
FUNNEL_COLUMNS = (
    "sessions", "product_view_sessions", "add_to_cart_sessions", "checkout_sessions",
    "purchase_sessions", "product_view_to_purchase", "add_to_cart_to_purchase",
    "checkout_to_purchase",
)  # fmt: skip
NO_SESSIONS = dict.fromkeys(FUNNEL_COLUMNS, 0) | {
    "product_view_to_purchase": None,
    "add_to_cart_to_purchase": None,
    "checkout_to_purchase": None,
}
MallId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="A mall; omit for all malls together.")
]
Start = Annotated[date, Query(description="First KST day, YYYY-MM-DD (inclusive).")]
End = Annotated[date, Query(description="Last KST day, YYYY-MM-DD (inclusive).")]


async def _orders_coverage(reader: MartsReader) -> Coverage:
    """Orders reach back before the traffic (order history); the data ends with the traffic."""
    traffic = await data_coverage(reader)
    rows = await reader.rows("select min(date_kst) as first from marts.platform_orders_daily")
    first = rows[0]["first"] or traffic.first
    return Coverage(min(first, traffic.first), traffic.last)


@router.get("/daily", summary="Orders paid, revenue, AOV and cancellations per KST day")
async def daily(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: Start,
    end: End,
    mall_id: MallId = None,
) -> DailyOrdersResponse:
    principal.require_mall(mall_id)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    days = checked_days(start, end, settings, await _orders_coverage(reader))
    by_day = await series(reader, "orders", "daily", ORDER_METRICS, start, end, mall_id)
    return DailyOrdersResponse(
        scope="mall" if mall_id else "platform",
        mall_id=mall_id,
        start=start,
        end=end,
        items=[DailyOrders(date=day, **by_day.get(day, NO_ORDERS)) for day in days],
    )


@router.get("/monthly", summary="Orders paid, revenue, AOV and cancellations per KST month")
async def monthly(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: Annotated[str, Query(pattern=MONTH_PATTERN, description="First month, YYYY-MM.")],
    end: Annotated[str, Query(pattern=MONTH_PATTERN, description="Last month, YYYY-MM.")],
    mall_id: MallId = None,
) -> MonthlyOrdersResponse:
    principal.require_mall(mall_id)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    months = checked_months(start, end, settings, await _orders_coverage(reader))
    items = []
    if months:
        by_month = await series(
            reader, "orders", "monthly", ORDER_METRICS, months[0], months[-1], mall_id
        )
        items = [
            MonthlyOrders(month=m.strftime("%Y-%m"), **by_month.get(m, NO_ORDERS)) for m in months
        ]
    return MonthlyOrdersResponse(
        scope="mall" if mall_id else "platform", mall_id=mall_id, start=start, end=end, items=items
    )


@router.get("/funnel", summary="Sessions reaching each funnel step per KST day")
async def funnel(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: Start,
    end: End,
    mall_id: MallId = None,
) -> FunnelResponse:
    principal.require_mall(mall_id)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    days = checked_days(start, end, settings, await data_coverage(reader))
    by_day = await series(reader, "funnel", "daily", FUNNEL_COLUMNS, start, end, mall_id)
    return FunnelResponse(
        scope="mall" if mall_id else "platform",
        mall_id=mall_id,
        start=start,
        end=end,
        items=[FunnelDay(date=day, **by_day.get(day, NO_SESSIONS)) for day in days],
    )
