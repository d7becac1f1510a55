"""Response models of the visitor analytics (definitions: the visitor analytics docs blocks
of dbt_project/models/metrics.md)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.visitors import VisitorSeries


class ChannelFigures(BaseModel):
    channel: str = Field(description="web, mobile_web, app, or unknown (no channel sent).")
    visitors: int = Field(description="Distinct visitors with an event of the channel.")
    sessions: int = Field(description="Sessions whose first event has the channel.")
    hits: int = Field(description="Events of the channel.")


class ChannelDay(ChannelFigures):
    date: dt.date = Field(description="KST calendar day.")


class ChannelMonth(ChannelFigures):
    month: str = Field(description="KST calendar month.", examples=["2026-01"])


class EngagementFigures(BaseModel):
    sessions: int = Field(description="Sessions whose first event is in the bucket.")
    bounces: int = Field(description="Sessions of exactly one event.")
    bounce_rate: float | None = Field(description="bounces / sessions; null without sessions.")
    session_seconds: int = Field(
        description="Sum of each session's first-to-last-event time in whole seconds."
    )
    avg_session_seconds: float | None = Field(
        description="session_seconds / sessions; null without sessions."
    )


class EngagementDay(EngagementFigures):
    date: dt.date = Field(description="KST calendar day.")


class EngagementMonth(EngagementFigures):
    month: str = Field(description="KST calendar month.", examples=["2026-01"])


class AnalyticsSeries(VisitorSeries):
    grain: Literal["day", "month"]
    start: str
    end: str


class ChannelsResponse(AnalyticsSeries):
    items: list[ChannelDay] | list[ChannelMonth] = Field(
        description="Per bucket of the range within the data, in order, a row per channel "
        "with events (channels in name order)."
    )


class EngagementResponse(AnalyticsSeries):
    items: list[EngagementDay] | list[EngagementMonth] = Field(
        description="Every bucket of the range within the data, in order (zeros and nulls "
        "where no session started)."
    )


class LandingPage(BaseModel):
    rank: int = Field(ge=1)
    url: str
    sessions: int = Field(description="Sessions whose first event was on the URL.")


class LandingPagesResponse(BaseModel):
    date: dt.date
    mall_id: int
    items: list[LandingPage] = Field(
        description="URLs that started most sessions; ties → smaller url."
    )


class TrafficSource(BaseModel):
    rank: int = Field(ge=1)
    source: str = Field(
        description="The referrer's host without one leading www. or m.; (direct) without a "
        "referrer, (unknown) for a referrer without a host."
    )
    sessions: int = Field(description="Sessions whose first event came from the source.")


class TrafficSourcesResponse(BaseModel):
    date: dt.date
    mall_id: int
    items: list[TrafficSource] = Field(
        description="Sources that brought most sessions; ties → smaller source."
    )


class NewReturningFigures(BaseModel):
    visitors: int = Field(description="Distinct visitors in the bucket.")
    new_visitors: int = Field(
        description="Visitors whose first event (in the mall; platform-wide: anywhere) is in "
        "the bucket."
    )
    returning_visitors: int = Field(description="visitors - new_visitors.")


class NewReturningDay(NewReturningFigures):
    date: dt.date = Field(description="KST calendar day.")


class NewReturningMonth(NewReturningFigures):
    month: str = Field(description="KST calendar month.", examples=["2026-01"])


class NewReturningResponse(AnalyticsSeries):
    items: list[NewReturningDay] | list[NewReturningMonth] = Field(
        description="Every bucket of the range within the data, in order (zeros where nobody "
        "came). Figures of earlier days change when a late event moves a visitor's first day."
    )


class RetentionItem(BaseModel):
    cohort_week: dt.date = Field(description="Monday of the cohort's KST week.")
    week_offset: int = Field(ge=0, description="Weeks after the cohort's (0: its own week).")
    cohort_size: int = Field(description="Visitors whose first event is in the cohort week.")
    retained_visitors: int = Field(
        description="Cohort visitors with an event in the week week_offset weeks later."
    )


class RetentionResponse(VisitorSeries):
    start: dt.date
    end: dt.date
    items: list[RetentionItem] = Field(
        description="Per cohort of the range, in order, a row per week offset up to the last "
        "week with data."
    )
