"""Visitor analytics: channels, engagement, new and returning visitors (per KST day, or month
with grain=month), weekly retention cohorts, per mall or platform-wide; a mall's landing pages
and traffic sources per day."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from api.auth import PrincipalDep
from api.coverage import data_coverage, require_known_mall
from api.deps import ReaderDep, SettingsDep
from api.ranges import MONTH_PATTERN, checked_days, checked_months
from api.routers.visitors import Day, MallId, RequiredMallId, scope_of
from api.schemas.common import ERROR_RESPONSES
from api.schemas.visitor_analytics import (
    ChannelDay,
    ChannelMonth,
    ChannelsResponse,
    EngagementDay,
    EngagementMonth,
    EngagementResponse,
    LandingPage,
    LandingPagesResponse,
    NewReturningDay,
    NewReturningMonth,
    NewReturningResponse,
    RetentionItem,
    RetentionResponse,
    TrafficSource,
    TrafficSourcesResponse,
)
from api.series import series

router = APIRouter(
    prefix="/analytics/visitors", tags=["visitor analytics"], responses=ERROR_RESPONSES
)

Grain = Annotated[
    Literal["day", "month"],
    Query(description="day: start and end are KST days; month: KST months (YYYY-MM)."),
]
RangeBound = Annotated[
    str,
    Query(
        description="A KST day (YYYY-MM-DD) with grain=day, a KST month (YYYY-MM) with "
        "grain=month; inclusive.",
        examples=["2026-01-30"],
    ),
]
DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
ENGAGEMENT = ("sessions", "bounces", "bounce_rate", "session_seconds", "avg_session_seconds")
NEW_RETURNING = ("visitors", "new_visitors", "returning_visitors")
NOBODY = dict.fromkeys(NEW_RETURNING, 0)
NO_SESSIONS = {"sessions": 0, "bounces": 0, "bounce_rate": None, "session_seconds": 0,
               "avg_session_seconds": None}  # fmt: skip


def _day(text: str, name: str) -> date:
    try:
        if not DAY_PATTERN.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            400, f"{name} ({text!r}) must be a KST day, YYYY-MM-DD, with grain=day "
            "(or pass grain=month for months, YYYY-MM)"
        ) from None  # fmt: skip


def _month(text: str, name: str) -> str:
    if not re.fullmatch(MONTH_PATTERN, text):
        raise HTTPException(
            400, f"{name} ({text!r}) must be a KST month, YYYY-MM, with grain=month"
        )
    return text


async def _checked_buckets(
    reader, principal, settings, grain: str, start: str, end: str, mall_id: int | None
) -> list[date]:
    """After the access and mall checks, the days or first days of months of [start, end]
    within the data."""
    principal.require_mall(mall_id)
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    coverage = await data_coverage(reader)
    if grain == "day":
        return checked_days(_day(start, "start"), _day(end, "end"), settings, coverage)
    return checked_months(_month(start, "start"), _month(end, "end"), settings, coverage)


async def _zero_filled(
    reader,
    kind: str,
    columns: tuple[str, ...],
    empty: dict,
    grain: str,
    buckets: list[date],
    mall_id: int | None,
    day_item,
    month_item,
) -> list:
    """An item per bucket from ``marts.<mall|platform>_<kind>_<daily|monthly>``, ``empty``
    where the mart has no row."""
    if not buckets:
        return []
    found = await series(
        reader,
        kind,
        "daily" if grain == "day" else "monthly",
        columns,
        buckets[0],
        buckets[-1],
        mall_id,
    )
    if grain == "day":
        return [day_item(date=b, **found.get(b, empty)) for b in buckets]
    return [month_item(month=b.strftime("%Y-%m"), **found.get(b, empty)) for b in buckets]


@router.get("/channels", summary="Visitors, sessions and hits per channel, per KST day or month")
async def channels(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: RangeBound,
    end: RangeBound,
    mall_id: MallId = None,
    grain: Grain = "day",
) -> ChannelsResponse:
    buckets = await _checked_buckets(reader, principal, settings, grain, start, end, mall_id)
    items: list = []
    if buckets:
        column = "date_kst" if grain == "day" else "month_kst"
        table = f"marts.{scope_of(mall_id)}_channels_{'daily' if grain == 'day' else 'monthly'}"
        where, params = f"{column} between ? and ?", [buckets[0], buckets[-1]]
        if mall_id is not None:
            where, params = f"{where} and mall_id = ?", [*params, mall_id]
        rows = await reader.rows(
            f"select {column} as bucket, channel, visitors, sessions, hits from {table} "
            f"where {where} order by {column}, channel",
            params,
        )
        if grain == "day":
            items = [ChannelDay(date=r.pop("bucket"), **r) for r in rows]
        else:
            items = [ChannelMonth(month=r.pop("bucket").strftime("%Y-%m"), **r) for r in rows]
    return ChannelsResponse(scope=scope_of(mall_id), mall_id=mall_id, grain=grain, start=start,
                            end=end, items=items)  # fmt: skip


@router.get("/engagement", summary="Sessions, bounces and time on site per KST day or month")
async def engagement(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: RangeBound,
    end: RangeBound,
    mall_id: MallId = None,
    grain: Grain = "day",
) -> EngagementResponse:
    buckets = await _checked_buckets(reader, principal, settings, grain, start, end, mall_id)
    items = await _zero_filled(reader, "engagement", ENGAGEMENT, NO_SESSIONS, grain, buckets,
                               mall_id, EngagementDay, EngagementMonth)  # fmt: skip
    return EngagementResponse(scope=scope_of(mall_id), mall_id=mall_id, grain=grain, start=start,
                              end=end, items=items)  # fmt: skip


@router.get("/new-returning", summary="New and returning visitors per KST day or month")
async def new_returning(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: RangeBound,
    end: RangeBound,
    mall_id: MallId = None,
    grain: Grain = "day",
) -> NewReturningResponse:
    buckets = await _checked_buckets(reader, principal, settings, grain, start, end, mall_id)
    items = await _zero_filled(reader, "new_returning", NEW_RETURNING, NOBODY, grain, buckets,
                               mall_id, NewReturningDay, NewReturningMonth)  # fmt: skip
    return NewReturningResponse(scope=scope_of(mall_id), mall_id=mall_id, grain=grain,
                                start=start, end=end, items=items)  # fmt: skip


CohortWeek = Annotated[
    date, Query(description="Monday of a KST week, YYYY-MM-DD.", examples=["2026-01-26"])
]


@router.get("/retention", summary="Weekly retention of the visitor cohorts of a range of weeks")
async def retention(
    reader: ReaderDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: CohortWeek,
    end: CohortWeek,
    mall_id: MallId = None,
) -> RetentionResponse:
    principal.require_mall(mall_id)
    for name, day in (("start", start), ("end", end)):
        if day.weekday() != 0:
            monday = day - timedelta(days=day.weekday())
            raise HTTPException(
                400, f"{name} ({day}) must be the Monday of a cohort week: {monday} for its week"
            )
    if start > end:
        raise HTTPException(400, f"start ({start}) must not be after end ({end})")
    weeks = (end - start).days // 7 + 1
    if weeks * 7 > settings.max_daily_range_days:
        raise HTTPException(400, f"the range has {weeks} cohort weeks; at most "
                                 f"{settings.max_daily_range_days // 7} are allowed")  # fmt: skip
    if mall_id is not None:
        await require_known_mall(reader, mall_id)
    table, where, params = "marts.platform_retention_weekly", "", [start, end]
    if mall_id is not None:
        table, where, params = "marts.mall_retention_weekly", " and mall_id = ?", [*params, mall_id]
    rows = await reader.rows(
        "select cohort_week, week_offset, cohort_size, retained_visitors "
        f"from {table} where cohort_week between ? and ?{where} "
        "order by cohort_week, week_offset",
        params,
    )
    items = [RetentionItem(**r) for r in rows]
    return RetentionResponse(scope=scope_of(mall_id), mall_id=mall_id, start=start, end=end,
                             items=items)  # fmt: skip


@router.get("/landing-pages", summary="A mall's URLs that started most sessions on a KST day")
async def landing_pages(
    reader: ReaderDep, principal: PrincipalDep, date: Day, mall_id: RequiredMallId
) -> LandingPagesResponse:
    principal.require_mall(mall_id)
    (await data_coverage(reader)).require(date)
    await require_known_mall(reader, mall_id)
    rows = await reader.rows(
        "select top_rank, url, sessions from marts.top_landing_pages_daily "
        "where date_kst = ? and mall_id = ? order by top_rank",
        [date, mall_id],
    )
    items = [LandingPage(rank=r["top_rank"], url=r["url"], sessions=r["sessions"]) for r in rows]
    return LandingPagesResponse(date=date, mall_id=mall_id, items=items)


@router.get("/sources", summary="A mall's traffic sources that brought most sessions on a KST day")
async def sources(
    reader: ReaderDep, principal: PrincipalDep, date: Day, mall_id: RequiredMallId
) -> TrafficSourcesResponse:
    principal.require_mall(mall_id)
    (await data_coverage(reader)).require(date)
    await require_known_mall(reader, mall_id)
    rows = await reader.rows(
        "select top_rank, traffic_source, sessions from marts.top_sources_daily "
        "where date_kst = ? and mall_id = ? order by top_rank",
        [date, mall_id],
    )
    items = [
        TrafficSource(rank=r["top_rank"], source=r["traffic_source"], sessions=r["sessions"])
        for r in rows
    ]
    return TrafficSourcesResponse(date=date, mall_id=mall_id, items=items)
