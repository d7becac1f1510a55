"""Visitor statistics: per hour, day and month, per mall or platform-wide, and daily top lists."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import PrincipalDep
from api.coverage import data_coverage, require_known_mall
from api.deps import ReaderDep, SettingsDep
from api.ranges import MONTH_PATTERN, checked_days, checked_months
from api.schemas.common import ERROR_RESPONSES, MAX_ID
from api.schemas.visitors import (
    DailyItem,
    DailyResponse,
    HourlyItem,
    HourlyResponse,
    MonthlyItem,
    MonthlyResponse,
    TopMall,
    TopMallsResponse,
    TopPage,
    TopPagesResponse,
    TopProduct,
    TopProductsResponse,
)
from api.series import series

router = APIRouter(prefix="/analytics/visitors", tags=["visitors"], responses=ERROR_RESPONSES)

KST = timezone(timedelta(hours=9), "Asia/Seoul")
METRICS = ("visitors", "page_views", "hits", "sessions", "members_visited")
ZERO = dict.fromkeys(METRICS, 0)

MallId = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="A mall; omit for platform-wide figures (all malls).",
        examples=[7],
    ),
]
RequiredMallId = Annotated[int, Query(ge=1, le=MAX_ID, description="The mall.", examples=[7])]
Day = Annotated[date, Query(description="KST calendar day, YYYY-MM-DD.", examples=["2026-01-30"])]
Month = Annotated[
    str, Query(pattern=MONTH_PATTERN, description="KST month, YYYY-MM.", examples=["2026-01"])
]


def scope_of(mall_id: int | None) -> Literal["platform", "mall"]:
    return "platform" if mall_id is None else "mall"


@router.get("/hourly", summary="Visitor statistics per KST hour of one day")
async def hourly(
    reader: ReaderDep, principal: PrincipalDep, date: Day, mall_id: MallId = None
) -> HourlyResponse:
    principal.require_mall(mall_id)
    coverage = await data_coverage(reader)
    coverage.require(date)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    start = datetime(date.year, date.month, date.day)
    rows = await series(
        reader, "visitors", "hourly", METRICS, start, start + timedelta(hours=23), mall_id
    )
    by_hour = {hour.hour: figures for hour, figures in rows.items()}
    start = datetime(date.year, date.month, date.day, tzinfo=KST)
    items = [HourlyItem(hour=start + timedelta(hours=h), **by_hour.get(h, ZERO)) for h in range(24)]
    return HourlyResponse(scope=scope_of(mall_id), mall_id=mall_id, date=date, items=items)


@router.get("/daily", summary="Visitor statistics per KST day over a range")
async def daily(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: Annotated[date, Query(description="First KST day, YYYY-MM-DD (inclusive).")],
    end: Annotated[date, Query(description="Last KST day, YYYY-MM-DD (inclusive).")],
    mall_id: MallId = None,
) -> DailyResponse:
    principal.require_mall(mall_id)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    days = checked_days(start, end, settings, await data_coverage(reader))
    by_day = await series(reader, "visitors", "daily", METRICS, start, end, mall_id)
    items = [DailyItem(date=day, **by_day.get(day, ZERO)) for day in days]
    return DailyResponse(
        scope=scope_of(mall_id), mall_id=mall_id, start=start, end=end, items=items
    )


@router.get("/monthly", summary="Visitor statistics per KST month over a range")
async def monthly(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: Annotated[str, Query(pattern=MONTH_PATTERN, description="First month, YYYY-MM.")],
    end: Annotated[str, Query(pattern=MONTH_PATTERN, description="Last month, YYYY-MM.")],
    mall_id: MallId = None,
) -> MonthlyResponse:
    principal.require_mall(mall_id)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    months = checked_months(start, end, settings, await data_coverage(reader))
    items = []
    if months:
        first, last = months[0], months[-1]
        by_month = await series(reader, "visitors", "monthly", METRICS, first, last, mall_id)
        items = [MonthlyItem(month=m.strftime("%Y-%m"), **by_month.get(m, ZERO)) for m in months]
    return MonthlyResponse(
        scope=scope_of(mall_id), mall_id=mall_id, start=start, end=end, items=items
    )


@router.get("/top-malls", summary="The malls with most visitors on a KST day")
async def top_malls(reader: ReaderDep, principal: PrincipalDep, date: Day) -> TopMallsResponse:
    principal.require_platform()
    (await data_coverage(reader)).require(date)
    rows = await reader.rows(
        "select top_rank, mall_id, visitors from marts.top_malls_daily "
        "where date_kst = ? order by top_rank",
        [date],
    )
    items = [
        TopMall(rank=r["top_rank"], mall_id=r["mall_id"], visitors=r["visitors"]) for r in rows
    ]
    return TopMallsResponse(date=date, items=items)


@router.get("/top-pages", summary="A mall's URLs with most page views on a KST day")
async def top_pages(
    reader: ReaderDep, principal: PrincipalDep, date: Day, mall_id: RequiredMallId
) -> TopPagesResponse:
    principal.require_mall(mall_id)
    (await data_coverage(reader)).require(date)
    await require_known_mall(reader, mall_id)
    rows = await reader.rows(
        "select top_rank, url, page_views from marts.top_pages_daily "
        "where date_kst = ? and mall_id = ? order by top_rank",
        [date, mall_id],
    )
    items = [TopPage(rank=r["top_rank"], url=r["url"], page_views=r["page_views"]) for r in rows]
    return TopPagesResponse(date=date, mall_id=mall_id, items=items)


@router.get("/top-products", summary="A mall's most viewed products on a KST day")
async def top_products(
    reader: ReaderDep, principal: PrincipalDep, date: Day, mall_id: RequiredMallId
) -> TopProductsResponse:
    principal.require_mall(mall_id)
    (await data_coverage(reader)).require(date)
    await require_known_mall(reader, mall_id)
    rows = await reader.rows(
        "select top_rank, product_id, product_views from marts.top_products_daily "
        "where date_kst = ? and mall_id = ? order by top_rank",
        [date, mall_id],
    )
    items = [
        TopProduct(rank=r["top_rank"], product_id=r["product_id"], product_views=r["product_views"])
        for r in rows
    ]
    return TopProductsResponse(date=date, mall_id=mall_id, items=items)
